/* The ring's verbs (lib/ring.h), below the uring backend: the poll mask's
 * encoding, which runs on every target (make test-s390x runs it on a
 * big-endian one under qemu-user), and a ring's round trips, where the
 * kernel has io_uring. */
#ifndef GREEN_POSIX_ONLY  /* io_uring is Linux's: the POSIX build has no ring */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring.h"
#include "util.h"

#ifdef GREEN_HAVE_URING

/* The kernel reads an IORING_OP_POLL_ADD entry's poll32_events and, on a
 * big-endian machine, swaps its 16-bit halves (io_uring/poll.c); the
 * 16-bit poll_events of the first ABI overlays the half where the mask
 * goes.  Each view must see the mask, on either byte order. */
static void check_mask(uint32_t mask)
{
    struct io_uring_sqe e;
    memset(&e, 0, sizeof e);
    green__ring_prep_poll(&e, 3, mask, 7);
    uint32_t kernel = e.poll32_events;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    kernel = kernel << 16 | kernel >> 16;
#endif
    ck_assert_uint_eq(kernel, mask);
    ck_assert_uint_eq(e.poll_events, mask & 0xffff);
    ck_assert_int_eq(e.opcode, IORING_OP_POLL_ADD);
    ck_assert_int_eq(e.fd, 3);
    ck_assert_uint_eq(e.user_data, 7);
}

START_TEST(poll_mask_as_the_kernel_reads_it)
{
    check_mask(POLLIN);
    check_mask(POLLOUT);
    check_mask(POLLIN | POLLRDHUP);
    check_mask(POLLIN | POLLOUT | POLLRDHUP);
}
END_TEST

/* A ring of 8 entries and a pipe. */
struct fixture {
    struct green__ring rg;
    unsigned long enters;
    int p[2];
};

/* Sets f up; false where the process may not make a ring (the test has
 * nothing more to check there). */
static bool set_up(struct fixture *f)
{
    struct io_uring_params par;
    memset(&par, 0, sizeof par);
    f->enters = 0;
    int err = green__ring_setup(&f->rg, 8, &par, &f->enters);
    if (err < 0 && !kernel_has_uring())
        return false;
    ck_assert_int_eq(err, 0);
    ck_assert_int_eq(pipe(f->p), 0);
    return true;
}

static void tear_down(struct fixture *f)
{
    green__ring_exit(&f->rg);
    close(f->p[0]);
    close(f->p[1]);
}

struct seen {
    int n;
    uint64_t tag[16];
    int res[16];
};

static void note(void *arg, uint64_t tag, int res)
{
    struct seen *s = arg;
    s->tag[s->n] = tag;
    s->res[s->n++] = res;
}

/* Submits and waits until n completions have been seen. */
static void reap(struct green__ring *rg, struct seen *s, int n)
{
    while (s->n < n) {
        int r = green__ring_submit_and_wait(rg, true, 10000);
        ck_assert(r >= 0 || r == -EINTR || r == -ETIME);
        green__ring_for_each_cqe(rg, note, s);
    }
}

/* A poll prepared here completes with what poll(2) would say. */
START_TEST(poll_round_trip)
{
    struct fixture f;
    if (!set_up(&f))
        return;
    ck_assert_int_eq(write(f.p[1], "x", 1), 1);
    green__ring_prep_poll(green__ring_get_sqe(&f.rg), f.p[0], POLLIN, 41);
    green__ring_prep_poll(green__ring_get_sqe(&f.rg), f.p[1], POLLOUT, 43);
    struct seen s = {0};
    reap(&f.rg, &s, 2);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(s.res[i], s.tag[i] == 41 ? POLLIN : POLLOUT);
    ck_assert_uint_ge(f.enters, 1);
    tear_down(&f);
}
END_TEST

/* A full submission queue is submitted to make room for one more, and a
 * cancel finds the poll it names by its tag. */
START_TEST(full_queue_submits_and_cancel_finds)
{
    struct fixture f;
    if (!set_up(&f))
        return;
    for (unsigned i = 0; i < f.rg.sq_entries; i++)
        green__ring_prep_poll(green__ring_get_sqe(&f.rg), f.p[0], POLLIN, 100 + i);
    ck_assert_uint_eq(f.enters, 0);
    struct io_uring_sqe *e = green__ring_get_sqe(&f.rg);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(f.enters, 1);
    green__ring_prep_cancel(e, 100, IORING_OP_POLL_REMOVE);
    struct seen s = {0};
    reap(&f.rg, &s, 2);  /* the cancel's own (tag 0) and the poll's */
    bool cancelled = false;
    for (int i = 0; i < s.n; i++)
        cancelled |= s.tag[i] == 100 && s.res[i] == -ECANCELED;
    ck_assert(cancelled);
    tear_down(&f);
}
END_TEST

#endif

Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("ring");
#ifdef GREEN_HAVE_URING
    tcase_add_test(tc, poll_mask_as_the_kernel_reads_it);
    tcase_add_test(tc, poll_round_trip);
    tcase_add_test(tc, full_queue_submits_and_cancel_finds);
#endif
    suite_add_tcase(s, tc);
    return s;
}

#endif
