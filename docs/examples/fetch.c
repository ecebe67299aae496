/*
 * Fetches several URLs at once, a green thread each, and gathers the
 * pages: what asyncio users write with aiohttp and asyncio.gather, in C,
 * with a small HTTP/1.1 GET over green_tcp_connect and a buffered stream.
 *
 *   cc fetch.c $(pkg-config --cflags --libs green) -o fetch
 *   ./fetch http://127.0.0.1:8080/ http://localhost:8080/other ...
 *
 * Each fetch has 10 seconds (a deadline, which covers resolving the name,
 * connecting and reading), and fails on its own without stopping the rest.
 */
#include <errno.h>
#include <green.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct page {
    const char *url;
    int status;          /* the HTTP status, or 0 when the fetch failed */
    char *body;          /* malloc'd */
    size_t length;
    const char *error;   /* why it failed */
};

/* Splits http://host[:port][/path]; 0 or -1. */
static int parse_url(const char *url, char *host, size_t hostcap, char *port,
                     const char **path)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *end = h + strcspn(h, ":/");
    if (end == h || (size_t)(end - h) >= hostcap)
        return -1;
    memcpy(host, h, (size_t)(end - h));
    host[end - h] = '\0';
    strcpy(port, "80");
    if (*end == ':') {
        size_t n = strspn(end + 1, "0123456789");
        if (n == 0 || n > 5)
            return -1;
        memcpy(port, end + 1, n);
        port[n] = '\0';
        end += 1 + n;
    }
    *path = *end == '/' ? end : "/";
    return 0;
}

enum { BODY_MAX = 16 << 20 };

/* A body of unknown length: read to the end of the connection. */
static char *read_to_end(green_stream_t *s, size_t *length)
{
    size_t cap = 16384, got = 0;
    char *body = malloc(cap + 1);
    ssize_t n = 1;
    while (body && got <= BODY_MAX && (n = green_stream_read(s, body + got, cap - got)) > 0) {
        got += (size_t)n;
        char *bigger = got == cap ? realloc(body, (cap *= 2) + 1) : body;
        if (!bigger)
            free(body);
        body = bigger;
    }
    if (!body || n < 0 || got > BODY_MAX) {
        free(body);
        return NULL;
    }
    *length = got;
    return body;
}

/* Reads the response: the status line and the headers a line at a time,
 * then the body by its Content-Length, or to the end of the connection. */
static int read_response(green_stream_t *s, struct page *p)
{
    char line[2048];
    ssize_t n = green_stream_readline(s, line, sizeof line - 1);
    if (n <= 0) {
        p->error = n == 0 ? "no answer" : NULL;  /* NULL: errno says */
        return -1;
    }
    line[n] = '\0';
    if (sscanf(line, "HTTP/1.%*d %d", &p->status) != 1) {
        p->error = "not an HTTP answer";
        return -1;
    }
    size_t want = SIZE_MAX;
    while ((n = green_stream_readline(s, line, sizeof line - 1)) > 0) {
        line[n] = '\0';
        if (strcmp(line, "\r\n") == 0 || strcmp(line, "\n") == 0)
            break;  /* the blank line: the body follows */
        if (strncasecmp(line, "Content-Length:", 15) == 0)
            want = strtoul(line + 15, NULL, 10);
    }
    if (n <= 0) {
        p->error = n == 0 ? "no complete header" : NULL;
        return -1;
    }
    if (want == SIZE_MAX) {
        p->body = read_to_end(s, &p->length);
        p->error = p->body ? NULL : "the body could not be read";
        return p->body ? 0 : -1;
    }
    if (want > BODY_MAX || !(p->body = malloc(want + 1))) {
        p->error = "the body is too large";
        return -1;
    }
    n = green_stream_readexactly(s, p->body, want);
    if (n < 0 || (size_t)n < want) {
        p->error = n < 0 && errno != ENODATA ? NULL : "the connection ended early";
        return -1;
    }
    p->body[want] = '\0';
    p->length = want;
    return 0;
}

static void *fetch(void *arg)
{
    struct page *p = arg;
    char host[256], port[8], request[1024];
    const char *path;
    if (parse_url(p->url, host, sizeof host, port, &path) < 0) {
        p->error = "not an http:// URL this client understands";
        return p;
    }
    green_deadline(green_now() + 10000);
    int fd = green_tcp_connect(host, port);
    green_stream_t *s = fd < 0 ? NULL : green_stream_open(fd, 0);
    if (!s) {
        p->error = strerror(errno);
        if (fd >= 0)
            green_close(fd);
        return p;
    }
    int len = snprintf(request, sizeof request,
                       "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
    /* The request waits in the stream's buffer; the first read sends it. */
    if (len >= (int)sizeof request || green_stream_write(s, request, (size_t)len) < 0)
        p->error = "could not send the request";
    else if (read_response(s, p) < 0 && !p->error)
        p->error = strerror(errno);
    green_stream_close(s);
    return p;
}

struct job {
    int n;
    char **urls;
};

static void *fetch_all(void *arg)
{
    struct job *job = arg;
    struct page *pages = calloc((size_t)job->n, sizeof *pages);
    green_t **threads = calloc((size_t)job->n, sizeof *threads);
    int64_t start = green_now();
    for (int i = 0; i < job->n; i++) {
        pages[i].url = job->urls[i];
        threads[i] = green_spawn(fetch, &pages[i]);
    }
    green_gather(threads, (size_t)job->n, NULL);  /* like asyncio.gather */
    int ok = 0;
    for (int i = 0; i < job->n; i++) {
        struct page *p = &pages[i];
        if (p->error)
            printf("%s -> failed: %s\n", p->url, p->error);
        else
            printf("%s -> %d, %zu bytes: %.40s\n", p->url, p->status, p->length, p->body);
        ok += !p->error;
        free(p->body);
    }
    printf("%d of %d fetched in %lld ms\n", ok, job->n, (long long)(green_now() - start));
    free(threads);
    free(pages);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s http://host:port/path ...\n", argv[0]);
        return 2;
    }
    struct job job = {argc - 1, argv + 1};
    if (green_run(fetch_all, &job) < 0) {
        perror("green_run");
        return 1;
    }
    return 0;
}
