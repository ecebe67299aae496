/* Time: green_now, green_sleep, green_deadline, and the timer heap. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "timer.h"
#include "util.h"

START_TEST(now_is_monotonic)
{
    int64_t a = green_now();
    ck_assert_int_gt(a, 0);
    usleep(2000);
    ck_assert_int_ge(green_now(), a + 2);
}
END_TEST

GREEN_TEST(sleep_waits)
{
    (void)arg;
    int64_t start = green_now();
    ck_assert_int_eq(green_sleep(30), 0);
    ck_assert_int_ge(green_now() - start, 30);
    return NULL;
}

START_TEST(sleep_outside)
{
    int64_t start = green_now();
    ck_assert_int_eq(green_sleep(5), 0);
    ck_assert_int_ge(green_now() - start, 5);
    ck_assert_int_eq(green_sleep(-1), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

GREEN_TEST(sleep_negative)
{
    (void)arg;
    errno = 0;
    ck_assert_int_eq(green_sleep(-1), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

static void *sleep_forever(void *arg)
{
    *(int *)arg = green_sleep(INT64_MAX) < 0 ? errno : 0;
    return NULL;
}

GREEN_TEST(sleep_longest)
{
    (void)arg;
    int err = 0;
    green_t *t = green_spawn(sleep_forever, &err);
    green_yield();
    green_cancel(t);
    green_join(t, NULL);
    ck_assert_int_eq(err, ECANCELED);
    return NULL;
}

static int ticks;

static void *tick(void *arg)
{
    (void)arg;
    ticks++;
    return NULL;
}

GREEN_TEST(sleep_zero_yields)
{
    (void)arg;
    green_t *t = green_spawn(tick, NULL);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(ticks, 1);
    green_join(t, NULL);
    return NULL;
}

static int64_t woke[8];
static int nwoke;

/* Records when its sleep was due: each sleeper takes its own now, so a
 * slow start (Valgrind on a loaded machine) can move the due times, but
 * never the order they wake in. */
static void *sleep_then_record(void *arg)
{
    int ms = (int)(intptr_t)arg;
    int64_t due = green_now() + ms;
    green_sleep(ms);
    woke[nwoke++] = due;
    return NULL;
}

GREEN_TEST(sleepers_wake_in_order)
{
    (void)arg;
    static const int ms[] = {60, 20, 40, 1, 30};
    green_t *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = green_spawn(sleep_then_record, (void *)(intptr_t)ms[i]);
    for (int i = 0; i < 5; i++)
        green_join(t[i], NULL);
    ck_assert_int_eq(nwoke, 5);
    /* Within the millisecond the clock may move between this now and the
     * sleep's own. */
    for (int i = 1; i < 5; i++)
        ck_assert_int_le(woke[i - 1], woke[i] + 1);
    return NULL;
}

GREEN_TEST(deadline_scope)
{
    (void)arg;
    ck_assert_int_eq(green_deadline(1000), -1);
    ck_assert_int_eq(green_deadline(2000), 1000);
    ck_assert_int_eq(green_deadline(-5), 2000);  /* any negative: none */
    ck_assert_int_eq(green_deadline(GREEN_NEVER), -1);
    return NULL;
}

START_TEST(deadline_outside)
{
    errno = 0;
    ck_assert_int_eq(green_deadline(100), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

GREEN_TEST(deadline_cuts_sleep)
{
    (void)arg;
    int64_t start = green_now();
    green_deadline(start + 20);
    ck_assert_int_eq(green_sleep(100000), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_ge(green_now() - start, 20);
    ck_assert_int_lt(green_now() - start, 50000);
    /* A deadline later than the sleep does not shorten it or fail it. */
    green_deadline(green_now() + 100000);
    ck_assert_int_eq(green_sleep(1), 0);
    return NULL;
}

GREEN_TEST(deadline_passed)
{
    (void)arg;
    green_deadline(green_now() - 1);
    int64_t start = green_now();
    ck_assert_int_eq(green_sleep(100000), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_lt(green_now() - start, 50000);
    /* green_sleep(0) cannot park, so it does not time out. */
    ck_assert_int_eq(green_sleep(0), 0);
    return NULL;
}

static void *deadline_of_child(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)green_deadline(GREEN_NEVER);
}

GREEN_TEST(deadline_is_per_thread)
{
    (void)arg;
    green_deadline(green_now() + 100000);
    void *r;
    green_join(green_spawn(deadline_of_child, NULL), &r);
    ck_assert_int_eq((intptr_t)r, -1);
    return NULL;
}

/* The timer heap, against a sorted reference. */

static int by_time(const void *a, const void *b)
{
    const struct green__timer *x = *(struct green__timer *const *)a;
    const struct green__timer *y = *(struct green__timer *const *)b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

START_TEST(timer_heap_order)
{
    enum { N = 2000 };
    static struct green__timer tm[N];
    struct green__timer *ref[N];
    struct green__timers q = {0};
    size_t nref = 0;
    srand(12345);
    ck_assert_int_eq(green__timers_reserve(&q, N), 0);
    for (int i = 0; i < N; i++) {
        tm[i].at = rand() % 500;  /* many ties */
        green__timers_add(&q, &tm[i]);
    }
    /* Remove a third from the middle. */
    for (int i = 0; i < N; i += 3)
        green__timers_remove(&q, &tm[i]);
    green__timers_remove(&q, &tm[0]);  /* twice is harmless */
    for (int i = 0; i < N; i++)
        if (i % 3)
            ref[nref++] = &tm[i];
    qsort(ref, nref, sizeof ref[0], by_time);
    ck_assert_uint_eq(q.n, nref);
    for (size_t i = 0; i < nref; i++) {
        struct green__timer *first = green__timers_first(&q);
        ck_assert_ptr_eq(first, ref[i]);
        green__timers_remove(&q, first);
        ck_assert_uint_eq(first->idx, 0);
    }
    ck_assert_ptr_null(green__timers_first(&q));
    green__timers_fini(&q);
}
END_TEST

Suite *sleep_suite(void)
{
    Suite *s = suite_create("sleep");
    TCase *tc = tcase_create("sleep");
    tcase_add_test(tc, now_is_monotonic);
    tcase_add_test(tc, sleep_waits);
    tcase_add_test(tc, sleep_outside);
    tcase_add_test(tc, sleep_negative);
    tcase_add_test(tc, sleep_zero_yields);
    tcase_add_test(tc, sleep_longest);
    tcase_add_test(tc, sleepers_wake_in_order);
    tcase_add_test(tc, deadline_scope);
    tcase_add_test(tc, deadline_outside);
    tcase_add_test(tc, deadline_cuts_sleep);
    tcase_add_test(tc, deadline_passed);
    tcase_add_test(tc, deadline_is_per_thread);
    tcase_add_test(tc, timer_heap_order);
    suite_add_tcase(s, tc);
    return s;
}
