/* Talking across the schedulers of one run: channels and select, mutex,
 * condition variable and semaphore used by green threads of several
 * schedulers at once.  Each test checks that nothing is lost or
 * duplicated, including when a deadline or a cancellation races the
 * partner that completes the operation. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Fewer rounds under Valgrind, which runs the schedulers one at a time. */
static int rounds(int n)
{
    return under_valgrind() ? n / 20 : n;
}

/* Channels. */

struct pipe_args {
    green_chan_t *ch;
    int n;
};

static void *send_count(void *arg)
{
    struct pipe_args *a = arg;
    for (int i = 0; i < a->n; i++)
        ck_assert_int_eq(green_chan_send(a->ch, &i), 0);
    return NULL;
}

static void *recv_count(void *arg)
{
    struct pipe_args *a = arg;
    for (int i = 0; i < a->n; i++) {
        int v = -1;
        ck_assert_int_eq(green_chan_recv(a->ch, &v), 0);
        ck_assert_int_eq(v, i);
    }
    return NULL;
}

/* A rendezvous channel between two schedulers, both ways, in order. */
CORES_TEST(unbuffered_both_ways, 2)
{
    (void)arg;
    struct pipe_args a = {green_chan_new(sizeof(int), 0), rounds(20000)};
    green_t *t = spawn_on(1, send_count, &a);
    recv_count(&a);
    ck_assert_int_eq(green_join(t, NULL), 0);
    t = spawn_on(1, recv_count, &a);
    send_count(&a);
    ck_assert_int_eq(green_join(t, NULL), 0);
    green_chan_free(a.ch);
    return NULL;
}

/* Many producers and consumers on four schedulers over one buffered
 * channel: each value arrives exactly once. */
#define PRODUCERS 8
#define PER_PRODUCER 2000

struct mpmc {
    green_chan_t *ch;
    atomic_uchar seen[PRODUCERS * PER_PRODUCER];
    atomic_int next;
};

static void *produce(void *arg)
{
    struct mpmc *m = arg;
    int base = atomic_fetch_add(&m->next, 1) * PER_PRODUCER;
    for (int i = 0; i < rounds(PER_PRODUCER); i++) {
        int v = base + i;
        ck_assert_int_eq(green_chan_send(m->ch, &v), 0);
    }
    return NULL;
}

static void *consume(void *arg)
{
    struct mpmc *m = arg;
    int v, got = 0;
    while (green_chan_recv(m->ch, &v) == 0) {
        ck_assert_int_eq(atomic_fetch_add(&m->seen[v], 1), 0);
        got++;
    }
    ck_assert_int_eq(errno, EPIPE);
    return (void *)(intptr_t)got;
}

CORES_TEST(buffered_many_to_many, 4)
{
    (void)arg;
    struct mpmc *m = calloc(1, sizeof *m);
    m->ch = green_chan_new(sizeof(int), 3);
    green_t *p[PRODUCERS], *c[4];
    for (int i = 0; i < 4; i++)
        c[i] = spawn_on(i, consume, m);
    for (int i = 0; i < PRODUCERS; i++)
        p[i] = spawn_on(i % 4, produce, m);
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(green_join(p[i], NULL), 0);
    ck_assert_int_eq(green_chan_close(m->ch), 0);
    intptr_t total = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        ck_assert_int_eq(green_join(c[i], &r), 0);
        total += (intptr_t)r;
    }
    ck_assert_int_eq(total, PRODUCERS * rounds(PER_PRODUCER));
    green_chan_free(m->ch);
    free(m);
    return NULL;
}

/* A select over two channels fed from two other schedulers at once: one
 * case fires per select, and every value sent is received once. */
struct two {
    green_chan_t *a, *b;
    int n;
};

static void *send_on_a(void *arg)
{
    struct two *t = arg;
    for (int i = 0; i < t->n; i++)
        ck_assert_int_eq(green_chan_send(t->a, &i), 0);
    return NULL;
}

static void *send_on_b(void *arg)
{
    struct two *t = arg;
    for (int i = 0; i < t->n; i++)
        ck_assert_int_eq(green_chan_send(t->b, &i), 0);
    return NULL;
}

CORES_TEST(select_fed_from_two_schedulers, 3)
{
    (void)arg;
    struct two t = {green_chan_new(sizeof(int), 0), green_chan_new(sizeof(int), 0),
                    rounds(10000)};
    green_t *sa = spawn_on(1, send_on_a, &t), *sb = spawn_on(2, send_on_b, &t);
    int va = 0, vb = 0, next[2] = {0, 0};
    for (int i = 0; i < 2 * t.n; i++) {
        green_case_t cases[] = {
            {t.a, GREEN_RECV, &va, 0},
            {t.b, GREEN_RECV, &vb, 0},
        };
        int k = green_select(cases, 2);
        ck_assert_int_ge(k, 0);
        ck_assert_int_eq(cases[k].err, 0);
        ck_assert_int_eq(k == 0 ? va : vb, next[k]);  /* in order, none lost */
        next[k]++;
    }
    ck_assert_int_eq(next[0], t.n);
    ck_assert_int_eq(next[1], t.n);
    ck_assert_int_eq(green_join(sa, NULL), 0);
    ck_assert_int_eq(green_join(sb, NULL), 0);
    green_chan_free(t.a);
    green_chan_free(t.b);
    return NULL;
}

/* Both ends give up at their deadlines while the other may be completing
 * the exchange: a send reported done was received exactly once, and one
 * that failed was not received at all. */
struct racing {
    green_chan_t *ch;
    int n;
    atomic_uchar sent[4000], received[4000];
};

static void *send_with_deadlines(void *arg)
{
    struct racing *r = arg;
    for (int i = 0; i < r->n; i++) {
        green_deadline(green_now() + i % 3);
        if (green_chan_send(r->ch, &i) == 0)
            atomic_store(&r->sent[i], 1);
        else
            ck_assert_int_eq(errno, ETIMEDOUT);
        green_deadline(GREEN_NEVER);
    }
    int end = -1;
    ck_assert_int_eq(green_chan_send(r->ch, &end), 0);
    return NULL;
}

CORES_TEST(deadlines_race_the_partner, 2)
{
    (void)arg;
    struct racing *r = calloc(1, sizeof *r);
    r->ch = green_chan_new(sizeof(int), 0);
    r->n = rounds(4000);
    green_t *t = spawn_on(1, send_with_deadlines, r);
    for (int i = 0;; i++) {
        int v = -2;
        green_deadline(green_now() + i % 2);
        int rc = green_chan_recv(r->ch, &v);
        green_deadline(GREEN_NEVER);
        if (rc < 0) {
            ck_assert_int_eq(errno, ETIMEDOUT);
            continue;
        }
        if (v == -1)
            break;
        ck_assert_int_eq(atomic_fetch_add(&r->received[v], 1), 0);
    }
    ck_assert_int_eq(green_join(t, NULL), 0);
    for (int i = 0; i < r->n; i++)
        ck_assert_int_eq(r->sent[i], r->received[i]);
    green_chan_free(r->ch);
    free(r);
    return NULL;
}

/* Close and free wake the threads parked on the channel on other
 * schedulers with EPIPE; a freed channel goes when the last of them has
 * left it. */
static void *recv_expect_epipe(void *arg)
{
    int v;
    ck_assert_int_eq(green_chan_recv(arg, &v), -1);
    ck_assert_int_eq(errno, EPIPE);
    return NULL;
}

static void *select_expect_epipe(void *arg)
{
    green_chan_t **chs = arg;
    int v;
    green_case_t cases[] = {{chs[0], GREEN_RECV, &v, 0}, {chs[1], GREEN_RECV, &v, 0}};
    int k = green_select(cases, 2);
    ck_assert_int_eq(k, 0);
    ck_assert_int_eq(cases[0].err, EPIPE);
    return NULL;
}

/* Yields until green_dump shows n threads parked in a wait described
 * as what. */
static void wait_parked(const char *what, int n)
{
    for (;;) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        green_dump(f);
        fclose(f);
        int found = 0;
        for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
            found++;
        free(text);
        if (found >= n)
            return;
        green_yield();
    }
}

CORES_TEST(close_and_free_wake_every_scheduler, 3)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *a = spawn_on(1, recv_expect_epipe, ch), *b = spawn_on(2, recv_expect_epipe, ch);
    wait_parked("chan recv", 2);
    ck_assert_int_eq(green_chan_close(ch), 0);
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    green_chan_free(ch);

    green_chan_t *chs[2] = {green_chan_new(sizeof(int), 0), green_chan_new(sizeof(int), 0)};
    a = spawn_on(1, select_expect_epipe, chs);
    b = spawn_on(2, select_expect_epipe, chs);
    wait_parked("select over 2 cases", 2);
    green_chan_free(chs[0]);  /* they leave chs[1] when they run */
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    green_chan_free(chs[1]);
    return NULL;
}

/* A select parked on another scheduler is cancelled from here; a select
 * over more cases than fit on the stack works across as well. */
static void *select_many(void *arg)
{
    green_chan_t **chs = arg;
    int v = 0;
    green_case_t cases[12];
    for (int i = 0; i < 12; i++)
        cases[i] = (green_case_t){chs[i % 3], GREEN_RECV, &v, 0};
    int k = green_select(cases, 12);
    return (void *)(intptr_t)(k < 0 ? -errno : v);
}

CORES_TEST(cancel_and_wide_select_across, 2)
{
    (void)arg;
    green_chan_t *chs[3];
    for (int i = 0; i < 3; i++)
        chs[i] = green_chan_new(sizeof(int), 0);
    green_t *t = spawn_on(1, select_many, chs);
    wait_parked("select over 12 cases", 1);
    ck_assert_int_eq(green_cancel(t), 0);
    void *r;
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, -ECANCELED);

    t = spawn_on(1, select_many, chs);
    int v = 42;
    ck_assert_int_eq(green_chan_send(chs[2], &v), 0);
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, 42);
    for (int i = 0; i < 3; i++)
        green_chan_free(chs[i]);
    return NULL;
}

/* A channel in use by a run belongs to it: a plain green_run on another
 * OS thread gets EXDEV, as between two green_runs. */
static green_chan_t *shared_ch;
static atomic_int other_err;

static void *other_run_main(void *arg)
{
    (void)arg;
    int v = 0;
    atomic_store(&other_err, green_chan_trysend(shared_ch, &v) < 0 ? errno : 0);
    return NULL;
}

static void *other_run(void *arg)
{
    (void)arg;
    ck_assert_int_eq(green_run(other_run_main, NULL), 0);
    return NULL;
}

CORES_TEST(run_owns_its_channels, 2)
{
    (void)arg;
    shared_ch = green_chan_new(sizeof(int), 0);
    green_t *t = spawn_on(1, recv_expect_epipe, shared_ch);
    wait_parked("chan recv", 1);
    ck_assert_int_eq(green_offload(other_run, NULL, NULL), 0);
    ck_assert_int_eq(atomic_load(&other_err), EXDEV);
    ck_assert_int_eq(green_chan_close(shared_ch), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    green_chan_free(shared_ch);
    return NULL;
}

/* Every thread waits on a channel nobody will use: a deadlock across
 * the run, reported and broken. */
static void *recv_forever(void *arg)
{
    int v;
    (void)green_chan_recv(arg, &v);
    return NULL;
}

static void *chan_deadlock_main(void *arg)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *t = spawn_on(1, recv_forever, ch);
    recv_forever(ch);
    green_join(t, NULL);
    green_chan_free(ch);
    return NULL;
}

START_TEST(channel_deadlock_across)
{
    stderr_begin();
    int r = green_run_attr(&(green_run_attr_t){.schedulers = 2}, chan_deadlock_main, NULL);
    int err = errno;
    char *text = stderr_end();
    ck_assert_int_eq(r, -1);
    ck_assert_int_eq(err, EDEADLK);
    ck_assert_ptr_nonnull(strstr(text, "chan recv"));
    free(text);
}
END_TEST

#ifdef GREEN_FAULTS
#include "fault.h"

/* A wide select in a run needs memory for its set of channels. */
static void *wide_select_enomem_main(void *arg)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 1);
    int v = 0;
    green_case_t cases[10];
    for (int i = 0; i < 10; i++)
        cases[i] = (green_case_t){ch, GREEN_RECV, &v, 0};
    green__fault_set(GREEN__FAULT_malloc, 1, true, ENOMEM);
    errno = 0;
    ck_assert_int_eq(green_select(cases, 10), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green_chan_send(ch, &(int){7}), 0);
    v = 0;
    ck_assert_int_ge(green_select(cases, 10), 0);
    ck_assert_int_eq(v, 7);
    green_chan_free(ch);
    return NULL;
}

START_TEST(wide_select_enomem)
{
    run_on(2, wide_select_enomem_main, NULL);
}
END_TEST
#endif

Suite *across_suite(void)
{
    Suite *s = suite_create("across");
    TCase *tc = tcase_create("chan");
    tcase_add_test(tc, unbuffered_both_ways);
    tcase_add_test(tc, buffered_many_to_many);
    tcase_add_test(tc, select_fed_from_two_schedulers);
    tcase_add_test(tc, deadlines_race_the_partner);
    tcase_add_test(tc, close_and_free_wake_every_scheduler);
    tcase_add_test(tc, cancel_and_wide_select_across);
    tcase_add_test(tc, run_owns_its_channels);
    tcase_add_test(tc, channel_deadlock_across);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, wide_select_enomem);
    suite_add_tcase(s, faults);
    return s;
}
