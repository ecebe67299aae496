/*
 * Every core from one green_run_attr: an echo server with a listener on
 * each scheduler, all on one port (SO_REUSEPORT), so the kernel spreads
 * the connections among them.  SIGINT or SIGTERM stops it all: main
 * returns, and every scheduler's threads are cancelled.
 *
 *   cc multicore.c $(pkg-config --cflags --libs green) -o multicore
 *   ./multicore [port [schedulers]]   (default 7008, one per CPU)
 */
#include <errno.h>
#include <green.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void *echo(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = green_read(fd, buf, sizeof buf)) > 0)
        if (green_write(fd, buf, (size_t)n) < 0)
            break;
    green_close(fd);
    return NULL;
}

static green_t *spawn_on(int i, void *(*fn)(void *), void *arg)
{
    return green_spawn_attr(&(green_attr_t){.place = GREEN_PLACE_ON(i)}, fn, arg);
}

static void *listen_here(void *port)
{
    return (void *)(intptr_t)green_tcp_listen_flags("127.0.0.1", port, 128, GREEN_REUSEPORT);
}

/* One per scheduler: serves what its listener accepts, on its own
 * scheduler, until it is cancelled; returns how many it served. */
static void *serve(void *arg)
{
    int lfd = (int)(intptr_t)arg, fd;
    long served = 0;
    while ((fd = green_accept(lfd, NULL, NULL)) >= 0 || errno != ECANCELED) {
        green_t *t = fd >= 0 ? green_spawn(echo, (void *)(intptr_t)fd) : NULL;
        if (t && green_detach(t) == 0)
            served++;
        else if (fd >= 0)
            green_close(fd);
    }
    green_close(lfd);
    return (void *)(intptr_t)served;
}

static void *wait_for_stop(void *arg)
{
    (void)arg;
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    return (void *)(intptr_t)green_signal_wait(&sigs);
}

static void *run_server(void *arg)
{
    /* The first listener fixes the port (port 0 picks one); it keeps it
     * until every scheduler listens on it too. */
    int holder = green_tcp_listen_flags("127.0.0.1", arg, 1, GREEN_REUSEPORT);
    if (holder < 0) {
        perror("listen");
        return NULL;
    }
    char port[12];
    snprintf(port, sizeof port, "%d", green_local_port(holder));
    int n = green_sched_count(), started = 0;
    green_t *server[n];
    for (void *lfd; started < n; started++) {
        /* Each scheduler's listener is made there, and served there. */
        if (green_join(spawn_on(started, listen_here, port), &lfd) < 0 || (intptr_t)lfd < 0)
            break;
        server[started] = spawn_on(started, serve, lfd);
    }
    green_close(holder);
    if (started == n) {
        /* Eager: it runs until it parks in green_signal_wait, so the
         * signals are caught before anyone is told to send one. */
        green_t *stopper = green_spawn_attr(&(green_attr_t){.eager = 1}, wait_for_stop, NULL);
        printf("listening on 127.0.0.1:%s with %d schedulers\n", port, n);
        fflush(stdout);
        void *sig = NULL;
        green_join(stopper, &sig);
        printf("signal %d: stopping\n", (int)(intptr_t)sig);
    }
    long total = 0;
    for (int i = 0; i < started; i++) {
        void *served;
        green_cancel(server[i]);
        green_join(server[i], &served);
        printf("scheduler %d served %ld connections\n", i, (long)(intptr_t)served);
        total += (long)(intptr_t)served;
    }
    printf("%ld connections in all\n", total);
    return NULL;
}

int main(int argc, char **argv)
{
    green_run_attr_t attr = {.schedulers = argc > 2 ? (unsigned)atoi(argv[2]) : 0};
    if (green_run_attr(&attr, run_server, argc > 1 ? argv[1] : "7008") < 0) {
        perror("green_run_attr");
        return 1;
    }
    return 0;
}
