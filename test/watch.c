/* The stall detector: GREEN_SLOW_MS. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

static off_t stderr_size(void)
{
    struct stat st;
    ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
    return st.st_size;
}

/* Runs without parking until something more is written to stderr (the
 * report, while the stall goes on), at most 10 s. */
static bool spin_until_reported(void)
{
    off_t before = stderr_size();
    int64_t give_up = green_now() + 10000;
    while (stderr_size() == before)
        if (green_now() > give_up)
            return false;
    return true;
}

static void spin_for(int64_t ms)
{
    int64_t until = green_now() + ms;
    while (green_now() < until)
        ;
}

static size_t count(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

/* Runs fn under green_run with GREEN_SLOW_MS=ms (unset for NULL); what
 * it wrote to stderr (malloc'd). */
static char *run_watched(const char *ms, void *(*fn)(void *))
{
    if (ms)
        setenv("GREEN_SLOW_MS", ms, 1);
    else
        unsetenv("GREEN_SLOW_MS");
    stderr_begin();
    run_green(fn, NULL);
    return stderr_end();
}

/* Two stalls, each reported once while it goes on. */
static void *busy(void *arg)
{
    (void)arg;
    ck_assert(spin_until_reported());
    spin_for(150);  /* the same stall: no second report */
    green_sleep(1);
    ck_assert(spin_until_reported());
    return NULL;
}

static void *ticker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 5; i++)
        green_sleep(10);
    return NULL;
}

static void *two_stalls(void *arg)
{
    (void)arg;
    green_t *t = green_spawn(ticker, NULL);
    green_t *b = green_spawn_attr(&(green_attr_t){.name = "busy"}, busy, NULL);
    green_join(b, NULL);
    green_join(t, NULL);
    return NULL;
}

START_TEST(stall_is_reported_while_it_lasts)
{
    char *text = run_watched("50", two_stalls);
    /* busy's, by name: on a loaded machine a descheduled ticker may be
     * reported as well, and rightly. */
    ck_assert_uint_eq(count(text, "'busy' has run "), 2);
    ck_assert_msg(strstr(text, "libgreen: green thread #3 'busy' has run "), "%s", text);
    ck_assert_msg(strstr(text, " ms without parking (GREEN_SLOW_MS=50)"), "%s", text);
    free(text);
}
END_TEST

/* Threads that park or yield, and a scheduler idle in the poller, stall
 * nothing.  The threshold is well above what a loaded machine's own
 * scheduler may take from a thread between two parks (61 ms was seen with
 * two CI lanes on two cores, against a threshold of 50), and each phase
 * lasts twice the threshold, so a detector that missed its kind of park
 * would report it. */
#define QUIET_MS 200

static void *parks_often(void *arg)
{
    (void)arg;
    for (int i = 0; i < QUIET_MS; i++) {
        spin_for(1);
        green_sleep(1);
    }
    for (int i = 0; i < 2 * QUIET_MS; i++) {  /* alone: a yield switches to nobody */
        spin_for(1);
        green_yield();
    }
    /* Cancelled, and alone: a call that fails with ECANCELED yields as
     * green_yield does, and is no stall either. */
    green_cancel(green_self());
    for (int i = 0; i < 2 * QUIET_MS; i++) {
        spin_for(1);
        ck_assert_int_eq(green_sleep(1), -1);
    }
    green_shield(1);
    green_sleep(2 * QUIET_MS);  /* everyone idle */
    return NULL;
}

START_TEST(parking_is_no_stall)
{
    char quiet[16];
    snprintf(quiet, sizeof quiet, "%d", QUIET_MS);
    char *text = run_watched(quiet, parks_often);
    ck_assert_msg(!strstr(text, "without parking"), "%s", text);
    free(text);
}
END_TEST

/* Without GREEN_SLOW_MS, or with a value that is not a positive number,
 * nothing is watched. */
static void *stall_briefly(void *arg)
{
    (void)arg;
    spin_for(120);
    return NULL;
}

START_TEST(off_unless_asked)
{
    static const char *const values[] = {NULL, "", "0", "-5", "abc", "50ms",
                                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char *text = run_watched(values[i], stall_briefly);
        ck_assert_msg(!strstr(text, "without parking"), "GREEN_SLOW_MS=%s: %s",
                      values[i] ? values[i] : "(unset)", text);
        free(text);
    }
}
END_TEST

/* Watching starts again with the next green_run (the watchdog, left with
 * nothing to watch, waits for it). */
static void *one_stall(void *arg)
{
    (void)arg;
    ck_assert(spin_until_reported());
    return NULL;
}

START_TEST(watched_again)
{
    for (int i = 0; i < 2; i++) {
        char *text = run_watched("20", one_stall);
        ck_assert_uint_eq(count(text, "without parking"), 1);
        free(text);
    }
}
END_TEST

/* A child of fork has no watchdog: its stall goes unreported, and its
 * green_run ends as usual (its scheduler leaves no watchdog it has not). */
static bool child_unreported;

static void *fork_and_stall(void *arg)
{
    (void)arg;
    pid_t pid = fork_counted();
    if (pid == 0) {
        /* A file of its own: on a loaded machine (two Valgrind runs at
         * once) the parent may take longer than GREEN_SLOW_MS to park,
         * and its report is no report of the child's. */
        FILE *own = tmpfile();
        ck_assert_ptr_nonnull(own);
        ck_assert_int_ge(dup2(fileno(own), STDERR_FILENO), 0);
        spin_for(100);
        /* What came meanwhile (a tool may write too): no report in it. */
        char text[4096] = "";
        ssize_t n = pread(STDERR_FILENO, text, sizeof text - 1, 0);
        child_unreported = n >= 0 && !strstr(text, "without parking");
        fclose(own);
        return NULL;  /* green_run returns in the child */
    }
    int status;
    ck_assert_int_eq(green_waitpid(pid, &status, 0), pid);
    ck_assert_int_eq(status, 0);
    return NULL;
}

START_TEST(forked_child_is_not_watched)
{
    if (under_tsan() || under_qemu())
        return;  /* they do not follow a child forked while threads ran */
    pid_t parent = getpid();
    char *text = run_watched("20", fork_and_stall);
    free(text);
    if (getpid() != parent)
        exit_child(child_unreported ? 0 : 3);
}
END_TEST

Suite *watch_suite(void)
{
    Suite *s = suite_create("watch");
    TCase *tc = tcase_create("watch");
    tcase_add_test(tc, stall_is_reported_while_it_lasts);
    tcase_add_test(tc, parking_is_no_stall);
    tcase_add_test(tc, off_unless_asked);
    tcase_add_test(tc, watched_again);
    tcase_add_test(tc, forked_child_is_not_watched);
    suite_add_tcase(s, tc);
    return s;
}
