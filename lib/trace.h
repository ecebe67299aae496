/*
 * The timeline: with GREEN_TRACE=path in the environment, what each
 * scheduler does (spawns, run slices, parks and their kind of wait, wakes
 * and their waker, the poller's waits) is written to path in the Chrome
 * trace-event JSON format, which Perfetto and chrome://tracing open.
 *
 * Each traced scheduler writes fixed-size records into a ring of its own
 * and never waits: when the ring is full a record is dropped and counted.
 * One writer OS thread per process drains every ring into the file every
 * few ms, turning records into JSON, one event per line; a scheduler
 * drains its own ring at the end of its green_run, and the file is closed
 * (made whole) at exit.  When GREEN_TRACE is not set, s->trace is NULL and
 * each hook in the scheduler is one test of it, predicted not taken.
 *
 * The hooks are called on the scheduler's own OS thread.
 */
#ifndef GREEN_TRACE_H
#define GREEN_TRACE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "green.h"
#include "list.h"

struct green__sched;

/* What a record says happened. */
enum green__trace_type {
    GREEN__TRACE_SPAWN,     /* id was spawned by arg (0: by no thread);
                               text is its name */
    GREEN__TRACE_RUN,       /* id starts a run slice */
    GREEN__TRACE_PARK,      /* id parks; text says on what */
    GREEN__TRACE_YIELD,     /* id yields */
    GREEN__TRACE_EXIT,      /* id's function returned */
    GREEN__TRACE_WAKE,      /* id is woken by `by` (thread arg), with err */
    GREEN__TRACE_POLL,      /* the poller waited from arg to ns; err is the
                               timeout in ms (-1: none) */
};

/* Who woke a thread: the running thread, or the scheduler's own work. */
enum green__trace_by {
    GREEN__TRACE_BY_THREAD,     /* the running thread, whose id is arg */
    GREEN__TRACE_BY_POLLER,     /* an fd, or another OS thread's post */
    GREEN__TRACE_BY_TIMER,      /* a sleep's end or a deadline */
    GREEN__TRACE_BY_SCHEDULER,  /* no thread ran: a deadlock, the end */
};

/* One record: 64 bytes, a cache line. */
struct green__trace_rec {
    int64_t ns;                     /* CLOCK_MONOTONIC */
    uint64_t id;                    /* the green thread's */
    uint64_t arg;
    uint16_t type;                  /* enum green__trace_type */
    uint16_t by;                    /* enum green__trace_by, for a wake */
    int32_t err;
    char text[GREEN_NAME_MAX];      /* NUL-terminated, maybe cut short */
};

struct green__trace {
    /* The ring, single producer (the scheduler) and single consumer (the
     * writer, or the scheduler at its end, under the file's lock).  head
     * counts the records written, tail those read; slot i is
     * ring[i & mask].  The producer never waits: full, it counts a drop. */
    struct green__trace_rec *ring;
    size_t mask;
    _Atomic size_t head, tail;
    _Atomic unsigned long dropped;

    /* The scheduler's own. */
    enum green__trace_by by;        /* who wakes now, when no thread runs */
    bool running;                   /* a thread's slice is open */
    int64_t poll_start;             /* when the poller began to wait */
    int poll_timeout;               /* for how long, in ms; 0: no wait */
    unsigned long polls;            /* poller waits recorded (for tests) */

    /* The writer's, under the file's lock. */
    struct green__node node;        /* in the registered rings */
    unsigned pid;                   /* its track group in the file */
    bool open;                      /* a slice is open in the file: */
    uint64_t open_id;               /* whose, */
    int64_t open_ns;                /* since when */
    unsigned long dropped_told;     /* drops written into the file */
    unsigned long flows;            /* wake arrows written */
};

/* Starts tracing s when GREEN_TRACE asks for it (s->trace stays NULL
 * otherwise, and when the file, the ring or the writer cannot be had:
 * one line on stderr says so).  After s's index and run are set, before
 * its first spawn. */
void green__trace_start(struct green__sched *s);

/* Drains s's ring into the file and stops tracing s; at the end of its
 * green_run, EDEADLK or not. */
void green__trace_end(struct green__sched *s);

/* The hooks, each called only when s->trace is set. */
void green__trace_spawn(struct green__sched *s, const green_t *t);
void green__trace_run(struct green__sched *s, const green_t *t);
/* t stops running: it parks, yields or has finished, by its state. */
void green__trace_stop(struct green__sched *s, const green_t *t);
void green__trace_wake(struct green__sched *s, const green_t *t, int err);
/* Around poll_once: the poller is about to wait up to timeout_ms; it has
 * waited, and the timers are next; the look is over. */
void green__trace_poll_begin(struct green__sched *s, int timeout_ms);
void green__trace_poll_timers(struct green__sched *s);
void green__trace_poll_end(struct green__sched *s);

/* For the tests: the records a new ring holds (a power of two), and the
 * writer's pause between drains. */
extern size_t green__trace_ring_records;
extern int green__trace_interval_ms;

#endif
