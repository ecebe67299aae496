/*
 * An echo server with one green thread per connection.  Each handler is
 * plain sequential code: read, write back, repeat until the client hangs
 * up.  While one handler waits for its client, the others run.
 *
 *   cc echo_server.c $(pkg-config --cflags --libs green) -o echo_server
 *   ./echo_server [port]      (default 7007; 0 picks a free port)
 */
#include <arpa/inet.h>
#include <green.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

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

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        perror("listen");
        return -1;
    }
    printf("listening on 127.0.0.1:%d\n", ntohs(sin.sin_port));
    fflush(stdout);
    return fd;
}

static void *server(void *arg)
{
    int lfd = listen_on(*(int *)arg);
    if (lfd < 0)
        return NULL;
    for (;;) {
        int fd = green_accept(lfd, NULL, NULL);
        if (fd < 0) {
            /* Out of fds, say: back off rather than spin. */
            perror("accept");
            green_sleep(100);
            continue;
        }
        green_t *t = green_spawn(serve, (void *)(intptr_t)fd);
        if (!t) {
            perror("green_spawn");
            green_close(fd);
            continue;
        }
        green_detach(t);
    }
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 7007;
    if (green_run(server, &port) < 0) {
        perror("green_run");
        return 1;
    }
    return 0;
}
