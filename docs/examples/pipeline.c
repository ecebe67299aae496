/*
 * A pipeline: a producer feeds jobs into a channel, a pool of workers
 * turns each job into a result, and a collector adds the results up.
 * Closing a channel is how each stage tells the next that it is done.
 *
 *   cc pipeline.c $(pkg-config --cflags --libs green) -o pipeline
 */
#include <errno.h>
#include <green.h>
#include <stdio.h>

enum { JOBS = 1000, WORKERS = 4 };

static green_chan_t *jobs, *results;

static void *producer(void *unused)
{
    (void)unused;
    for (long n = 1; n <= JOBS; n++)
        if (green_chan_send(jobs, &n) < 0)
            break;
    green_chan_close(jobs);  /* no more jobs: workers drain and stop */
    return NULL;
}

static void *worker(void *unused)
{
    long n, handled = 0;
    (void)unused;
    while (green_chan_recv(jobs, &n) == 0) {   /* EPIPE once drained */
        long square = n * n;
        if (green_chan_send(results, &square) < 0)
            break;
        handled++;
    }
    return (void *)handled;
}

static void *collector(void *total)
{
    long r;
    while (green_chan_recv(results, &r) == 0)
        *(long *)total += r;
    return NULL;
}

static void *run(void *unused)
{
    long total = 0;
    (void)unused;
    jobs = green_chan_new(sizeof(long), 16);
    results = green_chan_new(sizeof(long), 16);
    green_group_t *pool = green_group_new();
    if (!jobs || !results || !pool) {
        perror("setup");
        return NULL;
    }
    green_t *w[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        w[i] = green_group_spawn(pool, worker, NULL);
    green_t *c = green_spawn(collector, &total);
    green_t *p = green_spawn(producer, NULL);

    green_join(p, NULL);
    green_group_wait(pool);       /* every worker has stopped */
    green_chan_close(results);    /* so the collector can stop too */
    green_join(c, NULL);
    for (int i = 0; i < WORKERS; i++) {
        void *handled;
        green_join(w[i], &handled);
        printf("worker %d handled %ld jobs\n", i, (long)handled);
    }
    long want = (long)JOBS * (JOBS + 1) * (2 * JOBS + 1) / 6;
    printf("sum of squares 1..%d = %ld (%s)\n", JOBS, total, total == want ? "right" : "WRONG");
    green_group_free(pool);
    green_chan_free(jobs);
    green_chan_free(results);
    return NULL;
}

int main(void)
{
    if (green_run(run, NULL) < 0) {
        perror("green_run");
        return 1;
    }
    return 0;
}
