/*
 * The soak: an echo server on libgreen, on one OS thread, under load from
 * another for GREEN_SOAK_SECONDS (make soak SECONDS=N; CI runs it
 * briefly).  Normal clients churn connections and check every echoed
 * message by checksum; beside them hostile ones send slowly, reset,
 * half-close, or never read.  The normal clients must see no mismatch and
 * no error, and afterwards the process must hold the fds and about the
 * memory it started with.  A second soak (soak_shared, below) shares each
 * fd between several green threads whose calls others keep cutting short;
 * a third (soak_file) has pools of green threads write and read one
 * regular file through one fd.
 * Its own runner, not one of suites.h: it is long by design.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
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

    trim_heap();
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

/* The shared soak: several green threads on each fd, which other threads
 * keep cutting short.  On each of CONNS socket pairs, WORKERS writers share
 * the sending fd (a mutex keeps one record whole at a time, but a write
 * cut short leaves the rest of its record to the next writer) and WORKERS
 * readers share a stream over the receiving fd.  Every call runs under a
 * deadline of a few ms, and a chaos thread cancels workers (and spawns
 * their replacements) and releases and adopts again both fds while calls
 * are parked on them.  Each record carries its number and a checksum: a
 * byte lost, or sent twice, or a count that is wrong, shows as a record
 * out of order or a bad sum. */
enum { CONNS = 8, WORKERS = 2, MAX_REC = 16 * 1024, HEADER = 12 };

struct shared {
    int fd[2];                    /* writers' end, readers' end */
    green_mutex_t wlock, rlock;
    /* The record being sent: header, payload, checksum. */
    unsigned char rec[HEADER + MAX_REC + 4];
    size_t rlen, roff;
    uint32_t sent;                /* records sent in full */
    uint64_t x;                   /* the writers' random numbers */
    green_stream_t *in;
    uint32_t got;                 /* records received and checked */
    unsigned long bad;
    green_t *writer[WORKERS], *reader[WORKERS];
};

static struct shared conns[CONNS];
static unsigned long chaos_cuts;
static bool stopping;

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The next record, made when the last went out in full. */
static void next_record(struct shared *c)
{
    uint32_t n = 1 + (uint32_t)(rng(&c->x) % MAX_REC);
    put32(c->rec, n);
    put32(c->rec + 4, c->sent);
    put32(c->rec + 8, ~c->sent);
    for (uint32_t i = 0; i < n; i++)
        c->rec[HEADER + i] = (unsigned char)rng(&c->x);
    put32(c->rec + HEADER + n, checksum(c->rec, HEADER + n));
    c->rlen = HEADER + n + 4;
    c->roff = 0;
}

/* Sends what is left of the record: false when a call failed. */
static bool send_rest(struct shared *c)
{
    if (c->roff == c->rlen) {
        c->sent++;
        next_record(c);
    }
    size_t want = c->rlen - c->roff;
    ssize_t r = green_write(c->fd[0], c->rec + c->roff, want);
    if (r > 0)
        c->roff += (size_t)r;  /* a count is a count, whatever errno says */
    return r == (ssize_t)want;
}

static void *shared_writer(void *arg)
{
    struct shared *c = arg;
    while (!stopping) {
        green_deadline(green_now() + 1 + (int64_t)(rng(&c->x) % 5));
        if (green_mutex_lock(&c->wlock) < 0) {
            if (errno == ECANCELED)
                break;
            continue;
        }
        bool ok = send_rest(c);
        green_mutex_unlock(&c->wlock);
        if (!ok && errno != ETIMEDOUT && errno != EBADF && errno != ECANCELED)
            errors++;
        if (!ok && errno == ECANCELED)
            break;
    }
    return NULL;
}

/* Reads one record in two counted reads; a read cut short leaves what it
 * read in the stream, and the record is read again from its start.
 * 1 for a record, 0 at the end, -1 when cut short. */
static int read_record(struct shared *c, unsigned char *buf)
{
    const void *head;
    ssize_t r = green_stream_peek(c->in, &head, HEADER);
    if (r <= 0)
        return r == 0 ? 0 : -1;
    if (r < HEADER) {
        errno = ENODATA;
        return -1;
    }
    uint32_t n = get32(head);
    if (n == 0 || n > MAX_REC)
        return c->bad++, -1;
    if (green_stream_readexactly(c->in, buf, HEADER + n + 4) <= 0)
        return -1;  /* not consumed: read again */
    if (get32(buf + 4) != c->got || get32(buf + 8) != ~c->got ||
        get32(buf + HEADER + n) != checksum(buf, HEADER + n))
        c->bad++;
    c->got++;
    return 1;
}

static void *shared_reader(void *arg)
{
    struct shared *c = arg;
    unsigned char *buf = malloc(HEADER + MAX_REC + 4);
    uint64_t x = (uintptr_t)buf;
    for (;;) {
        green_deadline(stopping ? GREEN_NEVER : green_now() + 1 + (int64_t)(rng(&x) % 5));
        if (green_mutex_lock(&c->rlock) < 0) {
            if (errno == ECANCELED)
                break;
            continue;
        }
        int r = read_record(c, buf);
        int err = errno;
        green_mutex_unlock(&c->rlock);
        if (r == 0 || (r < 0 && err == ECANCELED))
            break;
        if (r < 0 && err != ETIMEDOUT && err != EBADF && err != ENODATA)
            errors++;
    }
    free(buf);
    return NULL;
}

/* Cuts one call short somewhere: a cancellation (and a replacement), or
 * an fd released and adopted again under whoever is parked on it. */
static void cut(uint64_t *x)
{
    struct shared *c = &conns[rng(x) % CONNS];
    int w = (int)(rng(x) % WORKERS);
    switch (rng(x) % 4) {
    case 0:
        green_cancel(c->writer[w]);
        green_join(c->writer[w], NULL);
        c->writer[w] = green_spawn(shared_writer, c);
        break;
    case 1:
        green_cancel(c->reader[w]);
        green_join(c->reader[w], NULL);
        c->reader[w] = green_spawn(shared_reader, c);
        break;
    default: {
        int fd = c->fd[rng(x) % 2];
        ck_assert_int_eq(green_fd_release(fd), 0);
        ck_assert_int_eq(green_fd_adopt(fd), 0);
        break;
    }
    }
    chaos_cuts++;
}

/* After the end: the last record out in full, then end of file. */
static void finish(struct shared *c)
{
    for (int i = 0; i < WORKERS; i++)
        green_join(c->writer[i], NULL);
    green_deadline(GREEN_NEVER);
    if (c->roff < c->rlen)
        ck_assert_int_eq(green_write(c->fd[0], c->rec + c->roff, c->rlen - c->roff),
                         (ssize_t)(c->rlen - c->roff));
    c->sent++;
    shutdown(c->fd[0], SHUT_WR);
}

static void *shared_load(void *arg)
{
    (void)arg;
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < CONNS; i++) {
        struct shared *c = &conns[i];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, c->fd), 0);
        c->x = (uint64_t)i * 0x9e3779b97f4a7c15u + 1;
        green_mutex_init(&c->wlock);
        green_mutex_init(&c->rlock);
        next_record(c);
        c->in = green_stream_open(c->fd[1], 0);
        for (int w = 0; w < WORKERS; w++) {
            c->writer[w] = green_spawn(shared_writer, c);
            c->reader[w] = green_spawn(shared_reader, c);
        }
    }
    while (green_now() < until) {
        green_sleep(1);
        cut(&x);
    }
    stopping = true;
    for (int i = 0; i < CONNS; i++)
        finish(&conns[i]);
    for (int i = 0; i < CONNS; i++) {
        struct shared *c = &conns[i];
        for (int w = 0; w < WORKERS; w++)
            green_join(c->reader[w], NULL);
        ck_assert_msg(c->bad == 0 && c->got == c->sent,
                      "connection %d: %u records sent, %u received, %lu bad", i, c->sent,
                      c->got, c->bad);
        exchanged += c->got;
        green_stream_close(c->in);
        green_close(c->fd[0]);
        green_mutex_destroy(&c->wlock);
        green_mutex_destroy(&c->rlock);
    }
    return NULL;
}

START_TEST(soak_shared)
{
    const char *env = getenv("GREEN_SOAK_SECONDS");
    int seconds = env ? atoi(env) : 20;
    int fds = open_fds();
    until = green_now() + (int64_t)seconds * 1000;
    ck_assert_int_eq(green_run(shared_load, NULL), 0);
    printf("soak, shared fds: %d s, %lu records through %d connections, %lu calls cut "
           "short by cancellation or release, %lu errors; fds %d -> %d\n", seconds,
           exchanged, CONNS, chaos_cuts, errors, fds, open_fds());
    ck_assert_uint_gt(exchanged, 0);
    ck_assert_uint_gt(chaos_cuts, 0);
    ck_assert_uint_eq(errors, 0);
    ck_assert_int_eq(open_fds(), fds);
}
END_TEST

/* The file soak: a pool of green threads writes one file through one fd,
 * another pool reads one back, round after round, with O_DIRECT and
 * without; every record must be there once, whole. */
static void *file_rounds(void *arg)
{
    unsigned long *rounds = arg;
    for (bool direct = false; green_now() < until; direct = !direct) {
        struct shared_file w = {.fd = temp_file(direct)};
        pool_write(&w);
        count_records(&w);
        check_each_once(&w);
        close(w.fd);
        struct shared_file r = {.fd = uncached_records(direct)};
        pool_read(&r);
        check_each_once(&r);
        close(r.fd);
        ++*rounds;
    }
    return NULL;
}

START_TEST(soak_file)
{
    const char *env = getenv("GREEN_SOAK_SECONDS");
    int seconds = env ? atoi(env) : 20;
    int fds = open_fds();
    unsigned long rounds = 0;
    until = green_now() + (int64_t)seconds * 1000;
    ck_assert_int_eq(green_run(file_rounds, &rounds), 0);
    printf("soak, one file: %d s, %lu rounds of %d records of %d KiB written and read by %d "
           "green threads each; fds %d -> %d\n", seconds, rounds, FILE_RECORDS,
           FILE_RECORD / 1024, FILE_POOL, fds, open_fds());
    ck_assert_uint_gt(rounds, 0);
    ck_assert_int_eq(open_fds(), fds);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("soak");
    TCase *tc = tcase_create("soak");
    const char *env = getenv("GREEN_SOAK_SECONDS");
    tcase_set_timeout(tc, (env ? atoi(env) : 20) + 60);
    tcase_add_test(tc, soak);
    tcase_add_test(tc, soak_shared);
    tcase_add_test(tc, soak_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
