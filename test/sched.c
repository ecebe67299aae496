/* The scheduler: green_run, spawn, join, detach, cancel, yield, self,
 * names, deadlock detection and green_dump. */
#include <errno.h>
#include <fenv.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sched.h"
#include "util.h"

static void *return_arg(void *arg)
{
    return arg;
}

static void *sleep_long(void *arg)
{
    int *result = arg;
    int r = green_sleep(100000);
    if (result)
        *result = r < 0 ? errno : 0;
    return NULL;
}

/* green_run */

static int ran;

static void *set_ran(void *arg)
{
    ran = *(int *)arg;
    return NULL;
}

START_TEST(run_runs_main)
{
    int v = 42;
    ck_assert_int_eq(green_run(set_ran, &v), 0);
    ck_assert_int_eq(ran, 42);
    /* A second run on the same OS thread starts afresh. */
    v = 7;
    ck_assert_int_eq(green_run(set_ran, &v), 0);
    ck_assert_int_eq(ran, 7);
}
END_TEST

START_TEST(run_null_main)
{
    errno = 0;
    ck_assert_int_eq(green_run(NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

GREEN_TEST(run_nested)
{
    (void)arg;
    ck_assert_int_eq(green_run(return_arg, NULL), -1);
    ck_assert_int_eq(errno, EPERM);
    return NULL;
}

static void *count_yields(void *arg)
{
    int *n = arg;
    for (int i = 0; i < 1000; i++) {
        (*n)++;
        green_yield();
    }
    return NULL;
}

static void *os_thread_main(void *arg)
{
    int count = 0;
    (void)arg;
    if (green_run(count_yields, &count) < 0)
        return (void *)1;
    return count == 1000 ? NULL : (void *)2;
}

/* With no fd to spare, green_run cannot make its poller (epoll needs an
 * fd; poll needs none, and runs). */
static void *nothing_main(void *arg)
{
    return arg;
}

START_TEST(run_out_of_fds)
{
    int lowest = dup(0);  /* the lowest free number */
    ck_assert_int_ge(lowest, 0);
    close(lowest);
    struct rlimit rl, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    low = (struct rlimit){(rlim_t)lowest, rl.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    errno = 0;
    int r = green_run(nothing_main, NULL);
    int err = errno;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    if (strcmp(green_poller_name(), "poll") != 0) {  /* uring falls back to epoll */
        ck_assert_int_eq(r, -1);
        ck_assert_int_eq(err, EMFILE);
    } else {
        ck_assert_int_eq(r, 0);
    }
}
END_TEST

START_TEST(run_on_two_os_threads)
{
    pthread_t a, b;
    void *ra, *rb;
    ck_assert_int_eq(pthread_create(&a, NULL, os_thread_main, NULL), 0);
    ck_assert_int_eq(pthread_create(&b, NULL, os_thread_main, NULL), 0);
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    ck_assert_ptr_null(ra);
    ck_assert_ptr_null(rb);
}
END_TEST

/* When main returns, the green threads still alive are cancelled and
 * waited for. */
static int child_err, child_done;

static void *child_sleeps(void *arg)
{
    (void)arg;
    if (green_sleep(100000) < 0)
        child_err = errno;
    child_done = 1;
    return NULL;
}

static void *main_leaves_children(void *arg)
{
    (void)arg;
    ck_assert_ptr_nonnull(green_spawn(child_sleeps, NULL));
    green_t *t = green_spawn(child_sleeps, NULL);
    ck_assert_int_eq(green_detach(t), 0);
    green_yield();
    return NULL;
}

START_TEST(run_cancels_leftovers)
{
    int64_t start = green_now();
    ck_assert_int_eq(green_run(main_leaves_children, NULL), 0);
    ck_assert_int_eq(child_done, 1);
    ck_assert_int_eq(child_err, ECANCELED);
    ck_assert_int_lt(green_now() - start, 50000);
}
END_TEST

/* A thread spawned while green_run is ending starts cancelled, so it
 * cannot keep green_run from returning. */
static int late_err;

static void *late_child(void *arg)
{
    (void)arg;
    if (green_sleep(100000) < 0)
        late_err = errno;
    return NULL;
}

static void *spawns_when_cancelled(void *arg)
{
    (void)arg;
    green_sleep(100000);
    ck_assert_ptr_nonnull(green_spawn(late_child, NULL));
    return NULL;
}

static void *main_spawns_spawner(void *arg)
{
    (void)arg;
    green_spawn(spawns_when_cancelled, NULL);
    green_yield();
    return NULL;
}

START_TEST(run_shutdown_spawn)
{
    ck_assert_int_eq(green_run(main_spawns_spawner, NULL), 0);
    ck_assert_int_eq(late_err, ECANCELED);
}
END_TEST

/* Deadlock: every thread parked on something nothing can wake. */
static int parked_err[3];

static void *parks(void *arg)
{
    int *slot = arg;
    *slot = -park_forever();
    return NULL;
}

static void *main_deadlocks(void *arg)
{
    (void)arg;
    green_spawn_attr(&(green_attr_t){.name = "first"}, parks, &parked_err[1]);
    green_spawn_attr(&(green_attr_t){.name = "second"}, parks, &parked_err[2]);
    parked_err[0] = -park_forever();
    return NULL;
}

START_TEST(run_deadlock)
{
    char *text = run_deadlocked(0, main_deadlocks);
    ck_assert_ptr_nonnull(strstr(text, "deadlock"));
    ck_assert_ptr_nonnull(strstr(text, "#1 'main' parked: test wait"));
    ck_assert_ptr_nonnull(strstr(text, "#2 'first' parked: test wait"));
    ck_assert_ptr_nonnull(strstr(text, "#3 'second' parked: test wait"));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(parked_err[i], ECANCELED);
    free(text);
}
END_TEST

/* A deadlock after main returned cannot happen: leftovers are cancelled. */
static void *main_with_stuck_child(void *arg)
{
    (void)arg;
    green_spawn(parks, &parked_err[1]);
    green_yield();
    return NULL;
}

START_TEST(run_no_deadlock_after_main)
{
    ck_assert_int_eq(green_run(main_with_stuck_child, NULL), 0);
    ck_assert_int_eq(parked_err[1], ECANCELED);
}
END_TEST

/* green_spawn and green_spawn_attr */

START_TEST(spawn_outside)
{
    errno = 0;
    ck_assert_ptr_null(green_spawn(return_arg, NULL));
    ck_assert_int_eq(errno, EPERM);
    ck_assert_ptr_null(green_spawn_attr(NULL, return_arg, NULL));
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

GREEN_TEST(spawn_bad_args)
{
    (void)arg;
    size_t nthreads = green__cur->nthreads;
    errno = 0;
    ck_assert_ptr_null(green_spawn(NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    green_attr_t small = {.stack_size = GREEN_STACK_MIN - 1};
    ck_assert_ptr_null(green_spawn_attr(&small, return_arg, NULL));
    ck_assert_int_eq(errno, EINVAL);
    green_attr_t huge = {.stack_size = GREEN_STACK_MAX + 1};
    ck_assert_ptr_null(green_spawn_attr(&huge, return_arg, NULL));
    ck_assert_int_eq(errno, EINVAL);
    char name[GREEN_NAME_MAX + 1];
    memset(name, 'x', GREEN_NAME_MAX);
    name[GREEN_NAME_MAX] = '\0';
    ck_assert_ptr_null(green_spawn_attr(&(green_attr_t){.name = name}, return_arg, NULL));
    ck_assert_int_eq(errno, EINVAL);
    /* Nothing was left behind. */
    ck_assert_uint_eq(green__cur->nthreads, nthreads);
    name[GREEN_NAME_MAX - 1] = '\0';
    green_t *t = green_spawn_attr(&(green_attr_t){.name = name}, return_arg, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(green_name(t), name);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

static char order[8];
static int norder;

static void *record(void *arg)
{
    order[norder++] = *(char *)arg;
    return NULL;
}

GREEN_TEST(spawn_runs_in_order)
{
    (void)arg;
    green_t *t[3];
    static char names[] = "abc";
    for (int i = 0; i < 3; i++)
        t[i] = green_spawn(record, &names[i]);
    /* The spawner keeps running until it parks or yields. */
    ck_assert_int_eq(norder, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
    ck_assert_str_eq(order, "abc");
    return NULL;
}

static bool usr2_blocked(void)
{
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    return sigismember(&now, SIGUSR2) == 1;
}

static void *report_usr2(void *arg)
{
    *(bool *)arg = usr2_blocked();
    return NULL;
}

/* A spawn makes no system call for the signal mask: under ucontext a new
 * thread starts with green_run's mask, not its spawner's (each keeps its
 * own after that); under the fast switch all share the OS thread's. */
GREEN_TEST(spawn_signal_mask)
{
    (void)arg;
    bool own_masks = strcmp(green__switch_name, "ucontext") == 0;
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    ck_assert(!usr2_blocked());
    pthread_sigmask(SIG_BLOCK, &usr2, NULL);
    bool child = !own_masks;
    green_join(green_spawn(report_usr2, &child), NULL);
    ck_assert_int_eq(child, !own_masks);
    ck_assert(usr2_blocked());  /* the spawner's own is kept across switches */
    pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
    return NULL;
}

static void *report_rounding(void *arg)
{
    *(int *)arg = fegetround();
    return NULL;
}

/* The floating-point environment a new thread starts with: green_run's
 * under ucontext (the template holds it), the spawner's control state
 * under the fast switch (read at each spawn) and under ucontext in the
 * POSIX build (which makes each context with getcontext). */
GREEN_TEST(spawn_fp_environment)
{
    (void)arg;
#ifndef GREEN_POSIX_ONLY
    bool from_run = strcmp(green__switch_name, "ucontext") == 0;
#else
    bool from_run = false;
#endif
    int before = fegetround();
    ck_assert_int_eq(fesetround(FE_UPWARD), 0);
    int child = -1;
    green_join(green_spawn(report_rounding, &child), NULL);
    ck_assert_int_eq(child, from_run ? before : FE_UPWARD);
    ck_assert_int_eq(fegetround(), FE_UPWARD);  /* the spawner's own stays */
    fesetround(before);
    return NULL;
}

/* Values live across a switch sit where the compiler keeps them over a
 * call: in the registers a callee must keep (s0-s11 and fs0-fs11 on
 * riscv64, x19-x28 and d8-d15 on aarch64) or on the stack.  Two threads
 * hold different values through rounds of yields to each other, each
 * round's step unknown to the compiler (so the values cannot be folded
 * into their final ones), and each must find its own.  The doubles are
 * exact (quarters of small integers). */
enum { HELD_ROUNDS = 8 };
#define HELD(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)
#define HELD_INIT(n) long i##n = k * (n + 1); double d##n = k * 0.25 * (n + 1);
#define HELD_STEP(n) i##n += step * n; d##n += step;
#define HELD_CHECK(n) ok &= i##n == k * (n + 1) + HELD_ROUNDS * n; \
    ok &= d##n == k * 0.25 * (n + 1) + HELD_ROUNDS;

static void *hold_registers(void *arg)
{
    long k = (long)(intptr_t)arg;
    HELD(HELD_INIT)
    for (int round = 0; round < HELD_ROUNDS; round++) {
        long step = green_yield() == 0;
        HELD(HELD_STEP)
    }
    bool ok = true;
    HELD(HELD_CHECK)
    return (void *)(intptr_t)ok;
}

GREEN_TEST(switch_keeps_registers)
{
    (void)arg;
#if defined(__powerpc64__) && !defined(GREEN_SWITCH_FAST)
    /* qemu-ppc64le 7.2 with glibc 2.36: swapcontext alone, in a 30-line
     * program without libgreen, loses v29-v31, where gcc keeps doubles;
     * the same program built -O0 (all on the stack) passes. */
    if (under_qemu())
        return NULL;
#endif
    green_t *a = green_spawn(hold_registers, (void *)3);
    green_t *b = green_spawn(hold_registers, (void *)7);
    void *ok_a = NULL, *ok_b = NULL;
    ck_assert_int_eq(green_join(a, &ok_a), 0);
    ck_assert_int_eq(green_join(b, &ok_b), 0);
    ck_assert(ok_a);
    ck_assert(ok_b);
    return NULL;
}

static void *hold_rounding(void *arg)
{
    int mode = (int)(intptr_t)arg;
    bool ok = fesetround(mode) == 0;
    for (int round = 0; round < HELD_ROUNDS; round++) {
        green_yield();
        ok &= fegetround() == mode;
    }
    return (void *)(intptr_t)ok;
}

/* The floating-point control state belongs to the green thread under
 * both switches: two threads with different rounding modes yield to each
 * other, and each keeps its own, as does their spawner. */
GREEN_TEST(switch_keeps_rounding_mode)
{
    (void)arg;
    int before = fegetround();
    green_t *up = green_spawn(hold_rounding, (void *)(intptr_t)FE_UPWARD);
    green_t *down = green_spawn(hold_rounding, (void *)(intptr_t)FE_DOWNWARD);
    void *ok_up = NULL, *ok_down = NULL;
    ck_assert_int_eq(green_join(up, &ok_up), 0);
    ck_assert_int_eq(green_join(down, &ok_down), 0);
    ck_assert(ok_up);
    ck_assert(ok_down);
    ck_assert_int_eq(fegetround(), before);
    return NULL;
}

GREEN_TEST(spawn_attr_defaults)
{
    (void)arg;
    green_attr_t zero = {0};
    green_t *a = green_spawn_attr(&zero, return_arg, (void *)1);
    green_t *b = green_spawn_attr(NULL, return_arg, (void *)2);
    ck_assert_str_eq(green_name(a), "");
    ck_assert_str_eq(green_name(b), "");
    ck_assert_uint_ne(green_id(a), green_id(b));
    void *ra, *rb;
    ck_assert_int_eq(green_join(a, &ra), 0);
    ck_assert_int_eq(green_join(b, &rb), 0);
    ck_assert_ptr_eq(ra, (void *)1);
    ck_assert_ptr_eq(rb, (void *)2);
    return NULL;
}

/* Eager threads run at once, like a call, and their spawner right after
 * they stop, before the threads that were runnable already. */
static char trail[16];
static size_t ntrail;

static void *mark(void *arg)
{
    trail[ntrail++] = (char)(intptr_t)arg;
    return arg;
}

static void *mark_yield_mark(void *arg)
{
    mark(arg);
    green_yield();
    return mark((void *)((intptr_t)arg + 1));
}

GREEN_TEST(spawn_eager_runs_first)
{
    (void)arg;
    ntrail = 0;
    green_t *a = green_spawn(mark, (void *)'a');
    green_t *e = green_spawn_attr(&(green_attr_t){.eager = 1}, mark_yield_mark, (void *)'x');
    ck_assert_uint_eq(ntrail, 1);  /* x ran until it yielded; a has not run */
    mark((void *)'m');
    green_t *b = green_spawn(mark, (void *)'b');
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_join(e, NULL), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    trail[ntrail] = '\0';
    ck_assert_str_eq(trail, "xmayb");  /* x's second half after a, which was first */
    return NULL;
}

/* A tree of eager threads runs as a call tree: every child has finished
 * when its parent joins it, and no thread ever parks. */
static void *eager_tree(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    if (depth == 0)
        return (void *)1;
    intptr_t sum = 0;
    green_t *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = green_spawn_attr(&(green_attr_t){.eager = 1}, eager_tree, (void *)(depth - 1));
    for (int i = 0; i < 4; i++) {
        void *r;
        ck_assert_int_eq(green_join(t[i], &r), 0);
        sum += (intptr_t)r;
    }
    return (void *)sum;
}

GREEN_TEST(spawn_eager_tree)
{
    (void)arg;
    ck_assert_int_eq((intptr_t)eager_tree((void *)5), 4 * 4 * 4 * 4 * 4);
    return NULL;
}

/* An eager member of a group is the group's before it runs. */
GREEN_TEST(spawn_eager_into_group)
{
    (void)arg;
    green_group_t *g = green_group_new();
    ntrail = 0;
    ck_assert_ptr_nonnull(
        green_group_spawn_attr(g, &(green_attr_t){.eager = 1}, mark, (void *)'g'));
    ck_assert_uint_eq(ntrail, 1);
    ck_assert_int_eq(green_group_wait(g), 0);
    green_group_free(g);
    return NULL;
}

/* green_join */

GREEN_TEST(join_result)
{
    (void)arg;
    int x;
    green_t *t = green_spawn(return_arg, &x);
    void *r = NULL;
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_ptr_eq(r, &x);
    /* Joining a thread that finished already does not wait. */
    t = green_spawn(return_arg, &x);
    green_yield();
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

GREEN_TEST(join_errors)
{
    (void)arg;
    errno = 0;
    ck_assert_int_eq(green_join(NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_join(green_self(), NULL), -1);
    ck_assert_int_eq(errno, EDEADLK);
    green_t *d = green_spawn(return_arg, NULL);
    ck_assert_int_eq(green_detach(d), 0);
    ck_assert_int_eq(green_join(d, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_t *t = green_spawn(return_arg, NULL);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(green_join(t, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

START_TEST(join_outside)
{
    errno = 0;
    ck_assert_int_eq(green_join(NULL, NULL), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

static green_t *target;

static void *second_joiner(void *arg)
{
    int *err = arg;
    *err = green_join(target, NULL) < 0 ? errno : 0;
    return NULL;
}

GREEN_TEST(join_two_joiners)
{
    (void)arg;
    int err = -1;
    target = green_spawn(sleep_long, NULL);
    green_t *j = green_spawn(second_joiner, &err);
    green_yield();  /* j joins target first */
    ck_assert_int_eq(green_join(target, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_cancel(target);
    ck_assert_int_eq(green_join(j, NULL), 0);
    ck_assert_int_eq(err, 0);
    return NULL;
}

GREEN_TEST(join_main_is_invalid)
{
    (void)arg;
    ck_assert_int_eq(green_join(green_self(), NULL), -1);
    ck_assert_int_eq(errno, EDEADLK);
    green_t *main_thread = green_self();
    ck_assert_int_eq(green_detach(main_thread), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

GREEN_TEST(join_deadline)
{
    (void)arg;
    int result = -1;
    green_t *t = green_spawn(sleep_long, &result);
    int64_t prev = green_deadline(green_now() + 20);
    ck_assert_int_eq(prev, -1);
    ck_assert_int_eq(green_join(t, NULL), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(prev);
    /* It is still joinable. */
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(result, ECANCELED);
    return NULL;
}

GREEN_TEST(join_when_cancelled)
{
    (void)arg;
    green_t *done = green_spawn(return_arg, (void *)5);
    green_t *slow = green_spawn(sleep_long, NULL);
    green_yield();
    ck_assert_int_eq(green_cancel(green_self()), 0);
    /* A join that would wait fails; one that would not, completes. */
    ck_assert_int_eq(green_join(slow, NULL), -1);
    ck_assert_int_eq(errno, ECANCELED);
    void *r;
    ck_assert_int_eq(green_join(done, &r), 0);
    ck_assert_ptr_eq(r, (void *)5);
    return NULL;
}

/* green_detach */

GREEN_TEST(detach_reaps)
{
    (void)arg;
    size_t before = green__cur->nthreads;
    green_t *t = green_spawn(return_arg, NULL);
    ck_assert_int_eq(green_detach(t), 0);
    green_yield();
    green_yield();
    ck_assert_uint_eq(green__cur->nthreads, before);
    /* Detaching a finished thread frees it at once. */
    t = green_spawn(return_arg, NULL);
    green_yield();
    ck_assert_uint_eq(green__cur->nthreads, before + 1);
    ck_assert_int_eq(green_detach(t), 0);
    ck_assert_uint_eq(green__cur->nthreads, before);
    return NULL;
}

static void *detach_self(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)green_detach(green_self());
}

GREEN_TEST(detach_errors)
{
    (void)arg;
    errno = 0;
    ck_assert_int_eq(green_detach(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_t *t = green_spawn(sleep_long, NULL);
    ck_assert_int_eq(green_detach(t), 0);
    ck_assert_int_eq(green_detach(t), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_cancel(t);
    target = green_spawn(sleep_long, NULL);
    int err;
    green_t *j = green_spawn(second_joiner, &err);
    green_yield();
    ck_assert_int_eq(green_detach(target), -1);  /* it has a joiner */
    ck_assert_int_eq(errno, EINVAL);
    green_cancel(target);
    green_join(j, NULL);
    green_t *s = green_spawn(detach_self, NULL);
    green_yield();
    ck_assert_int_eq(green_join(s, NULL), -1);  /* detached itself */
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

static void *detach_self_while_joined(void *arg)
{
    green_yield();
    *(int *)arg = green_detach(green_self()) < 0 ? errno : 0;
    return NULL;
}

GREEN_TEST(detach_self_errors)
{
    (void)arg;
    int err = -1;
    green_t *t = green_spawn(detach_self_while_joined, &err);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(err, EINVAL);  /* main was joining it */
    t = green_spawn(detach_self, NULL);
    green_yield();
    ck_assert_int_eq(green_join(t, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

START_TEST(detach_outside)
{
    errno = 0;
    ck_assert_int_eq(green_detach(NULL), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

/* green_cancel */

GREEN_TEST(cancel_parked)
{
    (void)arg;
    int err = 0;
    green_t *t = green_spawn(sleep_long, &err);
    green_yield();
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(err, ECANCELED);
    return NULL;
}

GREEN_TEST(cancel_before_it_runs)
{
    (void)arg;
    int err = 0;
    green_t *t = green_spawn(sleep_long, &err);
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(err, ECANCELED);
    return NULL;
}

static void *sleeps_twice(void *arg)
{
    int *errs = arg;
    errs[0] = green_sleep(100000) < 0 ? errno : 0;
    errs[1] = green_sleep(1) < 0 ? errno : 0;
    return NULL;
}

GREEN_TEST(cancel_is_sticky)
{
    (void)arg;
    int errs[2] = {0, 0};
    green_t *t = green_spawn(sleeps_twice, errs);
    green_yield();
    green_cancel(t);
    green_cancel(t);  /* twice is harmless */
    green_join(t, NULL);
    ck_assert_int_eq(errs[0], ECANCELED);
    ck_assert_int_eq(errs[1], ECANCELED);
    return NULL;
}

GREEN_TEST(cancel_errors)
{
    (void)arg;
    errno = 0;
    ck_assert_int_eq(green_cancel(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* A finished thread: nothing to do, not an error. */
    green_t *t = green_spawn(return_arg, NULL);
    green_yield();
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    /* Cancelling itself makes its own next blocking call fail. */
    ck_assert_int_eq(green_cancel(green_self()), 0);
    ck_assert_int_eq(green_sleep(1), -1);
    ck_assert_int_eq(errno, ECANCELED);
    return NULL;
}

START_TEST(cancel_outside)
{
    errno = 0;
    ck_assert_int_eq(green_cancel(NULL), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

/* green_yield, green_self, green_name, green_id */

static char trace[16];
static int ntrace;

static void *ping(void *arg)
{
    for (int i = 0; i < 3; i++) {
        trace[ntrace++] = *(char *)arg;
        green_yield();
    }
    return NULL;
}

GREEN_TEST(yield_alternates)
{
    (void)arg;
    static char a = 'a', b = 'b';
    green_t *x = green_spawn(ping, &a);
    green_t *y = green_spawn(ping, &b);
    green_join(x, NULL);
    green_join(y, NULL);
    ck_assert_str_eq(trace, "ababab");
    /* Yield with nothing else runnable returns at once. */
    green_yield();
    return NULL;
}

START_TEST(yield_outside)
{
    green_yield();  /* sched_yield: must simply return */
}
END_TEST

static void *report_self(void *arg)
{
    *(green_t **)arg = green_self();
    return NULL;
}

GREEN_TEST(self_and_names)
{
    (void)arg;
    green_t *me = green_self();
    ck_assert_ptr_nonnull(me);
    ck_assert_str_eq(green_name(me), "main");
    ck_assert_uint_eq(green_id(me), 1);
    green_t *seen = NULL;
    green_t *t = green_spawn_attr(&(green_attr_t){.name = "worker"}, report_self, &seen);
    ck_assert_str_eq(green_name(t), "worker");
    ck_assert_uint_eq(green_id(t), 2);
    green_yield();
    ck_assert_ptr_eq(seen, t);
    green_join(t, NULL);
    errno = 0;
    ck_assert_ptr_null(green_name(NULL));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_uint_eq(green_id(NULL), 0);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

START_TEST(self_outside)
{
    errno = 0;
    ck_assert_ptr_null(green_self());
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

/* green_dump */

static void *wait_both(void *arg)
{
    green_wait(*(int *)arg, GREEN_IN | GREEN_OUT);  /* a pipe's read end: never writable */
    return NULL;
}

/* A wait for either direction says both. */
GREEN_TEST(dump_says_read_and_write)
{
    (void)arg;
    int fds[2];
    make_pipe(fds);
    green_t *t = green_spawn(wait_both, &fds[0]);
    char line[64];
    snprintf(line, sizeof line, "parked: fd %d read+write", fds[0]);
    free(dump_until(line, 1));
    green_cancel(t);
    green_join(t, NULL);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

static void *read_pipe(void *arg)
{
    char c;
    green_read(*(int *)arg, &c, 1);
    return NULL;
}

GREEN_TEST(dump_lists_threads)
{
    (void)arg;
    int fds[2];
    make_pipe(fds);
    green_t *r = green_spawn_attr(&(green_attr_t){.name = "reader"}, read_pipe, &fds[0]);
    green_t *s = green_spawn_attr(&(green_attr_t){.name = "sleeper"}, sleep_long, NULL);
    green_t *j = green_spawn_attr(&(green_attr_t){.name = "joiner"}, second_joiner, &(int){0});
    target = s;
    char line[64];
    snprintf(line, sizeof line, "#2 'reader' parked: fd %d read", fds[0]);
    /* Under uring the reader's first try (a socket's recv) comes back
     * ENOTSOCK at a look at the poller, and it parks again on a read. */
    char *text = dump_until(line, 1);
    ck_assert_ptr_nonnull(strstr(text, "4 green threads"));
    ck_assert_ptr_nonnull(strstr(text, "#1 'main' running"));
    ck_assert_ptr_nonnull(strstr(text, line));
    ck_assert_ptr_nonnull(strstr(text, "#3 'sleeper' parked: sleep (wakes in "));
    ck_assert_ptr_nonnull(strstr(text, "#4 'joiner' parked: join #3 'sleeper'"));
    free(text);
    green_cancel(r);
    green_cancel(s);
    green_join(r, NULL);
    green_join(j, NULL);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

/* The other states, a deadline, a cancellation, and stderr by default. */
static bool done_read;

static void *read_and_say(void *arg)
{
    void *r = read_pipe(arg);
    done_read = true;
    return r;
}

static void *read_with_deadline(void *arg)
{
    green_deadline(green_now() + 60000);
    return read_pipe(arg);
}

GREEN_TEST(dump_states)
{
    (void)arg;
    int fds[2];
    make_pipe(fds);
    green_t *fresh = green_spawn_attr(&(green_attr_t){.name = "fresh"}, sleep_long, NULL);
    green_t *done = green_spawn_attr(&(green_attr_t){.name = "done"}, read_and_say, &fds[0]);
    green_t *timed = green_spawn_attr(&(green_attr_t){.name = "timed"}, read_with_deadline,
                                      &fds[0]);
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    /* done reads its byte and finishes (under uring the read parks until
     * the next look at the poller); timed parks */
    while (!done_read)
        green_yield();
    green_yield();
    green_cancel(fresh);
    green_t *late = green_spawn_attr(&(green_attr_t){.name = "late"}, sleep_long, NULL);
    green_cancel(late);  /* runnable, never run, cancelled */
    char *text = dump_text();
    ck_assert_ptr_nonnull(strstr(text, "'done' done"));
    ck_assert_ptr_nonnull(strstr(text, "'timed' parked: fd "));
    ck_assert_ptr_nonnull(strstr(text, "(deadline in "));
    ck_assert_ptr_nonnull(strstr(text, "'late' runnable [cancelled]"));
    free(text);
    stderr_begin();
    green_dump(NULL);  /* NULL is stderr */
    text = stderr_end();
    ck_assert_ptr_nonnull(strstr(text, "'late' runnable"));
    free(text);
    green_cancel(timed);
    green_join(fresh, NULL);
    green_join(done, NULL);
    green_join(timed, NULL);
    green_join(late, NULL);
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

/* Every kind of wait names itself in the dump. */
static green_chan_t *dump_chans[2];
static green_queue_t *dump_full, *dump_empty;
static green_mutex_t dump_mutex = GREEN_MUTEX_INIT;
static green_sem_t dump_sem = GREEN_SEM_INIT(0);
static int dump_block[2];

static void *select_two(void *arg)
{
    (void)arg;
    int a, b;
    green_case_t cases[] = {{.chan = dump_chans[0], .op = GREEN_RECV, .elem = &a}, {.chan = dump_chans[1], .op = GREEN_RECV, .elem = &b}};
    green_select(cases, 2);
    return NULL;
}

static void *blocking_read(void *arg)
{
    char c;
    return (void *)(intptr_t)read(*(int *)arg, &c, 1);
}

static void *offload_blocked(void *arg)
{
    green_offload(blocking_read, arg, NULL);
    return NULL;
}

static void *queue_send_full(void *arg)
{
    (void)arg;
    int v = 2;
    green_queue_send(dump_full, &v);
    return NULL;
}

static void *queue_recv_empty(void *arg)
{
    (void)arg;
    int v;
    green_queue_recv(dump_empty, &v);
    return NULL;
}

static void *wait_usr2(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    green_signal_wait(&set);
    return NULL;
}

static void *lock_held(void *arg)
{
    (void)arg;
    if (green_mutex_lock(&dump_mutex) == 0)
        green_mutex_unlock(&dump_mutex);
    return NULL;
}

static void *acquire_sem(void *arg)
{
    (void)arg;
    green_sem_acquire(&dump_sem);
    return NULL;
}

GREEN_TEST(dump_names_every_wait)
{
    (void)arg;
    dump_chans[0] = green_chan_new(sizeof(int), 0);
    dump_chans[1] = green_chan_new(sizeof(int), 0);
    dump_full = green_queue_new(sizeof(int), 1);
    dump_empty = green_queue_new(sizeof(int), 1);
    ck_assert_int_eq(green_queue_trysend(dump_full, &(int){1}), 0);
    make_pipe(dump_block);
    green_mutex_lock(&dump_mutex);
    void *(*const fns[])(void *) = {select_two, offload_blocked, queue_send_full,
                                    queue_recv_empty, wait_usr2, lock_held, acquire_sem};
    enum { N = sizeof fns / sizeof fns[0] };
    green_t *t[N];
    for (size_t i = 0; i < N; i++)
        t[i] = green_spawn(fns[i], &dump_block[0]);
    green_group_t *g = green_group_new();
    green_t *member = green_group_spawn(g, acquire_sem, NULL);
    green_yield();
    FILE *f = tmpfile();
    green_dump(f);
    char *text = file_text(f);
    char want[N][96];
    snprintf(want[0], sizeof want[0], "parked: select over 2 cases");
    snprintf(want[1], sizeof want[1], "parked: offload %p(%p)",
             (void *)(uintptr_t)blocking_read, (void *)&dump_block[0]);
    snprintf(want[2], sizeof want[2], "parked: queue %p send", (void *)dump_full);
    snprintf(want[3], sizeof want[3], "parked: queue %p recv", (void *)dump_empty);
    snprintf(want[4], sizeof want[4], "parked: signal %d", SIGUSR2);
    snprintf(want[5], sizeof want[5], "parked: mutex %p held by #1 'main'", (void *)&dump_mutex);
    snprintf(want[6], sizeof want[6], "parked: sem %p", (void *)&dump_sem);
    for (size_t i = 0; i < N; i++)
        ck_assert_msg(strstr(text, want[i]), "no \"%s\" in:\n%s", want[i], text);
    char in_group[96];
    snprintf(in_group, sizeof in_group, "#%llu '' parked: sem %p in group %p",
             (unsigned long long)green_id(member), (void *)&dump_sem, (void *)g);
    ck_assert_msg(strstr(text, in_group), "no \"%s\" in:\n%s", in_group, text);
    free(text);
    green_group_cancel(g);
    green_group_wait(g);
    green_group_free(g);
    green_mutex_unlock(&dump_mutex);
    /* The worker's read ends, and its job with it, before the pipe is
     * closed under it. */
    ck_assert_int_eq(write(dump_block[1], "x", 1), 1);
    ck_assert_int_eq(green_join(t[1], NULL), 0);
    for (size_t i = 0; i < N; i++)
        if (i != 1)
            green_cancel(t[i]);
    for (size_t i = 0; i < N; i++)
        if (i != 1)
            green_join(t[i], NULL);
    green_chan_free(dump_chans[0]);
    green_chan_free(dump_chans[1]);
    green_queue_free(dump_full);
    green_queue_free(dump_empty);
    close(dump_block[0]);
    close(dump_block[1]);
    return NULL;
}

/* After main returns, the root waits for the others, and says so. */
static char *shutdown_text;

static void *dump_after_main(void *arg)
{
    (void)arg;
    green_yield();  /* main returns and parks */
    FILE *f = tmpfile();
    green_dump(f);
    shutdown_text = file_text(f);
    return NULL;
}

static void *main_leaves_one(void *arg)
{
    (void)arg;
    green_detach(green_spawn(dump_after_main, NULL));
    return NULL;
}

START_TEST(dump_shutdown)
{
    run_green(main_leaves_one, NULL);
    ck_assert_ptr_nonnull(shutdown_text);
    ck_assert_msg(strstr(shutdown_text, "'main' parked: main returned; waiting for 1 green "
                                        "threads to finish"), "%s", shutdown_text);
    free(shutdown_text);
}
END_TEST

/* The library's version is the header's, in every form. */
START_TEST(version_is_the_headers)
{
    ck_assert_str_eq(green_version(), GREEN_VERSION);
    char made[32];
    snprintf(made, sizeof made, "%d.%d.%d", GREEN_VERSION_MAJOR, GREEN_VERSION_MINOR,
             GREEN_VERSION_PATCH);
    ck_assert_str_eq(made, GREEN_VERSION);
}
END_TEST

START_TEST(dump_outside)
{
    FILE *f = tmpfile();
    green_dump(f);
    ck_assert_int_eq(ftell(f), 0);
    fclose(f);
}
END_TEST

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

START_TEST(run_bookkeeping_enomem)
{
    green__fault_set(GREEN__FAULT_malloc, 1, true, ENOMEM);
    errno = 0;
    ck_assert_int_eq(green_run(nothing_main, NULL), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green_run(nothing_main, NULL), 0);
}
END_TEST
#endif

Suite *sched_suite(void)
{
    Suite *s = suite_create("sched");
    TCase *tc = tcase_create("run");
    tcase_add_test(tc, run_runs_main);
    tcase_add_test(tc, run_null_main);
    tcase_add_test(tc, run_out_of_fds);
    tcase_add_test(tc, run_nested);
    tcase_add_test(tc, run_on_two_os_threads);
    tcase_add_test(tc, run_cancels_leftovers);
    tcase_add_test(tc, run_shutdown_spawn);
    tcase_add_test(tc, run_deadlock);
    tcase_add_test(tc, run_no_deadlock_after_main);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_add_test(tc, spawn_outside);
    tcase_add_test(tc, spawn_bad_args);
    tcase_add_test(tc, spawn_runs_in_order);
    tcase_add_test(tc, spawn_attr_defaults);
    tcase_add_test(tc, spawn_eager_runs_first);
    tcase_add_test(tc, spawn_eager_tree);
    tcase_add_test(tc, spawn_eager_into_group);
    tcase_add_test(tc, spawn_signal_mask);
    tcase_add_test(tc, spawn_fp_environment);
    tcase_add_test(tc, switch_keeps_registers);
    tcase_add_test(tc, switch_keeps_rounding_mode);
    tcase_add_test(tc, join_result);
    tcase_add_test(tc, join_errors);
    tcase_add_test(tc, join_outside);
    tcase_add_test(tc, join_two_joiners);
    tcase_add_test(tc, join_main_is_invalid);
    tcase_add_test(tc, join_deadline);
    tcase_add_test(tc, join_when_cancelled);
    tcase_add_test(tc, detach_reaps);
    tcase_add_test(tc, detach_errors);
    tcase_add_test(tc, detach_self_errors);
    tcase_add_test(tc, detach_outside);
    tcase_add_test(tc, cancel_parked);
    tcase_add_test(tc, cancel_before_it_runs);
    tcase_add_test(tc, cancel_is_sticky);
    tcase_add_test(tc, cancel_errors);
    tcase_add_test(tc, cancel_outside);
    tcase_add_test(tc, yield_alternates);
    tcase_add_test(tc, yield_outside);
    tcase_add_test(tc, self_and_names);
    tcase_add_test(tc, self_outside);
    tcase_add_test(tc, dump_says_read_and_write);
    tcase_add_test(tc, dump_lists_threads);
    tcase_add_test(tc, dump_states);
    tcase_add_test(tc, dump_outside);
    tcase_add_test(tc, dump_names_every_wait);
    tcase_add_test(tc, dump_shutdown);
    tcase_add_test(tc, version_is_the_headers);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, run_bookkeeping_enomem);
    suite_add_tcase(s, faults);
    return s;
}
