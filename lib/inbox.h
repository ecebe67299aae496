/*
 * The inbox: how other OS threads wake green threads of this scheduler.
 *
 * A green thread that waits for something another OS thread will do (an
 * offloaded call, a value on a cross-thread queue) parks with a wait that
 * holds a green__remote.  The other thread posts that record here,
 * under the inbox's lock, and sets `pending`; it writes to the inbox's fd
 * only when the scheduler is asleep in its poller (which watches the fd)
 * and the list was empty.  The scheduler looks at `pending` whenever it
 * looks at its poller, and drains the list on its own thread, waking
 * each posted thread.  Only the scheduler's thread opens, drains and
 * closes the inbox.
 */
#ifndef GREEN_INBOX_H
#define GREEN_INBOX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "green.h"
#include "list.h"

struct green__remote {
    struct green__node node;      /* in the inbox's posted list */
    green_t *thread;              /* to wake */
    bool posted;                  /* on the list; under the inbox's lock
                                     (read without it by a waiter whose
                                     poster posted under a lock the waiter
                                     holds again: lib/chan.c,
                                     lib/shared_wait.c) */
    /* What the drain does with it on the scheduler's thread: NULL wakes
     * thread; another scheduler's request (lib/across.c) sets its own. */
    void (*deliver)(struct green__remote *r);
};

struct green__inbox {
    pthread_mutex_t lock;
    struct green__list posted;    /* of green__remote */
    int rfd, wfd;                 /* eventfd (both the same) or a pipe;
                                     -1 until first used */
    unsigned waiting;             /* green threads parked for a post */
    /* The fd is written only for a scheduler asleep in its poller; a busy
     * one sees pending at its next look, with no system call. */
    atomic_bool pending;          /* something is posted */
    bool asleep;                  /* under the lock */
    bool signalled;               /* the fd was written; under the lock */
    /* In a run of several schedulers (lib/cores.c), under the lock: */
    atomic_size_t *idle_count;    /* the run's idle schedulers, or NULL */
    bool idle;                    /* counted there; a post ends it */
    bool closed;                  /* the scheduler has ended: no requests */
};

struct green__sched;
struct green__wait;

void green__inbox_init(struct green__inbox *in);
void green__inbox_fini(struct green__inbox *in);

/* In a fork's child: the fd is the parent's too and the lock may have been
 * held by a thread the child does not have; the inbox starts again,
 * empty and closed. */
void green__inbox_after_fork(struct green__inbox *in);

/* Makes the fd and has the poller watch it; 0 or -errno.  Idempotent. */
int green__inbox_open(struct green__sched *s);

/* Parks the running thread on w until another OS thread posts its record,
 * or its deadline or cancellation ends the wait (ETIMEDOUT, ECANCELED).
 * The inbox must be open.  Returns what green__park returns. */
int green__inbox_park(struct green__sched *s, struct green__wait *w);

/* From any thread: r->thread is to be woken.  A second post before the
 * wake-up is one wake-up. */
void green__inbox_post(struct green__inbox *in, struct green__remote *r);

/* From another scheduler: posts r, a request, unless the inbox's
 * scheduler has closed it; whether it did. */
bool green__inbox_send(struct green__inbox *in, struct green__remote *r);

/* On the scheduler's thread, with nothing but the inbox to wait for: marks
 * it idle, unless something is posted.  The run's count of idle
 * schedulers with this one, or 0 when it is not idle. */
size_t green__inbox_idle(struct green__inbox *in);

/* On the scheduler's thread, back from waiting: no longer idle. */
void green__inbox_busy(struct green__inbox *in);

/* On the scheduler's thread, when it has ended: closes the inbox to
 * requests, unless something is posted (then drain it first); whether it
 * did. */
bool green__inbox_close(struct green__inbox *in);

/* On the scheduler's thread: r's wait ended otherwise; take it off the
 * list if it was posted. */
void green__inbox_unpost(struct green__inbox *in, struct green__remote *r);

/* From any thread: takes off the list the first record that want accepts
 * (called under the inbox's lock, so it must not block), or NULL.  How a
 * spawner takes back a spawn that a stuck scheduler has left waiting
 * (lib/across.c). */
struct green__remote *green__inbox_take(struct green__inbox *in,
                                        bool (*want)(const struct green__remote *r, void *ctx),
                                        void *ctx);

/* On the scheduler's thread: whether anything is posted (a cheap look,
 * no lock). */
static inline bool green__inbox_pending(struct green__inbox *in)
{
    return atomic_load_explicit(&in->pending, memory_order_acquire);
}

/* On the scheduler's thread, before it waits in its poller: marks it
 * asleep, so that a post writes the fd; false (and not asleep) when
 * something is posted already or the inbox is not open. */
bool green__inbox_sleep(struct green__inbox *in);

/* On the scheduler's thread, back from the poller. */
void green__inbox_awake(struct green__inbox *in);

/* On the scheduler's thread, when something is pending: wakes every
 * posted thread, or carries out the posted request. */
void green__inbox_drain(struct green__inbox *in);

#endif
