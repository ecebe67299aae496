/* The timeline: GREEN_TRACE.
 *
 * Each test runs a known program traced in a child process, which ends
 * with exit() so that the file is made whole as a program's is, then
 * reads the file back: it must parse (a small JSON checker of its own,
 * and Python's json module where python3 is installed), every park must
 * have its wake, the slices and poller waits of one scheduler must never
 * overlap, and the names must be right. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sched.h"
#include "util.h"

/* Reading the file back. */

/* A JSON checker for one value at *p (RFC 8259's grammar, less the
 * surrogate pairs' pairing): whether it is well formed; *p moves past it. */
static bool json_value(const char **p);

static void json_space(const char **p)
{
    while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
        (*p)++;
}

static bool json_string(const char **p)
{
    if (**p != '"')
        return false;
    for ((*p)++; **p != '"'; (*p)++) {
        if ((unsigned char)**p < 0x20)
            return false;
        if (**p == '\\') {
            (*p)++;
            if (**p == 'u') {
                for (int i = 0; i < 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", *++*p) || !**p)
                        return false;
            } else if (!**p || !strchr("\"\\/bfnrt", **p)) {
                return false;
            }
        }
    }
    (*p)++;
    return true;
}

static bool json_number(const char **p)
{
    const char *start = *p;
    if (**p == '-')
        (*p)++;
    if (**p < '0' || **p > '9')
        return false;
    while ((**p >= '0' && **p <= '9') || **p == '.' || **p == 'e' || **p == 'E' ||
           ((**p == '+' || **p == '-') && (*p)[-1] != '-' && *p > start))
        (*p)++;
    return true;
}

static bool json_members(const char **p, char close, bool keyed)
{
    (*p)++;
    json_space(p);
    if (**p == close) {
        (*p)++;
        return true;
    }
    for (;;) {
        json_space(p);
        if (keyed) {
            if (!json_string(p))
                return false;
            json_space(p);
            if (*(*p)++ != ':')
                return false;
        }
        if (!json_value(p))
            return false;
        json_space(p);
        char c = *(*p)++;
        if (c == close)
            return true;
        if (c != ',')
            return false;
    }
}

static bool json_value(const char **p)
{
    json_space(p);
    switch (**p) {
    case '{': return json_members(p, '}', true);
    case '[': return json_members(p, ']', false);
    case '"': return json_string(p);
    case 't': return strncmp(*p, "true", 4) == 0 && (*p += 4);
    case 'f': return strncmp(*p, "false", 5) == 0 && (*p += 5);
    case 'n': return strncmp(*p, "null", 4) == 0 && (*p += 4);
    default: return json_number(p);
    }
}

/* One event, as this library writes them. */
struct ev {
    char name[48];
    char ph;
    unsigned pid;
    uint64_t tid;
    int64_t ts, dur;        /* ns; dur for "X" */
    char arg[64];           /* a name's, a wait's or a waker's */
    uint64_t by_id;         /* a wake by a thread */
    long num;               /* err, timeout_ms, dropped, sort_index */
    uint64_t id;            /* a flow's */
};

struct trace {
    struct ev *ev;
    size_t n;
    bool whole;             /* it ended with "]" */
};

/* The text after `key` in line (a string up to its quote, or a number). */
static const char *after(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p ? p + strlen(key) : NULL;
}

static void copy_string(char *to, size_t n, const char *from)
{
    size_t i = 0;
    if (!from)
        return;
    while (from[i] && from[i] != '"' && i + 1 < n) {
        to[i] = from[i];
        i++;
    }
    to[i] = '\0';
}

/* "12.345" microseconds as ns. */
static int64_t parse_us(const char *p)
{
    if (!p)
        return -1;
    char *end;
    long long us = strtoll(p, &end, 10);
    long long frac = *end == '.' ? strtoll(end + 1, NULL, 10) : 0;
    return us * 1000 + frac;
}

static void parse_event(const char *line, struct ev *e)
{
    memset(e, 0, sizeof *e);
    copy_string(e->name, sizeof e->name, after(line, "{\"name\":\""));
    const char *ph = after(line, "\"ph\":\"");
    e->ph = ph ? *ph : 0;
    const char *v;
    if ((v = after(line, "\"pid\":")))
        e->pid = (unsigned)strtoul(v, NULL, 10);
    if ((v = after(line, "\"tid\":")))
        e->tid = strtoull(v, NULL, 10);
    e->ts = parse_us(after(line, "\"ts\":"));
    if ((v = after(line, "\"id\":")))
        e->id = strtoull(v, NULL, 10);
    e->dur = parse_us(after(line, "\"dur\":"));
    const char *args = after(line, "\"args\":{");
    if (!args)
        return;
    copy_string(e->arg, sizeof e->arg, after(args, "\"name\":\""));
    copy_string(e->arg, sizeof e->arg, after(args, "\"wait\":\""));
    copy_string(e->arg, sizeof e->arg, after(args, "\"by\":\""));
    if ((v = after(args, "\"by\":")) && *v >= '0' && *v <= '9')
        e->by_id = strtoull(v, NULL, 10);
    if ((v = after(args, "\"by_id\":")))
        e->by_id = strtoull(v, NULL, 10);
    static const char *const nums[] = {"\"err\":", "\"timeout_ms\":", "\"dropped\":",
                                       "\"sort_index\":"};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if ((v = after(args, nums[i])))
            e->num = strtol(v, NULL, 10);
}

/* The whole of the file at path (malloc'd). */
static char *whole_file(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    return file_text(f);  /* from where it is: the end */
}

/* Reads and checks the file's form: "[" on the first line, one event a
 * line after it (each but the first preceded by a comma), "]" last. */
static struct trace read_trace(const char *path)
{
    char *text = whole_file(path);
    const char *p = text;
    ck_assert_msg(json_value(&p), "the trace is not JSON near byte %td", p - text);
    json_space(&p);
    ck_assert_msg(*p == '\0', "the trace goes on after its array");
    struct trace t = {NULL, 0, false};
    size_t cap = 0, lineno = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lineno++) {
        if (lineno == 0) {
            ck_assert_str_eq(line, "[");
            continue;
        }
        if (strcmp(line, "]") == 0) {
            t.whole = true;
            continue;
        }
        ck_assert_msg(!t.whole, "an event after the end");
        if (lineno > 1) {
            ck_assert_msg(line[0] == ',', "line %zu: %s", lineno + 1, line);
            line++;
        }
        ck_assert_msg(line[0] == '{' && line[strlen(line) - 1] == '}', "line %zu: %s",
                      lineno + 1, line);
        if (t.n == cap) {
            cap = cap ? 2 * cap : 256;
            t.ev = realloc(t.ev, cap * sizeof *t.ev);
            ck_assert(t.ev);
        }
        parse_event(line, &t.ev[t.n++]);
    }
    free(text);
    ck_assert_msg(t.whole, "the trace does not end with ]");
    return t;
}

/* Where python3 is installed, its json module must read the file too. */
static void python_reads(const char *path)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0)
        return;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json, sys; e = json.load(open(sys.argv[1], encoding=\"utf-8\")); "
             "assert isinstance(e, list) and e' '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
}

static size_t count_named(const struct trace *t, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += strcmp(t->ev[i].name, name) == 0;
    return n;
}

/* The name the file gives thread tid of scheduler pid, or NULL. */
static const char *thread_called(const struct trace *t, unsigned pid, uint64_t tid)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->ev[i].ph == 'M' && strcmp(t->ev[i].name, "thread_name") == 0 &&
            t->ev[i].pid == pid && t->ev[i].tid == tid)
            return t->ev[i].arg;
    return NULL;
}

/* The id of the thread called name, or 0. */
static uint64_t id_of(const struct trace *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->ev[i].ph == 'M' && strcmp(t->ev[i].name, "thread_name") == 0 &&
            strcmp(t->ev[i].arg, name) == 0)
            return t->ev[i].tid;
    return 0;
}

/* Every park is followed, on its thread, by its wake before the next
 * park; and no wake comes without a park before it. */
static void parks_are_woken(const struct trace *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct ev *e = &t->ev[i];
        if (strcmp(e->name, "park") != 0)
            continue;
        bool woken = false;
        for (size_t j = i + 1; j < t->n && !woken; j++) {
            const struct ev *f = &t->ev[j];
            if (f->pid != e->pid || f->tid != e->tid)
                continue;
            ck_assert_msg(strcmp(f->name, "park") != 0, "#%llu parked twice",
                          (unsigned long long)e->tid);
            woken = strcmp(f->name, "wake") == 0;
        }
        ck_assert_msg(woken, "#%llu's park on %s has no wake", (unsigned long long)e->tid,
                      e->arg);
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct ev *e = &t->ev[i];
        if (strcmp(e->name, "wake") != 0)
            continue;
        const char *before = NULL;
        for (size_t j = 0; j < i; j++)
            if (t->ev[j].pid == e->pid && t->ev[j].tid == e->tid &&
                (strcmp(t->ev[j].name, "park") == 0 || strcmp(t->ev[j].name, "wake") == 0))
                before = t->ev[j].name;
        ck_assert_msg(before && strcmp(before, "park") == 0, "#%llu woken unparked",
                      (unsigned long long)e->tid);
    }
}

static int by_start(const void *a, const void *b)
{
    const struct ev *x = *(const struct ev *const *)a, *y = *(const struct ev *const *)b;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* On each scheduler, the run slices and the poller's waits (complete
 * events, "X") never overlap: one OS thread does one thing at a time. */
static void slices_apart(const struct trace *t)
{
    const struct ev **x = calloc(t->n + 1, sizeof *x);
    ck_assert(x);
    for (unsigned pid = 1; pid <= 64; pid++) {
        size_t n = 0;
        for (size_t i = 0; i < t->n; i++)
            if (t->ev[i].ph == 'X' && t->ev[i].pid == pid)
                x[n++] = &t->ev[i];
        qsort(x, n, sizeof *x, by_start);
        for (size_t i = 0; i + 1 < n; i++) {
            ck_assert_int_ge(x[i]->dur, 0);
            ck_assert_msg(x[i]->ts + x[i]->dur <= x[i + 1]->ts,
                          "scheduler %u: %s of #%llu at %lld+%lld overlaps %s of #%llu at %lld",
                          pid, x[i]->name, (unsigned long long)x[i]->tid, (long long)x[i]->ts,
                          (long long)x[i]->dur, x[i + 1]->name,
                          (unsigned long long)x[i + 1]->tid, (long long)x[i + 1]->ts);
        }
    }
    free(x);
}

/* Each wake by a thread is an arrow: an "s" on the waker's track at the
 * wake, and its "f", the same id, on the woken thread's at the same time. */
static void arrows_paired(const struct trace *t)
{
    size_t wakes = 0, starts = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct ev *e = &t->ev[i];
        wakes += strcmp(e->name, "wake") == 0 && e->by_id != 0;
        if (strcmp(e->name, "wake flow") != 0 || e->ph != 's')
            continue;
        starts++;
        ck_assert(i + 1 < t->n);
        const struct ev *f = &t->ev[i + 1];
        ck_assert_str_eq(f->name, "wake flow");
        ck_assert_int_eq(f->ph, 'f');
        ck_assert_uint_eq(f->id, e->id);
        ck_assert_int_eq(f->ts, e->ts);
        ck_assert_uint_ne(f->tid, e->tid);
    }
    ck_assert_uint_eq(starts, wakes);
}

/* The checks every trace passes. */
static struct trace read_checked(const char *path)
{
    python_reads(path);
    struct trace t = read_trace(path);
    parks_are_woken(&t);
    slices_apart(&t);
    arrows_paired(&t);
    return t;
}

/* Running a program traced. */

static char *temp_path(void)
{
    char *path = strdup("/tmp/green-trace-XXXXXX");
    ck_assert(path);
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    return path;
}

/* The knobs of the traced child: its ring's size (0: the default), the
 * writer's pause, and whether its stderr goes to a file. */
struct knobs {
    size_t ring;
    int interval_ms;
    const char *stderr_to;
};

/* Runs main traced into path in a child, which ends with exit(): 0 when
 * green_run returned 0, 3 when it failed with EDEADLK, 4 otherwise. */
static int run_traced(const char *path, void *(*main_fn)(void *), const struct knobs *k)
{
    fflush(NULL);
    pid_t pid = fork_counted();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("GREEN_TRACE", path, 1);
        if (k && k->ring)
            green__trace_ring_records = k->ring;
        if (k && k->interval_ms)
            green__trace_interval_ms = k->interval_ms;
        if (k && k->stderr_to) {
            int fd = open(k->stderr_to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
                _exit(5);
            close(fd);
        }
        int rc = green_run(main_fn, NULL);
        exit(rc == 0 ? 0 : errno == EDEADLK ? 3 : 4);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "the traced child ended by signal %d", WTERMSIG(status));
    return WEXITSTATUS(status);
}

static void free_trace(struct trace *t, char *path)
{
    free(t->ev);
    unlink(path);
    free(path);
}

static void *named_nothing(void *arg)
{
    (void)arg;
    return NULL;
}

/* The known program: ping and pong pass a token over two channels a few
 * times; pong sleeps until the poller has waited at least once (a sleep
 * long enough to wait for: the test asks the scheduler, not the clock);
 * main joins both. */
enum { ROUNDS = 5 };

struct table {
    green_chan_t *to_pong, *to_ping;
};

static void *ping(void *arg)
{
    struct table *tb = arg;
    for (int i = 0; i < ROUNDS; i++) {
        ck_assert_int_eq(green_chan_send(tb->to_pong, &i), 0);
        int got;
        ck_assert_int_eq(green_chan_recv(tb->to_ping, &got), 0);
    }
    return NULL;
}

static void *pong(void *arg)
{
    struct table *tb = arg;
    for (int i = 0; i < ROUNDS; i++) {
        int got;
        ck_assert_int_eq(green_chan_recv(tb->to_pong, &got), 0);
        ck_assert_int_eq(green_chan_send(tb->to_ping, &got), 0);
    }
    while (green__cur->trace && green__cur->trace->polls == 0)
        green_sleep(5);
    return NULL;
}

static void *ping_pong(void *arg)
{
    (void)arg;
    struct table tb = {green_chan_new(sizeof(int), 0), green_chan_new(sizeof(int), 0)};
    ck_assert(tb.to_pong && tb.to_ping);
    green_t *a = green_spawn_attr(&(green_attr_t){.name = "ping"}, ping, &tb);
    green_t *b = green_spawn_attr(&(green_attr_t){.name = "pong"}, pong, &tb);
    ck_assert(a && b);
    green_t *c = green_spawn(named_nothing, NULL);  /* unnamed */
    ck_assert(c);
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    ck_assert_int_eq(green_join(c, NULL), 0);
    /* A name JSON must escape (a quote, a backslash, a control character,
     * a byte that is no UTF-8), and UTF-8 that it keeps. */
    green_t *d = green_spawn_attr(&(green_attr_t){.name = "q\"b\\s\x01\xc3\xa9\xff\xe2\x82"},
                                  named_nothing, NULL);
    ck_assert_int_eq(green_join(d, NULL), 0);
    green_chan_free(tb.to_pong);
    green_chan_free(tb.to_ping);
    return NULL;
}

START_TEST(known_program)
{
    char *path = temp_path();
    ck_assert_int_eq(run_traced(path, ping_pong, NULL), 0);
    struct trace t = read_checked(path);

    /* One scheduler, named, with its poller's track. */
    ck_assert_uint_eq(count_named(&t, "process_name"), 1);
    ck_assert_str_eq(thread_called(&t, 1, 0), "poller");
    ck_assert_str_eq(thread_called(&t, 1, 1), "main");
    uint64_t pi = id_of(&t, "ping"), po = id_of(&t, "pong");
    ck_assert_uint_eq(pi, 2);
    ck_assert_uint_eq(po, 3);
    ck_assert_str_eq(thread_called(&t, 1, 4), "#4");  /* unnamed */
    char *raw = whole_file(path);
    ck_assert(strstr(raw, "\"args\":{\"name\":\"q\\\"b\\\\s\\u0001\xc3\xa9\\u00ff\\u00e2\\u0082\"}"));
    free(raw);

    bool spawned[6] = {false}, ran[6] = {false}, exited[6] = {false};
    bool woken_by_peer = false, woken_by_timer = false, polled = false, arrow_to_ping = false;
    for (size_t i = 0; i < t.n; i++) {
        const struct ev *e = &t.ev[i];
        ck_assert_uint_eq(e->pid, 1);
        ck_assert_uint_le(e->tid, 5);
        if (strcmp(e->name, "spawn") == 0)
            spawned[e->tid] = true;
        else if (strcmp(e->name, "run") == 0)
            ran[e->tid] = true;
        else if (strcmp(e->name, "exit") == 0)
            exited[e->tid] = true;
        else if (strcmp(e->name, "wake") == 0 && e->tid == pi && e->by_id == po)
            woken_by_peer = true;
        else if (strcmp(e->name, "wake flow") == 0 && e->ph == 's' && e->tid == po &&
                 t.ev[i + 1].tid == pi)
            arrow_to_ping = true;
        else if (strcmp(e->name, "wake") == 0 && e->tid == po && strcmp(e->arg, "timer") == 0)
            woken_by_timer = true;
        else if (strcmp(e->name, "poller wait") == 0 && e->num > 0)
            polled = true;
        if (strcmp(e->name, "park") == 0 && e->tid == pi)
            ck_assert_msg(strncmp(e->arg, "chan ", 5) == 0, "ping parks on %s", e->arg);
        if (strcmp(e->name, "park") == 0 && e->tid == 1)
            ck_assert_msg(strncmp(e->arg, "join #", 6) == 0 ||
                          strncmp(e->arg, "main returned", 13) == 0, "main parks on %s", e->arg);
        if (strcmp(e->name, "spawn") == 0)  /* main by nobody, the others by main */
            ck_assert_uint_eq(e->by_id, e->tid == 1 ? 0 : 1);
    }
    for (int id = 1; id <= 5; id++) {
        ck_assert_msg(spawned[id] && ran[id], "#%d", id);
        if (id > 1)  /* main's slice ends with the run */
            ck_assert_msg(exited[id], "#%d did not exit", id);
    }
    ck_assert(woken_by_peer);
    ck_assert(arrow_to_ping);
    ck_assert(woken_by_timer);
    ck_assert(polled);
    ck_assert_uint_eq(count_named(&t, "trace records dropped"), 0);
    free_trace(&t, path);
}
END_TEST

/* Every thread parked for ever: green_run fails with EDEADLK, and the
 * file is whole, the scheduler's wakes of the cancelled threads in it. */
/* Names at each edge of well-formed UTF-8 (Unicode's table 3-7): the
 * first and last of each lead byte's range, and one past them. */
static const char *const odd_names[] = {
    "\xc2\x80", "\xc1\xbf",                  /* 2 bytes; an overlong lead */
    "\xe0\xa0\x80", "\xe0\x9f\xbf",          /* E0: A0..BF, and below */
    "\xed\x9f\xbf", "\xed\xa0\x80",          /* ED: 80..9F, and a surrogate */
    "\xef\xbf\xbf", "\xe1\xc0\x80",          /* E1..EF; a byte past BF */
    "\xf0\x90\x80\x80", "\xf0\x8f\xbf\xbf",  /* F0: 90..BF, and below */
    "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80",  /* F4: 80..8F, and past U+10FFFF */
    "\xf5\x80\x80\x80", "\x80", "\x7f\x1f",  /* no lead; a lone tail; controls */
    "\xf1\x80\x80",                           /* cut short */
};

static void *yield_often(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++)
        green_yield();
    return NULL;
}

static void *odd_namer(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof odd_names / sizeof odd_names[0]; i++) {
        green_t *t = green_spawn_attr(&(green_attr_t){.name = odd_names[i]}, named_nothing, NULL);
        ck_assert_int_eq(green_join(t, NULL), 0);
    }
    /* And enough events that the writer's buffer fills and is written
     * out in the middle of a drain. */
    green_t *t = green_spawn(yield_often, NULL);
    for (int i = 0; i < 2000; i++)
        green_yield();
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

/* Every such name is written as JSON that both readers take, one thread
 * name each. */

START_TEST(odd_names_stay_json)
{
    char *path = temp_path();
    ck_assert_int_eq(run_traced(path, odd_namer, NULL), 0);
    struct trace t = read_checked(path);
    /* the poller, main, each odd name, the yielder */
    ck_assert_uint_eq(count_named(&t, "thread_name"), 3 + sizeof odd_names / sizeof odd_names[0]);
    free_trace(&t, path);
}
END_TEST

static void *wait_for_nothing(void *arg)
{
    green_chan_t *ch = arg;
    int x;
    return (void *)(intptr_t)green_chan_recv(ch, &x);
}

static void *deadlocks(void *arg)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *t = green_spawn_attr(&(green_attr_t){.name = "stuck"}, wait_for_nothing, ch);
    green_join(t, NULL);
    green_chan_free(ch);
    return NULL;
}

START_TEST(deadlock_leaves_a_whole_file)
{
    char *path = temp_path();
    ck_assert_int_eq(run_traced(path, deadlocks, &(struct knobs){.stderr_to = "/dev/null"}), 3);
    struct trace t = read_checked(path);
    uint64_t stuck = id_of(&t, "stuck");
    ck_assert_uint_eq(stuck, 2);
    bool by_scheduler = false;
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(t.ev[i].name, "wake") == 0 && t.ev[i].tid == stuck &&
            strcmp(t.ev[i].arg, "scheduler") == 0 && t.ev[i].num == ECANCELED)
            by_scheduler = true;
    ck_assert(by_scheduler);
    free_trace(&t, path);
}
END_TEST

/* A ring too small, never drained while the run lasts: records are
 * dropped, the scheduler does not wait, and the file says how many. */

static void *yielders(void *arg)
{
    (void)arg;
    green_t *a = green_spawn(yield_often, NULL), *b = green_spawn(yield_often, NULL);
    green_join(a, NULL);
    green_join(b, NULL);
    return NULL;
}

/* GREEN_TRACE set but empty: nothing is traced, and nothing said. */
START_TEST(empty_path_traces_nothing)
{
    setenv("GREEN_TRACE", "", 1);
    stderr_begin();
    run_green(yielders, NULL);
    char *text = stderr_end();
    ck_assert_str_eq(text, "");
    free(text);
}
END_TEST

/* yielders, then, with the ring full, a spawn, a park and a poller
 * wait: each record dropped too. */
static void *yielders_then_more(void *arg)
{
    yielders(arg);
    green_t *t = green_spawn(named_nothing, NULL);
    green_join(t, NULL);
    green_sleep(1);
    return NULL;
}

START_TEST(full_ring_drops_and_says_so)
{
    char *path = temp_path();
    struct knobs k = {.ring = 8, .interval_ms = 3600 * 1000};
    ck_assert_int_eq(run_traced(path, yielders_then_more, &k), 0);
    struct trace t = read_trace(path);
    python_reads(path);
    /* Not slices_apart: a slice whose end was dropped runs on to the
     * next record kept, over the poller wait that the sleep made. */
    long dropped = 0;
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(t.ev[i].name, "trace records dropped") == 0)
            dropped = t.ev[i].num;
    ck_assert_int_gt(dropped, 600);  /* 800 and more were made; 24 fit at most */
    ck_assert_uint_lt(count_named(&t, "yield"), 30);
    free_trace(&t, path);
}
END_TEST

/* Two schedulers: a track group each, every slice on its own. */
static void *on_both(void *arg)
{
    (void)arg;
    green_t *a = spawn_on(0, yield_often, NULL), *b = spawn_on(1, yield_often, NULL);
    green_join(a, NULL);
    green_join(b, NULL);
    return NULL;
}

START_TEST(one_track_group_per_scheduler)
{
    char *path = temp_path();
    fflush(NULL);
    pid_t pid = fork_counted();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("GREEN_TRACE", path, 1);
        int rc = green_run_attr(&(green_run_attr_t){.schedulers = 2}, on_both, NULL);
        /* And a second green_run in the same process: a third track group. */
        int rc2 = green_run(yielders, NULL);
        exit(rc == 0 && rc2 == 0 ? 0 : 4);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct trace t = read_checked(path);
    ck_assert_uint_eq(count_named(&t, "process_name"), 3);
    unsigned slices[4] = {0};
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(t.ev[i].name, "run") == 0 && t.ev[i].pid <= 3)
            slices[t.ev[i].pid]++;
    ck_assert(slices[1] > 100 && slices[2] > 100 && slices[3] > 200);
    free_trace(&t, path);
}
END_TEST

/* fork() in a traced green thread: the child writes nothing into the
 * parent's file, and opens it for no green_run of its own. */
static void *forks(void *arg)
{
    (void)arg;
    /* Once the writer has drained the ring, it has started: a thread
     * still starting allocates, and under ASan (GCC 12's) a fork then
     * copies the allocator's lock held, on which the child's leak check
     * waits for ever. */
    struct green__trace *tr = green__cur->trace;
    while (tr && atomic_load(&tr->tail) == 0)
        green_sleep(1);
    fflush(NULL);
    pid_t pid = fork_counted();
    if (pid == 0) {
        green_t *t = green_spawn_attr(&(green_attr_t){.name = "in child"}, named_nothing, NULL);
        green_join(t, NULL);
        return NULL;  /* green_run returns in the child */
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    green_t *t = green_spawn_attr(&(green_attr_t){.name = "after fork"}, named_nothing, NULL);
    green_join(t, NULL);
    return NULL;
}

START_TEST(forked_child_writes_nothing)
{
    if (under_tsan() || under_qemu())
        return;  /* they do not follow a child forked while threads ran */
    char *path = temp_path();
    fflush(NULL);
    pid_t pid = fork_counted();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("GREEN_TRACE", path, 1);
        pid_t me = getpid();
        int rc = green_run(forks, NULL);
        /* In the grandchild, green_run returned there: a green_run of its
         * own, then exit(), whose handler must not touch the file. */
        if (getpid() != me && green_run(yielders, NULL) < 0)
            rc = -1;
        exit(rc == 0 ? 0 : 4);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct trace t = read_checked(path);
    ck_assert_uint_ne(id_of(&t, "after fork"), 0);
    ck_assert_uint_eq(id_of(&t, "in child"), 0);
    ck_assert_uint_eq(count_named(&t, "process_name"), 1);
    free_trace(&t, path);
}
END_TEST

/* The file cannot be made: the program runs untraced, and one line on
 * stderr says why. */
static size_t lines_with(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

/* Runs program (which returns 0 for a pass) in a child whose stderr goes
 * to a file, with GREEN_TRACE=path; what it wrote to stderr. */
static char *child_stderr(const char *path, int (*program)(void))
{
    char *err = temp_path();
    fflush(NULL);
    pid_t pid = fork_counted();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(err, O_WRONLY | O_TRUNC);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
            _exit(5);
        close(fd);
        free(err);  /* exit() below: LeakSanitizer looks */
        setenv("GREEN_TRACE", path, 1);
        exit(program());
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    char *text = whole_file(err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", text);
    unlink(err);
    free(err);
    return text;
}

/* Runs green_run(yielders) twice: both return 0. */
static int yielders_twice(void)
{
    int rc = green_run(yielders, NULL);
    int rc2 = green_run(yielders, NULL);
    return rc == 0 && rc2 == 0 ? 0 : 4;
}

START_TEST(unopenable_file_says_so)
{
    /* Twice: said once. */
    char *text = child_stderr("/nonexistent-green-dir/trace.json", yielders_twice);
    ck_assert_msg(lines_with(text, "libgreen: GREEN_TRACE=/nonexistent-green-dir/trace.json: "
                                   "cannot open it: ") == 1, "%s", text);
    ck_assert_uint_eq(lines_with(text, "libgreen: "), 1);  /* a sanitizer may add its own */
    free(text);
}
END_TEST

/* A write that fails (a full disk): the program goes on, the trace is
 * cut short, and one line says so. */
START_TEST(full_disk_says_so)
{
    if (access("/dev/full", W_OK) != 0)
        return;
    char *text = child_stderr("/dev/full", yielders_twice);
    ck_assert_msg(lines_with(text, "libgreen: GREEN_TRACE: cannot write the trace: ") == 1,
                  "%s", text);
    ck_assert_uint_eq(lines_with(text, "libgreen: "), 1);  /* a sanitizer may add its own */
    free(text);
}
END_TEST

#ifndef GREEN_POSIX_ONLY  /* there green_loop_new fails with ENOSYS: no fd to give */
/* A host loop's scheduler is traced too, named for what it is. */
static int host_loop_program(void)
{
    green_loop_t *l = green_loop_new();
    if (!l)
        return 1;
    green_t *t = green_loop_spawn(l, &(green_attr_t){.name = "hosted"}, yield_often, NULL);
    if (!t)
        return 2;
    if (green_loop_run(l) < 0)  /* runs it to its end: it never parks */
        return 4;
    return green_loop_stop(l) == 0 ? 0 : 3;
}

START_TEST(host_loop_is_traced)
{
    char *path = temp_path();
    fflush(NULL);
    pid_t pid = fork_counted();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("GREEN_TRACE", path, 1);
        exit(host_loop_program());
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct trace t = read_checked(path);
    bool named = false;
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(t.ev[i].name, "process_name") == 0)
            named = strcmp(t.ev[i].arg, "host loop 1") == 0;
    ck_assert(named);
    ck_assert_uint_ne(id_of(&t, "hosted"), 0);
    ck_assert_str_eq(thread_called(&t, 1, 1), "host loop");
    free_trace(&t, path);
}
END_TEST
#endif

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches. */
#define GREEN_FAULT_IMPL
#include "fault.h"

/* The first run is traced; the second scheduler's ring cannot be had:
 * it runs untraced, said once, and the file holds the first whole. */
static int ring_fails(void)
{
    if (green_run(yielders, NULL) < 0)
        return 1;
    const char *sites[4096];
    enum green__fault_point points[4096];
    size_t n = green__fault_sites(sites, points, 4096);
    const char *ring = NULL;
    for (size_t i = 0; i < n && i < 4096; i++)
        if (points[i] == GREEN__FAULT_malloc && strncmp(sites[i], "lib/trace.c:", 12) == 0)
            ring = sites[i];
    if (!ring)
        return 2;
    green__fault_set_site(ring, false, ENOMEM);
    int rc = green_run(yielders, NULL);
    green__fault_clear();
    return rc == 0 ? 0 : 3;
}

START_TEST(ring_cannot_be_had)
{
    char *path = temp_path();
    char *text = child_stderr(path, ring_fails);
    ck_assert_msg(lines_with(text, "libgreen: GREEN_TRACE: no memory for a scheduler's ring of "
                                   "32768 records; not tracing it\n") == 1, "%s", text);
    ck_assert_uint_eq(lines_with(text, "libgreen: "), 1);  /* a sanitizer may add its own */
    free(text);
    struct trace t = read_checked(path);
    ck_assert_uint_eq(count_named(&t, "process_name"), 1);
    free_trace(&t, path);
}
END_TEST

/* The writer thread cannot start: nothing is traced, for the rest of
 * the process, said once. */
static int writer_fails(void)
{
    green__fault_set(GREEN__FAULT_pthread_create, 1, true, EAGAIN);
    int rc = green_run(yielders, NULL);
    green__fault_clear();
    int rc2 = green_run(yielders, NULL);
    return rc == 0 && rc2 == 0 ? 0 : 1;
}

START_TEST(writer_cannot_start)
{
    char *path = temp_path();
    char *text = child_stderr(path, writer_fails);
    ck_assert_msg(lines_with(text, ": cannot start the writer thread: ") == 1, "%s", text);
    ck_assert_uint_eq(lines_with(text, "libgreen: "), 1);  /* a sanitizer may add its own */
    free(text);
    char *file = whole_file(path);
    ck_assert_str_eq(file, "");  /* made, and left empty */
    free(file);
    unlink(path);
    free(path);
}
END_TEST
#endif

Suite *trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("trace");
    tcase_add_test(tc, known_program);
    tcase_add_test(tc, odd_names_stay_json);
    tcase_add_test(tc, empty_path_traces_nothing);
    tcase_add_test(tc, deadlock_leaves_a_whole_file);
    tcase_add_test(tc, full_ring_drops_and_says_so);
    tcase_add_test(tc, one_track_group_per_scheduler);
    tcase_add_test(tc, forked_child_writes_nothing);
    tcase_add_test(tc, unopenable_file_says_so);
    tcase_add_test(tc, full_disk_says_so);
#ifndef GREEN_POSIX_ONLY
    tcase_add_test(tc, host_loop_is_traced);
#endif
    suite_add_tcase(s, tc);
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, ring_cannot_be_had);
    add_fault_test(faults, writer_cannot_start);
    suite_add_tcase(s, faults);
    return s;
}
