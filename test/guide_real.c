/*
 * docs/integration.md's code, run against the real thing: each function
 * of docs/examples/integration/ (linked as those files are, byte for byte
 * the guide's blocks) called from green threads, and what it promises
 * checked, its results and every errno it documents that a test can
 * bring about.
 *
 *   pq_query.c, deadline.c  libpq against a real PostgreSQL: a connect, a
 *                           query and its result; a query past its
 *                           deadline or cancelled, and the server really
 *                           stopped it; many at once
 *   redis_get.c             hiredis against a real redis-server on TCP
 *   curl_fetch.c            libcurl's multi interface against an HTTP
 *                           server of green threads in this process
 *   tls_io.c                OpenSSL between two green threads over
 *                           loopback TCP, with a certificate made here
 *   wait_fd.c, offload.c,   the loop around a non-blocking call, a
 *   adopt.c                 blocking call on the pool, an adopted fd
 *
 * test/hook_real.sh starts the servers and says where they are:
 * GREEN_TEST_PG and GREEN_TEST_PG_TCP (libpq connection strings, a Unix
 * socket and 127.0.0.1) and GREEN_TEST_REDIS_PORT (redis-server's TCP port
 * on 127.0.0.1).  A test
 * whose server is not given is skipped, and says so.  Each test runs in a
 * process of its own (Check's fork mode) under a timeout.  Nothing sleeps
 * to synchronise: a test that must know a query is running asks the
 * server, in a bounded loop.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "public.h"

/* The guide's functions.  Its files are meant to be copied into a
 * program, so they come with no header: these are their definitions'
 * prototypes. */

/* wait_fd.c */
enum step { STEP_DONE, STEP_WANT_READ, STEP_WANT_WRITE, STEP_FAILED };
int drive(int fd, enum step (*step)(void *ctx), void *ctx);
/* adopt.c */
int session_begin(int fd);
void session_end(int fd, void (*library_close)(void *conn), void *conn);
/* offload.c */
int call_blocking(int (*fn)(void *arg), void *arg);
/* pq_query.c, deadline.c */
PGconn *pq_connect(const char *conninfo);
void pq_close(PGconn *c);
PGresult *pq_query(PGconn *c, const char *sql, int *broken);
PGresult *query_within(PGconn **c, const char *sql, int64_t ms);
/* redis_get.c */
redisContext *redis_connect(const char *ip, int port);
void redis_close(redisContext *c);
redisReply *redis_get(redisContext *c, const char *key);
/* curl_fetch.c */
long fetch(const char *url, size_t *bytes);
/* tls_io.c */
int tls_handshake(SSL *ssl);
int tls_read(SSL *ssl, void *buf, int n);
int tls_write(SSL *ssl, const void *buf, int n);

/* Generous bounds: what a test that waits for something that never comes
 * gives it, and the most a step that should be quick may take. */
enum { SHORT_MS = 200, QUICK_MS = 3000 };

static green_t *spawn(void *(*fn)(void *), void *arg)
{
    green_attr_t attr = {.stack_size = 256 * 1024};
    green_t *t = green_spawn_attr(&attr, fn, arg);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* Like spawn, but the thread runs at once until it first parks. */
static green_t *spawn_eager(void *(*fn)(void *), void *arg)
{
    green_attr_t attr = {.stack_size = 256 * 1024, .eager = 1};
    green_t *t = green_spawn_attr(&attr, fn, arg);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* A port on 127.0.0.1 where nothing listens: bound, so that no one else
 * takes it while the test runs, but never listening, so a connect to it is
 * refused.  The caller closes *fd. */
static int closed_port(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(*fd, 0);
    ck_assert_int_eq(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* A listener on 127.0.0.1 that never accepts: the kernel completes the
 * connect, and then nothing ever answers.  *port gets its port. */
static int silent_listener(int *port)
{
    int lfd = green_tcp_listen("127.0.0.1", "0", 16);
    ck_assert_int_ge(lfd, 0);
    *port = green_local_port(lfd);
    return lfd;
}

static bool nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    ck_assert_int_ge(fl, 0);
    return fl & O_NONBLOCK;
}

/* ---- wait_fd.c: drive() ---- */

/* A stand-in for a library's non-blocking call: it sends out[] whole, then
 * receives in_len bytes, on a non-blocking socket, saying what it needs
 * whenever the socket would block. */
struct exchange {
    int fd;
    const unsigned char *out;
    size_t out_len, sent;
    unsigned char *in;
    size_t in_len, got;
    int calls, waits;
    bool fail;      /* the library asks for the socket writable, then fails */
};

static enum step exchange_step(void *p)
{
    struct exchange *x = p;
    if (++x->calls > 1)
        x->waits++;
    if (x->fail)
        return x->calls == 1 ? STEP_WANT_WRITE : STEP_FAILED;
    while (x->sent < x->out_len) {
        ssize_t n = write(x->fd, x->out + x->sent, x->out_len - x->sent);
        if (n < 0)
            return errno == EAGAIN ? STEP_WANT_WRITE : STEP_FAILED;
        x->sent += (size_t)n;
    }
    while (x->got < x->in_len) {
        ssize_t n = read(x->fd, x->in + x->got, x->in_len - x->got);
        if (n == 0)
            return STEP_FAILED;
        if (n < 0)
            return errno == EAGAIN ? STEP_WANT_READ : STEP_FAILED;
        x->got += (size_t)n;
    }
    return STEP_DONE;
}

enum { BIG = 1 << 20 };

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + seed + i / 4096);
    return p;
}

/* The peer: reads BIG bytes whole, then sends them back. */
static void *reflect(void *arg)
{
    int fd = (int)(intptr_t)arg;
    unsigned char *buf = malloc(BIG);
    size_t got = 0;
    while (got < BIG) {
        ssize_t n = green_read(fd, buf + got, BIG - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    for (size_t sent = 0; sent < BIG;) {
        ssize_t n = green_write(fd, buf + sent, BIG - sent);
        ck_assert_int_gt(n, 0);
        sent += (size_t)n;
    }
    free(buf);
    return NULL;
}

static void nonblocking_pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

GREEN_TEST(drive_round_trip)
{
    (void)arg;
    int sv[2];
    nonblocking_pair(sv);
    green_t *peer = spawn(reflect, (void *)(intptr_t)sv[1]);
    unsigned char *out = pattern(BIG, 1), *in = malloc(BIG);
    struct exchange x = {.fd = sv[0], .out = out, .out_len = BIG, .in = in, .in_len = BIG};
    ck_assert_int_eq(drive(sv[0], exchange_step, &x), 0);
    ck_assert_int_eq(x.got, BIG);
    ck_assert_int_eq(memcmp(in, out, BIG), 0);
    ck_assert_int_gt(x.waits, 0);   /* 1 MiB does not fit a socket's buffers */
    ck_assert_int_eq(green_join(peer, NULL), 0);
    free(out), free(in);
    close(sv[0]), green_close(sv[1]);
    return NULL;
}

GREEN_TEST(drive_failed)
{
    (void)arg;
    int sv[2];
    nonblocking_pair(sv);
    struct exchange x = {.fd = sv[0], .fail = true};
    ck_assert_int_eq(drive(sv[0], exchange_step, &x), -1);
    ck_assert_int_eq(errno, EPROTO);
    ck_assert_int_eq(x.calls, 2);
    close(sv[0]), close(sv[1]);
    return NULL;
}

GREEN_TEST(drive_deadline)
{
    (void)arg;
    int sv[2];
    nonblocking_pair(sv);
    unsigned char in[8];
    struct exchange x = {.fd = sv[0], .in = in, .in_len = sizeof in};
    int64_t old = green_deadline(green_now() + SHORT_MS);
    ck_assert_int_eq(drive(sv[0], exchange_step, &x), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    close(sv[0]), close(sv[1]);
    return NULL;
}

struct drive_job {
    int fd;
    struct exchange x;
    int rc, err;
};

static void *drive_job(void *arg)
{
    struct drive_job *j = arg;
    j->rc = drive(j->fd, exchange_step, &j->x);
    j->err = errno;
    return NULL;
}

GREEN_TEST(drive_cancel)
{
    (void)arg;
    int sv[2];
    nonblocking_pair(sv);
    unsigned char in[8];
    struct drive_job j = {.fd = sv[0], .x = {.fd = sv[0], .in = in, .in_len = sizeof in}};
    green_t *t = spawn_eager(drive_job, &j);
    ck_assert_int_eq(j.x.calls, 1);     /* it asked to read, and parked */
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(j.rc, -1);
    ck_assert_int_eq(j.err, ECANCELED);
    close(sv[0]), close(sv[1]);
    return NULL;
}

/* ---- adopt.c: session_begin(), session_end() ---- */

/* A stand-in for a library's connection, which owns its socket. */
struct lib_conn {
    int fd;
    int closes;
    bool nonblocking_at_close;
};

static void lib_close(void *p)
{
    struct lib_conn *c = p;
    c->nonblocking_at_close = nonblocking(c->fd);
    c->closes++;
    ck_assert_int_eq(close(c->fd), 0);
}

static void *wait_in(void *arg)
{
    int fd = (int)(intptr_t)arg;
    int r = green_wait(fd, GREEN_IN);
    return (void *)(intptr_t)(r < 0 ? -errno : r);
}

GREEN_TEST(adopt_session)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct lib_conn conn = {.fd = sv[0]};
    ck_assert(!nonblocking(sv[0]));
    ck_assert_int_eq(session_begin(sv[0]), 0);
    ck_assert(nonblocking(sv[0]));
    /* While adopted: a wait ends when the peer writes, and the library's
     * own read takes what came. */
    green_t *t = spawn_eager(wait_in, (void *)(intptr_t)sv[0]);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    void *r;
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, GREEN_IN);
    char c;
    ck_assert_int_eq(read(sv[0], &c, 1), 1);
    /* The end: a thread still parked on the fd wakes with EBADF, the flag
     * adoption set is cleared before the library closes, and libgreen
     * closes nothing itself. */
    t = spawn_eager(wait_in, (void *)(intptr_t)sv[0]);
    session_end(sv[0], lib_close, &conn);
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, -EBADF);
    ck_assert_int_eq(conn.closes, 1);
    ck_assert(!conn.nonblocking_at_close);
    ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
    close(sv[1]);
    return NULL;
}

/* A socket the library made non-blocking itself stays so. */
GREEN_TEST(adopt_nonblocking_kept)
{
    (void)arg;
    int sv[2];
    nonblocking_pair(sv);
    struct lib_conn conn = {.fd = sv[0]};
    ck_assert_int_eq(session_begin(sv[0]), 0);
    session_end(sv[0], lib_close, &conn);
    ck_assert_int_eq(conn.closes, 1);
    ck_assert(conn.nonblocking_at_close);
    close(sv[1]);
    return NULL;
}

GREEN_TEST(adopt_bad_fd)
{
    (void)arg;
    ck_assert_int_eq(session_begin(-1), -1);
    ck_assert_int_eq(errno, EBADF);
    int sv[2];
    nonblocking_pair(sv);
    close(sv[0]);
    ck_assert_int_eq(session_begin(sv[0]), -1);   /* a number no longer open */
    ck_assert_int_eq(errno, EBADF);
    close(sv[1]);
    return NULL;
}

/* ---- offload.c: call_blocking() ---- */

/* A blocking library call: it says it has started on one pipe, then
 * blocks in read(2) on another until a byte comes. */
struct blocker {
    int started[2], data[2];
};

static int block_on_pipe(void *arg)
{
    struct blocker *b = arg;
    char c = 's';
    if (write(b->started[1], &c, 1) != 1)
        return -1;
    return (int)read(b->data[0], &c, 1);
}

static void blocker_open(struct blocker *b)
{
    ck_assert_int_eq(pipe2(b->started, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(b->data, O_CLOEXEC), 0);
}

static void blocker_close(struct blocker *b)
{
    green_close(b->started[0]), close(b->started[1]);
    close(b->data[0]), green_close(b->data[1]);
}

/* Runs as a green thread while the call blocks its worker: waits until it
 * has started, then lets it go on.  Were the scheduler blocked, this
 * would never run, and the test would time out. */
static void *release_blocker(void *arg)
{
    struct blocker *b = arg;
    char c;
    ck_assert_int_eq(green_read(b->started[0], &c, 1), 1);
    ck_assert_int_eq(green_write(b->data[1], "d", 1), 1);
    return NULL;
}

GREEN_TEST(offload_blocking_call)
{
    (void)arg;
    struct blocker b;
    blocker_open(&b);
    green_t *t = spawn(release_blocker, &b);
    ck_assert_int_eq(call_blocking(block_on_pipe, &b), 1);
    ck_assert_int_eq(green_join(t, NULL), 0);
    blocker_close(&b);
    return NULL;
}

static int open_missing(void *arg)
{
    (void)arg;
    errno = 0;
    return open("/nonexistent/libgreen-guide", O_RDONLY);
}

GREEN_TEST(offload_errno)
{
    (void)arg;
    errno = 0;
    ck_assert_int_eq(call_blocking(open_missing, NULL), -1);
    ck_assert_int_eq(errno, ENOENT);   /* the worker's errno, copied back */
    return NULL;
}

static int count_call(void *arg)
{
    ++*(int *)arg;
    return 7;
}

/* A deadline already past does not cut the call short; it is the
 * caller's again after. */
GREEN_TEST(offload_deadline_kept)
{
    (void)arg;
    int calls = 0;
    int64_t due = green_now() - 1;
    green_deadline(due);
    ck_assert_int_eq(call_blocking(count_call, &calls), 7);
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(green_sleep(10000), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_eq(green_deadline(GREEN_NEVER), due);
    return NULL;
}

struct offload_job {
    struct blocker *b;
    int rc, sleep_rc, sleep_err;
};

static void *offload_job(void *arg)
{
    struct offload_job *j = arg;
    j->rc = call_blocking(block_on_pipe, j->b);
    j->sleep_rc = green_sleep(10000);
    j->sleep_err = errno;
    return NULL;
}

/* A cancel that comes while the call runs lets it finish, and stays
 * pending for the caller's next parking call. */
GREEN_TEST(offload_cancel_pending)
{
    (void)arg;
    struct blocker b;
    blocker_open(&b);
    struct offload_job j = {.b = &b};
    green_t *t = spawn(offload_job, &j);
    char c;
    ck_assert_int_eq(green_read(b.started[0], &c, 1), 1);   /* the call runs */
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_write(b.data[1], "d", 1), 1);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(j.rc, 1);
    ck_assert_int_eq(j.sleep_rc, -1);
    ck_assert_int_eq(j.sleep_err, ECANCELED);
    blocker_close(&b);
    return NULL;
}

/* ---- pq_query.c, deadline.c: libpq against PostgreSQL ---- */

static const char *pg_info(void)
{
    const char *info = getenv("GREEN_TEST_PG");
    if (info == NULL)
        printf("guide_real: libpq skipped: no GREEN_TEST_PG\n");
    return info;
}

static PGconn *pg_open(void)
{
    PGconn *c = pq_connect(getenv("GREEN_TEST_PG"));
    ck_assert_msg(c != NULL, "pq_connect: %s", strerror(errno));
    return c;
}

/* The first value of sql's last result, which must have rows (malloc'd). */
static char *pg_value(PGconn *c, const char *sql)
{
    int broken = 1;
    PGresult *res = pq_query(c, sql, &broken);
    ck_assert_msg(res != NULL, "pq_query(%s): %s", sql, strerror(errno));
    ck_assert_int_eq(broken, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage(res));
    char *v = strdup(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

static void check_value(PGconn *c, const char *sql, const char *want)
{
    char *v = pg_value(c, sql);
    ck_assert_str_eq(v, want);
    free(v);
}

/* Asks the server, from another connection, until backend pid is (or is
 * no longer) running a query, for up to QUICK_MS. */
static void pg_await_active(int pid, bool active)
{
    PGconn *mon = pg_open();
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_stat_activity WHERE pid = %d AND state = 'active'", pid);
    int64_t end = green_now() + QUICK_MS;
    for (;;) {
        char *v = pg_value(mon, sql);
        bool is = strcmp(v, "1") == 0;
        free(v);
        if (is == active)
            break;
        ck_assert_msg(green_now() < end, "backend %d still %s", pid, active ? "idle" : "active");
        green_sleep(10);
    }
    pq_close(mon);
}

GREEN_TEST(pq_connect_and_query)
{
    (void)arg;
    if (!pg_info())
        return NULL;
    PGconn *c = pg_open();
    ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
    ck_assert(nonblocking(PQsocket(c)));     /* adopted */
    check_value(c, "SELECT 6 * 7", "42");
    /* Several statements: the last result is returned. */
    check_value(c, "SELECT 1; SELECT 'two'", "two");
    /* A reply of 1 MB, read in many waits. */
    check_value(c, "SELECT length(repeat('x', 1000000))", "1000000");
    char *v = pg_value(c, "SELECT repeat('ab', 500000)");
    ck_assert_int_eq(strlen(v), 1000000);
    free(v);
    /* A query of 1 MB, which the socket does not take at once. */
    char *sql = malloc(BIG + 64);
    int n = sprintf(sql, "SELECT length('");
    memset(sql + n, 'q', BIG);
    strcpy(sql + n + BIG, "')");
    char want[16];
    snprintf(want, sizeof want, "%d", BIG);
    check_value(c, sql, want);
    free(sql);
    /* A statement the server refuses is a result, not a failure, and the
     * connection goes on. */
    int broken = 1;
    PGresult *res = pq_query(c, "SELECT * FROM no_such_table", &broken);
    ck_assert_ptr_nonnull(res);
    ck_assert_int_eq(broken, 0);
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    check_value(c, "SELECT 'again'", "again");
    pq_close(c);
    return NULL;
}

/* By address over TCP, as the guide advises: libpq first asks for TLS,
 * which this server declines, and goes on, each step a wait. */
GREEN_TEST(pq_connect_tcp)
{
    (void)arg;
    const char *info = getenv("GREEN_TEST_PG_TCP");
    if (info == NULL) {
        printf("guide_real: libpq over TCP skipped: no GREEN_TEST_PG_TCP\n");
        return NULL;
    }
    PGconn *c = pq_connect(info);
    ck_assert_msg(c != NULL, "pq_connect: %s", strerror(errno));
    ck_assert(nonblocking(PQsocket(c)));
    check_value(c, "SELECT inet_server_addr()::text", "127.0.0.1/32");
    pq_close(c);
    return NULL;
}

GREEN_TEST(pq_query_eio)
{
    (void)arg;
    if (!pg_info())
        return NULL;
    PGconn *c = pg_open();
    /* libpq refuses a second query while one is in progress. */
    ck_assert_int_eq(PQsendQuery(c, "SELECT 1"), 1);
    int broken = 1;
    ck_assert_ptr_null(pq_query(c, "SELECT 2", &broken));
    ck_assert_int_eq(errno, EIO);
    ck_assert_int_eq(broken, 0);
    pq_close(c);
    return NULL;
}

GREEN_TEST(pq_connect_refused)
{
    (void)arg;
    ck_assert_ptr_null(pq_connect("host=/nonexistent-libgreen port=5432 user=green"));
    ck_assert_int_eq(errno, ECONNREFUSED);
    int fd;
    char info[128];
    snprintf(info, sizeof info, "hostaddr=127.0.0.1 port=%d user=green sslmode=disable",
             closed_port(&fd));
    ck_assert_ptr_null(pq_connect(info));
    ck_assert_int_eq(errno, ECONNREFUSED);
    close(fd);
    return NULL;
}

struct pq_connect_job {
    const char *info;
    PGconn *c;
    int err;
};

static void *pq_connect_job(void *arg)
{
    struct pq_connect_job *j = arg;
    j->c = pq_connect(j->info);
    j->err = errno;
    return NULL;
}

/* A server that never answers: the connect ends at the deadline, or at a
 * cancel. */
GREEN_TEST(pq_connect_cut_short)
{
    (void)arg;
    int port;
    int lfd = silent_listener(&port);
    char info[160];
    snprintf(info, sizeof info,
             "hostaddr=127.0.0.1 port=%d user=green sslmode=disable gssencmode=disable", port);
    int64_t old = green_deadline(green_now() + SHORT_MS);
    ck_assert_ptr_null(pq_connect(info));
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    struct pq_connect_job j = {.info = info};
    green_t *t = spawn_eager(pq_connect_job, &j);
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_ptr_null(j.c);
    ck_assert_int_eq(j.err, ECANCELED);
    green_close(lfd);
    return NULL;
}

/* A query past its deadline: ETIMEDOUT, the server has stopped it, and
 * the connection is usable at once. */
GREEN_TEST(pq_deadline_cancels_on_server)
{
    (void)arg;
    if (!pg_info())
        return NULL;
    PGconn *c = pg_open();
    int pid = PQbackendPID(c);
    int64_t start = green_now();
    ck_assert_ptr_null(query_within(&c, "SELECT pg_sleep(10)", SHORT_MS));
    ck_assert_int_eq(errno, ETIMEDOUT);
    /* Not closed: the cancel reached the server, and the rest was read
     * well before the 10 s the query would have taken. */
    ck_assert_ptr_nonnull(c);
    ck_assert_int_lt(green_now() - start, QUICK_MS);
    errno = 0;
    ck_assert_int_eq(green_deadline(GREEN_NEVER), GREEN_NEVER);   /* the scope ended */
    pg_await_active(pid, false);
    /* Cut short after a first result is in: the same. */
    ck_assert_ptr_null(query_within(&c, "SELECT 1; SELECT pg_sleep(10)", SHORT_MS));
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_lt(green_now() - start, 2 * QUICK_MS);
    pg_await_active(pid, false);
    PGresult *res = query_within(&c, "SELECT 'usable'", QUICK_MS);
    ck_assert_ptr_nonnull(res);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "usable");
    PQclear(res);
    pq_close(c);
    return NULL;
}

/* A deadline that comes while the query is still being sent: PostgreSQL
 * has not started it, and would not heed a cancel while it reads it, so
 * the connection is closed at once (which stops it), not after the
 * cleanup's own 2 s bound. */
GREEN_TEST(pq_deadline_while_sending)
{
    (void)arg;
    if (!pg_info())
        return NULL;
    enum { HUGE = 64 << 20 };   /* far more than a socket holds */
    char *sql = malloc(HUGE + 64);
    int n = sprintf(sql, "SELECT length('");
    memset(sql + n, 'q', HUGE);
    strcpy(sql + n + HUGE, "')");
    PGconn *c = pg_open();
    int pid = PQbackendPID(c);
    int64_t start = green_now();
    ck_assert_ptr_null(query_within(&c, sql, 1));
    ck_assert_int_eq(errno, ETIMEDOUT);
    int64_t took = green_now() - start;
    ck_assert_msg(took < 1500, "query_within took %lld ms past a 1 ms deadline", (long long)took);
    free(sql);
    if (c != NULL) {
        /* The server had it all before the deadline after all, and the
         * cancel stopped it. */
        check_value(c, "SELECT 'usable'", "usable");
        pq_close(c);
    }
    pg_await_active(pid, false);
    return NULL;
}

/* The caller's sooner deadline is kept, and is the caller's again after. */
GREEN_TEST(pq_deadline_caller_sooner)
{
    (void)arg;
    if (!pg_info())
        return NULL;
    PGconn *c = pg_open();
    int64_t outer = green_now() + SHORT_MS;
    green_deadline(outer);
    int64_t start = green_now();
    ck_assert_ptr_null(query_within(&c, "SELECT pg_sleep(10)", 60000));
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_lt(green_now() - start, QUICK_MS);
    ck_assert_int_eq(green_deadline(GREEN_NEVER), outer);
    ck_assert_ptr_nonnull(c);
    check_value(c, "SELECT 'after'", "after");
    pq_close(c);
    return NULL;
}

struct pq_query_job {
    PGconn *c;
    const char *sql;
    PGresult *res;
    int err, broken;
};

static void *pq_query_job(void *arg)
{
    struct pq_query_job *j = arg;
    j->res = pq_query(j->c, j->sql, &j->broken);
    j->err = errno;
    return NULL;
}

/* green_cancel of the querying thread: ECANCELED, and the server has
 * stopped the query. */
GREEN_TEST(pq_cancel_cancels_on_server)
{
    (void)arg;
    if (!pg_info())
        return NULL;
    PGconn *c = pg_open();
    int pid = PQbackendPID(c);
    struct pq_query_job j = {.c = c, .sql = "SELECT pg_sleep(10)", .broken = 1};
    int64_t start = green_now();
    green_t *t = spawn(pq_query_job, &j);
    pg_await_active(pid, true);
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_ptr_null(j.res);
    ck_assert_int_eq(j.err, ECANCELED);
    ck_assert_int_eq(j.broken, 0);
    ck_assert_int_lt(green_now() - start, QUICK_MS + SHORT_MS);
    pg_await_active(pid, false);
    check_value(c, "SELECT 'usable'", "usable");
    pq_close(c);
    return NULL;
}

enum { PG_THREADS = 20 };

static void *pq_sleep_job(void *arg)
{
    (void)arg;
    PGconn *c = pg_open();
    check_value(c, "SELECT pg_sleep(0.2)::text || 'done'", "done");
    pq_close(c);
    return NULL;
}

/* Many green threads querying at once do not wait for each other: in
 * turn, 20 queries of 0.2 s would take 4 s. */
GREEN_TEST(pq_many_at_once)
{
    (void)arg;
    if (!pg_info())
        return NULL;
    green_t *t[PG_THREADS];
    int64_t start = green_now();
    for (int i = 0; i < PG_THREADS; i++)
        t[i] = spawn(pq_sleep_job, NULL);
    ck_assert_int_eq(green_gather(t, PG_THREADS, NULL), 0);
    int64_t took = green_now() - start;
    printf("guide_real: %d green threads, pq_connect and pg_sleep(0.2) each: %lld ms\n",
           PG_THREADS, (long long)took);
    ck_assert_int_lt(took, QUICK_MS);
    return NULL;
}

/* ---- redis_get.c: hiredis against redis-server ---- */

static int redis_port(void)
{
    const char *p = getenv("GREEN_TEST_REDIS_PORT");
    if (p == NULL)
        printf("guide_real: hiredis skipped: no GREEN_TEST_REDIS_PORT\n");
    return p ? atoi(p) : 0;
}

/* SET key value with hiredis's own blocking context, as another program
 * would. */
static void redis_set(int port, const char *key, const char *value, size_t len)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    ck_assert_msg(c != NULL && !c->err, "redisConnect: %s", c ? c->errstr : "");
    redisReply *r = redisCommand(c, "SET %s %b", key, value, len);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
}

GREEN_TEST(redis_get_value)
{
    (void)arg;
    int port = redis_port();
    if (!port)
        return NULL;
    char key[64];
    snprintf(key, sizeof key, "guide:%d", (int)getpid());
    redis_set(port, key, "green", 5);
    redisContext *c = redis_connect("127.0.0.1", port);
    ck_assert_msg(c != NULL, "redis_connect: %s", strerror(errno));
    ck_assert(nonblocking(c->fd));
    redisReply *r = redis_get(c, key);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_str_eq(r->str, "green");
    freeReplyObject(r);
    /* A value of 1 MiB comes in many reads. */
    char *big = (char *)pattern(BIG, 7);
    redis_set(port, key, big, BIG);
    r = redis_get(c, key);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    ck_assert_int_eq(r->len, BIG);
    ck_assert_int_eq(memcmp(r->str, big, BIG), 0);
    freeReplyObject(r);
    free(big);
    r = redis_get(c, "guide:no-such-key");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    redis_close(c);
    return NULL;
}

enum { REDIS_THREADS = 50 };

static void *redis_get_job(void *arg)
{
    int port = (int)(intptr_t)arg;
    redisContext *c = redis_connect("127.0.0.1", port);
    ck_assert_ptr_nonnull(c);
    for (int i = 0; i < 20; i++) {
        redisReply *r = redis_get(c, "guide:shared");
        ck_assert_ptr_nonnull(r);
        ck_assert_str_eq(r->str, "shared");
        freeReplyObject(r);
    }
    redis_close(c);
    return NULL;
}

GREEN_TEST(redis_many_at_once)
{
    (void)arg;
    int port = redis_port();
    if (!port)
        return NULL;
    redis_set(port, "guide:shared", "shared", 6);
    green_t *t[REDIS_THREADS];
    for (int i = 0; i < REDIS_THREADS; i++)
        t[i] = spawn(redis_get_job, (void *)(intptr_t)port);
    ck_assert_int_eq(green_gather(t, REDIS_THREADS, NULL), 0);
    return NULL;
}

GREEN_TEST(redis_connect_refused)
{
    (void)arg;
    int fd;
    ck_assert_ptr_null(redis_connect("127.0.0.1", closed_port(&fd)));
    ck_assert_int_eq(errno, ECONNREFUSED);
    close(fd);
    return NULL;
}

/* A listener whose queue of connections is full: the kernel drops the
 * next connect's SYN, so that connect stays under way.  The caller closes
 * fds[0..2], the listener and the connections that filled it. */
static int full_listener(int fds[3])
{
    int port;
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fds[0], (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fds[0], 0), 0);
    ck_assert_int_eq(getsockname(fds[0], (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    /* A backlog of 0 holds one connection; the second is left half-open. */
    for (int i = 1; i < 3; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int r = connect(fds[i], (struct sockaddr *)&a, sizeof a);
        ck_assert(r == 0 || errno == EINPROGRESS);
    }
    ck_assert_int_eq(green_wait(fds[1], GREEN_OUT), GREEN_OUT);
    return port;
}

static void full_listener_close(int fds[3])
{
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}

struct redis_connect_job {
    int port;
    redisContext *c;
    int err;
};

static void *redis_connect_job(void *arg)
{
    struct redis_connect_job *j = arg;
    j->c = redis_connect("127.0.0.1", j->port);
    j->err = errno;
    return NULL;
}

/* A connect that the server never completes: it ends at the deadline, or
 * at a cancel. */
GREEN_TEST(redis_connect_cut_short)
{
    (void)arg;
    int fds[3];
    int port = full_listener(fds);
    int64_t old = green_deadline(green_now() + SHORT_MS);
    ck_assert_ptr_null(redis_connect("127.0.0.1", port));
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    struct redis_connect_job j = {.port = port};
    green_t *t = spawn_eager(redis_connect_job, &j);
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_ptr_null(j.c);
    ck_assert_int_eq(j.err, ECANCELED);
    full_listener_close(fds);
    return NULL;
}

struct redis_job {
    redisContext *c;
    redisReply *r;
    int err;
};

static void *redis_get_once(void *arg)
{
    struct redis_job *j = arg;
    j->r = redis_get(j->c, "k");
    j->err = errno;
    return NULL;
}

/* A server that takes the command and never answers: the wait ends at
 * the deadline, or at a cancel. */
GREEN_TEST(redis_get_cut_short)
{
    (void)arg;
    int port;
    int lfd = silent_listener(&port);
    redisContext *c = redis_connect("127.0.0.1", port);
    ck_assert_ptr_nonnull(c);
    int64_t old = green_deadline(green_now() + SHORT_MS);
    ck_assert_ptr_null(redis_get(c, "k"));
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    redis_close(c);
    struct redis_job j = {.c = redis_connect("127.0.0.1", port)};
    ck_assert_ptr_nonnull(j.c);
    green_t *t = spawn_eager(redis_get_once, &j);
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_ptr_null(j.r);
    ck_assert_int_eq(j.err, ECANCELED);
    redis_close(j.c);
    green_close(lfd);
    return NULL;
}

static void *accept_and_close(void *arg)
{
    int fd = green_accept((int)(intptr_t)arg, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    green_close(fd);
    return NULL;
}

/* A server that closes the connection: hiredis fails, EIO. */
GREEN_TEST(redis_get_eio)
{
    (void)arg;
    int port;
    int lfd = silent_listener(&port);
    green_t *t = spawn(accept_and_close, (void *)(intptr_t)lfd);
    redisContext *c = redis_connect("127.0.0.1", port);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_ptr_null(redis_get(c, "k"));
    ck_assert_int_eq(errno, EIO);
    redis_close(c);
    green_close(lfd);
    return NULL;
}

/* ---- curl_fetch.c: libcurl's multi interface ---- */

/* An HTTP server of green threads in this process: GET /big answers
 * HTTP_BIG bytes, /missing 404, and /hang reads the request, says so on
 * the channel, and never answers. */
enum { HTTP_BIG = 256 * 1024 };

struct http_server {
    int lfd, port;
    green_t *acceptor;
    green_chan_t *hung;     /* one int for each /hang request taken */
};

struct http_conn {
    struct http_server *s;
    int fd;
};

static void *http_answer(void *arg)
{
    struct http_conn *hc = arg;
    char req[2048];
    size_t got = 0;
    ssize_t n;
    while ((n = green_read(hc->fd, req + got, sizeof req - 1 - got)) > 0) {
        got += (size_t)n;
        req[got] = 0;
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    if (n <= 0)
        goto out;
    if (strncmp(req, "GET /hang ", 10) == 0) {
        int one = 1;
        green_chan_send(hc->s->hung, &one);
        while (green_read(hc->fd, req, sizeof req) > 0) {
        }  /* until the client goes */
        goto out;
    }
    bool big = strncmp(req, "GET /big ", 9) == 0;
    size_t len = big ? HTTP_BIG : 9;
    char head[160];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      big ? "200 OK" : "404 Not Found", len);
    char *body = big ? (char *)pattern(HTTP_BIG, 3) : strdup("not here\n");
    if (green_write(hc->fd, head, (size_t)hn) == hn)
        for (size_t sent = 0; sent < len;) {
            n = green_write(hc->fd, body + sent, len - sent);
            if (n <= 0)
                break;
            sent += (size_t)n;
        }
    free(body);
out:
    green_close(hc->fd);
    free(hc);
    return NULL;
}

static void *http_accept(void *arg)
{
    struct http_server *s = arg;
    for (;;) {
        int fd = green_accept(s->lfd, NULL, NULL);
        if (fd < 0)
            return NULL;    /* cancelled at the end */
        struct http_conn *hc = malloc(sizeof *hc);
        *hc = (struct http_conn){s, fd};
        green_detach(spawn(http_answer, hc));
    }
}

static void http_start(struct http_server *s)
{
    s->lfd = silent_listener(&s->port);
    s->hung = green_chan_new(sizeof(int), 16);
    ck_assert_ptr_nonnull(s->hung);
    s->acceptor = spawn(http_accept, s);
}

static void http_stop(struct http_server *s)
{
    green_cancel(s->acceptor);
    green_join(s->acceptor, NULL);
    green_close(s->lfd);
    green_chan_free(s->hung);
}

static void url_of(char *url, size_t n, const struct http_server *s, const char *path)
{
    snprintf(url, n, "http://127.0.0.1:%d%s", s->port, path);
}

GREEN_TEST(curl_fetch_status_and_bytes)
{
    (void)arg;
    struct http_server s;
    http_start(&s);
    char url[80];
    size_t bytes = 0;
    url_of(url, sizeof url, &s, "/big");
    ck_assert_int_eq(fetch(url, &bytes), 200);
    ck_assert_uint_eq(bytes, HTTP_BIG);
    url_of(url, sizeof url, &s, "/missing");
    ck_assert_int_eq(fetch(url, &bytes), 404);
    ck_assert_uint_eq(bytes, 9);
    http_stop(&s);
    return NULL;
}

enum { CURL_THREADS = 8 };

static void *fetch_big(void *arg)
{
    size_t bytes = 0;
    ck_assert_int_eq(fetch(arg, &bytes), 200);
    ck_assert_uint_eq(bytes, HTTP_BIG);
    return NULL;
}

GREEN_TEST(curl_fetch_many_at_once)
{
    (void)arg;
    struct http_server s;
    http_start(&s);
    char url[80];
    url_of(url, sizeof url, &s, "/big");
    green_t *t[CURL_THREADS];
    for (int i = 0; i < CURL_THREADS; i++)
        t[i] = spawn(fetch_big, url);
    ck_assert_int_eq(green_gather(t, CURL_THREADS, NULL), 0);
    http_stop(&s);
    return NULL;
}

GREEN_TEST(curl_fetch_eio)
{
    (void)arg;
    int fd;
    char url[80];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", closed_port(&fd));
    size_t bytes = 12345;
    ck_assert_int_eq(fetch(url, &bytes), -1);
    ck_assert_int_eq(errno, EIO);
    ck_assert_uint_eq(bytes, 12345);    /* untouched */
    close(fd);
    return NULL;
}

struct fetch_job {
    const char *url;
    long status;
    int err;
};

static void *fetch_job(void *arg)
{
    struct fetch_job *j = arg;
    size_t bytes;
    j->status = fetch(j->url, &bytes);
    j->err = errno;
    return NULL;
}

/* A server that never answers: the fetch ends at the caller's deadline
 * (curl's own timers come and go meanwhile), or at a cancel. */
GREEN_TEST(curl_fetch_cut_short)
{
    (void)arg;
    struct http_server s;
    http_start(&s);
    char url[80];
    url_of(url, sizeof url, &s, "/hang");
    size_t bytes;
    int64_t old = green_deadline(green_now() + SHORT_MS);
    ck_assert_int_eq(fetch(url, &bytes), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    int one;
    ck_assert_int_eq(green_chan_recv(s.hung, &one), 0);  /* it had the request */
    struct fetch_job j = {.url = url};
    green_t *t = spawn(fetch_job, &j);
    ck_assert_int_eq(green_chan_recv(s.hung, &one), 0);  /* the request is in */
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(j.status, -1);
    ck_assert_int_eq(j.err, ECANCELED);
    http_stop(&s);
    return NULL;
}

/* ---- tls_io.c: OpenSSL between two green threads ---- */

/* A self-signed certificate for "localhost", made at test time. */
struct tls_pki {
    EVP_PKEY *key;
    X509 *cert;
    SSL_CTX *server, *client;
};

static void tls_pki_make(struct tls_pki *p, bool client_trusts)
{
    p->key = EVP_EC_gen("P-256");
    ck_assert_ptr_nonnull(p->key);
    p->cert = X509_new();
    ck_assert_ptr_nonnull(p->cert);
    X509_set_version(p->cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(p->cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(p->cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(p->cert), 3600);
    X509_NAME *name = X509_get_subject_name(p->cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                               -1, -1, 0);
    X509_set_issuer_name(p->cert, name);
    X509_set_pubkey(p->cert, p->key);
    ck_assert_int_gt(X509_sign(p->cert, p->key, EVP_sha256()), 0);

    p->server = SSL_CTX_new(TLS_server_method());
    ck_assert_int_eq(SSL_CTX_use_certificate(p->server, p->cert), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey(p->server, p->key), 1);
    p->client = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(p->client, SSL_VERIFY_PEER, NULL);
    if (client_trusts)
        ck_assert_int_eq(X509_STORE_add_cert(SSL_CTX_get_cert_store(p->client), p->cert), 1);
}

static void tls_pki_free(struct tls_pki *p)
{
    SSL_CTX_free(p->client);
    SSL_CTX_free(p->server);
    X509_free(p->cert);
    EVP_PKEY_free(p->key);
}

/* A TLS connection over loopback TCP: the client's end in main's hands,
 * the server's in a green thread. */
struct tls_end {
    SSL *ssl;
    int fd;
    int rc, err;
};

/* Both ends' sockets, connected, non-blocking as OpenSSL's callers must
 * make them. */
static void tls_sockets(struct tls_end *client, struct tls_end *server)
{
    int port;
    int lfd = silent_listener(&port);
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    client->fd = green_tcp_connect("127.0.0.1", p);
    ck_assert_int_ge(client->fd, 0);
    server->fd = green_accept(lfd, NULL, NULL);
    ck_assert_int_ge(server->fd, 0);
    green_close(lfd);
    ck_assert(nonblocking(client->fd) && nonblocking(server->fd));
}

static void tls_end_open(struct tls_end *e, SSL_CTX *ctx, bool server)
{
    e->ssl = SSL_new(ctx);
    ck_assert_ptr_nonnull(e->ssl);
    ck_assert_int_eq(SSL_set_fd(e->ssl, e->fd), 1);
    if (server) {
        SSL_set_accept_state(e->ssl);
    } else {
        SSL_set_connect_state(e->ssl);
        ck_assert_int_eq(SSL_set1_host(e->ssl, "localhost"), 1);
    }
}

static void tls_end_close(struct tls_end *e)
{
    SSL_free(e->ssl);
    green_close(e->fd);
}

static void *tls_handshake_job(void *arg)
{
    struct tls_end *e = arg;
    e->rc = tls_handshake(e->ssl);
    e->err = errno;
    return NULL;
}

/* Reads exactly n bytes. */
static void tls_read_all(SSL *ssl, unsigned char *buf, int n)
{
    for (int got = 0; got < n;) {
        int r = tls_read(ssl, buf + got, n - got);
        ck_assert_msg(r > 0, "tls_read: %d, %s", r, strerror(errno));
        got += r;
    }
}

/* The server: "ping" gets "pong"; then BIG bytes come, and go back in one
 * write; then the client's close_notify is a read of 0. */
static void *tls_serve(void *arg)
{
    struct tls_end *e = arg;
    ck_assert_int_eq(tls_handshake(e->ssl), 0);
    unsigned char buf[4];
    tls_read_all(e->ssl, buf, 4);
    ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
    ck_assert_int_eq(tls_write(e->ssl, "pong", 4), 4);
    unsigned char *big = malloc(BIG);
    tls_read_all(e->ssl, big, BIG);
    ck_assert_int_eq(tls_write(e->ssl, big, BIG), BIG);
    free(big);
    e->rc = tls_read(e->ssl, buf, sizeof buf);
    return NULL;
}

GREEN_TEST(tls_round_trip)
{
    (void)arg;
    struct tls_pki pki;
    tls_pki_make(&pki, true);
    struct tls_end client = {0}, server = {.rc = -1};
    tls_sockets(&client, &server);
    tls_end_open(&client, pki.client, false);
    tls_end_open(&server, pki.server, true);
    green_t *t = spawn(tls_serve, &server);
    ck_assert_int_eq(tls_handshake(client.ssl), 0);
    ck_assert_int_eq(SSL_get_verify_result(client.ssl), X509_V_OK);
    ck_assert_int_eq(tls_write(client.ssl, "ping", 4), 4);
    unsigned char buf[4];
    tls_read_all(client.ssl, buf, 4);
    ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
    /* 1 MiB in one write: it returns once all of it is sent, and all of
     * it comes back. */
    unsigned char *out = pattern(BIG, 5), *in = malloc(BIG);
    ck_assert_int_eq(tls_write(client.ssl, out, BIG), BIG);
    tls_read_all(client.ssl, in, BIG);
    ck_assert_int_eq(memcmp(in, out, BIG), 0);
    free(out), free(in);
    ck_assert_int_ge(SSL_shutdown(client.ssl), 0);   /* close_notify */
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(server.rc, 0);
    tls_end_close(&client);
    tls_end_close(&server);
    tls_pki_free(&pki);
    return NULL;
}

/* A client that does not trust the certificate: both ends fail, EPROTO. */
GREEN_TEST(tls_handshake_eproto)
{
    (void)arg;
    struct tls_pki pki;
    tls_pki_make(&pki, false);
    struct tls_end client = {0}, server = {0};
    tls_sockets(&client, &server);
    tls_end_open(&client, pki.client, false);
    tls_end_open(&server, pki.server, true);
    green_t *t = spawn(tls_handshake_job, &server);
    ck_assert_int_eq(tls_handshake(client.ssl), -1);
    ck_assert_int_eq(errno, EPROTO);
    /* The client's alert, or its close, ends the server's handshake. */
    shutdown(client.fd, SHUT_RDWR);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(server.rc, -1);
    ck_assert_int_eq(server.err, EPROTO);
    tls_end_close(&client);
    tls_end_close(&server);
    tls_pki_free(&pki);
    return NULL;
}

static void *tls_read_job(void *arg)
{
    struct tls_end *e = arg;
    char c;
    e->rc = tls_read(e->ssl, &c, 1);
    e->err = errno;
    return NULL;
}

/* A peer that sends nothing: the read ends at the deadline, or at a
 * cancel. */
GREEN_TEST(tls_read_cut_short)
{
    (void)arg;
    struct tls_pki pki;
    tls_pki_make(&pki, true);
    struct tls_end client = {0}, server = {0};
    tls_sockets(&client, &server);
    tls_end_open(&client, pki.client, false);
    tls_end_open(&server, pki.server, true);
    green_t *t = spawn(tls_handshake_job, &server);
    ck_assert_int_eq(tls_handshake(client.ssl), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(server.rc, 0);
    char c;
    int64_t old = green_deadline(green_now() + SHORT_MS);
    ck_assert_int_eq(tls_read(client.ssl, &c, 1), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    t = spawn_eager(tls_read_job, &server);
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(server.rc, -1);
    ck_assert_int_eq(server.err, ECANCELED);
    tls_end_close(&client);
    tls_end_close(&server);
    tls_pki_free(&pki);
    return NULL;
}

int main(void)
{
    /* The HTTP server is this process's: no proxy between. */
    setenv("no_proxy", "127.0.0.1", 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("guide_real");
    struct {
        const char *name;
        const TTest *tests[12];
    } cases[] = {
        {"wait_fd", {drive_round_trip, drive_failed, drive_deadline, drive_cancel}},
        {"adopt", {adopt_session, adopt_nonblocking_kept, adopt_bad_fd}},
        {"offload", {offload_blocking_call, offload_errno, offload_deadline_kept,
                     offload_cancel_pending}},
        {"libpq", {pq_connect_and_query, pq_connect_tcp, pq_query_eio, pq_connect_refused,
                   pq_connect_cut_short, pq_deadline_cancels_on_server,
                   pq_deadline_while_sending, pq_deadline_caller_sooner, pq_cancel_cancels_on_server,
                   pq_many_at_once}},
        {"hiredis", {redis_get_value, redis_many_at_once, redis_connect_refused,
                     redis_connect_cut_short, redis_get_cut_short, redis_get_eio}},
        {"curl", {curl_fetch_status_and_bytes, curl_fetch_many_at_once, curl_fetch_eio,
                  curl_fetch_cut_short}},
        {"tls", {tls_round_trip, tls_handshake_eproto, tls_read_cut_short}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 20);
        for (int j = 0; cases[i].tests[j] != NULL; j++)
            tcase_add_test(tc, cases[i].tests[j]);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
