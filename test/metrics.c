/* Runtime metrics: green_metrics and green_metrics_process, from a known
 * program whose counts are known. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "sched.h"  /* the histogram, fed below values no clock gives */

static green_metrics_t now(void)
{
    green_metrics_t m = {.size = sizeof m};
    ck_assert_int_eq(green_metrics(&m), 0);
    ck_assert_uint_eq(m.size, sizeof m);
    return m;
}

static uint64_t parks(const green_metrics_t *m)
{
    return m->parks_io + m->parks_sleep + m->parks_join + m->parks_chan + m->parks_sync +
           m->parks_offload + m->parks_other;
}

/* Every park ends in a wake-up, and the parked threads are the ones whose
 * wake-up is still to come. */
static void check_balance(const green_metrics_t *m)
{
    ck_assert_uint_eq(parks(m) - m->wakeups, m->parked);
}

static void *sleeper(void *arg)
{
    ck_assert_int_eq(green_sleep((int64_t)(intptr_t)arg), 0);
    return NULL;
}

static void *receiver(void *arg)
{
    int v;
    ck_assert_int_eq(green_chan_recv(arg, &v), 0);
    return NULL;
}

static void *reader(void *arg)
{
    char c;
    ck_assert_int_eq(green_read(*(int *)arg, &c, 1), 1);
    return NULL;
}

static void *locker(void *arg)
{
    ck_assert_int_eq(green_mutex_lock(arg), 0);
    ck_assert_int_eq(green_mutex_unlock(arg), 0);
    return NULL;
}

static void *job(void *arg)
{
    return arg;
}

/* One park of each kind, counted as such. */
GREEN_TEST(metrics_parks_by_kind)
{
    (void)arg;
    green_metrics_t before = now();
    ck_assert_uint_eq(before.spawned, 1);  /* main */
    ck_assert_uint_eq(before.running, 1);
    ck_assert_uint_eq(before.schedulers, 1);

    green_join(green_spawn(sleeper, (void *)1), NULL);               /* join, sleep */
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *r = green_spawn(receiver, ch);
    green_yield();                                                   /* it parks */
    int v = 1;
    ck_assert_int_eq(green_chan_send(ch, &v), 0);
    green_join(r, NULL);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    green_t *rd = green_spawn(reader, &p[0]);
    green_yield();
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    green_join(rd, NULL);
    green_mutex_t mu;
    green_mutex_init(&mu);
    green_mutex_lock(&mu);
    green_t *lk = green_spawn(locker, &mu);
    green_yield();
    green_mutex_unlock(&mu);
    green_join(lk, NULL);
    void *res;
    ck_assert_int_eq(green_offload(job, &v, &res), 0);

    green_metrics_t m = now();
    ck_assert_uint_eq(m.spawned, 5);
    ck_assert_uint_ge(m.parks_sleep, 1);
    ck_assert_uint_ge(m.parks_join, 4);
    ck_assert_uint_ge(m.parks_chan, 1);
    ck_assert_uint_ge(m.parks_io, 1);
    ck_assert_uint_ge(m.parks_sync, 1);
    ck_assert_uint_ge(m.parks_offload, 1);
    ck_assert_uint_gt(m.switches, before.switches);
    ck_assert_uint_ge(m.timers_armed, 1);
    ck_assert_uint_ge(m.poller_waits, 1);
    ck_assert_uint_ge(m.poller_events, 1);
    ck_assert_uint_ge(m.offload_jobs, 1);
    ck_assert_uint_le(m.offload_wait_p50_ns, m.offload_wait_p99_ns);
    ck_assert_uint_le(m.offload_wait_p99_ns, m.offload_wait_max_ns);
    ck_assert_uint_eq(m.parked, 0);
    check_balance(&m);
    green_mutex_destroy(&mu);
    green_chan_free(ch);
    close(p[0]);
    close(p[1]);
    return NULL;
}

/* Threads by state: runnable, parked (two on a channel, one asleep with
 * its timer), done and not joined. */
static void *quick(void *arg)
{
    return arg;
}

static void *cancelled_sleeper(void *arg)
{
    (void)arg;
    ck_assert_int_eq(green_sleep(100000), -1);
    ck_assert_int_eq(errno, ECANCELED);
    return NULL;
}

GREEN_TEST(metrics_states)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *r1 = green_spawn(receiver, ch), *r2 = green_spawn(receiver, ch);
    green_t *s = green_spawn(cancelled_sleeper, NULL);
    green_t *q = green_spawn(quick, NULL);
    green_yield();  /* each runs: two park, one sleeps, one is done */
    green_t *fresh = green_spawn(quick, NULL);
    green_metrics_t m = now();
    ck_assert_uint_eq(m.running, 1);
    ck_assert_uint_eq(m.runnable, 1);
    ck_assert_uint_eq(m.parked, 3);
    ck_assert_uint_eq(m.done, 1);
    ck_assert_uint_eq(m.timers, 1);
    check_balance(&m);
    int v = 0;
    green_chan_send(ch, &v);
    green_chan_send(ch, &v);
    green_cancel(s);
    green_join(r1, NULL);
    green_join(r2, NULL);
    green_join(s, NULL);
    green_join(q, NULL);
    green_join(fresh, NULL);
    m = now();
    ck_assert_uint_eq(m.runnable + m.parked + m.done + m.timers, 0);
    check_balance(&m);
    green_chan_free(ch);
    return NULL;
}

/* Enough wake-ups that some are timed. */
static void *ping(void *arg)
{
    green_chan_t **ch = arg;
    int v;
    for (int i = 0; i < 2000; i++) {
        green_chan_recv(ch[0], &v);
        green_chan_send(ch[1], &v);
    }
    return NULL;
}

GREEN_TEST(metrics_wake_delay)
{
    (void)arg;
    green_chan_t *ch[2] = {green_chan_new(sizeof(int), 0), green_chan_new(sizeof(int), 0)};
    green_t *t = green_spawn(ping, ch);
    int v = 0;
    for (int i = 0; i < 2000; i++) {
        green_chan_send(ch[0], &v);
        green_chan_recv(ch[1], &v);
    }
    green_join(t, NULL);
    green_metrics_t m = now();
    ck_assert_uint_ge(m.wakeups, 4000);
    ck_assert_uint_eq(m.wake_delay_samples, m.wakeups / 256);  /* the 256th, 512th, ... */
    ck_assert_uint_gt(m.wake_delay_max_ns, 0);
    ck_assert_uint_le(m.wake_delay_p50_ns, m.wake_delay_p99_ns);
    ck_assert_uint_le(m.wake_delay_p99_ns, m.wake_delay_max_ns);
    green_chan_free(ch[0]);
    green_chan_free(ch[1]);
    return NULL;
}

/* Delays below 4 ns have a bucket each, exact: fed straight into the
 * scheduler's histogram, since no real wake-up is that quick. */
GREEN_TEST(metrics_tiny_delays)
{
    (void)arg;
    struct green__hist *h = &green__cur->stats.wake_delay;
    ck_assert_uint_eq(now().wake_delay_samples, 0);  /* no wake-up timed yet */
    for (uint64_t v = 0; v < 100; v++)
        green__hist_add(h, v % 4 == 3 ? 3 : 1);  /* a quarter 3 ns, the rest 1 */
    green_metrics_t m = now();
    ck_assert_uint_eq(m.wake_delay_samples, 100);
    ck_assert_uint_eq(m.wake_delay_p50_ns, 1);
    ck_assert_uint_eq(m.wake_delay_p99_ns, 3);
    ck_assert_uint_eq(m.wake_delay_max_ns, 3);
    return NULL;
}

/* An fd libgreen made is counted while it is open. */
GREEN_TEST(metrics_fds)
{
    (void)arg;
    uint64_t before = now().fds;
    int fd = green_tcp_listen("127.0.0.1", "0", 1);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(now().fds, before + 1);
    ck_assert_int_eq(green_close(fd), 0);
    ck_assert_uint_eq(now().fds, before);
    return NULL;
}

/* Stack memory: each thread's stack is mapped; a thread that went deep
 * and parked is seen that deep. */
/* Each frame a KiB that the compiler must keep (the asm says the buffer
 * is used), so that neither gcc nor clang folds the recursion. */
static __attribute__((noinline)) int go_deep(int kib, green_chan_t *ch)
{
    char frame[1024];
    frame[0] = (char)kib;
    int r = 0;
    if (kib > 1) {
        r = go_deep(kib - 1, ch);
    } else {
        int v;
        green_chan_recv(ch, &v);  /* parks here, deep */
    }
    __asm__ volatile("" : : "r"(frame) : "memory");
    return r + frame[0];
}

static void *deep(void *arg)
{
    go_deep(64, arg);
    return NULL;
}

GREEN_TEST(metrics_stacks)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *t = green_spawn(deep, ch);
    green_yield();
    green_metrics_t m = now();
    ck_assert_uint_ge(m.stack_reserved, 2 * GREEN_STACK_DEFAULT);
    ck_assert_uint_le(m.stack_resident, m.stack_reserved);
    ck_assert_uint_ge(m.stack_used_max, 64 * 1024);
    ck_assert_uint_lt(m.stack_used_max, GREEN_STACK_DEFAULT);
    green_metrics_t p = {.size = sizeof p};
    ck_assert_int_eq(green_metrics_process(&p), 0);
    ck_assert_uint_eq(p.stack_reserved, m.stack_reserved);
    ck_assert_uint_ge(p.stack_used_max, 64 * 1024);
    int v = 0;
    green_chan_send(ch, &v);
    green_join(t, NULL);
    green_chan_free(ch);
    return NULL;
}

/* A caller's struct of another size: an older program's, smaller, gets
 * what it has room for; a newer one's, larger, is told what was filled. */
GREEN_TEST(metrics_sizes)
{
    (void)arg;
    union {
        green_metrics_t m;
        char bytes[sizeof(green_metrics_t) + 64];
    } u;
    memset(&u, 0xa5, sizeof u);
    u.m.size = offsetof(green_metrics_t, runnable);
    ck_assert_int_eq(green_metrics(&u.m), 0);
    ck_assert_uint_eq(u.m.size, offsetof(green_metrics_t, runnable));
    ck_assert_uint_eq(u.m.running, 1);
    ck_assert_uint_eq((unsigned char)u.bytes[offsetof(green_metrics_t, runnable)], 0xa5);
    u.m.size = sizeof u;
    ck_assert_int_eq(green_metrics_process(&u.m), 0);
    ck_assert_uint_eq(u.m.size, sizeof(green_metrics_t));
    ck_assert_uint_eq((unsigned char)u.bytes[sizeof(green_metrics_t)], 0xa5);
    return NULL;
}

GREEN_TEST(metrics_errors)
{
    (void)arg;
    errno = 0;
    ck_assert_int_eq(green_metrics(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_metrics_process(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_metrics_t m = {.size = offsetof(green_metrics_t, running)};
    ck_assert_int_eq(green_metrics(&m), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_metrics_process(&m), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

static void *spawn_three(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        green_join(green_spawn(quick, NULL), NULL);
    return NULL;
}

/* Outside green_run: no scheduler of its own, but the process's counts
 * keep what ended runs did. */
START_TEST(metrics_outside)
{
    green_metrics_t m = {.size = sizeof m};
    errno = 0;
    ck_assert_int_eq(green_metrics(&m), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_metrics_process(&m), 0);
    uint64_t spawned = m.spawned;
    run_green(spawn_three, NULL);
    ck_assert_int_eq(green_metrics_process(&m), 0);
    ck_assert_uint_eq(m.spawned, spawned + 4);
    ck_assert_uint_eq(m.schedulers, 0);
    ck_assert_uint_eq(m.running + m.runnable + m.parked + m.done, 0);
}
END_TEST

/* A run of two schedulers: the process sees both. */
static void *parked_there(void *arg)
{
    return receiver(arg);
}

CORES_TEST(metrics_process_of_a_run, 2)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *t = spawn_on(1, parked_there, ch);
    green_metrics_t m = {.size = sizeof m};
    ck_assert_int_eq(green_metrics_process(&m), 0);
    ck_assert_uint_eq(m.schedulers, 2);
    ck_assert_uint_ge(m.spawned, 3);  /* two roots and t */
    int v = 0;
    green_chan_send(ch, &v);
    green_join(t, NULL);
    green_chan_free(ch);
    return NULL;
}

/* A child of fork counts its own scheduler only. */
GREEN_TEST(metrics_after_fork)
{
    (void)arg;
    pid_t pid = fork();
    if (pid == 0) {
        green_metrics_t m = {.size = sizeof m};
        exit_child(green_metrics_process(&m) == 0 && m.schedulers == 1 ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return NULL;
}

Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, metrics_parks_by_kind);
    tcase_add_test(tc, metrics_states);
    tcase_add_test(tc, metrics_wake_delay);
    tcase_add_test(tc, metrics_tiny_delays);
    tcase_add_test(tc, metrics_fds);
    tcase_add_test(tc, metrics_stacks);
    tcase_add_test(tc, metrics_sizes);
    tcase_add_test(tc, metrics_errors);
    tcase_add_test(tc, metrics_outside);
    tcase_add_test(tc, metrics_process_of_a_run);
    tcase_add_test(tc, metrics_after_fork);
    suite_add_tcase(s, tc);
    return s;
}
