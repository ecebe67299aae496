/*
 * Waiting for file descriptors.
 *
 * The generic part (poller.c) keeps a table indexed by fd.  Each record
 * lists the green threads parked on that fd and the interest the backend
 * holds for it, the union of what those threads wait for.  A backend
 * implements green__poller_ops: change the interest in one fd, and wait
 * for readiness, reporting each ready fd to green__poller_ready.  One
 * backend a file (poller_poll.c, ...); the scheduler never sees which.
 */
#ifndef GREEN_POLLER_H
#define GREEN_POLLER_H

#include <stdbool.h>
#include <stddef.h>

#include "list.h"

/* Readiness as backends report it: GREEN_IN and GREEN_OUT from green.h,
 * and these two, which wake every waiter of the fd. */
#define GREEN__ERR 0x4   /* error or hang-up: every call will fail or see EOF */
#define GREEN__NVAL 0x8  /* the fd is not open: waiters fail with EBADF */

/* One green thread's wait on one fd. */
struct green__fdwait {
    struct green__node node;   /* in the fd record's waiters */
    int fd;
    int events;                /* what it waits for: GREEN_IN | GREEN_OUT */
    int revents;               /* what woke it */
};

struct green__fd {
    struct green__list waiters;   /* the green__fdwait of every waiter */
    unsigned nin, nout;           /* waiters for GREEN_IN, for GREEN_OUT */
    int events;                   /* interest of the waiters now */
    int backend;                  /* the backend's own word for the fd:
                                     poll's array index, epoll's
                                     registered events; -1 for none */
    int pending;                  /* edges seen with no waiter (edge-
                                     triggered backends): GREEN_IN/OUT */
    int nonblock;                 /* O_NONBLOCK known to be set on the fd:
                                     libgreen owns it until green_close */
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
     * (either may be 0); the caller then stores events in r->events.
     * -EPERM means the fd cannot be watched (a regular file): it is
     * always ready. */
    int (*set)(struct green__poller *p, int fd, struct green__fd *r, int events);
    /* Drops whatever the backend holds for fd, which is about to close. */
    void (*forget)(struct green__poller *p, int fd, struct green__fd *r);
    /* Waits up to timeout_ms (-1: no limit) and reports each ready fd.
     * Returns the number reported, 0 on timeout or EINTR, or -errno. */
    int (*wait)(struct green__poller *p, int timeout_ms);
};

struct green__poller {
    const struct green__poller_ops *ops;
    void *impl;                /* the backend's state */
    struct green__fd *fds;     /* indexed by fd */
    size_t nfds;
    size_t nwatched;           /* fds with nonzero interest */
    unsigned long syscalls;    /* interest changes the kernel was told of */
    int wakefd;                /* the scheduler's inbox, or -1: watched
                                  apart from the waiters, not counted */
    bool woken;                /* wakefd was reported ready */
};

extern const struct green__poller_ops green__poller_poll;
extern const struct green__poller_ops green__poller_epoll;

/* The backend GREEN_POLLER names (poll, epoll), or the default for the
 * platform; NULL when GREEN_POLLER names none. */
const struct green__poller_ops *green__poller_choose(void);

/* Sets up the backend green__poller_choose picks: 0 or -errno (EINVAL for
 * an unknown GREEN_POLLER). */
int green__poller_init(struct green__poller *p);
void green__poller_fini(struct green__poller *p);

/* The record for fd, growing the table when needed; NULL and ENOMEM. */
struct green__fd *green__poller_fd(struct green__poller *p, int fd);

/* Adds w to fd's waiters (w->fd and w->events are set by the caller) and
 * widens the interest.  Returns 0, 1 when the fd is ready already (an
 * edge came while nobody waited, or it cannot be watched; w is not
 * added and w->revents says what is ready), or -errno. */
int green__poller_watch(struct green__poller *p, struct green__fdwait *w);

/* Removes w from its fd's waiters and narrows the interest. */
void green__poller_unwatch(struct green__poller *p, struct green__fdwait *w);

/* Wakes every waiter of fd with EBADF and forgets the fd, before the
 * caller closes it. */
void green__poller_forget(struct green__poller *p, int fd);

/* fd is new (returned by accept): whatever the table knew of an earlier
 * fd with its number is stale.  Marks it non-blocking, owned. */
void green__poller_fresh(struct green__poller *p, int fd);

/* Watches fd for GREEN_IN for good, as the scheduler's inbox: its
 * readiness sets p->woken instead of waking waiters.  0 or -errno. */
int green__poller_wakefd(struct green__poller *p, int fd);

/* Called by backends: fd is ready for revents. */
void green__poller_ready(struct green__poller *p, int fd, int revents);

#endif
