/*
 * State Threads (libst) in the make bench workloads, with the best event
 * system the library was built with (Debian's has select(2) only, which
 * stops at 1024 fds).  ST has no yield: control is handed over with a
 * condition variable, which is also its channel.
 *   st switch|spawn|chan0|io|idle N,  st http PORT,  st eventsys 0
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <st.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common.h"

static long N;

/* switch and chan0: a turn passed back and forth with two conditions. */
static st_cond_t cond[2];
static int turn;

static void *taker(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (long i = 0; i < N / 2; i++) {
        while (turn != me)
            st_cond_wait(cond[me]);
        turn = 1 - me;
        st_cond_signal(cond[1 - me]);
    }
    return NULL;
}

static double st_handoff(void)
{
    cond[0] = st_cond_new();
    cond[1] = st_cond_new();
    st_thread_t a = st_thread_create(taker, (void *)0, 1, 0);
    st_thread_t b = st_thread_create(taker, (void *)1, 1, 0);
    double t0 = bench_now_ns();
    st_thread_join(a, NULL);
    st_thread_join(b, NULL);
    return (bench_now_ns() - t0) / N;
}

static void *nothing(void *arg)
{
    return arg;
}

static double st_spawn(void)
{
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        st_thread_join(st_thread_create(nothing, NULL, 1, 0), NULL);
    return (bench_now_ns() - t0) / N;
}

static void *echo_bytes(void *arg)
{
    st_netfd_t fd = arg;
    char c;
    for (long i = 0; i < N; i++)
        if (st_read(fd, &c, 1, ST_UTIME_NO_TIMEOUT) != 1 || st_write(fd, &c, 1, ST_UTIME_NO_TIMEOUT) != 1)
            break;
    return NULL;
}

static double st_io(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    st_netfd_t a = st_netfd_open_socket(sv[0]), b = st_netfd_open_socket(sv[1]);
    st_thread_t t = st_thread_create(echo_bytes, b, 1, 0);
    char c = 'x';
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        if (st_write(a, &c, 1, ST_UTIME_NO_TIMEOUT) != 1 || st_read(a, &c, 1, ST_UTIME_NO_TIMEOUT) != 1)
            exit(1);
    double us = (bench_now_ns() - t0) / N / 1000;
    st_thread_join(t, NULL);
    return us;
}

static void *parked(void *arg)
{
    st_sleep(-1);
    return arg;
}

static double st_idle(void)
{
    double mem0 = bench_memory();
    for (long i = 0; i < N; i++)
        if (!st_thread_create(parked, NULL, 0, 0))
            exit(2);
    st_usleep(1000);  /* every one runs and parks */
    return (bench_memory() - mem0) / N;
}

static void *serve(void *arg)
{
    st_netfd_t fd = arg;
    char buf[4096];
    size_t have = 0;
    ssize_t n;
    while ((n = st_read(fd, buf + have, sizeof buf - have, ST_UTIME_NO_TIMEOUT)) > 0) {
        int requests = bench_requests(buf, have + (size_t)n, &have);
        for (int i = 0; i < requests; i++)
            st_write(fd, BENCH_RESPONSE, sizeof BENCH_RESPONSE - 1, ST_UTIME_NO_TIMEOUT);
    }
    st_netfd_close(fd);
    return NULL;
}

static void st_http(int port)
{
    int lfd = bench_listen(port);
    st_netfd_t l = st_netfd_open_socket(lfd);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        st_netfd_t c = st_accept(l, NULL, NULL, ST_UTIME_NO_TIMEOUT);
        if (c)
            st_thread_create(serve, c, 0, 64 * 1024);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    N = atol(argv[2]);
    st_set_eventsys(ST_EVENTSYS_ALT);
    if (st_init() < 0)
        return 1;
    double r;
    if (strcmp(argv[1], "switch") == 0 || strcmp(argv[1], "chan0") == 0)
        r = st_handoff();
    else if (strcmp(argv[1], "spawn") == 0)
        r = st_spawn();
    else if (strcmp(argv[1], "io") == 0)
        r = st_io();
    else if (strcmp(argv[1], "idle") == 0)
        r = st_idle();
    else if (strcmp(argv[1], "http") == 0) {
        st_http((int)N);
        return 0;
    } else if (strcmp(argv[1], "eventsys") == 0) {
        printf("%s\n", st_get_eventsys_name());
        return 0;
    } else
        return 2;
    printf("%.3f\n", r);
    return 0;
}
