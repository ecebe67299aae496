/*
 * make bench: what the core runtime costs.
 *
 *   switch      two green threads yield to each other; ns per switch
 *   spawn+join  spawn a green thread that returns at once, join it, with
 *               a warm stack cache; ns per pair
 *   io          two green threads bounce one byte over an AF_UNIX
 *               socketpair; us per round trip
 *   channel     two green threads bounce an int over two channels,
 *               unbuffered and with capacity 64; ns per message
 *   mutex       two green threads take turns on one mutex, each
 *               unlock handing it to the other; ns per handoff
 *   floor       raw swapcontext between two contexts, no scheduler: what
 *               the switch could cost at best with this backend
 *
 * Each figure is the median of RUNS runs, with the minimum and maximum.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "green.h"
#include "poller.h"
#include "switch.h"

enum { RUNS = 7 };

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct figure {
    double median, min, max;
};

static struct figure summarise(double *v)
{
    qsort(v, RUNS, sizeof *v, by_value);
    return (struct figure){v[RUNS / 2], v[0], v[RUNS - 1]};
}

static void print(const char *what, const char *unit, struct figure f)
{
    printf("  %-34s %9.1f %-3s [%.1f .. %.1f]\n", what, f.median, unit, f.min, f.max);
}

/* switch */

enum { SWITCHES = 500000 };

static void *yielder(void *arg)
{
    (void)arg;
    for (int i = 0; i < SWITCHES / 2; i++)
        green_yield();
    return NULL;
}

static void *bench_switch(void *arg)
{
    double *ns = arg;
    green_t *a = green_spawn(yielder, NULL), *b = green_spawn(yielder, NULL);
    double t0 = now_ns();
    green_join(a, NULL);
    green_join(b, NULL);
    *ns = (now_ns() - t0) / SWITCHES;
    return NULL;
}

/* spawn + join */

enum { SPAWNS = 200000 };

static void *nothing(void *arg)
{
    return arg;
}

static void *bench_spawn(void *arg)
{
    double *ns = arg;
    green_join(green_spawn(nothing, NULL), NULL);  /* warm the cache */
    double t0 = now_ns();
    for (int i = 0; i < SPAWNS; i++)
        green_join(green_spawn(nothing, NULL), NULL);
    *ns = (now_ns() - t0) / SPAWNS;
    return NULL;
}

/* io round trip */

enum { TRIPS = 50000 };

static void *echo_bytes(void *arg)
{
    int fd = *(int *)arg;
    char c;
    for (int i = 0; i < TRIPS; i++)
        if (green_read(fd, &c, 1) != 1 || green_write(fd, &c, 1) != 1)
            break;
    return NULL;
}

static void *bench_io(void *arg)
{
    double *us = arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("socketpair");
        exit(1);
    }
    green_t *peer = green_spawn(echo_bytes, &sv[1]);
    char c = 'x';
    double t0 = now_ns();
    for (int i = 0; i < TRIPS; i++)
        if (green_write(sv[0], &c, 1) != 1 || green_read(sv[0], &c, 1) != 1) {
            perror("round trip");
            exit(1);
        }
    *us = (now_ns() - t0) / TRIPS / 1000;
    green_join(peer, NULL);
    green_close(sv[0]);
    green_close(sv[1]);
    return NULL;
}

/* channel ping-pong */

enum { MESSAGES = 200000 };

struct pingpong {
    green_chan_t *there, *back;
    size_t cap;
};

static void *ponger(void *arg)
{
    struct pingpong *pp = arg;
    int v;
    for (int i = 0; i < MESSAGES / 2; i++)
        if (green_chan_recv(pp->there, &v) < 0 || green_chan_send(pp->back, &v) < 0)
            break;
    return NULL;
}

static double chan_pingpong(size_t cap)
{
    struct pingpong pp = {green_chan_new(sizeof(int), cap), green_chan_new(sizeof(int), cap), cap};
    green_t *t = green_spawn(ponger, &pp);
    int v = 1;
    double t0 = now_ns();
    for (int i = 0; i < MESSAGES / 2; i++)
        if (green_chan_send(pp.there, &v) < 0 || green_chan_recv(pp.back, &v) < 0) {
            perror("channel");
            exit(1);
        }
    double ns = (now_ns() - t0) / MESSAGES;
    green_join(t, NULL);
    green_chan_free(pp.there);
    green_chan_free(pp.back);
    return ns;
}

static void *bench_chan_unbuffered(void *arg)
{
    *(double *)arg = chan_pingpong(0);
    return NULL;
}

static void *bench_chan_buffered(void *arg)
{
    *(double *)arg = chan_pingpong(64);
    return NULL;
}

/* mutex handoff */

enum { HANDOFFS = 200000 };

static green_mutex_t handoff = GREEN_MUTEX_INIT;

static void *take_turns(void *arg)
{
    (void)arg;
    for (int i = 0; i < HANDOFFS / 2; i++) {
        green_mutex_lock(&handoff);
        green_yield();  /* the other thread queues up for it */
        green_mutex_unlock(&handoff);
    }
    return NULL;
}

static void *bench_mutex(void *arg)
{
    double *ns = arg;
    green_t *a = green_spawn(take_turns, NULL), *b = green_spawn(take_turns, NULL);
    double t0 = now_ns();
    green_join(a, NULL);
    green_join(b, NULL);
    *ns = (now_ns() - t0) / HANDOFFS;
    return NULL;
}

/* floor: raw swapcontext */

static ucontext_t main_uc, other_uc;

static void bounce(void)
{
    for (;;)
        swapcontext(&other_uc, &main_uc);
}

static double bench_floor(void)
{
    static char stack[64 * 1024];
    getcontext(&other_uc);
    other_uc.uc_stack.ss_sp = stack;
    other_uc.uc_stack.ss_size = sizeof stack;
    makecontext(&other_uc, bounce, 0);
    double t0 = now_ns();
    for (int i = 0; i < SWITCHES / 2; i++)
        swapcontext(&main_uc, &other_uc);
    return (now_ns() - t0) / SWITCHES;
}

static struct figure run_green_bench(void *(*fn)(void *))
{
    double v[RUNS];
    for (int r = 0; r < RUNS; r++) {
        if (green_run(fn, &v[r]) < 0) {
            perror("green_run");
            exit(1);
        }
    }
    return summarise(v);
}

int main(void)
{
    printf("libgreen %d.%d.%d: switch backend %s, poller %s; median of %d runs [min .. max]\n",
           GREEN_VERSION_MAJOR, GREEN_VERSION_MINOR, GREEN_VERSION_PATCH,
           green__switch_name, green__poller_poll.name, RUNS);
    struct figure sw = run_green_bench(bench_switch);
    struct figure sp = run_green_bench(bench_spawn);
    struct figure io = run_green_bench(bench_io);
    struct figure ch0 = run_green_bench(bench_chan_unbuffered);
    struct figure ch64 = run_green_bench(bench_chan_buffered);
    struct figure mx = run_green_bench(bench_mutex);
    double v[RUNS];
    for (int r = 0; r < RUNS; r++)
        v[r] = bench_floor();
    struct figure fl = summarise(v);
    print("switch (yield ping-pong)", "ns", sw);
    print("spawn + join (warm stack cache)", "ns", sp);
    print("io round trip (socketpair, 1 byte)", "us", io);
    print("channel ping-pong, unbuffered", "ns", ch0);
    print("channel ping-pong, capacity 64", "ns", ch64);
    print("mutex handoff", "ns", mx);
    print("floor: raw swapcontext", "ns", fl);
    printf("  switch / floor: %.2f\n", sw.median / fl.median);
    return 0;
}
