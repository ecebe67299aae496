/*
 * libgreen inside a GLib program: a GMainLoop runs a timeout source (a
 * ticker) and an idle source (background work in slices) beside green
 * threads, one writing lines into a pipe and one reading them, all on one
 * OS thread.
 *
 * The green threads live in a green_loop_t, which GLib drives through one
 * GSource (green_source_new below; copy it):
 *   - it watches green_loop_fd() for reading (g_source_add_unix_fd): the
 *     fd is readable when the green threads have work (an fd they wait on
 *     is ready, an offloaded call is done);
 *   - its prepare gives the main loop green_loop_timeout() as the longest
 *     it may wait: when the next green timer (a green_sleep, a deadline)
 *     is due, 0 when a green thread can run now;
 *   - its dispatch calls green_loop_run(), which runs every green thread
 *     that can run until all are parked, then returns to GLib.
 * Inside the green threads every libgreen call works as under green_run.
 *
 *   cc glib_pipe.c $(pkg-config --cflags --libs green glib-2.0) -o glib_pipe
 *   ./glib_pipe
 */
#include <glib.h>
#include <green.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LINES 10

/* ---- the glue: a GSource for a green_loop_t --------------------------- */

typedef struct {
    GSource source;
    green_loop_t *loop;
    gpointer fd_tag;
} GreenSource;

static gboolean green_prepare(GSource *s, gint *timeout)
{
    *timeout = green_loop_timeout(((GreenSource *)s)->loop);
    return *timeout == 0;  /* ready now: no need to poll first */
}

/* After GLib's poll: ready if the fd is, or if the timeout ran out. */
static gboolean green_check(GSource *s)
{
    GreenSource *g = (GreenSource *)s;
    return (g_source_query_unix_fd(s, g->fd_tag) & G_IO_IN) ||
           green_loop_timeout(g->loop) == 0;
}

static gboolean green_dispatch(GSource *s, GSourceFunc cb, gpointer data)
{
    (void)cb;
    (void)data;
    green_loop_run(((GreenSource *)s)->loop);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs green_funcs = {
    .prepare = green_prepare,
    .check = green_check,
    .dispatch = green_dispatch,
};

static GSource *green_source_new(green_loop_t *loop)
{
    GreenSource *g = (GreenSource *)g_source_new(&green_funcs, sizeof *g);
    g->loop = loop;
    g->fd_tag = g_source_add_unix_fd(&g->source, green_loop_fd(loop), G_IO_IN);
    return &g->source;
}

/* ---- the green side: plain sequential code ---------------------------- */

static int pipe_fds[2];
static GMainLoop *main_loop;
static int lines_in_order;

static void *writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < LINES; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "line %d\n", i);
        green_write(pipe_fds[1], line, (size_t)n);
        green_sleep(15);  /* a green timer: the source's timeout wakes it */
    }
    green_close(pipe_fds[1]);
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    green_stream_t *in = green_stream_open(pipe_fds[0], 0);
    char line[32], want[32];
    ssize_t n;
    int i = 0;
    /* A line comes with its newline, and no NUL: its count says how long. */
    while (in && (n = green_stream_readline(in, line, sizeof line)) > 0) {
        printf("reader got: %.*s", (int)n, line);
        int wn = snprintf(want, sizeof want, "line %d\n", i++);
        lines_in_order += n == wn && memcmp(line, want, (size_t)n) == 0;
    }
    green_stream_close(in);  /* closes pipe_fds[0] */
    printf("reader: %d of %d lines, in order\n", lines_in_order, LINES);
    /* Green threads run inside a GLib dispatch, on the main loop's OS
     * thread: they may call GLib too. */
    g_main_loop_quit(main_loop);
    return NULL;
}

/* ---- the GLib side ---------------------------------------------------- */

static int ticks;
static long slices, sum;

static gboolean on_tick(gpointer data)
{
    (void)data;
    printf("tick %d\n", ++ticks);
    return G_SOURCE_CONTINUE;
}

/* Background work in slices: adds up 1..1000000, a thousand at a time,
 * whenever nothing more urgent is ready. */
static gboolean on_idle(gpointer data)
{
    (void)data;
    for (long i = slices * 1000 + 1; i <= (slices + 1) * 1000; i++)
        sum += i;
    if (++slices < 1000)
        return G_SOURCE_CONTINUE;
    printf("idle: summed 1..1000000 = %ld in %ld slices\n", sum, slices);
    return G_SOURCE_REMOVE;
}

int main(void)
{
    green_loop_t *loop = green_loop_new();
    if (!loop || pipe(pipe_fds) < 0) {
        perror("green_loop_new or pipe");
        return 1;
    }
    main_loop = g_main_loop_new(NULL, FALSE);
    GSource *green = green_source_new(loop);
    g_source_attach(green, NULL);
    g_timeout_add(20, on_tick, NULL);
    g_idle_add(on_idle, NULL);
    green_loop_spawn(loop, NULL, writer, NULL);
    green_loop_spawn(loop, NULL, reader, NULL);

    g_main_loop_run(main_loop);  /* until the reader quits it */

    /* GLib stops watching green_loop_fd before green_loop_stop closes it;
     * green_loop_stop ends the green threads as green_run would. */
    g_source_destroy(green);
    g_source_unref(green);
    green_loop_stop(loop);
    g_main_loop_unref(main_loop);
    printf("the timeout source ticked %d times meanwhile\n", ticks);
    puts(lines_in_order == LINES ? "bye" : "lines went missing");
    return lines_in_order != LINES;
}
