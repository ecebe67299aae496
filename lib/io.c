/*
 * The blocking-looking I/O calls.
 *
 * Each tries the system call first and parks only when it would block
 * (EAGAIN), until the poller reports the fd ready; then it tries again.
 * For that the fd must be non-blocking: the first green call on an fd
 * sets O_NONBLOCK and the fd's record remembers it, so later calls make
 * no extra system call.  Outside green_run every call is the plain POSIX
 * call.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "sched.h"

static void fd_unlink(green_t *t)
{
    green__poller_unwatch(&t->sched->poller, &t->w.fd);
}

static void fd_describe(const green_t *t, char *buf, size_t n)
{
    int ev = t->w.fd.events;
    snprintf(buf, n, "fd %d %s", t->w.fd.fd,
             ev == (GREEN_IN | GREEN_OUT) ? "read+write" : ev == GREEN_IN ? "read" : "write");
}

static const struct green__waitop fd_op = {fd_unlink, fd_describe, false};

/* Parks until fd is ready for events.  Returns what the poller reported
 * (GREEN_IN, GREEN_OUT, GREEN__ERR bits) or -errno. */
static int fd_wait(struct green__sched *s, int fd, int events)
{
    green_t *self = s->current;
    self->w.fd.fd = fd;
    self->w.fd.events = events;
    int err = green__poller_watch(&s->poller, &self->w.fd);
    if (err < 0)
        return err;
    if (err == 1)
        return self->w.fd.revents;  /* ready already: no need to park */
    err = green__park(s, &fd_op, self->deadline, ETIMEDOUT);
    return err < 0 ? err : self->w.fd.revents;
}

static void remember_nonblock(struct green__sched *s, int fd)
{
    /* Only a cache: if the table cannot grow, the next call asks again. */
    struct green__fd *r = green__poller_fd(&s->poller, fd);
    if (r)
        r->nonblock = 1;
}

/* Whether a green call on fd may go ahead: the caller is not cancelled,
 * and fd is made non-blocking.  0, or -1 with errno set. */
static int io_enter(struct green__sched *s, int fd)
{
    if (s->current->cancelled)
        return green__fail(ECANCELED);
    if (fd < 0)
        return green__fail(EBADF);
    if ((size_t)fd < s->poller.nfds && s->poller.fds[fd].nonblock)
        return 0;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    remember_nonblock(s, fd);
    return 0;
}

/* After a call on fd failed: true to try it again (it was interrupted, or
 * it would have blocked and fd is now ready), false to give up with errno
 * saying why (the call's own error, ETIMEDOUT, ECANCELED or EBADF). */
static bool io_retry(struct green__sched *s, int fd, int events)
{
    if (errno == EINTR)
        return true;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        return false;
    int r = fd_wait(s, fd, events);
    if (r < 0) {
        errno = -r;
        return false;
    }
    return true;
}

/* Reading: one successful call is enough, as with POSIX. */

ssize_t green_read(int fd, void *buf, size_t n)
{
    struct green__sched *s = green__cur;
    ssize_t r;
    if (!s)
        return read(fd, buf, n);
    if (io_enter(s, fd) < 0)
        return -1;
    while ((r = read(fd, buf, n)) < 0 && io_retry(s, fd, GREEN_IN))
        ;
    return r;
}

ssize_t green_readv(int fd, const struct iovec *iov, int iovcnt)
{
    struct green__sched *s = green__cur;
    ssize_t r;
    if (!s)
        return readv(fd, iov, iovcnt);
    if (io_enter(s, fd) < 0)
        return -1;
    while ((r = readv(fd, iov, iovcnt)) < 0 && io_retry(s, fd, GREEN_IN))
        ;
    return r;
}

static ssize_t recv_once(struct green__sched *s, int fd, void *buf, size_t n,
                         int flags, struct sockaddr *addr, socklen_t *addrlen)
{
    ssize_t r;
    while ((r = recvfrom(fd, buf, n, flags, addr, addrlen)) < 0 &&
           io_retry(s, fd, GREEN_IN))
        ;
    return r;
}

ssize_t green_recvfrom(int fd, void *buf, size_t n, int flags,
                       struct sockaddr *addr, socklen_t *addrlen)
{
    struct green__sched *s = green__cur;
    if (!s || (flags & MSG_DONTWAIT))
        return recvfrom(fd, buf, n, flags, addr, addrlen);
    if (io_enter(s, fd) < 0)
        return -1;
    if (!(flags & MSG_WAITALL))
        return recv_once(s, fd, buf, n, flags, addr, addrlen);
    /* On a non-blocking socket the kernel ignores MSG_WAITALL; keep
     * reading until n bytes, end of file or an error, as it would. */
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv_once(s, fd, (char *)buf + got, n - got, flags, addr, addrlen);
        if (r < 0)
            return got ? (ssize_t)got : -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t green_recv(int fd, void *buf, size_t n, int flags)
{
    if (!green__cur)
        return recv(fd, buf, n, flags);
    return green_recvfrom(fd, buf, n, flags, NULL, NULL);
}

/* Writing: everything is written before the call returns, as a blocking
 * write would, unless an error, the deadline or cancellation stops it:
 * then the count written so far, or -1 if nothing was. */

struct out {
    int fd;
    bool sock;                     /* sendto rather than write */
    int flags;
    const struct sockaddr *addr;
    socklen_t addrlen;
};

static ssize_t out_all(struct green__sched *s, const struct out *o,
                       const char *buf, size_t n)
{
    size_t done = 0;
    do {
        ssize_t r = o->sock ? sendto(o->fd, buf + done, n - done, o->flags | MSG_NOSIGNAL,
                                     o->addr, o->addrlen)
                            : write(o->fd, buf + done, n - done);
        if (r >= 0)
            done += (size_t)r;
        else if (!io_retry(s, o->fd, GREEN_OUT))
            return done ? (ssize_t)done : -1;
    } while (done < n);
    return (ssize_t)done;
}

ssize_t green_write(int fd, const void *buf, size_t n)
{
    struct green__sched *s = green__cur;
    if (!s)
        return write(fd, buf, n);
    if (io_enter(s, fd) < 0)
        return -1;
    return out_all(s, &(struct out){.fd = fd}, buf, n);
}

ssize_t green_sendto(int fd, const void *buf, size_t n, int flags,
                     const struct sockaddr *addr, socklen_t addrlen)
{
    struct green__sched *s = green__cur;
    if (!s)
        return sendto(fd, buf, n, flags, addr, addrlen);
    if (flags & MSG_DONTWAIT)
        return sendto(fd, buf, n, flags | MSG_NOSIGNAL, addr, addrlen);
    if (io_enter(s, fd) < 0)
        return -1;
    struct out o = {fd, true, flags, addr, addrlen};
    return out_all(s, &o, buf, n);
}

ssize_t green_send(int fd, const void *buf, size_t n, int flags)
{
    if (!green__cur)
        return send(fd, buf, n, flags);
    return green_sendto(fd, buf, n, flags, NULL, 0);
}

/* Skips the r bytes writev wrote: *i becomes the first element not
 * written in full, *off the bytes of it that were. */
static void iov_advance(const struct iovec *iov, int iovcnt, size_t r, int *i, size_t *off)
{
    while (*i < iovcnt && r >= iov[*i].iov_len) {
        r -= iov[*i].iov_len;
        (*i)++;
    }
    *off = r;
}

ssize_t green_writev(int fd, const struct iovec *iov, int iovcnt)
{
    struct green__sched *s = green__cur;
    if (!s)
        return writev(fd, iov, iovcnt);
    if (io_enter(s, fd) < 0)
        return -1;
    size_t done = 0, off = 0;
    int i = 0;
    do {
        ssize_t r;
        while ((r = writev(fd, iov + i, iovcnt - i)) < 0 && io_retry(s, fd, GREEN_OUT))
            ;
        if (r < 0)
            return done ? (ssize_t)done : -1;
        done += (size_t)r;
        iov_advance(iov, iovcnt, (size_t)r, &i, &off);
        if (i < iovcnt && off > 0) {
            /* Finish the element writev stopped inside, then go on. */
            size_t rest = iov[i].iov_len - off;
            ssize_t w = out_all(s, &(struct out){.fd = fd}, (const char *)iov[i].iov_base + off, rest);
            if (w > 0)
                done += (size_t)w;
            if (w < (ssize_t)rest)
                return done ? (ssize_t)done : -1;
            i++;
        } else if (r == 0 && i < iovcnt) {
            break;  /* the fd takes nothing more: report what it took */
        }
    } while (i < iovcnt);
    return (ssize_t)done;
}

/* Connections. */

int green_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    struct green__sched *s = green__cur;
    int c;
    if (!s)
        return accept(fd, addr, addrlen);
    if (io_enter(s, fd) < 0)
        return -1;
    /* The new socket is made non-blocking at once: it will be used with
     * green calls, and this saves the first of them two fcntl calls. */
    while ((c = accept4(fd, addr, addrlen, SOCK_NONBLOCK)) < 0 &&
           io_retry(s, fd, GREEN_IN))
        ;
    if (c >= 0)
        green__poller_fresh(&s->poller, c);
    return c;
}

int green_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct green__sched *s = green__cur;
    if (!s)
        return connect(fd, addr, addrlen);
    if (io_enter(s, fd) < 0)
        return -1;
    if (!addr)  /* Linux says EINVAL too, but an emulator may say EFAULT */
        return green__fail(EINVAL);
    /* A Unix socket whose listener's backlog is full says EAGAIN and must
     * be asked again; a TCP connect goes on in the background. */
    while (connect(fd, addr, addrlen) < 0) {
        if (errno == EAGAIN) {
            if (!io_retry(s, fd, GREEN_OUT))
                return -1;
            continue;
        }
        if (errno != EINPROGRESS && errno != EINTR)
            return -1;
        int r = fd_wait(s, fd, GREEN_OUT);
        if (r < 0)
            return green__fail(-r);
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            return -1;
        return err ? green__fail(err) : 0;
    }
    return 0;
}

/* Waiting for readiness, for libraries that do their own I/O. */

static int ready_events(int revents, int events)
{
    return revents & GREEN__ERR ? events : revents & events;
}

static int poll_one(int fd, int events, int timeout_ms)
{
    struct pollfd p = {fd, (short)((events & GREEN_IN ? POLLIN : 0) |
                                   (events & GREEN_OUT ? POLLOUT : 0)), 0};
    int r;
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return r;
    if (p.revents & POLLNVAL)
        return green__fail(EBADF);
    int ready = (p.revents & POLLIN ? GREEN_IN : 0) | (p.revents & POLLOUT ? GREEN_OUT : 0) |
                (p.revents & (POLLERR | POLLHUP) ? GREEN__ERR : 0);
    return ready_events(ready, events);
}

int green_wait(int fd, int events)
{
    struct green__sched *s = green__cur;
    if (!events || (events & ~(GREEN_IN | GREEN_OUT)))
        return green__fail(EINVAL);
    if (fd < 0)
        return green__fail(EBADF);
    if (!s)
        return poll_one(fd, events, -1);
    green_t *self = s->current;
    if (self->cancelled)
        return green__fail(ECANCELED);
    /* Past the deadline, a ready fd still counts: look without parking. */
    if (self->deadline >= 0 && self->deadline <= green_now()) {
        int r = poll_one(fd, events, 0);
        return r == 0 ? green__fail(ETIMEDOUT) : r;
    }
    int r = fd_wait(s, fd, events);
    return r < 0 ? green__fail(-r) : ready_events(r, events);
}

int green_close(int fd)
{
    struct green__sched *s = green__cur;
    if (s)
        green__poller_forget(&s->poller, fd);
    return close(fd);
}
