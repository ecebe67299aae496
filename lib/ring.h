/*
 * An io_uring, set up with raw system calls (no liburing to link), and
 * the few verbs the uring backend (poller_uring.c) needs, shaped like
 * liburing's: set up, get a submission entry, submit (and wait), each
 * completion, and the preparations of the entries it uses.  What to put
 * in the ring and what a completion means are the backend's.
 *
 * Only the poll mask's encoding (green__ring_poll_mask) is compiled where
 * the build has no io_uring: it is tested on every target, big-endian
 * ones included, where the ring itself cannot run (qemu-user has none).
 */
#ifndef GREEN_RING_H
#define GREEN_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* io_uring is in the build on Linux where the headers know it. */
#if defined(__linux__) && __has_include(<linux/io_uring.h>)
#include <sys/syscall.h>
#ifdef SYS_io_uring_setup
#define GREEN_HAVE_URING 1
#endif
#endif

/* A poll(2) mask as an IORING_OP_POLL_ADD entry's poll32_events holds
 * it: the kernel swaps the two 16-bit halves of that field on a
 * big-endian machine (so that the 16-bit poll_events of old still lines
 * up), so it is swapped here too; on a little-endian one it is the mask. */
static inline uint32_t green__ring_poll_mask(uint32_t mask)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return mask << 16 | mask >> 16;
#else
    return mask;
#endif
}

#ifdef GREEN_HAVE_URING
#include <linux/io_uring.h>

struct green__ring {
    int fd;
    unsigned tail;                 /* the submission tail, ours to move and
                                      to publish at the next submit */
    unsigned *sq_head, *sq_tail, *sq_mask, sq_entries;
    struct io_uring_sqe *sqes;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
    void *map;                     /* both rings, one mapping */
    size_t map_size, sqes_size;
    unsigned long *enters;         /* where io_uring_enter calls are
                                      counted (the poller's figure) */
};

/* Sets up a ring of entries submissions as par asks (its flags and
 * cq_entries), and maps it; par is filled with what the kernel gave; its
 * enters are counted in *enters.  0, or -errno with nothing left open. */
int green__ring_setup(struct green__ring *rg, unsigned entries, struct io_uring_params *par,
                      unsigned long *enters);
void green__ring_exit(struct green__ring *rg);

/* A zeroed submission entry, queued for the next submit, submitting the
 * queue first if it is full; NULL when even that cannot make room. */
struct io_uring_sqe *green__ring_get_sqe(struct green__ring *rg);

/* Submits what is queued and, with wait, waits up to timeout_ms (-1: no
 * limit) for a completion.  The number submitted, or -errno. */
int green__ring_submit_and_wait(struct green__ring *rg, bool wait, int timeout_ms);

static inline int green__ring_submit(struct green__ring *rg)
{
    return green__ring_submit_and_wait(rg, false, 0);
}

/* Calls fn for each completion there is, each released before fn runs
 * (fn may queue submissions, and with the queue full submit, but never
 * reaps).  The number of completions. */
int green__ring_for_each_cqe(struct green__ring *rg, void (*fn)(void *arg, uint64_t tag, int res),
                             void *arg);

/* The preparations: each fills an entry from green__ring_get_sqe. */

static inline void green__ring_prep_poll(struct io_uring_sqe *e, int fd, uint32_t mask,
                                         uint64_t tag)
{
    e->opcode = IORING_OP_POLL_ADD;
    e->fd = fd;
    e->poll32_events = green__ring_poll_mask(mask);
    e->user_data = tag;
}

/* opcode: IORING_OP_POLL_REMOVE for a poll, IORING_OP_ASYNC_CANCEL for
 * anything else; the cancel's own completion carries tag 0. */
static inline void green__ring_prep_cancel(struct io_uring_sqe *e, uint64_t tag, uint8_t opcode)
{
    e->opcode = opcode;
    e->fd = -1;
    e->addr = tag;
    e->user_data = 0;
}

/* A read, write, accept, connect or message call: addr and len are the
 * buffer's (or the vector's, the message's), off the file offset (-1: the
 * position) or connect's address length. */
static inline void green__ring_prep_rw(struct io_uring_sqe *e, uint8_t opcode, int fd,
                                       const void *addr, uint32_t len, uint64_t off,
                                       uint64_t tag)
{
    e->opcode = opcode;
    e->fd = fd;
    e->addr = (uint64_t)(uintptr_t)addr;
    e->len = len;
    e->off = off;
    e->user_data = tag;
}

/* A no-op that completes with res (-errno; Linux 6.10 and later inject
 * it), for a test's failure in place of a call. */
static inline void green__ring_prep_nop_result(struct io_uring_sqe *e, int res, uint64_t tag)
{
    e->opcode = IORING_OP_NOP;
    e->rw_flags = 1;  /* IORING_NOP_INJECT_RESULT */
    e->len = (uint32_t)res;
    e->user_data = tag;
}

#endif
#endif
