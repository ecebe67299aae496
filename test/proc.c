/* Child processes and signals: green_waitpid, green_signal_wait. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static pid_t child_exiting(int code)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(code);
    return pid;
}

/* A child that waits to be killed, returned once it is ready for it. */
static pid_t child_pausing(void)
{
    int ready[2];
    make_pipe(ready);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Check's handler, inherited, would pass SIGTERM on to the test. */
        signal(SIGTERM, SIG_DFL);
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char c;
    ck_assert_int_eq(green_read(ready[0], &c, 1), 1);
    green_close(ready[0]);
    close(ready[1]);
    return pid;
}

GREEN_TEST(waitpid_exit)
{
    (void)arg;
    pid_t pid = child_exiting(7);
    int status = 0;
    ck_assert_int_eq(green_waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 7);
    /* Any child: the polling path. */
    pid = child_exiting(3);
    ck_assert_int_eq(green_waitpid(-1, &status, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(status), 3);
    ck_assert_int_eq(green_waitpid(-1, &status, 0), -1);
    ck_assert_int_eq(errno, ECHILD);
    ck_assert_int_eq(green_waitpid(pid, &status, 0), -1);
    ck_assert_int_eq(errno, ECHILD);
    return NULL;
}
END_TEST

/* Other green threads run while one waits for a child. */
static int ticks;

static void *ticker(void *arg)
{
    (void)arg;
    for (;;) {
        ticks++;
        if (green_sleep(1) < 0)
            return NULL;
    }
}

static void *kill_after_ticks(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    while (ticks < 5)
        green_sleep(1);
    kill(pid, SIGTERM);
    return NULL;
}

static void waitpid_signalled(pid_t wait_for)
{
    ticks = 0;
    pid_t pid = child_pausing();
    green_t *t = green_spawn(ticker, NULL);
    green_t *k = green_spawn(kill_after_ticks, (void *)(intptr_t)pid);
    int status = 0;
    ck_assert_int_eq(green_waitpid(wait_for ? pid : -1, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGTERM);
    ck_assert_int_ge(ticks, 5);
    green_cancel(t);
    green_join(t, NULL);
    green_join(k, NULL);
}

GREEN_TEST(waitpid_signal)
{
    (void)arg;
    waitpid_signalled(1);   /* pidfd */
    waitpid_signalled(0);   /* polling */
    return NULL;
}
END_TEST

GREEN_TEST(waitpid_deadline_and_cancel)
{
    (void)arg;
    pid_t pid = child_pausing(), other = child_pausing();
    int status;
    green_deadline(green_now() + 30);
    ck_assert_int_eq(green_waitpid(pid, &status, 0), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_eq(green_waitpid(-1, &status, 0), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(green_waitpid(pid, &status, WNOHANG), 0);
    kill(pid, SIGKILL);
    /* A child that has exited is reaped even by a cancelled thread. */
    green_cancel(green_self());
    while (green_waitpid(pid, &status, 0) != pid)
        ck_assert_int_eq(errno, ECANCELED);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(green_waitpid(other, &status, 0), -1);
    ck_assert_int_eq(errno, ECANCELED);
    kill(other, SIGKILL);
    ck_assert_int_eq(waitpid(other, &status, 0), other);
    return NULL;
}
END_TEST

START_TEST(waitpid_outside)
{
    pid_t pid = child_exiting(5);
    int status;
    ck_assert_int_eq(green_waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(WEXITSTATUS(status), 5);
}
END_TEST

/* Signals. */

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

Suite *proc_suite(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("proc");
    tcase_add_test(tc, waitpid_exit);
    tcase_add_test(tc, waitpid_signal);
    tcase_add_test(tc, waitpid_deadline_and_cancel);
    tcase_add_test(tc, waitpid_outside);
    tcase_add_test(tc, signal_wait_gets_it);
    tcase_add_test(tc, signal_wait_errors);
    tcase_add_test(tc, signal_wait_outside);
    tcase_add_test(tc, signal_wait_two_schedulers);
    suite_add_tcase(s, tc);
    return s;
}
