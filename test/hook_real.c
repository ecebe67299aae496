/*
 * libgreen-hook against the real libraries, unmodified: hiredis's and
 * libpq's blocking APIs against real servers, and libcurl's
 * curl_easy_perform against a slow local server, each from many green
 * threads at once.  test/hook_real.sh installs the packages, starts the
 * servers in a temporary directory on Unix sockets, runs this and stops
 * them; it says where the servers are in GREEN_TEST_REDIS (a socket path)
 * and GREEN_TEST_PG (a libpq connection string).  A test whose server is
 * not given is skipped, and says so.
 *
 * Built twice: linked with libgreen-hook, where the calls park their
 * green thread; and without it (GREEN_NO_HOOK), where the same programs
 * run one after another, as they always did.  Each prints how long it
 * took.
 */
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "public.h"

#ifdef GREEN_NO_HOOK
#define MODE "without the hook"
#else
#define MODE "with the hook"
#endif

/* How many of each: fewer without the hook, which runs them in turn. */
#ifdef GREEN_NO_HOOK
enum { REDIS_THREADS = 4, PG_THREADS = 5, CURL_THREADS = 5 };
#else
enum { REDIS_THREADS = 200, PG_THREADS = 100, CURL_THREADS = 50 };
#endif
enum { INCRS = 1000 };

static void report(const char *what, int n, int64_t start)
{
    printf("hook_real: %s, %d green threads, %s: %lld ms\n", what, n, MODE,
           (long long)(green_now() - start));
    fflush(stdout);
}

static void *gather_n(void *(*fn)(void *), int n)
{
    green_t **t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        green_attr_t attr = {.stack_size = 256 * 1024};
        t[i] = green_spawn_attr(&attr, fn, (void *)(intptr_t)i);
        ck_assert_ptr_nonnull(t[i]);
    }
    ck_assert_int_eq(green_gather(t, (size_t)n, NULL), 0);
    free(t);
    return NULL;
}

/* hiredis: each thread its own connection and 1000 INCRs. */

static void *incr_many(void *arg)
{
    (void)arg;
    redisContext *c = redisConnectUnix(getenv("GREEN_TEST_REDIS"));
    ck_assert_ptr_nonnull(c);
    ck_assert_msg(!c->err, "redisConnectUnix: %s", c->errstr);
    for (int i = 0; i < INCRS; i++) {
        redisReply *r = redisCommand(c, "INCR n");
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static long long redis_get_n(void)
{
    redisContext *c = redisConnectUnix(getenv("GREEN_TEST_REDIS"));
    redisReply *r = redisCommand(c, "GET n");
    long long n = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    redisFree(c);
    return n;
}

GREEN_TEST(hiredis_incr)
{
    (void)arg;
    if (!getenv("GREEN_TEST_REDIS")) {
        printf("hook_real: hiredis skipped: no GREEN_TEST_REDIS\n");
        return NULL;
    }
    redisContext *c = redisConnectUnix(getenv("GREEN_TEST_REDIS"));
    freeReplyObject(redisCommand(c, "DEL n"));
    redisFree(c);
    int64_t start = green_now();
    gather_n(incr_many, REDIS_THREADS);
    report("hiredis, 1000 x INCR each", REDIS_THREADS, start);
    ck_assert_int_eq(redis_get_n(), (long long)REDIS_THREADS * INCRS);
    return NULL;
}

/* redisFree closes its own socket; the next connection gets the same fd
 * number, and must be waited on afresh. */
static void *connect_use_free(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        redisContext *c = redisConnectUnix(getenv("GREEN_TEST_REDIS"));
        ck_assert_msg(c && !c->err, "connect");
        redisReply *r = redisCommand(c, "PING");
        ck_assert_ptr_nonnull(r);
        ck_assert_str_eq(r->str, "PONG");
        freeReplyObject(r);
        redisFree(c);
    }
    return NULL;
}

GREEN_TEST(hiredis_free_and_reuse)
{
    (void)arg;
    if (!getenv("GREEN_TEST_REDIS"))
        return NULL;
    gather_n(connect_use_free, 4);
    return NULL;
}

/* libpq: each thread its own connection and a query that sleeps 0.2 s. */

static void *pg_sleep(void *arg)
{
    (void)arg;
    PGconn *conn = PQconnectdb(getenv("GREEN_TEST_PG"));
    ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "PQconnectdb: %s", PQerrorMessage(conn));
    PGresult *r = PQexec(conn, "SELECT pg_sleep(0.2)");
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "PQexec: %s", PQerrorMessage(conn));
    PQclear(r);
    PQfinish(conn);
    return NULL;
}

GREEN_TEST(libpq_sleep)
{
    (void)arg;
    if (!getenv("GREEN_TEST_PG")) {
        printf("hook_real: libpq skipped: no GREEN_TEST_PG\n");
        return NULL;
    }
    int64_t start = green_now();
    gather_n(pg_sleep, PG_THREADS);
    report("libpq, PQconnectdb and SELECT pg_sleep(0.2) each", PG_THREADS, start);
#ifndef GREEN_NO_HOOK
    ck_assert_int_lt(green_now() - start, PG_THREADS * 200 / 2);  /* one after another: 20 s */
#endif
    return NULL;
}

/* libcurl: fetches from a server in this process that answers after
 * 200 ms (green threads of its own, parking in green_sleep). */

static int slow_port;

static void *answer_slowly(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[1024];
    ssize_t n, got = 0;
    while ((n = green_read(fd, buf + got, sizeof buf - 1 - (size_t)got)) > 0) {
        got += n;
        buf[got] = 0;
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    green_sleep(200);
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                 "Connection: close\r\n\r\nslow!";
    green_write(fd, answer, sizeof answer - 1);
    green_close(fd);
    return NULL;
}

static void *slow_server(void *arg)
{
    int lfd = *(int *)arg;
    for (;;) {
        int fd = green_accept(lfd, NULL, NULL);
        if (fd < 0)
            return NULL;  /* closed, or cancelled at the end */
        green_t *t = green_spawn(answer_slowly, (void *)(intptr_t)fd);
        if (t)
            green_detach(t);
    }
}

static size_t collect(char *p, size_t size, size_t n, void *out)
{
    strncat(out, p, size * n < 15 ? size * n : 15);
    return size * n;
}

#ifndef GREEN_NO_HOOK
static void *fetch_slow(void *arg)
{
    (void)arg;
    char url[64], body[16] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", slow_port);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    CURLcode rc = curl_easy_perform(h);
    ck_assert_msg(rc == CURLE_OK, "curl_easy_perform: %s", curl_easy_strerror(rc));
    ck_assert_str_eq(body, "slow!");
    curl_easy_cleanup(h);
    return NULL;
}
#endif

#ifdef GREEN_NO_HOOK
/* Without the hook curl blocks the OS thread, so the server, a green
 * thread of the same OS thread, never gets to answer: the fetch times out.
 * That is what the hook is for. */
static void *fetch_blocked(void *arg)
{
    (void)arg;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", slow_port);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    char body[16] = "";
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 500L);
    ck_assert_int_eq(curl_easy_perform(h), CURLE_OPERATION_TIMEDOUT);
    curl_easy_cleanup(h);
    return NULL;
}
#endif

GREEN_TEST(libcurl_fetch)
{
    (void)arg;
    int lfd = green_tcp_listen("127.0.0.1", "0", 128);
    slow_port = green_local_port(lfd);
    green_t *srv = green_spawn(slow_server, &lfd);
    int64_t start = green_now();
#ifdef GREEN_NO_HOOK
    gather_n(fetch_blocked, 1);
    report("libcurl, a fetch from a server in the same OS thread (it never answers)", 1, start);
#else
    gather_n(fetch_slow, CURL_THREADS);
    report("libcurl, curl_easy_perform of a 200 ms answer each", CURL_THREADS, start);
    ck_assert_int_lt(green_now() - start, CURL_THREADS * 200 / 2);  /* in turn: 10 s */
#endif
    green_cancel(srv);
    green_join(srv, NULL);
    green_close(lfd);
    return NULL;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("hook_real");
    TCase *tc = tcase_create("hook_real");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hiredis_incr);
    tcase_add_test(tc, hiredis_free_and_reuse);
    tcase_add_test(tc, libpq_sleep);
    tcase_add_test(tc, libcurl_fetch);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
