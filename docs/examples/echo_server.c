/*
 * An echo server with one green thread per connection, that shuts down
 * cleanly on SIGINT or SIGTERM.  Each handler is plain sequential code:
 * read, write back, repeat until the client hangs up.  While one handler
 * waits for its client, the others run.  On a signal, main cancels the
 * acceptor and every connection: their blocking calls fail with
 * ECANCELED, each handler closes its socket on the way out, and main
 * waits for all of them before it returns.
 *
 *   cc echo_server.c $(pkg-config --cflags --libs green) -o echo_server
 *   ./echo_server [port]      (default 7007; 0 picks a free port)
 */
#include <errno.h>
#include <green.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

static void *serve(void *arg)
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

struct server {
    int lfd;
    green_group_t *conns;
};

static void *accept_loop(void *arg)
{
    struct server *srv = arg;
    for (;;) {
        int fd = green_accept(srv->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == ECANCELED)
                return NULL;
            perror("accept");  /* out of fds, say: back off, do not spin */
            if (green_sleep(100) < 0)
                return NULL;
            continue;
        }
        /* Detached: freed as it finishes; the group still waits for it. */
        green_t *t = green_group_spawn(srv->conns, serve, (void *)(intptr_t)fd);
        if (t)
            green_detach(t);
        else
            green_close(fd);
    }
}

/* Waits for SIGINT or SIGTERM and returns which came. */
static void *wait_for_stop(void *arg)
{
    (void)arg;
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    return (void *)(intptr_t)green_signal_wait(&stop);
}

static int status;

static void *run_server(void *arg)
{
    struct server srv = {.lfd = green_tcp_listen("127.0.0.1", arg, 128)};
    if (srv.lfd < 0) {
        perror("listen");
        status = 1;
        return NULL;
    }
    srv.conns = green_group_new();
    green_t *acceptor = green_spawn(accept_loop, &srv);
    green_t *stopper = green_spawn(wait_for_stop, NULL);
    green_yield();  /* both start: from here on the signals are caught */
    printf("listening on 127.0.0.1:%d\n", green_local_port(srv.lfd));
    fflush(stdout);

    void *sig;
    green_join(stopper, &sig);
    printf("signal %d: closing the listener and every connection\n", (int)(intptr_t)sig);
    green_cancel(acceptor);
    green_join(acceptor, NULL);
    green_group_cancel(srv.conns);
    green_group_wait(srv.conns);
    green_group_free(srv.conns);
    green_close(srv.lfd);
    printf("bye\n");
    return NULL;
}

int main(int argc, char **argv)
{
    if (green_run(run_server, argc > 1 ? argv[1] : "7007") < 0) {
        perror("green_run");
        return 1;
    }
    return status;
}
