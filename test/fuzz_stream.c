/*
 * A fuzz target for the stream reader (make fuzz): the input chooses a
 * text, how the transport cuts it into reads, a delimiter, a limit and a
 * sequence of reading calls; the target checks that the calls hand out
 * the text exactly, in order, nothing lost or repeated, and that each
 * answer is what the call promises (a record ends with its delimiter and
 * holds no earlier one, a counted read is whole, EMSGSIZE and ENODATA
 * consume nothing).
 *
 * Built with clang's libFuzzer when it is there; otherwise with
 * GREEN_FUZZ_DRIVER, a main of its own that feeds random inputs for the
 * seconds it is given.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "green.h"

struct feed {
    const uint8_t *text;
    size_t len, pos;
    const uint8_t *cuts;    /* read sizes, one byte each, cycled */
    size_t ncuts, step;
};

static ssize_t feed_read(void *ctx, void *buf, size_t n)
{
    struct feed *f = ctx;
    size_t k = f->len - f->pos;
    if (f->ncuts) {
        size_t cut = (size_t)f->cuts[f->step++ % f->ncuts] % 64 + 1;
        k = k < cut ? k : cut;
    }
    k = k < n ? k : n;
    memcpy(buf, f->text + f->pos, k);
    f->pos += k;
    return (ssize_t)k;
}

static ssize_t feed_write(void *ctx, const void *buf, size_t n)
{
    (void)ctx;
    (void)buf;
    return (ssize_t)n;
}

static const green_stream_io_t feed_io = {feed_read, feed_write, NULL};

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_stream: %s\n", what);
        abort();
    }
}

/* Whether delim occurs in p[0, n). */
static int holds(const uint8_t *p, size_t n, const uint8_t *delim, size_t dlen)
{
    return n >= dlen && memmem(p, n, delim, dlen) != NULL;
}

/* The input: [limit][dlen][delim...][ncuts][cuts...][nops][ops...] text. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t limit = (size_t)data[0] % 48 + 1, dlen = (size_t)data[1] % 4 + 1;
    const uint8_t *p = data + 2, *end = data + size;
    if ((size_t)(end - p) < dlen + 2)
        return 0;
    const uint8_t *delim = p;
    p += dlen;
    size_t ncuts = *p++ % 16;
    if ((size_t)(end - p) < ncuts + 1)
        return 0;
    const uint8_t *cuts = p;
    p += ncuts;
    size_t nops = *p++ % 32 + 1;
    if ((size_t)(end - p) < nops)
        return 0;
    const uint8_t *ops = p;
    p += nops;
    struct feed f = {p, (size_t)(end - p), 0, cuts, ncuts, 0};
    green_stream_t *s = green_stream_open_io(&feed_io, &f, limit);
    check(s != NULL, "open failed");

    size_t out = 0;  /* the text handed out so far */
    uint8_t buf[128];
    for (size_t i = 0; i < 4 * nops + 64 && out <= f.len; i++) {
        uint8_t op = ops[i % nops];
        size_t n = (size_t)(op >> 3) % 64;
        size_t before = green_stream_buffered(s);
        ssize_t r;
        const void *peeked;
        switch (op & 7) {
        case 0:
        case 1:
            r = green_stream_readuntil(s, delim, dlen, buf, n);
            if (r > 0)
                check((size_t)r >= dlen && !memcmp(buf + r - dlen, delim, dlen) &&
                          !holds(buf, (size_t)r - 1, delim, dlen),
                      "readuntil: not one record ending with the delimiter");
            break;
        case 2:
            r = green_stream_readline(s, (char *)buf, n);
            if (r > 0)
                check(!memchr(buf, '\n', (size_t)r - 1), "readline: a newline inside");
            break;
        case 3:
            r = green_stream_readexactly(s, buf, n);
            check(r < 0 || r == (ssize_t)n || (r == 0 && f.pos == f.len),
                  "readexactly: a short count");
            break;
        case 4:
            r = green_stream_peek(s, &peeked, n);
            check(r < 0 || (size_t)r >= n || f.pos == f.len, "peek: fewer than wanted");
            if (r > 0) {
                check(!memcmp(peeked, f.text + out, (size_t)r), "peek: the wrong bytes");
                size_t k = (size_t)r < n ? (size_t)r : n;
                check(green_stream_consume(s, k) == 0, "consume failed");
                out += k;
            }
            r = 0;  /* already counted */
            break;
        default:
            r = green_stream_read(s, buf, n);
            break;
        }
        if (r < 0) {
            check(errno == EMSGSIZE || errno == ENODATA, "an unexpected errno");
            check(green_stream_buffered(s) >= before, "a failed call consumed bytes");
            /* What it left is still there: take one byte of it. */
            if (green_stream_read(s, buf, 1) == 1) {
                check(buf[0] == f.text[out], "the wrong byte after a failure");
                out++;
            }
            continue;
        }
        if ((op & 7) != 4) {
            check(out + (size_t)r <= f.len && !memcmp(buf, f.text + out, (size_t)r),
                  "bytes out of order");
            out += (size_t)r;
        }
    }
    /* Drain: together, everything handed out is the text. */
    ssize_t r;
    while ((r = green_stream_read(s, buf, sizeof buf)) > 0) {
        check(out + (size_t)r <= f.len && !memcmp(buf, f.text + out, (size_t)r),
              "bytes out of order at the end");
        out += (size_t)r;
    }
    check(r == 0 && out == f.len, "bytes lost");
    check(green_stream_close(s) == 0, "close failed");
    return 0;
}

#ifdef GREEN_FUZZ_DRIVER
#include <time.h>

/* Random inputs for argv[1] seconds (10 by default). */
int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    unsigned seed = (unsigned)time(NULL);
    printf("fuzz_stream: random inputs for %.0f s, seed %u\n", seconds, seed);
    srand(seed);
    static uint8_t in[4096];
    long runs = 0;
    time_t stop = time(NULL) + (time_t)seconds;
    while (time(NULL) < stop) {
        for (int k = 0; k < 1000; k++, runs++) {
            size_t n = (size_t)rand() % sizeof in;
            for (size_t i = 0; i < n; i++) {
                int c = rand();
                /* Mostly a few letters and the delimiters' bytes. */
                in[i] = (uint8_t)(c % 3 ? "ab\n\r"[c % 4] : c >> 8);
            }
            LLVMFuzzerTestOneInput(in, n);
        }
    }
    printf("fuzz_stream: %ld inputs, all held\n", runs);
    return 0;
}
#endif
