/*
 * The blocking-looking I/O calls.
 *
 * Each makes its system call without blocking and parks only when that
 * would block (EAGAIN), until the poller reports the fd ready; then it
 * tries again.  The poller says how to call without blocking
 * (green__fd_path): on a socket, the socket call with MSG_DONTWAIT, which
 * needs no flag on the file and so cannot be fooled by a number that was
 * closed and reused behind libgreen's back; on anything else, the plain
 * call on an fd made non-blocking.  Under a backend that makes the calls
 * itself (uring), each call is handed to it instead, and the thread parks
 * until it completes (green__fd_call): no fd is made non-blocking, and a
 * regular file's read parks too; only a terminal's calls wait for
 * readiness there as well (ring_once says why).  Outside green_run every
 * call is the plain POSIX call.
 *
 * Inside, functions return -errno; the public calls convert once.
 *
 * This file's read, write, readv, writev, recv, send, recvfrom, sendto,
 * recvmsg, sendmsg, accept4, connect, fcntl and close go through the
 * routed-call table, around libgreen-hook (routed.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

static ssize_t result(ssize_t r)
{
    return r < 0 ? green__fail((int)-r) : r;
}

/* A call cut short by err after done bytes: the count, with errno saying
 * why, or err itself if nothing was done. */
static ssize_t partial(size_t done, ssize_t err)
{
    if (!done)
        return err;
    errno = (int)-err;
    return (ssize_t)done;
}

/* One I/O call, whichever of the ten it is; the reading kinds first. */
enum kind { READ, READV, RECVFROM, RECVMSG, WRITE, WRITEV, SENDTO, SENDMSG };

struct io {
    enum kind kind;
    int fd;
    int flags;                    /* recvfrom's and sendto's */
    void *buf;
    size_t n;
    const struct iovec *iov;
    int iovcnt;
    struct sockaddr *addr;        /* recvfrom's */
    socklen_t *addrlen;
    const struct sockaddr *to;    /* sendto's */
    socklen_t tolen;
    struct msghdr *msg;           /* recvmsg's and sendmsg's */
    /* The fd's generation when the public call began: a call that goes on
     * after a part (a write's rest) must not go on into a file that took
     * the number after a close or release. */
    unsigned gen;
};

static unsigned gen_of(struct green__sched *s, int fd)
{
    return green__fd_gen(&s->poller, fd);
}

static int events_of(const struct io *o)
{
    return o->kind < WRITE ? GREEN_IN : GREEN_OUT;
}

static ssize_t plain(const struct io *o);

/* The call as a socket call that never blocks.  A vector of a bad length
 * goes to readv or writev, to fail with their EINVAL. */
static ssize_t on_socket(const struct io *o)
{
    const int in = MSG_DONTWAIT, out = MSG_DONTWAIT | MSG_NOSIGNAL;
    struct msghdr m = {.msg_iov = (struct iovec *)o->iov, .msg_iovlen = (size_t)o->iovcnt};
    bool bad_count = o->iovcnt < 0 || o->iovcnt > IOV_MAX;
    switch (o->kind) {
    case READ: return recv(o->fd, o->buf, o->n, in);
    case READV: return bad_count ? plain(o) : recvmsg(o->fd, &m, in);
    case RECVFROM: return recvfrom(o->fd, o->buf, o->n, o->flags | in, o->addr, o->addrlen);
    case RECVMSG: return recvmsg(o->fd, o->msg, o->flags | in);
    case WRITE: return send(o->fd, o->buf, o->n, out);
    case WRITEV: return bad_count ? plain(o) : sendmsg(o->fd, &m, out);
    case SENDMSG: return sendmsg(o->fd, o->msg, o->flags | out);
    case SENDTO: break;
    }
    return sendto(o->fd, o->buf, o->n, o->flags | out, o->to, o->tolen);
}

/* The call itself, on an fd made non-blocking. */
static ssize_t plain(const struct io *o)
{
    switch (o->kind) {
    case READ: return read(o->fd, o->buf, o->n);
    case READV: return readv(o->fd, o->iov, o->iovcnt);
    case RECVFROM: return recvfrom(o->fd, o->buf, o->n, o->flags, o->addr, o->addrlen);
    case RECVMSG: return recvmsg(o->fd, o->msg, o->flags);
    case WRITE: return write(o->fd, o->buf, o->n);
    case WRITEV: return writev(o->fd, o->iov, o->iovcnt);
    case SENDMSG: return sendmsg(o->fd, o->msg, o->flags | MSG_NOSIGNAL);
    case SENDTO: break;
    }
    return sendto(o->fd, o->buf, o->n, o->flags | MSG_NOSIGNAL, o->to, o->tolen);
}

/* After a call failed with err: 0 to try it again (it was interrupted, or
 * it would have blocked and fd is now ready), or the -errno to give up
 * with (the call's own, ETIMEDOUT, ECANCELED, EBADF). */
static int retry(struct green__sched *s, int fd, int events, int err)
{
    if (err == EINTR)
        return 0;
    if (err != EAGAIN && err != EWOULDBLOCK)
        return -err;
    int r = green__fd_wait(s, fd, events, false);
    return r < 0 ? r : 0;
}

/* Whether a read of o's is one whose short count says the socket has no
 * more queued: a plain read or recv, not a peek, a vector or a message. */
static bool counted_read(const struct io *o)
{
    return o->kind == READ || (o->kind == RECVFROM && o->flags == 0);
}

/* The backend's call for o.  m and one are room for the message that
 * recvfrom, sendto and a socket's writev need. */
static struct green__call call_of(const struct io *o, bool sock, struct msghdr *m,
                                  struct iovec *one)
{
    static const enum green__call_kind on_sock[] = {
        [READ] = GREEN__CALL_RECV, [READV] = GREEN__CALL_READV,
        [RECVFROM] = GREEN__CALL_RECVMSG, [RECVMSG] = GREEN__CALL_RECVMSG,
        [WRITE] = GREEN__CALL_SEND, [WRITEV] = GREEN__CALL_SENDMSG,
        [SENDTO] = GREEN__CALL_SENDMSG, [SENDMSG] = GREEN__CALL_SENDMSG,
    };
    static const enum green__call_kind plain_kind[] = {
        [READ] = GREEN__CALL_READ, [READV] = GREEN__CALL_READV,
        [RECVFROM] = GREEN__CALL_RECVMSG, [RECVMSG] = GREEN__CALL_RECVMSG,
        [WRITE] = GREEN__CALL_WRITE, [WRITEV] = GREEN__CALL_WRITEV,
        [SENDTO] = GREEN__CALL_SENDMSG, [SENDMSG] = GREEN__CALL_SENDMSG,
    };
    /* MSG_WAITALL is recv_all's to keep; writes never raise SIGPIPE. */
    int flags = (o->flags & ~MSG_WAITALL) | (o->kind >= WRITE ? MSG_NOSIGNAL : 0);
    struct green__call c = {.kind = sock ? on_sock[o->kind] : plain_kind[o->kind],
                            .flags = flags, .ptr = o->buf, .n = o->n};
    *m = (struct msghdr){.msg_iov = (struct iovec *)o->iov, .msg_iovlen = (size_t)o->iovcnt};
    switch (o->kind) {
    case READV: case WRITEV:
        if (c.kind == GREEN__CALL_SENDMSG)
            c.ptr = m;
        else
            c.ptr = (void *)o->iov, c.n = (size_t)o->iovcnt;
        break;
    case RECVFROM: case SENDTO:
        *one = (struct iovec){o->buf, o->n};
        m->msg_iov = one;
        m->msg_iovlen = 1;
        if (o->kind == SENDTO)
            m->msg_name = (void *)o->to, m->msg_namelen = o->tolen;
        else if (o->addr && o->addrlen)
            m->msg_name = o->addr, m->msg_namelen = *o->addrlen;
        c.ptr = m;
        break;
    case RECVMSG: case SENDMSG:
        c.ptr = o->msg;
        break;
    default:
        break;
    }
    return c;
}

static ssize_t ready_once(struct green__sched *s, const struct io *o);

/* A socket call on fd said ENOTSOCK: so it is the plain call from now on,
 * and a terminal's is made by readiness (see ring_once).  errno is left
 * as it was. */
static void learn_notsock(struct green__poller *p, int fd)
{
    struct green__fd *r = green__poller_fd(p, fd);
    if (!r)
        return;
    int saved = errno;
    r->notsock = true;
    r->tty = isatty(fd);
    errno = saved;
}

/* once, under a backend that makes the calls: an EAGAIN it gives back (an
 * fd another program made non-blocking, on an older kernel) is waited
 * out as the poll path would.  A terminal's calls take the poll path
 * itself: the kernel makes a ring's write to a tty in the thread that
 * submits it, and a full tty blocks that OS thread (Linux 6.18). */
static ssize_t ring_once(struct green__sched *s, const struct io *o)
{
    if (green__cancel_due(s->current))
        return green__cancelled(s);
    if (o->fd < 0)
        return -EBADF;
    if ((o->kind == READV || o->kind == WRITEV) && (o->iovcnt < 0 || o->iovcnt > IOV_MAX))
        return -EINVAL;
    struct green__poller *p = &s->poller;
    for (;;) {
        /* Closed or released since the public call began: the number may
         * be another file by now. */
        if (green__fd_gen(p, o->fd) != o->gen)
            return -EBADF;
        if ((size_t)o->fd < p->nfds && p->fds[o->fd].tty)
            return ready_once(s, o);
        bool sock = !((size_t)o->fd < p->nfds && p->fds[o->fd].notsock);
        struct msghdr m;
        struct iovec one;
        struct green__call c = call_of(o, sock, &m, &one);
        ssize_t r = green__fd_call(s, o->fd, &c);
        if (r == -ENOTSOCK && sock) {
            learn_notsock(p, o->fd);
            continue;
        }
        if (r == -EINTR)
            continue;
        if (r == -EAGAIN) {
            int err = green__fd_wait(s, o->fd, events_of(o), true);
            if (err < 0)
                return err;
            continue;
        }
        if (r >= 0 && o->kind == RECVFROM && o->addrlen && o->addr)
            *o->addrlen = m.msg_namelen;
        return r;
    }
}

/* Whether o is a read of no bytes: read(2) and readv(2) return 0 for one
 * at once, but recv(2) and the ring's recv wait for data first. */
static bool reads_nothing(const struct io *o)
{
    if (o->kind == READ)
        return o->n == 0;
    if (o->kind != READV || o->iovcnt < 0 || o->iovcnt > IOV_MAX)
        return false;
    for (int i = 0; i < o->iovcnt; i++)
        if (o->iov[i].iov_len)
            return false;
    return true;
}

/* A read of no bytes, made as readv(2) of an empty vector: Linux returns
 * 0 for one before it asks the file (a read(2) of 0 bytes from a blocking
 * inotify fd would block), and EBADF for an fd not open for reading. */
static ssize_t read_nothing(struct green__sched *s, const struct io *o)
{
    if (green__cancel_due(s->current))
        return green__cancelled(s);
    struct iovec none = {o->buf, 0};
    ssize_t r = readv(o->fd, &none, 1);
    return r < 0 ? -errno : r;
}

/* Makes o's call until it succeeds once or fails for good: its result or
 * -errno.  A socket call on something that is not a socket learns it
 * (ENOTSOCK) and goes on with the plain call. */
static ssize_t once(struct green__sched *s, const struct io *o)
{
    if (reads_nothing(o))
        return read_nothing(s, o);
    if (s->poller.ops->start)
        return ring_once(s, o);
    return ready_once(s, o);
}

/* once, by readiness: the call without blocking, and a wait for the fd
 * when it would block. */
static ssize_t ready_once(struct green__sched *s, const struct io *o)
{
    int path = green__fd_path(s, o->fd, false);
    /* The last read of this TCP socket came back short, with no edge
     * since: this one would say EAGAIN, so wait first and spare it. */
    if (path == GREEN__PATH_SOCKET && counted_read(o) && green__fd_drained(&s->poller, o->fd)) {
        int err = retry(s, o->fd, GREEN_IN, EAGAIN);
        if (err < 0 && err != -ETIMEDOUT)
            return err;  /* past the deadline the read is still made: data that came counts */
    }
    for (;;) {
        if (path < 0)
            return path;
        ssize_t r = path == GREEN__PATH_SOCKET ? on_socket(o) : plain(o);
        if (r >= 0) {
            if ((size_t)r < o->n && r > 0 && counted_read(o))
                green__fd_short_read(&s->poller, o->fd);
            return r;
        }
        int err = errno;
        if (err == ENOTSOCK && path == GREEN__PATH_SOCKET) {
            path = green__fd_notsock(s, o->fd);
            continue;
        }
        if ((err = retry(s, o->fd, events_of(o), err)) < 0)
            return err;
    }
}

/* Reading: one successful call is enough, as with POSIX. */

ssize_t green_read(int fd, void *buf, size_t n)
{
    struct green__sched *s = green__cur;
    if (!s)
        return read(fd, buf, n);
    return result(once(s, &(struct io){.kind = READ, .fd = fd, .buf = buf, .n = n,
                                       .gen = gen_of(s, fd)}));
}

ssize_t green_readv(int fd, const struct iovec *iov, int iovcnt)
{
    struct green__sched *s = green__cur;
    if (!s)
        return readv(fd, iov, iovcnt);
    struct io o = {.kind = READV, .fd = fd, .iov = iov, .iovcnt = iovcnt, .gen = gen_of(s, fd)};
    return result(once(s, &o));
}

/* MSG_WAITALL: on a non-blocking call the kernel ignores it; keep reading
 * until n bytes, end of file or an error, as it would. */
static ssize_t recv_all(struct green__sched *s, struct io *o)
{
    size_t got = 0, n = o->n;
    char *buf = o->buf;
    while (got < n) {
        o->buf = buf + got;
        o->n = n - got;
        ssize_t r = once(s, o);
        if (r < 0)
            return partial(got, r);
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t green_recvfrom(int fd, void *buf, size_t n, int flags,
                       struct sockaddr *addr, socklen_t *addrlen)
{
    struct green__sched *s = green__cur;
    if (!s || (flags & MSG_DONTWAIT))
        return recvfrom(fd, buf, n, flags, addr, addrlen);
    struct io o = {.kind = RECVFROM, .fd = fd, .flags = flags, .buf = buf, .n = n,
                   .addr = addr, .addrlen = addrlen, .gen = gen_of(s, fd)};
    return result(flags & MSG_WAITALL ? recv_all(s, &o) : once(s, &o));
}

ssize_t green_recv(int fd, void *buf, size_t n, int flags)
{
    if (!green__cur)
        return recv(fd, buf, n, flags);
    return green_recvfrom(fd, buf, n, flags, NULL, NULL);
}

/* Writing: everything is written before the call returns, as a blocking
 * write would, unless an error, the deadline or cancellation stops it:
 * then the count written so far, or -errno if nothing was. */

static ssize_t out_all(struct green__sched *s, struct io *o)
{
    size_t done = 0, n = o->n;
    const char *buf = o->buf;
    do {
        o->buf = (void *)(buf + done);
        o->n = n - done;
        ssize_t r = once(s, o);
        if (r < 0)
            return partial(done, r);
        done += (size_t)r;
    } while (done < n);
    return (ssize_t)done;
}

ssize_t green_write(int fd, const void *buf, size_t n)
{
    struct green__sched *s = green__cur;
    if (!s)
        return write(fd, buf, n);
    return result(out_all(s, &(struct io){.kind = WRITE, .fd = fd, .buf = (void *)buf, .n = n,
                                          .gen = gen_of(s, fd)}));
}

ssize_t green_sendto(int fd, const void *buf, size_t n, int flags,
                     const struct sockaddr *addr, socklen_t addrlen)
{
    struct green__sched *s = green__cur;
    if (!s)
        return sendto(fd, buf, n, flags, addr, addrlen);
    if (flags & MSG_DONTWAIT)
        return sendto(fd, buf, n, flags | MSG_NOSIGNAL, addr, addrlen);
    struct io o = {.kind = SENDTO, .fd = fd, .flags = flags, .buf = (void *)buf, .n = n,
                   .to = addr, .tolen = addrlen, .gen = gen_of(s, fd)};
    return result(out_all(s, &o));
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

static ssize_t writev_all(struct green__sched *s, int fd, const struct iovec *iov, int iovcnt,
                          unsigned gen)
{
    size_t done = 0, off = 0;
    int i = 0;
    do {
        struct io o = {.kind = WRITEV, .fd = fd, .iov = iov + i, .iovcnt = iovcnt - i, .gen = gen};
        ssize_t r = once(s, &o);
        if (r < 0)
            return partial(done, r);
        done += (size_t)r;
        iov_advance(iov, iovcnt, (size_t)r, &i, &off);
        if (i < iovcnt && off > 0) {
            /* Finish the element writev stopped inside, then go on. */
            size_t rest = iov[i].iov_len - off;
            struct io w = {.kind = WRITE, .fd = fd,
                           .buf = (char *)iov[i].iov_base + off, .n = rest, .gen = gen};
            ssize_t k = out_all(s, &w);
            if (k < 0)
                return partial(done, k);
            done += (size_t)k;
            if (k < (ssize_t)rest)
                return (ssize_t)done;  /* errno says why, from out_all */
            i++;
        } else if (r == 0 && i < iovcnt) {
            break;  /* the fd takes nothing more: report what it took */
        }
    } while (i < iovcnt);
    return (ssize_t)done;
}

ssize_t green_writev(int fd, const struct iovec *iov, int iovcnt)
{
    struct green__sched *s = green__cur;
    if (!s)
        return writev(fd, iov, iovcnt);
    return result(writev_all(s, fd, iov, iovcnt, gen_of(s, fd)));
}

/* Messages: recvmsg makes one successful call, as recvfrom does; sendmsg
 * sends everything, as a blocking sendmsg would.  The ancillary data goes
 * with the first bytes; on a stream socket that took only part, the rest
 * follows without it. */

ssize_t green_recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct green__sched *s = green__cur;
    if (!s || (flags & MSG_DONTWAIT))
        return recvmsg(fd, msg, flags);
    if (!msg)
        return green__fail(EINVAL);
    return result(once(s, &(struct io){.kind = RECVMSG, .fd = fd, .flags = flags, .msg = msg,
                                       .gen = gen_of(s, fd)}));
}

static ssize_t sendmsg_rest(struct green__sched *s, int fd, const struct msghdr *msg, size_t r,
                            unsigned gen)
{
    const struct iovec *iov = msg->msg_iov;
    int i = 0, n = (int)msg->msg_iovlen;
    size_t off, done = r;
    iov_advance(iov, n, r, &i, &off);
    if (i < n && off) {
        size_t rest = iov[i].iov_len - off;
        struct io w = {.kind = WRITE, .fd = fd, .buf = (char *)iov[i].iov_base + off, .n = rest,
                       .gen = gen};
        ssize_t k = out_all(s, &w);
        if (k < 0)
            return partial(done, k);
        done += (size_t)k;
        if (k < (ssize_t)rest)
            return (ssize_t)done;
        i++;
    }
    if (i == n)
        return (ssize_t)done;
    ssize_t k = writev_all(s, fd, iov + i, n - i, gen);
    return k < 0 ? partial(done, k) : (ssize_t)(done + (size_t)k);
}

ssize_t green_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct green__sched *s = green__cur;
    if (!s)
        return sendmsg(fd, msg, flags);
    if (flags & MSG_DONTWAIT)
        return sendmsg(fd, msg, flags | MSG_NOSIGNAL);
    if (!msg)
        return green__fail(EINVAL);
    struct io o = {.kind = SENDMSG, .fd = fd, .flags = flags, .msg = (struct msghdr *)msg,
                   .gen = gen_of(s, fd)};
    ssize_t r = once(s, &o);
    if (r < 0)
        return result(r);
    size_t total = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        total += msg->msg_iov[i].iov_len;
    return (size_t)r < total ? result(sendmsg_rest(s, fd, msg, (size_t)r, o.gen)) : r;
}

/* Connections: accept and connect have no per-call flag, so the socket
 * itself is made non-blocking. */

/* A call of accept or connect, under a backend that makes the calls:
 * its result or -errno, an EAGAIN waited out as once's are. */
static int ring_call(struct green__sched *s, int fd, const struct green__call *c)
{
    if (green__cancel_due(s->current))
        return green__cancelled(s);
    if (fd < 0)
        return -EBADF;
    unsigned gen = green__fd_gen(&s->poller, fd);
    for (;;) {
        if (green__fd_gen(&s->poller, fd) != gen)
            return -EBADF;  /* closed or released between two tries */
        ssize_t r = green__fd_call(s, fd, c);
        if (r != -EAGAIN && r != -EINTR)
            return (int)r;
        int events = c->kind == GREEN__CALL_ACCEPT ? GREEN_IN : GREEN_OUT;
        int err = r == -EINTR ? 0 : green__fd_wait(s, fd, events, true);
        if (err < 0)
            return err;
    }
}

/* The accepted socket is libgreen's, and TCP if its listener is. */
static int accepted(struct green__sched *s, int fd, int c)
{
    green__poller_fresh(&s->poller, c);
    if (green__poller_is_tcp(&s->poller, fd))
        green__poller_tcp(&s->poller, c);
    return c;
}

static int accept_one(struct green__sched *s, int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    if (s->poller.ops->start) {
        struct green__call c = {.kind = GREEN__CALL_ACCEPT, .flags = SOCK_NONBLOCK,
                                .ptr = addr, .addrlen = addrlen};
        int r = ring_call(s, fd, &c);
        return r < 0 ? r : accepted(s, fd, r);
    }
    int path = green__fd_path(s, fd, true);
    if (path < 0)
        return path;
    /* The new socket is made non-blocking at once: it will be used with
     * green calls, and this saves the first of them two fcntl calls. */
    for (;;) {
        int c = accept4(fd, addr, addrlen, SOCK_NONBLOCK);
        if (c >= 0)
            return accepted(s, fd, c);
        int err = retry(s, fd, GREEN_IN, errno);
        if (err < 0)
            return err;
    }
}

int green_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    struct green__sched *s = green__cur;
    if (!s)
        return accept(fd, addr, addrlen);
    return (int)result(accept_one(s, fd, addr, addrlen));
}

/* A TCP connect goes on in the background: wait, then ask how it ended. */
static int connect_wait(struct green__sched *s, int fd)
{
    int r = green__fd_wait(s, fd, GREEN_OUT, false);
    if (r < 0)
        return r;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
    return -err;
}

static int connect_one(struct green__sched *s, int fd, const struct sockaddr *addr,
                       socklen_t addrlen)
{
    if (s->poller.ops->start) {
        if (!addr && fd >= 0 && !green__cancel_due(s->current))
            return -EINVAL;
        struct green__call c = {.kind = GREEN__CALL_CONNECT, .ptr = (void *)addr, .n = addrlen};
        return ring_call(s, fd, &c);
    }
    int path = green__fd_path(s, fd, true);
    if (path < 0)
        return path;
    if (!addr)  /* Linux says EINVAL too, but an emulator may say EFAULT */
        return -EINVAL;
    /* A Unix socket whose listener's backlog is full says EAGAIN and must
     * be asked again. */
    while (connect(fd, addr, addrlen) < 0) {
        int err = errno;
        if (err == EINPROGRESS || err == EINTR)
            return connect_wait(s, fd);
        if (err != EAGAIN)
            return -err;
        if ((err = retry(s, fd, GREEN_OUT, err)) < 0)
            return err;
    }
    return 0;
}

int green_connect(int fd, const struct sockaddr *addr, socklen_t addrlen)
{
    struct green__sched *s = green__cur;
    if (!s)
        return connect(fd, addr, addrlen);
    return (int)result(connect_one(s, fd, addr, addrlen));
}

/* Waiting for readiness, for libraries that do their own I/O. */

static int wait_fd(struct green__sched *s, int fd, int events)
{
    if (!events || (events & ~(GREEN_IN | GREEN_OUT)))
        return -EINVAL;
    if (fd < 0)
        return -EBADF;
    if (!s)
        return green__poll_one(fd, events, -1);
    green_t *self = s->current;
    if (green__cancel_due(self))
        return green__cancelled(s);
    /* Past the deadline, a ready fd still counts: look without parking. */
    if (self->deadline >= 0 && self->deadline <= green_now()) {
        int r = green__poll_one(fd, events, 0);
        return r == 0 ? -ETIMEDOUT : r;
    }
    int r = green__fd_wait(s, fd, events, true);
    return r < 0 ? r : green__ready_events(r, events);
}

int green_wait(int fd, int events)
{
    return (int)result(wait_fd(green__cur, fd, events));
}

/* The fd's life: see docs/api.md, "Who owns an fd". */

int green_close(int fd)
{
    struct green__sched *s = green__cur;
    if (s)
        (void)green__poller_forget(&s->poller, fd);
    return close(fd);
}

/* Gives the fd back as libgreen found it: blocking again, if libgreen
 * made it non-blocking. */
static int release(struct green__poller *p, int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -errno;
    bool restore = (size_t)fd < p->nfds && p->fds[fd].set_nonblock;
    if (restore && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
        return -errno;  /* nothing forgotten: a second release can restore it */
    (void)green__poller_forget(p, fd);
    return 0;
}

/* Adoption and release: fn on this scheduler's table. */
static int on_table(int fd, int (*fn)(struct green__poller *p, int fd))
{
    struct green__sched *s = green__cur;
    if (!s)
        return green__fail(EPERM);
    if (fd < 0)
        return green__fail(EBADF);
    int err = fn(&s->poller, fd);
    return err < 0 ? green__fail(-err) : 0;
}

int green_fd_adopt(int fd)
{
    return on_table(fd, green__poller_adopt);
}

int green_fd_release(int fd)
{
    return on_table(fd, release);
}
