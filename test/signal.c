/* Signals: green_signal_wait. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

static sigset_t set_of(int a, int b)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, a);
    if (b)
        sigaddset(&set, b);
    return set;
}

static void *wait_usr1(void *arg)
{
    (void)arg;
    sigset_t set = set_of(SIGUSR1, 0);
    return (void *)(intptr_t)green_signal_wait(&set);
}

GREEN_TEST(signal_wait_gets_it)
{
    (void)arg;
    green_t *t = green_spawn(wait_usr1, NULL);
    green_yield();  /* t waits, and the handler is installed */
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    void *r;
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, SIGUSR1);
    /* A signal that comes while nobody waits is kept for the next wait. */
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    sigset_t set = set_of(SIGUSR2, SIGUSR1);
    ck_assert_int_eq(green_signal_wait(&set), SIGUSR1);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    ck_assert_int_eq(green_signal_wait(&set), SIGUSR2);
    return NULL;
}
END_TEST

/* A child forked once the dispatcher runs has none: its first wait starts
 * its own (or the wait would never end). */
static int child_waits(void)
{
    green_t *t = green_spawn(wait_usr1, NULL);
    green_yield();
    void *r = NULL;
    kill(getpid(), SIGUSR1);
    return green_join(t, &r) == 0 && (intptr_t)r == SIGUSR1 ? 0 : 1;
}

GREEN_TEST(signal_wait_after_fork)
{
    (void)arg;
    if (under_tsan() || under_qemu())
        return NULL;  /* they do not follow a child forked while threads ran */
    green_t *t = green_spawn(wait_usr1, NULL);
    green_yield();
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    pid_t pid = fork_counted();
    if (pid == 0) {
        alarm(20);  /* a child that never gets it ends all the same */
        exit_child(child_waits());
    }
    int status;
    green_deadline(green_now() + 10000);
    ck_assert_int_eq(green_waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(status, 0);
    return NULL;
}

GREEN_TEST(signal_wait_errors)
{
    (void)arg;
    ck_assert_int_eq(green_signal_wait(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    sigset_t set;
    sigemptyset(&set);
    ck_assert_int_eq(green_signal_wait(&set), -1);
    ck_assert_int_eq(errno, EINVAL);
    set = set_of(SIGUSR1, SIGKILL);
    ck_assert_int_eq(green_signal_wait(&set), -1);
    ck_assert_int_eq(errno, EINVAL);
    set = set_of(SIGSEGV, 0);
    ck_assert_int_eq(green_signal_wait(&set), -1);
    ck_assert_int_eq(errno, EINVAL);
    set = set_of(SIGSTOP, SIGUSR1);
    ck_assert_int_eq(green_signal_wait(&set), -1);
    ck_assert_int_eq(errno, EINVAL);
    set = set_of(SIGUSR1, 0);
    green_deadline(green_now() + 20);
    ck_assert_int_eq(green_signal_wait(&set), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    green_t *t = green_spawn(wait_usr1, NULL);
    green_yield();
    green_cancel(t);
    void *r;
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, -1);
    green_cancel(green_self());
    ck_assert_int_eq(green_signal_wait(&set), -1);
    ck_assert_int_eq(errno, ECANCELED);
    return NULL;
}
END_TEST

START_TEST(signal_wait_outside)
{
    sigset_t set = set_of(SIGUSR1, 0);
    ck_assert_int_eq(green_signal_wait(&set), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

/* Two schedulers on two OS threads, each waiting for its own signal. */
static int got[2];

static void *wait_one(void *arg)
{
    int i = (int)(intptr_t)arg;
    sigset_t set = set_of(i ? SIGUSR2 : SIGUSR1, 0);
    got[i] = green_signal_wait(&set);
    return NULL;
}

static void *os_thread(void *arg)
{
    return (void *)(intptr_t)green_run(wait_one, arg);
}

/* A wait past its deadline still installs the handlers: from then on the
 * signals are counted, whenever they come. */
static void *install_handlers(void *arg)
{
    (void)arg;
    sigset_t set = set_of(SIGUSR1, SIGUSR2);
    green_deadline(green_now() - 1);
    ck_assert_int_eq(green_signal_wait(&set), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    return NULL;
}

START_TEST(signal_wait_two_schedulers)
{
    run_green(install_handlers, NULL);
    pthread_t t[2];
    for (intptr_t i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, os_thread, (void *)i), 0);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_ptr_null(r);
    }
    ck_assert_int_eq(got[0], SIGUSR1);
    ck_assert_int_eq(got[1], SIGUSR2);
}
END_TEST

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

/* green_signal_wait when its pipe, its dispatcher or its handler cannot
 * be had: each failure is reported, and the next wait works. */
static void *usr1_or_error(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    return (void *)(intptr_t)green_signal_wait(&set);
}

GREEN_TEST(signal_wait_set_up_fails)
{
    (void)arg;
    static const struct {
        enum green__fault_point p;
        int err;
    } faults[] = {
        {GREEN__FAULT_pipe2, EMFILE},
        {GREEN__FAULT_pthread_create, EAGAIN},
        {GREEN__FAULT_sigaction, EINVAL},
    };
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        green__fault_set(faults[i].p, 1, true, faults[i].err);
        ck_assert_int_eq((intptr_t)usr1_or_error(NULL), -1);
        ck_assert_int_eq(errno, faults[i].err);
        green__fault_clear();
    }
    green_t *t = green_spawn(usr1_or_error, NULL);
    green_yield();
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    void *r;
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, SIGUSR1);
    return NULL;
}
#endif

Suite *signal_suite(void)
{
    Suite *s = suite_create("signal");
    TCase *tc = tcase_create("signal");
    tcase_add_test(tc, signal_wait_gets_it);
    tcase_add_test(tc, signal_wait_errors);
    tcase_add_test(tc, signal_wait_after_fork);
    tcase_add_test(tc, signal_wait_outside);
    tcase_add_test(tc, signal_wait_two_schedulers);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, signal_wait_set_up_fails);
    suite_add_tcase(s, faults);
    return s;
}
