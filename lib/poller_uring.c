/*
 * The io_uring backend, Linux 5.11 and later: the policy over the ring
 * (ring.h).
 *
 * It does two things.  As a poller it watches fds for green_wait and the
 * scheduler's inbox with one-shot poll operations: level-triggered, like
 * poll(2), armed when the waiters' interest changes and again after each
 * report while waiters remain.  And it makes the I/O calls themselves
 * (start): the engine hands it a call (call.h), which goes into the
 * submission queue with the address of the parked thread's wait as its
 * tag; the completion wakes the thread with the result.  Nothing is
 * submitted until the scheduler waits: then one io_uring_enter submits
 * everything the threads queued since the last one and reaps the
 * completions.
 *
 * Where io_uring cannot be had (not in this build's headers, no such
 * system call, a seccomp filter or kernel.io_uring_disabled saying EPERM,
 * a kernel too old for what this file uses), init fails and the generic
 * part falls back to epoll.
 *
 * This file's fcntl and poll go through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "green.h"
#include "poller.h"
#include "ring.h"

#ifdef GREEN_HAVE_URING
#include "sanitizer.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* Flags newer than some headers; the values are the kernel's ABI. */
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

enum {
    SQ_ENTRIES = 256,      /* submissions queued between two enters */
    CQ_ENTRIES = 4096,     /* completions; the kernel keeps any overflow */
    MAX_RW = 0x7ffff000,   /* the most one read or write moves (Linux's) */
};

/* What this file needs of the kernel: one mapping for both rings (5.4),
 * no completion ever dropped (5.5), reads and writes at the file position
 * (5.6), and a timeout given to io_uring_enter (5.11). */
#define NEEDED (IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP | IORING_FEAT_RW_CUR_POS | \
                IORING_FEAT_EXT_ARG)

/* Tags: a call's is the address of its wait (never odd, never 0); a poll's
 * is odd, and holds the fd and the serial it was armed with; a cancel's is
 * 0, and its completion is of no interest. */
static uint64_t poll_tag(int fd, unsigned serial)
{
    return (uint64_t)serial << 32 | (uint64_t)fd << 1 | 1;
}

struct uring {
    struct green__ring ring;
    unsigned serial;               /* the last poll's serial */
    bool poll_to_wait;             /* under Valgrind or a host loop:
                                      see ur_init and ur_wait */
};

/* Sets the ring up with the flags that spare it work (completions run
 * only when this thread enters, which it does anyway), or without them on
 * a kernel that does not know them, or under Valgrind (see ur_wait). */
static int setup(struct uring *u, struct green__poller *p)
{
    const unsigned fast = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                          IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    struct io_uring_params par;
    int err = -EINVAL;
    for (int i = u->poll_to_wait; i < 2 && err == -EINVAL; i++) {
        memset(&par, 0, sizeof par);
        par.flags = IORING_SETUP_CQSIZE | (i == 0 ? fast : 0);
        par.cq_entries = CQ_ENTRIES;
        err = green__ring_setup(&u->ring, SQ_ENTRIES, &par, &p->enters);
    }
    if (err == 0 && (par.features & NEEDED) != NEEDED) {
        green__ring_exit(&u->ring);
        err = -ENOSYS;
    }
    return err;
}

static int ur_init(struct green__poller *p)
{
    struct uring *u = calloc(1, sizeof *u);
    if (!u)
        return -ENOMEM;
    /* A host loop polls the ring's fd, which deferred completions would
     * leave quiet until this thread entered the ring. */
    u->poll_to_wait = green__vg_running() || p->hosted;
    int err = setup(u, p);
    if (err < 0) {
        free(u);
        return err;
    }
    p->impl = u;
    return 0;
}

/* Closing the ring cancels whatever is in flight; only polls and cancels
 * can be, since every call's thread waits for its completion. */
static void ur_fini(struct green__poller *p)
{
    struct uring *u = p->impl;
    if (!u)
        return;
    green__ring_exit(&u->ring);
    free(u);
    p->impl = NULL;
}

static int ur_reserve(struct green__poller *p, size_t n)
{
    (void)p, (void)n;  /* a full submission queue is submitted early */
    return 0;
}

/* Asks the kernel to cancel the operation tagged tag. */
static void cancel(struct uring *u, uint64_t tag, uint8_t opcode)
{
    struct io_uring_sqe *e = green__ring_get_sqe(&u->ring);
    if (e)  /* else the operation ends by itself, or at its thread's close */
        green__ring_prep_cancel(e, tag, opcode);
}

/* Polls. */

static uint32_t to_poll(int events)
{
    return (events & GREEN_IN ? POLLIN | POLLRDHUP : 0) | (events & GREEN_OUT ? POLLOUT : 0);
}

static int from_poll(int res)
{
    if (res < 0)
        return res == -EBADF ? GREEN__NVAL : GREEN__ERR;
    return (res & (POLLIN | POLLPRI | POLLRDHUP) ? GREEN_IN : 0) |
           (res & POLLOUT ? GREEN_OUT : 0) |
           (res & (POLLERR | POLLHUP) ? GREEN__ERR : 0) |
           (res & POLLNVAL ? GREEN__NVAL : 0);
}

static void disarm(struct uring *u, int fd, struct green__fd *r)
{
    if (r->backend.uring.registered)
        cancel(u, poll_tag(fd, r->backend.uring.serial), IORING_OP_POLL_REMOVE);
    r->backend.uring.registered = 0;
    r->backend.uring.serial = 0;  /* its completion, if it comes, is stale */
}

static int arm(struct uring *u, int fd, struct green__fd *r, int events)
{
    disarm(u, fd, r);
    struct io_uring_sqe *e = green__ring_get_sqe(&u->ring);
    if (!e)
        return -ENOMEM;
    u->serial = u->serial % UINT32_MAX + 1;  /* 1 to UINT32_MAX: 0 is no poll's */
    green__ring_prep_poll(e, fd, to_poll(events), poll_tag(fd, u->serial));
    r->backend.uring.registered = events;
    r->backend.uring.serial = u->serial;
    return 0;
}

static int ur_set(struct green__poller *p, int fd, struct green__fd *r, int events)
{
    if (events == r->backend.uring.registered)
        return 0;
    if (events == 0) {
        disarm(p->impl, fd, r);
        return 0;
    }
    return arm(p->impl, fd, r, events);
}

static void ur_forget(struct green__poller *p, int fd, struct green__fd *r)
{
    disarm(p->impl, fd, r);
}

/* A poll holds its file open, so one armed on a file that other code
 * closed would wait for ever: when the number is closed, say so; when it
 * is open, arm afresh, on whatever file it is now. */
static int ur_check(struct green__poller *p, int fd, struct green__fd *r)
{
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
        return -EBADF;
    if (r->backend.uring.registered)
        (void)arm(p->impl, fd, r, r->backend.uring.registered);
    return 0;
}

/* A poll completed: report it, and arm again for the waiters it left. */
static void polled(struct green__poller *p, uint64_t tag, int res)
{
    int fd = (int)((uint32_t)tag >> 1);
    if ((size_t)fd >= p->nfds || p->fds[fd].backend.uring.serial != (unsigned)(tag >> 32))
        return;  /* disarmed since */
    struct green__fd *r = &p->fds[fd];
    r->backend.uring.registered = 0;
    r->backend.uring.serial = 0;
    if (res != -ECANCELED)
        green__poller_ready(p, fd, from_poll(res));
    if (r->events && !r->backend.uring.registered)
        (void)arm(p->impl, fd, r, r->events);
}

/* Calls. */

/* The opcode of c's call: a socket's read and write are recv and send,
 * and its writev a message (which, unlike writev, can refuse to raise
 * SIGPIPE); recvfrom and sendto are messages too. */
static uint8_t opcode_of(const struct green__call *c)
{
    switch (c->kind) {
    case GREEN__READ: return c->plain ? IORING_OP_READ : IORING_OP_RECV;
    case GREEN__WRITE: return c->plain ? IORING_OP_WRITE : IORING_OP_SEND;
    case GREEN__READV: return IORING_OP_READV;
    case GREEN__WRITEV: return c->plain ? IORING_OP_WRITEV : IORING_OP_SENDMSG;
    case GREEN__RECVFROM: case GREEN__RECVMSG: return IORING_OP_RECVMSG;
    case GREEN__SENDTO: case GREEN__SENDMSG: return IORING_OP_SENDMSG;
    case GREEN__ACCEPT: return IORING_OP_ACCEPT;
    case GREEN__CONNECT: break;
    }
    return IORING_OP_CONNECT;
}

/* The message c's call is made with: its own, or one built in room for
 * recvfrom, sendto and a socket's writev. */
static struct msghdr *message(struct green__call *c, struct green__call_room *room)
{
    if (c->kind == GREEN__RECVMSG || c->kind == GREEN__SENDMSG)
        return c->msg;
    struct msghdr *m = &room->msg;
    *m = (struct msghdr){.msg_iov = (struct iovec *)c->iov, .msg_iovlen = (size_t)c->iovcnt};
    if (c->kind == GREEN__WRITEV)
        return m;
    if (c->kind == GREEN__SENDTO)
        m->msg_name = (void *)c->to, m->msg_namelen = c->tolen;
    else if (c->addr && c->addrlen)
        m->msg_name = c->addr, m->msg_namelen = *c->addrlen;
    room->one = (struct iovec){c->buf, c->n};
    m->msg_iov = &room->one;
    m->msg_iovlen = 1;
    return m;
}

/* A read or write of bytes or of a vector: at the file position (offset
 * -1) or at c's offset; recv and send have no offset (the field is their
 * addr2, which must be 0), and send must not raise SIGPIPE. */
static void prep_bytes(struct io_uring_sqe *e, struct green__call *c, uint8_t op, uint64_t tag)
{
    bool vector = op == IORING_OP_READV || op == IORING_OP_WRITEV;
    size_t n = vector ? (size_t)c->iovcnt : c->n < MAX_RW ? c->n : MAX_RW;
    const void *addr = vector ? (const void *)c->iov : c->buf;
    bool sock = op == IORING_OP_RECV || op == IORING_OP_SEND;
    uint64_t off = sock ? 0 : c->at ? (uint64_t)c->offset : (uint64_t)-1;
    green__ring_prep_rw(e, op, c->fd, addr, (uint32_t)n, off, tag);
    if (op == IORING_OP_SEND)
        e->msg_flags = MSG_NOSIGNAL;
}

static void prep_call(struct io_uring_sqe *e, struct green__call *c, void *token)
{
    uint64_t tag = (uint64_t)(uintptr_t)token;
    uint8_t op = opcode_of(c);
    switch (op) {
    case IORING_OP_RECVMSG: case IORING_OP_SENDMSG:
        /* MSG_WAITALL is the caller's to keep; writes never raise SIGPIPE. */
        green__ring_prep_rw(e, op, c->fd, message(c, green__poller_room(token)), 1, 0, tag);
        e->msg_flags = (uint32_t)((c->flags & ~MSG_WAITALL) |
                                  (op == IORING_OP_SENDMSG ? MSG_NOSIGNAL : 0));
        break;
    case IORING_OP_ACCEPT:
        green__ring_prep_rw(e, op, c->fd, c->addr, 0, (uint64_t)(uintptr_t)c->addrlen, tag);
        e->accept_flags = SOCK_NONBLOCK;
        break;
    case IORING_OP_CONNECT:
        green__ring_prep_rw(e, op, c->fd, c->to, 0, c->tolen, tag);  /* off: the length */
        break;
    default:
        prep_bytes(e, c, op, tag);
        break;
    }
}

static int ur_start(struct green__poller *p, struct green__call *c, void *token)
{
    struct uring *u = p->impl;
    struct io_uring_sqe *e = green__ring_get_sqe(&u->ring);
    if (!e)
        return -ENOMEM;  /* the queue is full and the kernel takes nothing */
    uint64_t tag = (uint64_t)(uintptr_t)token;
    int err = green__fault_errno(GREEN__FAULT_io_uring_op);
    if (err)
        green__ring_prep_nop_result(e, -err, tag);  /* a test's failure, in place of the call */
    else
        prep_call(e, c, token);
    return 0;
}

/* Submitted at once, with whatever is queued before it: a stop often
 * comes just before a close (green_close wakes the fd's callers), and a
 * call still queued when the number is closed and reused would be made on
 * the new file. */
static void ur_stop(struct green__poller *p, void *token)
{
    struct uring *u = p->impl;
    cancel(u, (uint64_t)(uintptr_t)token, IORING_OP_ASYNC_CANCEL);
    (void)green__ring_submit(&u->ring);
}

/* Completions. */

/* Under Valgrind: what the kernel wrote for a completed call, which
 * memcheck did not see, is defined now.  make valgrind runs it; coverage,
 * which runs without Valgrind, cannot. */
/* GCOVR_EXCL_START */
static void iov_defined(const struct iovec *iov, size_t n, size_t bytes)
{
    for (size_t i = 0; i < n && bytes > 0; i++) {
        size_t k = iov[i].iov_len < bytes ? iov[i].iov_len : bytes;
        green__vg_defined(iov[i].iov_base, k);
        bytes -= k;
    }
}

static void msg_defined(const struct msghdr *m, size_t bytes)
{
    iov_defined(m->msg_iov, m->msg_iovlen, bytes);
    green__vg_defined(m, sizeof *m);
    if (m->msg_name)
        green__vg_defined(m->msg_name, m->msg_namelen);
    if (m->msg_control)
        green__vg_defined(m->msg_control, m->msg_controllen);
}

static void call_wrote(const struct green__call *c, const struct green__call_room *room, int res)
{
    switch (c->kind) {
    case GREEN__READ:
        green__vg_defined(c->buf, (size_t)res);
        break;
    case GREEN__READV:
        iov_defined(c->iov, (size_t)c->iovcnt, (size_t)res);
        break;
    case GREEN__RECVFROM:
        msg_defined(&room->msg, (size_t)res);
        break;
    case GREEN__RECVMSG:
        msg_defined(c->msg, (size_t)res);
        break;
    case GREEN__ACCEPT:
        if (c->addrlen) {
            green__vg_defined(c->addrlen, sizeof(socklen_t));
            green__vg_defined(c->addr, *c->addrlen);
        }
        break;
    default:
        break;
    }
}
/* GCOVR_EXCL_STOP */

/* A call completed with res: what it read is the caller's, recvfrom's
 * address length comes out of the message, and its thread wakes. */
static void completed(struct green__poller *p, void *token, int res)
{
    struct green__call *c = green__poller_call(token);
    if (res >= 0 && green__vg_running())
        call_wrote(c, green__poller_room(token), res);  /* GCOVR_EXCL_LINE: under Valgrind */
    if (res >= 0 && c->kind == GREEN__RECVFROM && c->addr && c->addrlen)
        *c->addrlen = green__poller_room(token)->msg.msg_namelen;
    green__poller_done(p, token, res);
}

static void reaped(void *arg, uint64_t tag, int res)
{
    if (tag & 1)
        polled(arg, tag, res);
    else if (tag != 0)  /* 0: a cancel's */
        completed(arg, (void *)(uintptr_t)tag, res);
}

static int reap(struct green__poller *p)
{
    struct uring *u = p->impl;
    return green__ring_for_each_cqe(&u->ring, reaped, p);
}

/* Whether an enter's failure is no failure: ETIME, the timeout passed;
 * EINTR, a signal; EBUSY or EAGAIN, the kernel holds completions back
 * until these are reaped. */
static bool passing(int err)
{
    return err == -ETIME || err == -EINTR || err == -EBUSY || err == -EAGAIN;
}

/* Valgrind holds its lock through an io_uring_enter that blocks (it does
 * not know the call may), so no other OS thread could run to wake this
 * one: there the ring, set up without deferred completions, is waited for
 * with poll(2), and entered only to submit and reap.  make valgrind runs
 * it; coverage, which runs without Valgrind, cannot. */
/* GCOVR_EXCL_START */
static int wait_by_poll(struct green__poller *p, int timeout_ms)
{
    struct uring *u = p->impl;
    int r = green__ring_submit(&u->ring);
    int n = reap(p);
    if (n > 0 || r < 0)
        return r < 0 && !passing(r) ? r : n;
    struct pollfd pfd = {u->ring.fd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
        return -errno;
    (void)green__ring_submit(&u->ring);
    return reap(p);
}
/* GCOVR_EXCL_STOP */

static int ur_wait(struct green__poller *p, int timeout_ms)
{
    struct uring *u = p->impl;
    if (u->poll_to_wait && timeout_ms != 0)
        return wait_by_poll(p, timeout_ms);  /* GCOVR_EXCL_LINE: under Valgrind */
    int r = green__ring_submit_and_wait(&u->ring, timeout_ms != 0, timeout_ms);
    if (r < 0 && !passing(r))
        return r;
    return reap(p);
}

/* The ring's fd, which polls readable when a completion waits; what was
 * queued is submitted first, so that the completions can come. */
static int ur_host_fd(struct green__poller *p)
{
    struct uring *u = p->impl;
    (void)green__ring_submit(&u->ring);
    return u->ring.fd;
}

const struct green__poller_ops green__poller_uring = {
    .name = "uring",
    .edge_triggered = false,
    .init = ur_init,
    .fini = ur_fini,
    .reserve = ur_reserve,
    .set = ur_set,
    .forget = ur_forget,
    .check = ur_check,
    .wait = ur_wait,
    .start = ur_start,
    .stop = ur_stop,
    .host_fd = ur_host_fd,
};

#else  /* no io_uring in this build's headers */

static int no_ring(struct green__poller *p)
{
    (void)p;
    return -ENOSYS;
}

const struct green__poller_ops green__poller_uring = {.name = "uring", .init = no_ring};

#endif
