/* What is each green thread's own, and cancellation as the thread sees
 * it: errno, green_yield, green_checkpoint and green_shield. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* errno */

static void *set_and_yield(void *arg)
{
    int mine = (int)(intptr_t)arg;
    ck_assert_int_eq(errno, 0);  /* a new thread's errno is 0 */
    errno = mine;
    green_yield();
    int after_yield = errno;
    errno = mine;
    green_sleep(1);  /* a park, not a yield */
    return (void *)(intptr_t)(after_yield == mine && errno == mine);
}

GREEN_TEST(errno_is_per_thread)
{
    (void)arg;
    errno = EINTR;
    green_t *a = green_spawn(set_and_yield, (void *)(intptr_t)EIO);
    green_t *b = green_spawn(set_and_yield, (void *)(intptr_t)ENOENT);
    void *ra, *rb;
    ck_assert_int_eq(green_join(a, &ra), 0);
    ck_assert_int_eq(errno, EINTR);  /* the joiner's own, through the join */
    ck_assert_int_eq(green_join(b, &rb), 0);
    ck_assert_ptr_eq(ra, (void *)1);
    ck_assert_ptr_eq(rb, (void *)1);
    return NULL;
}

static void *clobber_errno(void *arg)
{
    (void)arg;
    errno = EIO;
    return NULL;
}

/* green_gai_error is each thread's own too. */
static void *bad_lookup_then_yield(void *arg)
{
    (void)arg;
    struct addrinfo hints = {.ai_flags = -1}, *res;
    if (green_getaddrinfo("127.0.0.1", "80", &hints, &res) == 0)
        return NULL;
    int code = green_gai_error();
    green_yield();  /* the other thread's lookup succeeds meanwhile */
    return (void *)(intptr_t)(code == EAI_BADFLAGS && green_gai_error() == EAI_BADFLAGS);
}

static void *good_lookup(void *arg)
{
    (void)arg;
    struct addrinfo *res;
    int r = green_getaddrinfo("127.0.0.1", "80", NULL, &res);
    if (r == 0)
        freeaddrinfo(res);
    return (void *)(intptr_t)(r == 0 && green_gai_error() == 0);
}

GREEN_TEST(gai_error_is_per_thread)
{
    (void)arg;
    green_t *a = green_spawn(bad_lookup_then_yield, NULL);
    green_t *b = green_spawn(good_lookup, NULL);
    void *ra, *rb;
    green_join(a, &ra);
    green_join(b, &rb);
    ck_assert_ptr_eq(ra, (void *)1);
    ck_assert_ptr_eq(rb, (void *)1);
    return NULL;
}

/* green_run leaves its caller's errno as it was when it succeeds. */
START_TEST(errno_kept_by_green_run)
{
    errno = ERANGE;
    ck_assert_int_eq(green_run(clobber_errno, NULL), 0);
    ck_assert_int_eq(errno, ERANGE);
}
END_TEST

/* green_yield */

static int ran;

static void *count_run(void *arg)
{
    (void)arg;
    ran++;
    return NULL;
}

GREEN_TEST(yield_reports_cancellation)
{
    (void)arg;
    ck_assert_int_eq(green_yield(), 0);
    green_t *t = green_spawn(count_run, NULL);
    green_cancel(green_self());
    errno = 0;
    ck_assert_int_eq(green_yield(), -1);  /* but the others ran first */
    ck_assert_int_eq(errno, ECANCELED);
    ck_assert_int_eq(ran, 1);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(green_shield(1), 0);
    ck_assert_int_eq(green_yield(), 0);  /* held back */
    return NULL;
}

START_TEST(yield_and_checkpoint_outside)
{
    ck_assert_int_eq(green_yield(), 0);
    ck_assert_int_eq(green_checkpoint(), 0);
}
END_TEST

/* green_checkpoint */

GREEN_TEST(checkpoint_reports_deadline_and_cancellation)
{
    (void)arg;
    ck_assert_int_eq(green_checkpoint(), 0);
    green_deadline(green_now() + 5);
    ck_assert_int_eq(green_checkpoint(), 0);
    green_deadline(green_now() - 1);  /* passed */
    errno = 0;
    ck_assert_int_eq(green_checkpoint(), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    green_cancel(green_self());
    ck_assert_int_eq(green_checkpoint(), -1);
    ck_assert_int_eq(errno, ECANCELED);
    green_shield(1);
    ck_assert_int_eq(green_checkpoint(), 0);
    return NULL;
}

/* green_shield */

START_TEST(shield_outside)
{
    errno = 0;
    ck_assert_int_eq(green_shield(1), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

static void *answer(void *arg)
{
    return arg;
}

/* A cancelled thread's cleanup under the shield: a sleep that the
 * cancellation arrives in finishes, and an offload runs; the deadline
 * still applies; once the shield is lifted, the next blocking call gets
 * the cancellation. */
struct cleanup {
    int sleep_err, offload_err, deadline_err, after_err;
    void *offloaded;
};

static void *cleanup_under_shield(void *arg)
{
    struct cleanup *c = arg;
    ck_assert_int_eq(green_shield(1), 0);
    FILE *f = tmpfile();
    green_dump(f);
    char *text = file_text(f);
    ck_assert_msg(strstr(text, "running [shielded]"), "%s", text);
    free(text);
    c->sleep_err = green_sleep(20) < 0 ? errno : 0;  /* cancelled meanwhile */
    c->offload_err = green_offload(answer, (void *)11, &c->offloaded) < 0 ? errno : 0;
    green_deadline(green_now() + 5);
    c->deadline_err = green_sleep(10000) < 0 ? errno : 0;
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(green_shield(0), 1);
    c->after_err = green_sleep(10000) < 0 ? errno : 0;
    return NULL;
}

GREEN_TEST(shield_holds_cancellation_back)
{
    (void)arg;
    struct cleanup c = {-1, -1, -1, -1, NULL};
    green_t *t = green_spawn(cleanup_under_shield, &c);
    green_yield();  /* t is in its shielded sleep */
    ck_assert_int_eq(green_cancel(t), 0);
    FILE *f = tmpfile();
    green_dump(f);
    char *text = file_text(f);
    ck_assert_msg(strstr(text, "parked: sleep (wakes in ") && strstr(text, "[cancelled, shielded]"),
                  "%s", text);
    free(text);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(c.sleep_err, 0);
    ck_assert_int_eq(c.offload_err, 0);
    ck_assert_ptr_eq(c.offloaded, (void *)11);
    ck_assert_int_eq(c.deadline_err, ETIMEDOUT);
    ck_assert_int_eq(c.after_err, ECANCELED);
    return NULL;
}

/* A shielded thread still ends when green_run shuts down: it is
 * cancelled, finishes its cleanup (a sleep of arg ms), and green_run waits
 * for it. */
static int napped;

static void *shielded_nap(void *arg)
{
    green_shield(1);
    if (green_sleep((int64_t)(intptr_t)arg) == 0)
        napped = 1;
    return NULL;
}

static void *main_leaves_napper(void *arg)
{
    green_detach(green_spawn_attr(&(green_attr_t){.name = "napper"}, shielded_nap, arg));
    green_yield();
    return NULL;
}

START_TEST(shield_outlives_shutdown_cancel)
{
    run_green(main_leaves_napper, (void *)30);
    ck_assert_int_eq(napped, 1);
}
END_TEST

/* A thread still alive 2 s after green_run cancelled it is named on
 * stderr, once, and green_run goes on waiting for it. */
START_TEST(stubborn_thread_is_named)
{
    stderr_begin();
    int r = green_run(main_leaves_napper, (void *)2500);
    char *text = stderr_end();
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(napped, 1);
    const char *report = strstr(text, "libgreen: 1 green threads still running 2 s after main "
                                      "returned and they were cancelled; waiting for them:");
    ck_assert_msg(report, "%s", text);
    ck_assert_msg(strstr(report, "'napper' parked: sleep (wakes in "), "%s", text);
    ck_assert_msg(!strstr(strstr(report, "waiting for them:"), "still running"),
                  "reported twice: %s", text);
    free(text);
}
END_TEST

/* A blocking call that fails at once because its thread is cancelled
 * still lets the others run, as green_yield does: a loop that ignores the
 * error cannot starve them.  Each call below is made by a cancelled
 * thread in a loop that only main can end. */
static int loop_pipe[2];
static green_chan_t *loop_chan;
static green_mutex_t loop_mutex = GREEN_MUTEX_INIT;
static green_cond_t loop_cond = GREEN_COND_INIT;
static green_queue_t *loop_queue;

static void *nothing(void *arg)
{
    return arg;
}

static int call_sleep(void) { return green_sleep(1000); }
static int call_read(void) { char c; return (int)green_read(loop_pipe[0], &c, 1); }
static int call_write(void) { return (int)green_write(loop_pipe[1], "x", 1); }
static int call_wait(void) { return green_wait(loop_pipe[0], GREEN_IN); }
static int call_accept(void) { return green_accept(loop_pipe[0], NULL, NULL); }
static int call_chan(void) { int v; return green_chan_recv(loop_chan, &v); }
static int call_queue(void) { int v; return green_queue_recv(loop_queue, &v); }
static int call_checkpoint(void) { return green_checkpoint(); }
static int call_offload(void) { return green_offload(nothing, NULL, NULL); }
static pid_t loop_child;
static int call_waitpid(void) { return (int)green_waitpid(loop_child, NULL, 0); }
static int call_gai(void)
{
    struct addrinfo *ai;
    return green_getaddrinfo("127.0.0.1", "80", NULL, &ai);
}
static int call_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    return green_signal_wait(&set);
}
static int call_cond(void)
{
    green_mutex_lock(&loop_mutex);
    int r = green_cond_wait(&loop_cond, &loop_mutex);
    green_mutex_unlock(&loop_mutex);
    return r;
}
static int call_join(void)
{
    green_t *t = green_spawn(nothing, NULL);
    int r = green_join(t, NULL);
    if (r < 0)
        green_detach(t);
    return r;
}

static int (*const loop_calls[])(void) = {
    call_sleep, call_read, call_write, call_wait, call_accept, call_chan, call_queue,
    call_checkpoint, call_offload, call_waitpid, call_gai, call_signal, call_cond, call_join,
};
enum { NCALLS = sizeof loop_calls / sizeof loop_calls[0] };

static volatile bool loop_stop;

static void *loop_ignoring(void *arg)
{
    int (*call)(void) = loop_calls[(intptr_t)arg];
    long turns = 0;
    while (!loop_stop) {
        errno = 0;
        ck_assert_int_eq(call(), -1);
        ck_assert_int_eq(errno, ECANCELED);
        turns++;
    }
    return (void *)turns;
}

GREEN_TEST(cancelled_call_lets_others_run)
{
    (void)arg;
    make_pipe(loop_pipe);
    loop_child = fork();  /* first, before the offload pool's threads */
    ck_assert_int_ge(loop_child, 0);
    if (loop_child == 0) {
        pause();
        exit_child(0);
    }
    loop_chan = green_chan_new(sizeof(int), 0);
    loop_queue = green_queue_new(sizeof(int), 1);
    for (intptr_t i = 0; i < NCALLS; i++) {
        loop_stop = false;
        green_t *t = green_spawn(loop_ignoring, (void *)i);
        green_cancel(t);
        green_yield();  /* it runs, fails and lets this thread run again */
        loop_stop = true;
        void *turns;
        ck_assert_int_eq(green_join(t, &turns), 0);
        ck_assert_int_ge((intptr_t)turns, 1);
    }
    kill(loop_child, SIGKILL);
    ck_assert_int_eq(waitpid(loop_child, NULL, 0), loop_child);
    green_queue_free(loop_queue);
    green_chan_free(loop_chan);
    close(loop_pipe[0]);
    close(loop_pipe[1]);
    return NULL;
}

/* After main returned: a thread that sleeps again whenever its sleep
 * fails is still named by the report 2 s later, while it loops. */
static void *sleep_ignoring(void *arg)
{
    (void)arg;
    int64_t until = green_now() + 3000;
    while (green_now() < until)
        (void)green_sleep(1000);
    return NULL;
}

static void *main_leaves_looper(void *arg)
{
    (void)arg;
    green_detach(green_spawn_attr(&(green_attr_t){.name = "looper"}, sleep_ignoring, NULL));
    green_yield();
    return NULL;
}

START_TEST(stubborn_looper_is_named)
{
    stderr_begin();
    int r = green_run(main_leaves_looper, NULL);
    char *text = stderr_end();
    ck_assert_int_eq(r, 0);
    ck_assert_msg(strstr(text, "libgreen: 1 green threads still running 2 s after main"), "%s",
                  text);
    ck_assert_msg(strstr(text, "'looper' runnable"), "%s", text);
    free(text);
}
END_TEST

/* A shielded cleanup that waits for what never comes: the deadlock
 * breaks the shield, and green_run returns EDEADLK. */
static int cleanup_err;

static void *cleanup_forever(void *arg)
{
    green_shield(1);
    int v;
    cleanup_err = green_chan_recv(arg, &v) < 0 ? errno : 0;
    return NULL;
}

static green_chan_t *never_sent;

static void *main_leaves_cleanup(void *arg)
{
    (void)arg;
    never_sent = green_chan_new(sizeof(int), 0);
    green_detach(green_spawn(cleanup_forever, never_sent));
    green_yield();
    return NULL;
}

START_TEST(deadlock_breaks_shield)
{
    stderr_begin();
    errno = 0;
    int r = green_run(main_leaves_cleanup, NULL);
    int err = errno;
    char *text = stderr_end();
    ck_assert_int_eq(r, -1);
    ck_assert_int_eq(err, EDEADLK);
    ck_assert_int_eq(cleanup_err, ECANCELED);
    ck_assert_msg(strstr(text, "libgreen: deadlock"), "%s", text);
    free(text);
    green_chan_free(never_sent);
}
END_TEST

Suite *cancel_suite(void)
{
    Suite *s = suite_create("cancel");
    TCase *tc = tcase_create("cancel");
    tcase_add_test(tc, errno_is_per_thread);
    tcase_add_test(tc, errno_kept_by_green_run);
    tcase_add_test(tc, gai_error_is_per_thread);
    tcase_add_test(tc, yield_reports_cancellation);
    tcase_add_test(tc, yield_and_checkpoint_outside);
    tcase_add_test(tc, checkpoint_reports_deadline_and_cancellation);
    tcase_add_test(tc, shield_outside);
    tcase_add_test(tc, shield_holds_cancellation_back);
    tcase_add_test(tc, shield_outlives_shutdown_cancel);
    tcase_add_test(tc, stubborn_thread_is_named);
    tcase_add_test(tc, cancelled_call_lets_others_run);
    tcase_add_test(tc, stubborn_looper_is_named);
    tcase_add_test(tc, deadlock_breaks_shield);
    suite_add_tcase(s, tc);
    return s;
}
