/*
 * The poller: who waits on an fd, and the fd's life as libgreen sees it.
 *
 * The generic part (poller.c) keeps a table indexed by fd.  Each record
 * lists the green threads parked on that fd (for readiness, for a call a
 * backend makes, for a turn at the file position), the interest the
 * backend holds for it (the union of what the readiness waiters wait
 * for), whether libgreen owns the fd, and a generation that every close or
 * release libgreen sees moves on, so that a thread woken for one file
 * never acts on a later file with the same number.  A backend implements
 * green__poller_ops: change the interest in one fd, and wait for
 * readiness, reporting each ready fd to green__poller_ready.  One backend
 * a file (poller_poll.c, poller_epoll.c, poller_uring.c); the scheduler
 * never sees which.  A backend may also make the I/O calls itself (uring:
 * start and stop), completing each through green__poller_done.
 *
 * The record also holds what the I/O engine knows of the file (file.h),
 * which the poller only forgets with the record, and a slot that only the
 * backend reads.  How a call is made is the engine's (engine.h); the
 * poller only parks it.
 */
#ifndef GREEN_POLLER_H
#define GREEN_POLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "call.h"
#include "file.h"
#include "list.h"
#include "wait.h"

/* Readiness as backends report it: GREEN_IN and GREEN_OUT from green.h,
 * and these two, which wake every waiter of the fd. */
#define GREEN__ERR 0x4   /* error or hang-up: every call will fail or see EOF */
#define GREEN__NVAL 0x8  /* the fd is not open: waiters fail with EBADF */
/* Reported with GREEN_IN by an edge-triggered backend when a stream's
 * reads may now stop short of what is queued, or end, with no edge to
 * come: urgent data, the peer's shutdown, an error.  It ends the TCP hint
 * of the fd's file (file.h). */
#define GREEN__UNHINT 0x10

struct green__fd {
    /* Its waits (poller.c). */
    struct green__list waiters;   /* every thread parked for readiness
                                     or for a call */
    unsigned nin, nout;           /* readiness waiters for GREEN_IN, OUT */
    int events;                   /* their interest now */
    int pending;                  /* edges seen with no waiter (edge-
                                     triggered backends): GREEN_IN/OUT */
    int handed;                   /* readiness a level wait handed out
                                     with no edge since: the caller may not
                                     have used it all up */
    unsigned gen;                 /* moves on at every close, release or
                                     new file libgreen sees for the number */
    bool owned;                   /* libgreen made, adopted or did I/O on
                                     it: kept registered between waits */
    bool turn_taken;              /* a call at the file position is in
                                     flight (kept by a close or release
                                     until it ends) */
    struct green__list turns;     /* the turn of each call waiting for it,
                                     in the order they came */
    /* The sweep's (poller.c, mark_unchecked): waiters are parked on a
     * registration that a plain close may have made stale, to be checked
     * at check_at (coarse ms), then check_gap later. */
    bool unchecked;
    int64_t check_at, check_gap;
    /* The engine's (file.h). */
    struct green__file file;
    /* The backend's own: no other part reads it. */
    union {
        int epoll_registered;     /* the events the kernel's set holds */
        int poll_pos;             /* 1 + its place in the pollfd array */
        struct {
            int registered;       /* the events of the poll in flight */
            unsigned serial;      /* its serial */
        } uring;
    } backend;
};

struct green__poller;

struct green__poller_ops {
    const char *name;
    /* Edge-triggered: the backend reports changes, not states, so an edge
     * that finds no waiter is kept in pending for the next one. */
    bool edge_triggered;
    /* Each returns 0 or -errno. */
    int (*init)(struct green__poller *p);
    void (*fini)(struct green__poller *p);
    /* Makes room to watch n fds at once, so that set never allocates. */
    int (*reserve)(struct green__poller *p, size_t n);
    /* The waiters' interest in fd changes from r->events to events
     * (either may be 0); the caller then stores events in r->events,
     * whatever set returned when events is narrower.  -EPERM means the
     * fd cannot be watched (a regular file): it is always ready. */
    int (*set)(struct green__poller *p, int fd, struct green__fd *r, int events);
    /* Drops whatever the backend holds for fd (perhaps nothing), which is
     * about to close, to be given away or to be another file. */
    void (*forget)(struct green__poller *p, int fd, struct green__fd *r);
    /* Makes sure the registration held for fd is for the file open under
     * that number now, registering it afresh if the kernel dropped it.
     * 0, 1 when it registered afresh (the number is another file now), or
     * -EBADF when nothing is open under the number.  NULL for a
     * backend that holds nothing between waits. */
    int (*check)(struct green__poller *p, int fd, struct green__fd *r);
    /* Waits up to timeout_ms (-1: no limit) and reports each ready fd.
     * Returns the number reported, 0 on timeout or EINTR, or -errno. */
    int (*wait)(struct green__poller *p, int timeout_ms);
    /* A backend that makes the I/O calls (NULL for one that only reports
     * readiness): starts c, to end in green__poller_done(p, token,
     * result) from wait.  0 or -errno.  stop asks that the call end early;
     * its completion still comes. */
    int (*start)(struct green__poller *p, struct green__call *c, void *token);
    void (*stop)(struct green__poller *p, void *token);
    /* For a host loop (lib/loop.c): an fd that polls readable when wait
     * with no timeout has something to report, brought up to date with
     * the interest as it stands; the same fd each time.  -errno; NULL
     * where the system gives the backend no such fd. */
    int (*host_fd)(struct green__poller *p);
};

struct green__poller {
    const struct green__poller_ops *ops;
    void *impl;                /* the backend's state */
    struct green__fd *fds;     /* indexed by fd */
    size_t nfds;
    size_t nwatched;           /* fds with nonzero interest */
    size_t nowned;             /* records with owned set */
    size_t ncalls;             /* calls started and not yet completed */
    struct green__list calls;  /* their waits, in case the backend breaks */
    const char *fell_back;     /* the name of the backend asked for, when
                                  it could not be had and epoll is used */
    unsigned long syscalls;    /* interest changes the kernel was told of */
    unsigned long enters;      /* uring: io_uring_enter calls made */
    bool hosted;               /* a host loop watches host_fd */
    bool forking;              /* a fork's child drops its other threads:
                                  their watches are forgotten, not taken
                                  off the set it shares with the parent */
    int wakefd;                /* the scheduler's inbox, or -1: watched
                                  apart from the waiters, not counted */
    bool woken;                /* wakefd was reported ready */
    int failures;              /* wait's consecutive failures */
    int broken;                /* the backend failed for good: its errno */
    /* The sweep for stale registrations (poller.c, mark_unchecked). */
    size_t nunchecked;         /* records with unchecked set */
    int64_t next_check;        /* when the next sweep is due (coarse ms) */
    /* In a run of several schedulers: the run's table of which
     * schedulers' pollers know each fd (lib/shared_fds.c), and this one's
     * bit in it; NULL alone. */
    _Atomic unsigned *users;
    size_t nusers;
    unsigned user_bit;
};

/* In a run: marks fd as known to p's scheduler (lib/shared_fds.c). */
void green__poller_mark_user(struct green__poller *p, int fd);

extern const struct green__poller_ops green__poller_poll;
extern const struct green__poller_ops green__poller_epoll;
extern const struct green__poller_ops green__poller_uring;

/* The backend GREEN_POLLER names (poll, epoll, uring), or the default for
 * the platform; NULL when GREEN_POLLER names none. */
const struct green__poller_ops *green__poller_choose(void);

/* Sets up the backend green__poller_choose picks, for a host loop's
 * scheduler if hosted: 0 or -errno (EINVAL for an unknown GREEN_POLLER).
 * When uring is asked for and cannot be had (not in this build, or not in
 * this kernel), epoll is set up instead, and fell_back says so. */
int green__poller_init(struct green__poller *p, bool hosted);

/* The fd a host loop watches (the backend's host_fd): -errno, ENOSYS
 * where there is none. */
int green__poller_host_fd(struct green__poller *p);

/* Milliseconds until the next sweep for stale registrations, which wakes
 * their waiters if their fd was closed: -1 when none is due. */
int green__poller_next_sweep(const struct green__poller *p);
void green__poller_fini(struct green__poller *p);

/* The record for fd, growing the table when needed; NULL when it cannot
 * grow (ENOMEM).  Growing moves every record: a pointer to one is good
 * only until the table may grow (this call or green__poller_fresh for
 * another fd, or a park, in which other threads call them). */
struct green__fd *green__poller_fd(struct green__poller *p, int fd);

/* The record for fd if the table has one yet, else NULL. */
static inline struct green__fd *green__poller_has(struct green__poller *p, int fd)
{
    return (size_t)fd < p->nfds ? &p->fds[fd] : NULL;
}

/* The generation of fd's record (0 for none yet): it moves on at every
 * close or release libgreen sees. */
static inline unsigned green__fd_gen(const struct green__poller *p, int fd)
{
    return (size_t)fd < p->nfds ? p->fds[fd].gen : 0;
}

/* Waits up to timeout_ms (-1: no limit) for ready fds and wakes their
 * waiters; sweeps stale registrations when one is due.  A backend that
 * keeps failing is reported once on stderr, its error given to every fd
 * waiter, and from then on only the timers and the inbox are waited for.
 * Returns the number of ready fds and completions the backend reported,
 * or -1 when it was not asked (broken) or failed. */
int green__poller_wait(struct green__poller *p, int timeout_ms);

/* libgreen owns fd, whose record is r: kept registered between waits. */
static inline void green__fd_own(struct green__poller *p, struct green__fd *r)
{
    p->nowned += !r->owned;
    r->owned = true;
}

/* Whether anything waits on the poller: an fd's waiters or a call. */
static inline bool green__poller_busy(const struct green__poller *p)
{
    return p->nwatched > 0 || p->ncalls > 0;
}

struct green__sched;

/* A thread's wait on an fd, in the fd record's waiters: for readiness, or
 * for a call the backend makes. */
struct green__fdwait {
    struct green__wait wait;
    struct green__node node;   /* in the fd record's waiters */
    int fd;
    int events;                /* what it waits for: GREEN_IN | GREEN_OUT;
                                  0 for a call, which only a close ends */
    int revents;               /* what woke it; GREEN__NVAL with an error */
    /* A call's: */
    struct green__call *call;
    struct green__node in_calls;  /* in the poller's calls */
    int res;                   /* its result, once done */
    bool done;
    /* A select's watch (green__fd_watch): */
    bool watching;             /* in the waiters */
    unsigned gen;              /* the fd's generation when it began */
};

/* For a select (lib/chan.c), which waits on several things with one wait
 * of its own: w watches fd for events on behalf of the running thread,
 * without parking.  The thread's next park is woken when the fd is ready
 * (w->revents says how), and the wait's unlink must call
 * green__fd_unwatch.  1 when the fd is ready now (w->revents), 0 when w
 * watches, or -errno. */
int green__fd_watch(struct green__sched *s, struct green__fdwait *w, int fd, int events);

/* Takes w off its fd if it watches; idempotent. */
void green__fd_unwatch(struct green__sched *s, struct green__fdwait *w);

/* What w saw and the select did not use: handed on to the next level
 * wait on the fd, which then looks before it parks. */
void green__fd_unused(struct green__sched *s, const struct green__fdwait *w);

/* After the wait: what w saw, as green_wait returns it: the ready events
 * among those it asked for, or -errno (EBADF when the fd was closed or
 * released meanwhile); 0 when nothing came for it. */
int green__fd_watched(struct green__sched *s, const struct green__fdwait *w, int err);

/* The three waits on an fd. */

/* Parks the running thread until fd is ready for events (GREEN_IN,
 * GREEN_OUT), under its deadline.  The I/O calls wait only after the fd
 * said EAGAIN, so a change is what they wait for; level asks for the state
 * instead (green_wait, whose caller may not have read all there was).
 * Returns what became ready (GREEN_IN, GREEN_OUT, GREEN__ERR bits) or
 * -errno: ETIMEDOUT, ECANCELED, ENOMEM, EBADF when libgreen saw the fd
 * closed or released after it parked (even if it was woken for readiness
 * first), or the backend's error. */
int green__fd_wait(struct green__sched *s, int fd, int events, bool level);

/* Under a backend that makes the I/O calls (p->ops->start): starts c and
 * parks the running thread until it completes, under its deadline.  A
 * deadline, cancellation, green_close or release that comes first stops
 * the call and waits for its end: a call that completed anyway gives its
 * result, so nothing read is lost and nothing written goes uncounted.
 * Returns the call's result or -errno: the call's own, ETIMEDOUT,
 * ECANCELED, ENOMEM, EBADF when libgreen saw the fd closed or released
 * while the call waited, or the backend's error. */
ssize_t green__fd_call(struct green__sched *s, struct green__call *c);

/* Whether a call holds fd's turn at the file position now. */
static inline bool green__fd_turn_held(const struct green__poller *p, int fd)
{
    return (size_t)fd < p->nfds && p->fds[fd].turn_taken;
}

/* Takes fd's turn, parking in order of arrival while another call holds
 * it: 0, or -errno (ETIMEDOUT, ECANCELED, EBADF when fd was closed or
 * released meanwhile).  The record must exist.  green__fd_give_turn hands
 * it to the next. */
int green__fd_take_turn(struct green__sched *s, int fd);
void green__fd_give_turn(struct green__poller *p, int fd);

/* poll(2) on one fd: the events of events that are ready (GREEN__ERR
 * counting as all), 0 on timeout, or -errno (EBADF for an fd not open). */
int green__poll_one(int fd, int events, int timeout_ms);

/* What a wait for events reports, given what the fd said. */
static inline int green__ready_events(int revents, int events)
{
    return revents & GREEN__ERR ? events : revents & events;
}

/* The fd's life. */

/* Wakes every waiter of fd with EBADF and forgets the fd, before the
 * caller closes it or hands it to other code.  0, or -EBADF when fd is
 * negative. */
int green__poller_forget(struct green__poller *p, int fd);

/* fd is a new file to libgreen (it made it, accepted it, adopted it):
 * whatever the table knew of an earlier file with its number is stale,
 * and libgreen owns this one.  Its record, or NULL (ENOMEM: not owned,
 * then, and watched only while waited on). */
struct green__fd *green__poller_fresh(struct green__poller *p, int fd);

/* Watches fd for GREEN_IN for good, as the scheduler's inbox: its
 * readiness sets p->woken instead of waking waiters.  On failure fd's
 * record is left as a new one.  0 or -errno. */
int green__poller_wakefd(struct green__poller *p, int fd);

/* In a fork's child: the backend's kernel state (epoll's set) is the
 * parent's too, so the child gets a backend of its own, and a table that
 * knows no fd and no waiter.  0 or -errno (the backend cannot be made: the
 * child then has a broken poller, as after a failure). */
int green__poller_after_fork(struct green__poller *p);

/* Called by backends. */

/* fd is ready for revents. */
void green__poller_ready(struct green__poller *p, int fd, int revents);

/* The call started with token, for a backend to read at its end. */
struct green__call *green__poller_call(void *token);

/* The room that call's message may be built in, for as long as it is in
 * flight. */
struct green__call_room *green__poller_room(void *token);

/* The call started with token ended with res. */
void green__poller_done(struct green__poller *p, void *token, int res);

#endif
