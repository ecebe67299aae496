/*
 * The blocking-looking I/O calls: their POSIX meaning.
 *
 * A read is one successful call; a write, a writev and a sendmsg write
 * everything, as a blocking call would; MSG_WAITALL reads until it has
 * all; connect waits for the connection and says how it ended.  Each
 * single call is described once (call.h) and made by the engine
 * (engine.h), which parks the thread when the call would block.  Outside
 * green_run every call is the plain POSIX call.
 *
 * Inside, functions return -errno; the public calls convert once.
 *
 * This file's read, write, readv, writev, recv, send, recvfrom, sendto,
 * recvmsg, sendmsg, connect and close go through the routed-call table,
 * around libgreen-hook (routed.h).
 */
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "engine.h"
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

static unsigned gen_of(struct green__sched *s, int fd)
{
    return green__fd_gen(&s->poller, fd);
}

/* Reading: one successful call is enough, as with POSIX. */

ssize_t green_read(int fd, void *buf, size_t n)
{
    struct green__sched *s = green__cur;
    if (!s)
        return read(fd, buf, n);
    struct green__call c = {.kind = GREEN__READ, .fd = fd, .buf = buf, .n = n,
                            .gen = gen_of(s, fd)};
    return result(green__engine_call(s, &c));
}

ssize_t green_readv(int fd, const struct iovec *iov, int iovcnt)
{
    struct green__sched *s = green__cur;
    if (!s)
        return readv(fd, iov, iovcnt);
    struct green__call c = {.kind = GREEN__READV, .fd = fd, .iov = iov, .iovcnt = iovcnt,
                            .gen = gen_of(s, fd)};
    return result(green__engine_call(s, &c));
}

/* MSG_WAITALL: on a non-blocking call the kernel ignores it; keep reading
 * until n bytes, end of file or an error, as it would. */
static ssize_t recv_all(struct green__sched *s, struct green__call *o)
{
    size_t got = 0, n = o->n;
    char *buf = o->buf;
    while (got < n) {
        o->buf = buf + got;
        o->n = n - got;
        ssize_t r = green__engine_call(s, o);
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
    struct green__call o = {.kind = GREEN__RECVFROM, .fd = fd, .flags = flags, .buf = buf, .n = n,
                            .addr = addr, .addrlen = addrlen, .gen = gen_of(s, fd)};
    return result(flags & MSG_WAITALL ? recv_all(s, &o) : green__engine_call(s, &o));
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

static ssize_t out_all(struct green__sched *s, struct green__call *o)
{
    size_t done = 0, n = o->n;
    const char *buf = o->buf;
    do {
        o->buf = (void *)(buf + done);
        o->n = n - done;
        ssize_t r = green__engine_call(s, o);
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
    struct green__call c = {.kind = GREEN__WRITE, .fd = fd, .buf = (void *)buf, .n = n,
                            .gen = gen_of(s, fd)};
    return result(out_all(s, &c));
}

ssize_t green_sendto(int fd, const void *buf, size_t n, int flags,
                     const struct sockaddr *addr, socklen_t addrlen)
{
    struct green__sched *s = green__cur;
    if (!s)
        return sendto(fd, buf, n, flags, addr, addrlen);
    if (flags & MSG_DONTWAIT)
        return sendto(fd, buf, n, flags | GREEN__NOSIGNAL, addr, addrlen);
    struct green__call o = {.kind = GREEN__SENDTO, .fd = fd, .flags = flags, .buf = (void *)buf,
                            .n = n, .to = addr, .tolen = addrlen, .gen = gen_of(s, fd)};
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
        struct green__call c = {.kind = GREEN__WRITEV, .fd = fd, .iov = iov + i,
                                .iovcnt = iovcnt - i, .gen = gen};
        ssize_t r = green__engine_call(s, &c);
        if (r < 0)
            return partial(done, r);
        done += (size_t)r;
        iov_advance(iov, iovcnt, (size_t)r, &i, &off);
        if (i < iovcnt && off > 0) {
            /* Finish the element writev stopped inside, then go on. */
            size_t rest = iov[i].iov_len - off;
            struct green__call w = {.kind = GREEN__WRITE, .fd = fd,
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
    struct green__call c = {.kind = GREEN__RECVMSG, .fd = fd, .flags = flags, .msg = msg,
                            .gen = gen_of(s, fd)};
    return result(green__engine_call(s, &c));
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
        struct green__call w = {.kind = GREEN__WRITE, .fd = fd,
                                .buf = (char *)iov[i].iov_base + off, .n = rest, .gen = gen};
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
        return sendmsg(fd, msg, flags | GREEN__NOSIGNAL);
    if (!msg)
        return green__fail(EINVAL);
    struct green__call o = {.kind = GREEN__SENDMSG, .fd = fd, .flags = flags,
                            .msg = (struct msghdr *)msg, .gen = gen_of(s, fd)};
    ssize_t r = green__engine_call(s, &o);
    if (r < 0)
        return result(r);
    /* msg_iovlen is a size_t in glibc, an int in musl (as POSIX has it). */
    size_t total = 0;
    for (size_t i = 0; i < (size_t)msg->msg_iovlen; i++)
        total += msg->msg_iov[i].iov_len;
    return (size_t)r < total ? result(sendmsg_rest(s, fd, msg, (size_t)r, o.gen)) : r;
}

/* Connections. */

int green_accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    struct green__sched *s = green__cur;
    if (!s)
        return accept(fd, addr, addrlen);
    struct green__call c = {.kind = GREEN__ACCEPT, .fd = fd, .addr = addr, .addrlen = addrlen,
                            .gen = gen_of(s, fd)};
    return (int)result(green__engine_call(s, &c));
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
    struct green__call c = {.kind = GREEN__CONNECT, .fd = fd, .to = addr, .tolen = addrlen,
                            .gen = gen_of(s, fd)};
    int r = (int)green__engine_call(s, &c);
    return r == -EINPROGRESS ? connect_wait(s, fd) : r;
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
    green__budget_take(s);
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
    if (s && s->cores && fd >= 0)
        green__shared_fds_forget(s, fd);
    if (s)
        (void)green__poller_forget(&s->poller, fd);
    return close(fd);
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
    return on_table(fd, green__file_adopt);
}

int green_fd_release(int fd)
{
    struct green__sched *s = green__cur;
    if (s && s->cores && fd >= 0)
        green__shared_fds_forget(s, fd);
    return on_table(fd, green__file_release);
}
