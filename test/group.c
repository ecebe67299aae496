/* Groups and gather. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "util.h"
#ifdef GREEN_FAULTS
#include "fault.h"
#endif

static void *return_arg(void *arg)
{
    return arg;
}

/* Sleeps long; records how its sleep ended in *arg (0 or an errno). */
static void *sleeper(void *arg)
{
    int *result = arg;
    *result = green_sleep(100000) < 0 ? errno : 0;
    return NULL;
}

static void *nap(void *arg)
{
    green_sleep((int)(intptr_t)arg);
    return arg;
}

START_TEST(group_outside)
{
    errno = 0;
    ck_assert_ptr_null(green_group_new());
    ck_assert_int_eq(errno, EPERM);
    errno = 0;
    ck_assert_ptr_null(green_group_spawn(NULL, NULL, NULL));
    ck_assert_int_eq(errno, EPERM);
    errno = 0;
    ck_assert_int_eq(green_group_wait(NULL), -1);
    ck_assert_int_eq(errno, EPERM);
    errno = 0;
    ck_assert_int_eq(green_group_cancel(NULL), -1);
    ck_assert_int_eq(errno, EPERM);
    green_group_free(NULL);
}
END_TEST

GREEN_TEST(group_waits_for_all)
{
    (void)arg;
    green_group_t *g = green_group_new();
    ck_assert_ptr_nonnull(g);
    green_t *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = green_group_spawn(g, nap, (void *)(intptr_t)(10 * (4 - i)));
    ck_assert_int_eq(green_group_wait(g), 0);
    /* Every member has finished: their results are there to join. */
    for (int i = 0; i < 4; i++) {
        void *r;
        ck_assert_int_eq(green_join(t[i], &r), 0);
        ck_assert_int_eq((intptr_t)r, 10 * (4 - i));
    }
    /* Waiting again, with nothing running, returns at once. */
    ck_assert_int_eq(green_group_wait(g), 0);
    green_group_free(g);
    return NULL;
}

GREEN_TEST(group_spawn_attr_and_detach)
{
    (void)arg;
    green_group_t *g = green_group_new();
    green_t *t = green_group_spawn_attr(g, &(green_attr_t){.name = "member"}, nap, (void *)5);
    ck_assert_str_eq(green_name(t), "member");
    green_t *d = green_group_spawn(g, nap, (void *)10);
    ck_assert_int_eq(green_detach(d), 0);  /* still waited for, then reaped */
    ck_assert_int_eq(green_group_wait(g), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    size_t before = green__cur->nthreads;
    green_group_free(g);
    ck_assert_uint_eq(green__cur->nthreads, before);
    return NULL;
}

GREEN_TEST(group_errors)
{
    (void)arg;
    errno = 0;
    ck_assert_ptr_null(green_group_spawn(NULL, return_arg, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_group_wait(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_group_cancel(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_group_t *g = green_group_new();
    ck_assert_ptr_null(green_group_spawn(g, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(green_group_spawn_attr(g, &(green_attr_t){.stack_size = 1}, return_arg, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_group_wait(g), 0);  /* nothing was added */
    green_group_free(g);
    return NULL;
}

static void *wait_own_group(void *arg)
{
    green_group_t *g = arg;
    return (void *)(intptr_t)(green_group_wait(g) < 0 ? errno : 0);
}

GREEN_TEST(group_wait_from_member)
{
    (void)arg;
    green_group_t *g = green_group_new();
    green_t *t = green_group_spawn(g, wait_own_group, g);
    ck_assert_int_eq(green_group_wait(g), 0);
    void *r;
    green_join(t, &r);
    ck_assert_int_eq((intptr_t)r, EDEADLK);
    green_group_free(g);
    return NULL;
}

GREEN_TEST(group_wait_deadline_cancels_members)
{
    (void)arg;
    green_group_t *g = green_group_new();
    int result[3] = {-1, -1, -1};
    for (int i = 0; i < 3; i++)
        green_group_spawn(g, sleeper, &result[i]);
    green_deadline(green_now() + 20);
    errno = 0;
    ck_assert_int_eq(green_group_wait(g), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    /* Nothing outlived the wait: every member was cancelled and finished. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(result[i], ECANCELED);
    green_group_free(g);
    return NULL;
}

static void *wait_group(void *arg)
{
    green_group_t *g = arg;
    return (void *)(intptr_t)(green_group_wait(g) < 0 ? errno : 0);
}

GREEN_TEST(group_wait_cancelled)
{
    (void)arg;
    green_group_t *g = green_group_new();
    int result = -1;
    green_group_spawn(g, sleeper, &result);
    green_t *w = green_spawn(wait_group, g);
    green_yield();
    green_cancel(w);
    void *r;
    green_join(w, &r);
    ck_assert_int_eq((intptr_t)r, ECANCELED);
    ck_assert_int_eq(result, ECANCELED);
    green_group_free(g);
    return NULL;
}

GREEN_TEST(group_cancel)
{
    (void)arg;
    green_group_t *g = green_group_new();
    int result[2] = {-1, -1};
    green_group_spawn(g, sleeper, &result[0]);
    green_group_spawn(g, sleeper, &result[1]);
    green_yield();
    ck_assert_int_eq(green_group_cancel(g), 0);
    ck_assert_int_eq(green_group_wait(g), 0);
    ck_assert_int_eq(result[0], ECANCELED);
    ck_assert_int_eq(result[1], ECANCELED);
    green_group_free(g);
    return NULL;
}

GREEN_TEST(group_free_cancels_and_frees)
{
    (void)arg;
    size_t before = green__cur->nthreads;
    green_group_t *g = green_group_new();
    int result = -1;
    green_group_spawn(g, sleeper, &result);
    green_group_spawn(g, return_arg, NULL);  /* finishes, never joined */
    green_yield();
    green_group_free(g);
    ck_assert_int_eq(result, ECANCELED);
    ck_assert_uint_eq(green__cur->nthreads, before);
    return NULL;
}

static void *free_own_group(void *arg)
{
    green_group_free(arg);
    return NULL;
}

GREEN_TEST(group_free_from_member)
{
    (void)arg;
    green_group_t *g = green_group_new();
    int result = -1;
    green_group_spawn(g, sleeper, &result);
    green_t *t = green_group_spawn(g, free_own_group, g);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(result, ECANCELED);
    return NULL;
}

/* Left to green_run: members still running when main returns are
 * cancelled, and the group can be freed afterwards. */
static green_group_t *leftover;
static int leftover_result = -1;

static void *leave_group_running(void *arg)
{
    (void)arg;
    leftover = green_group_new();
    green_group_spawn(leftover, sleeper, &leftover_result);
    green_yield();
    return NULL;
}

START_TEST(group_outlived_by_run)
{
    run_green(leave_group_running, NULL);
    ck_assert_int_eq(leftover_result, ECANCELED);
    green_group_free(leftover);
}
END_TEST

/* A group used from another OS thread's scheduler. */
static green_group_t *foreign;

static void *use_foreign(void *arg)
{
    int *err = arg;
    green_failure_t f;
    errno = 0;
    if (green_group_wait(foreign) == 0)
        *err = 0;
    else
        *err = errno;
    /* The group's failures and its next member are not this thread's
     * either. */
    if (green_group_failures(foreign, &f, 1) != -1 || errno != EXDEV)
        *err = -1;
    if (green_group_next(foreign) != NULL || errno != EXDEV)
        *err = -1;
    return NULL;
}

static void *other_os_thread(void *arg)
{
    green_run(use_foreign, arg);
    return NULL;
}

GREEN_TEST(group_other_os_thread)
{
    (void)arg;
    foreign = green_group_new();
    int err = -1;
    pthread_t pt;
    ck_assert_int_eq(pthread_create(&pt, NULL, other_os_thread, &err), 0);
    pthread_join(pt, NULL);
    ck_assert_int_eq(err, EXDEV);
    green_group_free(foreign);
    return NULL;
}

/* gather */

GREEN_TEST(gather_results_in_order)
{
    (void)arg;
    green_t *t[5];
    static const int ms[5] = {30, 10, 20, 1, 5};
    for (int i = 0; i < 5; i++)
        t[i] = green_spawn(nap, (void *)(intptr_t)ms[i]);
    void *results[5];
    ck_assert_int_eq(green_gather(t, 5, results), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq((intptr_t)results[i], ms[i]);
    ck_assert_int_eq(green_gather(NULL, 0, NULL), 0);
    return NULL;
}

GREEN_TEST(gather_errors)
{
    (void)arg;
    green_t *a = green_spawn(return_arg, NULL), *b = green_spawn(return_arg, NULL);
    errno = 0;
    ck_assert_int_eq(green_gather(NULL, 1, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_t *dup[3] = {a, b, a};
    ck_assert_int_eq(green_gather(dup, 3, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_t *self[2] = {a, green_self()};
    ck_assert_int_eq(green_gather(self, 2, NULL), -1);
    ck_assert_int_eq(errno, EDEADLK);
    green_t *null[2] = {a, NULL};
    ck_assert_int_eq(green_gather(null, 2, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* Nothing was joined by the failed calls. */
    green_t *both[2] = {a, b};
    ck_assert_int_eq(green_gather(both, 2, NULL), 0);
    return NULL;
}

START_TEST(gather_outside)
{
    errno = 0;
    ck_assert_int_eq(green_gather(NULL, 0, NULL), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

GREEN_TEST(gather_deadline_leaves_nothing)
{
    (void)arg;
    int result[3] = {-1, -1, -1};
    green_t *t[4];
    t[0] = green_spawn(return_arg, (void *)7);
    for (int i = 0; i < 3; i++)
        t[i + 1] = green_spawn(sleeper, &result[i]);
    size_t before = green__cur->nthreads;
    green_deadline(green_now() + 20);
    void *results[4] = {0};
    errno = 0;
    ck_assert_int_eq(green_gather(t, 4, results), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_eq((intptr_t)results[0], 7);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(result[i], ECANCELED);
    ck_assert_uint_eq(green__cur->nthreads, before - 4);  /* all joined */
    return NULL;
}

GREEN_TEST(gather_cancelled)
{
    (void)arg;
    int result = -1;
    green_t *t[1] = {green_spawn(sleeper, &result)};
    green_cancel(green_self());
    errno = 0;
    ck_assert_int_eq(green_gather(t, 1, NULL), -1);
    ck_assert_int_eq(errno, ECANCELED);
    ck_assert_int_eq(result, ECANCELED);
    return NULL;
}

/* A deadlock report names a group wait. */
static void *park(void *arg)
{
    (void)arg;
    park_forever();
    return NULL;
}

static void *main_waits_on_stuck_group(void *arg)
{
    (void)arg;
    green_group_t *g = green_group_new();
    green_group_spawn(g, park, NULL);
    green_group_wait(g);
    green_group_free(g);
    return NULL;
}

START_TEST(group_deadlock_report)
{
    char *text = run_deadlocked(0, main_waits_on_stuck_group);
    ck_assert_msg(strstr(text, "#1 'main' parked: group 0x") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "(1 running)") != NULL, "%s", text);
    free(text);
}
END_TEST

/* Fail-fast: the first failure cancels the others; the wait reports it
 * once all have finished; every failure is kept, in order. */
static void *fail_after(void *arg)
{
    green_sleep((intptr_t)arg);
    ck_assert_int_eq(green_group_fail(ECONNRESET), 0);
    ck_assert_int_eq(green_group_fail(EIO), 0);  /* a member fails once */
    return NULL;
}

static int cancelled_members;

/* The natural shape: a call fails, the member says so and returns.  Once
 * the group cancelled it, its ECANCELED is no failure of its own. */
static void *sleep_or_fail(void *arg)
{
    if (green_sleep((intptr_t)arg) < 0) {
        if (errno == ECANCELED)
            cancelled_members++;
        ck_assert_int_eq(green_group_fail(errno), 0);
        return NULL;
    }
    return (void *)1;
}

GREEN_TEST(group_fail_fast)
{
    (void)arg;
    cancelled_members = 0;
    green_group_t *g = green_group_new();
    green_t *slow[3];
    for (int i = 0; i < 3; i++)
        slow[i] = green_group_spawn(g, sleep_or_fail, (void *)100000);
    green_t *bad = green_group_spawn(g, fail_after, (void *)5);
    errno = 0;
    ck_assert_int_eq(green_group_wait(g), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    ck_assert_int_eq(cancelled_members, 3);
    green_failure_t f[4];
    ck_assert_int_eq(green_group_failures(g, NULL, 0), 1);  /* only the real one */
    ck_assert_int_eq(green_group_failures(g, f, 4), 1);
    ck_assert_uint_eq(f[0].id, green_id(bad));
    ck_assert_int_eq(f[0].err, ECONNRESET);
    ck_assert_int_eq(green_group_failures(g, f, 4), 0);  /* taken */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(green_join(slow[i], NULL), 0);
    /* Reported once: the group can be used again. */
    ck_assert_ptr_nonnull(green_group_spawn(g, sleep_or_fail, (void *)1));
    ck_assert_int_eq(green_group_wait(g), 0);
    green_group_free(g);
    return NULL;
}

/* Later failures (not the group's doing) are kept after the first, none
 * lost, in the order they came. */
static void *fail_with(void *arg)
{
    green_shield(1);  /* finishes what it does, cancelled or not */
    green_sleep(1);
    green_shield(0);
    ck_assert_int_eq(green_group_fail((int)(intptr_t)arg), 0);
    return NULL;
}

GREEN_TEST(group_failures_in_order)
{
    (void)arg;
    green_group_t *g = green_group_new();
    uint64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = green_id(green_group_spawn(g, fail_with, (void *)(intptr_t)(EIO + i)));
    ck_assert_int_eq(green_group_wait(g), -1);
    ck_assert_int_eq(errno, EIO);
    green_failure_t f[5];
    ck_assert_int_eq(green_group_failures(g, f, 2), 2);
    ck_assert_int_eq(green_group_failures(g, f + 2, 5), 3);
    for (int i = 0; i < 5; i++) {
        ck_assert_uint_eq(f[i].id, ids[i]);
        ck_assert_int_eq(f[i].err, EIO + i);
    }
    green_group_free(g);
    return NULL;
}

static void *not_a_member(void *arg)
{
    (void)arg;
    ck_assert_int_eq(green_group_fail(EIO), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

/* ECANCELED from a member nobody cancelled is a failure like any. */
static void *fail_canceled(void *arg)
{
    (void)arg;
    ck_assert_int_eq(green_group_fail(ECANCELED), 0);
    return NULL;
}

static void *fail_zero(void *arg)
{
    (void)arg;
    ck_assert_int_eq(green_group_fail(0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_group_fail(-5), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

GREEN_TEST(group_fail_errors)
{
    (void)arg;
    not_a_member(NULL);
    ck_assert_int_eq(green_join(green_spawn(not_a_member, NULL), NULL), 0);
    green_group_t *g = green_group_new();
    green_group_spawn(g, fail_zero, NULL);
    ck_assert_int_eq(green_group_wait(g), 0);
    green_failure_t f;
    ck_assert_int_eq(green_group_failures(NULL, &f, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_group_failures(g, NULL, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_group_failures(g, &f, 1), 0);
    green_group_spawn(g, fail_canceled, NULL);
    ck_assert_int_eq(green_group_wait(g), -1);
    ck_assert_int_eq(errno, ECANCELED);
    ck_assert_int_eq(green_group_failures(g, &f, 1), 1);
    ck_assert_int_eq(f.err, ECANCELED);
    green_group_free(g);
    return NULL;
}

START_TEST(group_fail_outside)
{
    ck_assert_int_eq(green_group_fail(EIO), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_ptr_null(green_group_next(NULL));
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_group_failures(NULL, NULL, 0), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

/* Across schedulers: a member on one fails, members on the other are
 * cancelled, and the wait reports it. */
CORES_TEST(group_fail_fast_across, 2)
{
    (void)arg;
    cancelled_members = 0;
    green_group_t *g = green_group_new();
    green_attr_t far = {.place = GREEN_PLACE_ON(1)};
    green_attr_t near = {.place = GREEN_PLACE_ON(0)};
    green_t *a = green_group_spawn_attr(g, &near, sleep_or_fail, (void *)100000);
    green_group_spawn_attr(g, &far, fail_after, (void *)5);
    ck_assert_int_eq(green_group_wait(g), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(cancelled_members, 1);
    green_group_free(g);
    return NULL;
}

/* The first to finish: members handed out in the order they finished,
 * joinable for their results. */
static void *sleep_then_return(void *arg)
{
    green_sleep((intptr_t)arg);
    return arg;
}

GREEN_TEST(group_next_in_finish_order)
{
    (void)arg;
    green_group_t *g = green_group_new();
    green_group_spawn(g, sleep_then_return, (void *)60);
    green_group_spawn(g, sleep_then_return, (void *)20);
    green_group_spawn(g, sleep_then_return, (void *)40);
    green_detach(green_group_spawn(g, sleep_then_return, (void *)10));  /* passed over */
    intptr_t order[3];
    for (int i = 0; i < 3; i++) {
        green_t *t = green_group_next(g);
        ck_assert_ptr_nonnull(t);
        void *res;
        ck_assert_int_eq(green_join(t, &res), 0);
        order[i] = (intptr_t)res;
    }
    ck_assert_int_eq(order[0], 20);
    ck_assert_int_eq(order[1], 40);
    ck_assert_int_eq(order[2], 60);
    errno = 0;
    ck_assert_ptr_null(green_group_next(g));  /* none left to wait for */
    ck_assert_int_eq(errno, ECHILD);
    green_group_free(g);
    return NULL;
}

/* Race two replicas, take the first answer, cancel the other. */
static void *replica(void *arg)
{
    if (green_sleep((intptr_t)arg) < 0)
        return NULL;
    return arg;
}

GREEN_TEST(group_next_race)
{
    (void)arg;
    green_group_t *g = green_group_new();
    green_group_spawn(g, replica, (void *)100000);
    green_group_spawn(g, replica, (void *)5);
    green_t *first = green_group_next(g);
    void *answer;
    ck_assert_int_eq(green_join(first, &answer), 0);
    ck_assert_ptr_eq(answer, (void *)5);
    green_group_free(g);  /* cancels the slow one and waits */
    return NULL;
}

GREEN_TEST(group_next_deadline_and_cancel)
{
    (void)arg;
    green_group_t *g = green_group_new();
    green_group_spawn(g, replica, (void *)100000);
    int64_t old = green_deadline(green_now() + 10);
    ck_assert_ptr_null(green_group_next(g));
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    ck_assert_int_eq(green_cancel(green_self()), 0);
    ck_assert_ptr_null(green_group_next(g));
    ck_assert_int_eq(errno, ECANCELED);
    ck_assert_ptr_null(green_group_next(NULL));
    ck_assert_int_eq(errno, EINVAL);
    green_group_free(g);
    return NULL;
}

static void *next_of_own(void *arg)
{
    ck_assert_ptr_null(green_group_next(arg));
    ck_assert_int_eq(errno, EDEADLK);
    return NULL;
}

GREEN_TEST(group_next_from_member)
{
    (void)arg;
    green_group_t *g = green_group_new();
    green_t *t = green_group_spawn(g, next_of_own, g);
    ck_assert_int_eq(green_group_wait(g), 0);
    ck_assert_ptr_eq(green_group_next(g), t);
    ck_assert_int_eq(green_join(t, NULL), 0);
    green_group_free(g);
    return NULL;
}

#ifdef GREEN_FAULTS
/* No room for a member's failure: the spawn fails, nothing is spawned. */
GREEN_TEST(group_spawn_no_room)
{
    (void)arg;
    green_group_t *g = green_group_new();
    green__fault_set(GREEN__FAULT_realloc, 1, false, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(green_group_spawn(g, replica, (void *)1));
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green_group_wait(g), 0);
    ck_assert_ptr_null(green_group_next(g));
    ck_assert_int_eq(errno, ECHILD);
    ck_assert_ptr_nonnull(green_group_spawn(g, replica, (void *)1));
    ck_assert_int_eq(green_group_wait(g), 0);
    green_group_free(g);
    return NULL;
}
#endif

Suite *group_suite(void)
{
    Suite *s = suite_create("group");
    TCase *tc = tcase_create("group");
    tcase_add_test(tc, group_outside);
    tcase_add_test(tc, group_waits_for_all);
    tcase_add_test(tc, group_spawn_attr_and_detach);
    tcase_add_test(tc, group_errors);
    tcase_add_test(tc, group_wait_from_member);
    tcase_add_test(tc, group_wait_deadline_cancels_members);
    tcase_add_test(tc, group_wait_cancelled);
    tcase_add_test(tc, group_cancel);
    tcase_add_test(tc, group_free_cancels_and_frees);
    tcase_add_test(tc, group_free_from_member);
    tcase_add_test(tc, group_outlived_by_run);
    tcase_add_test(tc, group_other_os_thread);
    tcase_add_test(tc, gather_results_in_order);
    tcase_add_test(tc, gather_errors);
    tcase_add_test(tc, gather_outside);
    tcase_add_test(tc, gather_deadline_leaves_nothing);
    tcase_add_test(tc, gather_cancelled);
    tcase_add_test(tc, group_deadlock_report);
    tcase_add_test(tc, group_fail_fast);
    tcase_add_test(tc, group_failures_in_order);
    tcase_add_test(tc, group_fail_errors);
    tcase_add_test(tc, group_fail_outside);
    tcase_add_test(tc, group_fail_fast_across);
    tcase_add_test(tc, group_next_in_finish_order);
    tcase_add_test(tc, group_next_race);
    tcase_add_test(tc, group_next_deadline_and_cancel);
    tcase_add_test(tc, group_next_from_member);
    suite_add_tcase(s, tc);
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, group_spawn_no_room);
    suite_add_tcase(s, faults);
    return s;
}
