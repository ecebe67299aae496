/* The stall detector: GREEN_SLOW_MS. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    ck_assert_uint_eq(count(text, "without parking"), 2);
    ck_assert_msg(strstr(text, "libgreen: green thread #3 'busy' has run "), "%s", text);
    ck_assert_msg(strstr(text, " ms without parking (GREEN_SLOW_MS=50)"), "%s", text);
    free(text);
}
END_TEST

/* Threads that park, and a scheduler idle in the poller, stall nothing. */
static void *parks_often(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        spin_for(1);
        green_sleep(1);
    }
    green_sleep(150);  /* everyone idle */
    return NULL;
}

START_TEST(parking_is_no_stall)
{
    char *text = run_watched("50", parks_often);
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
    static const char *const values[] = {NULL, "", "0", "-5", "abc", "50ms"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char *text = run_watched(values[i], stall_briefly);
        ck_assert_msg(!strstr(text, "without parking"), "GREEN_SLOW_MS=%s: %s",
                      values[i] ? values[i] : "(unset)", text);
        free(text);
    }
}
END_TEST

Suite *watch_suite(void)
{
    Suite *s = suite_create("watch");
    TCase *tc = tcase_create("watch");
    tcase_add_test(tc, stall_is_reported_while_it_lasts);
    tcase_add_test(tc, parking_is_no_stall);
    tcase_add_test(tc, off_unless_asked);
    suite_add_tcase(s, tc);
    return s;
}
