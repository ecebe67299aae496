/*
 * make bench's "libgreen own buffer" row: the http-hello server as it was
 * written before streams, with its own buffer and a scan for the blank
 * line, and no parsing at all, kept to measure docs/examples/http_server.c
 * (on a stream) against.  Not an example to copy: it answers anything.
 *
 *   http_raw PORT
 *
 * Built with GREEN_BENCH_HOOKED and linked with libgreen-hook, it is the
 * "libgreen hooked" row: the same server with the plain read, write,
 * accept and close, which the hook makes green.
 */
#include <arpa/inet.h>
#include <green.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef GREEN_BENCH_HOOKED
#include <unistd.h>
#define green_read read
#define green_write write
#define green_accept accept
#define green_close close
#endif

static const char response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n"
    "\r\nHello, World!";

/* Counts the requests complete in buf[0..n) (each ends with a blank line)
 * and keeps what follows the last one at the front of buf. */
static int complete_requests(char *buf, size_t n, size_t *left)
{
    int count = 0;
    size_t start = 0;
    for (size_t i = 3; i < n; i++)
        if (memcmp(buf + i - 3, "\r\n\r\n", 4) == 0) {
            count++;
            start = i + 1;
        }
    memmove(buf, buf + start, n - start);
    *left = n - start;
    return count;
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    size_t have = 0;
    ssize_t n;
    while ((n = green_read(fd, buf + have, sizeof buf - have)) > 0) {
        int requests = complete_requests(buf, have + (size_t)n, &have);
        for (int i = 0; i < requests; i++)
            if (green_write(fd, response, sizeof response - 1) < 0)
                goto out;
        if (have == sizeof buf)
            break;  /* a request larger than this server takes */
    }
out:
    green_close(fd);
    return NULL;
}

static void *server(void *arg)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*(int *)arg),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &len) < 0) {
        perror("listen");
        return NULL;
    }
    printf("listening on 127.0.0.1:%d\n", ntohs(sin.sin_port));
    fflush(stdout);
    /* Small stacks: a connection needs little, and there may be many. */
    green_attr_t attr = {.stack_size = 64 * 1024};
    for (;;) {
        int fd = green_accept(lfd, NULL, NULL);
        if (fd < 0) {
            perror("accept");
            green_sleep(100);  /* out of fds, say: back off */
            continue;
        }
        green_t *t = green_spawn_attr(&attr, serve, (void *)(intptr_t)fd);
        if (t)
            green_detach(t);
        else
            green_close(fd);
    }
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    if (green_run(server, &port) < 0) {
        perror("green_run");
        return 1;
    }
    return 0;
}
