/*
 * The poll(2) backend.  It keeps a dense array of pollfd, one entry per fd
 * with interest; an fd's record holds its index there.  Adding and
 * removing interest is an array update, not a system call, but every wait
 * hands the whole array to the kernel, which scans it: fine for hundreds
 * of fds, the reason epoll exists for tens of thousands.
 *
 * This file's poll goes through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef GREEN_HAVE_EPOLL
#include <sys/epoll.h>
#endif

#include "green.h"
#include "poller.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

struct pollset {
    struct pollfd *pfd;
    size_t n, cap;
    int host;               /* a host loop's epoll set (pp_host_fd), or -1 */
};

static int pp_init(struct green__poller *p)
{
    struct pollset *ps = calloc(1, sizeof *ps);
    if (!ps)
        return -ENOMEM;
    ps->host = -1;
    p->impl = ps;
    return 0;
}

static void pp_fini(struct green__poller *p)
{
    struct pollset *ps = p->impl;
    if (ps && ps->host >= 0)
        close(ps->host);
    if (ps)
        free(ps->pfd);
    free(ps);
    p->impl = NULL;
}

static int pp_reserve(struct green__poller *p, size_t n)
{
    struct pollset *ps = p->impl;
    if (n <= ps->cap)
        return 0;
    size_t cap = ps->cap ? ps->cap : 64;
    while (cap < n)
        cap *= 2;
    struct pollfd *pfd = realloc(ps->pfd, cap * sizeof *pfd);
    if (!pfd)
        return -ENOMEM;
    ps->pfd = pfd;
    ps->cap = cap;
    return 0;
}

static short to_poll(int events)
{
    return (short)((events & GREEN_IN ? POLLIN : 0) | (events & GREEN_OUT ? POLLOUT : 0));
}

static int from_poll(short revents)
{
    return (revents & (POLLIN | POLLPRI) ? GREEN_IN : 0) |
           (revents & POLLOUT ? GREEN_OUT : 0) |
           (revents & (POLLERR | POLLHUP) ? GREEN__ERR : 0) |
           (revents & POLLNVAL ? GREEN__NVAL : 0);
}

/* Takes fd's entry, if it has one, out of the array, swapping the last
 * entry into the hole. */
static void pp_forget(struct green__poller *p, int fd, struct green__fd *r)
{
    struct pollset *ps = p->impl;
    (void)fd;
    if (r->backend.poll_pos == 0)
        return;
    struct pollfd last = ps->pfd[--ps->n];
    if ((size_t)r->backend.poll_pos != ps->n + 1) {
        ps->pfd[r->backend.poll_pos - 1] = last;
        p->fds[last.fd].backend.poll_pos = r->backend.poll_pos;
    }
    r->backend.poll_pos = 0;
}

static int pp_set(struct green__poller *p, int fd, struct green__fd *r, int events)
{
    struct pollset *ps = p->impl;
    if (r->backend.poll_pos == 0) {
        /* A waiter per fd at the most has been reserved, so there is room. */
        if (ps->n == ps->cap && pp_reserve(p, ps->n + 1) < 0)
            return -ENOMEM;
        ps->pfd[ps->n++] = (struct pollfd){.fd = fd, .events = to_poll(events)};
        r->backend.poll_pos = (int)ps->n;
    } else if (events == 0) {
        pp_forget(p, fd, r);
    } else {
        ps->pfd[r->backend.poll_pos - 1].events = to_poll(events);
    }
    return 0;
}

static int pp_wait(struct green__poller *p, int timeout_ms)
{
    struct pollset *ps = p->impl;
    int n = poll(ps->pfd, ps->n, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    /* Walk down from the end: a wake-up may remove the entry being looked
     * at, which moves an already visited entry into its place. */
    int reported = 0;
    for (size_t i = ps->n; i-- > 0 && reported < n;) {
        if (i >= ps->n || !ps->pfd[i].revents)
            continue;
        struct pollfd pfd = ps->pfd[i];
        ps->pfd[i].revents = 0;
        reported++;
        green__poller_ready(p, pfd.fd, from_poll(pfd.revents));
    }
    return reported;
}

#ifdef GREEN_HAVE_EPOLL
/* For a host loop: poll(2) leaves no fd to watch, so an epoll set holds
 * the same fds, each armed for one event and armed again each time the
 * host is to wait: a system call per fd, the fallback backend's price.
 * An fd no longer watched here fires at most once more, for nothing.
 * Failing to arm one is the host's to know: it cannot trust the fd. */
static int pp_host_fd(struct green__poller *p)
{
    struct pollset *ps = p->impl;
    if (ps->host < 0 && (ps->host = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        ps->host = -1;
        return -errno;
    }
    for (size_t i = 0; i < ps->n; i++) {
        int fd = ps->pfd[i].fd;
        short ev = ps->pfd[i].events;
        struct epoll_event e = {
            .events = (ev & POLLIN ? EPOLLIN : 0u) | (ev & POLLOUT ? EPOLLOUT : 0u) | EPOLLONESHOT,
            .data.fd = fd,
        };
        if (epoll_ctl(ps->host, EPOLL_CTL_MOD, fd, &e) == 0)
            continue;
        /* EPERM: a regular file, EBADF: closed; poll just reported either,
         * and woke its waiters. */
        if (errno != ENOENT || (epoll_ctl(ps->host, EPOLL_CTL_ADD, fd, &e) < 0 &&
                                errno != EPERM && errno != EBADF))
            return -errno;
    }
    return ps->host;
}
#endif

const struct green__poller_ops green__poller_poll = {
    .name = "poll",
    .edge_triggered = false,
    .init = pp_init,
    .fini = pp_fini,
    .reserve = pp_reserve,
    .set = pp_set,
    .forget = pp_forget,
    .check = NULL,  /* nothing is held between waits: poll sees every file afresh */
    .wait = pp_wait,
#ifdef GREEN_HAVE_EPOLL
    .host_fd = pp_host_fd,
#endif
};
