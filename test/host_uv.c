/*
 * green_loop_*: a scheduler driven by libuv's loop, beside the loop's own
 * handles.  A Check runner of its own (make test-host-loops runs it under
 * each poller, make valgrind under memcheck): it links libuv and uses
 * libgreen's public API only.
 *
 * The host is driven as docs/examples/uv_echo.c drives it: a uv_poll_t on
 * green_loop_fd whose callback calls green_loop_run, and a uv_timer_t for
 * green_loop_timeout, re-armed by a uv_prepare_t before each wait of the
 * uv loop (so after every run and every spawn, wherever they were made).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "public.h"

/* ---- the host ---------------------------------------------------------- */

struct host {
    uv_loop_t uv;
    green_loop_t *loop;
    uv_poll_t poll;        /* green_loop_fd readable: green_loop_run has work */
    uv_timer_t timer;      /* due when green_loop_timeout said */
    uv_prepare_t prepare;  /* re-arms timer before each wait of the uv loop */
    /* Asked after each green_loop_run: nonzero stops the uv loop (the
     * test's condition; NULL: never). */
    int (*done)(struct host *h);
    /* With stop_inside, the uv loop is not stopped but left to run dry:
     * the handles are closed and green_loop_stop is called from inside
     * the callback that saw done. */
    int stop_inside;
    int stopped;           /* green_loop_stop has been called */
    void *test;            /* the test's own state */
};

static void host_stop_inside(struct host *h);

/* One turn of the green threads, then the test's condition. */
static void host_run(struct host *h)
{
    ck_assert_int_eq(green_loop_run(h->loop), 0);
    if (!h->done || !h->done(h))
        return;
    if (h->stop_inside)
        host_stop_inside(h);
    else
        uv_stop(&h->uv);
}

static void on_green_fd(uv_poll_t *p, int status, int events)
{
    ck_assert_int_eq(status, 0);
    ck_assert(events & UV_READABLE);
    host_run(p->data);
}

static void on_green_timer(uv_timer_t *t)
{
    host_run(t->data);
}

/* Before the uv loop waits: the timer is due when the next green timer
 * is (at once for runnable threads), or stopped when there is none. */
static void on_prepare(uv_prepare_t *p)
{
    struct host *h = p->data;
    if (h->stopped)
        return;
    int ms = green_loop_timeout(h->loop);
    if (ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_green_timer, (uint64_t)ms, 0);
}

static void host_init(struct host *h, int (*done)(struct host *), void *test)
{
    *h = (struct host){.done = done, .test = test};
    ck_assert_int_eq(uv_loop_init(&h->uv), 0);
    h->loop = green_loop_new();
    ck_assert_ptr_nonnull(h->loop);
    int fd = green_loop_fd(h->loop);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(uv_poll_init(&h->uv, &h->poll, fd), 0);
    ck_assert_int_eq(uv_poll_start(&h->poll, UV_READABLE, on_green_fd), 0);
    ck_assert_int_eq(uv_timer_init(&h->uv, &h->timer), 0);
    ck_assert_int_eq(uv_prepare_init(&h->uv, &h->prepare), 0);
    ck_assert_int_eq(uv_prepare_start(&h->prepare, on_prepare), 0);
    h->poll.data = h->timer.data = h->prepare.data = h;
}

static void close_one(uv_handle_t *handle, void *unused)
{
    (void)unused;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* Closes every handle of the uv loop (the green ones first, so that libuv
 * stops watching green_loop_fd before green_loop_stop closes it), then
 * ends the green loop. */
static void host_close_handles_and_stop(struct host *h)
{
    uv_walk(&h->uv, close_one, NULL);
    h->stopped = 1;
    ck_assert_int_eq(green_loop_stop(h->loop), 0);
}

static void host_stop_inside(struct host *h)
{
    host_close_handles_and_stop(h);
}

/* Runs the uv loop until the test's condition holds, then tears all of
 * it down; uv_loop_close must find nothing left. */
static void host_run_to_end(struct host *h)
{
    uv_run(&h->uv, UV_RUN_DEFAULT);
    if (!h->stopped)
        host_close_handles_and_stop(h);
    uv_run(&h->uv, UV_RUN_DEFAULT);  /* the closes' callbacks */
    ck_assert_int_eq(uv_loop_close(&h->uv), 0);
}

static void make_pipe(int p[2])
{
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
}

/* ---- (a) an echo server and a uv timer in one uv loop ------------------ */

#define ECHO_CLIENTS 4
#define ECHO_BYTES (192 * 1024)
#define TICKS_SEEN 3

struct echo {
    int port;
    int clients_done;      /* clients whose every byte came back */
    int tick_pipe[2];      /* the uv timer writes a byte per tick */
    int ticks;             /* uv timer callbacks */
    int ticks_read;        /* bytes the green tick reader read */
    int late_spawn_ran;    /* the thread the tick callback spawned ran */
    uv_timer_t tick;
    struct host *h;
};

static unsigned char pattern(int client, size_t i)
{
    return (unsigned char)(client * 37 + i * 7 + i / 251);
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = green_read(fd, buf, sizeof buf)) > 0)
        ck_assert_int_eq(green_write(fd, buf, (size_t)n), n);
    ck_assert_int_eq(n, 0);
    green_close(fd);
    return NULL;
}

static void *acceptor(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        int fd = green_accept(lfd, NULL, NULL);
        ck_assert_int_ge(fd, 0);
        ck_assert_ptr_nonnull(green_spawn(serve, (void *)(intptr_t)fd));
    }
    green_close(lfd);
    return NULL;
}

struct client {
    struct echo *e;
    int id;
    int fd;
};

/* The client's sending half, so that it reads while it writes. */
static void *client_send(void *arg)
{
    struct client *c = arg;
    unsigned char *out = malloc(ECHO_BYTES);
    ck_assert_ptr_nonnull(out);
    for (size_t i = 0; i < ECHO_BYTES; i++)
        out[i] = pattern(c->id, i);
    /* Uneven pieces, so that the echo's chunks do not line up. */
    for (size_t at = 0, piece = 1000; at < ECHO_BYTES; at += piece, piece = piece * 3 % 7919 + 1) {
        size_t n = piece < ECHO_BYTES - at ? piece : ECHO_BYTES - at;
        ck_assert_int_eq(green_write(c->fd, out + at, n), (ssize_t)n);
    }
    free(out);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    return NULL;
}

static void *client(void *arg)
{
    struct client *c = arg;
    char port[16];
    snprintf(port, sizeof port, "%d", c->e->port);
    c->fd = green_tcp_connect("127.0.0.1", port);
    ck_assert_int_ge(c->fd, 0);
    green_t *sender = green_spawn(client_send, c);
    ck_assert_ptr_nonnull(sender);
    unsigned char buf[3000], want[sizeof buf];
    size_t got = 0;
    ssize_t n;
    while ((n = green_read(c->fd, buf, sizeof buf)) > 0) {
        ck_assert_uint_le(got + (size_t)n, ECHO_BYTES);
        /* One assertion a read: Check records each passing one. */
        for (ssize_t i = 0; i < n; i++)
            want[i] = pattern(c->id, got + (size_t)i);
        ck_assert_msg(memcmp(buf, want, (size_t)n) == 0,
                      "client %d: a wrong byte in %zd at offset %zu", c->id, n, got);
        got += (size_t)n;
    }
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(got, ECHO_BYTES);
    ck_assert_int_eq(green_join(sender, NULL), 0);
    green_close(c->fd);
    c->e->clients_done++;
    return NULL;
}

/* Reads the bytes the uv timer writes: the host's fd wakes green code. */
static void *tick_reader(void *arg)
{
    struct echo *e = arg;
    char b;
    while (e->ticks_read < TICKS_SEEN) {
        ck_assert_int_eq(green_read(e->tick_pipe[0], &b, 1), 1);
        e->ticks_read++;
    }
    return NULL;
}

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    int lfd = green_tcp_listen("127.0.0.1", "0", 0);
    ck_assert_int_ge(lfd, 0);
    e->port = green_local_port(lfd);
    ck_assert_int_gt(e->port, 0);
    ck_assert_ptr_nonnull(green_spawn(acceptor, (void *)(intptr_t)lfd));
    ck_assert_ptr_nonnull(green_spawn(tick_reader, e));
    struct client c[ECHO_CLIENTS];
    green_t *t[ECHO_CLIENTS];
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        c[i] = (struct client){.e = e, .id = i, .fd = -1};
        t[i] = green_spawn(client, &c[i]);
        ck_assert_ptr_nonnull(t[i]);
    }
    for (int i = 0; i < ECHO_CLIENTS; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
    return NULL;
}

static void *late_spawn(void *arg)
{
    struct echo *e = arg;
    e->late_spawn_ran = 1;
    return NULL;
}

static int echo_done(struct host *h)
{
    struct echo *e = h->test;
    return e->clients_done == ECHO_CLIENTS && e->ticks_read == TICKS_SEEN &&
           e->late_spawn_ran;
}

static void on_tick(uv_timer_t *t)
{
    struct echo *e = t->data;
    e->ticks++;
    if (e->ticks <= TICKS_SEEN)
        ck_assert_int_eq(write(e->tick_pipe[1], "t", 1), 1);
    /* A spawn from a host callback: it runs at the next green_loop_run,
     * which the prepare handle's re-arming makes at once. */
    if (e->ticks == 2)
        ck_assert_ptr_nonnull(green_loop_spawn(e->h->loop, NULL, late_spawn, e));
    /* The green side may have finished first: the condition is asked
     * here too. */
    if (echo_done(e->h))
        uv_stop(&e->h->uv);
}

START_TEST(echo_beside_uv_timer)
{
    struct host h;
    struct echo e = {.h = &h};
    host_init(&h, echo_done, &e);
    make_pipe(e.tick_pipe);
    ck_assert_int_eq(uv_timer_init(&h.uv, &e.tick), 0);
    e.tick.data = &e;
    ck_assert_int_eq(uv_timer_start(&e.tick, on_tick, 1, 1), 0);
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, echo_main, &e));
    host_run_to_end(&h);
    ck_assert_int_eq(e.clients_done, ECHO_CLIENTS);
    ck_assert_int_ge(e.ticks, TICKS_SEEN);
    ck_assert_int_eq(e.ticks_read, TICKS_SEEN);
    ck_assert(e.late_spawn_ran);
    close(e.tick_pipe[0]);
    close(e.tick_pipe[1]);
}
END_TEST

/* ---- green clients of libuv's own echo server ------------------------- */

/* libuv's side: the echo server of its guide, on the same uv loop. */

struct echo_write {
    uv_write_t req;
    uv_buf_t buf;
};

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    buf->base = malloc(suggested);
    ck_assert_ptr_nonnull(buf->base);
    buf->len = suggested;
}

static void on_written(uv_write_t *req, int status)
{
    struct echo_write *w = (struct echo_write *)req;
    ck_assert_int_eq(status, 0);
    free(w->buf.base);
    free(w);
}

static void free_handle(uv_handle_t *handle)
{
    free(handle);
}

static void on_shut(uv_shutdown_t *req, int status)
{
    ck_assert_int_eq(status, 0);
    uv_close((uv_handle_t *)req->handle, free_handle);
    free(req);
}

static void on_read(uv_stream_t *conn, ssize_t n, const uv_buf_t *buf)
{
    if (n > 0) {
        struct echo_write *w = malloc(sizeof *w);
        ck_assert_ptr_nonnull(w);
        w->buf = uv_buf_init(buf->base, (unsigned)n);
        ck_assert_int_eq(uv_write(&w->req, conn, &w->buf, 1, on_written), 0);
        return;
    }
    free(buf->base);
    if (n == UV_EOF) {
        /* After the echo still queued: then the client reads its end. */
        uv_shutdown_t *req = malloc(sizeof *req);
        ck_assert_ptr_nonnull(req);
        ck_assert_int_eq(uv_shutdown(req, conn, on_shut), 0);
    } else {
        ck_assert_int_eq(n, 0);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    ck_assert_int_eq(status, 0);
    uv_tcp_t *conn = malloc(sizeof *conn);
    ck_assert_ptr_nonnull(conn);
    ck_assert_int_eq(uv_tcp_init(server->loop, conn), 0);
    ck_assert_int_eq(uv_accept(server, (uv_stream_t *)conn), 0);
    ck_assert_int_eq(uv_read_start((uv_stream_t *)conn, on_alloc, on_read), 0);
}

static int uv_clients_done(struct host *h)
{
    struct echo *e = h->test;
    return e->clients_done == ECHO_CLIENTS;
}

/* The green clients of (a), against a server of libuv's: each side's
 * waits are the other's doing, so neither loop may keep the OS thread. */
START_TEST(green_clients_of_uv_server)
{
    struct host h;
    struct echo e = {.h = &h};
    uv_tcp_t server;
    struct sockaddr_in addr;
    int len = sizeof addr;
    host_init(&h, uv_clients_done, &e);
    ck_assert_int_eq(uv_tcp_init(&h.uv, &server), 0);
    ck_assert_int_eq(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    ck_assert_int_eq(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0), 0);
    ck_assert_int_eq(uv_listen((uv_stream_t *)&server, 16, on_connection), 0);
    ck_assert_int_eq(uv_tcp_getsockname(&server, (struct sockaddr *)&addr, &len), 0);
    e.port = ntohs(addr.sin_port);
    struct client c[ECHO_CLIENTS];
    for (int i = 0; i < ECHO_CLIENTS; i++) {
        c[i] = (struct client){.e = &e, .id = i, .fd = -1};
        ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, client, &c[i]));
    }
    host_run_to_end(&h);
    ck_assert_int_eq(e.clients_done, ECHO_CLIENTS);
}
END_TEST

/* ---- (b) stopped while parked ------------------------------------------ */

struct parked {
    int sv[2];
    green_chan_t *ch;
    int parked;            /* threads about to park */
    int canceled;          /* calls that failed with ECANCELED */
    int cleaned;           /* cleanups that ran */
};

static void *park_in_read(void *arg)
{
    struct parked *p = arg;
    char b;
    p->parked++;
    ssize_t n = green_read(p->sv[0], &b, 1);
    if (n == -1 && errno == ECANCELED)
        p->canceled++;
    p->cleaned++;
    return NULL;
}

static void *park_in_sleep(void *arg)
{
    struct parked *p = arg;
    p->parked++;
    if (green_sleep(600 * 1000) == -1 && errno == ECANCELED)
        p->canceled++;
    p->cleaned++;
    return NULL;
}

static void *park_in_recv(void *arg)
{
    struct parked *p = arg;
    int v;
    p->parked++;
    if (green_chan_recv(p->ch, &v) == -1 && errno == ECANCELED)
        p->canceled++;
    p->cleaned++;
    return NULL;
}

static int all_parked(struct host *h)
{
    struct parked *p = h->test;
    return p->parked == 3;
}

static void setup_parked(struct host *h, struct parked *p)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, p->sv), 0);
    p->ch = green_chan_new(sizeof(int), 0);
    ck_assert_ptr_nonnull(p->ch);
    ck_assert_ptr_nonnull(green_loop_spawn(h->loop, NULL, park_in_read, p));
    ck_assert_ptr_nonnull(green_loop_spawn(h->loop, NULL, park_in_sleep, p));
    ck_assert_ptr_nonnull(green_loop_spawn(h->loop, NULL, park_in_recv, p));
}

static void check_parked(struct parked *p)
{
    ck_assert_int_eq(p->canceled, 3);
    ck_assert_int_eq(p->cleaned, 3);
    green_chan_free(p->ch);
    close(p->sv[0]);
    close(p->sv[1]);
}

/* The uv loop stops, then green_loop_stop. */
START_TEST(stop_after_uv_loop_while_parked)
{
    struct host h;
    struct parked p = {0};
    host_init(&h, all_parked, &p);
    setup_parked(&h, &p);
    host_run_to_end(&h);
    check_parked(&p);
}
END_TEST

/* green_loop_stop from inside a uv callback; the uv loop then runs dry. */
START_TEST(stop_inside_uv_callback_while_parked)
{
    struct host h;
    struct parked p = {0};
    host_init(&h, all_parked, &p);
    h.stop_inside = 1;
    setup_parked(&h, &p);
    host_run_to_end(&h);
    check_parked(&p);
}
END_TEST

/* ---- (c) offload and deadlines ----------------------------------------- */

struct offload {
    int gate[2];           /* blocking: the offloaded call waits on it */
    int quiet[2];          /* never written */
    int offloading;        /* the green thread is about to offload */
    int gate_opened;
    int offload_done;
    int deadline_done;
};

static void *blocking_call(void *arg)
{
    struct offload *o = arg;
    char b;
    /* A plain blocking read, on a worker OS thread. */
    if (read(o->gate[0], &b, 1) != 1)
        return NULL;
    return (void *)(intptr_t)42;
}

static void *offloader(void *arg)
{
    struct offload *o = arg;
    void *result = NULL;
    o->offloading = 1;
    ck_assert_int_eq(green_offload(blocking_call, o, &result), 0);
    ck_assert_ptr_eq(result, (void *)(intptr_t)42);
    o->offload_done = 1;
    return NULL;
}

static void *deadliner(void *arg)
{
    struct offload *o = arg;
    char b;
    int64_t t0 = green_now();
    green_deadline(t0 + 30);
    ck_assert_int_eq(green_read(o->quiet[0], &b, 1), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    int64_t t1 = green_now();
    ck_assert_int_ge(t1 - t0, 30 - 1);  /* not early (a ms for rounding) */
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(green_sleep(20), 0);
    int64_t t2 = green_now();
    ck_assert_int_ge(t2 - t1, 20 - 1);
    ck_assert_int_lt(t2 - t0, 10 * 1000);  /* a sanity bound, no more */
    o->deadline_done = 1;
    return NULL;
}

/* After each run: when the offloader is parked in green_offload (the
 * run returned, so every thread is parked), the host lets the worker's
 * call finish.  Its completion then comes back through green_loop_fd. */
static int offload_done(struct host *h)
{
    struct offload *o = h->test;
    if (o->offloading && !o->gate_opened) {
        ck_assert_int_eq(write(o->gate[1], "g", 1), 1);
        o->gate_opened = 1;
    }
    return o->offload_done && o->deadline_done;
}

START_TEST(offload_and_deadline)
{
    struct host h;
    struct offload o = {0};
    host_init(&h, offload_done, &o);
    ck_assert_int_eq(pipe(o.gate), 0);
    make_pipe(o.quiet);
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, offloader, &o));
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, deadliner, &o));
    host_run_to_end(&h);
    ck_assert(o.offload_done);
    ck_assert(o.deadline_done);
    for (int i = 0; i < 2; i++) {
        close(o.gate[i]);
        close(o.quiet[i]);
    }
}
END_TEST

/* ---- the fd and the timeout, without a host ---------------------------- */

static int readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, ms);
    ck_assert_int_ge(n, 0);
    return n == 1 && (p.revents & POLLIN);
}

struct contract {
    int p[2];
    int got;
    int sleeping;
};

static void *read_then_sleep(void *arg)
{
    struct contract *c = arg;
    char b;
    ck_assert_int_eq(green_read(c->p[0], &b, 1), 1);
    c->got = b;
    c->sleeping = 1;
    green_sleep(10 * 1000);  /* cancelled by green_loop_stop */
    return NULL;
}

START_TEST(fd_and_timeout)
{
    struct contract c = {0};
    make_pipe(c.p);
    green_loop_t *loop = green_loop_new();
    ck_assert_ptr_nonnull(loop);
    int fd = green_loop_fd(loop);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(green_loop_run(loop), 0);
    ck_assert_int_eq(green_loop_timeout(loop), -1);   /* nothing to do */
    ck_assert_ptr_nonnull(green_loop_spawn(loop, NULL, read_then_sleep, &c));
    ck_assert_int_eq(green_loop_timeout(loop), 0);    /* runnable */
    ck_assert_int_eq(green_loop_run(loop), 0);
    /* Parked on the pipe: nothing to run now, and no timer but perhaps
     * the poller's own (epoll's sweep for stale registrations). */
    ck_assert_int_ne(green_loop_timeout(loop), 0);
    ck_assert(!readable(fd, 0));
    ck_assert_int_eq(write(c.p[1], "x", 1), 1);
    ck_assert(readable(fd, 10 * 1000));                /* the pipe woke it */
    ck_assert(readable(fd, 0));                        /* level: until run */
    ck_assert_int_eq(green_loop_run(loop), 0);
    ck_assert_int_eq(c.got, 'x');
    ck_assert(c.sleeping);
    int ms = green_loop_timeout(loop);
    ck_assert_int_gt(ms, 0);
    ck_assert_int_le(ms, 10 * 1000 + 1);               /* a ms for rounding up */
    ck_assert(!readable(fd, 0));                       /* the work was taken */
    ck_assert_int_eq(green_loop_fd(loop), fd);         /* one fd for life */
    ck_assert_int_eq(green_loop_stop(loop), 0);
    close(c.p[0]);
    close(c.p[1]);
}
END_TEST

/* A host of the plainest kind: poll(2) on green_loop_fd for at most
 * green_loop_timeout ms, then green_loop_run, until *done.  Returns 0, or
 * -1 when a call failed (it may run off the test's OS thread). */
static int poll_host(green_loop_t *loop, const int *done)
{
    while (!*done) {
        struct pollfd p = {.fd = green_loop_fd(loop), .events = POLLIN};
        if (poll(&p, 1, green_loop_timeout(loop)) < 0 || green_loop_run(loop) < 0)
            return -1;
    }
    return 0;
}

/* ---- host callbacks hand values to green threads ----------------------- */

#define HANDED 5

struct handing {
    green_queue_t *q;
    uv_timer_t tick;
    int sent;
    int received;
    struct host *h;
};

/* A green thread waits on the queue; the host's sends wake it through
 * green_loop_fd (the host is a plain OS thread to the queue). */
static void *receive_all(void *arg)
{
    struct handing *hd = arg;
    for (int i = 1; i <= HANDED; i++) {
        int v = 0;
        ck_assert_int_eq(green_queue_recv(hd->q, &v), 0);
        ck_assert_int_eq(v, i);
        hd->received = i;
    }
    return NULL;
}

static void on_hand_tick(uv_timer_t *t)
{
    struct handing *hd = t->data;
    int v = hd->sent + 1;
    if (hd->sent == HANDED)
        return;
    /* Full (the receiver has not run since): the next tick tries again. */
    if (green_queue_trysend(hd->q, &v) == 0)
        hd->sent = v;
    else
        ck_assert_int_eq(errno, EAGAIN);
}

static int all_received(struct host *h)
{
    struct handing *hd = h->test;
    return hd->received == HANDED;
}

START_TEST(host_sends_to_queue)
{
    struct host h;
    struct handing hd = {.h = &h};
    host_init(&h, all_received, &hd);
    hd.q = green_queue_new(sizeof(int), 2);
    ck_assert_ptr_nonnull(hd.q);
    ck_assert_int_eq(uv_timer_init(&h.uv, &hd.tick), 0);
    hd.tick.data = &hd;
    ck_assert_int_eq(uv_timer_start(&hd.tick, on_hand_tick, 1, 1), 0);
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, receive_all, &hd));
    host_run_to_end(&h);
    ck_assert_int_eq(hd.received, HANDED);
    ck_assert_int_eq(green_queue_free(hd.q), 0);
}
END_TEST

/* ---- a signal wakes a green thread ------------------------------------- */

struct signalled {
    int waiting;
    int raised;
    int got;
};

static void *wait_for_usr1(void *arg)
{
    struct signalled *sg = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sg->waiting = 1;
    sg->got = green_signal_wait(&set);
    return NULL;
}

/* Once the waiter is parked, the host raises the signal: libgreen's
 * handler runs on this OS thread, outside any green thread, and the
 * signal comes to the green thread through green_loop_fd. */
static int signal_came(struct host *h)
{
    struct signalled *sg = h->test;
    if (sg->waiting && !sg->raised) {
        sg->raised = 1;
        ck_assert_int_eq(raise(SIGUSR1), 0);
    }
    return sg->got != 0;
}

START_TEST(signal_wakes_green_thread)
{
    struct host h;
    struct signalled sg = {0};
    host_init(&h, signal_came, &sg);
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, wait_for_usr1, &sg));
    host_run_to_end(&h);
    ck_assert_int_eq(sg.got, SIGUSR1);
}
END_TEST

/* ---- SIGPIPE ----------------------------------------------------------- */

struct piped_out {
    int sv[2];
    int err;
};

static void *write_to_closed_peer(void *arg)
{
    struct piped_out *po = arg;
    ck_assert_int_eq(green_write(po->sv[0], "x", 1), -1);
    po->err = errno;
    return NULL;
}

static int sigpipe_blocked(void)
{
    sigset_t now;
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &now), 0);
    return sigismember(&now, SIGPIPE);
}

/* A write to a closed peer fails with EPIPE inside a run, and the
 * SIGPIPE it raised is not left pending for the host: the host's mask,
 * in which SIGPIPE is not blocked, is its own again after the run (the
 * default action would end the test). */
START_TEST(sigpipe_only_during_runs)
{
    struct piped_out po = {0};
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, po.sv), 0);
    close(po.sv[1]);
    green_loop_t *loop = green_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert(!sigpipe_blocked());
    ck_assert_ptr_nonnull(green_loop_spawn(loop, NULL, write_to_closed_peer, &po));
    ck_assert_int_eq(green_loop_run(loop), 0);
    ck_assert_int_eq(po.err, EPIPE);
    ck_assert(!sigpipe_blocked());
    ck_assert_int_eq(green_loop_stop(loop), 0);
    close(po.sv[0]);
}
END_TEST

/* ---- spawning from the host -------------------------------------------- */

struct spawned {
    int ran;
    int joined;
    green_t *t;
};

static void *eager_one(void *arg)
{
    struct spawned *sp = arg;
    sp->ran = 1;
    return (void *)(intptr_t)7;
}

static void *joiner(void *arg)
{
    struct spawned *sp = arg;
    void *result = NULL;
    ck_assert_int_eq(green_join(sp->t, &result), 0);
    ck_assert_ptr_eq(result, (void *)(intptr_t)7);
    sp->joined = 1;
    return NULL;
}

/* An eager spawn from the host waits for the next run (no green thread
 * is there to give way); the handle is joinable by a green thread. */
START_TEST(spawn_from_host)
{
    struct spawned sp = {0};
    green_loop_t *loop = green_loop_new();
    ck_assert_ptr_nonnull(loop);
    green_attr_t attr = {.eager = 1, .name = "from the host"};
    sp.t = green_loop_spawn(loop, &attr, eager_one, &sp);
    ck_assert_ptr_nonnull(sp.t);
    ck_assert_str_eq(green_name(sp.t), "from the host");
    ck_assert(!sp.ran);
    ck_assert_int_eq(green_loop_timeout(loop), 0);
    ck_assert_ptr_nonnull(green_loop_spawn(loop, NULL, joiner, &sp));
    ck_assert_int_eq(poll_host(loop, &sp.joined), 0);
    ck_assert(sp.ran);
    ck_assert_int_eq(green_loop_stop(loop), 0);
}
END_TEST

/* ---- stopped with an offloaded call still running ---------------------- */

struct inflight {
    int gate[2];           /* blocking: the offloaded call waits on it */
    int began[2];          /* the call says it began */
    int canceled;
    int second_done;
};

static void *gated(void *arg)
{
    struct inflight *in = arg;
    char b = 'b';
    if (write(in->began[1], &b, 1) != 1 || read(in->gate[0], &b, 1) != 1)
        return NULL;
    return arg;
}

static void *offload_gated(void *arg)
{
    struct inflight *in = arg;
    if (green_offload(gated, in, NULL) == -1 && errno == ECANCELED)
        in->canceled = 1;
    return NULL;
}

static void *quick(void *arg)
{
    return arg;
}

static void *offload_quick(void *arg)
{
    struct inflight *in = arg;
    void *result = NULL;
    ck_assert_int_eq(green_offload(quick, in, &result), 0);
    ck_assert_ptr_eq(result, in);
    in->second_done = 1;
    return NULL;
}

/* The call finishes after its loop is gone; a second loop's call, on the
 * same single worker, finishes after it, so by then the worker has done
 * with the first (memcheck sees any use of the freed loop). */
START_TEST(stop_with_offload_in_flight)
{
    struct inflight in = {0};
    char b;
    ck_assert_int_eq(green_offload_threads(1), 0);
    ck_assert_int_eq(pipe(in.gate), 0);
    ck_assert_int_eq(pipe(in.began), 0);
    green_loop_t *loop = green_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_nonnull(green_loop_spawn(loop, NULL, offload_gated, &in));
    ck_assert_int_eq(green_loop_run(loop), 0);
    ck_assert_int_eq(read(in.began[0], &b, 1), 1);  /* the worker runs it */
    ck_assert_int_eq(green_loop_stop(loop), 0);
    ck_assert(in.canceled);
    ck_assert_int_eq(write(in.gate[1], "g", 1), 1);
    loop = green_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_nonnull(green_loop_spawn(loop, NULL, offload_quick, &in));
    ck_assert_int_eq(poll_host(loop, &in.second_done), 0);
    ck_assert_int_eq(green_loop_stop(loop), 0);
    for (int i = 0; i < 2; i++) {
        close(in.gate[i]);
        close(in.began[i]);
    }
}
END_TEST

/* ---- a loop on each of two OS threads ---------------------------------- */

struct ticker {
    int ticks;
    int done;
};

static void *tick_thrice(void *arg)
{
    struct ticker *tk = arg;
    for (; tk->ticks < 3; tk->ticks++)
        if (green_sleep(5) < 0)
            return NULL;
    tk->done = 1;
    return NULL;
}

static void *loop_on_this_thread(void *arg)
{
    struct ticker *tk = arg;
    green_loop_t *loop = green_loop_new();
    if (!loop || !green_loop_spawn(loop, NULL, tick_thrice, tk) || poll_host(loop, &tk->done) < 0)
        return (void *)"a loop on another OS thread failed";
    return green_loop_stop(loop) == 0 ? NULL : (void *)"green_loop_stop failed";
}

START_TEST(loops_on_two_os_threads)
{
    struct ticker mine = {0}, theirs = {0};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, loop_on_this_thread, &theirs), 0);
    void *failed = loop_on_this_thread(&mine);
    ck_assert_msg(failed == NULL, "%s", (const char *)failed);
    ck_assert_int_eq(pthread_join(t, &failed), 0);
    ck_assert_msg(failed == NULL, "%s", (const char *)failed);
    ck_assert_int_eq(mine.ticks, 3);
    ck_assert_int_eq(theirs.ticks, 3);
}
END_TEST

/* ---- (d) errors -------------------------------------------------------- */

static void *nothing(void *arg)
{
    return arg;
}

static void *shielded_forever(void *arg)
{
    green_chan_t *ch = arg;
    int v;
    green_shield(1);
    /* Nobody sends: only the deadlock found at the stop ends it. */
    ck_assert_int_eq(green_chan_recv(ch, &v), -1);
    ck_assert_int_eq(errno, ECANCELED);
    return NULL;
}

/* The stop finds the threads deadlocked, as the end of green_run would:
 * EDEADLK, and they were cancelled and have all finished. */
START_TEST(stop_deadlocked)
{
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    ck_assert_ptr_nonnull(ch);
    green_loop_t *loop = green_loop_new();
    ck_assert_ptr_nonnull(loop);
    ck_assert_ptr_nonnull(green_loop_spawn(loop, NULL, shielded_forever, ch));
    ck_assert_int_eq(green_loop_run(loop), 0);  /* a host loop is no deadlock */
    errno = 0;
    ck_assert_int_eq(green_loop_stop(loop), -1);
    ck_assert_int_eq(errno, EDEADLK);
    green_chan_free(ch);
}
END_TEST

START_TEST(green_run_beside_loop)
{
    green_loop_t *loop = green_loop_new();
    ck_assert_ptr_nonnull(loop);
    errno = 0;
    ck_assert_int_eq(green_run(nothing, NULL), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_loop_stop(loop), 0);
    /* Once stopped, the OS thread may run green_run. */
    ck_assert_int_eq(green_run(nothing, NULL), 0);
}
END_TEST

struct canceller {
    green_t *victim;
    int saw;
};

static void *sleep_long(void *arg)
{
    struct canceller *cn = arg;
    if (green_sleep(600 * 1000) == -1 && errno == ECANCELED)
        cn->saw = ECANCELED;
    return NULL;
}

static void *cancel_it(void *arg)
{
    struct canceller *cn = arg;
    ck_assert_int_eq(green_cancel(cn->victim), 0);
    ck_assert_int_eq(green_join(cn->victim, NULL), 0);
    return NULL;
}

/* Between runs the host is outside every green thread: the calls that
 * need one fail with EPERM, and the host cancels by spawning a thread
 * that does. */
START_TEST(host_is_outside_green_threads)
{
    struct canceller cn = {0};
    green_chan_t *ch = green_chan_new(sizeof(int), 1);
    ck_assert_ptr_nonnull(ch);
    green_loop_t *loop = green_loop_new();
    ck_assert_ptr_nonnull(loop);
    cn.victim = green_loop_spawn(loop, NULL, sleep_long, &cn);
    ck_assert_ptr_nonnull(cn.victim);
    ck_assert_int_eq(green_loop_run(loop), 0);
    int v;
    errno = 0;
    ck_assert_int_eq(green_chan_recv(ch, &v), -1);
    ck_assert_int_eq(errno, EPERM);
    errno = 0;
    ck_assert_int_eq(green_cancel(cn.victim), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_ptr_null(green_self());
    ck_assert_ptr_nonnull(green_loop_spawn(loop, NULL, cancel_it, &cn));
    ck_assert_int_eq(green_loop_run(loop), 0);
    ck_assert_int_eq(cn.saw, ECANCELED);
    /* A place other than here, any or 0: there is one scheduler. */
    errno = 0;
    ck_assert_ptr_null(green_loop_spawn(loop, &(green_attr_t){.place = GREEN_PLACE_ON(3)},
                                        nothing, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_loop_stop(loop), 0);
    green_chan_free(ch);
}
END_TEST


struct inside {
    green_loop_t *loop;
    int checked;
};

static void *call_loop_from_inside(void *arg)
{
    struct inside *in = arg;
    errno = 0;
    ck_assert_int_eq(green_loop_run(in->loop), -1);
    ck_assert_int_eq(errno, EPERM);
    errno = 0;
    ck_assert_int_eq(green_loop_stop(in->loop), -1);
    ck_assert_int_eq(errno, EPERM);
    errno = 0;
    ck_assert_ptr_null(green_loop_new());
    ck_assert_int_eq(errno, EPERM);
    /* Inside, green_spawn is the call. */
    errno = 0;
    ck_assert_ptr_null(green_loop_spawn(in->loop, NULL, nothing, NULL));
    ck_assert_int_eq(errno, EPERM);
    in->checked = 1;
    return NULL;
}

START_TEST(run_and_stop_inside_green_thread)
{
    struct inside in = {.loop = green_loop_new()};
    ck_assert_ptr_nonnull(in.loop);
    ck_assert_ptr_nonnull(green_loop_spawn(in.loop, NULL, call_loop_from_inside, &in));
    ck_assert_int_eq(green_loop_run(in.loop), 0);
    ck_assert(in.checked);
    ck_assert_int_eq(green_loop_stop(in.loop), 0);
}
END_TEST

START_TEST(new_twice)
{
    green_loop_t *a = green_loop_new();
    ck_assert_ptr_nonnull(a);
    errno = 0;
    ck_assert_ptr_null(green_loop_new());
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_loop_stop(a), 0);
    /* Once stopped, the OS thread may have another. */
    green_loop_t *b = green_loop_new();
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(green_loop_stop(b), 0);
}
END_TEST

START_TEST(null_loop)
{
    errno = 0;
    ck_assert_int_eq(green_loop_run(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(green_loop_stop(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(green_loop_fd(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(green_loop_timeout(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(green_loop_spawn(NULL, NULL, nothing, NULL));
    ck_assert_int_eq(errno, EINVAL);
    green_loop_t *loop = green_loop_new();
    ck_assert_ptr_nonnull(loop);
    errno = 0;
    ck_assert_ptr_null(green_loop_spawn(loop, NULL, NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_loop_stop(loop), 0);
}
END_TEST

GREEN_TEST(new_inside_green_run)
{
    errno = 0;
    ck_assert_ptr_null(green_loop_new());
    ck_assert_int_eq(errno, EPERM);
    return arg;
}

static void *from_other_thread(void *arg)
{
    green_loop_t *loop = arg;
    errno = 0;
    if (green_loop_run(loop) != -1 || errno != EPERM)
        return (void *)"green_loop_run";
    errno = 0;
    if (green_loop_stop(loop) != -1 || errno != EPERM)
        return (void *)"green_loop_stop";
    return NULL;
}

START_TEST(run_from_other_os_thread)
{
    green_loop_t *loop = green_loop_new();
    ck_assert_ptr_nonnull(loop);
    pthread_t t;
    void *failed = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, from_other_thread, loop), 0);
    ck_assert_int_eq(pthread_join(t, &failed), 0);
    ck_assert_msg(failed == NULL, "%s from another OS thread did not fail with EPERM",
                  (const char *)failed);
    ck_assert_int_eq(green_loop_stop(loop), 0);
}
END_TEST

START_TEST(unknown_poller)
{
    ck_assert_int_eq(setenv("GREEN_POLLER", "nonesuch", 1), 0);
    errno = 0;
    ck_assert_ptr_null(green_loop_new());
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("host_uv");
    TCase *tc = tcase_create("host_uv");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, echo_beside_uv_timer);
    tcase_add_test(tc, green_clients_of_uv_server);
    tcase_add_test(tc, stop_after_uv_loop_while_parked);
    tcase_add_test(tc, stop_inside_uv_callback_while_parked);
    tcase_add_test(tc, offload_and_deadline);
    tcase_add_test(tc, fd_and_timeout);
    tcase_add_test(tc, host_sends_to_queue);
    tcase_add_test(tc, signal_wakes_green_thread);
    tcase_add_test(tc, sigpipe_only_during_runs);
    tcase_add_test(tc, spawn_from_host);
    tcase_add_test(tc, stop_with_offload_in_flight);
    tcase_add_test(tc, loops_on_two_os_threads);
    tcase_add_test(tc, stop_deadlocked);
    tcase_add_test(tc, green_run_beside_loop);
    tcase_add_test(tc, host_is_outside_green_threads);
    tcase_add_test(tc, run_and_stop_inside_green_thread);
    tcase_add_test(tc, new_twice);
    tcase_add_test(tc, null_loop);
    tcase_add_test(tc, new_inside_green_run);
    tcase_add_test(tc, run_from_other_os_thread);
    tcase_add_test(tc, unknown_poller);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
