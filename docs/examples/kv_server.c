/*
 * A small key-value server that speaks the Redis protocol (RESP): PING,
 * ECHO, SET, GET, INCR, DEL, EXISTS and DBSIZE, a green thread per
 * connection, on buffered streams.  redis-cli and redis-benchmark talk to
 * it; pipelined commands are answered in order and their answers sent
 * together, because a stream sends what it buffered only when it must
 * wait for more to read.
 *
 *   cc kv_server.c $(pkg-config --cflags --libs green) -o kv_server
 *   ./kv_server [port]           (default 6379; 0 picks a free port)
 *   redis-cli -p PORT set greeting hello
 *
 * The protocol reading is the stream's work: a command is an array
 * ("*3\r\n") of bulk strings ("$5\r\nhello\r\n"), each header a line
 * (green_stream_readline) and each string a counted read
 * (green_stream_readexactly); a line without the '*' is an inline
 * command, split at spaces, as redis-cli's users type them.
 */
#include <errno.h>
#include <green.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { LINE_MAX_ = 64 * 1024, ARGS_MAX = 1024, BULK_MAX = 1 << 20, BUCKETS = 4096 };

/* The store: a hash table of keys to values, both byte strings.  One OS
 * thread runs every green thread, so it needs no lock. */
struct entry {
    struct entry *next;
    char *key, *value;
    size_t klen, vlen;
};
static struct entry *table[BUCKETS];
static size_t entries;

static size_t hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037u;  /* FNV-1a, 64 bits on every target */
    while (n--)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return (size_t)(h % BUCKETS);
}

static struct entry **find(const char *key, size_t klen)
{
    struct entry **e = &table[hash(key, klen)];
    while (*e && ((*e)->klen != klen || memcmp((*e)->key, key, klen) != 0))
        e = &(*e)->next;
    return e;
}

static char *copy(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

/* Sets key to value: 0 or -1 (out of memory). */
static int put(const char *key, size_t klen, const char *value, size_t vlen)
{
    struct entry **at = find(key, klen), *e = *at;
    char *v = copy(value, vlen);
    if (!v)
        return -1;
    if (!e) {
        if (!(e = calloc(1, sizeof *e)) || !(e->key = copy(key, klen))) {
            free(e);
            free(v);
            return -1;
        }
        e->klen = klen;
        *at = e;
        entries++;
    }
    free(e->value);
    e->value = v;
    e->vlen = vlen;
    return 0;
}

static bool del(const char *key, size_t klen)
{
    struct entry **at = find(key, klen), *e = *at;
    if (!e)
        return false;
    *at = e->next;
    free(e->key);
    free(e->value);
    free(e);
    entries--;
    return true;
}

/* One connection's command: its arguments, in one buffer that grows
 * (each is at an offset in it until the command is complete, then
 * arg[] points at them), and the header line being read. */
struct command {
    size_t argc;
    char *arg[ARGS_MAX];
    size_t off[ARGS_MAX], len[ARGS_MAX];
    char *space;
    size_t used, cap;
    char line[LINE_MAX_];
};

/* Room for n more bytes of arguments; NULL when out of memory. */
static char *room(struct command *c, size_t n)
{
    if (c->used + n > c->cap) {
        size_t cap = c->cap ? c->cap : 256;
        while (cap < c->used + n)
            cap *= 2;
        char *s = realloc(c->space, cap);
        if (!s)
            return NULL;
        c->space = s;
        c->cap = cap;
    }
    char *at = c->space + c->used;
    c->used += n;
    return at;
}

/* An integer header line such as "*3\r\n" or "$5\r\n" after its marker:
 * the number, or -2 when the line is not one. */
static long header(const char *line, size_t n, char marker)
{
    if (n < 4 || line[0] != marker || line[n - 2] != '\r')
        return -2;
    char *end;
    long v = strtol(line + 1, &end, 10);
    return end == line + n - 2 && v >= -1 ? v : -2;
}

static int add_arg(struct command *c, const char *s, size_t n)
{
    char *at = room(c, n + 1);
    if (!at || c->argc == ARGS_MAX)
        return -1;
    memcpy(at, s, n);
    at[n] = '\0';
    c->off[c->argc] = (size_t)(at - c->space);
    c->len[c->argc++] = n;
    return 0;
}

/* Reads one command: 1, 0 at end of file, or -1 (an error, or a
 * protocol error, after which *why says what to tell the client). */
static int read_command(green_stream_t *s, struct command *c, const char **why)
{
    char *line = c->line, *save;
    c->argc = c->used = 0;
    ssize_t n = green_stream_readline(s, line, LINE_MAX_ - 1);
    if (n <= 0) {
        *why = n < 0 && errno == EMSGSIZE ? "-ERR Protocol error: too big inline request\r\n" : NULL;
        return (int)n;
    }
    long count = header(line, (size_t)n, '*');
    if (line[0] != '*') {
        /* Inline: words separated by spaces. */
        line[n] = '\0';
        for (char *w = strtok_r(line, " \r\n", &save); w; w = strtok_r(NULL, " \r\n", &save))
            if (add_arg(c, w, strlen(w)) < 0)
                return -1;
    } else if (count < 0 || count > ARGS_MAX) {
        *why = "-ERR Protocol error: invalid multibulk length\r\n";
        return -1;
    }
    for (long i = 0; i < count; i++) {
        n = green_stream_readline(s, line, LINE_MAX_);
        long len = n > 0 ? header(line, (size_t)n, '$') : -2;
        if (len < 0 || len > BULK_MAX) {
            *why = n > 0 ? "-ERR Protocol error: invalid bulk length\r\n" : NULL;
            return -1;
        }
        char *at = room(c, (size_t)len + 2);
        if (!at || green_stream_readexactly(s, at, (size_t)len + 2) != len + 2 ||
            memcmp(at + len, "\r\n", 2) != 0) {
            *why = at ? NULL : "-ERR out of memory\r\n";
            return -1;
        }
        at[len] = '\0';
        c->off[c->argc] = (size_t)(at - c->space);
        c->len[c->argc++] = (size_t)len;
    }
    for (size_t i = 0; i < c->argc; i++)  /* the buffer has stopped moving */
        c->arg[i] = c->space + c->off[i];
    return 1;
}

/* Replies. */

static int reply(green_stream_t *s, const char *text)
{
    return green_stream_write(s, text, strlen(text)) < 0 ? -1 : 0;
}

static int reply_bulk(green_stream_t *s, const char *v, size_t n)
{
    char head[32];
    int k = snprintf(head, sizeof head, "$%zu\r\n", n);
    return green_stream_write(s, head, (size_t)k) < 0 || green_stream_write(s, v, n) < 0 ||
                   green_stream_write(s, "\r\n", 2) < 0 ? -1 : 0;
}

static int reply_int(green_stream_t *s, long long v)
{
    char text[32];
    snprintf(text, sizeof text, ":%lld\r\n", v);
    return reply(s, text);
}

static bool is(const struct command *c, const char *name, size_t argc)
{
    return strcasecmp(c->arg[0], name) == 0 && c->argc == argc;
}

static int incr(green_stream_t *s, const struct command *c)
{
    struct entry *e = *find(c->arg[1], c->len[1]);
    long long v = 0;
    if (e) {
        char *end;
        errno = 0;
        v = strtoll(e->value, &end, 10);
        if (errno || end == e->value || *end || e->vlen == 0)
            return reply(s, "-ERR value is not an integer or out of range\r\n");
    }
    if (v == INT64_MAX)
        return reply(s, "-ERR increment or decrement would overflow\r\n");
    char text[24];
    int n = snprintf(text, sizeof text, "%lld", ++v);
    if (put(c->arg[1], c->len[1], text, (size_t)n) < 0)
        return reply(s, "-ERR out of memory\r\n");
    return reply_int(s, v);
}

/* redis-benchmark asks for these two settings before it starts. */
static int config_get(green_stream_t *s, const char *name)
{
    const char *value = strcasecmp(name, "save") == 0 ? "" :
                        strcasecmp(name, "appendonly") == 0 ? "no" : NULL;
    if (!value)
        return reply(s, "*0\r\n");
    return reply(s, "*2\r\n") < 0 || reply_bulk(s, name, strlen(name)) < 0 ? -1
           : reply_bulk(s, value, strlen(value));
}

static int execute(green_stream_t *s, const struct command *c)
{
    if (c->argc == 0)
        return 0;  /* an empty inline line: nothing to answer */
    if (is(c, "PING", 1))
        return reply(s, "+PONG\r\n");
    if (is(c, "PING", 2) || is(c, "ECHO", 2))
        return reply_bulk(s, c->arg[1], c->len[1]);
    if (is(c, "SET", 3))
        return reply(s, put(c->arg[1], c->len[1], c->arg[2], c->len[2]) < 0
                            ? "-ERR out of memory\r\n" : "+OK\r\n");
    if (is(c, "GET", 2)) {
        struct entry *e = *find(c->arg[1], c->len[1]);
        return e ? reply_bulk(s, e->value, e->vlen) : reply(s, "$-1\r\n");
    }
    if (is(c, "INCR", 2))
        return incr(s, c);
    if (strcasecmp(c->arg[0], "DEL") == 0 || strcasecmp(c->arg[0], "EXISTS") == 0) {
        bool delete = strcasecmp(c->arg[0], "DEL") == 0;
        long long n = 0;
        for (size_t i = 1; i < c->argc; i++)
            n += delete ? del(c->arg[i], c->len[i]) : *find(c->arg[i], c->len[i]) != NULL;
        return c->argc > 1 ? reply_int(s, n) : reply(s, "-ERR wrong number of arguments\r\n");
    }
    if (is(c, "DBSIZE", 1))
        return reply_int(s, (long long)entries);
    if (is(c, "CONFIG", 3) && strcasecmp(c->arg[1], "GET") == 0)
        return config_get(s, c->arg[2]);
    return reply(s, "-ERR unknown command or wrong number of arguments\r\n");
}

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    green_stream_t *s = green_stream_open(fd, LINE_MAX_);
    struct command *c = calloc(1, sizeof *c);
    if (!s || !c) {
        free(c);
        s ? green_stream_close(s) : green_close(fd);
        return NULL;
    }
    const char *why = NULL;
    int r;
    while ((r = read_command(s, c, &why)) > 0)
        if (execute(s, c) < 0)
            break;
    if (r < 0 && why)
        reply(s, why);  /* then close, as redis-server does */
    green_stream_close(s);
    free(c->space);
    free(c);
    return NULL;
}

static void *server(void *arg)
{
    char port[16];
    snprintf(port, sizeof port, "%d", *(int *)arg);
    int lfd = green_tcp_listen("127.0.0.1", port, 1024);
    if (lfd < 0) {
        perror("listen");
        *(int *)arg = -1;
        return NULL;
    }
    printf("listening on 127.0.0.1:%d\n", green_local_port(lfd));
    fflush(stdout);
    green_attr_t attr = {.stack_size = 64 * 1024};
    for (;;) {
        int fd = green_accept(lfd, NULL, NULL);
        if (fd < 0) {
            perror("accept");
            green_sleep(100);
            continue;
        }
        green_t *t = green_spawn_attr(&attr, serve, (void *)(intptr_t)fd);
        if (t)
            green_detach(t);
        else
            green_close(fd);
    }
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 6379;
    if (green_run(server, &port) < 0) {
        perror("green_run");
        return 1;
    }
    return port < 0 ? 1 : 0;
}
