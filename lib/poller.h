/*
 * The poller: waiting for file descriptors, and every fd's life as
 * libgreen sees it.
 *
 * The generic part (poller.c) keeps a table indexed by fd.  Each record
 * lists the green threads parked on that fd, the interest the backend
 * holds for it (the union of what those threads wait for), whether
 * libgreen owns the fd, and a generation that every close or release
 * libgreen sees moves on, so that a thread woken for one file never acts
 * on a later file with the same number.  A backend implements
 * green__poller_ops: change the interest in one fd, and wait for
 * readiness, reporting each ready fd to green__poller_ready.  One backend
 * a file (poller_poll.c, poller_epoll.c, poller_uring.c); the scheduler
 * never sees which.  A backend may also make the I/O calls itself (uring:
 * start and stop), completing each through green__poller_done.
 *
 * The I/O calls (io.c) enter at two ends only: green__fd_path before a
 * call, to learn how to make it without blocking, and green__fd_wait when
 * it would block; or, under a backend that makes the calls, green__fd_call.
 */
#ifndef GREEN_POLLER_H
#define GREEN_POLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "list.h"

/* Readiness as backends report it: GREEN_IN and GREEN_OUT from green.h,
 * and these two, which wake every waiter of the fd. */
#define GREEN__ERR 0x4   /* error or hang-up: every call will fail or see EOF */
#define GREEN__NVAL 0x8  /* the fd is not open: waiters fail with EBADF */
/* Reported with GREEN_IN by an edge-triggered backend when a stream's
 * reads may now stop short of what is queued, or end, with no edge to
 * come: urgent data, the peer's shutdown, an error.  It ends the drained
 * hint for the fd (green__fd_short_read). */
#define GREEN__UNHINT 0x10

struct green__fd {
    struct green__list waiters;   /* the fdwait of every parked thread */
    unsigned nin, nout;           /* waiters for GREEN_IN, for GREEN_OUT */
    int events;                   /* interest of the waiters now */
    unsigned gen;                 /* moves on at every close, release or
                                     new file libgreen sees for the number */
    int pending;                  /* edges seen with no waiter (edge-
                                     triggered backends): GREEN_IN/OUT */
    bool owned;                   /* libgreen made, adopted or did I/O on
                                     it: kept registered between waits */
    bool notsock;                 /* a socket call said ENOTSOCK: the I/O
                                     calls use plain read and write */
    bool tty;                     /* notsock, and a terminal: the I/O calls
                                     wait for readiness, never by a ring */
    bool set_nonblock;            /* libgreen set O_NONBLOCK on it, and
                                     clears it again on release */
    bool tcp;                     /* a TCP socket libgreen made: a short
                                     read means it had no more queued */
    bool drained;                 /* tcp, and a read came back short with
                                     no edge since: the next would say
                                     EAGAIN, so it waits first */
    int handed;                   /* readiness a level wait handed out
                                     with no edge since: the caller may not
                                     have used it all up */
    bool unchecked;               /* waiters are parked on a registration
                                     that a plain close may have made
                                     stale: the sweep checks it at check_at
                                     (coarse ms), then check_gap later */
    int64_t check_at;
    int64_t check_gap;
    /* Calls that move the file position (under a backend that makes the
     * calls) are made one at a time: see green__fd_call. */
    signed char positioned;       /* 1: calls move a file position (a
                                     regular file, a block device); -1:
                                     they do not; 0: not known */
    bool turn_taken;              /* such a call is in flight (kept by a
                                     close or release until it ends) */
    struct green__list turns;     /* the turn of each one waiting, in the
                                     order they came */
    int registered;               /* epoll: the events the kernel's set
                                     holds for the fd; 0 for none */
    int pollpos;                  /* poll: 1 + its place in the pollfd
                                     array; 0 for none */
    unsigned armed;               /* uring: the serial of the poll in
                                     flight (registered holds its events) */
};

/* One I/O call, for a backend that makes the calls itself. */
enum green__call_kind {
    GREEN__CALL_READ, GREEN__CALL_RECV, GREEN__CALL_READV, GREEN__CALL_RECVMSG,
    GREEN__CALL_WRITE, GREEN__CALL_SEND, GREEN__CALL_WRITEV, GREEN__CALL_SENDMSG,
    GREEN__CALL_ACCEPT, GREEN__CALL_CONNECT,
};

struct green__call {
    enum green__call_kind kind;
    int flags;            /* recv's, send's and the messages'; accept4's */
    void *ptr;            /* the buffer, iovec, msghdr or address */
    size_t n;             /* its length: bytes, elements, the address's */
    void *addrlen;        /* accept's socklen_t */
    bool at;              /* a read's or write's: made at offset, not at
                             the file position */
    int64_t offset;
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
    /* Drops whatever the backend holds for fd, which is about to close or
     * to be given away. */
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
     * readiness): starts c on fd, to end in green__poller_done(p, token,
     * result) from wait.  0 or -errno.  stop asks that the call end early;
     * its completion still comes. */
    int (*start)(struct green__poller *p, int fd, const struct green__call *c, void *token);
    void (*stop)(struct green__poller *p, void *token);
};

struct green__poller {
    const struct green__poller_ops *ops;
    void *impl;                /* the backend's state */
    struct green__fd *fds;     /* indexed by fd */
    size_t nfds;
    size_t nwatched;           /* fds with nonzero interest */
    size_t ncalls;             /* calls started and not yet completed */
    struct green__list calls;  /* their waits, in case the backend breaks */
    const char *fell_back;     /* the name of the backend asked for, when
                                  it could not be had and epoll is used */
    unsigned long syscalls;    /* interest changes the kernel was told of */
    unsigned long enters;      /* uring: io_uring_enter calls made */
    int wakefd;                /* the scheduler's inbox, or -1: watched
                                  apart from the waiters, not counted */
    bool woken;                /* wakefd was reported ready */
    int failures;              /* wait's consecutive failures */
    int broken;                /* the backend failed for good: its errno */
    /* The sweep for stale registrations (poller.c, mark_unchecked). */
    size_t nunchecked;         /* records with unchecked set */
    int64_t next_check;        /* when the next sweep is due (coarse ms) */
};

extern const struct green__poller_ops green__poller_poll;
extern const struct green__poller_ops green__poller_epoll;
extern const struct green__poller_ops green__poller_uring;

/* The backend GREEN_POLLER names (poll, epoll), or the default for the
 * platform; NULL when GREEN_POLLER names none. */
const struct green__poller_ops *green__poller_choose(void);

/* Sets up the backend green__poller_choose picks: 0 or -errno (EINVAL for
 * an unknown GREEN_POLLER).  When uring is asked for and cannot be had,
 * epoll is set up instead, and fell_back says so. */
int green__poller_init(struct green__poller *p);
void green__poller_fini(struct green__poller *p);

/* The record for fd, growing the table when needed; NULL when it cannot
 * grow (ENOMEM). */
struct green__fd *green__poller_fd(struct green__poller *p, int fd);

/* Waits up to timeout_ms (-1: no limit) for ready fds and wakes their
 * waiters; sweeps stale registrations when one is due.  A backend that
 * keeps failing is reported once on stderr, its error given to every fd
 * waiter, and from then on only the timers and the inbox are waited for. */
void green__poller_wait(struct green__poller *p, int timeout_ms);

/* How the I/O calls reach an fd without blocking. */
enum green__fdpath {
    GREEN__PATH_SOCKET,   /* socket calls with MSG_DONTWAIT: no flag needed */
    GREEN__PATH_PLAIN,    /* read and write, the fd made non-blocking */
};

struct green__sched;

/* Before an I/O call on fd by the running thread: its path, or -errno
 * (ECANCELED, EBADF, or fcntl's error).  plain asks for the fd to be made
 * non-blocking whatever it is (accept, connect).  A socket is assumed
 * until a call says ENOTSOCK (green__fd_notsock); the non-blocking flag
 * is checked at every call that needs it, never cached, since the number
 * may have been closed and reused behind libgreen's back. */
int green__fd_path(struct green__sched *s, int fd, bool plain);

/* fd is a TCP socket libgreen made (or accepted from one): a read that
 * comes back short on it means it had nothing more queued until the next
 * edge, unless urgent data, the peer's shutdown or an error is reported
 * (GREEN__UNHINT), which ends the hint for the fd. */
void green__poller_tcp(struct green__poller *p, int fd);

/* Whether fd is a TCP socket to libgreen, for an accepted one. */
static inline bool green__poller_is_tcp(const struct green__poller *p, int fd)
{
    return (size_t)fd < p->nfds && p->fds[fd].tcp;
}

/* A read of n bytes on fd came back with fewer: on a TCP socket the next
 * read would say EAGAIN until an edge, so green__fd_drained says to wait
 * first and spare that call. */
static inline void green__fd_short_read(struct green__poller *p, int fd)
{
    if ((size_t)fd < p->nfds && p->fds[fd].tcp)
        p->fds[fd].drained = true;
}

static inline bool green__fd_drained(const struct green__poller *p, int fd)
{
    return (size_t)fd < p->nfds && p->fds[fd].drained;
}

/* A socket call on fd said ENOTSOCK: from now on the plain path.
 * Returns what green__fd_path returns. */
int green__fd_notsock(struct green__sched *s, int fd);

/* Parks the running thread until fd is ready for events (GREEN_IN,
 * GREEN_OUT), under its deadline.  The I/O calls wait only after the fd
 * said EAGAIN, so a change is what they wait for; level asks for the state
 * instead (green_wait, whose caller may not have read all there was).
 * Returns what became ready (GREEN_IN, GREEN_OUT, GREEN__ERR bits) or
 * -errno: ETIMEDOUT, ECANCELED, ENOMEM, EBADF when libgreen saw the fd
 * closed or released after it parked (even if it was woken for readiness
 * first), or the backend's error. */
int green__fd_wait(struct green__sched *s, int fd, int events, bool level);

/* poll(2) on one fd: the events of events that are ready (GREEN__ERR
 * counting as all), 0 on timeout, or -errno (EBADF for an fd not open). */
int green__poll_one(int fd, int events, int timeout_ms);

/* What a wait for events reports, given what the fd said. */
static inline int green__ready_events(int revents, int events)
{
    return revents & GREEN__ERR ? events : revents & events;
}

/* Wakes every waiter of fd with EBADF and forgets the fd, before the
 * caller closes it or hands it to other code.  0, or -EBADF when fd is
 * negative. */
int green__poller_forget(struct green__poller *p, int fd);

/* fd is a new file that libgreen made (a socket, an accepted connection,
 * a pidfd): whatever the table knew of an earlier file with its number is
 * stale, and libgreen owns this one. */
void green__poller_fresh(struct green__poller *p, int fd);

/* green_fd_adopt: as fresh, for a file made by other code, which is made
 * non-blocking.  0 or -errno. */
int green__poller_adopt(struct green__poller *p, int fd);

/* Watches fd for GREEN_IN for good, as the scheduler's inbox: its
 * readiness sets p->woken instead of waking waiters.  On failure fd's
 * record is left as a new one.  0 or -errno. */
int green__poller_wakefd(struct green__poller *p, int fd);

/* In a fork's child: the backend's kernel state (epoll's set) is the
 * parent's too, so the child gets a backend of its own, and a table that
 * knows no fd and no waiter.  0 or -errno (the backend cannot be made: the
 * child then has a broken poller, as after a failure). */
int green__poller_after_fork(struct green__poller *p);

/* Called by backends: fd is ready for revents. */
void green__poller_ready(struct green__poller *p, int fd, int revents);

/* Whether anything waits on the poller: an fd's waiters or a call. */
static inline bool green__poller_busy(const struct green__poller *p)
{
    return p->nwatched > 0 || p->ncalls > 0;
}

/* Under a backend that makes the I/O calls (p->ops->start): makes c on
 * fd and parks the running thread until it completes, under its deadline.
 * A deadline, cancellation, green_close or release that comes first stops
 * the call and waits for its end: a call that completed anyway gives its
 * result, so nothing read is lost and nothing written goes uncounted.
 * Reads and writes at the position of a file that has one wait for their
 * turn, so that no two are in flight on one fd (read(2) and write(2) take
 * the position's lock; the ring's calls do not).  Returns the call's
 * result or -errno: the call's own, ETIMEDOUT, ECANCELED, EBADF when
 * libgreen saw fd closed or released while the call waited, or the
 * backend's error. */
ssize_t green__fd_call(struct green__sched *s, int fd, const struct green__call *c);

/* The generation of fd's record (0 for none yet): it moves on at every
 * close or release libgreen sees. */
static inline unsigned green__fd_gen(const struct green__poller *p, int fd)
{
    return (size_t)fd < p->nfds ? p->fds[fd].gen : 0;
}

/* Called by backends: the call started with token ended with res. */
void green__poller_done(struct green__poller *p, void *token, int res);

#endif
