/*
 * Runtime metrics (green_metrics): what each scheduler counts as it runs,
 * and the process's list of schedulers that green_metrics_process sums.
 *
 * A scheduler's counters are written by its own OS thread only and may be
 * read by any: each is a relaxed atomic that the owner bumps with a plain
 * load and store (green__count), no locked instruction, so counting costs
 * the switch path an add and a store.  What is a state rather than a count
 * (threads runnable, timers armed, fds owned) the owner publishes at each
 * look at the poller, which comes at least every 64 switches; the owner's
 * own green_metrics reads it exact.
 *
 * The delay from a wake-up to running is sampled: one wake-up in
 * GREEN__SAMPLE_EVERY is timed, so that the clock is read twice per that
 * many wake-ups.  Two reads cost about 50 ns here, as much as a whole
 * channel round trip with the fast switch: one in 16 made make bench's
 * chan0 row 9% slower, one in 256 leaves it within noise.  Delays go into a histogram of four buckets per power of
 * two (a figure read from it is within 25% of the truth).
 */
#ifndef GREEN_METRICS_H
#define GREEN_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "green.h"
#include "list.h"
#include "wait.h"

#define GREEN__SAMPLE_EVERY 256

/* Four buckets per power of two up to 2^64 ns. */
#define GREEN__HIST_BUCKETS 252

struct green__hist {
    _Atomic uint64_t n, max;
    _Atomic uint64_t bucket[GREEN__HIST_BUCKETS];
};

/* States, as the owner last published them. */
struct green__gauges {
    _Atomic uint64_t running, runnable, parked, done;
    _Atomic uint64_t timers, fds;
};

struct green__stats {
    _Atomic uint64_t spawned, switches, wakeups;
    _Atomic uint64_t parks[GREEN__WAIT_KINDS];
    _Atomic uint64_t poller_waits, poller_events, timers_armed;
    _Atomic uint64_t stack_deepest;  /* bytes: the deepest a stack was seen */
    struct green__hist wake_delay;
    struct green__gauges now;
    struct green__node node;        /* in the process's list */
};

/* One more: c is written by one OS thread only. */
static inline void green__count(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static inline void green__count_by(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline void green__gauge(_Atomic uint64_t *g, uint64_t v)
{
    atomic_store_explicit(g, v, memory_order_relaxed);
}

/* A thread's stack was seen depth bytes deep (lib/stackuse.c). */
static inline void green__stats_stack_depth(struct green__stats *st, uint64_t depth)
{
    if (depth > atomic_load_explicit(&st->stack_deepest, memory_order_relaxed))
        atomic_store_explicit(&st->stack_deepest, depth, memory_order_relaxed);
}

/* Adds one value to h, whose writers hold a lock or are one thread. */
void green__hist_add(struct green__hist *h, uint64_t v);

/* Adds h's counts to *to, which only the caller sees. */
void green__hist_merge(struct green__hist *to, const struct green__hist *h);

/* The scheduler starts counting, in the process's list; and stops, its
 * counts kept for green_metrics_process. */
void green__stats_start(struct green__stats *st);
void green__stats_end(struct green__stats *st);

/* In a child of fork: the list holds the caller's scheduler (NULL:
 * none) and no other, whose OS threads the child does not have. */
void green__stats_after_fork(struct green__stats *mine);

struct green__sched;

/* s publishes its states for green_metrics_process (metrics.h). */
void green__stats_publish(struct green__sched *s);

/* Counts a wake-up: whether it is one to time. */
static inline bool green__stats_woken(struct green__stats *st)
{
    uint64_t n = atomic_load_explicit(&st->wakeups, memory_order_relaxed) + 1;
    atomic_store_explicit(&st->wakeups, n, memory_order_relaxed);
    return __builtin_expect(n % GREEN__SAMPLE_EVERY == 0, 0);
}

#endif
