/*
 * The epoll backend, Linux only.
 *
 * An fd that libgreen owns (the green I/O calls made it non-blocking, and
 * it will be closed with green_close) is registered once, edge-triggered,
 * and stays registered across waits: interest only ever widens, so a
 * connection costs one epoll_ctl to add and at most one to add the other
 * direction, and parking costs none.  Edges that come while nobody waits
 * are kept by the generic part as pending.  An fd libgreen does not own
 * (seen only by green_wait, and likely closed by other code without
 * telling libgreen) is registered while it has waiters and removed when
 * the last leaves, so a later fd with its number inherits nothing.
 * green_close removes the registration before closing.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "green.h"
#include "poller.h"

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

static int ctl(struct green__poller *p, int op, int fd, int events)
{
    struct epollset *es = p->impl;
    p->syscalls++;
    struct epoll_event ev = {
        .events = (events & GREEN_IN ? EPOLLIN | EPOLLRDHUP : 0) |
                  (events & GREEN_OUT ? EPOLLOUT : 0) | EPOLLET,
        .data.fd = fd,
    };
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

static int ep_set(struct green__poller *p, int fd, struct green__fd *r, int events)
{
    struct epollset *es = p->impl;
    int held = r->backend < 0 ? 0 : r->backend;
    int want = r->nonblock ? held | events : events;
    if (want == held)
        return 0;
    int err;
    if (want == 0) {
        p->syscalls++;
        err = epoll_ctl(es->epfd, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : -errno;
        r->backend = -1;
        return err == -EBADF || err == -ENOENT ? 0 : err;
    }
    err = ctl(p, held ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, want);
    if (err == 0)
        r->backend = want;
    return err;
}

static void ep_forget(struct green__poller *p, int fd, struct green__fd *r)
{
    struct epollset *es = p->impl;
    if (r->backend > 0)
        (void)epoll_ctl(es->epfd, EPOLL_CTL_DEL, fd, NULL);
    r->backend = -1;
}

static int from_epoll(uint32_t ev)
{
    return (ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP) ? GREEN_IN : 0) |
           (ev & EPOLLOUT ? GREEN_OUT : 0) |
           (ev & (EPOLLERR | EPOLLHUP) ? GREEN__ERR : 0);
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

const struct green__poller_ops green__poller_epoll = {
    .name = "epoll",
    .edge_triggered = true,
    .init = ep_init,
    .fini = ep_fini,
    .reserve = ep_reserve,
    .set = ep_set,
    .forget = ep_forget,
    .wait = ep_wait,
};
