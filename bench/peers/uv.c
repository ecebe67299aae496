/*
 * libuv in the make bench workloads it can do: callbacks, no threads of
 * control, so no switch, spawn or idle green threads.
 *   uv io N,  uv http PORT
 */
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "../common.h"

static long N, trips;
static uv_loop_t *loop;
static uv_pipe_t ends[2];
static char byte = 'x';

static void alloc_cb(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
    static char space[65536];
    (void)h, (void)want;
    *buf = uv_buf_init(space, sizeof space);
}

static void send_byte(uv_pipe_t *end)
{
    uv_buf_t b = uv_buf_init(&byte, 1);
    if (uv_try_write((uv_stream_t *)end, &b, 1) != 1)
        exit(1);
}

/* End 1 echoes; end 0 counts a round trip and starts the next. */
static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    if (n <= 0)
        return;
    if (s == (uv_stream_t *)&ends[1]) {
        send_byte(&ends[1]);
    } else if (++trips < N) {
        send_byte(&ends[0]);
    } else {
        uv_read_stop((uv_stream_t *)&ends[0]);
        uv_read_stop((uv_stream_t *)&ends[1]);
    }
}

static double uv_io(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    for (int i = 0; i < 2; i++) {
        uv_pipe_init(loop, &ends[i], 0);
        uv_pipe_open(&ends[i], sv[i]);
        uv_read_start((uv_stream_t *)&ends[i], alloc_cb, read_cb);
    }
    double t0 = bench_now_ns();
    send_byte(&ends[0]);
    uv_run(loop, UV_RUN_DEFAULT);
    return (bench_now_ns() - t0) / N / 1000;
}

/* http-hello */

struct conn {
    uv_tcp_t tcp;
    size_t have;
    char buf[4096];
};

static void conn_alloc(uv_handle_t *h, size_t want, uv_buf_t *buf)
{
    struct conn *c = (struct conn *)h;
    (void)want;
    *buf = uv_buf_init(c->buf + c->have, (unsigned)(sizeof c->buf - c->have));
}

static void conn_close(uv_handle_t *h)
{
    free(h);
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)s;
    (void)buf;
    if (n < 0) {
        uv_close((uv_handle_t *)s, conn_close);
        return;
    }
    int requests = bench_requests(c->buf, c->have + (size_t)n, &c->have);
    uv_buf_t out = uv_buf_init((char *)BENCH_RESPONSE, sizeof BENCH_RESPONSE - 1);
    for (int i = 0; i < requests; i++)
        uv_try_write(s, &out, 1);  /* 84 bytes into an empty socket */
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    struct conn *c = calloc(1, sizeof *c);
    uv_tcp_init(loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) == 0)
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
    else
        uv_close((uv_handle_t *)&c->tcp, conn_close);
}

static void uv_http(int port)
{
    static uv_tcp_t server;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(loop, &server);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0) ||
        uv_listen((uv_stream_t *)&server, 4096, on_connection))
        exit(1);
    printf("ready\n");
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    N = atol(argv[2]);
    loop = uv_default_loop();
    if (strcmp(argv[1], "io") == 0)
        printf("%.3f\n", uv_io());
    else if (strcmp(argv[1], "http") == 0)
        uv_http((int)N);
    else
        return 2;
    return 0;
}
