/* The offload pool: green_offload and green_offload_threads. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sched.h"
#include "util.h"

static void *plus_one(void *arg)
{
    return (void *)((uintptr_t)arg + 1);
}

GREEN_TEST(offload_returns_result)
{
    (void)arg;
    void *r = NULL;
    ck_assert_int_eq(green_offload(plus_one, (void *)41, &r), 0);
    ck_assert_ptr_eq(r, (void *)42);
    ck_assert_int_eq(green_offload(plus_one, NULL, NULL), 0);  /* result not wanted */
    return NULL;
}
END_TEST

/* fn really runs on another OS thread. */
static void *whose_thread(void *arg)
{
    (void)arg;
    return (void *)pthread_self();
}

GREEN_TEST(offload_runs_elsewhere)
{
    (void)arg;
    void *r;
    ck_assert_int_eq(green_offload(whose_thread, NULL, &r), 0);
    ck_assert(!pthread_equal((pthread_t)r, pthread_self()));
    return NULL;
}
END_TEST

START_TEST(offload_outside_runs_inline)
{
    void *r = NULL;
    ck_assert_int_eq(green_offload(plus_one, (void *)1, &r), 0);
    ck_assert_ptr_eq(r, (void *)2);
    ck_assert_int_eq(green_offload(whose_thread, NULL, &r), 0);
    ck_assert(pthread_equal((pthread_t)r, pthread_self()));
}
END_TEST

GREEN_TEST(offload_errors)
{
    (void)arg;
    ck_assert_int_eq(green_offload(NULL, NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_offload_threads(1025), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_deadline(green_now() - 1);
    ck_assert_int_eq(green_offload(plus_one, NULL, NULL), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    green_cancel(green_self());
    ck_assert_int_eq(green_offload(plus_one, NULL, NULL), -1);
    ck_assert_int_eq(errno, ECANCELED);
    return NULL;
}
END_TEST

/* Many green threads offload at once, more than the pool has workers;
 * each gets its own result, and the pool never runs more than its size. */
enum { CALLERS = 200, POOL = 3 };
static atomic_int active, most;

static void *busy_plus_one(void *arg)
{
    int now = atomic_fetch_add(&active, 1) + 1;
    int seen = atomic_load(&most);
    while (now > seen && !atomic_compare_exchange_weak(&most, &seen, now))
        ;
    struct timespec ts = {0, 200 * 1000};  /* overlap the callers: not a wait for anything */
    nanosleep(&ts, NULL);
    atomic_fetch_sub(&active, 1);
    return plus_one(arg);
}

static void *caller(void *arg)
{
    void *r;
    ck_assert_int_eq(green_offload(busy_plus_one, arg, &r), 0);
    ck_assert_ptr_eq(r, (void *)((uintptr_t)arg + 1));
    return NULL;
}

GREEN_TEST(offload_many_callers)
{
    (void)arg;
    ck_assert_int_eq(green_offload_threads(POOL), 0);
    green_t *t[CALLERS];
    for (uintptr_t i = 0; i < CALLERS; i++)
        t[i] = green_spawn(caller, (void *)(i * 10));
    for (int i = 0; i < CALLERS; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
    ck_assert_int_ge(atomic_load(&most), 1);
    ck_assert_int_le(atomic_load(&most), POOL);
    ck_assert_int_eq(green_offload_threads(0), 0);  /* the default again */
    return NULL;
}
END_TEST

/* A call that blocks on a pipe until the test lets it go, then says so on
 * a second pipe: the worker runs it to the end after the caller left. */
static int started[2], gate[2], finished[2];

static void *blocked_call(void *arg)
{
    char c;
    ck_assert_int_eq(write(started[1], "s", 1), 1);
    ck_assert_int_eq(read(gate[0], &c, 1), 1);
    ck_assert_int_eq(write(finished[1], "f", 1), 1);
    return arg;
}

static void *offload_blocked(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)(green_offload(blocked_call, NULL, NULL) < 0 ? errno : 0);
}

GREEN_TEST(offload_cancelled)
{
    (void)arg;
    make_pipe(started);
    make_pipe(gate);
    make_pipe(finished);
    green_t *t = green_spawn(offload_blocked, NULL);
    char c;
    ck_assert_int_eq(green_read(started[0], &c, 1), 1);  /* a worker runs it */
    ck_assert_int_eq(green_cancel(t), 0);
    void *err;
    ck_assert_int_eq(green_join(t, &err), 0);
    ck_assert_int_eq((intptr_t)err, ECANCELED);
    /* The worker still holds the call: let it finish. */
    ck_assert_int_eq(green_write(gate[1], "g", 1), 1);
    ck_assert_int_eq(green_read(finished[0], &c, 1), 1);
    return NULL;
}
END_TEST

/* The deadline may pass before a worker takes the call or after: either
 * way the caller gets ETIMEDOUT, and the gate lets a running call end. */
GREEN_TEST(offload_deadline)
{
    (void)arg;
    make_pipe(started);
    make_pipe(gate);
    make_pipe(finished);
    green_deadline(green_now() + 20);
    ck_assert_int_eq(green_offload(blocked_call, NULL, NULL), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(green_write(gate[1], "g", 1), 1);
    return NULL;
}
END_TEST

/* A call still queued when its caller is cancelled never runs. */
static atomic_int ran;

static void *count_run(void *arg)
{
    atomic_fetch_add(&ran, 1);
    return arg;
}

static void *offload_count(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)(green_offload(count_run, NULL, NULL) < 0 ? errno : 0);
}

GREEN_TEST(offload_queued_cancelled)
{
    (void)arg;
    make_pipe(started);
    make_pipe(gate);
    make_pipe(finished);
    ck_assert_int_eq(green_offload_threads(1), 0);
    green_t *blocker = green_spawn(offload_blocked, NULL);  /* holds the one worker */
    char c;
    ck_assert_int_eq(green_read(started[0], &c, 1), 1);
    green_t *queued = green_spawn(offload_count, NULL);
    green_yield();
    green_cancel(queued);
    void *err;
    ck_assert_int_eq(green_join(queued, &err), 0);
    ck_assert_int_eq((intptr_t)err, ECANCELED);
    ck_assert_int_eq(green_write(gate[1], "g", 1), 1);
    ck_assert_int_eq(green_join(blocker, &err), 0);
    ck_assert_int_eq((intptr_t)err, 0);
    /* The worker is free again; a new call runs, the cancelled one did not. */
    ck_assert_int_eq(green_offload(count_run, NULL, NULL), 0);
    ck_assert_int_eq(atomic_load(&ran), 1);
    ck_assert_int_eq(green_read(finished[0], &c, 1), 1);
    return NULL;
}
END_TEST

/* While a call is offloaded, every green thread may be parked: that is
 * not a deadlock, since the worker will wake one. */
static void *slow(void *arg)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return arg;
}

GREEN_TEST(offload_is_not_deadlock)
{
    (void)arg;
    void *r;
    ck_assert_int_eq(green_offload(slow, (void *)7, &r), 0);
    ck_assert_ptr_eq(r, (void *)7);
    return NULL;
}
END_TEST

/* Two schedulers on two OS threads offload at once. */
static void *offload_in_run(void *arg)
{
    for (int i = 0; i < 100; i++) {
        void *r;
        ck_assert_int_eq(green_offload(plus_one, arg, &r), 0);
        ck_assert_ptr_eq(r, (void *)((uintptr_t)arg + 1));
    }
    return NULL;
}

static void *os_thread(void *arg)
{
    return (void *)(intptr_t)green_run(offload_in_run, arg);
}

START_TEST(offload_from_two_schedulers)
{
    pthread_t a, b;
    ck_assert_int_eq(pthread_create(&a, NULL, os_thread, (void *)100), 0);
    ck_assert_int_eq(pthread_create(&b, NULL, os_thread, (void *)200), 0);
    void *ra, *rb;
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    ck_assert_ptr_null(ra);
    ck_assert_ptr_null(rb);
}
END_TEST

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

static void *nothing(void *arg)
{
    return arg;
}

/* Without an eventfd (ENOSYS) the inbox is a pipe, and works. */
GREEN_TEST(inbox_falls_back_to_pipe)
{
    (void)arg;
    void *r = NULL;
    green__fault_set(GREEN__FAULT_eventfd, 1, true, ENOSYS);
    ck_assert_int_eq(green_offload(nothing, (void *)5, &r), 0);
    ck_assert_ptr_eq(r, (void *)5);
    green__fault_clear();
    return NULL;
}

/* An inbox whose fd the poller refuses (epoll_ctl: ENOMEM) fails the
 * offload, leaves nothing open, and is made afresh by the next. */
GREEN_TEST(inbox_refused_by_poller)
{
    (void)arg;
    void *r = NULL;
    green__fault_set(GREEN__FAULT_epoll_ctl, 1, true, ENOMEM);
    int got = green_offload(nothing, (void *)6, &r);
    int err = errno;
    green__fault_clear();
    if (strcmp(green_poller_name(), "epoll") == 0) {
        ck_assert_int_eq(got, -1);
        ck_assert_int_eq(err, ENOMEM);
        ck_assert_int_eq(green__cur->inbox.rfd, -1);  /* closed again */
    } else {
        ck_assert_int_eq(got, 0);  /* poll tells the kernel nothing */
    }
    ck_assert_int_eq(green_offload(nothing, (void *)7, &r), 0);
    ck_assert_ptr_eq(r, (void *)7);
    return NULL;
}

/* No worker can be started and none runs: EAGAIN, and nothing is left
 * queued; the next offload starts one. */
GREEN_TEST(offload_without_a_worker)
{
    (void)arg;
    void *r = NULL;
    green__fault_set(GREEN__FAULT_pthread_create, 1, true, EAGAIN);
    ck_assert_int_eq(green_offload(nothing, (void *)3, &r), -1);
    ck_assert_int_eq(errno, EAGAIN);
    green__fault_clear();
    ck_assert_int_eq(green_offload(nothing, (void *)4, &r), 0);
    ck_assert_ptr_eq(r, (void *)4);
    return NULL;
}
#endif

Suite *offload_suite(void)
{
    Suite *s = suite_create("offload");
    TCase *tc = tcase_create("offload");
    tcase_add_test(tc, offload_returns_result);
    tcase_add_test(tc, offload_runs_elsewhere);
    tcase_add_test(tc, offload_outside_runs_inline);
    tcase_add_test(tc, offload_errors);
    tcase_add_test(tc, offload_many_callers);
    tcase_add_test(tc, offload_cancelled);
    tcase_add_test(tc, offload_deadline);
    tcase_add_test(tc, offload_queued_cancelled);
    tcase_add_test(tc, offload_is_not_deadlock);
    tcase_add_test(tc, offload_from_two_schedulers);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, inbox_falls_back_to_pipe);
    add_fault_test(faults, inbox_refused_by_poller);
    add_fault_test(faults, offload_without_a_worker);
    suite_add_tcase(s, faults);
    return s;
}
