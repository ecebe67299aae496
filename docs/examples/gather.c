/*
 * asyncio.gather in C: start several green threads at once, then join
 * them all and collect their results in the order they were started,
 * whatever order they finish in.
 *
 *   cc gather.c $(pkg-config --cflags --libs green) -o gather
 */
#include <green.h>
#include <stdio.h>

struct job {
    const char *name;
    int delay_ms;   /* stands in for the time a real request takes */
    int result;
};

static void *fetch(void *arg)
{
    struct job *job = arg;
    if (green_sleep(job->delay_ms) < 0)
        return NULL;  /* cancelled: no result */
    job->result = job->delay_ms / 10;
    return job;
}

static void *run(void *unused)
{
    struct job jobs[] = {
        {"alpha", 300, 0}, {"beta", 100, 0}, {"gamma", 500, 0},
        {"delta", 200, 0}, {"epsilon", 400, 0},
    };
    enum { N = sizeof jobs / sizeof jobs[0] };
    green_t *t[N];
    int64_t start = green_now();
    (void)unused;

    for (int i = 0; i < N; i++) {
        t[i] = green_spawn_attr(&(green_attr_t){.name = jobs[i].name}, fetch, &jobs[i]);
        if (!t[i]) {
            perror("green_spawn");
            return NULL;
        }
    }
    int total = 0, delays = 0;
    for (int i = 0; i < N; i++) {
        void *r;
        if (green_join(t[i], &r) < 0) {
            perror("green_join");
            continue;
        }
        struct job *job = r;
        printf("%-8s -> %d\n", job->name, job->result);
        total += job->result;
        delays += job->delay_ms;
    }
    printf("gathered %d results, total %d, in %lld ms (one after another: %d ms)\n",
           N, total, (long long)(green_now() - start), delays);
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
