/*
 * What a CPU loop does to the other green threads, and the two cures.
 *
 * Green threads take turns on one OS thread, and a turn ends only when
 * the running thread parks (a read, a sleep, a lock) or yields.  A loop
 * that computes for 300 ms without parking holds every other green thread
 * for 300 ms.  Here a ticker green thread wants to wake every 10 ms, and
 * beside it the same computation runs three ways:
 *
 *   plain      the ticker is late by the whole computation;
 *   yields     green_yield() every few thousand steps lets it in;
 *   offloaded  green_offload runs the computation on a worker OS thread,
 *              and the caller parks until it is done.
 *
 * Each line gives the ticker's worst lateness.
 *
 *   cc cpu_bound.c $(pkg-config --cflags --libs green) -o cpu_bound
 *   ./cpu_bound
 *
 * GREEN_TRACE=cpu_bound.json ./cpu_bound writes the timeline that
 * docs/trace-cpu_bound.svg draws (make trace-picture).
 */
#include <green.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { TICK_MS = 10, WORK_MS = 300, YIELD_EVERY = 4096 };

/* Some arithmetic the compiler cannot skip: steps of a xorshift. */
static uint64_t compute(uint64_t steps, bool yields)
{
    uint64_t x = 88172645463325252u;
    for (uint64_t i = 1; i <= steps; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (yields && i % YIELD_EVERY == 0)
            green_yield();
    }
    return x;
}

static uint64_t steps;          /* how many take about WORK_MS */
static volatile uint64_t sink;  /* where the results go, so they are made */

static void *compute_offloaded(void *arg)
{
    (void)arg;
    sink = compute(steps, false);  /* on a worker: it must not yield */
    return NULL;
}

struct ticker {
    bool stop;
    int64_t worst;  /* ms late, at worst */
};

static void *tick(void *arg)
{
    struct ticker *t = arg;
    while (!t->stop) {
        int64_t due = green_now() + TICK_MS;
        green_sleep(TICK_MS);
        int64_t late = green_now() - due;
        if (late > t->worst)
            t->worst = late;
    }
    return NULL;
}

/* Runs the computation one way beside a ticker; the ticker's worst. */
static int64_t beside_ticker(int how)
{
    static const char *const names[] = {"ticker (plain)", "ticker (yields)",
                                        "ticker (offloaded)"};
    struct ticker t = {false, 0};
    /* Named, so that a GREEN_TRACE timeline says which run is which. */
    green_t *ticker = green_spawn_attr(&(green_attr_t){.name = names[how]}, tick, &t);
    green_sleep(3 * TICK_MS);  /* the ticker is ticking */
    if (how == 2)
        green_offload(compute_offloaded, NULL, NULL);
    else
        sink = compute(steps, how == 1);
    t.stop = true;
    green_join(ticker, NULL);
    return t.worst;
}

/* Finds how many steps take about WORK_MS here. */
static void calibrate(void)
{
    steps = 1 << 20;
    for (;;) {
        int64_t start = green_now();
        sink = compute(steps, false);
        int64_t took = green_now() - start;
        if (took >= 50) {
            steps = steps * WORK_MS / (uint64_t)took;
            return;
        }
        steps *= 4;
    }
}

static void *run(void *arg)
{
    (void)arg;
    calibrate();
    static const char *const ways[] = {"plain", "yields", "offloaded"};
    for (int how = 0; how < 3; how++)
        printf("%-9s the ticker (every %d ms) was late by %lld ms at worst\n", ways[how],
               TICK_MS, (long long)beside_ticker(how));
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
