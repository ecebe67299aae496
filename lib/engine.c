/*
 * The I/O engine's entry and its readiness path (engine.h).
 *
 * By readiness, a call is made without blocking and parks only when it
 * would block (EAGAIN), until the poller reports the fd ready; then it is
 * made again.  On a socket it is the socket call with MSG_DONTWAIT, which
 * needs no flag on the file and so cannot be fooled by a number that was
 * closed and reused behind libgreen's back; on anything else (and for
 * accept and connect, which have no such flag) it is the plain call on an
 * fd made non-blocking.
 *
 * This file's read, write, readv, writev, recv, send, recvfrom, sendto,
 * recvmsg, sendmsg, accept4 (accept and fcntl in the POSIX build) and
 * connect go through the routed-call table, around libgreen-hook
 * (routed.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "engine.h"
#include "fd_flags.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* How the readiness path reaches the file. */
enum path { SOCKET, PLAIN };

/* The entry. */

/* Whether c is a read of no bytes: read(2) and readv(2) return 0 for one
 * at once, but recv(2) and the ring's recv wait for data first. */
static bool reads_nothing(const struct green__call *c)
{
    if (c->kind == GREEN__READ)
        return c->n == 0;
    if (c->kind != GREEN__READV || c->iovcnt < 0 || c->iovcnt > IOV_MAX ||
        (!c->iov && c->iovcnt > 0))
        return false;  /* the call itself says EINVAL or EFAULT */
    for (int i = 0; i < c->iovcnt; i++)
        if (c->iov[i].iov_len)
            return false;
    return true;
}

/* A read of no bytes, made as readv(2) of an empty vector: Linux returns
 * 0 for one before it asks the file (a read(2) of 0 bytes from a blocking
 * inotify fd would block), and EBADF for an fd not open for reading. */
static ssize_t read_nothing(const struct green__call *c)
{
    struct iovec none = {c->buf, 0};
    ssize_t r = readv(c->fd, &none, 1);
    return r < 0 ? -errno : r;
}

#ifndef GREEN_POSIX_ONLY
/* Whether the ring makes c: under a backend that makes calls, for every
 * file but a terminal (engine_ring.c says why). */
static bool by_ring(struct green__sched *s, const struct green__call *c)
{
    const struct green__fd *r = green__poller_has(&s->poller, c->fd);
    return s->poller.ops->start && !(r && r->file.tty);
}

/* c made by the path chosen for it.  Inlined as early as the test it
 * replaced was, so that the hot path compiles as it did before. */
static inline __attribute__((always_inline)) ssize_t by_path(struct green__sched *s,
                                                             struct green__call *c)
{
    return by_ring(s, c) ? green__engine_ring(s, c) : green__engine_ready(s, c);
}
#else
/* The POSIX build has no backend that makes calls (nor engine_ring.c):
 * every call is made by readiness. */
static ssize_t by_path(struct green__sched *s, struct green__call *c)
{
    return green__engine_ready(s, c);
}
#endif

/* An accepted socket is libgreen's, and TCP if its listener is. */
static int accepted(struct green__sched *s, int listener, int fd)
{
    const struct green__fd *l = green__poller_has(&s->poller, listener);
    green__file_fresh(&s->poller, fd, l && l->file.tcp);
    return fd;
}

ssize_t green__engine_call(struct green__sched *s, struct green__call *c)
{
    if (green__cancel_due(s->current))
        return green__cancelled(s);
    green__budget_take(s);
    if (c->fd < 0)
        return -EBADF;
    /* Closed or released since the public call began: the number may be
     * another file by now. */
    if (green__fd_gen(&s->poller, c->fd) != c->gen)
        return -EBADF;
    if (reads_nothing(c))
        return read_nothing(c);
    ssize_t r = by_path(s, c);
    return r >= 0 && c->kind == GREEN__ACCEPT ? accepted(s, c->fd, (int)r) : r;
}

/* By readiness. */

static ssize_t plain(const struct green__call *c);

/* c as a socket call that never blocks.  A vector of a bad length goes
 * to readv or writev, to fail with their EINVAL. */
static ssize_t on_socket(const struct green__call *c)
{
    const int in = MSG_DONTWAIT, out = MSG_DONTWAIT | GREEN__NOSIGNAL;
    struct msghdr m = {.msg_iov = (struct iovec *)c->iov, .msg_iovlen = (size_t)c->iovcnt};
    bool bad_count = c->iovcnt < 0 || c->iovcnt > IOV_MAX;
    switch (c->kind) {
    case GREEN__READ: return recv(c->fd, c->buf, c->n, in);
    case GREEN__READV: return bad_count ? plain(c) : recvmsg(c->fd, &m, in);
    case GREEN__RECVFROM: return recvfrom(c->fd, c->buf, c->n, c->flags | in, c->addr, c->addrlen);
    case GREEN__RECVMSG: return recvmsg(c->fd, c->msg, c->flags | in);
    case GREEN__WRITE: return send(c->fd, c->buf, c->n, out);
    case GREEN__WRITEV: return bad_count ? plain(c) : sendmsg(c->fd, &m, out);
    case GREEN__SENDMSG: return sendmsg(c->fd, c->msg, c->flags | out);
    case GREEN__ACCEPT: case GREEN__CONNECT: return plain(c);  /* no socket call: see path_of */
    case GREEN__SENDTO: break;
    }
    return sendto(c->fd, c->buf, c->n, c->flags | out, c->to, c->tolen);
}

/* c's accept, the new socket non-blocking: it will be used with green
 * calls, and this spares the first of them two fcntl calls.  Linux does
 * it in the call; POSIX (before 2024) in another, after it. */
#ifndef GREEN_POSIX_ONLY
static int accept_nonblocking(const struct green__call *c)
{
    return accept4(c->fd, c->addr, c->addrlen, SOCK_NONBLOCK);
}
#else
static int accept_nonblocking(const struct green__call *c)
{
    return green__fd_flag(accept(c->fd, c->addr, c->addrlen), 0, O_NONBLOCK);
}
#endif

/* c itself, on an fd made non-blocking. */
static ssize_t plain(const struct green__call *c)
{
    switch (c->kind) {
    case GREEN__READ: return read(c->fd, c->buf, c->n);
    case GREEN__READV: return readv(c->fd, c->iov, c->iovcnt);
    case GREEN__RECVFROM: return recvfrom(c->fd, c->buf, c->n, c->flags, c->addr, c->addrlen);
    case GREEN__RECVMSG: return recvmsg(c->fd, c->msg, c->flags);
    case GREEN__WRITE: return write(c->fd, c->buf, c->n);
    case GREEN__WRITEV: return writev(c->fd, c->iov, c->iovcnt);
    case GREEN__SENDMSG: return sendmsg(c->fd, c->msg, c->flags | GREEN__NOSIGNAL);
    case GREEN__ACCEPT: return accept_nonblocking(c);
    case GREEN__CONNECT: return connect(c->fd, c->to, c->tolen);
    case GREEN__SENDTO: break;
    }
    return sendto(c->fd, c->buf, c->n, c->flags | GREEN__NOSIGNAL, c->to, c->tolen);
}

/* The plain path for fd, its file made non-blocking: PLAIN, or -errno. */
static int plain_path(struct green__sched *s, int fd)
{
    int err = green__file_nonblock(&s->poller, fd);
    return err < 0 ? err : PLAIN;
}

/* c's path (enum path), or -errno; the fd is libgreen's from now on,
 * watched between waits (without a record, only while waited on). */
static int path_of(struct green__sched *s, const struct green__call *c)
{
    struct green__fd *r = green__poller_fd(&s->poller, c->fd);
    if (r)
        green__fd_own(&s->poller, r);
    if (c->kind < GREEN__ACCEPT && !(r && r->file.notsock))
        return SOCKET;
    return plain_path(s, c->fd);
}

/* After c failed with err: 0 to make it again (it was interrupted, or
 * it would have blocked and the fd is now ready), or the -errno to give
 * up with (the call's own, ETIMEDOUT, ECANCELED, EBADF). */
static int retry(struct green__sched *s, int fd, int events, int err)
{
    if (err == EINTR)
        return 0;
    if (err != EAGAIN && err != EWOULDBLOCK)
        return -err;
    int r = green__fd_wait(s, fd, events, false);
    return r < 0 ? r : 0;
}

/* Whether c is a read whose short count says the socket has no more
 * queued: a plain read or recv, not a peek, a vector or a message. */
static bool counted_read(const struct green__call *c)
{
    return c->kind == GREEN__READ || (c->kind == GREEN__RECVFROM && c->flags == 0);
}

/* The last read of this TCP socket came back short, with no edge since:
 * the next would say EAGAIN, so wait first and spare it.  Past the
 * deadline the read is still made: data that came counts. */
static int wait_if_drained(struct green__sched *s, const struct green__call *c)
{
    const struct green__fd *r = green__poller_has(&s->poller, c->fd);
    if (!counted_read(c) || !r || !r->file.drained)
        return 0;
    int err = retry(s, c->fd, GREEN_IN, EAGAIN);
    return err == -ETIMEDOUT ? 0 : err;
}

/* A read of n bytes came back with fewer: on a TCP socket the next would
 * say EAGAIN until an edge. */
static void note_short(struct green__sched *s, const struct green__call *c, ssize_t got)
{
    struct green__fd *r = green__poller_has(&s->poller, c->fd);
    if (got > 0 && (size_t)got < c->n && counted_read(c) && r && r->file.tcp)
        r->file.drained = true;
}

ssize_t green__engine_ready(struct green__sched *s, struct green__call *c)
{
    int path = path_of(s, c);
    if (path >= 0 && c->kind == GREEN__CONNECT && !c->to)
        return -EINVAL;  /* Linux says so too, but an emulator may say EFAULT */
    int err = path == SOCKET ? wait_if_drained(s, c) : 0;
    if (err < 0)
        return err;
    for (;;) {
        if (path < 0)
            return path;
        ssize_t r = path == SOCKET ? on_socket(c) : plain(c);
        if (r >= 0) {
            note_short(s, c, r);
            return r;
        }
        err = errno;
        if (err == ENOTSOCK && path == SOCKET) {
            green__file_notsock(&s->poller, c->fd);
            path = plain_path(s, c->fd);
            continue;
        }
        if (c->kind == GREEN__CONNECT && (err == EINPROGRESS || err == EINTR))
            return -EINPROGRESS;  /* it goes on in the background */
        if ((err = retry(s, c->fd, green__call_events(c), err)) < 0)
            return err;
    }
}
