/*
 * The clock and the timer heap.  heap[0] is the earliest; the children of i are 2i+1
 * and 2i+2.  Every node records its own position, so removal from the
 * middle (a thread woken before its timer fires) is O(log n) too.
 */
#include "timer.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "green.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* The clock: whole milliseconds on CLOCK_MONOTONIC. */
int64_t green_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t green__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Linux's coarse clock is read without looking at the hardware clock;
 * POSIX has only CLOCK_MONOTONIC. */
#if defined(CLOCK_MONOTONIC_COARSE) && !defined(GREEN_POSIX_ONLY)
#define COARSE_CLOCK CLOCK_MONOTONIC_COARSE
#else
#define COARSE_CLOCK CLOCK_MONOTONIC
#endif

int64_t green__coarse_now(void)
{
    struct timespec ts;
    clock_gettime(COARSE_CLOCK, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int earlier(const struct green__timer *a, const struct green__timer *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void place(struct green__timers *q, size_t i, struct green__timer *t)
{
    q->heap[i] = t;
    t->idx = i + 1;
}

static void sift_up(struct green__timers *q, size_t i, struct green__timer *t)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(t, q->heap[parent]))
            break;
        place(q, i, q->heap[parent]);
        i = parent;
    }
    place(q, i, t);
}

static void sift_down(struct green__timers *q, size_t i, struct green__timer *t)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n)
            break;
        if (c + 1 < q->n && earlier(q->heap[c + 1], q->heap[c]))
            c++;
        if (!earlier(q->heap[c], t))
            break;
        place(q, i, q->heap[c]);
        i = c;
    }
    place(q, i, t);
}

int green__timers_reserve(struct green__timers *q, size_t n)
{
    if (n <= q->cap)
        return 0;
    size_t cap = q->cap ? q->cap : 64;
    while (cap < n)
        cap *= 2;
    struct green__timer **heap = realloc(q->heap, cap * sizeof *heap);
    if (!heap)
        return -ENOMEM;
    q->heap = heap;
    q->cap = cap;
    return 0;
}

void green__timers_add(struct green__timers *q, struct green__timer *t)
{
    t->seq = q->seq++;
    sift_up(q, q->n++, t);
}

void green__timers_remove(struct green__timers *q, struct green__timer *t)
{
    if (t->idx == 0)
        return;
    size_t i = t->idx - 1;
    struct green__timer *last = q->heap[--q->n];
    t->idx = 0;
    if (last == t)
        return;
    /* The last node takes the hole; it may belong above or below it. */
    if (i > 0 && earlier(last, q->heap[(i - 1) / 2]))
        sift_up(q, i, last);
    else
        sift_down(q, i, last);
}

void green__timers_fini(struct green__timers *q)
{
    free(q->heap);
    q->heap = NULL;
    q->n = q->cap = 0;
}
