/* Child processes: green_waitpid. */
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

Suite *proc_suite(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("proc");
    tcase_add_test(tc, waitpid_exit);
    tcase_add_test(tc, waitpid_signal);
    tcase_add_test(tc, waitpid_deadline_and_cancel);
    tcase_add_test(tc, waitpid_outside);
    suite_add_tcase(s, tc);
    return s;
}
