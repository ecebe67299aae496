/*
 * The ring's verbs (ring.h).  Its io_uring_setup and io_uring_enter are
 * fault points in a test build.
 *
 * This file's close goes through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include "ring.h"

#ifdef GREEN_HAVE_URING
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/time_types.h>

#include "fault.h"  /* last: in a test build it turns calls into fault points */

static void *at(void *base, unsigned off)
{
    return (char *)base + off;
}

static int ring_map(struct green__ring *rg, const struct io_uring_params *par)
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

int green__ring_setup(struct green__ring *rg, unsigned entries, struct io_uring_params *par,
                      unsigned long *enters)
{
    memset(rg, 0, sizeof *rg);
    rg->enters = enters;
    int err = green__fault_errno(GREEN__FAULT_io_uring_setup);
    rg->fd = err ? (errno = err, -1) : (int)syscall(SYS_io_uring_setup, entries, par);
    if (rg->fd < 0)
        return -errno;
    err = ring_map(rg, par);
    if (err < 0)
        close(rg->fd);
    return err;
}

void green__ring_exit(struct green__ring *rg)
{
    munmap(rg->sqes, rg->sqes_size);
    munmap(rg->map, rg->map_size);
    close(rg->fd);
}

static unsigned queued(const struct green__ring *rg)
{
    return rg->tail - __atomic_load_n(rg->sq_head, __ATOMIC_ACQUIRE);
}

struct io_uring_sqe *green__ring_get_sqe(struct green__ring *rg)
{
    if (queued(rg) >= rg->sq_entries) {
        (void)green__ring_submit(rg);
        if (queued(rg) >= rg->sq_entries)
            return NULL;
    }
    struct io_uring_sqe *e = &rg->sqes[rg->tail++ & *rg->sq_mask];
    memset(e, 0, sizeof *e);
    return e;
}

int green__ring_submit_and_wait(struct green__ring *rg, bool wait, int timeout_ms)
{
    (*rg->enters)++;
    struct __kernel_timespec ts = {timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000};
    struct io_uring_getevents_arg arg = {
        .ts = wait && timeout_ms >= 0 ? (uint64_t)(uintptr_t)&ts : 0,
    };
    __atomic_store_n(rg->sq_tail, rg->tail, __ATOMIC_RELEASE);  /* the entries, filled */
    int err = green__fault_errno(GREEN__FAULT_io_uring_enter);
    if (err)
        return -err;
    long r = syscall(SYS_io_uring_enter, rg->fd, queued(rg), wait ? 1 : 0,
                     IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
    return r < 0 ? -errno : (int)r;
}

int green__ring_for_each_cqe(struct green__ring *rg, void (*fn)(void *arg, uint64_t tag, int res),
                             void *arg)
{
    unsigned head = *rg->cq_head, n = 0;
    unsigned tail = __atomic_load_n(rg->cq_tail, __ATOMIC_ACQUIRE);
    for (; head != tail; head++, n++) {
        const struct io_uring_cqe *c = &rg->cqes[head & *rg->cq_mask];
        uint64_t tag = c->user_data;
        int res = c->res;
        __atomic_store_n(rg->cq_head, head + 1, __ATOMIC_RELEASE);
        fn(arg, tag, res);
    }
    return (int)n;
}

#endif
