/* A scheduler driven by a host loop: green_loop_new, _fd, _timeout, _run,
 * _spawn and _stop, with poll(2) as the host (test/host_uv.c and
 * test/host_glib.c drive it from libuv and GLib). */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"
#ifdef GREEN_FAULTS
#include "fault.h"
#endif

#ifndef GREEN_POSIX_ONLY

/* The host: waits for the loop's fd or its timeout, then runs it, until
 * *done; every wait also watches extra (-1: none), whose readiness the
 * caller's step handles. */
static void host_until(green_loop_t *l, const volatile bool *done)
{
    int fd = green_loop_fd(l);
    ck_assert_int_ge(fd, 0);
    while (!*done) {
        struct pollfd p = {fd, POLLIN, 0};
        int ms = green_loop_timeout(l);
        ck_assert_int_ge(ms, -1);
        ck_assert_int_ge(poll(&p, 1, ms), 0);
        ck_assert_int_eq(green_loop_run(l), 0);
    }
}

static void *sleeper(void *arg)
{
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(green_sleep(20), 0);
    *(volatile bool *)arg = true;
    return NULL;
}


/* Timers alone wake the host: three sleeps, no fd. */
START_TEST(loop_runs_timers)
{
    volatile bool done = false;
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, sleeper, (void *)&done));
    int64_t start = green_now();
    host_until(l, &done);
    ck_assert_int_ge(green_now() - start, 60);
    ck_assert_int_eq(green_loop_stop(l), 0);
}
END_TEST

/* What the timeout says: work now, the next timer, or nothing. */
static void *sleep_long(void *arg)
{
    (void)arg;
    green_sleep(100000);
    return NULL;
}

/* Sleeps arg ms; -1 for ever. */
static void *sleep_for(void *arg)
{
    intptr_t ms = (intptr_t)arg;
    green_sleep(ms < 0 ? INT64_MAX : ms);
    return NULL;
}

static void *sleep_in_a_loop(void *arg)
{
    (void)arg;
    while (green_sleep(20) == 0)
        ;
    return NULL;
}

START_TEST(loop_timeout_says)
{
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(green_loop_timeout(l), 0);  /* the root has not run yet */
    ck_assert_int_eq(green_loop_run(l), 0);
    ck_assert_int_eq(green_loop_timeout(l), -1);
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, sleep_long, NULL));
    ck_assert_int_eq(green_loop_timeout(l), 0);
    ck_assert_int_eq(green_loop_run(l), 0);
    int ms = green_loop_timeout(l);
    ck_assert_int_gt(ms, 1000);
    ck_assert_int_le(ms, 100000);
    ck_assert_int_eq(green_loop_stop(l), 0);
    /* Further off than an int of ms: the most an int holds. */
    l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, sleep_for, (void *)(intptr_t)-1));
    ck_assert_int_eq(green_loop_run(l), 0);
    ck_assert_int_eq(green_loop_timeout(l), INT_MAX);
    ck_assert_int_eq(green_loop_stop(l), 0);
    /* Due already (the host was late): now.  The thread always has a
     * timer of at most 20 ms, armed before the run returned. */
    l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, sleep_in_a_loop, NULL));
    ck_assert_int_eq(green_loop_run(l), 0);
    int64_t until = green_now() + 25;
    while (green_now() < until)  /* the host busy elsewhere */
        ;
    ck_assert_int_eq(green_loop_timeout(l), 0);
    ck_assert_int_eq(green_loop_stop(l), 0);
}
END_TEST

/* Bytes through a socket between two green threads of the loop: the
 * poller's fd wakes the host for each wait. */
enum { CHUNK = 65536, CHUNKS = 32 };

struct pipe_job {
    int fd;
    volatile bool done;
};

static void *writer(void *arg)
{
    struct pipe_job *j = arg;
    unsigned char *buf = malloc(CHUNK);
    for (int c = 0; c < CHUNKS; c++) {
        memset(buf, c, CHUNK);
        ck_assert_int_eq(green_write(j->fd, buf, CHUNK), CHUNK);
        if (c % 8 == 0)
            green_sleep(1);
    }
    free(buf);
    green_close(j->fd);
    return NULL;
}

static void *reader(void *arg)
{
    struct pipe_job *j = arg;
    unsigned char buf[4096];
    size_t total = 0, wrong = 0;
    ssize_t n;
    while ((n = green_read(j->fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)  /* one check at the end: each is a write */
            wrong += buf[i] != (unsigned char)((total + (size_t)i) / CHUNK);
        total += (size_t)n;
    }
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(wrong, 0);
    ck_assert_uint_eq(total, (size_t)CHUNK * CHUNKS);
    green_close(j->fd);
    j->done = true;
    return NULL;
}

START_TEST(loop_moves_bytes)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    struct pipe_job w = {.fd = sv[0]}, r = {.fd = sv[1]};
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, reader, &r));
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, writer, &w));
    host_until(l, &r.done);
    ck_assert_int_eq(green_loop_stop(l), 0);
}
END_TEST

/* The host writes; a green thread parked on the other end wakes through
 * the loop's fd alone (no timer is armed). */
struct echo_job {
    int fd;
    char got[16];
    volatile bool done;
};

static void *read_once(void *arg)
{
    struct echo_job *j = arg;
    ck_assert_int_eq(green_read(j->fd, j->got, sizeof j->got - 1), 5);
    j->done = true;
    return NULL;
}

START_TEST(loop_wakes_on_fd)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    struct echo_job j = {.fd = p[0]};
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, read_once, &j));
    ck_assert_int_eq(green_loop_run(l), 0);
    ck_assert(!j.done);
    ck_assert_int_ne(green_loop_timeout(l), 0);  /* -1, or the stale fd sweep's */
    ck_assert_int_eq(write(p[1], "hello", 5), 5);
    struct pollfd pf = {green_loop_fd(l), POLLIN, 0};
    ck_assert_int_eq(poll(&pf, 1, 10000), 1);
    host_until(l, &j.done);
    ck_assert_str_eq(j.got, "hello");
    ck_assert_int_eq(green_loop_stop(l), 0);
    close(p[1]);
}
END_TEST

/* Readiness nobody waits for wakes the host at most once: after a run,
 * the fd is quiet again (under poll, the loop's epoll set once kept such
 * an fd ready for ever, and the host spun). */
static void *read_then_sleep(void *arg)
{
    struct echo_job *j = arg;
    ck_assert_int_eq(green_read(j->fd, j->got, 1), 1);
    j->done = true;
    green_sleep(100000);
    return NULL;
}

START_TEST(loop_quiet_after_run)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    struct echo_job j = {.fd = p[0]};
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, read_then_sleep, &j));
    ck_assert_int_eq(green_loop_run(l), 0);
    ck_assert_int_eq(write(p[1], "a", 1), 1);
    host_until(l, &j.done);
    ck_assert_int_eq(write(p[1], "b", 1), 1);  /* nobody reads it */
    struct pollfd pf = {green_loop_fd(l), POLLIN, 0};
    for (int i = 0; i < 3; i++) {
        (void)poll(&pf, 1, 0);  /* readable or not, a run takes it */
        ck_assert_int_eq(green_loop_run(l), 0);
    }
    ck_assert_int_eq(poll(&pf, 1, 0), 0);
    ck_assert_int_eq(green_loop_stop(l), 0);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* An offloaded call ends on another OS thread, whose post wakes the host
 * through the loop's fd. */
static void *slow_square(void *arg)
{
    usleep(20000);
    long x = (long)arg;
    return (void *)(x * x);
}

static void *offloader(void *arg)
{
    void *result = NULL;
    ck_assert_int_eq(green_offload(slow_square, (void *)7L, &result), 0);
    ck_assert_ptr_eq(result, (void *)49L);
    *(volatile bool *)arg = true;
    return NULL;
}

START_TEST(loop_offloads)
{
    volatile bool done = false;
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, offloader, (void *)&done));
    host_until(l, &done);
    ck_assert_int_eq(green_loop_stop(l), 0);
}
END_TEST

/* Green threads spawn, join, use channels and deadlines inside. */
static void *child(void *arg)
{
    green_chan_t *c = arg;
    int v = 41;
    ck_assert_int_eq(green_chan_send(c, &v), 0);
    return (void *)42L;
}

static void *parent(void *arg)
{
    green_chan_t *c = green_chan_new(sizeof(int), 0);
    green_t *t = green_spawn(child, c);
    int v = 0;
    ck_assert_int_eq(green_chan_recv(c, &v), 0);
    ck_assert_int_eq(v, 41);
    void *res;
    ck_assert_int_eq(green_join(t, &res), 0);
    ck_assert_ptr_eq(res, (void *)42L);
    int64_t old = green_deadline(green_now() + 10);
    ck_assert_int_eq(green_chan_recv(c, &v), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    green_chan_free(c);
    *(volatile bool *)arg = true;
    return NULL;
}

START_TEST(loop_runs_the_api)
{
    volatile bool done = false;
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    green_attr_t eager = {.eager = 1, .name = "parent"};
    ck_assert_ptr_nonnull(green_loop_spawn(l, &eager, parent, (void *)&done));
    ck_assert(!done);  /* eager or not, it waits for the host's call */
    host_until(l, &done);
    ck_assert_int_eq(green_loop_stop(l), 0);
}
END_TEST

/* The host hands work to a green thread through a queue, from its own
 * callbacks, outside any green thread. */
static void *queue_sum(void *arg)
{
    green_queue_t *q = arg;
    int v, sum = 0;
    while (green_queue_recv(q, &v) == 0)
        sum += v;
    ck_assert_int_eq(errno, EPIPE);
    return (void *)(long)sum;
}

struct joiner_job {
    green_t *t;
    long sum;
    volatile bool done;
};

static void *join_it(void *arg)
{
    struct joiner_job *j = arg;
    void *res;
    ck_assert_int_eq(green_join(j->t, &res), 0);
    j->sum = (long)res;
    j->done = true;
    return NULL;
}

START_TEST(loop_host_sends)
{
    green_queue_t *q = green_queue_new(sizeof(int), 4);
    ck_assert_ptr_nonnull(q);
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    struct joiner_job j = {.t = green_loop_spawn(l, NULL, queue_sum, q)};
    ck_assert_ptr_nonnull(j.t);
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, join_it, &j));
    ck_assert_int_eq(green_loop_run(l), 0);
    for (int i = 1; i <= 100; i++) {
        while (green_queue_trysend(q, &i) < 0) {  /* full: let it take some */
            ck_assert_int_eq(errno, EAGAIN);
            struct pollfd p = {green_loop_fd(l), POLLIN, 0};
            ck_assert_int_ge(poll(&p, 1, green_loop_timeout(l)), 0);
            ck_assert_int_eq(green_loop_run(l), 0);
        }
    }
    ck_assert_int_eq(green_queue_close(q), 0);
    host_until(l, &j.done);
    ck_assert_int_eq(j.sum, 5050);
    ck_assert_int_eq(green_loop_stop(l), 0);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

/* A green thread parked where only the host can help: no deadlock, and
 * a thread the host spawns later sets it free. */
static green_chan_t *lonely;

static void *receive_one(void *arg)
{
    int v;
    ck_assert_int_eq(green_chan_recv(lonely, &v), 0);
    ck_assert_int_eq(v, 5);
    *(volatile bool *)arg = true;
    return NULL;
}

static void *send_five(void *arg)
{
    (void)arg;
    int v = 5;
    ck_assert_int_eq(green_chan_send(lonely, &v), 0);
    return NULL;
}

START_TEST(loop_no_deadlock)
{
    volatile bool done = false;
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    lonely = green_chan_new(sizeof(int), 0);
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, receive_one, (void *)&done));
    ck_assert_int_eq(green_loop_run(l), 0);
    ck_assert_int_eq(green_loop_run(l), 0);
    ck_assert(!done);
    ck_assert_int_eq(green_loop_timeout(l), -1);
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, send_five, NULL));
    host_until(l, &done);
    ck_assert_int_eq(green_loop_stop(l), 0);
    green_chan_free(lonely);
}
END_TEST

/* Stopping with threads parked: each sees ECANCELED, and its cleanup,
 * which may wait (shielded), runs to its end before the stop returns. */
static int cancelled;

static void count_cancel(int rc)
{
    if (rc == -1 && errno == ECANCELED) {
        green_shield(1);
        ck_assert_int_eq(green_sleep(5), 0);  /* cleanup that waits */
        green_shield(0);
        cancelled++;
    }
}

static void *park_read(void *arg)
{
    char c;
    count_cancel((int)green_read(*(int *)arg, &c, 1));
    return NULL;
}

static void *park_sleep(void *arg)
{
    (void)arg;
    count_cancel(green_sleep(1000000));
    return NULL;
}

static void *park_chan(void *arg)
{
    int v;
    count_cancel(green_chan_recv(arg, &v));
    return NULL;
}

START_TEST(loop_stop_cancels_parked)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    green_chan_t *c = green_chan_new(sizeof(int), 0);
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    cancelled = 0;
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, park_read, &sv[0]));
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, park_sleep, NULL));
    green_t *joinable = green_loop_spawn(l, NULL, park_chan, c);
    ck_assert_ptr_nonnull(joinable);  /* never joined: the stop frees it */
    ck_assert_int_eq(green_loop_run(l), 0);
    ck_assert_int_eq(cancelled, 0);
    ck_assert_int_eq(green_loop_stop(l), 0);
    ck_assert_int_eq(cancelled, 3);
    green_chan_free(c);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* A cleanup that can never end is a deadlock at the stop, broken and
 * reported as at the end of green_run. */
static void *stubborn(void *arg)
{
    green_shield(1);
    int v;
    green_chan_recv(arg, &v);
    return NULL;
}

START_TEST(loop_stop_deadlock)
{
    green_chan_t *c = green_chan_new(sizeof(int), 0);
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, stubborn, c));
    ck_assert_int_eq(green_loop_run(l), 0);
    errno = 0;
    ck_assert_int_eq(green_loop_stop(l), -1);
    ck_assert_int_eq(errno, EDEADLK);
    green_chan_free(c);
}
END_TEST

/* The calls' errors, from every place they may not be made. */
static green_loop_t *the_loop;

static void *inside(void *arg)
{
    (void)arg;
    errno = 0;
    ck_assert_ptr_null(green_loop_new());
    ck_assert_int_eq(errno, EPERM);
    if (the_loop) {
        ck_assert_int_eq(green_loop_run(the_loop), -1);
        ck_assert_int_eq(errno, EPERM);
        ck_assert_int_eq(green_loop_stop(the_loop), -1);
        ck_assert_int_eq(errno, EPERM);
        ck_assert_int_eq(green_loop_fd(the_loop), -1);
        ck_assert_int_eq(errno, EPERM);
        ck_assert_int_eq(green_loop_timeout(the_loop), -1);
        ck_assert_int_eq(errno, EPERM);
        ck_assert_ptr_null(green_loop_spawn(the_loop, NULL, inside, NULL));
        ck_assert_int_eq(errno, EPERM);
        *(volatile bool *)arg = true;
    }
    return NULL;
}

static void *other_thread(void *arg)
{
    (void)arg;
    errno = 0;
    ck_assert_int_eq(green_loop_run(the_loop), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_loop_stop(the_loop), -1);
    ck_assert_int_eq(errno, EPERM);
    return NULL;
}

START_TEST(loop_errors)
{
    errno = 0;
    ck_assert_int_eq(green_loop_fd(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_loop_timeout(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_loop_run(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_loop_stop(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(green_loop_spawn(NULL, NULL, inside, NULL));
    ck_assert_int_eq(errno, EINVAL);

    the_loop = NULL;
    run_green(inside, NULL);  /* no loop inside green_run */

    volatile bool done = false;
    the_loop = green_loop_new();
    ck_assert_ptr_nonnull(the_loop);
    ck_assert_ptr_null(green_loop_new());  /* one per OS thread */
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_run(inside, NULL), -1);  /* no green_run beside */
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_run_attr(NULL, inside, NULL), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_ptr_null(green_loop_spawn(the_loop, NULL, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(green_loop_spawn(the_loop, &(green_attr_t){.stack_size = 1}, inside,
                                        NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(green_loop_spawn(the_loop, &(green_attr_t){.place = 2}, inside, NULL));
    ck_assert_int_eq(errno, EINVAL);
    pthread_t pt;
    ck_assert_int_eq(pthread_create(&pt, NULL, other_thread, NULL), 0);
    ck_assert_int_eq(pthread_join(pt, NULL), 0);
    ck_assert_ptr_nonnull(green_loop_spawn(the_loop, NULL, inside, (void *)&done));
    host_until(the_loop, &done);
    /* Between slices the host is outside: a blocking call blocks it. */
    ck_assert_int_eq(green_sleep(1), 0);
    errno = 12345;
    ck_assert_int_eq(green_loop_run(the_loop), 0);
    ck_assert_int_eq(errno, 12345);  /* the host's errno is its own */
    ck_assert_int_eq(green_loop_stop(the_loop), 0);
    ck_assert_int_eq(errno, 12345);
}
END_TEST

/* After a stop the OS thread is free again: another loop, or green_run. */
static void *nothing(void *arg)
{
    return arg;
}

START_TEST(loop_again)
{
    for (int i = 0; i < 3; i++) {
        green_loop_t *l = green_loop_new();
        ck_assert_ptr_nonnull(l);
        ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, nothing, NULL));
        if (i > 0)
            ck_assert_int_eq(green_loop_run(l), 0);
        ck_assert_int_eq(green_loop_stop(l), 0);  /* the first never ran */
    }
    run_green(nothing, NULL);
}
END_TEST

/* A write to a pipe with no reader fails with EPIPE inside, no signal;
 * the host's mask is its own between slices. */
static void *write_closed(void *arg)
{
    int *sv = arg;
    close(sv[0]);
    ck_assert_int_eq(green_write(sv[1], "x", 1), -1);
    ck_assert_int_eq(errno, EPIPE);
    return NULL;
}

START_TEST(loop_sigpipe)
{
    int sv[2];
    ck_assert_int_eq(pipe(sv), 0);
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, write_closed, sv));
    ck_assert_int_eq(green_loop_run(l), 0);
    sigset_t mask;
    ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, NULL, &mask), 0);
    ck_assert(!sigismember(&mask, SIGPIPE));
    ck_assert_int_eq(green_loop_stop(l), 0);
    close(sv[1]);
}
END_TEST

#ifdef GREEN_FAULTS
/* Setting a loop up fails cleanly: no memory, no poller, no fd. */
START_TEST(loop_new_fails)
{
    green__fault_set(GREEN__FAULT_malloc, 1, false, ENOMEM);
    ck_assert_ptr_null(green_loop_new());
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    /* epoll's set, or the one poll keeps for the host; the ring needs
     * none. */
    green__fault_set(GREEN__FAULT_epoll_create1, 1, true, EMFILE);
    errno = 0;
    green_loop_t *l = green_loop_new();
    if (strcmp(green_poller_name(), "uring") == 0) {  /* GREEN_POLLER's, or the default */
        ck_assert_ptr_nonnull(l);
        ck_assert_int_eq(green_loop_stop(l), 0);
    } else {
        ck_assert_ptr_null(l);
        ck_assert_int_eq(errno, EMFILE);
    }
    green__fault_clear();
    l = green_loop_new();  /* and then works */
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(green_loop_stop(l), 0);
}
END_TEST

/* A poller whose fd cannot be armed for the host (the poll backend's
 * epoll set refusing) makes the host look every few ms instead. */
START_TEST(loop_blind)
{
    if (strcmp(green_poller_name(), "poll") != 0)
        return;  /* the others' fd needs no arming */
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    struct echo_job j = {.fd = -1};
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    j.fd = p[0];
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, read_once, &j));
    green__fault_set(GREEN__FAULT_epoll_ctl, 1, true, ENOSPC);
    ck_assert_int_eq(green_loop_run(l), 0);
    green__fault_clear();
    ck_assert_int_eq(green_loop_timeout(l), 10);
    ck_assert_int_eq(write(p[1], "hello", 5), 5);
    host_until(l, &j.done);
    ck_assert_int_eq(green_loop_stop(l), 0);
    close(p[1]);
}
END_TEST
#endif

#else  /* the POSIX build: poll(2) gives no fd to watch */

START_TEST(loop_needs_an_fd)
{
    errno = 0;
    ck_assert_ptr_null(green_loop_new());
    ck_assert_int_eq(errno, ENOSYS);
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_null(l);
}
END_TEST

#endif

Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");
#ifndef GREEN_POSIX_ONLY
    tcase_add_test(tc, loop_runs_timers);
    tcase_add_test(tc, loop_timeout_says);
    tcase_add_test(tc, loop_moves_bytes);
    tcase_add_test(tc, loop_wakes_on_fd);
    tcase_add_test(tc, loop_quiet_after_run);
    tcase_add_test(tc, loop_offloads);
    tcase_add_test(tc, loop_runs_the_api);
    tcase_add_test(tc, loop_host_sends);
    tcase_add_test(tc, loop_no_deadlock);
    tcase_add_test(tc, loop_stop_cancels_parked);
    tcase_add_test(tc, loop_stop_deadlock);
    tcase_add_test(tc, loop_errors);
    tcase_add_test(tc, loop_again);
    tcase_add_test(tc, loop_sigpipe);
    suite_add_tcase(s, tc);
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, loop_new_fails);
    add_fault_test(faults, loop_blind);
    suite_add_tcase(s, faults);
#else
    tcase_add_test(tc, loop_needs_an_fd);
    suite_add_tcase(s, tc);
#endif
    return s;
}
