/* Buffered streams. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* A transport that hands out a text in chunks of the sizes it is given
 * (then 0, end of file), and takes writes into a sink, failing with
 * write_err once it holds write_cap bytes.  It counts its calls. */
struct script {
    const char *text;
    size_t len, pos;
    const size_t *chunks;   /* the size of each read; then what is left */
    size_t nchunks, step;
    int read_err;           /* once the text is out: fail with it instead of EOF */
    char sink[1 << 16];
    size_t sunk, write_cap;
    int write_err;
    int reads, writes, closes;
    int close_err;          /* close fails with it */
};

static ssize_t script_read(void *ctx, void *buf, size_t n)
{
    struct script *sc = ctx;
    sc->reads++;
    size_t left = sc->len - sc->pos;
    if (!left && sc->read_err) {
        errno = sc->read_err;
        return -1;
    }
    size_t k = sc->step < sc->nchunks ? sc->chunks[sc->step++] : left;
    k = k < left ? k : left;
    k = k < n ? k : n;
    memcpy(buf, sc->text + sc->pos, k);
    sc->pos += k;
    return (ssize_t)k;
}

static ssize_t script_write(void *ctx, const void *buf, size_t n)
{
    struct script *sc = ctx;
    sc->writes++;
    size_t room = sc->write_cap - sc->sunk;
    if (sc->write_err && !room) {
        errno = sc->write_err;
        return -1;
    }
    size_t k = n < room ? n : room;
    memcpy(sc->sink + sc->sunk, buf, k);
    sc->sunk += k;
    return (ssize_t)k;
}

static int script_close(void *ctx)
{
    struct script *sc = ctx;
    sc->closes++;
    if (sc->close_err) {
        errno = sc->close_err;
        return -1;
    }
    return 0;
}

static const green_stream_io_t script_io = {script_read, script_write, script_close};

static void script_init(struct script *sc, const char *text, const size_t *chunks, size_t n)
{
    memset(sc, 0, sizeof *sc);
    sc->text = text;
    sc->len = strlen(text);
    sc->chunks = chunks;
    sc->nchunks = n;
    sc->write_cap = sizeof sc->sink;
}

static green_stream_t *script_stream(struct script *sc, size_t limit)
{
    green_stream_t *s = green_stream_open_io(&script_io, sc, limit);
    ck_assert_ptr_nonnull(s);
    return s;
}

#define ck_assert_line(s, fn, expect)                                      \
    do {                                                                   \
        char line_[256];                                                   \
        ssize_t r_ = fn(s, line_, sizeof line_);                           \
        ck_assert_int_eq(r_, (ssize_t)strlen(expect));                     \
        ck_assert_mem_eq(line_, expect, strlen(expect));                   \
    } while (0)

/* Lines, and what they cost. */

GREEN_TEST(readline_pipelined_costs_one_read)
{
    (void)arg;
    struct script sc;
    script_init(&sc, "a\nbb\n\nccc\n", NULL, 0);
    green_stream_t *s = script_stream(&sc, 0);
    ck_assert_line(s, green_stream_readline, "a\n");
    ck_assert_int_eq(sc.reads, 1);
    ck_assert_uint_eq(green_stream_buffered(s), 8);
    ck_assert_line(s, green_stream_readline, "bb\n");
    ck_assert_line(s, green_stream_readline, "\n");
    ck_assert_line(s, green_stream_readline, "ccc\n");
    ck_assert_int_eq(sc.reads, 1);  /* buffered lines cost no call */
    char buf[8];
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), 0);
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), 0);
    ck_assert_int_eq(green_stream_close(s), 0);
    ck_assert_int_eq(sc.closes, 1);
    return NULL;
}

/* A multi-byte delimiter split at every position, and a peer that
 * trickles one byte at a time. */
GREEN_TEST(delimiter_split_everywhere)
{
    (void)arg;
    const char *text = "GET / HTTP/1.1\r\nHost: x\r\n\r\nbody";
    size_t head = strlen(text) - 4;
    for (size_t cut = 1; cut <= strlen(text); cut++) {  /* a chunk of 0 is EOF */
        size_t chunks[] = {cut};
        struct script sc;
        script_init(&sc, text, chunks, 1);
        green_stream_t *s = script_stream(&sc, 0);
        char buf[64];
        ck_assert_int_eq(green_stream_readuntil(s, "\r\n\r\n", 4, buf, sizeof buf), head);
        ck_assert_mem_eq(buf, text, head);
        ck_assert_int_eq(green_stream_readexactly(s, buf, 4), 4);
        ck_assert_mem_eq(buf, "body", 4);
        green_stream_close(s);
    }
    size_t ones[64];
    for (size_t i = 0; i < 64; i++)
        ones[i] = 1;
    struct script sc;
    script_init(&sc, text, ones, 64);
    green_stream_t *s = script_stream(&sc, 0);
    char buf[64];
    ck_assert_int_eq(green_stream_readuntil(s, "\r\n\r\n", 4, buf, sizeof buf), head);
    ck_assert_int_eq(sc.reads, (int)head);
    ck_assert_int_eq(green_stream_read(s, buf, sizeof buf), 1);
    ck_assert_int_eq(buf[0], 'b');
    green_stream_close(s);
    return NULL;
}

/* The limit, and the caller's buffer: exactly reached, it fits; exceeded,
 * EMSGSIZE and nothing consumed. */
GREEN_TEST(line_limits)
{
    (void)arg;
    struct script sc;
    script_init(&sc, "1234567\n12345678\nxy\n", NULL, 0);
    green_stream_t *s = script_stream(&sc, 8);
    ck_assert_line(s, green_stream_readline, "1234567\n");
    char buf[64];
    errno = 0;
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
    /* Nothing was consumed: drain the long line by hand. */
    ck_assert_int_eq(green_stream_read(s, buf, 8), 8);
    ck_assert_mem_eq(buf, "12345678", 8);
    ck_assert_line(s, green_stream_readline, "\n");
    /* Longer than the caller's buffer, within the limit. */
    errno = 0;
    ck_assert_int_eq(green_stream_readline(s, buf, 2), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
    ck_assert_int_eq(green_stream_readline(s, buf, 3), 3);
    ck_assert_mem_eq(buf, "xy\n", 3);
    ck_assert_int_eq(green_stream_readuntil(s, "\n", 1, buf, 0), -1);
    green_stream_close(s);

    /* The default limit is 64 KiB. */
    enum { BIG = 140000 };
    char *big = malloc(BIG + 1);
    memset(big, 'a', BIG);
    big[BIG] = 0;
    big[65535] = '\n';
    script_init(&sc, big, NULL, 0);
    s = script_stream(&sc, 0);
    char *line = malloc(BIG);
    ck_assert_int_eq(green_stream_readline(s, line, BIG), 65536);
    ck_assert_int_eq(green_stream_readline(s, line, BIG), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
    ck_assert_int_gt(green_stream_read(s, line, BIG), 0);
    green_stream_close(s);
    free(line);
    free(big);
    return NULL;
}

/* Every end-of-file case. */
GREEN_TEST(end_of_file)
{
    (void)arg;
    struct script sc;
    char buf[16];
    script_init(&sc, "", NULL, 0);
    green_stream_t *s = script_stream(&sc, 0);
    ck_assert_int_eq(green_stream_read(s, buf, sizeof buf), 0);
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), 0);
    ck_assert_int_eq(green_stream_readuntil(s, "--", 2, buf, sizeof buf), 0);
    ck_assert_int_eq(green_stream_readexactly(s, buf, 4), 0);
    ck_assert_int_eq(green_stream_readexactly(s, buf, 0), 0);
    green_stream_close(s);

    /* Some bytes, then end of file: readline gives them... */
    script_init(&sc, "abc", NULL, 0);
    s = script_stream(&sc, 0);
    ck_assert_line(s, green_stream_readline, "abc");
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), 0);
    green_stream_close(s);

    /* ...readuntil and readexactly keep them for the next read. */
    script_init(&sc, "abc", NULL, 0);
    s = script_stream(&sc, 0);
    errno = 0;
    ck_assert_int_eq(green_stream_readuntil(s, "\r\n", 2, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, ENODATA);
    errno = 0;
    ck_assert_int_eq(green_stream_readexactly(s, buf, 5), -1);
    ck_assert_int_eq(errno, ENODATA);
    ck_assert_int_eq(green_stream_read(s, buf, sizeof buf), 3);
    ck_assert_mem_eq(buf, "abc", 3);
    ck_assert_int_eq(green_stream_read(s, buf, sizeof buf), 0);
    green_stream_close(s);

    /* A read error after some bytes: they stay too. */
    script_init(&sc, "ab", NULL, 0);
    sc.read_err = ECONNRESET;
    s = script_stream(&sc, 0);
    errno = 0;
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    ck_assert_int_eq(green_stream_read(s, buf, sizeof buf), 2);
    green_stream_close(s);
    return NULL;
}

/* Counted reads larger than the buffer and the limit, and large reads
 * that go straight to the caller. */
GREEN_TEST(readexactly_large)
{
    (void)arg;
    enum { N = 200000 };
    char *text = malloc(N + 1), *buf = malloc(N);
    for (size_t i = 0; i < N; i++)
        text[i] = (char)('a' + i % 26);
    text[N] = 0;
    size_t chunks[] = {10, 5000, 3, 70000};
    struct script sc;
    script_init(&sc, text, chunks, 4);
    green_stream_t *s = script_stream(&sc, 1024);
    ck_assert_int_eq(green_stream_readexactly(s, buf, 7), 7);
    ck_assert_int_eq(green_stream_readexactly(s, buf + 7, N - 5007), N - 5007);
    ck_assert_uint_eq(green_stream_buffered(s), 0);
    /* Nothing buffered and a large read: straight into buf. */
    int reads = sc.reads;
    ck_assert_int_eq(green_stream_read(s, buf + N - 5000, 5000), 5000);
    ck_assert_int_eq(sc.reads, reads + 1);
    ck_assert_mem_eq(buf, text, N);
    ck_assert_int_eq(green_stream_read(s, buf, N), 0);
    green_stream_close(s);
    free(text);
    free(buf);
    return NULL;
}

/* Zero-copy: peek and consume. */
GREEN_TEST(peek_and_consume)
{
    (void)arg;
    size_t chunks[] = {2, 2, 2};
    struct script sc;
    script_init(&sc, "abcdefgh", chunks, 3);
    green_stream_t *s = script_stream(&sc, 16);
    const void *p = NULL;
    ck_assert_int_eq(green_stream_peek(s, &p, 0), 0);  /* looks, reads nothing */
    ck_assert_int_eq(sc.reads, 0);
    ck_assert_int_eq(green_stream_peek(s, &p, 1), 2);
    ck_assert_int_eq(green_stream_peek(s, &p, 5), 6);
    ck_assert_mem_eq(p, "abcdef", 6);
    ck_assert_int_eq(green_stream_consume(s, 4), 0);
    errno = 0;
    ck_assert_int_eq(green_stream_consume(s, 3), -1);
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_int_eq(green_stream_peek(s, &p, 17), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
    ck_assert_int_eq(green_stream_peek(s, &p, 16), 4);  /* end of file: fewer */
    ck_assert_mem_eq(p, "efgh", 4);
    ck_assert_int_eq(green_stream_peek(NULL, &p, 1), -1);
    ck_assert_int_eq(green_stream_peek(s, NULL, 1), -1);
    green_stream_close(s);
    return NULL;
}

/* Writes gather in the buffer until it is full, a flush, a read that must
 * go to the transport, or the close. */
GREEN_TEST(writes_are_buffered)
{
    (void)arg;
    struct script sc;
    script_init(&sc, "reply\n", NULL, 0);
    green_stream_t *s = script_stream(&sc, 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(green_stream_write(s, "0123456789", 10), 10);
    ck_assert_int_eq(sc.writes, 0);
    ck_assert_int_eq(green_stream_flush(s), 0);
    ck_assert_int_eq(sc.writes, 1);
    ck_assert_int_eq(green_stream_flush(s), 0);
    ck_assert_int_eq(sc.writes, 1);  /* nothing to send */
    /* A read that goes to the transport sends what waits first. */
    ck_assert_int_eq(green_stream_write(s, "ask\n", 4), 4);
    ck_assert_line(s, green_stream_readline, "reply\n");
    ck_assert_int_eq(sc.writes, 2);
    /* Filling the buffer sends it; a write of more than it holds goes
     * straight through. */
    static char big[10000];
    memset(big, 'z', sizeof big);
    ck_assert_int_eq(green_stream_write(s, big, 3000), 3000);
    ck_assert_int_eq(green_stream_write(s, big, 3000), 3000);
    ck_assert_int_eq(sc.writes, 3);
    ck_assert_int_eq(green_stream_write(s, big, sizeof big), sizeof big);
    ck_assert_int_eq(sc.writes, 5);
    ck_assert_int_eq(green_stream_write(s, "end", 3), 3);
    ck_assert_int_eq(green_stream_write(s, NULL, 0), 0);
    ck_assert_int_eq(green_stream_close(s), 0);  /* sends "end" */
    ck_assert_uint_eq(sc.sunk, 1000 + 4 + 6000 + sizeof big + 3);
    ck_assert_mem_eq(sc.sink + sc.sunk - 3, "end", 3);
    return NULL;
}

/* A write error is returned by the call that meets it and by every later
 * write and flush, and by the close; bytes already taken are not resent. */
GREEN_TEST(write_error_sticks)
{
    (void)arg;
    struct script sc;
    script_init(&sc, "", NULL, 0);
    sc.write_cap = 5;
    sc.write_err = EPIPE;
    green_stream_t *s = script_stream(&sc, 0);
    ck_assert_int_eq(green_stream_write(s, "0123456789", 10), 10);
    errno = 0;
    ck_assert_int_eq(green_stream_flush(s), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_uint_eq(sc.sunk, 5);
    errno = 0;
    ck_assert_int_eq(green_stream_write(s, "x", 1), -1);
    ck_assert_int_eq(errno, EPIPE);
    errno = 0;
    ck_assert_int_eq(green_stream_flush(s), -1);
    ck_assert_int_eq(errno, EPIPE);
    /* Reading still works: a peer may half-close. */
    char buf[4];
    ck_assert_int_eq(green_stream_read(s, buf, sizeof buf), 0);
    errno = 0;
    ck_assert_int_eq(green_stream_close(s), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(sc.closes, 1);  /* closed and freed all the same */
    return NULL;
}

/* The deadline and cancellation say nothing about the connection: what
 * was not sent stays buffered, and the next flush sends it. */
GREEN_TEST(write_timeout_does_not_stick)
{
    (void)arg;
    struct script sc;
    script_init(&sc, "", NULL, 0);
    sc.write_cap = 3;
    sc.write_err = ETIMEDOUT;
    green_stream_t *s = script_stream(&sc, 0);
    ck_assert_int_eq(green_stream_write(s, "abcdef", 6), 6);
    errno = 0;
    ck_assert_int_eq(green_stream_flush(s), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    sc.write_cap = sizeof sc.sink;
    ck_assert_int_eq(green_stream_flush(s), 0);
    ck_assert_uint_eq(sc.sunk, 6);
    ck_assert_mem_eq(sc.sink, "abcdef", 6);
    /* A large write cut short: the count it took, errno saying why. */
    static char big[10000];
    sc.write_cap = sc.sunk + 5000;
    errno = 0;
    ck_assert_int_eq(green_stream_write(s, big, sizeof big), 5000);
    ck_assert_int_eq(errno, ETIMEDOUT);
    sc.write_cap = sc.sunk;
    ck_assert_int_eq(green_stream_write(s, big, sizeof big), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    /* The transport said nothing and took nothing: EIO, and it sticks. */
    sc.write_err = 0;
    ck_assert_int_eq(green_stream_write(s, big, sizeof big), -1);
    ck_assert_int_eq(errno, EIO);
    ck_assert_int_eq(green_stream_write(s, "x", 1), -1);
    ck_assert_int_eq(errno, EIO);
    green_stream_close(s);
    return NULL;
}

/* A read that must go to the transport sends the buffered writes first;
 * when the deadline or cancellation stops that, the read fails with it
 * (it would meet it too) and both buffers keep their bytes. */
GREEN_TEST(read_after_unsendable_write)
{
    (void)arg;
    static const int errs[] = {ETIMEDOUT, ECANCELED, EAGAIN, EINTR};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        struct script sc;
        script_init(&sc, "line\n", NULL, 0);
        sc.write_cap = 0;
        sc.write_err = errs[i];
        green_stream_t *s = script_stream(&sc, 0);
        ck_assert_int_eq(green_stream_write(s, "ask\n", 4), 4);
        char buf[8192];
        errno = 0;
        ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), -1);
        ck_assert_int_eq(errno, errs[i]);
        errno = 0;
        ck_assert_int_eq(green_stream_read(s, buf, sizeof buf), -1);  /* the direct read too */
        ck_assert_int_eq(errno, errs[i]);
        ck_assert_int_eq(sc.reads, 0);
        /* A write that does not fit meets it as well, and takes nothing. */
        ck_assert_int_eq(green_stream_write(s, buf, sizeof buf), -1);
        ck_assert_int_eq(errno, errs[i]);
        sc.write_cap = sizeof sc.sink;
        ck_assert_line(s, green_stream_readline, "line\n");
        ck_assert_uint_eq(sc.sunk, 4);
        green_stream_close(s);
    }
    return NULL;
}

/* A large write that a write error cuts short: -1, and it sticks. */
GREEN_TEST(large_write_error)
{
    (void)arg;
    struct script sc;
    script_init(&sc, "", NULL, 0);
    sc.write_cap = 5000;
    sc.write_err = ECONNRESET;
    green_stream_t *s = script_stream(&sc, 0);
    static char big[10000];
    errno = 0;
    ck_assert_int_eq(green_stream_write(s, big, sizeof big), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    ck_assert_int_eq(green_stream_flush(s), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    /* The close fails with the write error, the first failure, though its
     * own close fails too and nothing is left to send; it closes and
     * frees all the same. */
    sc.close_err = EIO;
    errno = 0;
    ck_assert_int_eq(green_stream_close(s), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    ck_assert_int_eq(sc.closes, 1);
    /* A transport whose close fails: the close says so, and frees. */
    script_init(&sc, "", NULL, 0);
    sc.close_err = EIO;
    s = script_stream(&sc, 0);
    errno = 0;
    ck_assert_int_eq(green_stream_close(s), -1);
    ck_assert_int_eq(errno, EIO);
    return NULL;
}

/* Peeking past the limit works when the bytes are buffered already; a
 * read error while peeking is the peek's. */
GREEN_TEST(peek_edges)
{
    (void)arg;
    struct script sc;
    script_init(&sc, "abcdefgh", NULL, 0);
    green_stream_t *s = script_stream(&sc, 4);
    const void *p;
    ck_assert_int_eq(green_stream_peek(s, &p, 1), 8);
    ck_assert_int_eq(green_stream_peek(s, &p, 6), 8);  /* over the limit, but there */
    green_stream_close(s);
    script_init(&sc, "ab", NULL, 0);
    sc.read_err = ECONNRESET;
    s = script_stream(&sc, 0);
    errno = 0;
    ck_assert_int_eq(green_stream_peek(s, &p, 3), -1);
    ck_assert_int_eq(errno, ECONNRESET);
    ck_assert_uint_eq(green_stream_buffered(s), 2);
    green_stream_close(s);
    return NULL;
}

/* Over a real socket: a deadline and a cancellation in the middle of a
 * line lose nothing. */

struct liner {
    green_stream_t *s;
    ssize_t r;
    int err;
    char line[64];
};

static void *read_a_line(void *arg)
{
    struct liner *l = arg;
    l->r = green_stream_readline(l->s, l->line, sizeof l->line);
    l->err = l->r < 0 ? errno : 0;
    return NULL;
}

GREEN_TEST(deadline_and_cancel_mid_line)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    green_stream_t *s = green_stream_open(sv[0], 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(green_stream_fd(s), sv[0]);
    ck_assert_int_eq(green_write(sv[1], "part", 4), 4);
    int64_t old = green_deadline(green_now() + 20);
    char buf[64];
    errno = 0;
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    ck_assert_uint_eq(green_stream_buffered(s), 4);

    /* Cancelled while parked in the middle of the line. */
    struct liner l = {.s = s};
    green_t *t = green_spawn(read_a_line, &l);
    green_yield();
    errno = 0;
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EBUSY);  /* one reader at a time */
    ck_assert_int_eq(green_stream_close(s), -1);
    ck_assert_int_eq(errno, EBUSY);
    const void *p;
    ck_assert_int_eq(green_stream_peek(s, &p, 0), -1);
    ck_assert_int_eq(errno, EBUSY);
    ck_assert_int_eq(green_stream_consume(s, 0), -1);
    ck_assert_int_eq(errno, EBUSY);
    ck_assert_int_eq(green_write(sv[1], "-ial", 4), 4);
    green_yield();
    green_cancel(t);
    green_join(t, NULL);
    ck_assert_int_eq(l.r, -1);
    ck_assert_int_eq(l.err, ECANCELED);

    ck_assert_int_eq(green_write(sv[1], " line\n", 6), 6);
    ck_assert_line(s, green_stream_readline, "part-ial line\n");
    ck_assert_int_eq(green_stream_close(s), 0);
    ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);  /* the stream closed its fd */
    green_close(sv[1]);
    return NULL;
}

/* One green thread reads while another writes the same stream; the
 * writer's buffered bytes reach the peer without a flush of its own when
 * the reader has to park. */

static void *echo_lines(void *arg)
{
    green_stream_t *s = green_stream_open((int)(intptr_t)arg, 0);
    char line[64];
    ssize_t n;
    while ((n = green_stream_readline(s, line, sizeof line)) > 0)
        green_stream_write(s, line, (size_t)n);
    green_stream_close(s);
    return NULL;
}

GREEN_TEST(request_reply_without_flush)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    green_t *t = green_spawn(echo_lines, (void *)(intptr_t)sv[1]);
    green_stream_t *s = green_stream_open(sv[0], 0);
    for (int i = 0; i < 100; i++) {
        char ask[16];
        int k = snprintf(ask, sizeof ask, "ping %d\n", i);
        ck_assert_int_eq(green_stream_write(s, ask, (size_t)k), k);
        ck_assert_line(s, green_stream_readline, ask);
    }
    /* Pipelined: a hundred requests, then the hundred replies. */
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(green_stream_write(s, "again\n", 6), 6);
    for (int i = 0; i < 100; i++)
        ck_assert_line(s, green_stream_readline, "again\n");
    ck_assert_int_eq(green_stream_close(s), 0);
    green_join(t, NULL);
    return NULL;
}

/* Reads n bytes with green_read, or up to end of file. */
static ssize_t read_blocking_green(int fd, char *buf, size_t n)
{
    size_t got = 0;
    ssize_t r;
    while (got < n && (r = green_read(fd, buf + got, n - got)) > 0)
        got += (size_t)r;
    return (ssize_t)got;
}

/* Two writers: the second meets EBUSY while the first is parked sending,
 * even for a small write that the buffer has room for (it would be
 * reported as taken while the first writer's call decides what happens
 * to the buffer). */
struct big_write {
    green_stream_t *s;
    const char *buf;
    size_t n;
    ssize_t r;
};

static void *write_big(void *arg)
{
    struct big_write *w = arg;
    w->r = green_stream_write(w->s, w->buf, w->n);
    return NULL;
}

GREEN_TEST(second_writer_busy)
{
    (void)arg;
    enum { N = 1 << 20 };
    int sv[2];
    make_socketpair(sv);
    green_stream_t *s = green_stream_open(sv[0], 0);
    char *big = calloc(1, N);
    struct big_write w = {s, big, N, 0};
    green_t *t = green_spawn(write_big, &w);
    green_yield();  /* it parks: the socket holds far less */
    errno = 0;
    ck_assert_int_eq(green_stream_flush(s), -1);
    ck_assert_int_eq(errno, EBUSY);
    ck_assert_int_eq(green_stream_write(s, big, 8192), -1);
    ck_assert_int_eq(errno, EBUSY);
    ck_assert_int_eq(green_stream_write(s, "tail", 4), -1);
    ck_assert_int_eq(errno, EBUSY);
    ck_assert_int_eq(green_stream_close(s), -1);
    ck_assert_int_eq(errno, EBUSY);
    /* A reader meanwhile is not kept out by the writer. */
    int64_t old = green_deadline(green_now() + 10);
    char c;
    ck_assert_int_eq(green_stream_read(s, &c, 1), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    char *in = malloc(N + 4);
    ck_assert_uint_eq((size_t)read_blocking_green(sv[1], in, N), N);
    green_join(t, NULL);
    ck_assert_int_eq(w.r, N);
    ck_assert_int_eq(green_stream_close(s), 0);
    ck_assert_int_eq(green_read(sv[1], in, 8), 0);  /* nothing more */
    green_close(sv[1]);
    free(in);
    free(big);
    return NULL;
}

/* One reader and one writer over a socket that can take nothing more: its
 * peer, sv[1], reads nothing until the test has it take what waits, so
 * that every write to sv[0] parks, and a green_yield lets a green thread
 * run up to that park.  A small send buffer keeps the filler short.
 * Returns how many filler bytes wait in the socket before anything the
 * stream sends. */
static size_t full_socketpair(int sv[2])
{
    make_socketpair(sv);
    int small = 4096;
    ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    static const char filler[512];
    size_t queued = 0;
    ssize_t r;
    while ((r = send(sv[0], filler, sizeof filler, MSG_DONTWAIT)) > 0)
        queued += (size_t)r;
    ck_assert_int_eq(r, -1);
    ck_assert_int_eq(errno, EAGAIN);
    return queued;
}

/* The peer takes skip bytes of filler, then exactly want. */
static void peer_takes(int fd, size_t skip, const char *want)
{
    size_t n = strlen(want);
    char *in = malloc(skip + n + 1);
    ck_assert_uint_eq((size_t)read_blocking_green(fd, in, skip + n), skip + n);
    ck_assert_mem_eq(in + skip, want, n);
    free(in);
}

/* Closes s, and checks that its peer gets exactly want and then the end:
 * nothing buffered was lost or sent twice. */
static void close_and_expect(green_stream_t *s, int peer, const char *want)
{
    ck_assert_int_eq(green_stream_close(s), 0);
    peer_takes(peer, 0, want);
    char c;
    ck_assert_int_eq(green_read(peer, &c, 1), 0);
    green_close(peer);
}

/* A writer's calls on a green thread of its own: a write of text (unless
 * NULL), then a flush, each with its result and errno. */
struct writer {
    green_stream_t *s;
    const char *text;
    ssize_t wr;
    int wr_err, r, err;
    bool done;
};

static void *write_and_flush(void *arg)
{
    struct writer *w = arg;
    if (w->text) {
        w->wr = green_stream_write(w->s, w->text, strlen(w->text));
        w->wr_err = w->wr < 0 ? errno : 0;
    }
    w->r = green_stream_flush(w->s);
    w->err = w->r < 0 ? errno : 0;
    w->done = true;
    return NULL;
}

/* The reader's call, parked sending the request buffered before it reads,
 * is not failed by a small write the writer makes meanwhile: it sends the
 * bytes that were buffered when it began, reads its line, and leaves the
 * new bytes buffered for the writer's flush. */
GREEN_TEST(reader_flush_meets_small_write)
{
    (void)arg;
    int sv[2];
    size_t filler = full_socketpair(sv);
    green_stream_t *s = green_stream_open(sv[0], 0);
    ck_assert_int_eq(green_stream_write(s, "req\n", 4), 4);
    struct liner l = {.s = s};
    green_t *t = green_spawn(read_a_line, &l);
    green_yield();  /* it parks sending "req\n" */
    ck_assert_int_eq(green_stream_write(s, "more\n", 5), 5);
    peer_takes(sv[1], filler, "req\n");
    ck_assert_int_eq(green_write(sv[1], "answer\n", 7), 7);
    green_join(t, NULL);
    ck_assert_msg(l.r == 7, "the reader's readline returned %zd, errno %d (%s)", l.r, l.err,
                  strerror(l.err));
    ck_assert_mem_eq(l.line, "answer\n", 7);
    ck_assert_int_eq(green_stream_flush(s), 0);
    close_and_expect(s, sv[1], "more\n");
    return NULL;
}

/* The one writer's flush while the reader's call is flushing waits for
 * that flush to end, then sends what is left, and reports on its own
 * bytes; a second writer meanwhile is refused, and so is the close. */
GREEN_TEST(flush_waits_for_readers_flush)
{
    (void)arg;
    int sv[2];
    size_t filler = full_socketpair(sv);
    green_stream_t *s = green_stream_open(sv[0], 0);
    ck_assert_int_eq(green_stream_write(s, "req\n", 4), 4);
    struct liner l = {.s = s};
    green_t *r = green_spawn(read_a_line, &l);
    green_yield();  /* the reader parks sending "req\n" */
    struct writer w = {.s = s, .text = "more\n"};
    green_t *t = green_spawn(write_and_flush, &w);
    green_yield();
    ck_assert_msg(!w.done, "the writer's flush returned %d, errno %d (%s), during the reader's",
                  w.r, w.err, strerror(w.err));
    ck_assert_int_eq(w.wr, 5);
    FILE *f = tmpfile();
    green_dump(f);
    char *text = file_text(f);
    ck_assert_msg(strstr(text, "the reader's flush of stream"), "%s", text);
    free(text);
    errno = 0;
    ck_assert_int_eq(green_stream_flush(s), -1);
    ck_assert_int_eq(errno, EBUSY);
    errno = 0;
    ck_assert_int_eq(green_stream_write(s, "x", 1), -1);
    ck_assert_int_eq(errno, EBUSY);
    errno = 0;
    ck_assert_int_eq(green_stream_close(s), -1);
    ck_assert_int_eq(errno, EBUSY);
    peer_takes(sv[1], filler, "req\nmore\n");
    green_join(t, NULL);
    ck_assert_int_eq(w.r, 0);
    ck_assert_int_eq(green_write(sv[1], "answer\n", 7), 7);
    green_join(r, NULL);
    ck_assert_int_eq(l.r, 7);
    ck_assert_mem_eq(l.line, "answer\n", 7);
    close_and_expect(s, sv[1], "");
    return NULL;
}

/* A write that does not fit in the buffer while the reader's call is
 * flushing waits the same way, and then goes straight through. */
GREEN_TEST(large_write_waits_for_readers_flush)
{
    (void)arg;
    enum { N = 5000 };
    int sv[2];
    size_t filler = full_socketpair(sv);
    green_stream_t *s = green_stream_open(sv[0], 0);
    ck_assert_int_eq(green_stream_write(s, "req\n", 4), 4);
    struct liner l = {.s = s};
    green_t *r = green_spawn(read_a_line, &l);
    green_yield();  /* the reader parks sending "req\n" */
    char *big = malloc(N + 1), *expect = malloc(N + 5);
    memset(big, 'b', N);
    big[N] = 0;
    snprintf(expect, N + 5, "req\n%s", big);
    struct writer w = {.s = s, .text = big};
    green_t *t = green_spawn(write_and_flush, &w);
    green_yield();
    ck_assert_msg(!w.done, "the writer's write returned %zd, errno %d (%s), during the reader's flush",
                  w.wr, w.wr_err, strerror(w.wr_err));
    peer_takes(sv[1], filler, expect);
    green_join(t, NULL);
    ck_assert_int_eq(w.wr, N);
    ck_assert_int_eq(w.r, 0);
    green_cancel(r);
    green_join(r, NULL);
    ck_assert_int_eq(l.err, ECANCELED);
    close_and_expect(s, sv[1], "");
    free(expect);
    free(big);
    return NULL;
}

/* The deadline and cancellation end a flush that waits for the reader's:
 * it sends nothing, and what it would have sent stays buffered, to go out
 * once with the next flush. */
GREEN_TEST(flush_waiting_for_reader_cut_short)
{
    (void)arg;
    int sv[2];
    size_t filler = full_socketpair(sv);
    green_stream_t *s = green_stream_open(sv[0], 0);
    ck_assert_int_eq(green_stream_write(s, "req\n", 4), 4);
    struct liner l = {.s = s};
    green_t *r = green_spawn(read_a_line, &l);
    green_yield();  /* the reader parks sending "req\n" */
    ck_assert_int_eq(green_stream_write(s, "more\n", 5), 5);
    int64_t old = green_deadline(green_now());  /* past: no wait at all */
    errno = 0;
    ck_assert_int_eq(green_stream_flush(s), -1);
    ck_assert_msg(errno == ETIMEDOUT, "errno %d (%s)", errno, strerror(errno));
    green_deadline(green_now() + 10);  /* passes while it waits */
    errno = 0;
    ck_assert_int_eq(green_stream_flush(s), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(old);
    struct writer w = {.s = s};
    green_t *t = green_spawn(write_and_flush, &w);
    green_yield();
    ck_assert(!w.done);
    green_cancel(t);
    green_join(t, NULL);
    ck_assert_int_eq(w.r, -1);
    ck_assert_int_eq(w.err, ECANCELED);
    peer_takes(sv[1], filler, "req\n");
    ck_assert_int_eq(green_write(sv[1], "answer\n", 7), 7);
    green_join(r, NULL);
    ck_assert_int_eq(l.r, 7);
    ck_assert_int_eq(green_stream_flush(s), 0);
    close_and_expect(s, sv[1], "more\n");
    return NULL;
}

/* The reader's flush cut short by its cancellation while the writer's
 * flush waits for it: the writer then sends everything left, the reader's
 * request and its own bytes, each once and in order. */
GREEN_TEST(reader_cut_short_leaves_flush_to_writer)
{
    (void)arg;
    int sv[2];
    size_t filler = full_socketpair(sv);
    green_stream_t *s = green_stream_open(sv[0], 0);
    ck_assert_int_eq(green_stream_write(s, "req\n", 4), 4);
    struct liner l = {.s = s};
    green_t *r = green_spawn(read_a_line, &l);
    green_yield();  /* the reader parks sending "req\n" */
    struct writer w = {.s = s, .text = "more\n"};
    green_t *t = green_spawn(write_and_flush, &w);
    green_yield();
    ck_assert_msg(!w.done, "the writer's flush returned %d, errno %d (%s), during the reader's",
                  w.r, w.err, strerror(w.err));
    green_cancel(r);
    green_join(r, NULL);
    ck_assert_int_eq(l.r, -1);
    ck_assert_int_eq(l.err, ECANCELED);
    peer_takes(sv[1], filler, "req\nmore\n");
    green_join(t, NULL);
    ck_assert_int_eq(w.r, 0);
    close_and_expect(s, sv[1], "");
    return NULL;
}

/* The other way round: the writer is in its flush when the reader comes.
 * The reader leaves the sending to it (it would send the same bytes) and
 * goes straight to its read; the peer gets the request once, and the
 * reader its answer. */
struct peer_answer {
    int fd;
    size_t filler;
};

static void *take_request_and_answer(void *arg)
{
    struct peer_answer *p = arg;
    peer_takes(p->fd, p->filler, "req\n");
    ck_assert_int_eq(green_write(p->fd, "x", 1), 1);
    return NULL;
}

GREEN_TEST(reader_leaves_flush_to_writer)
{
    (void)arg;
    int sv[2];
    struct peer_answer p = {.filler = full_socketpair(sv)};
    p.fd = sv[1];
    green_stream_t *s = green_stream_open(sv[0], 0);
    ck_assert_int_eq(green_stream_write(s, "req\n", 4), 4);
    struct writer w = {.s = s};
    green_t *t = green_spawn(write_and_flush, &w);
    green_yield();  /* the writer parks sending "req\n" */
    ck_assert(!w.done);
    green_t *peer = green_spawn(take_request_and_answer, &p);  /* runs once the read parks */
    char c = 0;
    ck_assert_int_eq(green_stream_read(s, &c, 1), 1);
    ck_assert_int_eq(c, 'x');
    green_join(peer, NULL);
    green_join(t, NULL);
    ck_assert_int_eq(w.r, 0);
    close_and_expect(s, sv[1], "");  /* "req\n" went once */
    return NULL;
}

/* Two writers: while the first is in a flush, the second's small write is
 * refused with EBUSY, not taken into the buffer the first is sending; the
 * first's flush, whose bytes all went out, succeeds. */
GREEN_TEST(second_writer_refused_during_flush)
{
    (void)arg;
    int sv[2];
    size_t filler = full_socketpair(sv);
    green_stream_t *s = green_stream_open(sv[0], 0);
    ck_assert_int_eq(green_stream_write(s, "one\n", 4), 4);
    struct writer w = {.s = s};
    green_t *t = green_spawn(write_and_flush, &w);
    green_yield();  /* the first writer parks sending "one\n" */
    errno = 0;
    ssize_t second = green_stream_write(s, "two\n", 4);
    int second_err = errno;
    peer_takes(sv[1], filler, "one\n");
    green_join(t, NULL);
    ck_assert_msg(w.r == 0 && second == -1 && second_err == EBUSY,
                  "the first writer's flush returned %d, errno %d (%s); "
                  "the second writer's small write %zd, errno %d (%s)",
                  w.r, w.err, strerror(w.err), second, second_err, strerror(second_err));
    close_and_expect(s, sv[1], "");
    return NULL;
}

/* A write error sticks to the close too, when nothing is left buffered to
 * meet it again: a large write went straight through and failed. */
GREEN_TEST(close_after_write_error)
{
    (void)arg;
    struct script sc;
    script_init(&sc, "", NULL, 0);
    sc.write_cap = 5000;
    sc.write_err = EPIPE;
    green_stream_t *s = script_stream(&sc, 0);
    static char big[10000];
    ck_assert_int_eq(green_stream_write(s, big, sizeof big), -1);
    ck_assert_int_eq(errno, EPIPE);
    errno = 0;
    int r = green_stream_close(s);
    ck_assert_msg(r == -1 && errno == EPIPE, "the close returned %d, errno %d (%s)", r, errno,
                  strerror(errno));
    ck_assert_int_eq(sc.closes, 1);

    /* Over a socket whose peer went away. */
    int sv[2];
    make_socketpair(sv);
    green_close(sv[1]);
    s = green_stream_open(sv[0], 0);
    ck_assert_int_eq(green_stream_write(s, big, sizeof big), -1);
    ck_assert_int_eq(errno, EPIPE);
    errno = 0;
    r = green_stream_close(s);
    ck_assert_msg(r == -1 && errno == EPIPE, "the close returned %d, errno %d (%s)", r, errno,
                  strerror(errno));
    ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);  /* closed all the same */
    return NULL;
}

/* A peer that went away: EPIPE (not SIGPIPE) from the write that meets it. */
GREEN_TEST(write_to_closed_peer)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    green_close(sv[1]);
    green_stream_t *s = green_stream_open(sv[0], 0);
    ck_assert_int_eq(green_stream_write(s, "x", 1), 1);
    errno = 0;
    ck_assert_int_eq(green_stream_flush(s), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(green_stream_write(s, "y", 1), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(green_stream_close(s), -1);
    ck_assert_int_eq(errno, EPIPE);
    return NULL;
}

/* Random texts in random chunks: the lines read are the lines written;
 * and records cut by random multi-byte delimiters. */
GREEN_TEST(random_chunkings)
{
    (void)arg;
    unsigned seed = 12345;
    enum { LEN = 20000 };
    char *text = malloc(LEN + 1);
    size_t *chunks = malloc(LEN * sizeof *chunks);
    for (int round = 0; round < 40; round++) {
        const char alphabet[] = "ab\n\r";
        for (size_t i = 0; i < LEN; i++)
            text[i] = alphabet[rand_r(&seed) % (round % 2 ? 4 : 3)];
        text[LEN] = 0;
        size_t n = 0;
        for (size_t sum = 0; sum < LEN; n++)
            sum += chunks[n] = 1 + (size_t)rand_r(&seed) % (round < 20 ? 8 : 3000);
        const char *delim = round % 2 ? "\r\n" : "\n";
        if (round % 4 == 3)
            delim = "ab\r";
        size_t dlen = strlen(delim);
        struct script sc;
        script_init(&sc, text, chunks, n);
        green_stream_t *s = script_stream(&sc, 0);
        const char *ref = text;
        char buf[LEN];
        for (;;) {
            ssize_t r = dlen == 1 ? green_stream_readline(s, buf, sizeof buf)
                                  : green_stream_readuntil(s, delim, dlen, buf, sizeof buf);
            const char *hit = strstr(ref, delim);
            if (!hit) {
                /* The tail without a delimiter. */
                size_t tail = strlen(ref);
                if (dlen == 1) {
                    ck_assert_int_eq(r, (ssize_t)tail);
                } else {
                    ck_assert_int_eq(r, tail ? -1 : 0);
                    ck_assert_int_eq(green_stream_read(s, buf, sizeof buf), (ssize_t)tail);
                }
                ck_assert_mem_eq(buf, ref, tail);
                break;
            }
            /* Checked without an assertion that passes: each costs Check a
             * write(2) (its mark point), some 100 000 here, which under
             * Valgrind took 30 s. */
            size_t want = (size_t)(hit - ref) + dlen;
            if (r != (ssize_t)want || memcmp(buf, ref, want) != 0)
                ck_abort_msg("round %d, at byte %zu: read %zd bytes, want the %zu "
                             "up to the delimiter", round, (size_t)(ref - text), r, want);
            ref += want;
        }
        green_stream_close(s);
    }
    free(chunks);
    free(text);
    return NULL;
}

/* Bad input: a clear error, nothing lost. */
GREEN_TEST(bad_input)
{
    (void)arg;
    char buf[4];
    errno = 0;
    ck_assert_ptr_null(green_stream_open(-1, 0));
    ck_assert_int_eq(errno, EBADF);
    int p[2];
    make_pipe(p);
    close(p[1]);
    errno = 0;
    ck_assert_ptr_null(green_stream_open(p[1], 0));
    ck_assert_int_eq(errno, EBADF);
    errno = 0;
    ck_assert_ptr_null(green_stream_open(p[0], (size_t)SSIZE_MAX + 1));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(green_stream_open_io(NULL, NULL, 0));
    ck_assert_int_eq(errno, EINVAL);
    green_stream_io_t half = {script_read, NULL, NULL}, other_half = {NULL, script_write, NULL};
    ck_assert_ptr_null(green_stream_open_io(&half, NULL, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(green_stream_open_io(&other_half, NULL, 0));
    ck_assert_int_eq(errno, EINVAL);

    ck_assert_int_eq(green_stream_read(NULL, buf, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_stream_readline(NULL, buf, 1), -1);
    ck_assert_int_eq(green_stream_readexactly(NULL, buf, 1), -1);
    ck_assert_int_eq(green_stream_write(NULL, buf, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_stream_flush(NULL), -1);
    ck_assert_int_eq(green_stream_close(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_stream_consume(NULL, 0), -1);
    ck_assert_int_eq(green_stream_fd(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_uint_eq(green_stream_buffered(NULL), 0);

    struct script sc;
    script_init(&sc, "abc\n", NULL, 0);
    green_stream_io_t no_close = {script_read, script_write, NULL};
    green_stream_t *s = green_stream_open_io(&no_close, &sc, 0);
    errno = 0;
    ck_assert_int_eq(green_stream_fd(s), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_stream_readuntil(s, NULL, 1, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_stream_readuntil(s, "\n", 0, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_stream_read(s, NULL, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_stream_write(s, NULL, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_stream_write(s, buf, (size_t)SSIZE_MAX + 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_stream_read(s, buf, (size_t)SSIZE_MAX + 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_stream_readuntil(NULL, "\n", 1, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_stream_read(s, buf, 0), 0);
    ck_assert_int_eq(green_stream_read(s, NULL, 0), 0);
    ck_assert_int_eq(green_stream_readexactly(s, NULL, 0), 0);
    ck_assert_int_eq(sc.reads, 0);
    ck_assert_line(s, green_stream_readline, "abc\n");  /* nothing was lost */
    ck_assert_int_eq(green_stream_close(s), 0);
    green_close(p[0]);
    return NULL;
}

/* Outside green_run a stream is a plain buffered stream. */
START_TEST(stream_outside_run)
{
    int p[2];
    make_pipe(p);
    green_stream_t *w = green_stream_open(p[1], 0), *r = green_stream_open(p[0], 0);
    ck_assert_int_eq(green_stream_write(w, "one\ntwo\n", 8), 8);
    ck_assert_int_eq(green_stream_close(w), 0);
    ck_assert_line(r, green_stream_readline, "one\n");
    ck_assert_line(r, green_stream_readline, "two\n");
    char buf[4];
    ck_assert_int_eq(green_stream_readline(r, buf, sizeof buf), 0);
    ck_assert_int_eq(green_stream_close(r), 0);
}
END_TEST

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

/* A stream that cannot be allocated, a buffer that cannot grow for a long
 * line (nothing is lost: the line is there once memory is), and one that
 * cannot shrink back (it stays large, and works). */
GREEN_TEST(stream_enomem)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    /* The poller's records of the two fds are made first: they are the
     * scheduler's, and stay. */
    char c;
    ck_assert_int_eq(green_write(sv[1], "w", 1), 1);
    ck_assert_int_eq(green_read(sv[0], &c, 1), 1);
    struct green__fault_books before = green__fault_books();
    for (unsigned long nth = 1; nth <= 2; nth++) {
        green__fault_set(GREEN__FAULT_malloc, nth, false, ENOMEM);
        errno = 0;
        ck_assert_ptr_null(green_stream_open(sv[0], 0));
        ck_assert_int_eq(errno, ENOMEM);
        ck_assert_int_eq(green__fault_books().blocks, before.blocks);
    }
    green__fault_clear();
    green_stream_t *s = green_stream_open(sv[0], 0);
    ck_assert_ptr_nonnull(s);
    static char line[9000], buf[9000];
    memset(line, 'y', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    ck_assert_int_eq(green_write(sv[1], line, sizeof line), sizeof line);
    green__fault_set(GREEN__FAULT_realloc, 1, false, ENOMEM);
    errno = 0;
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_set(GREEN__FAULT_realloc, 2, false, ENOMEM);  /* the shrink */
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), sizeof line);
    ck_assert_mem_eq(buf, line, sizeof line);
    green__fault_clear();
    ck_assert_int_eq(green_write(sv[1], "z\n", 2), 2);
    ck_assert_int_eq(green_stream_readline(s, buf, sizeof buf), 2);
    /* A counted read the buffer cannot grow for: nothing lost either. */
    ck_assert_int_eq(green_write(sv[1], line, sizeof line), sizeof line);
    green__fault_set(GREEN__FAULT_realloc, 1, false, ENOMEM);
    errno = 0;
    ck_assert_int_eq(green_stream_readexactly(s, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green_stream_readexactly(s, buf, sizeof buf), sizeof buf);
    ck_assert_mem_eq(buf, line, sizeof buf);
    ck_assert_int_eq(green_stream_close(s), 0);
    green_close(sv[1]);
    ck_assert_int_eq(green__fault_books().blocks, before.blocks);
    return NULL;
}
#endif

Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");
    tcase_add_test(tc, readline_pipelined_costs_one_read);
    tcase_add_test(tc, delimiter_split_everywhere);
    tcase_add_test(tc, line_limits);
    tcase_add_test(tc, end_of_file);
    tcase_add_test(tc, readexactly_large);
    tcase_add_test(tc, peek_and_consume);
    tcase_add_test(tc, writes_are_buffered);
    tcase_add_test(tc, write_error_sticks);
    tcase_add_test(tc, write_timeout_does_not_stick);
    tcase_add_test(tc, read_after_unsendable_write);
    tcase_add_test(tc, large_write_error);
    tcase_add_test(tc, peek_edges);
    tcase_add_test(tc, deadline_and_cancel_mid_line);
    tcase_add_test(tc, request_reply_without_flush);
    tcase_add_test(tc, write_to_closed_peer);
    tcase_add_test(tc, second_writer_busy);
    tcase_add_test(tc, reader_flush_meets_small_write);
    tcase_add_test(tc, flush_waits_for_readers_flush);
    tcase_add_test(tc, large_write_waits_for_readers_flush);
    tcase_add_test(tc, flush_waiting_for_reader_cut_short);
    tcase_add_test(tc, reader_cut_short_leaves_flush_to_writer);
    tcase_add_test(tc, reader_leaves_flush_to_writer);
    tcase_add_test(tc, second_writer_refused_during_flush);
    tcase_add_test(tc, close_after_write_error);
    tcase_add_test(tc, random_chunkings);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, stream_outside_run);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, stream_enomem);
    suite_add_tcase(s, faults);
    return s;
}
