/* Child processes: green_waitpid. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* A green_waitpid parked on the child is woken by a cancel. */
static void *wait_for_child(void *arg)
{
    int status;
    return (void *)(intptr_t)(green_waitpid(*(pid_t *)arg, &status, 0) < 0 ? errno : 0);
}

GREEN_TEST(waitpid_cancelled_while_parked)
{
    (void)arg;
    pid_t pid = child_pausing();
    green_t *t = green_spawn(wait_for_child, &pid);
    green_yield();  /* it parks on the child */
    green_cancel(t);
    void *err;
    ck_assert_int_eq(green_join(t, &err), 0);
    ck_assert_int_eq((int)(intptr_t)err, ECANCELED);
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return NULL;
}

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

/* fork() in a green thread: the child goes on in the forking thread alone,
 * with a scheduler, poller, inbox and offload pool of its own, and may use
 * every call; the parent's other threads never run there (a ticker that
 * writes its pid to a pipe each time it runs writes none of the child's),
 * and green_run returns in the child when the forking thread does. */
static int marks[2], verdict[2];

static void *ticker_pid(void *arg)
{
    (void)arg;
    pid_t me;
    do
        me = getpid();
    while (write(marks[1], &me, sizeof me) == sizeof me && green_sleep(1) == 0);
    return NULL;
}

static void *answer(void *arg)
{
    return arg;
}

static void *send_byte(void *arg)
{
    green_write(*(int *)arg, "b", 1);
    return NULL;
}

/* What the child checks; 1 when all hold. */
static int child_works(void)
{
    void *r = NULL;
    green_t *t = green_spawn(answer, (void *)7);
    if (green_sleep(20) < 0 || !t || green_join(t, &r) < 0 || r != (void *)7)
        return 0;
    if (green_offload(answer, (void *)8, &r) < 0 || r != (void *)8)
        return 0;
    int p[2];
    if (pipe(p) < 0)
        return 0;
    char c = 0;
    t = green_spawn(send_byte, &p[1]);
    bool io = green_read(p[0], &c, 1) == 1 && c == 'b' && green_join(t, NULL) == 0;
    green_close(p[0]);
    green_close(p[1]);
    return io && green_run(answer, NULL) == -1 && errno == EPERM;
}

static void *forker(void *arg)
{
    (void)arg;
    pid_t pid = fork_counted();
    if (pid != 0)
        return (void *)(intptr_t)pid;
    int ok = child_works();
    if (write(verdict[1], &ok, sizeof ok) != sizeof ok)
        _exit(4);
    return NULL;  /* green_run returns in the child */
}

static void *fork_main(void *arg)
{
    (void)arg;
    make_pipe(marks);
    make_pipe(verdict);
    void *r;
    /* The pool has a worker when the fork comes: the child has none.  (Not
     * under qemu-user, which cannot fork a process with threads.) */
    if (!under_qemu())
        ck_assert_int_eq(green_offload(answer, (void *)9, &r), 0);
    green_t *tick = green_spawn(ticker_pid, NULL);
    green_yield();
    ck_assert_int_eq(green_join(green_spawn(forker, NULL), &r), 0);
    pid_t child = (pid_t)(intptr_t)r;
    ck_assert_int_gt(child, 0);
    int status, ok = 0;
    ck_assert_int_eq(green_waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
    ck_assert_int_eq(green_read(verdict[0], &ok, sizeof ok), sizeof ok);
    ck_assert_int_eq(ok, 1);
    green_cancel(tick);
    green_join(tick, NULL);
    close(marks[1]);
    pid_t who;
    size_t n = 0;
    while (green_read(marks[0], &who, sizeof who) == sizeof who) {
        ck_assert_int_ne(who, child);
        n++;
    }
    ck_assert_uint_gt(n, 0);
    green_close(marks[0]);
    green_close(verdict[0]);
    green_close(verdict[1]);
    return NULL;
}

/* fork() outside green_run, once libgreen's fork handlers are in place:
 * the child has no scheduler to reset, and can run its own. */
START_TEST(fork_outside_green_run)
{
    if (under_tsan())
        return;
    ck_assert_int_eq(green_run(answer, NULL), 0);
    pid_t pid = fork_counted();
    if (pid == 0)
        exit_child(green_run(answer, NULL) == 0 ? 0 : 1);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(status, 0);
}
END_TEST

START_TEST(fork_in_green_thread)
{
    /* TSan does not follow a child forked while threads ran (it refuses
     * to start the pool's worker there, and loses the fibers' order). */
    if (under_tsan())
        return;
    pid_t parent = getpid();
    int r = green_run(fork_main, NULL);
    if (getpid() != parent)
        exit_child(r == 0 ? 0 : 3);  /* the child, once its forking thread returned */
    ck_assert_int_eq(r, 0);
}
END_TEST

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

/* The pidfd cannot be watched (epoll_ctl says ENOMEM): green_waitpid
 * polls instead of failing.  Only epoll can refuse to watch it. */
static void *release_child(void *arg)
{
    int fd = *(int *)arg;
    ck_assert_int_eq(green_write(fd, "g", 1), 1);
    return NULL;
}

GREEN_TEST(waitpid_polls_when_pidfd_unwatchable)
{
    (void)arg;
    if (strcmp(green_poller_name(), "epoll") != 0)
        return NULL;
    int go[2];
    make_pipe(go);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char c;
        _exit(read(go[0], &c, 1) == 1 ? 7 : 1);
    }
    close(go[0]);
    green_t *t = green_spawn(release_child, &go[1]);
    green__fault_set(GREEN__FAULT_epoll_ctl, 1, true, ENOMEM);
    int status = 0;
    ck_assert_int_eq(green_waitpid(pid, &status, 0), pid);
    green__fault_clear();
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 7);
    green_join(t, NULL);
    green_close(go[1]);
    return NULL;
}
#endif

Suite *proc_suite(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("proc");
    tcase_add_test(tc, waitpid_exit);
    tcase_add_test(tc, waitpid_signal);
    tcase_add_test(tc, waitpid_cancelled_while_parked);
    tcase_add_test(tc, waitpid_deadline_and_cancel);
    tcase_add_test(tc, waitpid_outside);
    tcase_add_test(tc, fork_in_green_thread);
    tcase_add_test(tc, fork_outside_green_run);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, waitpid_polls_when_pidfd_unwatchable);
    suite_add_tcase(s, faults);
    return s;
}
