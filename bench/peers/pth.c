/*
 * GNU Pth in the make bench workloads.  Pth waits with select(2), so it
 * cannot watch an fd above FD_SETSIZE (1024): no idle-connections run.
 *   pth switch|spawn|io|idle N,  pth http PORT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pth.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common.h"

static long N;

static void *yielder(void *arg)
{
    for (long i = 0; i < N / 2; i++)
        pth_yield(NULL);
    return arg;
}

static double run_switch(void)
{
    pth_t a = pth_spawn(PTH_ATTR_DEFAULT, yielder, NULL);
    pth_t b = pth_spawn(PTH_ATTR_DEFAULT, yielder, NULL);
    double t0 = bench_now_ns();
    pth_join(a, NULL);
    pth_join(b, NULL);
    return (bench_now_ns() - t0) / N;
}

static void *nothing(void *arg)
{
    return arg;
}

static double run_spawn(void)
{
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        pth_join(pth_spawn(PTH_ATTR_DEFAULT, nothing, NULL), NULL);
    return (bench_now_ns() - t0) / N;
}

static void *echo_bytes(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    for (long i = 0; i < N; i++)
        if (pth_read(fd, &c, 1) != 1 || pth_write(fd, &c, 1) != 1)
            break;
    return NULL;
}

static double run_io(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pth_t t = pth_spawn(PTH_ATTR_DEFAULT, echo_bytes, (void *)(intptr_t)sv[1]);
    char c = 'x';
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        if (pth_write(sv[0], &c, 1) != 1 || pth_read(sv[0], &c, 1) != 1)
            exit(1);
    double us = (bench_now_ns() - t0) / N / 1000;
    pth_join(t, NULL);
    return us;
}

static void *parked(void *arg)
{
    pth_sleep(100000);
    return arg;
}

static double run_idle(void)
{
    pth_attr_t attr = pth_attr_new();
    pth_attr_set(attr, PTH_ATTR_JOINABLE, 0);
    double mem0 = bench_memory();
    for (long i = 0; i < N; i++)
        if (!pth_spawn(attr, parked, NULL))
            exit(2);
    pth_yield(NULL);  /* every one runs and parks */
    return (bench_memory() - mem0) / N;
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    size_t have = 0;
    ssize_t n;
    while ((n = pth_read(fd, buf + have, sizeof buf - have)) > 0) {
        int requests = bench_requests(buf, have + (size_t)n, &have);
        for (int i = 0; i < requests; i++)
            pth_write(fd, BENCH_RESPONSE, sizeof BENCH_RESPONSE - 1);
    }
    close(fd);
    return NULL;
}

static void run_http(int port)
{
    int lfd = bench_listen(port);
    pth_attr_t attr = pth_attr_new();
    pth_attr_set(attr, PTH_ATTR_JOINABLE, 0);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int fd = pth_accept(lfd, NULL, NULL);
        if (fd >= 0)
            pth_spawn(attr, serve, (void *)(intptr_t)fd);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    N = atol(argv[2]);
    pth_init();
    double r;
    if (strcmp(argv[1], "switch") == 0)
        r = run_switch();
    else if (strcmp(argv[1], "spawn") == 0)
        r = run_spawn();
    else if (strcmp(argv[1], "io") == 0)
        r = run_io();
    else if (strcmp(argv[1], "idle") == 0)
        r = run_idle();
    else if (strcmp(argv[1], "http") == 0) {
        run_http((int)N);
        return 0;
    } else
        return 2;
    printf("%.3f\n", r);
    return 0;
}
