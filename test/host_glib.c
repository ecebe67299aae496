/*
 * green_loop_*: a scheduler driven by GLib's main loop, beside the loop's
 * own sources.  A Check runner of its own (make test-host-loops runs it
 * under each poller, make valgrind under memcheck): it links GLib and
 * uses libgreen's public API only.
 *
 * The host is a GSource, as docs/examples/glib_pipe.c makes it: it watches
 * green_loop_fd with g_source_add_unix_fd, its prepare gives the main
 * loop green_loop_timeout as its timeout (ready at once when that is 0),
 * and its dispatch calls green_loop_run.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "public.h"

/* ---- the host ---------------------------------------------------------- */

struct host;

typedef struct {
    GSource source;
    struct host *h;
    gpointer tag;          /* green_loop_fd's, from g_source_add_unix_fd */
} GreenSource;

struct host {
    GMainLoop *main;
    green_loop_t *loop;
    GreenSource *source;
    /* Asked after each green_loop_run: nonzero quits the main loop. */
    int (*done)(struct host *h);
    int runs;              /* dispatches, each a green_loop_run */
    int fd_runs;           /* of which green_loop_fd was readable */
    int shortest;          /* the least positive timeout prepare gave */
    void *test;
};

static gboolean green_prepare(GSource *s, gint *timeout)
{
    struct host *h = ((GreenSource *)s)->h;
    *timeout = green_loop_timeout(h->loop);
    if (*timeout > 0 && (h->shortest == 0 || *timeout < h->shortest))
        h->shortest = *timeout;
    return *timeout == 0;
}

/* After the main loop's poll: ready when the fd is, or when the timeout
 * prepare gave has run out. */
static gboolean green_check(GSource *s)
{
    GreenSource *g = (GreenSource *)s;
    return (g_source_query_unix_fd(s, g->tag) & G_IO_IN) ||
           green_loop_timeout(g->h->loop) == 0;
}

static gboolean green_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    GreenSource *g = (GreenSource *)s;
    struct host *h = g->h;
    (void)cb;
    (void)data;
    if (g_source_query_unix_fd(s, g->tag) & G_IO_IN)
        h->fd_runs++;
    ck_assert_int_eq(green_loop_run(h->loop), 0);
    h->runs++;
    if (h->done && h->done(h))
        g_main_loop_quit(h->main);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs green_funcs = {
    .prepare = green_prepare,
    .check = green_check,
    .dispatch = green_dispatch,
};

static void host_init(struct host *h, int (*done)(struct host *), void *test)
{
    *h = (struct host){.done = done, .test = test};
    h->main = g_main_loop_new(NULL, FALSE);
    h->loop = green_loop_new();
    ck_assert_ptr_nonnull(h->loop);
    h->source = (GreenSource *)g_source_new(&green_funcs, sizeof(GreenSource));
    h->source->h = h;
    h->source->tag = g_source_add_unix_fd(&h->source->source, green_loop_fd(h->loop), G_IO_IN);
    g_source_attach(&h->source->source, NULL);
}

/* Runs the main loop until the test's condition holds; then the source
 * goes (the main loop stops watching green_loop_fd) and the green loop
 * ends. */
static void host_run_to_end(struct host *h)
{
    g_main_loop_run(h->main);
    g_source_destroy(&h->source->source);
    g_source_unref(&h->source->source);
    ck_assert_int_eq(green_loop_stop(h->loop), 0);
    g_main_loop_unref(h->main);
}

static void make_pipe(int p[2])
{
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
}

/* ---- (a) an idle source beside a pipe between green threads ------------ */

#define CHUNKS 200

struct piped {
    int data[2];           /* writer -> reader */
    int pace[2];           /* the idle source -> writer, a byte a chunk */
    int idle_calls;
    int idle_removed;
    size_t sent;           /* bytes the writer wrote */
    size_t got;            /* bytes the reader read, each checked */
    int reader_done;
};

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 13 + i / 509);
}

static size_t chunk_size(int i)
{
    return (size_t)(i * 97 % 4001) + 1;
}

static void *writer(void *arg)
{
    struct piped *p = arg;
    unsigned char buf[4001];
    for (int i = 0; i < CHUNKS; i++) {
        /* Each chunk waits for a turn of the idle source. */
        char b;
        ck_assert_int_eq(green_read(p->pace[0], &b, 1), 1);
        size_t n = chunk_size(i);
        for (size_t k = 0; k < n; k++)
            buf[k] = pattern(p->sent + k);
        ck_assert_int_eq(green_write(p->data[1], buf, n), (ssize_t)n);
        p->sent += n;
    }
    green_close(p->data[1]);
    p->data[1] = -1;
    return NULL;
}

static void *reader(void *arg)
{
    struct piped *p = arg;
    unsigned char buf[1500], want[sizeof buf];
    ssize_t n;
    while ((n = green_read(p->data[0], buf, sizeof buf)) > 0) {
        /* One assertion a read: Check records each passing one. */
        for (ssize_t k = 0; k < n; k++)
            want[k] = pattern(p->got + (size_t)k);
        ck_assert_msg(memcmp(buf, want, (size_t)n) == 0,
                      "a wrong byte in %zd at offset %zu", n, p->got);
        p->got += (size_t)n;
    }
    ck_assert_int_eq(n, 0);
    p->reader_done = 1;
    return NULL;
}

static gboolean on_idle(gpointer data)
{
    struct host *h = data;
    struct piped *p = h->test;
    ck_assert_int_eq(write(p->pace[1], "i", 1), 1);
    if (++p->idle_calls < CHUNKS)
        return G_SOURCE_CONTINUE;
    p->idle_removed = 1;
    return G_SOURCE_REMOVE;
}

static int pipe_done(struct host *h)
{
    struct piped *p = h->test;
    return p->reader_done && p->idle_removed;
}

START_TEST(idle_beside_pipe)
{
    struct host h;
    struct piped p = {0};
    host_init(&h, pipe_done, &p);
    make_pipe(p.data);
    make_pipe(p.pace);
    g_idle_add(on_idle, &h);
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, writer, &p));
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, reader, &p));
    host_run_to_end(&h);
    size_t total = 0;
    for (int i = 0; i < CHUNKS; i++)
        total += chunk_size(i);
    ck_assert_uint_eq(p.sent, total);
    ck_assert_uint_eq(p.got, total);
    ck_assert_int_eq(p.idle_calls, CHUNKS);
    /* The idle source's bytes woke the writer through green_loop_fd. */
    ck_assert_int_gt(h.fd_runs, 0);
    close(p.data[0]);
    close(p.pace[0]);
    close(p.pace[1]);
}
END_TEST

/* ---- (b) the main loop quits while green threads are parked ------------ */

struct parked {
    int p[2];
    green_chan_t *ch;
    int parked;
    int canceled;
    int cleaned;
};

static void *park_in_read(void *arg)
{
    struct parked *p = arg;
    char b;
    p->parked++;
    if (green_read(p->p[0], &b, 1) == -1 && errno == ECANCELED)
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

static void *park_in_send(void *arg)
{
    struct parked *p = arg;
    int v = 1;
    p->parked++;
    if (green_chan_send(p->ch, &v) == -1 && errno == ECANCELED)
        p->canceled++;
    p->cleaned++;
    return NULL;
}

static int all_parked(struct host *h)
{
    struct parked *p = h->test;
    return p->parked == 3;
}

START_TEST(quit_while_parked)
{
    struct host h;
    struct parked p = {0};
    host_init(&h, all_parked, &p);
    make_pipe(p.p);
    p.ch = green_chan_new(sizeof(int), 0);
    ck_assert_ptr_nonnull(p.ch);
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, park_in_read, &p));
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, park_in_sleep, &p));
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, park_in_send, &p));
    host_run_to_end(&h);
    ck_assert_int_eq(p.canceled, 3);
    ck_assert_int_eq(p.cleaned, 3);
    green_chan_free(p.ch);
    close(p.p[0]);
    close(p.p[1]);
}
END_TEST

/* ---- (c) green timers drive the source's timeout ----------------------- */

struct sleeps {
    int64_t took;
    int done;
};

static void *sleep_thrice(void *arg)
{
    struct sleeps *s = arg;
    int64_t t0 = green_now();
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(green_sleep(20), 0);
    s->took = green_now() - t0;
    s->done = 1;
    return NULL;
}

static int slept(struct host *h)
{
    struct sleeps *s = h->test;
    return s->done;
}

START_TEST(sleeps_drive_timeout)
{
    struct host h;
    struct sleeps s = {0};
    host_init(&h, slept, &s);
    ck_assert_ptr_nonnull(green_loop_spawn(h.loop, NULL, sleep_thrice, &s));
    host_run_to_end(&h);
    ck_assert(s.done);
    ck_assert_int_ge(s.took, 3 * 20 - 1);      /* not early (a ms for rounding) */
    ck_assert_int_lt(s.took, 10 * 1000);       /* a sanity bound, no more */
    /* The main loop waited on the timeouts prepare gave: each at most a
     * sleep long (and a ms, should the timeout round up). */
    ck_assert_int_gt(h.shortest, 0);
    ck_assert_int_le(h.shortest, 20 + 1);
    ck_assert_int_ge(h.runs, 4);               /* the start and each wake */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("host_glib");
    TCase *tc = tcase_create("host_glib");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, idle_beside_pipe);
    tcase_add_test(tc, quit_while_parked);
    tcase_add_test(tc, sleeps_drive_timeout);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
