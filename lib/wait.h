/*
 * Waits: the record a parking thread leaves on its stack, and FIFO queues
 * of such records, where a synchronisation object or a stream keeps the
 * threads that wait on it.  The scheduler (lib/sched.c) parks and wakes
 * them.
 */
#ifndef GREEN_WAIT_H
#define GREEN_WAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "green.h"
#include "list.h"

struct green__sched;

/* The kind of a wait, which green_metrics counts parks by (lib/metrics.h). */
enum green__wait_kind {
    GREEN__WAIT_OTHER,      /* 0, so that an op that names none is other */
    GREEN__WAIT_IO,         /* an fd, a call the poller makes, a stream */
    GREEN__WAIT_SLEEP,
    GREEN__WAIT_JOIN,       /* a thread or a group */
    GREEN__WAIT_CHAN,       /* a channel, a select, a queue */
    GREEN__WAIT_SYNC,       /* a mutex, condition or semaphore */
    GREEN__WAIT_OFFLOAD,
    GREEN__WAIT_KINDS
};

/*
 * A wait is a record on the parking thread's stack.  Each kind of wait
 * embeds this header first in a struct of its own (an fd wait, a join, a
 * select's cases), links the record into whatever it waits on, and parks
 * with it; the thread points at the record while it is parked.  A new kind
 * of wait touches only its own file.
 */
struct green__wait;

struct green__waitop {
    /* Takes the wait off whatever it is linked into; NULL when it is
     * linked into nothing but the timer (a sleep). */
    void (*unlink)(struct green__wait *w);
    /* Writes what the thread waits for, for green_dump ("fd 5 read"). */
    void (*describe)(const struct green__wait *w, char *buf, size_t n);
    /* Linked into state that a fork's child resets (the poller) or shares
     * with other OS threads (the offload pool, queues, signals): the child
     * forgets such a wait of a thread it drops instead of unlinking it. */
    bool forgotten_after_fork;
    /* Also ended by the end of a thread the waiter claimed to join (a
     * select with a GREEN_DONE case), beside the join's own wait. */
    bool ends_at_join;
    enum green__wait_kind kind;
};

struct green__wait {
    const struct green__waitop *op;
    green_t *thread;                /* set by green__park */
};

/* Takes w off whatever it waits on, if anything. */
static inline void green__wait_unlink(struct green__wait *w)
{
    if (w->op->unlink)
        w->op->unlink(w);
}

/* A wait in a FIFO queue of waits (a mutex's, a group's, a stream's): a
 * green__list whose first waiter green__queue_first finds. */
struct green__queued {
    struct green__wait wait;
    struct green__node node;        /* in *queue */
    struct green__list *queue;
    const void *obj;                /* the mutex, group, ... for green_dump */
};

/* Parks the running thread at the back of queue, as green__park or
 * green__park_shielded do; op->unlink must call green__queue_unlink. */
int green__queue_park(struct green__sched *s, struct green__list *queue,
                      const struct green__waitop *op, const void *obj,
                      int64_t until, int timer_err);
int green__queue_park_shielded(struct green__sched *s, struct green__list *queue,
                               const struct green__waitop *op, const void *obj);
green_t *green__queue_first(const struct green__list *queue);
void green__queue_unlink(struct green__wait *w);

/* The green__queued of a queue wait, for its describe. */
static inline const struct green__queued *green__queued_of(const struct green__wait *w)
{
    return green__container_of(w, struct green__queued, wait);
}

/* Queues shared by the schedulers of a run (lib/shared_wait.c): the
 * object's spin lock guards the queue, a waker takes a waiter off it and
 * wakes it on its own scheduler, and a wait that a deadline or a
 * cancellation ended leaves the queue itself, once it runs.  A waiter that
 * a waker took off was handed what it waited for (the mutex, a permit, a
 * signal), whatever else ended its wait, so nothing handed is lost. */

/* With *lock held: parks the running thread at the back of queue,
 * releasing the lock while it is parked (shielded: ignoring deadline and
 * cancellation).  Returns with *lock held again: 0 when a waker took the
 * thread off the queue, else what green__park returned. */
int green__shared_park(struct green__sched *s, int *lock, struct green__list *queue,
                       const struct green__waitop *op, const void *obj, bool shielded);

/* With the queue's lock held: takes its first waiter off and wakes it;
 * the thread, or NULL when none waits. */
green_t *green__shared_wake_first(struct green__list *queue);

/* Wakes every thread parked on queue with err. */
void green__queue_wake_all(struct green__list *queue, int err);

/* Parks the running thread at the back of queue as a blocking call
 * waits: under its deadline (ETIMEDOUT) and its cancellation.  Inside
 * green_run only.  0 or -errno. */
int green__queue_wait(struct green__list *queue, const struct green__waitop *op,
                      const void *obj);

#endif
