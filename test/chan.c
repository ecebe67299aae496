/* Channels and select. */
#include <errno.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

START_TEST(chan_new_and_free)
{
    /* Channels may be made and freed anywhere, even outside green_run. */
    green_chan_t *ch = green_chan_new(sizeof(int), 4);
    ck_assert_ptr_nonnull(ch);
    int v = 1;
    errno = 0;
    ck_assert_int_eq(green_chan_send(ch, &v), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_chan_trysend(ch, &v), -1);
    ck_assert_int_eq(errno, EPERM);
    green_chan_free(ch);
    green_chan_free(NULL);
    ck_assert_ptr_null(green_chan_new(SIZE_MAX / 2, 4));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static void *send_three(void *arg)
{
    green_chan_t *ch = arg;
    for (int i = 1; i <= 3; i++)
        if (green_chan_send(ch, &i) < 0)
            return (void *)(intptr_t)errno;
    return NULL;
}

GREEN_TEST(chan_unbuffered_rendezvous)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    int v;
    errno = 0;
    ck_assert_int_eq(green_chan_tryrecv(ch, &v), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(green_chan_trysend(ch, &v), -1);  /* nobody receives */
    ck_assert_int_eq(errno, EAGAIN);
    green_t *t = green_spawn(send_three, ch);
    for (int i = 1; i <= 3; i++) {
        ck_assert_int_eq(green_chan_recv(ch, &v), 0);
        ck_assert_int_eq(v, i);
    }
    ck_assert_int_eq(green_join(t, NULL), 0);
    green_chan_free(ch);
    return NULL;
}

GREEN_TEST(chan_buffered_fifo)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 3);
    ck_assert_uint_eq(green_chan_cap(ch), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(green_chan_len(ch), (size_t)i);
        ck_assert_int_eq(green_chan_trysend(ch, &i), 0);
    }
    ck_assert_uint_eq(green_chan_len(ch), 3);
    int v = 99;
    errno = 0;
    ck_assert_int_eq(green_chan_trysend(ch, &v), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* A parked sender gets the space the first receive frees. */
    green_t *t = green_spawn(send_three, ch);
    green_yield();
    int want[] = {0, 1, 2, 1, 2, 3};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(green_chan_recv(ch, &v), 0);
        ck_assert_int_eq(v, want[i]);
    }
    green_join(t, NULL);
    ck_assert_uint_eq(green_chan_len(ch), 0);
    green_chan_free(ch);
    /* Unbuffered: nothing is ever held; a NULL channel, as Go's nil. */
    ch = green_chan_new(sizeof(int), 0);
    ck_assert_uint_eq(green_chan_cap(ch), 0);
    ck_assert_uint_eq(green_chan_len(ch), 0);
    green_chan_free(ch);
    ck_assert_uint_eq(green_chan_len(NULL), 0);
    ck_assert_uint_eq(green_chan_cap(NULL), 0);
    return NULL;
}

GREEN_TEST(chan_zero_size_values)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(0, 2);
    ck_assert_int_eq(green_chan_send(ch, NULL), 0);
    ck_assert_int_eq(green_chan_recv(ch, NULL), 0);
    green_chan_free(ch);
    return NULL;
}

GREEN_TEST(chan_errors)
{
    (void)arg;
    int v = 0;
    errno = 0;
    ck_assert_int_eq(green_chan_send(NULL, &v), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_chan_recv(NULL, &v), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_chan_trysend(NULL, &v), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_chan_tryrecv(NULL, &v), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_chan_close(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_chan_t *ch = green_chan_new(sizeof v, 1);
    ck_assert_int_eq(green_chan_send(ch, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_chan_recv(ch, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_chan_free(ch);
    return NULL;
}

/* close */

static void *recv_all(void *arg)
{
    green_chan_t *ch = arg;
    int v, n = 0;
    while (green_chan_recv(ch, &v) == 0)
        n++;
    return (void *)(intptr_t)(errno == EPIPE ? n : -1);
}

GREEN_TEST(chan_close_drains_then_epipe)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 4);
    for (int i = 0; i < 3; i++)
        green_chan_send(ch, &i);
    ck_assert_int_eq(green_chan_close(ch), 0);
    int v = 0;
    errno = 0;
    ck_assert_int_eq(green_chan_send(ch, &v), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(green_chan_trysend(ch, &v), -1);
    ck_assert_int_eq(errno, EPIPE);
    void *n;
    green_join(green_spawn(recv_all, ch), &n);
    ck_assert_int_eq((intptr_t)n, 3);  /* what was buffered, then EPIPE */
    ck_assert_int_eq(green_chan_tryrecv(ch, &v), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(green_chan_close(ch), -1);  /* twice */
    ck_assert_int_eq(errno, EPIPE);
    green_chan_free(ch);
    return NULL;
}

GREEN_TEST(chan_close_wakes_parked)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *r1 = green_spawn(recv_all, ch), *r2 = green_spawn(recv_all, ch);
    green_yield();
    green_chan_close(ch);
    void *n1, *n2;
    green_join(r1, &n1);
    green_join(r2, &n2);
    ck_assert_int_eq((intptr_t)n1, 0);
    ck_assert_int_eq((intptr_t)n2, 0);
    /* A parked sender's value was not sent: it is told so. */
    green_chan_t *full = green_chan_new(sizeof(int), 1);
    int v = 0;
    green_chan_send(full, &v);
    green_t *s = green_spawn(send_three, full);
    green_yield();
    green_chan_close(full);
    void *err;
    green_join(s, &err);
    ck_assert_int_eq((intptr_t)err, EPIPE);
    ck_assert_int_eq(green_chan_recv(full, &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(green_chan_recv(full, &v), -1);
    green_chan_free(ch);
    green_chan_free(full);
    return NULL;
}

GREEN_TEST(chan_free_wakes_parked)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *r = green_spawn(recv_all, ch);
    green_yield();
    green_chan_free(ch);
    void *n;
    green_join(r, &n);
    ck_assert_int_eq((intptr_t)n, 0);
    return NULL;
}

/* Deadlines and cancellation. */

static void *recv_err(void *arg)
{
    int v;
    return (void *)(intptr_t)(green_chan_recv(arg, &v) < 0 ? errno : 0);
}

GREEN_TEST(chan_deadline_and_cancel)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 1);
    int v = 5;
    green_deadline(green_now() + 10);
    errno = 0;
    ck_assert_int_eq(green_chan_recv(ch, &v), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_eq(green_chan_send(ch, &v), 0);  /* room: no wait, no timeout */
    ck_assert_int_eq(green_chan_send(ch, &v), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(green_chan_recv(ch, &v), 0);  /* nothing was lost */
    ck_assert_int_eq(v, 5);
    green_t *t = green_spawn(recv_err, ch);
    green_yield();
    green_cancel(t);
    void *err;
    green_join(t, &err);
    ck_assert_int_eq((intptr_t)err, ECANCELED);
    /* A cancelled thread's channel calls fail even when they could go on. */
    green_chan_send(ch, &v);
    green_cancel(green_self());
    ck_assert_int_eq(green_chan_recv(ch, &v), -1);
    ck_assert_int_eq(errno, ECANCELED);
    ck_assert_int_eq(green_chan_tryrecv(ch, &v), 0);  /* it does not wait */
    green_chan_free(ch);
    return NULL;
}

/* select */

GREEN_TEST(select_picks_ready)
{
    (void)arg;
    green_chan_t *a = green_chan_new(sizeof(int), 1), *b = green_chan_new(sizeof(int), 1);
    int v = 7, got = 0;
    green_chan_send(b, &v);
    green_case_t cases[3] = {
        {.chan = a, .op = GREEN_RECV, .elem = &got, .err = -1},
        {.chan = NULL, .op = GREEN_RECV, .elem = NULL, .err = -1},  /* never ready */
        {.chan = b, .op = GREEN_RECV, .elem = &got, .err = -1},
    };
    ck_assert_int_eq(green_select(cases, 3), 2);
    ck_assert_int_eq(cases[2].err, 0);
    ck_assert_int_eq(got, 7);
    errno = 0;
    ck_assert_int_eq(green_tryselect(cases, 3), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* A send case. */
    green_case_t send = {.chan = a, .op = GREEN_SEND, .elem = &v, .err = -1};
    ck_assert_int_eq(green_select(&send, 1), 0);
    ck_assert_int_eq(green_chan_recv(a, &got), 0);
    /* A closed channel's case is ready, with EPIPE. */
    green_chan_close(b);
    ck_assert_int_eq(green_select(cases, 3), 2);
    ck_assert_int_eq(cases[2].err, EPIPE);
    green_chan_free(a);
    green_chan_free(b);
    return NULL;
}

static void *send_later(void *arg)
{
    green_chan_t *ch = arg;
    int v = 42;
    green_yield();
    green_chan_send(ch, &v);
    return NULL;
}

GREEN_TEST(select_waits)
{
    (void)arg;
    enum { N = 12 };  /* more than the select keeps on its stack */
    green_chan_t *ch[N];
    int got = 0;
    green_case_t cases[N];
    for (int i = 0; i < N; i++) {
        ch[i] = green_chan_new(sizeof(int), 0);
        cases[i] = (green_case_t){.chan = ch[i], .op = GREEN_RECV, .elem = &got, .err = -1};
    }
    green_t *t = green_spawn(send_later, ch[9]);
    ck_assert_int_eq(green_select(cases, N), 9);
    ck_assert_int_eq(got, 42);
    green_join(t, NULL);
    /* A send case completes when a receiver comes. */
    green_t *r = green_spawn(recv_err, ch[3]);
    int v = 1;
    cases[3] = (green_case_t){.chan = ch[3], .op = GREEN_SEND, .elem = &v, .err = -1};
    ck_assert_int_eq(green_select(&cases[3], 1), 0);
    green_join(r, NULL);
    for (int i = 0; i < N; i++)
        green_chan_free(ch[i]);
    return NULL;
}

GREEN_TEST(select_deadline_and_cancel)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    int v;
    green_case_t c = {.chan = ch, .op = GREEN_RECV, .elem = &v, .err = -1};
    green_deadline(green_now() + 10);
    errno = 0;
    ck_assert_int_eq(green_select(&c, 1), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    /* No channel at all: only the deadline ends it. */
    ck_assert_int_eq(green_select(NULL, 0), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    /* A case never ready beside a send to a full channel: the same, and
     * the send is not left queued (the slot freed stays free). */
    green_chan_t *full = green_chan_new(sizeof(int), 1);
    ck_assert_int_eq(green_chan_send(full, &(int){5}), 0);
    green_case_t two[] = {{.chan = NULL, .op = GREEN_RECV, .elem = NULL, .err = -1}, {.chan = full, .op = GREEN_SEND, .elem = &(int){6}, .err = -1}};
    ck_assert_int_eq(green_select(two, 2), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_eq(green_chan_recv(full, &v), 0);
    ck_assert_int_eq(v, 5);
    ck_assert_int_eq(green_chan_tryrecv(full, &v), -1);
    ck_assert_int_eq(errno, EAGAIN);
    green_case_t send_full = {.chan = full, .op = GREEN_SEND, .elem = &(int){7}, .err = -1};
    ck_assert_int_eq(green_chan_send(full, &(int){5}), 0);
    ck_assert_int_eq(green_tryselect(&send_full, 1), -1);
    ck_assert_int_eq(errno, EAGAIN);
    green_chan_free(full);
    green_deadline(GREEN_NEVER);
    green_cancel(green_self());
    ck_assert_int_eq(green_select(&c, 1), -1);
    ck_assert_int_eq(errno, ECANCELED);
    green_chan_free(ch);
    return NULL;
}

GREEN_TEST(select_errors)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 1);
    int v;
    errno = 0;
    ck_assert_int_eq(green_select(NULL, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_case_t bad_op = {.chan = ch, .op = 99, .elem = &v};
    ck_assert_int_eq(green_select(&bad_op, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_case_t no_elem = {.chan = ch, .op = GREEN_SEND, .elem = NULL};
    ck_assert_int_eq(green_tryselect(&no_elem, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_chan_free(ch);
    return NULL;
}

START_TEST(select_outside)
{
    errno = 0;
    ck_assert_int_eq(green_select(NULL, 0), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_tryselect(NULL, 0), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_chan_recv(NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* Fairness: two channels always ready are chosen about equally. */
GREEN_TEST(select_is_fair)
{
    (void)arg;
    enum { ROUNDS = 20000 };
    green_chan_t *a = green_chan_new(sizeof(int), 1), *b = green_chan_new(sizeof(int), 1);
    int v = 0, hits[2] = {0, 0};
    green_case_t cases[2] = {{.chan = a, .op = GREEN_RECV, .elem = &v}, {.chan = b, .op = GREEN_RECV, .elem = &v}};
    for (int i = 0; i < ROUNDS; i++) {
        green_chan_trysend(a, &v);
        green_chan_trysend(b, &v);
        hits[green_select(cases, 2)]++;
    }
    ck_assert_int_gt(hits[0], ROUNDS * 4 / 10);
    ck_assert_int_gt(hits[1], ROUNDS * 4 / 10);
    green_chan_free(a);
    green_chan_free(b);
    return NULL;
}

/* Fairness while parked: a select waiting on two cases of one channel has
 * either completed by the peer that comes, not always the first (Go's
 * TestPseudoRandomSend wants each more than 10 times in 100). */
struct two_cases {
    green_chan_t *ch;
    int hits[2];
};

static void *select_same_channel(void *arg)
{
    struct two_cases *tc = arg;
    int v;
    for (int i = 0; i < 100; i++) {
        green_case_t cases[2] = {{.chan = tc->ch, .op = GREEN_RECV, .elem = &v}, {.chan = tc->ch, .op = GREEN_RECV, .elem = &v}};
        int r = green_select(cases, 2);
        ck_assert_int_ge(r, 0);
        tc->hits[r]++;
    }
    return NULL;
}

GREEN_TEST(select_parked_is_fair)
{
    (void)arg;
    struct two_cases tc = {green_chan_new(sizeof(int), 0), {0, 0}};
    green_t *t = green_spawn(select_same_channel, &tc);
    for (int i = 0; i < 100; i++) {
        green_yield();  /* the select parks on both cases */
        ck_assert_int_eq(green_chan_send(tc.ch, &i), 0);
    }
    green_join(t, NULL);
    ck_assert_int_gt(tc.hits[0], 10);
    ck_assert_int_gt(tc.hits[1], 10);
    green_chan_free(tc.ch);
    return NULL;
}

/* Stress: producers and consumers over buffered and unbuffered channels,
 * consumers receiving directly and through select, some cut off by
 * deadlines.  Every value is counted once and only once. */

enum { PRODUCERS = 6, PER_PRODUCER = 2000, CONSUMERS = 6 };

struct stress {
    green_chan_t *ch[2];           /* unbuffered, buffered */
    uint64_t sum, count;
    bool order_ok;
};

/* What one consumer has seen: the last k from each producer on each
 * channel.  A channel is FIFO and a producer sends in order, so each
 * consumer's own view must increase. */
struct seen {
    int last[PRODUCERS][2];
};

static void *producer(void *arg)
{
    struct stress *st = arg;
    static int next_id;
    int id = next_id++;
    for (int k = 1; k <= PER_PRODUCER; k++) {
        int v = id * PER_PRODUCER + k;
        if (green_chan_send(st->ch[k % 2], &v) < 0)
            return (void *)1;
        if (k % 97 == 0)
            green_yield();
    }
    return NULL;
}

static void take(struct stress *st, struct seen *seen, int v, int which)
{
    int id = (v - 1) / PER_PRODUCER, k = (v - 1) % PER_PRODUCER + 1;
    if (k <= seen->last[id][which])
        st->order_ok = false;
    seen->last[id][which] = k;
    st->sum += (uint64_t)v;
    st->count++;
}

static void *consumer(void *arg)
{
    struct stress *st = arg;
    struct seen seen = {0};
    int v;
    while (green_chan_recv(st->ch[0], &v) == 0)
        take(st, &seen, v, 0);
    return NULL;
}

static void *select_consumer(void *arg)
{
    struct stress *st = arg;
    struct seen seen = {0};
    int v;
    green_case_t cases[2] = {{.chan = st->ch[0], .op = GREEN_RECV, .elem = &v}, {.chan = st->ch[1], .op = GREEN_RECV, .elem = &v}};
    for (;;) {
        int i = green_select(cases, 2);
        if (i < 0)
            break;
        if (cases[i].err) {
            cases[i].chan = NULL;  /* closed: stop selecting on it */
            if (!cases[0].chan && !cases[1].chan)
                break;
            continue;
        }
        take(st, &seen, v, i);
    }
    return NULL;
}

/* Receives with a short deadline until one passes, then stops. */
static void *impatient_consumer(void *arg)
{
    struct stress *st = arg;
    struct seen seen = {0};
    int v;
    for (;;) {
        green_deadline(green_now() + 2);
        if (green_chan_recv(st->ch[1], &v) < 0)
            break;
        take(st, &seen, v, 1);
    }
    return NULL;
}

/* Cancelled part way by the test. */
static void *cancelled_consumer(void *arg)
{
    struct stress *st = arg;
    struct seen seen = {0};
    int v;
    while (green_chan_recv(st->ch[1], &v) == 0)
        take(st, &seen, v, 1);
    return NULL;
}

GREEN_TEST(chan_stress)
{
    (void)arg;
    static struct stress st;
    st.ch[0] = green_chan_new(sizeof(int), 0);
    st.ch[1] = green_chan_new(sizeof(int), 16);
    st.order_ok = true;
    void *(*kinds[CONSUMERS])(void *) = {consumer, impatient_consumer, cancelled_consumer,
                                         select_consumer, select_consumer, select_consumer};
    green_t *p[PRODUCERS], *c[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        c[i] = green_spawn(kinds[i], &st);
    for (int i = 0; i < PRODUCERS; i++)
        p[i] = green_spawn(producer, &st);
    for (int i = 0; i < 50; i++)
        green_yield();
    green_cancel(c[2]);
    for (int i = 0; i < PRODUCERS; i++) {
        void *r;
        green_join(p[i], &r);
        ck_assert_ptr_null(r);
    }
    green_chan_close(st.ch[0]);
    green_chan_close(st.ch[1]);
    for (int i = 0; i < CONSUMERS; i++)
        green_join(c[i], NULL);
    /* Whatever the consumers left in the buffer is still there. */
    struct seen seen = {0};
    int v;
    while (green_chan_tryrecv(st.ch[1], &v) == 0)
        take(&st, &seen, v, 1);
    uint64_t n = (uint64_t)PRODUCERS * PER_PRODUCER;
    ck_assert_uint_eq(st.count, n);
    ck_assert_uint_eq(st.sum, n * (n + 1) / 2);
    ck_assert(st.order_ok);
    green_chan_free(st.ch[0]);
    green_chan_free(st.ch[1]);
    return NULL;
}

/* Per-channel FIFO, exactly: one producer, one consumer. */
GREEN_TEST(chan_fifo_one_to_one)
{
    (void)arg;
    for (size_t cap = 0; cap < 3; cap++) {
        green_chan_t *ch = green_chan_new(sizeof(int), cap);
        green_t *t = green_spawn(send_three, ch);
        int v;
        for (int i = 1; i <= 3; i++) {
            ck_assert_int_eq(green_chan_recv(ch, &v), 0);
            ck_assert_int_eq(v, i);
        }
        green_join(t, NULL);
        green_chan_free(ch);
    }
    return NULL;
}

/* A channel used from another OS thread's scheduler while in use here. */
static green_chan_t *shared;

/* Each call on it from there fails with EXDEV: a send, a select whose
 * other case is a channel of that scheduler (left as it was), a close. */
static void *foreign_send(void *arg)
{
    int *errs = arg, v = 1;
    errs[0] = green_chan_trysend(shared, &v) < 0 ? errno : 0;
    green_chan_t *own = green_chan_new(sizeof(int), 1);
    green_case_t cases[] = {{.chan = own, .op = GREEN_SEND, .elem = &v}, {.chan = shared, .op = GREEN_SEND, .elem = &v}};
    errs[1] = green_select(cases, 2) < 0 ? errno : 0;
    errs[2] = green_chan_close(shared) < 0 ? errno : 0;
    errs[3] = green_chan_trysend(own, &v) < 0 ? errno : 0;  /* own is not bound */
    green_chan_free(own);
    return NULL;
}

static void *foreign_thread(void *arg)
{
    green_run(foreign_send, arg);
    return NULL;
}

static void *hold_parked(void *arg)
{
    int v;
    green_chan_recv(arg, &v);
    return NULL;
}

GREEN_TEST(chan_other_os_thread)
{
    (void)arg;
    shared = green_chan_new(sizeof(int), 0);
    green_t *r = green_spawn(hold_parked, shared);
    green_yield();  /* r is parked on it: it is bound to this scheduler */
    int errs[4] = {-1, -1, -1, -1};
    pthread_t pt;
    pthread_create(&pt, NULL, foreign_thread, errs);
    pthread_join(pt, NULL);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(errs[i], EXDEV);
    ck_assert_int_eq(errs[3], 0);
    green_cancel(r);
    green_join(r, NULL);
    green_chan_free(shared);
    return NULL;
}

/* The deadlock report names channel waits. */
static void *main_recv_forever(void *arg)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    int v;
    green_chan_recv(ch, &v);
    green_chan_free(ch);
    return NULL;
}

START_TEST(chan_deadlock_report)
{
    char *text = run_deadlocked(0, main_recv_forever);
    ck_assert_msg(strstr(text, "#1 'main' parked: chan recv 0x") != NULL, "%s", text);
    free(text);
}
END_TEST

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

/* A select over more cases than fit on the stack allocates their waits:
 * ENOMEM when it cannot, and nothing is left queued on the channel. */
GREEN_TEST(select_many_cases_enomem)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    enum { N = 40 };
    int v[N];
    green_case_t cases[N];
    for (int i = 0; i < N; i++)
        cases[i] = (green_case_t){.chan = ch, .op = GREEN_RECV, .elem = &v[i]};
    green__fault_set(GREEN__FAULT_malloc, 1, true, ENOMEM);
    ck_assert_int_eq(green_select(cases, N), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green_chan_trysend(ch, &(int){1}), -1);
    ck_assert_int_eq(errno, EAGAIN);  /* no receiver was left behind */
    green_chan_free(ch);
    return NULL;
}
#endif

/* Select on an fd's readiness and a thread's end, beside channels. */

static void *write_later(void *arg)
{
    green_sleep(5);
    ck_assert_int_eq(green_write(*(int *)arg, "x", 1), 1);
    return NULL;
}

GREEN_TEST(select_fd)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    int v;
    green_t *w = green_spawn(write_later, &p[1]);
    green_case_t cases[] = {
        {.chan = ch, .op = GREEN_RECV, .elem = &v},
        {.op = GREEN_READY, .fd = p[0], .events = GREEN_IN},
    };
    ck_assert_int_eq(green_select(cases, 2), 1);
    ck_assert_int_eq(cases[1].err, 0);
    ck_assert_int_eq(cases[1].events, GREEN_IN);
    char c;
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);
    ck_assert_int_eq(green_join(w, NULL), 0);
    /* Ready already: at once, in a select and in a try. */
    ck_assert_int_eq(write(p[1], "y", 1), 1);
    cases[1].events = GREEN_IN | GREEN_OUT;  /* only IN can come on a read end */
    ck_assert_int_eq(green_select(cases, 2), 1);
    ck_assert_int_eq(cases[1].events, GREEN_IN);
    cases[1].events = GREEN_IN;
    ck_assert_int_eq(green_tryselect(cases, 2), 1);
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);
    errno = 0;
    ck_assert_int_eq(green_tryselect(cases, 2), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* The write end is writable. */
    green_case_t out = {.op = GREEN_READY, .fd = p[1], .events = GREEN_OUT};
    ck_assert_int_eq(green_select(&out, 1), 0);
    ck_assert_int_eq(out.events, GREEN_OUT);
    green_chan_free(ch);
    close(p[0]);
    close(p[1]);
    return NULL;
}

static void *return_later(void *arg)
{
    green_sleep(5);
    return arg;
}

static void *return_at_once(void *arg)
{
    return arg;
}

GREEN_TEST(select_done)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 1);
    int v = 0;
    void *res = NULL;
    green_t *t = green_spawn(return_later, (void *)42);
    green_case_t cases[] = {
        {.chan = ch, .op = GREEN_RECV, .elem = &v},
        {.op = GREEN_DONE, .thread = t, .elem = &res},
    };
    ck_assert_int_eq(green_select(cases, 2), 1);  /* joined */
    ck_assert_ptr_eq(res, (void *)42);
    ck_assert_ptr_null(cases[1].thread);
    /* Another case first: the thread is not joined, and may be after. */
    t = green_spawn(return_later, (void *)43);
    cases[1].thread = t;
    ck_assert_int_eq(green_chan_send(ch, &(int){9}), 0);
    ck_assert_int_eq(green_select(cases, 2), 0);
    ck_assert_int_eq(v, 9);
    ck_assert_ptr_eq(cases[1].thread, t);
    ck_assert_int_eq(green_join(t, &res), 0);
    ck_assert_ptr_eq(res, (void *)43);
    /* Finished already; a NULL result pointer. */
    t = green_spawn(return_at_once, NULL);
    green_yield();  /* it runs, and returns, first */
    green_case_t done = {.op = GREEN_DONE, .thread = t};
    ck_assert_int_eq(green_tryselect(&done, 1), 0);
    green_chan_free(ch);
    return NULL;
}

/* The wait ends by the deadline or a cancel, watches and claims undone:
 * the fd and the thread are as they were. */
GREEN_TEST(select_others_cut_short)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    green_t *t = green_spawn(return_later, (void *)7);
    green_case_t cases[] = {
        {.op = GREEN_READY, .fd = p[0], .events = GREEN_IN},
        {.op = GREEN_DONE, .thread = NULL},  /* never ready */
        {.op = GREEN_READY, .fd = -1},       /* never ready */
    };
    int64_t old = green_deadline(green_now() + 10);
    ck_assert_int_eq(green_select(cases, 3), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    cases[1].thread = t;
    green_cancel(green_self());
    ck_assert_int_eq(green_select(cases, 3), -1);
    ck_assert_int_eq(errno, ECANCELED);
    green_shield(1);
    void *res;
    ck_assert_int_eq(green_join(t, &res), 0);  /* given back */
    ck_assert_ptr_eq(res, (void *)7);
    ck_assert_int_eq(write(p[1], "z", 1), 1);
    char c;
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);
    close(p[0]);
    close(p[1]);
    return NULL;
}

/* An fd closed under a select: its case comes back with EBADF. */
static void *close_later(void *arg)
{
    green_sleep(5);
    ck_assert_int_eq(green_close(*(int *)arg), 0);
    return NULL;
}

GREEN_TEST(select_fd_closed)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    green_t *t = green_spawn(close_later, &p[0]);
    green_case_t c = {.op = GREEN_READY, .fd = p[0], .events = GREEN_IN};
    ck_assert_int_eq(green_select(&c, 1), 0);
    ck_assert_int_eq(c.err, EBADF);
    ck_assert_int_eq(green_join(t, NULL), 0);
    close(p[1]);
    return NULL;
}

/* Fairness: with a channel and an fd both ready, each is chosen. */
GREEN_TEST(select_others_fair)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], "r", 1), 1);  /* stays readable */
    green_chan_t *ch = green_chan_new(sizeof(int), 1);
    int v, got[2] = {0, 0};
    green_case_t cases[] = {
        {.chan = ch, .op = GREEN_RECV, .elem = &v},
        {.op = GREEN_READY, .fd = p[0], .events = GREEN_IN},
    };
    for (int i = 0; i < 200; i++) {
        if (green_chan_len(ch) == 0)
            ck_assert_int_eq(green_chan_send(ch, &i), 0);
        int r = green_select(cases, 2);
        ck_assert_int_ge(r, 0);
        got[r]++;
    }
    ck_assert_int_gt(got[0], 0);
    ck_assert_int_gt(got[1], 0);
    green_chan_free(ch);
    close(p[0]);
    close(p[1]);
    return NULL;
}

static void *nothing_long(void *arg)
{
    (void)arg;
    green_sleep(100000);
    return NULL;
}

GREEN_TEST(select_others_errors)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    green_chan_t *ch = green_chan_new(0, 0);
    green_case_t c = {.op = GREEN_READY, .fd = p[0], .events = 0};
    errno = 0;
    ck_assert_int_eq(green_select(&c, 1), -1);  /* no events */
    ck_assert_int_eq(errno, EINVAL);
    c.events = 0x40;
    ck_assert_int_eq(green_select(&c, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    c = (green_case_t){.chan = ch, .op = GREEN_READY, .fd = p[0], .events = GREEN_IN};
    ck_assert_int_eq(green_select(&c, 1), -1);  /* a channel on a non-channel case */
    ck_assert_int_eq(errno, EINVAL);
    green_case_t twice[] = {
        {.op = GREEN_READY, .fd = p[0], .events = GREEN_IN},
        {.op = GREEN_READY, .fd = p[0], .events = GREEN_OUT},
    };
    ck_assert_int_eq(green_select(twice, 2), -1);  /* one case per fd */
    ck_assert_int_eq(errno, EINVAL);
    green_t *t = green_spawn(nothing_long, NULL);
    green_case_t d = {.op = GREEN_DONE, .thread = green_self()};
    ck_assert_int_eq(green_select(&d, 1), -1);
    ck_assert_int_eq(errno, EDEADLK);
    ck_assert_int_eq(green_detach(t), 0);
    d.thread = t;
    ck_assert_int_eq(green_select(&d, 1), -1);  /* detached: not joinable */
    ck_assert_int_eq(errno, EINVAL);
    /* A claim is given back when a later case is refused. */
    green_t *u = green_spawn(return_later, NULL);
    green_case_t two[] = {{.op = GREEN_DONE, .thread = u}, {.op = GREEN_DONE, .thread = t}};
    ck_assert_int_eq(green_select(two, 2), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_join(u, NULL), 0);
    green_cancel(t);
    green_chan_free(ch);
    close(p[0]);
    close(p[1]);
    return NULL;
}

/* An fd's readiness a select hands out is recorded as a level wait
 * records it: after a partial read, the next wait looks before it parks
 * (an edge kept from before, on an adopted socket under epoll, once
 * left the next wait parked with a byte queued). */
GREEN_TEST(select_fd_hands_readiness)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    ck_assert_int_eq(green_fd_adopt(sv[0]), 0);
    ck_assert_int_eq(write(sv[1], "a", 1), 1);
    ck_assert_int_eq(green_wait(sv[0], GREEN_IN), GREEN_IN);
    char c;
    ck_assert_int_eq(read(sv[0], &c, 1), 1);
    ck_assert_int_eq(write(sv[1], "bc", 2), 2);
    green_sleep(1);  /* waits in the poller, which takes the edge: nobody waits */
    green_case_t cs = {.op = GREEN_READY, .fd = sv[0], .events = GREEN_IN};
    ck_assert_int_eq(green_select(&cs, 1), 0);
    ck_assert_int_eq(read(sv[0], &c, 1), 1);  /* one byte stays */
    green_deadline(green_now() + 5000);
    cs.events = GREEN_IN;
    ck_assert_int_eq(green_select(&cs, 1), 0);
    ck_assert_int_eq(green_wait(sv[0], GREEN_IN), GREEN_IN);
    green_deadline(-1);
    ck_assert_int_eq(green_fd_release(sv[0]), 0);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

/* Two fds ready at every call, one always (a regular file): each is
 * chosen, not the first found. */
GREEN_TEST(select_fds_fair)
{
    (void)arg;
    int file = open("/proc/self/exe", O_RDONLY), p[2];
    ck_assert_int_ge(file, 0);
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);  /* stays readable */
    int got[2] = {0, 0};
    for (int k = 0; k < 200; k++) {
        green_case_t cs[] = {
            {.op = GREEN_READY, .fd = file, .events = GREEN_IN},
            {.op = GREEN_READY, .fd = p[0], .events = GREEN_IN},
        };
        int r = green_select(cs, 2);
        ck_assert_int_ge(r, 0);
        got[r]++;
    }
    ck_assert_int_gt(got[0], 0);
    ck_assert_int_gt(got[1], 0);
    close(file);
    close(p[0]);
    close(p[1]);
    return NULL;
}

/* Past the deadline a ready fd still counts, as for green_wait; and a
 * loop of selects on a ready fd takes from the fairness budget. */
static long others_ran;

static void *count_turns(void *arg)
{
    while (!*(volatile bool *)arg) {
        others_ran++;
        green_yield();
    }
    return NULL;
}

GREEN_TEST(select_fd_deadline_and_budget)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    green_case_t cs = {.op = GREEN_READY, .fd = p[0], .events = GREEN_IN};
    green_deadline(green_now() - 1);
    ck_assert_int_eq(green_select(&cs, 1), 0);
    green_deadline(-1);
    volatile bool stop = false;
    green_t *t = green_spawn(count_turns, (void *)&stop);
    others_ran = 0;
    for (int i = 0; i < 1000; i++) {
        cs.events = GREEN_IN;
        ck_assert_int_eq(green_select(&cs, 1), 0);
    }
    ck_assert_int_gt(others_ran, 0);
    stop = true;
    ck_assert_int_eq(green_join(t, NULL), 0);
    close(p[0]);
    close(p[1]);
    return NULL;
}

/* A fork while another thread is parked in a select on an fd: the child
 * forgets the watch, and the parent's select still wakes (the child once
 * took the fd off the epoll set it shares with the parent). */
static void *select_on(void *arg)
{
    green_case_t cs = {.op = GREEN_READY, .fd = *(int *)arg, .events = GREEN_IN};
    green_deadline(green_now() + 10000);
    ck_assert_int_eq(green_select(&cs, 1), 0);
    return NULL;
}

/* Whether an epoll set of this process watches fd (its fdinfo lists it). */
static bool epoll_watches(int fd)
{
    for (int e = 0; e < 1024; e++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/self/fdinfo/%d", e);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int tfd;
        bool found = false;
        while (!found && fgets(line, sizeof line, f))
            found = sscanf(line, "tfd: %d", &tfd) == 1 && tfd == fd;
        fclose(f);
        if (found)
            return true;
    }
    return false;
}

GREEN_TEST(select_fd_fork)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    green_attr_t eager = {.eager = 1};
    green_t *t = green_spawn_attr(&eager, select_on, &p[0]);  /* parked now */
    pid_t pid = fork_counted();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        exit_child(0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (strncmp(green_poller_name(), "epoll", 5) == 0)  /* or uring's fallback */
        ck_assert(epoll_watches(p[0]));  /* the child left the set alone */
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(green_join(t, NULL), 0);
    close(p[0]);
    close(p[1]);
    return NULL;
}

/* In a run: a thread on another scheduler cannot be a case (EXDEV); a
 * channel shared with it and an fd of this one can. */
static green_chan_t *across_ch;

static void *send_across(void *arg)
{
    (void)arg;
    green_sleep(5);
    ck_assert_int_eq(green_chan_send(across_ch, &(int){3}), 0);
    return NULL;
}

CORES_TEST(select_others_in_run, 2)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    across_ch = green_chan_new(sizeof(int), 0);
    green_t *far = spawn_on(1, send_across, NULL);
    green_case_t d = {.op = GREEN_DONE, .thread = far};
    ck_assert_int_eq(green_select(&d, 1), -1);
    ck_assert_int_eq(errno, EXDEV);
    int v = 0;
    green_t *near = green_spawn(return_later, (void *)1);
    green_case_t cases[] = {
        {.chan = across_ch, .op = GREEN_RECV, .elem = &v},
        {.op = GREEN_READY, .fd = p[0], .events = GREEN_IN},
    };
    ck_assert_int_eq(green_select(cases, 2), 0);  /* the other scheduler's send */
    ck_assert_int_eq(v, 3);
    ck_assert_int_eq(green_join(far, NULL), 0);
    green_case_t more[] = {
        {.chan = across_ch, .op = GREEN_RECV, .elem = &v},
        {.op = GREEN_DONE, .thread = near},
    };
    ck_assert_int_eq(green_select(more, 2), 1);  /* this scheduler's thread ends */
    ck_assert_int_eq(write(p[1], "q", 1), 1);
    ck_assert_int_eq(green_select(cases, 2), 1);  /* and the fd */
    green_chan_free(across_ch);
    close(p[0]);
    close(p[1]);
    return NULL;
}

#ifdef GREEN_FAULTS
/* No memory for the watches of more than 8 cases: ENOMEM, the threads
 * given back. */
GREEN_TEST(select_fd_cases_enomem)
{
    (void)arg;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    green_t *t = green_spawn(return_later, NULL);
    green_case_t cases[9] = {
        {.op = GREEN_READY, .fd = p[0], .events = GREEN_IN},
        {.op = GREEN_DONE, .thread = t},
    };
    for (int i = 2; i < 9; i++)
        cases[i] = (green_case_t){.op = GREEN_READY, .fd = -1};
    green__fault_set(GREEN__FAULT_malloc, 1, false, ENOMEM);
    ck_assert_int_eq(green_tryselect(cases, 9), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green_join(t, NULL), 0);
    close(p[0]);
    close(p[1]);
    return NULL;
}
#endif

Suite *chan_suite(void)
{
    Suite *s = suite_create("chan");
    TCase *tc = tcase_create("chan");
    tcase_add_test(tc, chan_new_and_free);
    tcase_add_test(tc, chan_unbuffered_rendezvous);
    tcase_add_test(tc, chan_buffered_fifo);
    tcase_add_test(tc, chan_zero_size_values);
    tcase_add_test(tc, chan_errors);
    tcase_add_test(tc, chan_close_drains_then_epipe);
    tcase_add_test(tc, chan_close_wakes_parked);
    tcase_add_test(tc, chan_free_wakes_parked);
    tcase_add_test(tc, chan_deadline_and_cancel);
    tcase_add_test(tc, select_picks_ready);
    tcase_add_test(tc, select_waits);
    tcase_add_test(tc, select_deadline_and_cancel);
    tcase_add_test(tc, select_errors);
    tcase_add_test(tc, select_outside);
    tcase_add_test(tc, select_is_fair);
    tcase_add_test(tc, select_parked_is_fair);
    tcase_add_test(tc, chan_stress);
    tcase_add_test(tc, chan_fifo_one_to_one);
    tcase_add_test(tc, chan_other_os_thread);
    tcase_add_test(tc, chan_deadlock_report);
    tcase_add_test(tc, select_fd);
    tcase_add_test(tc, select_done);
    tcase_add_test(tc, select_others_cut_short);
    tcase_add_test(tc, select_fd_closed);
    tcase_add_test(tc, select_others_fair);
    tcase_add_test(tc, select_others_errors);
    tcase_add_test(tc, select_others_in_run);
    tcase_add_test(tc, select_fd_hands_readiness);
    tcase_add_test(tc, select_fds_fair);
    tcase_add_test(tc, select_fd_deadline_and_budget);
    tcase_add_test(tc, select_fd_fork);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, select_many_cases_enomem);
    add_fault_test(faults, select_fd_cases_enomem);
    suite_add_tcase(s, faults);
    return s;
}
