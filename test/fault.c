/* Failure paths reached through the fault points of the test build
 * (make FAULTS=1; lib/fault.h).  In the ordinary build this suite is not
 * run (test/suites.h). */
#ifdef GREEN_FAULTS
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fault.h"
#include "util.h"

static void *nothing(void *arg)
{
    return arg;
}

/* The stack cache's own bookkeeping cannot be allocated: ENOMEM, as for
 * any allocation, not the EAGAIN of a stack that cannot be mapped. */
GREEN_TEST(spawn_bookkeeping_enomem)
{
    (void)arg;
    green_attr_t attr = {.stack_size = 3 * GREEN_STACK_MIN};  /* a new size class */
    green__fault_set(GREEN__FAULT_malloc, 1, true, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(green_spawn_attr(&attr, nothing, NULL));
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_set(GREEN__FAULT_mmap, 1, true, ENOMEM);
    ck_assert_ptr_null(green_spawn_attr(&attr, nothing, NULL));
    ck_assert_int_eq(errno, EAGAIN);
    green__fault_clear();
    green_t *t = green_spawn_attr(&attr, nothing, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

START_TEST(run_bookkeeping_enomem)
{
    green__fault_set(GREEN__FAULT_malloc, 1, true, ENOMEM);
    errno = 0;
    ck_assert_int_eq(green_run(nothing, NULL), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green_run(nothing, NULL), 0);
}
END_TEST

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

Suite *fault_suite(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("fault");
    tcase_add_test(tc, spawn_bookkeeping_enomem);
    tcase_add_test(tc, run_bookkeeping_enomem);
    tcase_add_test(tc, waitpid_polls_when_pidfd_unwatchable);
    suite_add_tcase(s, tc);
    return s;
}
#endif
