/*
 * libgreen inside a libuv program: a uv timer ticks while a green echo
 * server and three green clients run, all in one uv loop on one OS thread.
 *
 * The green threads live in a green_loop_t, which libuv drives through
 * three handles (host_start below; copy it):
 *   - a uv_poll_t on green_loop_fd(), readable when the green threads
 *     have work (an fd they wait on is ready, an offloaded call is done);
 *     its callback calls green_loop_run();
 *   - a uv_timer_t due after green_loop_timeout() ms, when the next green
 *     timer (a green_sleep, a deadline) is due; it calls green_loop_run()
 *     too;
 *   - a uv_prepare_t, which libuv runs before each wait, to re-arm that
 *     timer: every green_loop_run and green_loop_spawn can change it.
 * green_loop_run() runs every green thread that can run until all are
 * parked, then returns to libuv.  Inside the green threads every libgreen
 * call works as under green_run.
 *
 *   cc uv_echo.c $(pkg-config --cflags --libs green libuv) -o uv_echo
 *   ./uv_echo
 */
#include <green.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#define CLIENTS 3
#define LINES 3

/* ---- the glue: a green_loop_t driven by a uv loop --------------------- */

struct host {
    green_loop_t *loop;
    uv_poll_t poll;
    uv_timer_t timer;
    uv_prepare_t prepare;
};

static void run_green(uv_handle_t *handle)
{
    struct host *h = handle->data;
    green_loop_run(h->loop);
}

static void on_green_fd(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_green((uv_handle_t *)p);
}

static void on_green_timer(uv_timer_t *t)
{
    run_green((uv_handle_t *)t);
}

/* Before libuv waits: wake when the next green timer is due (at once if
 * a green thread can run), or never for green timers if there is none. */
static void on_prepare(uv_prepare_t *p)
{
    struct host *h = p->data;
    int ms = green_loop_timeout(h->loop);
    if (ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_green_timer, (uint64_t)ms, 0);
}

static int host_start(struct host *h, uv_loop_t *uv)
{
    h->loop = green_loop_new();
    if (!h->loop)
        return -1;
    uv_poll_init(uv, &h->poll, green_loop_fd(h->loop));
    uv_poll_start(&h->poll, UV_READABLE, on_green_fd);
    uv_timer_init(uv, &h->timer);
    uv_prepare_init(uv, &h->prepare);
    uv_prepare_start(&h->prepare, on_prepare);
    h->poll.data = h->timer.data = h->prepare.data = h;
    return 0;
}

/* Ends the green threads as green_run would (they are cancelled and
 * waited for).  libuv stops watching green_loop_fd first: it is closed
 * with the loop. */
static void host_stop(struct host *h)
{
    uv_close((uv_handle_t *)&h->poll, NULL);
    uv_close((uv_handle_t *)&h->timer, NULL);
    uv_close((uv_handle_t *)&h->prepare, NULL);
    green_loop_stop(h->loop);
}

/* ---- the green side: plain sequential code ---------------------------- */

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

static void *accept_loop(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    int fd;
    /* Until green_loop_stop cancels it (ECANCELED). */
    while ((fd = green_accept(lfd, NULL, NULL)) >= 0)
        green_spawn(serve, (void *)(intptr_t)fd);
    green_close(lfd);
    return NULL;
}

static char port[8];
static int echoed;

/* Sends LINES lines, one every 40 ms, and reads each back. */
static void *client(void *arg)
{
    int id = (int)(intptr_t)arg;
    int fd = green_tcp_connect("127.0.0.1", port);
    if (fd < 0) {
        perror("connect");
        return NULL;
    }
    for (int i = 0; i < LINES; i++) {
        char line[64], back[64];
        int n = snprintf(line, sizeof line, "line %d from client %d", i, id);
        if (i > 0)
            green_sleep(40);
        if (green_write(fd, line, (size_t)n) != n ||
            green_recv(fd, back, (size_t)n, MSG_WAITALL) != n)
            break;
        printf("client %d got back \"%.*s\"\n", id, n, back);
        echoed += memcmp(line, back, (size_t)n) == 0;
    }
    green_close(fd);
    return NULL;
}

static void *demo(void *arg)
{
    uv_loop_t *uv = arg;
    int lfd = green_tcp_listen("127.0.0.1", "0", 0);
    if (lfd < 0) {
        perror("listen");
        uv_stop(uv);
        return NULL;
    }
    snprintf(port, sizeof port, "%d", green_local_port(lfd));
    printf("listening on 127.0.0.1:%s\n", port);
    green_spawn(accept_loop, (void *)(intptr_t)lfd);
    green_t *c[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        c[i] = green_spawn(client, (void *)(intptr_t)i);
    for (int i = 0; i < CLIENTS; i++)
        green_join(c[i], NULL);
    printf("%d clients, %d lines echoed\n", CLIENTS, echoed);
    /* Green threads run inside a uv callback, on the uv loop's OS
     * thread: they may call libuv too. */
    uv_stop(uv);
    return NULL;
}

/* ---- the libuv side --------------------------------------------------- */

static int ticks;

static void on_tick(uv_timer_t *t)
{
    (void)t;
    printf("tick %d\n", ++ticks);
}

int main(void)
{
    uv_loop_t uv;
    struct host h;
    uv_timer_t tick;
    uv_loop_init(&uv);
    if (host_start(&h, &uv) < 0) {
        perror("green_loop_new");
        return 1;
    }
    uv_timer_init(&uv, &tick);
    uv_timer_start(&tick, on_tick, 25, 25);
    green_loop_spawn(h.loop, NULL, demo, &uv);

    uv_run(&uv, UV_RUN_DEFAULT);  /* until demo's uv_stop */

    uv_close((uv_handle_t *)&tick, NULL);
    host_stop(&h);                /* cancels the acceptor */
    uv_run(&uv, UV_RUN_DEFAULT);  /* the closes' callbacks */
    printf("the uv timer ticked %d times meanwhile\n", ticks);
    int rc = uv_loop_close(&uv);
    puts(rc == 0 && echoed == CLIENTS * LINES ? "bye" : "something was left");
    return rc != 0 || echoed != CLIENTS * LINES;
}
