/*
 * The stall detector: with GREEN_SLOW_MS=N in the environment, a green
 * thread that runs N ms or more without parking or yielding is reported on
 * stderr while it still runs, once per stall.
 *
 * Each watched scheduler publishes its progress: at every switch it bumps
 * a sequence number and copies the id and name of the thread it resumes;
 * every poll bumps it too (a thread that yields with nobody else runnable
 * still lets the scheduler look at I/O, so it stalls nobody).  One
 * watchdog OS thread per process samples the sequence numbers of every
 * watched scheduler and reports a scheduler whose number has not moved for
 * N ms while it was not waiting in the poller.  It reads only what the
 * scheduler copied for it, never a green thread's memory, which may be
 * freed under it.  When the detector is off, the switch path pays one
 * test of a flag.
 *
 * After the report's first line, the watchdog asks the stalled OS thread
 * for its stack with SIGURG (watch_stack.c): the handler, on that thread,
 * writes the stack if the thread it interrupted is still the stalled one.
 */
#ifndef GREEN_WATCH_H
#define GREEN_WATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "green.h"
#include "list.h"

#define GREEN__WATCH_NAME_WORDS (GREEN_NAME_MAX / 8)

struct green__watch {
    bool on;                        /* read by the scheduler's thread only */
    int64_t slow_ms;
    /* Written by the scheduler, read by the watchdog.  seq is odd while
     * id and name are being written. */
    atomic_uint_fast64_t seq;
    atomic_uint_fast64_t id;
    atomic_uint_fast64_t name[GREEN__WATCH_NAME_WORDS];
    atomic_bool idle;               /* waiting in the poller: no stall */
    pthread_t thread;               /* the scheduler's OS thread */
    bool sigurg_blocked;            /* in that thread when watching began */
    /* The seq of the stall whose stack the watchdog asked for, 0 for
     * none: set by the watchdog before it sends SIGURG, set back to 0 by
     * the handler when it is done.  Never 0 otherwise: seq is 2 or more
     * once watching has begun. */
    atomic_uint_fast64_t shot;
    /* The watchdog's own, under its lock. */
    struct green__node node;
    uint_fast64_t seen;             /* seq when last sampled */
    int64_t since;                  /* when seen was first sampled */
    bool reported;                  /* this stall was reported */
};

/* Starts watching w's scheduler when GREEN_SLOW_MS asks for it (and the
 * watchdog can be started: if not, there is no watching). */
void green__watch_start(struct green__watch *w, const green_t *first);

/* Stops watching; before the scheduler's threads are freed. */
void green__watch_stop(struct green__watch *w);

/* The scheduler resumes t. */
void green__watch_switch(struct green__watch *w, const green_t *t);

/* The scheduler is about to wait in the poller (idle) or is back. */
void green__watch_idle(struct green__watch *w, bool idle);

/* The stalled thread's stack (watch_stack.c). */

/* On the scheduler's thread, under the watchdog's lock, as watching
 * begins: the handler is installed if it can be. */
void green__watch_stack_start(struct green__watch *w);

/* The watchdog, under its lock, after the first line of the report of the
 * stall at seq: has the stack written on stderr by the stalled thread, or
 * writes why it cannot be. */
void green__watch_stack_write(struct green__watch *w, uint_fast64_t seq);

#endif
