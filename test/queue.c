/* Cross-thread queues: green_queue_*, within one scheduler, across OS
 * threads' schedulers, and with plain OS threads. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

GREEN_TEST(queue_fifo_and_errors)
{
    (void)arg;
    ck_assert_ptr_null(green_queue_new(sizeof(int), 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(green_queue_new(SIZE_MAX / 2, 4));
    ck_assert_int_eq(errno, EINVAL);
    green_queue_t *q = green_queue_new(sizeof(int), 3);
    ck_assert_ptr_nonnull(q);
    for (int i = 1; i <= 3; i++)
        ck_assert_int_eq(green_queue_trysend(q, &i), 0);
    int v = 4;
    ck_assert_int_eq(green_queue_trysend(q, &v), -1);
    ck_assert_int_eq(errno, EAGAIN);
    for (int i = 1; i <= 3; i++) {
        ck_assert_int_eq(green_queue_recv(q, &v), 0);
        ck_assert_int_eq(v, i);
    }
    ck_assert_int_eq(green_queue_tryrecv(q, &v), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(green_queue_send(NULL, &v), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_queue_send(q, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_queue_recv(q, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* Closed: what is queued is still received, then EPIPE. */
    v = 4;
    ck_assert_int_eq(green_queue_send(q, &v), 0);
    ck_assert_int_eq(green_queue_close(q), 0);
    ck_assert_int_eq(green_queue_close(q), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(green_queue_send(q, &v), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(green_queue_recv(q, &v), 0);
    ck_assert_int_eq(v, 4);
    ck_assert_int_eq(green_queue_recv(q, &v), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(green_queue_close(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_queue_free(q), 0);
    ck_assert_int_eq(green_queue_free(NULL), 0);
    /* Values of size 0: a count of events. */
    q = green_queue_new(0, 1);
    ck_assert_int_eq(green_queue_send(q, NULL), 0);
    ck_assert_int_eq(green_queue_recv(q, NULL), 0);
    green_queue_free(q);
    return NULL;
}
END_TEST

static void *recv_one(void *arg)
{
    int v;
    if (green_queue_recv(arg, &v) < 0)
        return (void *)(intptr_t)-errno;
    return (void *)(intptr_t)v;
}

static void *send_cancelled(void *arg)
{
    green_cancel(green_self());
    int v = 3;
    if (green_queue_send(arg, &v) == 0)
        return NULL;
    int err = errno;
    return (void *)(intptr_t)(green_queue_trysend(arg, &v) == 0 &&
                              green_queue_tryrecv(arg, &v) == 0 ? err : -1);
}

GREEN_TEST(queue_parks_deadline_cancel)
{
    (void)arg;
    green_queue_t *q = green_queue_new(sizeof(int), 1);
    int v = 9;
    green_deadline(green_now() + 20);
    ck_assert_int_eq(green_queue_recv(q, &v), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_eq(green_queue_send(q, &v), 0);
    ck_assert_int_eq(green_queue_send(q, &v), -1);  /* full */
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(green_queue_recv(q, &v), 0);
    /* A parked receiver: busy, then cancelled. */
    green_t *t = green_spawn(recv_one, q);
    green_yield();
    ck_assert_int_eq(green_queue_free(q), -1);
    ck_assert_int_eq(errno, EBUSY);
    green_cancel(t);
    void *r;
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, -ECANCELED);
    /* A cancelled caller's send fails even with room, and sends nothing;
     * the try calls are no cancellation points. */
    t = green_spawn(send_cancelled, q);
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, ECANCELED);
    ck_assert_int_eq(green_queue_tryrecv(q, &v), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* Close wakes a parked receiver with EPIPE. */
    t = green_spawn(recv_one, q);
    green_yield();
    green_queue_close(q);
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, -EPIPE);
    ck_assert_int_eq(green_queue_free(q), 0);
    return NULL;
}
END_TEST

/* A receiver woken for a value but cancelled before it could take it
 * passes the wake-up on: the value reaches the next receiver. */
GREEN_TEST(queue_wakeup_passed_on)
{
    (void)arg;
    green_queue_t *q = green_queue_new(sizeof(int), 1);
    green_t *a = green_spawn(recv_one, q), *b = green_spawn(recv_one, q);
    green_yield();  /* both parked, a first */
    int v = 5;
    ck_assert_int_eq(green_queue_trysend(q, &v), 0);  /* wakes a, through the inbox */
    green_cancel(a);  /* before a runs */
    void *r;
    ck_assert_int_eq(green_join(a, &r), 0);
    ck_assert_int_eq((intptr_t)r, -ECANCELED);
    ck_assert_int_eq(green_join(b, &r), 0);
    ck_assert_int_eq((intptr_t)r, 5);
    green_queue_free(q);
    return NULL;
}
END_TEST

/* Producers on two OS threads (one with green threads, one plain) and
 * consumers on a third: every value arrives once, and the values of one
 * producer arrive at each consumer in the order they were sent. */
enum { GREEN_PRODUCERS = 4, PER_PRODUCER = 5000, CONSUMERS = 3, PRODUCERS = GREEN_PRODUCERS + 1 };

static green_queue_t *shared;

static uint32_t value(int producer, int seq)
{
    return (uint32_t)producer << 24 | (uint32_t)seq;
}

static void send_all(int producer)
{
    /* The loops check without an assertion that passes: each costs Check
     * a write(2) (its mark point), which under Valgrind dominated. */
    for (int i = 0; i < PER_PRODUCER; i++) {
        uint32_t v = value(producer, i);
        if (green_queue_send(shared, &v) != 0)
            ck_abort_msg("producer %d: send %d failed: %s", producer, i, strerror(errno));
    }
}

static void *green_producer(void *arg)
{
    send_all((int)(intptr_t)arg);
    return NULL;
}

static void *producers_main(void *arg)
{
    (void)arg;
    green_t *t[GREEN_PRODUCERS];
    for (intptr_t i = 0; i < GREEN_PRODUCERS; i++)
        t[i] = green_spawn(green_producer, (void *)i);
    for (int i = 0; i < GREEN_PRODUCERS; i++)
        green_join(t[i], NULL);
    return NULL;
}

static void *producers_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)green_run(producers_main, NULL);
}

static void *plain_producer(void *arg)
{
    (void)arg;
    send_all(GREEN_PRODUCERS);  /* outside green_run: it blocks */
    return NULL;
}

struct tally {
    long count;
    uint64_t sum;
    int last[PRODUCERS];
};

static void *consumer(void *arg)
{
    struct tally *t = arg;
    for (int i = 0; i < PRODUCERS; i++)
        t->last[i] = -1;
    uint32_t v;
    while (green_queue_recv(shared, &v) == 0) {
        int p = (int)(v >> 24), seq = (int)(v & 0xffffff);
        if (p >= PRODUCERS || seq <= t->last[p])
            ck_abort_msg("received %d from producer %d after %d", seq, p,
                         p < PRODUCERS ? t->last[p] : -1);
        t->last[p] = seq;
        t->count++;
        t->sum += v;
    }
    ck_assert_int_eq(errno, EPIPE);
    return NULL;
}

static struct tally tallies[CONSUMERS];

static void *consumers_main(void *arg)
{
    (void)arg;
    green_t *t[CONSUMERS];
    for (int i = 0; i < CONSUMERS; i++)
        t[i] = green_spawn(consumer, &tallies[i]);
    for (int i = 0; i < CONSUMERS; i++)
        green_join(t[i], NULL);
    return NULL;
}

static void *consumers_thread(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)green_run(consumers_main, NULL);
}

START_TEST(queue_across_os_threads)
{
    shared = green_queue_new(sizeof(uint32_t), 8);
    pthread_t cons, prod, plain;
    ck_assert_int_eq(pthread_create(&cons, NULL, consumers_thread, NULL), 0);
    ck_assert_int_eq(pthread_create(&prod, NULL, producers_thread, NULL), 0);
    ck_assert_int_eq(pthread_create(&plain, NULL, plain_producer, NULL), 0);
    void *r;
    pthread_join(prod, &r);
    ck_assert_ptr_null(r);
    pthread_join(plain, NULL);
    ck_assert_int_eq(green_queue_close(shared), 0);
    pthread_join(cons, &r);
    ck_assert_ptr_null(r);
    long count = 0;
    uint64_t sum = 0, want = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        count += tallies[i].count;
        sum += tallies[i].sum;
    }
    for (int p = 0; p < PRODUCERS; p++)
        for (int i = 0; i < PER_PRODUCER; i++)
            want += value(p, i);
    ck_assert_int_eq(count, (long)PRODUCERS * PER_PRODUCER);
    ck_assert_uint_eq(sum, want);
    ck_assert_int_eq(green_queue_free(shared), 0);
}
END_TEST

/* A plain OS thread blocked in recv is woken by a green sender. */
static void *plain_receiver(void *arg)
{
    int v = 0;
    if (green_queue_recv(arg, &v) < 0)
        return NULL;
    return (void *)(intptr_t)v;
}

static void *send_seven(void *arg)
{
    int v = 7;
    ck_assert_int_eq(green_queue_send(arg, &v), 0);
    return NULL;
}

START_TEST(queue_wakes_plain_thread)
{
    green_queue_t *q = green_queue_new(sizeof(int), 1);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, plain_receiver, q), 0);
    run_green(send_seven, q);
    void *r;
    pthread_join(t, &r);
    ck_assert_int_eq((intptr_t)r, 7);
    green_queue_free(q);
}
END_TEST

Suite *queue_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("queue");
    tcase_add_test(tc, queue_fifo_and_errors);
    tcase_add_test(tc, queue_parks_deadline_cancel);
    tcase_add_test(tc, queue_wakeup_passed_on);
    tcase_add_test(tc, queue_across_os_threads);
    tcase_add_test(tc, queue_wakes_plain_thread);
    suite_add_tcase(s, tc);
    return s;
}
