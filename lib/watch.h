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
 */
#ifndef GREEN_WATCH_H
#define GREEN_WATCH_H

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

#endif
