/*
 * A small HTTP/1.x server on buffered streams, a green thread per
 * connection, answering every well-formed request with "Hello, World!".
 * It is the libgreen server of make bench's http-hello and
 * idle-connections workloads.
 *
 *   cc http_server.c $(pkg-config --cflags --libs green) -o http_server
 *   ./http_server [port [ms [n [any]]]]  (port 8080 by default, 0 picks a
 *                                   free one; ms: the time a request may
 *                                   take, 30000; n schedulers, 1 by
 *                                   default; any: one acceptor)
 *
 * What it holds to: keep-alive by HTTP/1.1's default and HTTP/1.0's
 * "Connection: keep-alive", and "Connection: close" honoured and said; a
 * body (by Content-Length) read and dropped, so that a blank line in it
 * is no second request; 400 for what is not HTTP, 431 for a header block
 * over 8 KiB; and a client that has not sent its whole request 30 s (or
 * ms) after the last answer is closed.  Pipelined requests are answered in order,
 * their answers sent together.  On n schedulers, each listens on the port
 * (SO_REUSEPORT, so the kernel spreads the connections) and serves what it
 * accepts; with "any", the first alone accepts and places each connection
 * on the less loaded of two schedulers (GREEN_PLACE_ANY).
 */
#include <errno.h>
#include <green.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

enum { HEADER_MAX = 8192 };

static bool one_acceptor;  /* "any": connections placed by the one acceptor */
static int64_t request_ms = 30000;

/* An answer, and whether the connection ends after it. */
struct answer {
    const char *text;
    size_t len;
    bool last;
};
#define ANSWER(text, last) {text, sizeof text - 1, last}
#define HELLO "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n"

static const struct answer hello = ANSWER(HELLO "\r\nHello, World!", false),
    hello_keep_alive = ANSWER(HELLO "Connection: keep-alive\r\n\r\nHello, World!", false),
    hello_close = ANSWER(HELLO "Connection: close\r\n\r\nHello, World!", true),
    bad_request = ANSWER("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n", true),
    too_large = ANSWER("HTTP/1.1 431 Request Header Fields Too Large\r\n"
                       "Content-Length: 0\r\nConnection: close\r\n\r\n", true);

struct request {
    int minor;            /* HTTP/1.minor */
    bool keep_alive;
    size_t body;          /* Content-Length */
};

/* The request line: METHOD SP TARGET SP HTTP/1.x; 0 or -1. */
static int parse_request_line(const char *p, const char *end, struct request *rq)
{
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp || sp == p)
        return -1;
    for (const char *m = p; m < sp; m++)
        if (*m < 'A' || *m > 'Z')
            return -1;
    const char *target = sp + 1;
    sp = memchr(target, ' ', (size_t)(end - target));
    if (!sp || sp == target || end - sp != 9 || memcmp(sp + 1, "HTTP/1.", 7) != 0 ||
        sp[8] < '0' || sp[8] > '9')
        return -1;
    rq->minor = sp[8] - '0';
    rq->keep_alive = rq->minor >= 1;
    return 0;
}

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* One header line; 0 or -1. */
static int parse_header(const char *line, const char *end, struct request *rq)
{
    size_t len = (size_t)(end - line);
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return -1;
    const char *v = colon + 1;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    if (header_is(line, len, "Content-Length")) {
        if (v == end)
            return -1;
        size_t n = 0;
        for (; v < end && *v >= '0' && *v <= '9'; v++) {
            if (n > (SIZE_MAX - 9) / 10)
                return -1;
            n = n * 10 + (size_t)(*v - '0');
        }
        if (v != end)
            return -1;
        rq->body = n;
    } else if (header_is(line, len, "Transfer-Encoding")) {
        return -1;  /* chunked bodies: more than this small server reads */
    } else if (header_is(line, len, "Connection")) {
        size_t vlen = (size_t)(end - v);
        if (vlen >= 5 && strncasecmp(v, "close", 5) == 0)
            rq->keep_alive = false;
        else if (vlen >= 10 && strncasecmp(v, "keep-alive", 10) == 0)
            rq->keep_alive = true;
    }
    return 0;
}

/* The header block head[0, n), which ends with a blank line; 0 or -1. */
static int parse(const char *head, size_t n, struct request *rq)
{
    const char *end = head + n - 2, *p = head;  /* the blank line's \r\n */
    *rq = (struct request){0};
    for (bool first = true; p < end; first = false) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol || eol == p || eol[-1] != '\r')
            return -1;
        if (first ? parse_request_line(p, eol - 1, rq) : parse_header(p, eol - 1, rq))
            return -1;
        p = eol + 1;
    }
    return 0;
}

/* Reads the body and drops it, straight from the stream's buffer. */
static int skip_body(green_stream_t *s, size_t n)
{
    while (n) {
        const void *data;
        ssize_t have = green_stream_peek(s, &data, 1);
        if (have <= 0)
            return -1;
        size_t k = (size_t)have < n ? (size_t)have : n;
        green_stream_consume(s, k);
        n -= k;
    }
    return 0;
}

/* After a last answer: the client is told nothing more comes, and what it
 * still sends is read and dropped for a moment, so that closing with its
 * bytes unread does not reset the connection before it has the answer. */
static void close_gracefully(green_stream_t *s)
{
    if (green_stream_flush(s) == 0 && shutdown(green_stream_fd(s), SHUT_WR) == 0) {
        char drop[512];
        green_deadline(green_now() + 1000);
        while (green_stream_read(s, drop, sizeof drop) > 0)
            continue;
    }
    green_stream_close(s);
}

static void *serve(void *arg)
{
    green_stream_t *s = green_stream_open((int)(intptr_t)arg, HEADER_MAX);
    if (!s) {
        green_close((int)(intptr_t)arg);
        return NULL;
    }
    char head[HEADER_MAX];
    for (;;) {
        green_deadline(green_now() + request_ms);
        ssize_t n = green_stream_readuntil(s, "\r\n\r\n", 4, head, sizeof head);
        struct request rq;
        const struct answer *a;
        if (n < 0 && errno == EMSGSIZE)
            a = &too_large;
        else if (n <= 0)
            break;  /* gone, reset, timed out, or ended mid-request */
        else if (parse(head, (size_t)n, &rq) < 0)
            a = &bad_request;
        else if (skip_body(s, rq.body) < 0)
            break;
        else
            a = !rq.keep_alive ? &hello_close : rq.minor == 0 ? &hello_keep_alive : &hello;
        if (green_stream_write(s, a->text, a->len) < 0)
            break;
        if (a->last) {
            close_gracefully(s);
            return NULL;
        }
    }
    green_stream_close(s);
    return NULL;
}

/* Accepts on lfd for ever, a green thread per connection, on the
 * scheduler it runs on or, with one acceptor, on any. */
static void *accept_loop(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    /* Small stacks: a connection needs little, and there may be many. */
    green_attr_t attr = {.stack_size = 64 * 1024,
                         .place = one_acceptor ? GREEN_PLACE_ANY : GREEN_PLACE_HERE};
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
    return NULL;
}

static void *listen_here(void *port)
{
    int flags = green_sched_count() > 1 && !one_acceptor ? GREEN_REUSEPORT : 0;
    return (void *)(intptr_t)green_tcp_listen_flags("127.0.0.1", port, 4096, flags);
}

static void *server(void *arg)
{
    char port[16];
    snprintf(port, sizeof port, "%d", *(int *)arg);
    int lfd = (int)(intptr_t)listen_here(port);
    if (lfd < 0) {
        perror("listen");
        *(int *)arg = -1;
        return NULL;
    }
    snprintf(port, sizeof port, "%d", green_local_port(lfd));  /* port 0: the one picked */
    /* Every other scheduler listens on the port too, and serves there. */
    for (int i = 1; i < green_sched_count() && !one_acceptor; i++) {
        green_attr_t there = {.place = GREEN_PLACE_ON(i)};
        void *fd;
        if (green_join(green_spawn_attr(&there, listen_here, port), &fd) < 0 || (intptr_t)fd < 0 ||
            !green_spawn_attr(&there, accept_loop, fd)) {
            perror("listen");
            *(int *)arg = -1;
            return NULL;
        }
    }
    printf("listening on 127.0.0.1:%s\n", port);
    fflush(stdout);
    return accept_loop((void *)(intptr_t)lfd);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    green_run_attr_t run = {.schedulers = argc > 3 ? (unsigned)atoi(argv[3]) : 1};
    one_acceptor = argc > 4 && strcmp(argv[4], "any") == 0;
    if ((argc > 2 && (request_ms = atoll(argv[2])) <= 0) || run.schedulers < 1 ||
        (argc > 4 && !one_acceptor)) {
        fprintf(stderr, "usage: %s [port [ms [schedulers [any]]]]\n", argv[0]);
        return 2;
    }
    if (green_run_attr(&run, server, &port) < 0) {
        perror("green_run_attr");
        return 1;
    }
    return port < 0 ? 1 : 0;
}
