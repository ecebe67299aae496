/*
 * Buffered streams: a read buffer that lines, delimited records and
 * counted reads are cut from, and a write buffer that small writes
 * gather in, over an fd or any transport shaped like green_read and
 * green_write.
 *
 * The one rule is that nothing is lost.  Bytes the transport gave stay
 * in the read buffer until a call hands them out, so a call cut short
 * (end of file, the deadline, cancellation, a line too long) leaves them
 * for the next one; bytes a write accepted stay in the write buffer
 * until the transport took them.
 *
 * The read buffer holds rbuf[rpos, rpos + rlen).  It starts at BUF_SIZE,
 * grows to hold what one call needs (a line up to the limit, a counted
 * read) and shrinks back once it has been emptied.
 *
 * One green thread may read while another writes, and the write buffer
 * is sent from both sides: by the writer, and by the reader before it
 * waits for an answer.  So "a writing call is under way" (writing: a
 * second writer is refused) is kept apart from "the write buffer is being
 * sent" (draining: no one else sends from it).  A drain sends the bytes
 * that were buffered when it began; a small write that comes meanwhile
 * appends behind them, which is safe because only a drain moves the
 * buffer.  The writer waits for the reader's drain to end before it
 * sends; the reader leaves the buffer alone while the writer sends.
 *
 * This file's fcntl goes through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "green.h"
#include "fail.h"
#include "wait.h"  /* the writer's wait for the reader's drain */
#include "fault.h"  /* last: in a test build it turns calls into fault points */

enum { BUF_SIZE = 4096, LIMIT_DEFAULT = 64 * 1024 };

struct green_stream {
    const green_stream_io_t *io;
    void *ctx;
    int fd;                     /* -1 for a stream over an io */
    size_t limit;
    char *rbuf;
    size_t rcap, rpos, rlen;
    char *wbuf;
    size_t wlen;
    int werr;                   /* a write error: every later write fails with it */
    bool reading;               /* a reading call is under way */
    /* A writing call is under way: another writing call, even a write
     * that would only append, fails with EBUSY, so that bytes a call
     * reports on are the only ones it sends. */
    bool writing;
    /* wbuf's front is being sent, by the reader (send_first) or the
     * writer: no one else sends from it or moves it, and writes only
     * append. */
    bool draining;
    struct green__list drained; /* the writer, waiting for the reader's drain */
};

/* The fd transport: green_read and green_write on the fd in ctx. */
static ssize_t fd_read(void *ctx, void *buf, size_t n)
{
    return green_read((int)(intptr_t)ctx, buf, n);
}

static ssize_t fd_write(void *ctx, const void *buf, size_t n)
{
    return green_write((int)(intptr_t)ctx, buf, n);
}

static int fd_close(void *ctx)
{
    return green_close((int)(intptr_t)ctx);
}

static const green_stream_io_t fd_io = {fd_read, fd_write, fd_close};

/* The transport's calls are written (s->io->read)(...): in a test build
 * read and write are macros (lib/fault.h), which must not touch them. */

static green_stream_t *open_stream(const green_stream_io_t *io, void *ctx, int fd,
                                   size_t limit)
{
    if (limit > SSIZE_MAX) {
        errno = EINVAL;
        return NULL;
    }
    green_stream_t *s = malloc(sizeof *s + BUF_SIZE);
    char *rbuf = malloc(BUF_SIZE);
    if (!s || !rbuf) {
        free(s);
        free(rbuf);
        errno = ENOMEM;
        return NULL;
    }
    *s = (green_stream_t){.io = io, .ctx = ctx, .fd = fd, .rbuf = rbuf, .rcap = BUF_SIZE,
                          .wbuf = (char *)(s + 1), .limit = limit ? limit : LIMIT_DEFAULT};
    return s;
}

green_stream_t *green_stream_open(int fd, size_t limit)
{
    if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
        errno = EBADF;
        return NULL;
    }
    return open_stream(&fd_io, (void *)(intptr_t)fd, fd, limit);
}

green_stream_t *green_stream_open_io(const green_stream_io_t *io, void *ctx, size_t limit)
{
    if (!io || !io->read || !io->write) {
        errno = EINVAL;
        return NULL;
    }
    return open_stream(io, ctx, -1, limit);
}

int green_stream_fd(const green_stream_t *s)
{
    if (!s || s->fd < 0)
        return green__fail(s ? EBADF : EINVAL);
    return s->fd;
}

size_t green_stream_buffered(const green_stream_t *s)
{
    return s ? s->rlen : 0;
}

/* Writing.  A write error other than the deadline or cancellation, which
 * say nothing about the connection, sticks. */

static bool sticks(int err)
{
    return err != ETIMEDOUT && err != ECANCELED && err != EINTR && err != EAGAIN;
}

/* Writes n bytes through the transport: n, or fewer with errno saying
 * why.  A write error sticks to the stream. */
static size_t put(green_stream_t *s, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = (s->io->write)(s->ctx, p + done, n - done);
        if (r <= 0) {
            if (r == 0)
                errno = EIO;  /* a transport that takes nothing and says nothing */
            if (sticks(errno))
                s->werr = errno;
            break;
        }
        done += (size_t)r;
    }
    return done;
}

/* Sends the bytes buffered when it begins: 0 once they all went out, or
 * -1.  What the transport did not take stays buffered at the front, and
 * what a write appended while it was parked stays behind that.  The
 * caller has made sure that no one else is draining. */
static int drain(green_stream_t *s)
{
    if (s->werr)
        return green__fail(s->werr);
    size_t n = s->wlen;
    s->draining = true;
    size_t done = put(s, s->wbuf, n);
    int err = done < n ? errno : 0;
    s->draining = false;
    s->wlen -= done;
    memmove(s->wbuf, s->wbuf + done, s->wlen);
    green__queue_wake_all(&s->drained, 0);
    return err ? green__fail(err) : 0;
}

static void drain_describe(const struct green__wait *w, char *buf, size_t n)
{
    snprintf(buf, n, "the reader's flush of stream %p", green__queued_of(w)->obj);
}

static const struct green__waitop drain_op = {
    .unlink = green__queue_unlink,
    .describe = drain_describe,
    .kind = GREEN__WAIT_IO,
};

/* The writer's drain: first waits, under the caller's deadline and
 * cancellation, for the reader's drain to end (the writer is the only
 * other party that drains, so only the reader's can be under way).  The
 * reader may start another before the writer runs again, hence the loop.
 * 0 or -1; cut short while waiting, it has sent nothing. */
static int writer_drain(green_stream_t *s)
{
    while (s->draining) {
        int err = green__queue_wait(&s->drained, &drain_op, s);
        if (err < 0)
            return green__fail(-err);
    }
    return drain(s);
}

/* Claims one side of the stream for the call: 0, or -1/EBUSY when another
 * green thread is in a call on that side (one may read while another
 * writes; two readers or two writers need a lock of their own). */
static int claim(bool *side)
{
    if (*side)
        return green__fail(EBUSY);
    *side = true;
    return 0;
}

/* Takes n bytes into the buffer, which has room for them.  A drain may be
 * parked sending the buffer's front: appending does not disturb it. */
static ssize_t append(green_stream_t *s, const void *buf, size_t n)
{
    if (n)  /* buf may be NULL then */
        memcpy(s->wbuf + s->wlen, buf, n);
    s->wlen += n;
    return (ssize_t)n;
}

/* A write that does not fit behind what is buffered: the buffer is sent
 * first; then the write is buffered when it is smaller than the buffer,
 * else sent straight on. */
static ssize_t write_through(green_stream_t *s, const void *buf, size_t n)
{
    if (writer_drain(s) < 0)
        return -1;
    /* The buffer is empty now: the drain sent all it held, and no write
     * appended meanwhile, since this call holds the writing side. */
    if (n < BUF_SIZE)
        return append(s, buf, n);
    size_t done = put(s, buf, n);
    /* Cut short by the deadline or cancellation: the count taken, as
     * green_write says it; by a write error, that error. */
    return done == n || (done && !s->werr) ? (ssize_t)done : -1;
}

ssize_t green_stream_write(green_stream_t *s, const void *buf, size_t n)
{
    if (!s || (!buf && n) || n > SSIZE_MAX)
        return green__fail(EINVAL);
    if (s->werr)
        return green__fail(s->werr);
    if (claim(&s->writing) < 0)
        return -1;
    ssize_t r = n <= BUF_SIZE - s->wlen ? append(s, buf, n) : write_through(s, buf, n);
    s->writing = false;
    return r;
}

int green_stream_flush(green_stream_t *s)
{
    if (!s)
        return green__fail(EINVAL);
    if (claim(&s->writing) < 0)
        return -1;
    int r = writer_drain(s);
    s->writing = false;
    return r;
}

/* Reading. */

static void consume(green_stream_t *s, size_t n)
{
    s->rpos += n;
    s->rlen -= n;
    if (s->rlen)
        return;
    s->rpos = 0;
    /* Emptied after a long record: back to the usual size. */
    if (s->rcap > BUF_SIZE) {
        char *small = realloc(s->rbuf, BUF_SIZE);
        if (small) {
            s->rbuf = small;
            s->rcap = BUF_SIZE;
        }
    }
}

/* Makes room at the end of the buffer for the next read: moves what is
 * buffered to the front, or, when it fills the buffer, grows the buffer
 * to want bytes.  Every caller reads only to have more than is buffered,
 * so a full buffer holds fewer than want.  0 or -1/ENOMEM. */
static int make_room(green_stream_t *s, size_t want)
{
    if (s->rpos + s->rlen < s->rcap)
        return 0;
    if (s->rpos) {
        memmove(s->rbuf, s->rbuf + s->rpos, s->rlen);
        s->rpos = 0;
        return 0;
    }
    char *big = realloc(s->rbuf, want);
    if (!big)
        return green__fail(ENOMEM);
    s->rbuf = big;
    s->rcap = want;
    return 0;
}

/* Before a read that goes to the transport, the writes buffered so far
 * are sent, so that a request waiting in the buffer is never the reason
 * its answer does not come; a write error there is kept for the next
 * write, and the read goes on.  When the writer is sending the buffer
 * already, the read leaves it to the writer.  0, or -1. */
static int send_first(green_stream_t *s)
{
    if (!s->wlen || s->draining)
        return 0;
    int r = drain(s);
    /* The deadline or cancellation: the read would meet it too. */
    return r < 0 && !s->werr ? -1 : 0;
}

/* Reads once more into the buffer, for a caller that wants want bytes
 * buffered in all: the count read, 0 at end of file, or -1. */
static ssize_t fill(green_stream_t *s, size_t want)
{
    if (send_first(s) < 0)
        return -1;
    if (make_room(s, want) < 0)
        return -1;
    size_t end = s->rpos + s->rlen;
    ssize_t r = (s->io->read)(s->ctx, s->rbuf + end, s->rcap - end);
    if (r > 0)
        s->rlen += (size_t)r;
    return r;
}

/* What a read call returns: r, having given the reading side back. */
static ssize_t done_reading(green_stream_t *s, ssize_t r)
{
    s->reading = false;
    return r;
}

static int start_reading(green_stream_t *s, const void *buf, size_t n)
{
    if (!s || (!buf && n) || n > SSIZE_MAX)
        return green__fail(EINVAL);
    return claim(&s->reading);
}

static ssize_t hand_out(green_stream_t *s, void *buf, size_t n)
{
    if (n)  /* buf may be NULL then */
        memcpy(buf, s->rbuf + s->rpos, n);
    consume(s, n);
    return (ssize_t)n;
}

ssize_t green_stream_read(green_stream_t *s, void *buf, size_t n)
{
    if (start_reading(s, buf, n) < 0)
        return -1;
    if (!s->rlen && n) {
        /* Nothing buffered: a large read goes straight to the caller. */
        if (n >= BUF_SIZE)
            return done_reading(s, send_first(s) < 0 ? -1 : (s->io->read)(s->ctx, buf, n));
        ssize_t r = fill(s, 0);
        if (r <= 0)
            return done_reading(s, r);
    }
    return done_reading(s, hand_out(s, buf, n < s->rlen ? n : s->rlen));
}

ssize_t green_stream_readexactly(green_stream_t *s, void *buf, size_t n)
{
    if (start_reading(s, buf, n) < 0)
        return -1;
    while (s->rlen < n) {
        ssize_t r = fill(s, n);
        if (r < 0)
            return done_reading(s, -1);
        if (r == 0) {
            if (!s->rlen)
                return done_reading(s, 0);
            errno = ENODATA;
            return done_reading(s, -1);
        }
    }
    return done_reading(s, hand_out(s, buf, n));
}

/* Where delim ends in the buffer's first len bytes, searching from from:
 * the length of the record through it, or 0. */
static size_t find(const green_stream_t *s, size_t from, size_t len,
                   const void *delim, size_t dlen)
{
    const char *p = s->rbuf + s->rpos, *hit;
    if (dlen == 1)
        hit = memchr(p + from, *(const char *)delim, len - from);
    else
        hit = memmem(p + from, len - from, delim, dlen);
    return hit ? (size_t)(hit - p) + dlen : 0;
}

/* A record up to and including delim, at most cap bytes long; at end of
 * file after some bytes, what there is when partial_ok, else ENODATA. */
static ssize_t until(green_stream_t *s, const void *delim, size_t dlen, void *buf,
                     size_t n, bool partial_ok)
{
    size_t cap = n < s->limit ? n : s->limit, from = 0;
    for (;;) {
        size_t len = s->rlen < cap ? s->rlen : cap;
        size_t found = len >= dlen ? find(s, from, len, delim, dlen) : 0;
        if (found)
            return hand_out(s, buf, found);
        if (len == cap)
            return green__fail(EMSGSIZE);
        from = len >= dlen ? len - dlen + 1 : 0;
        ssize_t r = fill(s, cap);
        if (r < 0)
            return -1;
        if (r == 0) {
            if (!s->rlen || partial_ok)
                return hand_out(s, buf, s->rlen);
            return green__fail(ENODATA);
        }
    }
}

ssize_t green_stream_readuntil(green_stream_t *s, const void *delim, size_t dlen,
                               void *buf, size_t n)
{
    if (!delim || !dlen)
        return green__fail(EINVAL);
    if (start_reading(s, buf, n) < 0)
        return -1;
    return done_reading(s, until(s, delim, dlen, buf, n, false));
}

ssize_t green_stream_readline(green_stream_t *s, char *buf, size_t n)
{
    if (start_reading(s, buf, n) < 0)
        return -1;
    return done_reading(s, until(s, "\n", 1, buf, n, true));
}

ssize_t green_stream_peek(green_stream_t *s, const void **data, size_t want)
{
    if (!data || start_reading(s, NULL, 0) < 0)
        return -1;
    if (want > s->limit && want > s->rlen) {
        errno = EMSGSIZE;
        return done_reading(s, -1);
    }
    while (s->rlen < want) {
        ssize_t r = fill(s, want);
        if (r < 0)
            return done_reading(s, -1);
        if (r == 0)
            break;
    }
    *data = s->rbuf + s->rpos;
    return done_reading(s, (ssize_t)s->rlen);
}

int green_stream_consume(green_stream_t *s, size_t n)
{
    if (!s || n > s->rlen)
        return green__fail(EINVAL);
    if (claim(&s->reading) < 0)
        return -1;
    consume(s, n);
    s->reading = false;
    return 0;
}

/* Closing: what is buffered is sent, the transport closed and the stream
 * freed, whatever fails; the first failure is the call's.  A write error
 * met before is a failure of the close too, whether or not anything is
 * left to send: the close is where a caller that ignored it learns that
 * its bytes did not all go out. */
int green_stream_close(green_stream_t *s)
{
    if (!s)
        return green__fail(EINVAL);
    if (s->reading || s->writing)
        return green__fail(EBUSY);
    int err = 0;
    if (drain(s) < 0)  /* with nothing buffered, just the write error */
        err = errno;
    if (s->io->close && (s->io->close)(s->ctx) < 0 && !err)
        err = errno;
    free(s->rbuf);
    free(s);
    return err ? green__fail(err) : 0;
}
