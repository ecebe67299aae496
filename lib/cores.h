/*
 * A run of several schedulers: green_run_attr starts N, each on its own
 * OS thread (the caller's is the first and runs main), and they end
 * together.
 *
 * A green thread stays on the scheduler it was placed on; what crosses
 * between schedulers are requests, posted to the other scheduler's inbox
 * and carried out on its own thread (lib/across.c).  The run keeps what
 * they share: the schedulers, how many are idle (for the deadlock rule
 * below) and how many have ended.
 *
 * Deadlock: a scheduler is idle when every thread of its own is parked
 * and nothing of its own (an fd, a timer, an offloaded call) can wake
 * one; only another scheduler's request could.  A post to its inbox ends
 * its idleness in the same step (lib/inbox.c), so when the count of idle
 * (or ended) schedulers reaches N, no request is on its way and nothing
 * can ever wake a thread of the run: the scheduler that made the count N
 * reports every scheduler's threads and has every scheduler cancel its
 * own.
 *
 * The end: main returns on the first scheduler, which asks every other to
 * end (each cancels its threads, as green_run does).  A scheduler ends
 * when its threads have finished and its inbox is empty; it closes the
 * inbox to requests then, and a spawn placed on it goes to the spawner's
 * own scheduler instead.  The first ends last, once every other has
 * ended, and only then are the threads that nobody joined freed, on every
 * scheduler: until then a handle may still be joined from elsewhere.
 */
#ifndef GREEN_CORES_H
#define GREEN_CORES_H

#include <pthread.h>
#include <sched.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "green.h"
#include "inbox.h"

struct green__sched;

/* The CPUs the process may run on: Linux's affinity mask; POSIX has no
 * affinity, so the POSIX build knows only how many are online, and pins
 * nothing (cores.c). */
#ifndef GREEN_POSIX_ONLY
typedef cpu_set_t green__cpus_t;
#else
typedef struct {
    size_t count;
} green__cpus_t;
#endif

struct green__cores {
    size_t n;
    struct green__sched **scheds;   /* by index; set before any runs */
    pthread_t *threads;             /* the OS threads of 1 to n - 1 */
    bool pin;
    green__cpus_t cpus;             /* where the process may run, at the start */
    pid_t pid;                      /* the process the run's threads are in */
    bool spin;                      /* no more schedulers than CPUs: an idle
                                       one may spin (green__cores_spin) */

    /* Per fd number, which schedulers' pollers know it (shared_fds.c). */
    atomic_uint *fd_users;
    size_t nfd_users;

    atomic_size_t idle;             /* idle or ended schedulers */
    atomic_size_t ended;            /* schedulers but the first that ended */
    atomic_bool deadlocked;         /* the run fails with EDEADLK */
    struct green__remote first_wake; /* the first's root: another ended */

    /* Starting together and ending together. */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    size_t started;                 /* schedulers set up, or failed */
    int start_err;                  /* the first failure, -errno */
    bool go;                        /* every scheduler is set up */
    bool all_ended;                 /* the first has ended too */
};

/* The run's table of fd users (lib/shared_fds.c): 0 or -ENOMEM. */
int green__shared_fds_init(struct green__cores *c);
void green__shared_fds_fini(struct green__cores *c);

/* Runs main on n schedulers as green_run_attr; 0 or -errno. */
int green__cores_run(const green_run_attr_t *attr, void *(*main)(void *), void *arg);

/* s (NULL when its set-up failed with err) is set up: waits until every
 * scheduler of the run is, and returns the first failure, or 0. */
int green__cores_ready(struct green__cores *c, struct green__sched *s, int err);

/* s, of a run, has nothing to run and only its inbox (and timers) to
 * wait for: looks at the inbox for a few tens of microseconds before it
 * sleeps, since a request from another scheduler is likely soon and
 * waking an OS thread costs more; not when the run has more schedulers
 * than CPUs, where the spin would take a CPU from one with work.  Whether
 * something was posted. */
bool green__cores_spin(struct green__sched *s);

/* s, of a run, has only its inbox to wait for: counts it idle.  When that
 * makes every scheduler idle, it breaks the deadlock and returns true:
 * s's threads are runnable again. */
bool green__cores_idle(struct green__sched *s);

/* The deadlock request: s cancels its threads (the report is made). */
void green__cores_deliver_deadlock(struct green__remote *r);

/* The scheduler for GREEN_PLACE_ANY: of two picked at random, the one
 * with fewer live threads. */
struct green__sched *green__cores_pick(struct green__sched *s);

/* s's root, once main has returned and s's threads have finished: ends s
 * unless a request came meanwhile (then it has been carried out and the
 * root waits again); whether it ended.  The first ends only after every
 * other. */
bool green__cores_end(struct green__sched *s);

/* After every scheduler ended: waits until the first has too, so that no
 * thread is freed while another scheduler may still join it. */
void green__cores_wait_all_ended(struct green__cores *c);

/* Main returned on the first: every other scheduler is asked to end. */
void green__cores_end_others(struct green__sched *s);

#endif
