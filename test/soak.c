/*
 * The soak: an echo server on libgreen, on one OS thread, under load from
 * another for GREEN_SOAK_SECONDS (make soak SECONDS=N; CI runs it
 * briefly).  Normal clients churn connections and check every echoed
 * message by checksum; beside them hostile ones send slowly, reset,
 * half-close, or never read.  The normal clients must see no mismatch and
 * no error, and afterwards the process must hold the fds and about the
 * memory it started with.  Its own runner, not one of suites.h: it is
 * long by design.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* RSS may end a little above where it began: the server thread's malloc
 * arena, the zero pages behind the never-reader's buffer. */
enum { NORMAL = 40, MAX_MSG = 64 * 1024, RSS_SLACK_KB = 4 * 1024 };

static int64_t until;             /* when the clients stop */
static char port[16];
static green_queue_t *started;    /* the server's port is known */

/* The server. */

static void *serve(void *arg)
{
    green_queue_t *stop = arg;
    int l = green_tcp_listen("127.0.0.1", "0", 0);
    ck_assert_int_ge(l, 0);
    int p = green_local_port(l);
    ck_assert_int_eq(green_queue_send(started, &p), 0);
    green_group_t *g = green_group_new();
    int dummy;
    while (green_queue_tryrecv(stop, &dummy) < 0) {
        green_deadline(green_now() + 100);  /* look at stop now and then */
        int c = green_accept(l, NULL, NULL);
        green_deadline(GREEN_NEVER);
        if (c >= 0 && !green_group_spawn(g, echo_fd, (void *)(intptr_t)c))
            green_close(c);
    }
    green_close(l);
    green_group_free(g);  /* cancels the connections still open */
    return NULL;
}

static void *server_thread(void *arg)
{
    ck_assert_int_eq(green_run(serve, arg), 0);
    return NULL;
}

/* The clients. */

static uint64_t rng(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static uint32_t checksum(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static unsigned long exchanged, mismatches, errors, hostile;

/* Reads exactly n bytes: 0, or -1 on error or early end. */
static int read_all(int fd, unsigned char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = green_read(fd, p + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void *normal_client(void *arg)
{
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15u + 1;
    unsigned char *out = malloc(MAX_MSG), *in = malloc(MAX_MSG);
    while (green_now() < until) {
        int fd = green_tcp_connect("127.0.0.1", port);
        if (fd < 0) {
            errors++;
            break;
        }
        unsigned msgs = 1 + (unsigned)(rng(&x) % 8);
        for (unsigned m = 0; m < msgs; m++) {
            size_t n = 1 + (size_t)(rng(&x) % MAX_MSG);
            for (size_t i = 0; i < n; i++)
                out[i] = (unsigned char)rng(&x);
            /* The echo of one message fits in the socket's buffers, so
             * writing it all before reading cannot stall. */
            if (green_write(fd, out, n) != (ssize_t)n || read_all(fd, in, n) < 0) {
                errors++;
                break;
            }
            if (checksum(in, n) != checksum(out, n))
                mismatches++;
            exchanged++;
        }
        green_close(fd);
    }
    free(out);
    free(in);
    return NULL;
}

/* Hostile clients: each kind, again and again until the end. */
static void slow_sender(int fd)
{
    for (int i = 0; i < 20 && green_now() < until; i++)
        if (green_write(fd, "s", 1) != 1 || green_sleep(5) < 0)
            break;
}

static void resetter(int fd)
{
    green_write(fd, "reset me", 8);
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);  /* close sends RST */
}

static void half_closer(int fd)
{
    char buf[256];
    green_write(fd, "half", 4);
    shutdown(fd, SHUT_WR);
    while (green_read(fd, buf, sizeof buf) > 0)
        ;
}

static void never_reader(int fd)
{
    static char junk[1 << 20];
    green_deadline(green_now() + 200);  /* the server's writes back fill up */
    green_write(fd, junk, sizeof junk);
    green_deadline(GREEN_NEVER);
}

static void *hostile_client(void *arg)
{
    void (*kind)(int) = (void (*)(int))arg;
    while (green_now() < until) {
        int fd = green_tcp_connect("127.0.0.1", port);
        if (fd < 0)
            break;
        kind(fd);
        green_close(fd);
        hostile++;
        green_sleep(2);  /* hostile, not a flood */
    }
    return NULL;
}

static void *load(void *arg)
{
    (void)arg;
    green_group_t *g = green_group_new();
    for (uintptr_t i = 0; i < NORMAL; i++)
        ck_assert_ptr_nonnull(green_group_spawn(g, normal_client, (void *)i));
    void (*kinds[])(int) = {slow_sender, resetter, half_closer, never_reader};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        for (int j = 0; j < 2; j++)
            ck_assert_ptr_nonnull(green_group_spawn(g, hostile_client, (void *)kinds[i]));
    ck_assert_int_eq(green_group_wait(g), 0);
    green_group_free(g);
    return NULL;
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

static long rss_kb(void)
{
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

START_TEST(soak)
{
    const char *env = getenv("GREEN_SOAK_SECONDS");
    int seconds = env ? atoi(env) : 20;
    started = green_queue_new(sizeof(int), 1);
    green_queue_t *stop = green_queue_new(sizeof(int), 1);
    int fds = open_fds();
    long rss = rss_kb();

    pthread_t server;
    ck_assert_int_eq(pthread_create(&server, NULL, server_thread, stop), 0);
    int p;
    ck_assert_int_eq(green_queue_recv(started, &p), 0);
    snprintf(port, sizeof port, "%d", p);
    until = green_now() + (int64_t)seconds * 1000;
    ck_assert_int_eq(green_run(load, NULL), 0);
    int one = 1;
    ck_assert_int_eq(green_queue_send(stop, &one), 0);
    pthread_join(server, NULL);

    malloc_trim(0);
    printf("soak: %d s, %lu messages echoed, %lu mismatches, %lu errors, %lu hostile "
           "connections; fds %d -> %d, RSS %ld -> %ld KiB\n", seconds, exchanged, mismatches,
           errors, hostile, fds, open_fds(), rss, rss_kb());
    ck_assert_uint_gt(exchanged, 0);
    ck_assert_uint_gt(hostile, 0);
    ck_assert_uint_eq(mismatches, 0);
    ck_assert_uint_eq(errors, 0);
    ck_assert_int_eq(open_fds(), fds);
    ck_assert_int_le(rss_kb(), rss + RSS_SLACK_KB);
    green_queue_free(started);
    green_queue_free(stop);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("soak");
    TCase *tc = tcase_create("soak");
    const char *env = getenv("GREEN_SOAK_SECONDS");
    tcase_set_timeout(tc, (env ? atoi(env) : 20) + 60);
    tcase_add_test(tc, soak);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
