/* The stall detector: GREEN_SLOW_MS. */
#include <pthread.h>
#include <signal.h>
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

/* The stalled thread's stack: taken where the C library has backtrace
 * and it is proven (lib/watch_stack.c), as there. */
#if !defined(GREEN_POSIX_ONLY) && defined(__has_include) && !defined(__powerpc64__)
#if __has_include(<execinfo.h>)
#define STACKS_TAKEN 1
#endif
#endif

static bool stacks_taken(void)
{
#ifdef STACKS_TAKEN
    return true;
#else
    return false;
#endif
}

static size_t count(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

/* What this test has written to stderr so far (the first 64 KiB). */
static const char *stderr_text(void)
{
    static char text[1 << 16];
    ssize_t n = pread(STDERR_FILENO, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    return text;
}

/* Reports of the green thread name written in full: each ends with its
 * stack, or with the line that says why it has none; where no stack is
 * taken, its first line is all of it. */
static size_t reports_done(const char *name)
{
    const char *text = stderr_text();
    char whose[GREEN_NAME_MAX + 16];
    snprintf(whose, sizeof whose, "'%s' has run ", name);
    size_t n = 0;
    const char *next;
    for (const char *p = strstr(text, "libgreen: green thread #"); p; p = next) {
        next = strstr(p + 1, "libgreen: green thread #");
        size_t len = next ? (size_t)(next - p) : strlen(p);
        char *report = strndup(p, len);
        ck_assert_ptr_nonnull(report);
        if (strstr(report, whose) &&
            (!stacks_taken() || strstr(report, "libgreen: its stack:\n") ||
             strstr(report, "libgreen: no stack: ")))
            n++;
        free(report);
    }
    return n;
}

/* Runs without parking until the green thread name has been reported n
 * times in full (while its stall goes on), at most 10 s.  In full: a
 * stack that comes late says that the stall is over, which must not be
 * taken for the next stall's report.  And counted from the start of the
 * capture, not from the call: on a loaded machine (or under qemu) the
 * stall may be reported before the thread's first instruction. */
static bool spin_until_reported(const char *name, size_t n)
{
    off_t seen = -1;
    int64_t give_up = green_now() + 10000;
    for (;;) {
        off_t size = stderr_size();
        if (size != seen) {
            seen = size;
            if (reports_done(name) >= n)
                return true;
        }
        if (green_now() > give_up)
            return false;
    }
}

static void spin_for(int64_t ms)
{
    int64_t until = green_now() + ms;
    while (green_now() < until)
        ;
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
    ck_assert(spin_until_reported("busy", 1));
    spin_for(150);  /* the same stall: no second report */
    green_sleep(1);
    ck_assert(spin_until_reported("busy", 2));
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
    ck_assert(spin_until_reported("main", 1));
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

/* The spinner's report begins so: what the tests wait for comes after
 * it (on a loaded machine, another thread may be reported before). */
#define SPINNER "'spinner' has run "

/* Whether what this test has written to stderr so far holds the
 * spinner's report and, after its start, what. */
static bool spinner_wrote(const char *what)
{
    const char *text = stderr_text();
    const char *from = strstr(text, SPINNER);
    return from && strstr(from, what);
}

/* Runs without parking until the spinner's report holds what, at most
 * 10 s.  It looks at stderr only when it has grown, and in between
 * computes, so that most of the time it is this function that runs. */
static bool spin_until_written(const char *what)
{
    off_t seen = -1;
    int64_t give_up = green_now() + 10000;
    for (;;) {
        off_t size = stderr_size();
        if (size != seen) {
            seen = size;
            if (spinner_wrote(what))
                return true;
        }
        if (green_now() > give_up)
            return false;
        for (volatile int i = 0; i < 10000; i++)
            ;
    }
}

/* The function the stack must name: not static, so that the test binary
 * (linked -rdynamic) exports its name, and not inlined, so that it has a
 * frame of its own. */
__attribute__((noinline)) bool watch_test_planted_stall(void);

__attribute__((noinline)) bool watch_test_planted_stall(void)
{
    bool written = spin_until_written("libgreen: its stack:\n");
    __asm__ volatile("" ::: "memory");  /* no tail call: keep the frame */
    return written;
}

static void *planted(void *arg)
{
    (void)arg;
    ck_assert(watch_test_planted_stall());
    spin_for(100);  /* the same stall: no second report, no second stack */
    return NULL;
}

static void *(*spinner_fn)(void *);

static void *spawn_spinner(void *arg)
{
    (void)arg;
    green_t *t = green_spawn_attr(&(green_attr_t){.name = "spinner"}, spinner_fn, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

/* Runs fn as the green thread 'spinner' under GREEN_SLOW_MS=20; what was
 * written to stderr (malloc'd). */
static char *run_spinner(void *(*fn)(void *))
{
    setenv("GREEN_SLOW_MS", "20", 1);
    spinner_fn = fn;
    stderr_begin();
    run_green(spawn_spinner, NULL);
    return stderr_end();
}

/* The part of text that reports the spinner's stall: from its first line
 * to the next report's (malloc'd). */
static char *spinner_report(const char *text)
{
    const char *from = strstr(text, SPINNER);
    ck_assert_msg(from, "%s", text);
    const char *to = strstr(from, "libgreen: green thread #");
    size_t n = to ? (size_t)(to - from) : strlen(from);
    char *part = strndup(from, n);
    ck_assert_ptr_nonnull(part);
    return part;
}

START_TEST(stall_shows_its_stack)
{
    if (!stacks_taken())
        return;
    char *text = run_spinner(planted);
    ck_assert_msg(count(text, SPINNER) == 1, "%s", text);
    char *part = spinner_report(text);
    /* Once: one stack, which names the planted function once. */
    ck_assert_msg(count(part, "libgreen: its stack:\n") == 1, "%s", text);
#if defined(__x86_64__) || defined(__aarch64__)
    ck_assert_msg(count(part, "(watch_test_planted_stall+0x") == 1, "%s", text);
#else
    /* Where the unwinder may stop at the signal frame (riscv64 under
     * qemu-user: the handler's frame alone), a frame at least. */
    ck_assert_msg(count(part, ")[0x") >= 1, "%s", text);
#endif
    ck_assert_msg(!strstr(part, "no stack"), "%s", text);
    free(part);
    free(text);
}
END_TEST

/* A SIGURG action of the program's own, a handler or an ignore, is left
 * alone: the report says why it has no stack, and the program's handler
 * is never called. */
static volatile sig_atomic_t programs_sigurgs;

static void programs_handler(int sig)
{
    (void)sig;
    programs_sigurgs++;
}

static void programs_siginfo_handler(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    programs_handler(sig);
}

static void *until_no_stack(void *arg)
{
    (void)arg;
    ck_assert(spin_until_written("libgreen: no stack: "));
    return NULL;
}

START_TEST(program_keeps_its_sigurg)
{
    if (!stacks_taken())
        return;
    void (*const actions[])(int) = {programs_handler, SIG_IGN, programs_handler};
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++) {
        struct sigaction sa = {.sa_handler = actions[i]}, old;
        if (i == 2) {  /* a handler that takes siginfo */
            sa.sa_sigaction = programs_siginfo_handler;
            sa.sa_flags = SA_SIGINFO;
        }
        sigemptyset(&sa.sa_mask);
        ck_assert_int_eq(sigaction(SIGURG, &sa, &old), 0);
        programs_sigurgs = 0;
        char *text = run_spinner(until_no_stack);
        struct sigaction now;
        ck_assert_int_eq(sigaction(SIGURG, &old, &now), 0);
        ck_assert(i == 2 ? now.sa_sigaction == programs_siginfo_handler
                         : now.sa_handler == actions[i]);  /* still the program's */
        ck_assert_int_eq(programs_sigurgs, 0);
        char *part = spinner_report(text);
        ck_assert_msg(strstr(part, "libgreen: no stack: the program has set SIGURG's action "
                                   "itself"), "%s", text);
        ck_assert_msg(!strstr(part, "its stack:"), "%s", text);
        free(part);
        free(text);
    }
}
END_TEST

/* A SIGURG that is not the watchdog's (the program's, or one that comes
 * late) finds libgreen's handler, which does nothing: inside a watched
 * green_run with no stall, and after green_run has returned. */
static void *raise_sigurg(void *arg)
{
    (void)arg;
    ck_assert_int_eq(raise(SIGURG), 0);
    return NULL;
}

START_TEST(stray_sigurg_does_nothing)
{
    /* Not under qemu-user: with armhf's fast switch the run hung there
     * (session 15, cause not found); natively it passes under both
     * switches, Valgrind and ASan. */
    if (!stacks_taken() || under_qemu())
        return;
    char *text = run_watched("10000", raise_sigurg);
    /* Outside green_run.  Not under Valgrind: with the fast switch its
     * delivery of this signal, after green_run took its alternate stack
     * away, faulted inside Valgrind (CI, session 15); natively, and under
     * ASan, it runs on the thread's own stack and does nothing. */
    if (!under_valgrind())
        ck_assert_int_eq(raise(SIGURG), 0);
    ck_assert_msg(!strstr(text, "libgreen"), "%s", text);
    free(text);
}
END_TEST

/* SIGURG blocked in the OS thread when green_run begins: no stack, and
 * the report says so. */
START_TEST(sigurg_blocked_no_stack)
{
    if (!stacks_taken())
        return;
    sigset_t urg, old;
    sigemptyset(&urg);
    sigaddset(&urg, SIGURG);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &urg, &old), 0);
    char *text = run_spinner(until_no_stack);
    ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    char *part = spinner_report(text);
    ck_assert_msg(strstr(part, "libgreen: no stack: SIGURG, which takes it, is blocked in its "
                               "OS thread\n"), "%s", text);
    ck_assert_msg(!strstr(part, "its stack:"), "%s", text);
    free(part);
    free(text);
}
END_TEST

/* A stall that ends before SIGURG lands shows no stack (it would be
 * another's): the spinner holds SIGURG blocked until it has yielded. */
static void *ends_first(void *arg)
{
    (void)arg;
    sigset_t urg;
    sigemptyset(&urg);
    sigaddset(&urg, SIGURG);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &urg, NULL), 0);
    ck_assert(spin_until_written(SPINNER));
    ck_assert_int_eq(green_yield(), 0);  /* the stall ends */
    ck_assert_int_eq(pthread_sigmask(SIG_UNBLOCK, &urg, NULL), 0);
    /* Yields, which are no stall, until the handler has written. */
    int64_t give_up = green_now() + 10000;
    while (!spinner_wrote("libgreen: no stack: ") && green_now() < give_up)
        ck_assert_int_eq(green_yield(), 0);
    return NULL;
}

START_TEST(stall_ended_shows_no_stack)
{
    if (!stacks_taken())
        return;
    char *text = run_spinner(ends_first);
    char *part = spinner_report(text);
    ck_assert_msg(strstr(part, "libgreen: no stack: the stall ended before SIGURG arrived\n"),
                  "%s", text);
    ck_assert_msg(!strstr(part, "its stack:"), "%s", text);
    free(part);
    free(text);
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
    tcase_add_test(tc, stall_shows_its_stack);
    tcase_add_test(tc, program_keeps_its_sigurg);
    tcase_add_test(tc, stray_sigurg_does_nothing);
    tcase_add_test(tc, sigurg_blocked_no_stack);
    tcase_add_test(tc, stall_ended_shows_no_stack);
    suite_add_tcase(s, tc);
    return s;
}
