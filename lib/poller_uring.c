/*
 * The io_uring backend, Linux 5.11 and later.
 *
 * It does two things.  As a poller it watches fds for green_wait and the
 * scheduler's inbox with one-shot poll operations: level-triggered, like
 * poll(2), armed when the waiters' interest changes and again after each
 * report while waiters remain.  And it makes the I/O calls themselves
 * (start): io.c hands it a read, a write, an accept or a connect, which
 * goes into the submission queue with the address of the parked thread's
 * wait as its tag; the completion wakes the thread with the result.
 * Nothing is submitted until the scheduler waits: then one io_uring_enter
 * submits everything the threads queued since the last one and reaps the
 * completions.  No fd needs O_NONBLOCK, and a read of a regular file parks
 * its thread while the kernel fetches the pages.
 *
 * The ring is set up with raw system calls (no liburing to link): a
 * submission ring, a completion ring and the submission entries, mapped
 * from the ring's fd.  Where io_uring cannot be had (no such system call,
 * a seccomp filter or kernel.io_uring_disabled saying EPERM, a kernel too
 * old for what this file uses), init fails and the generic part falls
 * back to epoll.
 *
 * This file's fcntl, poll and close go through the routed-call table,
 * around libgreen-hook (routed.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "green.h"
#include "poller.h"
#include "sanitizer.h"

#if __has_include(<linux/io_uring.h>) && defined(SYS_io_uring_setup)
#include <linux/io_uring.h>
#include <linux/time_types.h>
#define HAVE_URING 1
#endif

#include "fault.h"  /* last: in a test build it turns calls into fault points */

#ifdef HAVE_URING

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
enum { TAG_NONE = 0 };

static uint64_t poll_tag(int fd, unsigned serial)
{
    return (uint64_t)serial << 32 | (uint64_t)fd << 1 | 1;
}

struct ring {
    int fd;
    unsigned tail;                 /* the submission tail, ours to move */
    unsigned *sq_head, *sq_tail, *sq_mask, sq_entries;
    struct io_uring_sqe *sqes;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
    void *map;                     /* both rings, one mapping */
    size_t map_size, sqes_size;
    unsigned serial;               /* the last poll's serial */
    unsigned long *enters;         /* the poller's count of enters */
    bool poll_to_wait;             /* under Valgrind: see ur_wait */
};

static void *at(void *base, unsigned off)
{
    return (char *)base + off;
}

/* Sets the ring up with the flags that spare it work (completions run
 * only when this thread enters, which it does anyway), or without them on
 * a kernel that does not know them. */
static int ring_setup(struct io_uring_params *par, bool plain)
{
    const unsigned fast = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
                          IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    for (int i = plain; i < 2; i++) {
        memset(par, 0, sizeof *par);
        par->flags = IORING_SETUP_CQSIZE | (i == 0 ? fast : 0);
        par->cq_entries = CQ_ENTRIES;
        int err = green__fault_errno(GREEN__FAULT_io_uring_setup);
        int fd = err ? (errno = err, -1) : (int)syscall(SYS_io_uring_setup, SQ_ENTRIES, par);
        if (fd >= 0 || errno != EINVAL)
            return fd;
    }
    return -1;
}

static int ring_map(struct ring *rg, const struct io_uring_params *par)
{
    size_t sq = par->sq_off.array + par->sq_entries * sizeof(unsigned);
    size_t cq = par->cq_off.cqes + par->cq_entries * sizeof(struct io_uring_cqe);
    rg->map_size = sq > cq ? sq : cq;
    rg->map = mmap(NULL, rg->map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                   rg->fd, IORING_OFF_SQ_RING);
    if (rg->map == MAP_FAILED)
        return -errno;
    rg->sqes_size = par->sq_entries * sizeof(struct io_uring_sqe);
    rg->sqes = mmap(NULL, rg->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
                    rg->fd, IORING_OFF_SQES);
    if (rg->sqes == MAP_FAILED) {
        int err = -errno;
        munmap(rg->map, rg->map_size);
        return err;
    }
    rg->sq_head = at(rg->map, par->sq_off.head);
    rg->sq_tail = at(rg->map, par->sq_off.tail);
    rg->sq_mask = at(rg->map, par->sq_off.ring_mask);
    rg->sq_entries = par->sq_entries;
    rg->cq_head = at(rg->map, par->cq_off.head);
    rg->cq_tail = at(rg->map, par->cq_off.tail);
    rg->cq_mask = at(rg->map, par->cq_off.ring_mask);
    rg->cqes = at(rg->map, par->cq_off.cqes);
    unsigned *array = at(rg->map, par->sq_off.array);
    for (unsigned i = 0; i < par->sq_entries; i++)
        array[i] = i;  /* entry i sits in slot i, for good */
    rg->tail = *rg->sq_tail;
    return 0;
}

static int ur_init(struct green__poller *p)
{
    struct ring *rg = calloc(1, sizeof *rg);
    if (!rg)
        return -ENOMEM;
    struct io_uring_params par;
    rg->poll_to_wait = green__vg_running();
    rg->fd = ring_setup(&par, rg->poll_to_wait);
    int err = rg->fd < 0 ? -errno : (par.features & NEEDED) != NEEDED ? -ENOSYS : 0;
    if (err == 0)
        err = ring_map(rg, &par);
    if (err < 0) {
        if (rg->fd >= 0)
            close(rg->fd);
        free(rg);
        return err;
    }
    rg->enters = &p->enters;
    p->impl = rg;
    return 0;
}

/* Closing the ring cancels whatever is in flight; only polls and cancels
 * can be, since every call's thread waits for its completion. */
static void ur_fini(struct green__poller *p)
{
    struct ring *rg = p->impl;
    if (!rg)
        return;
    munmap(rg->sqes, rg->sqes_size);
    munmap(rg->map, rg->map_size);
    close(rg->fd);
    free(rg);
    p->impl = NULL;
}

static int ur_reserve(struct green__poller *p, size_t n)
{
    (void)p, (void)n;  /* a full submission queue is submitted early */
    return 0;
}

/* Submits what is queued and, with wait, waits up to timeout_ms (-1: no
 * limit) for one completion.  The number submitted, or -errno. */
static int ring_enter(struct ring *rg, bool wait, int timeout_ms)
{
    (*rg->enters)++;
    unsigned queued = rg->tail - __atomic_load_n(rg->sq_head, __ATOMIC_ACQUIRE);
    struct __kernel_timespec ts = {timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000};
    struct io_uring_getevents_arg arg = {
        .ts = wait && timeout_ms >= 0 ? (uint64_t)(uintptr_t)&ts : 0,
    };
    int err = green__fault_errno(GREEN__FAULT_io_uring_enter);
    if (err)
        return -err;
    long r = syscall(SYS_io_uring_enter, rg->fd, queued, wait ? 1 : 0,
                     IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
    return r < 0 ? -errno : (int)r;
}

/* A zeroed submission entry, submitting the queue first if it is full;
 * NULL when even that cannot make room. */
static struct io_uring_sqe *sqe_get(struct ring *rg)
{
    if (rg->tail - __atomic_load_n(rg->sq_head, __ATOMIC_ACQUIRE) >= rg->sq_entries) {
        (void)ring_enter(rg, false, 0);
        if (rg->tail - __atomic_load_n(rg->sq_head, __ATOMIC_ACQUIRE) >= rg->sq_entries)
            return NULL;
    }
    struct io_uring_sqe *e = &rg->sqes[rg->tail & *rg->sq_mask];
    memset(e, 0, sizeof *e);
    return e;
}

/* Queues the entry sqe_get gave; the next enter submits it. */
static void sqe_push(struct ring *rg)
{
    __atomic_store_n(rg->sq_tail, ++rg->tail, __ATOMIC_RELEASE);
}

/* Asks the kernel to cancel the operation tagged tag. */
static void cancel(struct ring *rg, uint64_t tag, uint8_t opcode)
{
    struct io_uring_sqe *e = sqe_get(rg);
    if (!e)
        return;  /* the operation ends by itself, or at its thread's close */
    e->opcode = opcode;
    e->fd = -1;
    e->addr = tag;
    e->user_data = TAG_NONE;
    sqe_push(rg);
}

/* Polls. */

static unsigned to_poll(int events)
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

static void disarm(struct ring *rg, int fd, struct green__fd *r)
{
    if (r->registered)
        cancel(rg, poll_tag(fd, r->armed), IORING_OP_POLL_REMOVE);
    r->registered = 0;
    r->armed = 0;  /* its completion, if it comes, is stale */
}

static int arm(struct ring *rg, int fd, struct green__fd *r, int events)
{
    disarm(rg, fd, r);
    struct io_uring_sqe *e = sqe_get(rg);
    if (!e)
        return -ENOMEM;
    rg->serial = rg->serial % UINT32_MAX + 1;  /* 1 to UINT32_MAX: 0 is no poll's */
    e->opcode = IORING_OP_POLL_ADD;
    e->fd = fd;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    e->poll32_events = __builtin_bswap32(to_poll(events));
#else
    e->poll32_events = to_poll(events);
#endif
    e->user_data = poll_tag(fd, rg->serial);
    sqe_push(rg);
    r->registered = events;
    r->armed = rg->serial;
    return 0;
}

static int ur_set(struct green__poller *p, int fd, struct green__fd *r, int events)
{
    if (events == r->registered)
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
    if (r->registered)
        (void)arm(p->impl, fd, r, r->registered);
    return 0;
}

/* A poll completed: report it, and arm again for the waiters it left. */
static void polled(struct green__poller *p, uint64_t tag, int res)
{
    int fd = (int)((uint32_t)tag >> 1);
    if ((size_t)fd >= p->nfds || p->fds[fd].armed != (unsigned)(tag >> 32))
        return;  /* disarmed since */
    struct green__fd *r = &p->fds[fd];
    r->registered = 0;
    r->armed = 0;
    if (res != -ECANCELED)
        green__poller_ready(p, fd, from_poll(res));
    if (r->events && !r->registered)
        (void)arm(p->impl, fd, r, r->events);
}

/* Calls. */

static int ur_start(struct green__poller *p, int fd, const struct green__call *c, void *token)
{
    struct ring *rg = p->impl;
    struct io_uring_sqe *e = sqe_get(rg);
    if (!e)
        return -ENOMEM;  /* the queue is full and the kernel takes nothing */
    static const uint8_t opcode[] = {
        [GREEN__CALL_READ] = IORING_OP_READ,       [GREEN__CALL_RECV] = IORING_OP_RECV,
        [GREEN__CALL_READV] = IORING_OP_READV,     [GREEN__CALL_RECVMSG] = IORING_OP_RECVMSG,
        [GREEN__CALL_WRITE] = IORING_OP_WRITE,     [GREEN__CALL_SEND] = IORING_OP_SEND,
        [GREEN__CALL_WRITEV] = IORING_OP_WRITEV,   [GREEN__CALL_SENDMSG] = IORING_OP_SENDMSG,
        [GREEN__CALL_ACCEPT] = IORING_OP_ACCEPT,   [GREEN__CALL_CONNECT] = IORING_OP_CONNECT,
    };
    e->opcode = opcode[c->kind];
    e->fd = fd;
    int err = green__fault_errno(GREEN__FAULT_io_uring_op);
    if (err) {
        /* A test's failure: a no-op that completes with -err (Linux 6.10
         * and later inject the result), in place of the call. */
        *e = (struct io_uring_sqe){.opcode = IORING_OP_NOP, .rw_flags = 1, .len = (uint32_t)-err,
                                   .user_data = (uint64_t)(uintptr_t)token};
        sqe_push(rg);
        return 0;
    }
    e->addr = (uint64_t)(uintptr_t)c->ptr;
    e->len = (uint32_t)(c->n < MAX_RW ? c->n : MAX_RW);
    e->user_data = (uint64_t)(uintptr_t)token;
    switch (c->kind) {
    case GREEN__CALL_READ: case GREEN__CALL_READV:
    case GREEN__CALL_WRITE: case GREEN__CALL_WRITEV:
        e->off = c->at ? (uint64_t)c->offset : (uint64_t)-1;  /* -1: the position */
        break;
    case GREEN__CALL_ACCEPT:
        e->addr2 = (uint64_t)(uintptr_t)c->addrlen;
        e->accept_flags = (uint32_t)c->flags;
        e->len = 0;
        break;
    case GREEN__CALL_CONNECT:
        e->off = c->n;  /* the address's length */
        e->len = 0;
        break;
    default:
        e->msg_flags = (uint32_t)c->flags;
        break;
    }
    sqe_push(rg);
    return 0;
}

/* Submitted at once, with whatever is queued before it: a stop often
 * comes just before a close (green_close wakes the fd's callers), and a
 * call still queued when the number is closed and reused would be made on
 * the new file. */
static void ur_stop(struct green__poller *p, void *token)
{
    struct ring *rg = p->impl;
    cancel(rg, (uint64_t)(uintptr_t)token, IORING_OP_ASYNC_CANCEL);
    (void)ring_enter(rg, false, 0);
}

/* Reaps every completion there is: the number reaped. */
static int reap(struct green__poller *p)
{
    struct ring *rg = p->impl;
    unsigned head = *rg->cq_head, n = 0;
    unsigned tail = __atomic_load_n(rg->cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++, n++) {
        const struct io_uring_cqe *c = &rg->cqes[head & *rg->cq_mask];
        uint64_t tag = c->user_data;
        int res = c->res;
        /* Released before the handling, which may queue submissions
         * (and, with the queue full, enter) but never reaps. */
        __atomic_store_n(rg->cq_head, head + 1, __ATOMIC_RELEASE);
        if (tag & 1)
            polled(p, tag, res);
        else if (tag != TAG_NONE)
            green__poller_done(p, (void *)(uintptr_t)tag, res);
    }
    return (int)n;
}

/* Valgrind holds its lock through an io_uring_enter that blocks (it does
 * not know the call may), so no other OS thread could run to wake this
 * one: there the ring, set up without deferred completions, is waited for
 * with poll(2), and entered only to submit and reap.  make valgrind runs
 * it; coverage, which runs without Valgrind, cannot. */
/* GCOVR_EXCL_START */
static int wait_by_poll(struct green__poller *p, int timeout_ms)
{
    struct ring *rg = p->impl;
    int r = ring_enter(rg, false, 0);
    int n = reap(p);
    if (n > 0 || r < 0)
        return r < 0 && r != -EINTR && r != -EBUSY && r != -EAGAIN ? r : n;
    struct pollfd pfd = {rg->fd, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
        return -errno;
    (void)ring_enter(rg, false, 0);
    return reap(p);
}
/* GCOVR_EXCL_STOP */

static int ur_wait(struct green__poller *p, int timeout_ms)
{
    struct ring *rg = p->impl;
    if (rg->poll_to_wait && timeout_ms != 0)
        return wait_by_poll(p, timeout_ms);  /* GCOVR_EXCL_LINE: under Valgrind */
    int r = ring_enter(rg, timeout_ms != 0, timeout_ms);
    /* ETIME: the timeout passed; EINTR: a signal; EBUSY or EAGAIN: the
     * kernel holds completions back until these are reaped. */
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN)
        return r;
    return reap(p);
}

#else  /* no io_uring in this build's headers */

static int ur_init(struct green__poller *p)
{
    (void)p;
    return -ENOSYS;
}

static void ur_fini(struct green__poller *p) { (void)p; }
static int ur_reserve(struct green__poller *p, size_t n) { (void)p, (void)n; return 0; }
static int ur_set(struct green__poller *p, int fd, struct green__fd *r, int events)
{
    (void)p, (void)fd, (void)r, (void)events;
    return -ENOSYS;
}
static void ur_forget(struct green__poller *p, int fd, struct green__fd *r)
{
    (void)p, (void)fd, (void)r;
}
static int ur_check(struct green__poller *p, int fd, struct green__fd *r)
{
    (void)p, (void)fd, (void)r;
    return 0;
}
static int ur_start(struct green__poller *p, int fd, const struct green__call *c, void *token)
{
    (void)p, (void)fd, (void)c, (void)token;
    return -ENOSYS;
}
static void ur_stop(struct green__poller *p, void *token) { (void)p, (void)token; }
static int ur_wait(struct green__poller *p, int timeout_ms)
{
    (void)p, (void)timeout_ms;
    return -ENOSYS;
}

#endif

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
};
