/*
 * Fetches several URLs at once, a green thread each, and gathers the
 * pages: what asyncio users write with aiohttp and asyncio.gather, in C,
 * with a small HTTP/1.1 GET over green_tcp_connect.
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

/* Writes all of buf; -1 on error. */
static int write_all(int fd, const char *buf, size_t n)
{
    return green_write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

/* Reads the response: headers up to the blank line, then the body by its
 * Content-Length, or to the end of the connection. */
static int read_response(int fd, struct page *p)
{
    size_t cap = 16384, have = 0;
    char *buf = malloc(cap + 1), *body = NULL;
    ssize_t n;
    while (buf && !body && (n = green_read(fd, buf + have, cap - have)) > 0) {
        have += (size_t)n;
        buf[have] = '\0';
        body = strstr(buf, "\r\n\r\n");
        if (!body && have == cap)
            break;  /* headers too long for this small client */
    }
    if (!body) {
        p->error = buf ? "no complete header" : "out of memory";
        free(buf);
        return -1;
    }
    body += 4;
    p->status = atoi(buf + strcspn(buf, " "));
    const char *cl = strstr(buf, "Content-Length:");
    size_t want = cl && cl < body ? strtoul(cl + 15, NULL, 10) : SIZE_MAX;
    size_t got = have - (size_t)(body - buf);
    size_t room = want == SIZE_MAX ? cap : want + 1;
    if (got > room - 1)
        got = room - 1;
    p->body = malloc(room);
    if (p->body)
        memcpy(p->body, body, got);
    free(buf);
    if (!p->body) {
        p->error = "out of memory";
        return -1;
    }
    while (got < want && got < room - 1 && (n = green_read(fd, p->body + got, room - 1 - got)) > 0)
        got += (size_t)n;
    p->body[got] = '\0';
    p->length = got;
    if (want != SIZE_MAX && got < want) {
        p->error = "the connection ended early";
        return -1;
    }
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
    if (fd < 0) {
        p->error = strerror(errno);
        return p;
    }
    int len = snprintf(request, sizeof request,
                       "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
    if (len >= (int)sizeof request || write_all(fd, request, (size_t)len) < 0)
        p->error = "could not send the request";
    else if (read_response(fd, p) < 0 && !p->error)
        p->error = strerror(errno);
    green_close(fd);
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
