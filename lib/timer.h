/*
 * The timer queue: a binary min-heap of deadlines, ordered by time and
 * then by insertion, with O(log n) insert and remove.  Nodes are embedded
 * in their owners (one per green thread), and the heap's array is grown
 * ahead of time by green__timers_reserve, so arming a timer never
 * allocates.
 */
#ifndef GREEN_TIMER_H
#define GREEN_TIMER_H

#include <stddef.h>
#include <stdint.h>

struct green__timer {
    int64_t at;      /* when it fires, in green_now() milliseconds */
    uint64_t seq;    /* insertion order, to break ties fairly */
    size_t idx;      /* position in the heap plus one; 0 when not queued */
};

struct green__timers {
    struct green__timer **heap;
    size_t n, cap;
    uint64_t seq;
};

/* A clock for checks that need not be precise: milliseconds, monotonic,
 * a few ticks behind green_now, and much cheaper to read. */
int64_t green__coarse_now(void);

/* The same monotonic clock in nanoseconds, for spans shorter than one. */
int64_t green__now_ns(void);

void green__timers_fini(struct green__timers *q);

/* Makes room for n timers.  Returns 0 or -ENOMEM. */
int green__timers_reserve(struct green__timers *q, size_t n);

/* Queues t, which must not be queued, to fire at t->at.  Room must have
 * been reserved. */
void green__timers_add(struct green__timers *q, struct green__timer *t);

/* Removes t if it is queued. */
void green__timers_remove(struct green__timers *q, struct green__timer *t);

/* The earliest timer, or NULL. */
static inline struct green__timer *green__timers_first(const struct green__timers *q)
{
    return q->n ? q->heap[0] : NULL;
}

#endif
