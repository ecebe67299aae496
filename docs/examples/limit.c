/*
 * The asyncio.Semaphore pattern: start many fetches at once, but let only
 * four run at a time.  Each fetch here is a 100 ms sleep standing in for
 * a request; 20 of them, four at a time, take about 500 ms.
 *
 *   cc limit.c $(pkg-config --cflags --libs green) -o limit
 */
#include <green.h>
#include <stdio.h>

enum { FETCHES = 20, AT_ONCE = 4 };

static green_sem_t slots = GREEN_SEM_INIT(AT_ONCE);
static int running, most;

static void *fetch(void *arg)
{
    int id = (int)(long)arg;
    if (green_sem_acquire(&slots) < 0)
        return NULL;
    if (++running > most)
        most = running;
    green_sleep(100);             /* the request */
    running--;
    green_sem_release(&slots);
    return (void *)(long)(id * 10);
}

static void *run(void *unused)
{
    green_t *t[FETCHES];
    void *results[FETCHES];
    int64_t start = green_now();
    (void)unused;
    for (int i = 0; i < FETCHES; i++)
        t[i] = green_spawn(fetch, (void *)(long)i);
    if (green_gather(t, FETCHES, results) < 0) {
        perror("green_gather");
        return NULL;
    }
    long sum = 0;
    for (int i = 0; i < FETCHES; i++)
        sum += (long)results[i];
    printf("%d fetches, at most %d at once, results sum %ld, %lld ms\n", FETCHES, most, sum,
           (long long)(green_now() - start));
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
