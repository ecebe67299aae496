/*
 * The timeline (see trace.h): the rings, the writer and the JSON.
 *
 * The file is the trace-event format's array form, one event a line:
 *
 *     [
 *     {"name":"process_name","ph":"M","pid":1,"args":{"name":"scheduler 1"}}
 *     ,{"name":"run","ph":"X","pid":1,"tid":1,"ts":12.345,"dur":3.210,...}
 *     ...
 *     ]
 *
 * The closing bracket is written at exit.  A file cut short (the process
 * was killed, or left by _exit) lacks only that, which Perfetto and
 * chrome://tracing both accept in the array form: that is why it is used
 * rather than the object form.  pid is one per traced scheduler, tid the
 * green thread's id, and tid 0 the scheduler's poller.
 */
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "os_thread.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

size_t green__trace_ring_records = 1 << 15;  /* 2 MiB a scheduler */
int green__trace_interval_ms = 2;

enum { OUT_MAX = 64 * 1024 };

/* The file, one per process, and the rings the writer drains into it. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;         /* a ring came, or the file closed */
    int fd;                         /* -1 when no file is open */
    bool off;                       /* no tracing in this process any more:
                                       a failure, the end, a fork's child */
    bool writer;                    /* the writer thread runs */
    bool write_failed;              /* said once */
    int64_t t0;                     /* ns when the file was opened */
    unsigned pids;                  /* schedulers traced so far */
    unsigned long events;           /* events written */
    struct green__list rings;       /* of green__trace, registered */
    size_t len;                     /* of out */
    char out[OUT_MAX];              /* what is not yet written */
} tf = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, -1, false, false, false,
        0, 0, 0, {NULL, NULL}, 0, {0}};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writing the file, under its lock. */

static void flush(void)
{
    size_t done = 0;
    while (done < tf.len) {
        ssize_t n = write(tf.fd, tf.out + done, tf.len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (!tf.write_failed)
                fprintf(stderr, "libgreen: GREEN_TRACE: cannot write the trace: %s; "
                                "it is cut short\n", n < 0 ? strerror(errno) : "no space");
            tf.write_failed = true;
            break;
        }
        done += (size_t)n;
    }
    tf.len = 0;
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
    for (int tries = 0; tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(tf.out + tf.len, OUT_MAX - tf.len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < OUT_MAX - tf.len) {
            tf.len += (size_t)n;
            return;
        }
        flush();  /* and again, into the empty buffer */
    }
}

/* Appending to the buffer without a format: the writer's whole work is
 * this, for every record.  An event reserves room for itself first
 * (EVENT_MAX; out_string reserves its own), so the puts need not look. */
enum { EVENT_MAX = 512 };

static void reserve(size_t n)
{
    if (OUT_MAX - tf.len < n)
        flush();
}

/* The length of the well-formed UTF-8 sequence at p (Unicode's table 3-7:
 * no overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static int utf8_length(const unsigned char *p)
{
    int n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
          : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    unsigned char lo = p[0] == 0xe0 ? 0xa0 : p[0] == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = p[0] == 0xed ? 0x9f : p[0] == 0xf4 ? 0x8f : 0xbf;
    for (int i = 1; i < n; i++, lo = 0x80, hi = 0xbf)
        if (p[i] < lo || p[i] > hi)
            return 0;
    return n;
}

/* s (at most GREEN_NAME_MAX bytes) as a JSON string: quotes, backslashes
 * and control characters escaped, and any byte that is not part of
 * well-formed UTF-8 (a name cut short may end inside a sequence) as the
 * character of that number.  Written straight into the buffer: it is on
 * every park's line. */
static void out_string(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    reserve(EVENT_MAX);  /* 2 + 6 * GREEN_NAME_MAX at most, and the event's end */
    char *o = tf.out + tf.len;
    *o++ = '"';
    const unsigned char *p = (const unsigned char *)s, *end = p + GREEN_NAME_MAX;
    while (*p && p < end) {
        int n = *p >= 0x80 ? utf8_length(p) : 1;
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20 || *p == 0x7f || n == 0) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[*p >> 4];
            o[5] = hex[*p & 15];
            o += 6;
            n = 1;
        } else {
            memcpy(o, p, (size_t)n);  /* a NUL ends a sequence early: n is 0 then */
            o += n;
        }
        p += n;
    }
    *o++ = '"';
    tf.len = (size_t)(o - tf.out);
}

static void put(const char *s)
{
    size_t n = strlen(s);
    memcpy(tf.out + tf.len, s, n);
    tf.len += n;
}

static void put_u64(uint64_t v)
{
    char digits[24];
    size_t i = sizeof digits;
    do
        digits[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    memcpy(tf.out + tf.len, digits + i, sizeof digits - i);
    tf.len += sizeof digits - i;
}

static void put_int(int v)
{
    if (v < 0)
        put("-");
    put_u64(v < 0 ? (uint64_t)-(int64_t)v : (uint64_t)v);
}

/* An event's start, up to its first field: the separator comes first on
 * the line, so that the file cut short lacks only its "]". */
static void event(const char *name, const char *ph, unsigned pid)
{
    reserve(EVENT_MAX);
    put(tf.events++ ? ",{\"name\":\"" : "{\"name\":\"");
    put(name);
    put("\",\"ph\":\"");
    put(ph);
    put("\",\"pid\":");
    put_u64(pid);
}

/* ns as the format's microseconds since the file was opened. */
static void out_ts(const char *key, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    put(",\"");
    put(key);
    put("\":");
    put_u64((uint64_t)ns / 1000);
    char frac[5] = {'.', (char)('0' + ns / 100 % 10), (char)('0' + ns / 10 % 10),
                    (char)('0' + ns % 10), '\0'};
    put(frac);
}

static void instant(const struct green__trace *tr, const char *name, uint64_t tid, int64_t ns)
{
    event(name, "i", tr->pid);
    put(",\"s\":\"t\",\"tid\":");
    put_u64(tid);
    out_ts("ts", ns - tf.t0);
}

/* The slice open in the file ends at ns. */
static void close_slice(struct green__trace *tr, int64_t ns)
{
    if (!tr->open)
        return;
    tr->open = false;
    event("run", "X", tr->pid);
    put(",\"tid\":");
    put_u64(tr->open_id);
    out_ts("ts", tr->open_ns - tf.t0);
    out_ts("dur", ns > tr->open_ns ? ns - tr->open_ns : 0);
    put("}\n");
}

static void thread_name(const struct green__trace *tr, uint64_t tid, const char *name)
{
    event("thread_name", "M", tr->pid);
    put(",\"tid\":");
    put_u64(tid);
    put(",\"args\":{\"name\":");
    out_string(name);
    put("}}\n");
}

static void out_waker(const struct green__trace_rec *r)
{
    static const char *const whom[] = {
        [GREEN__TRACE_BY_POLLER] = "\"poller\"",
        [GREEN__TRACE_BY_TIMER] = "\"timer\"",
        [GREEN__TRACE_BY_SCHEDULER] = "\"scheduler\"",
    };
    if (r->by == GREEN__TRACE_BY_THREAD) {
        put("\"#");
        put_u64(r->arg);
        put("\",\"by_id\":");
        put_u64(r->arg);
    } else {
        put(whom[r->by]);
    }
}

/* A wake by a thread as an arrow: from the waker's slice ("s", bound to
 * the slice it is in) to the woken thread's next slice ("f", bound to the
 * next one that starts on its track). */
static void flow(struct green__trace *tr, const struct green__trace_rec *r)
{
    tr->flows++;
    for (int end = 0; end < 2; end++) {
        event("wake flow", end ? "f" : "s", tr->pid);
        put(",\"cat\":\"wake\",\"id\":");
        put_u64((uint64_t)tr->pid << 40 | tr->flows);
        put(",\"tid\":");
        put_u64(end ? r->id : r->arg);
        out_ts("ts", r->ns - tf.t0);
        put("}\n");
    }
}

/* One record as its events. */
static void record(struct green__trace *tr, const struct green__trace_rec *r)
{
    static const char *const stops[] = {
        [GREEN__TRACE_PARK] = "park",
        [GREEN__TRACE_YIELD] = "yield",
        [GREEN__TRACE_EXIT] = "exit",
    };
    switch (r->type) {
    case GREEN__TRACE_SPAWN: {
        char unnamed[32];
        snprintf(unnamed, sizeof unnamed, "#%llu", (unsigned long long)r->id);
        thread_name(tr, r->id, r->text[0] ? r->text : unnamed);
        instant(tr, "spawn", r->id, r->ns);
        put(",\"args\":{\"by\":");
        put_u64(r->arg);
        put("}}\n");
        break;
    }
    case GREEN__TRACE_RUN:
        close_slice(tr, r->ns);
        tr->open = true;
        tr->open_id = r->id;
        tr->open_ns = r->ns;
        break;
    case GREEN__TRACE_PARK:
    case GREEN__TRACE_YIELD:
    case GREEN__TRACE_EXIT:
        close_slice(tr, r->ns);
        instant(tr, stops[r->type], r->id, r->ns);
        if (r->type == GREEN__TRACE_PARK) {
            put(",\"args\":{\"wait\":");
            out_string(r->text);
            put("}");
        }
        put("}\n");
        break;
    case GREEN__TRACE_WAKE:
        instant(tr, "wake", r->id, r->ns);
        put(",\"args\":{\"by\":");
        out_waker(r);
        put(",\"err\":");
        put_int(r->err);
        put("}}\n");
        if (r->by == GREEN__TRACE_BY_THREAD)
            flow(tr, r);
        break;
    case GREEN__TRACE_POLL:
        event("poller wait", "X", tr->pid);
        put(",\"tid\":0");
        out_ts("ts", (int64_t)r->arg - tf.t0);
        out_ts("dur", r->ns - (int64_t)r->arg);
        put(",\"args\":{\"timeout_ms\":");
        put_int(r->err);
        put("}}\n");
        break;
    }
}

/* Says how many records tr's scheduler dropped so far, if more. */
static void tell_drops(struct green__trace *tr)
{
    unsigned long d = atomic_load_explicit(&tr->dropped, memory_order_relaxed);
    if (d == tr->dropped_told)
        return;
    tr->dropped_told = d;
    event("trace records dropped", "i", tr->pid);
    put(",\"s\":\"p\",\"tid\":0");
    out_ts("ts", now_ns() - tf.t0);
    put(",\"args\":{\"dropped\":");
    put_u64(d);
    put("}}\n");
}

/* The consumer's side: every record tr holds, into the file. */
static void drain(struct green__trace *tr)
{
    size_t t = atomic_load_explicit(&tr->tail, memory_order_relaxed);
    size_t h = atomic_load_explicit(&tr->head, memory_order_acquire);
    while (t != h) {
        record(tr, &tr->ring[t & tr->mask]);
        if ((++t & 63) == 0)  /* room for the scheduler, now and then */
            atomic_store_explicit(&tr->tail, t, memory_order_release);
    }
    atomic_store_explicit(&tr->tail, t, memory_order_release);
    tell_drops(tr);
}

static void drain_all(void)
{
    for (struct green__node *n = tf.rings.first; n; n = n->next)
        drain(green__container_of(n, struct green__trace, node));
}

/* The writer thread. */

/* It never ends: at the end of the file it waits for ever, as the stall
 * detector's watchdog does, since a thread still exiting while the
 * process exits is what LeakSanitizer's stop of every thread trips on. */
static void *writer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&tf.lock);
    for (;;) {
        if (tf.off || green__list_empty(&tf.rings)) {
            pthread_cond_wait(&tf.changed, &tf.lock);
            continue;
        }
        drain_all();
        flush();
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long ns = until.tv_nsec + (long long)green__trace_interval_ms * 1000000;
        until.tv_sec += (time_t)(ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&tf.changed, &tf.lock, &until);
    }
    return NULL;
}

/* The end: every ring drained, the array closed.  Schedulers still
 * running go on untraced. */
static void finish(void)
{
    pthread_mutex_lock(&tf.lock);
    if (tf.fd >= 0) {
        drain_all();
        out("]\n");
        flush();
        close(tf.fd);
        tf.fd = -1;
    }
    tf.off = true;
    pthread_cond_broadcast(&tf.changed);
    pthread_mutex_unlock(&tf.lock);
}

/* A child of fork() writes nothing into its parent's file, nor opens it
 * again: it has no writer, and every scheduler there is untraced. */
static void forget_in_child(void)
{
    pthread_mutex_init(&tf.lock, NULL);
    pthread_cond_init(&tf.changed, NULL);
    if (tf.fd >= 0)
        close(tf.fd);
    tf.fd = -1;
    tf.off = true;
    tf.writer = false;
    tf.len = 0;
    tf.rings = (struct green__list){NULL, NULL};
    struct green__sched *s = green__cur;
    if (s && s->trace) {
        free(s->trace->ring);
        free(s->trace);
        s->trace = NULL;
    }
}

static void at_fork(void)
{
    pthread_atfork(NULL, NULL, forget_in_child);
}

/* Starting and ending a scheduler's trace. */

/* Under the lock: the file open, or tracing off with one line said. */
static bool open_file(const char *path)
{
    if (tf.fd >= 0 || tf.off)
        return tf.fd >= 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "libgreen: GREEN_TRACE=%s: cannot open it: %s; not tracing\n", path,
                strerror(errno));
        tf.off = true;
        return false;
    }
    int err = tf.writer ? 0 : green__os_thread(writer, NULL);
    if (err < 0) {
        fprintf(stderr, "libgreen: GREEN_TRACE=%s: cannot start the writer thread: %s; "
                        "not tracing\n", path, strerror(-err));
        close(fd);
        tf.off = true;
        return false;
    }
    tf.writer = true;
    tf.fd = fd;
    tf.t0 = now_ns();
    atexit(finish);
    out("[\n");
    return true;
}

static struct green__trace *ring_new(void)
{
    size_t n = 1;
    while (n < green__trace_ring_records)
        n <<= 1;
    struct green__trace *tr = calloc(1, sizeof *tr);
    struct green__trace_rec *ring = tr ? malloc(n * sizeof *ring) : NULL;
    if (!ring) {
        free(tr);
        fprintf(stderr, "libgreen: GREEN_TRACE: no memory for a scheduler's ring of %zu "
                        "records; not tracing it\n", n);
        return NULL;
    }
    tr->ring = ring;
    tr->mask = n - 1;
    tr->by = GREEN__TRACE_BY_SCHEDULER;
    return tr;
}

/* The scheduler's tracks: its own, named, and its poller's. */
static void announce(const struct green__sched *s, struct green__trace *tr)
{
    char name[64];
    if (s->hosted)
        snprintf(name, sizeof name, "host loop %u", tr->pid);
    else if (s->cores)
        snprintf(name, sizeof name, "scheduler %u (%u of a run)", tr->pid, s->index + 1);
    else
        snprintf(name, sizeof name, "scheduler %u", tr->pid);
    event("process_name", "M", tr->pid);
    out(",\"args\":{\"name\":\"%s\"}}\n", name);
    event("process_sort_index", "M", tr->pid);
    out(",\"args\":{\"sort_index\":%u}}\n", tr->pid);
    thread_name(tr, 0, "poller");
    event("thread_sort_index", "M", tr->pid);
    out(",\"tid\":0,\"args\":{\"sort_index\":-1}}\n");
}

void green__trace_start(struct green__sched *s)
{
    const char *path = getenv("GREEN_TRACE");
    if (!path || !*path)
        return;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, at_fork);
    pthread_mutex_lock(&tf.lock);
    struct green__trace *tr = open_file(path) ? ring_new() : NULL;
    if (tr) {
        tr->pid = ++tf.pids;
        announce(s, tr);
        green__list_push(&tf.rings, &tr->node);
        pthread_cond_signal(&tf.changed);
    }
    pthread_mutex_unlock(&tf.lock);
    s->trace = tr;
}

void green__trace_end(struct green__sched *s)
{
    struct green__trace *tr = s->trace;
    if (!tr)
        return;
    s->trace = NULL;
    pthread_mutex_lock(&tf.lock);
    if (tf.fd >= 0) {
        drain(tr);
        close_slice(tr, now_ns());
        flush();
    }
    green__list_remove(&tf.rings, &tr->node);
    pthread_mutex_unlock(&tf.lock);
    free(tr->ring);
    free(tr);
}

/* The producer's side: the next slot, or NULL when the ring is full (the
 * record is dropped and counted).  commit publishes it. */
static struct green__trace_rec *slot(struct green__trace *tr, enum green__trace_type type,
                                     uint64_t id)
{
    size_t h = atomic_load_explicit(&tr->head, memory_order_relaxed);
    if (h - atomic_load_explicit(&tr->tail, memory_order_acquire) > tr->mask) {
        atomic_fetch_add_explicit(&tr->dropped, 1, memory_order_relaxed);
        return NULL;
    }
    struct green__trace_rec *r = &tr->ring[h & tr->mask];
    r->ns = now_ns();
    r->type = (uint16_t)type;
    r->id = id;
    return r;
}

static void commit(struct green__trace *tr)
{
    size_t h = atomic_load_explicit(&tr->head, memory_order_relaxed);
    atomic_store_explicit(&tr->head, h + 1, memory_order_release);
}

static void record_plain(struct green__trace *tr, enum green__trace_type type, uint64_t id)
{
    if (slot(tr, type, id))
        commit(tr);
}

/* The running thread, if a slice is open. */
static uint64_t running_id(const struct green__sched *s)
{
    return s->trace->running && s->current ? s->current->id : 0;
}

void green__trace_spawn(struct green__sched *s, const green_t *t)
{
    struct green__trace_rec *r = slot(s->trace, GREEN__TRACE_SPAWN, t->id);
    if (r) {
        r->arg = running_id(s);
        memcpy(r->text, t->name, sizeof r->text);
        commit(s->trace);
    }
}

void green__trace_run(struct green__sched *s, const green_t *t)
{
    s->trace->running = true;
    record_plain(s->trace, GREEN__TRACE_RUN, t->id);
}

void green__trace_stop(struct green__sched *s, const green_t *t)
{
    struct green__trace *tr = s->trace;
    tr->running = false;
    if (t->state == GREEN__RUNNABLE) {
        record_plain(tr, GREEN__TRACE_YIELD, t->id);
    } else if (t->state == GREEN__DONE) {
        record_plain(tr, GREEN__TRACE_EXIT, t->id);
    } else {
        struct green__trace_rec *r = slot(tr, GREEN__TRACE_PARK, t->id);
        if (r) {
            t->wait->op->describe(t->wait, r->text, sizeof r->text);
            commit(tr);
        }
    }
}

void green__trace_wake(struct green__sched *s, const green_t *t, int err)
{
    struct green__trace *tr = s->trace;
    struct green__trace_rec *r = slot(tr, GREEN__TRACE_WAKE, t->id);
    if (r) {
        r->arg = running_id(s);
        r->by = (uint16_t)(r->arg ? GREEN__TRACE_BY_THREAD : tr->by);
        r->err = err;
        commit(tr);
    }
}

void green__trace_poll_begin(struct green__sched *s, int timeout_ms)
{
    struct green__trace *tr = s->trace;
    tr->by = GREEN__TRACE_BY_POLLER;
    tr->poll_timeout = timeout_ms;
    if (timeout_ms != 0)
        tr->poll_start = now_ns();
}

void green__trace_poll_timers(struct green__sched *s)
{
    struct green__trace *tr = s->trace;
    tr->by = GREEN__TRACE_BY_TIMER;
    if (tr->poll_timeout == 0)
        return;  /* a look, not a wait */
    struct green__trace_rec *r = slot(tr, GREEN__TRACE_POLL, 0);
    if (r) {
        r->arg = (uint64_t)tr->poll_start;
        r->err = tr->poll_timeout;
        commit(tr);
    }
    tr->polls++;
}

void green__trace_poll_end(struct green__sched *s)
{
    s->trace->by = GREEN__TRACE_BY_SCHEDULER;
}
