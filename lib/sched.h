/*
 * The scheduler: one per OS thread that calls green_run.
 *
 * A green thread is RUNNING, RUNNABLE (on the run queue), PARKED (waiting
 * on something that will green__wake it) or DONE (returned, waiting to be
 * joined or reaped).  Parking is the one way to wait: the parker links
 * itself into whatever queue it waits on, then calls green__park with a
 * waitop that knows how to unlink it again.  Every wake-up, whether the
 * thing happened, the deadline passed or the thread was cancelled, goes
 * through green__wake, which undoes every registration.
 */
#ifndef GREEN_SCHED_H
#define GREEN_SCHED_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "green.h"
#include "list.h"
#include "inbox.h"
#include "overflow.h"
#include "poller.h"
#include "stack.h"
#include "switch.h"
#include "timer.h"

enum green__state {
    GREEN__RUNNABLE,
    GREEN__RUNNING,
    GREEN__PARKED,
    GREEN__DONE,
    GREEN__FREED,   /* joined or reaped: its stack is back in the cache */
};

/* What a parked green thread waits on. */
struct green__chanwait;

struct green__waitop {
    /* Takes t off the queue it is parked on. */
    void (*unlink)(green_t *t);
    /* Writes what t waits for, for green_dump ("fd 5 read"). */
    void (*describe)(const green_t *t, char *buf, size_t n);
    /* A shielded wait is not ended by cancellation. */
    bool shielded;
};

struct green {
    struct green__ctx ctx;          /* the saved context while not running */
    struct green__sched *sched;     /* the scheduler that owns it */
    struct green__stack stack;      /* this struct lives at the top of it */
    void *(*fn)(void *);
    void *arg;
    void *result;                   /* what fn returned, once DONE */
    uint64_t id;                    /* 1 for main, then counting up */
    enum green__state state;
    bool detached;                  /* reaped when it finishes */
    bool cancelled;                 /* every blocking call fails with ECANCELED */
    int64_t deadline;               /* for every blocking call; -1 for none */

    /* The current wait; valid while PARKED. */
    const struct green__waitop *waitop;
    int wake_err;                   /* what green__park returns: 0 or an errno */
    int timer_err;                  /* wake_err to give when the timer fires */
    struct green__timer timer;      /* queued while a timed wait is parked */
    union {
        struct green__fdwait fd;    /* fd waits */
        green_t *join;              /* join: the thread waited for */
        struct {                    /* waits on a green__list of threads */
            struct green__node node;
            struct green__list *queue;
            const void *obj;        /* the mutex, group, ... for green_dump */
        } q;
        struct {                    /* waits on another OS thread */
            void *obj;              /* the offload job, queue, ... */
            bool abandoned;         /* the wait ended before its post */
        } remote;
        struct {                    /* channel operations and select */
            struct green__chanwait *waits;
            size_t n;
            size_t fired;           /* the case that completed */
        } chan;
    } w;

    green_t *joiner;                /* parked in green_join on this one */
    struct green_group *group;      /* the group it was spawned into, or NULL */
    struct green__node group_node;  /* in the group's members */
    bool mark;                      /* scratch for green_gather's checks */
    green_t *next;                  /* run queue, or the list of zombies */
    struct green__node all;         /* in the scheduler's list of threads */
    void *asan_fake;                /* ASan's fake stack while switched out */
    void *tsan_fiber;               /* TSan's fiber for it; NULL without TSan */
    char name[GREEN_NAME_MAX];
};

struct green__sched {
    green_t *current;               /* the running green thread */
    green_t *root;                  /* runs green_run's main */
    green_t *runq_head, *runq_tail; /* RUNNABLE threads, FIFO */
    size_t nrunq;
    struct green__list all;         /* every thread not yet FREED */
    size_t nthreads;                /* threads in all */
    size_t nlive;                   /* threads not yet DONE */
    green_t *zombies;               /* detached, DONE, stacks to free */
    uint64_t next_id;

    /* Waiting. */
    struct green__timers timers;
    struct green__poller poller;
    struct green__inbox inbox;      /* wake-ups from other OS threads */
    unsigned since_poll;            /* dispatches since the poller last ran */
    unsigned round;                 /* dispatches between polls when busy:
                                       the run queue's length, at most 64 */

    struct green__stack_cache stacks;
    struct green__overflow overflow;

    /* green_run's own context, resumed once the root has finished. */
    struct green__ctx main_ctx;
    const void *main_lo;            /* its stack, for ASan */
    size_t main_size;
    void *main_fake;
    void *main_fiber;               /* TSan's fiber for green_run's context */
    void *(*main_fn)(void *);
    void *main_arg;
    sigset_t saved_mask;            /* the OS thread's mask before green_run */

    uint64_t rng;                   /* xorshift state, for green_select */
    bool shutdown;                  /* main returned: new threads start cancelled */
    bool deadlocked;                /* green_run will fail with EDEADLK */
};

/* The scheduler of this OS thread, or NULL outside green_run. */
extern __thread struct green__sched *green__cur
    __attribute__((tls_model("initial-exec")));

/* Parks the running thread until green__wake.  The caller has linked it
 * into the queue op->unlink takes it off.  until (-1: never) arms the
 * timer, which wakes it with timer_err.  When the thread is cancelled, or
 * until is a deadline (timer_err set) that has passed, it unlinks at once
 * and does not park.  Returns 0 or -errno. */
int green__park(struct green__sched *s, const struct green__waitop *op,
                int64_t until, int timer_err);

/* Ends t's wait, if it is parked: unlinks it, disarms its timer and makes
 * it runnable; its green__park returns -err. */
void green__wake(green_t *t, int err);

/* Cancels t, waking it with ECANCELED if its wait allows. */
void green__cancel(green_t *t);

/* Parks the running thread at the back of queue, a list of threads that
 * green__queue_first finds in FIFO order; op->unlink must call
 * green__queue_unlink.  obj is what green_dump names. */
int green__queue_park(struct green__sched *s, struct green__list *queue,
                      const struct green__waitop *op, const void *obj,
                      int64_t until, int timer_err);
green_t *green__queue_first(const struct green__list *queue);
void green__queue_unlink(green_t *t);

/* Wakes every thread parked on queue with err. */
void green__queue_wake_all(struct green__list *queue, int err);

/* Joins t (checked by the caller).  A shielded join ignores the deadline
 * and cancellation, for cleanup that must not be cut short. */
int green__join(struct green__sched *s, green_t *t, void **result, bool shielded);

/* A random number, for fair choices. */
uint64_t green__random(struct green__sched *s);

/* Whether t is a live handle of s's that may be joined by the running
 * thread: 0, -EPERM, -EINVAL or -EDEADLK. */
int green__check_join(const struct green__sched *s, const green_t *t);

/* green_spawn_attr on scheduler s: NULL and errno on failure. */
green_t *green__spawn(struct green__sched *s, const green_attr_t *attr,
                      void *(*fn)(void *), void *arg);

/* Called by the scheduler for members of a group: when one finishes, and
 * when one is freed. */
void green__group_member_done(green_t *t);
void green__group_member_freed(green_t *t);

/* Binds a synchronisation object to the scheduler using it.  *owner is
 * the object's scheduler while it is in use (held or waited on); another
 * scheduler touching it meanwhile gets -EXDEV.  Objects are free to move
 * to another OS thread when idle. */
static inline int green__bind(void **owner, struct green__sched *s)
{
    if (!s)
        return -EPERM;
    if (*owner && *owner != s)
        return -EXDEV;
    *owner = s;
    return 0;
}

/* Writes one line per green thread to out. */
void green__dump(struct green__sched *s, FILE *out);

static inline int green__fail(int err)
{
    errno = err;
    return -1;
}

#endif
