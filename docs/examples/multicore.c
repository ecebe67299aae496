/*
 * One scheduler per core: an echo server whose OS threads each run their
 * own green_run, each with its own listening socket on the same port
 * (SO_REUSEPORT), so the kernel spreads the connections among them.
 * Green threads never move between OS threads; what crosses them here is
 * a cross-thread queue, closed on SIGINT or SIGTERM to stop every
 * scheduler.
 *
 *   cc multicore.c $(pkg-config --cflags --libs green) -o multicore
 *   ./multicore [port [threads]]   (default 7008, one thread per CPU)
 */
#include <errno.h>
#include <green.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct worker {
    int id;
    char port[12];
    green_queue_t *ready, *stop;  /* shared by every worker */
    long connections;             /* read by main once the worker ended */
    green_group_t *conns;
    int lfd;
    pthread_t os;
};

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

static void *accept_loop(void *arg)
{
    struct worker *w = arg;
    for (int fd; (fd = green_accept(w->lfd, NULL, NULL)) >= 0 || errno != ECANCELED;) {
        green_t *t = fd >= 0 ? green_group_spawn(w->conns, echo, (void *)(intptr_t)fd) : NULL;
        if (t) {
            green_detach(t);
            w->connections++;
        } else if (fd >= 0) {
            green_close(fd);
        }
    }
    return NULL;
}

/* Each worker's main: listen, tell main, serve until the stop queue is
 * closed, then close everything it owns. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->lfd = green_tcp_listen_flags("127.0.0.1", w->port, 128, GREEN_REUSEPORT);
    int ok = w->lfd >= 0;
    green_queue_send(w->ready, &ok);
    if (!ok)
        return NULL;
    w->conns = green_group_new();
    green_t *acceptor = green_spawn(accept_loop, w);
    while (green_queue_recv(w->stop, NULL) == 0)
        ;  /* nothing is ever sent: it ends with EPIPE, when main closes it */
    green_cancel(acceptor);
    green_join(acceptor, NULL);
    green_group_cancel(w->conns);
    green_group_wait(w->conns);
    green_group_free(w->conns);
    green_close(w->lfd);
    return NULL;
}

static void *worker_thread(void *arg)
{
    green_run(worker_main, arg);
    return NULL;
}

static void *join_os_thread(void *arg)
{
    pthread_join(((struct worker *)arg)->os, NULL);
    return NULL;
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

struct server {
    const char *port;
    int n;
};

static void *run_server(void *arg)
{
    struct server *srv = arg;
    /* A first listener fixes the port (port 0 picks one); the workers
     * join it on that port, then it leaves. */
    int holder = green_tcp_listen_flags("127.0.0.1", srv->port, 1, GREEN_REUSEPORT);
    if (holder < 0) {
        perror("listen");
        return NULL;
    }
    struct worker *w = calloc((size_t)srv->n, sizeof *w);
    green_queue_t *ready = green_queue_new(sizeof(int), (size_t)srv->n);
    green_queue_t *stop = green_queue_new(0, 1);
    int started = 0;
    for (int i = 0; i < srv->n; i++) {
        w[i] = (struct worker){.id = i, .ready = ready, .stop = stop};
        snprintf(w[i].port, sizeof w[i].port, "%d", green_local_port(holder));
        int ok = 0;
        if (pthread_create(&w[i].os, NULL, worker_thread, &w[i]) != 0)
            break;
        started++;
        green_queue_recv(ready, &ok);
        if (!ok)
            break;
    }
    green_t *stopper = green_spawn(wait_for_stop, NULL);
    green_yield();  /* it waits: from here on the signals are caught */
    /* The holder leaves before anyone is told the port: a connection that
     * came to it (SO_REUSEPORT spreads them over every listener) would be
     * reset when it closed. */
    int port = green_local_port(holder);
    green_close(holder);
    printf("listening on 127.0.0.1:%d with %d schedulers\n", port, started);
    fflush(stdout);

    if (started < srv->n)
        green_cancel(stopper);  /* a worker failed: stop the others */
    void *sig;
    green_join(stopper, &sig);
    printf("signal %d: stopping\n", (int)(intptr_t)sig);
    green_queue_close(stop);
    long total = 0;
    for (int i = 0; i < started; i++) {
        green_offload(join_os_thread, &w[i], NULL);  /* parks only this thread */
        printf("scheduler %d served %ld connections\n", i, w[i].connections);
        total += w[i].connections;
    }
    printf("%ld connections in all\n", total);
    green_queue_free(ready);
    green_queue_free(stop);
    free(w);
    return NULL;
}

int main(int argc, char **argv)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct server srv = {argc > 1 ? argv[1] : "7008", argc > 2 ? atoi(argv[2]) : (int)cpus};
    if (srv.n < 1)
        srv.n = 1;
    if (green_run(run_server, &srv) < 0) {
        perror("green_run");
        return 1;
    }
    return 0;
}
