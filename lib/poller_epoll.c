/*
 * The epoll backend, Linux only.
 *
 * An fd that libgreen owns (it made it, adopted it or did I/O on it) is
 * registered once, edge-triggered, and stays registered across waits:
 * interest only ever widens, so a connection costs one epoll_ctl to add
 * and at most one to add the other direction, and parking costs none.
 * Edges that come while nobody waits are kept by the generic part as
 * pending.  An fd libgreen does not own (seen only by green_wait, and
 * likely closed by other code without telling libgreen) is registered
 * while it has waiters and removed when the last leaves, so a later fd
 * with its number inherits nothing.  green_close and green_fd_release
 * remove the registration; a plain close makes the kernel drop it, which
 * the generic part's sweep finds with check.
 *
 * This file's epoll_wait and close go through the routed-call table,
 * around libgreen-hook (routed.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "green.h"
#include "poller.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

enum { EVENTS = 256 };  /* reported per epoll_wait */

struct epollset {
    int epfd;
    struct epoll_event ev[EVENTS];
};

static int ep_init(struct green__poller *p)
{
    struct epollset *es = malloc(sizeof *es);
    if (!es)
        return -ENOMEM;
    es->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (es->epfd < 0) {
        int err = -errno;
        free(es);
        return err;
    }
    p->impl = es;
    return 0;
}

static void ep_fini(struct green__poller *p)
{
    struct epollset *es = p->impl;
    if (es)
        close(es->epfd);
    free(es);
    p->impl = NULL;
}

static int ep_reserve(struct green__poller *p, size_t n)
{
    (void)p, (void)n;  /* the kernel holds the set */
    return 0;
}

/* A TCP socket's reads are watched for urgent data too, which ends its
 * drained hint (GREEN__UNHINT). */
static uint32_t to_epoll(int events, const struct green__fd *r)
{
    return (events & GREEN_IN ? EPOLLIN | EPOLLRDHUP | (r->file.tcp ? EPOLLPRI : 0) : 0) |
           (events & GREEN_OUT ? EPOLLOUT : 0) | EPOLLET;
}

static int ctl(struct green__poller *p, int op, int fd, const struct green__fd *r, int events)
{
    struct epollset *es = p->impl;
    p->syscalls++;
    struct epoll_event ev = {.events = to_epoll(events, r), .data.fd = fd};
    if (epoll_ctl(es->epfd, op, fd, &ev) == 0)
        return 0;
    /* The kernel dropped a registration when its file was closed, or a
     * registration this table forgot is still there: switch and retry. */
    if (op == EPOLL_CTL_MOD && errno == ENOENT)
        op = EPOLL_CTL_ADD;
    else if (op == EPOLL_CTL_ADD && errno == EEXIST)
        op = EPOLL_CTL_MOD;
    else
        return -errno;
    return epoll_ctl(es->epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

/* Drops fd's registration.  Whatever the kernel says, the table holds
 * none afterwards: ENOENT and EBADF mean it had none; anything else leaves
 * at worst a registration that reports spurious edges. */
static int del(struct green__poller *p, int fd, struct green__fd *r)
{
    struct epollset *es = p->impl;
    p->syscalls++;
    int err = epoll_ctl(es->epfd, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : -errno;
    r->backend.epoll_registered = 0;
    return err == -EBADF || err == -ENOENT ? 0 : err;
}

static int ep_set(struct green__poller *p, int fd, struct green__fd *r, int events)
{
    int held = r->backend.epoll_registered;
    int want = r->owned ? held | events : events;
    if (want == held)
        return 0;
    if (want == 0)
        return del(p, fd, r);
    int err = ctl(p, held ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, r, want);
    if (err == 0)
        r->backend.epoll_registered = want;
    return err;
}

static void ep_forget(struct green__poller *p, int fd, struct green__fd *r)
{
    if (r->backend.epoll_registered)
        (void)del(p, fd, r);
}

/* Adding what should be there says EEXIST when it is, and changes
 * nothing: no edge is re-armed, so no waiter wakes for nothing.  1 when
 * the add took: the kernel had dropped it, so the file is another. */
static int ep_check(struct green__poller *p, int fd, struct green__fd *r)
{
    struct epollset *es = p->impl;
    struct epoll_event ev = {.events = to_epoll(r->backend.epoll_registered, r), .data.fd = fd};
    p->syscalls++;
    if (epoll_ctl(es->epfd, EPOLL_CTL_ADD, fd, &ev) == 0)
        return 1;
    if (errno == EEXIST)
        return 0;
    return errno == EBADF ? -EBADF : 0;
}

static int from_epoll(uint32_t ev)
{
    return (ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP) ? GREEN_IN : 0) |
           (ev & EPOLLOUT ? GREEN_OUT : 0) |
           (ev & (EPOLLERR | EPOLLHUP) ? GREEN__ERR : 0) |
           (ev & (EPOLLPRI | EPOLLRDHUP | EPOLLERR | EPOLLHUP) ? GREEN__UNHINT : 0);
}

static int ep_wait(struct green__poller *p, int timeout_ms)
{
    struct epollset *es = p->impl;
    int n = epoll_wait(es->epfd, es->ev, EVENTS, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        int fd = es->ev[i].data.fd;
        /* Report only fds the table knows; a registration can outlive its
         * record when a dup of the fd keeps the file open. */
        if ((size_t)fd < p->nfds)
            green__poller_ready(p, fd, from_epoll(es->ev[i].events));
    }
    return n;
}

/* The set itself: it polls readable while an event waits in it. */
static int ep_host_fd(struct green__poller *p)
{
    struct epollset *es = p->impl;
    return es->epfd;
}

const struct green__poller_ops green__poller_epoll = {
    .name = "epoll",
    .edge_triggered = true,
    .init = ep_init,
    .fini = ep_fini,
    .reserve = ep_reserve,
    .set = ep_set,
    .forget = ep_forget,
    .check = ep_check,
    .wait = ep_wait,
    .host_fd = ep_host_fd,
};
