/*
 * The same N requests to a server that answers each after 100 ms: first
 * one after another with plain blocking calls, then with a green thread
 * each.  One after another they take N x 100 ms; green, about 100 ms,
 * because while one request waits the others are sent.
 *
 *   cc sync_vs_green.c $(pkg-config --cflags --libs green) -o sync_vs_green
 *   ./sync_vs_green [N]      (default 10)
 *
 * The slow server runs in this process, on an OS thread of its own with
 * its own green_run; it tells main its port through a cross-thread queue.
 */
#include <arpa/inet.h>
#include <green.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The server: read a request line, wait 100 ms, answer, hang up. */

static void *answer_slowly(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[256];
    if (green_read(fd, buf, sizeof buf) > 0 && green_sleep(100) == 0)
        green_write(fd, "done\n", 5);
    green_close(fd);
    return NULL;
}

static void *slow_server(void *arg)
{
    green_queue_t *ports = arg;
    int lfd = green_tcp_listen("127.0.0.1", "0", 128);
    int port = lfd < 0 ? -1 : green_local_port(lfd);
    green_queue_send(ports, &port);
    for (int fd; lfd >= 0 && (fd = green_accept(lfd, NULL, NULL)) >= 0;) {
        green_t *t = green_spawn(answer_slowly, (void *)(intptr_t)fd);
        if (t)
            green_detach(t);
        else
            green_close(fd);
    }
    return NULL;
}

static void *server_thread(void *arg)
{
    green_run(slow_server, arg);
    return NULL;
}

/* One request; 0 or -1.  The same code serves both clients: outside
 * green_run the green_* calls are the plain blocking POSIX calls. */
static int request(const char *port)
{
    int fd = green_tcp_connect("127.0.0.1", port);
    if (fd < 0)
        return -1;
    char reply[16];
    ssize_t n = -1;
    if (green_write(fd, "hello\n", 6) == 6)
        n = green_read(fd, reply, sizeof reply);
    green_close(fd);
    return n > 0 ? 0 : -1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct run {
    const char *port;
    int n, failed;
};

static void *one_green_request(void *arg)
{
    struct run *r = arg;
    r->failed += request(r->port) < 0;
    return NULL;
}

static void *green_clients(void *arg)
{
    struct run *r = arg;
    green_group_t *g = green_group_new();
    for (int i = 0; i < r->n; i++) {
        green_t *t = green_group_spawn(g, one_green_request, r);
        if (t)
            green_detach(t);
        else
            r->failed++;
    }
    green_group_wait(g);
    green_group_free(g);
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10, port;
    if (n < 1 || n > 10000) {
        fprintf(stderr, "usage: %s [N, 1 to 10000]\n", argv[0]);
        return 2;
    }
    green_queue_t *ports = green_queue_new(sizeof(int), 1);
    pthread_t server;
    if (!ports || pthread_create(&server, NULL, server_thread, ports) != 0 ||
        green_queue_recv(ports, &port) < 0 || port < 0) {
        fprintf(stderr, "the server did not start\n");
        return 1;
    }
    char portstr[12];
    snprintf(portstr, sizeof portstr, "%d", port);

    struct run r = {portstr, n, 0};
    double t0 = now_ms();
    for (int i = 0; i < n; i++)
        r.failed += request(portstr) < 0;
    double t1 = now_ms();
    printf("one after another: %d requests in %.0f ms\n", n, t1 - t0);

    if (green_run(green_clients, &r) < 0)
        perror("green_run");
    printf("a green thread each: %d requests in %.0f ms\n", n, now_ms() - t1);
    if (r.failed)
        printf("%d requests failed\n", r.failed);
    return r.failed ? 1 : 0;  /* the server thread ends with the process */
}
