/*
 * libgreen: stackful green threads for C.
 *
 * One green thread per connection, calls shaped like read(2) and write(2)
 * that park the green thread instead of blocking the process, and a
 * scheduler per OS thread that runs them.  Every call that can fail returns
 * -1 (or NULL) and sets errno; docs/api.md lists each errno.
 */
#ifndef GREEN_H
#define GREEN_H

#include <signal.h>
#include <stddef.h>
#include <sys/select.h>  /* sigset_t, which <signal.h> keeps back in strict ISO C */
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GREEN_API __attribute__((visibility("default")))
#else
#define GREEN_API
#endif

#define GREEN_VERSION_MAJOR 0
#define GREEN_VERSION_MINOR 2
#define GREEN_VERSION_PATCH 0
#define GREEN_VERSION "0.2.0"

/* A green thread.  The handle stays valid until the thread is joined, or,
 * for a detached thread, until it returns; every handle becomes invalid
 * when green_run returns. */
typedef struct green green_t;

/* Attributes for green_spawn_attr.  Zero-initialise it and set only what
 * you need: a zero field means the default, and fields added later will
 * keep that rule. */
typedef struct green_attr {
    size_t stack_size;  /* usable stack in bytes; 0 means GREEN_STACK_DEFAULT */
    const char *name;   /* copied; at most GREEN_NAME_MAX - 1 bytes; NULL = "" */
    int place;          /* the scheduler it runs on: GREEN_PLACE_HERE (0),
                           GREEN_PLACE_ANY or GREEN_PLACE_ON(index) */
    int eager;          /* nonzero: it runs at once, until it first parks,
                           yields or returns; then the spawner goes on */
} green_attr_t;

/* Where green_spawn_attr places a thread, in a run of several schedulers
 * (green_run_attr): on the caller's scheduler, on the least loaded one, or
 * on scheduler i (0 to green_sched_count() - 1). */
#define GREEN_PLACE_HERE 0
#define GREEN_PLACE_ANY (-1)
#define GREEN_PLACE_ON(i) ((int)(i) + 1)

/* Attributes for green_run_attr; zero-initialise it, as green_attr_t. */
typedef struct green_run_attr {
    unsigned schedulers; /* each on its own OS thread; 0: one per CPU the
                            process may run on */
    int pin;             /* nonzero: scheduler i stays on one CPU, the
                            i-th the process may run on */
} green_run_attr_t;

#define GREEN_STACK_DEFAULT ((size_t)256 * 1024)
#define GREEN_STACK_MIN ((size_t)16 * 1024)
#define GREEN_STACK_MAX ((size_t)1024 * 1024 * 1024)
#define GREEN_NAME_MAX 32

/* Events for green_wait. */
#define GREEN_IN 0x1
#define GREEN_OUT 0x2

/* "No deadline", for green_deadline. */
#define GREEN_NEVER ((int64_t)-1)

/* A group of green threads that are waited for, and cancelled, together. */
typedef struct green_group green_group_t;

/* A channel: a FIFO of fixed-size values between green threads. */
typedef struct green_chan green_chan_t;

/* One case of green_select: a channel operation, an fd's readiness or a
 * thread's end. */
typedef struct green_case {
    green_chan_t *chan;   /* SEND, RECV: the channel; NULL: never ready */
    int op;               /* GREEN_SEND, GREEN_RECV, GREEN_READY or GREEN_DONE */
    void *elem;           /* SEND: the value; RECV: where to receive it;
                             DONE: where the thread's result goes, or NULL */
    int err;              /* set by green_select: 0, or the case's errno */
    int fd;               /* READY: the fd; below 0: never ready */
    int events;           /* READY: GREEN_IN and/or GREEN_OUT; set to what
                             is ready */
    green_t *thread;      /* DONE: the thread, joined when chosen; NULL:
                             never ready */
} green_case_t;

#define GREEN_SEND 1
#define GREEN_RECV 2
#define GREEN_READY 3
#define GREEN_DONE 4

/* Not API: the queue of green threads parked on a mutex, condition
 * variable or semaphore, declared here so that those can be embedded and
 * initialised statically. */
struct green__node;
struct green__list {
    struct green__node *first, *last;
};

/* Mutex, condition variable and semaphore: no allocation, initialise with
 * the macro or the init call.  The fields are not API. */
typedef struct green_mutex {
    green_t *owner;
    void *sched;
    struct green__list waiters;
    int lock;
} green_mutex_t;

typedef struct green_cond {
    void *sched;
    struct green__list waiters;
    int lock;
} green_cond_t;

typedef struct green_sem {
    size_t value;
    void *sched;
    struct green__list waiters;
    int lock;
} green_sem_t;

#define GREEN_MUTEX_INIT {NULL, NULL, {NULL, NULL}, 0}
#define GREEN_COND_INIT {NULL, {NULL, NULL}, 0}
#define GREEN_SEM_INIT(n) {(n), NULL, {NULL, NULL}, 0}

/* Running green threads. */
GREEN_API int green_run(void *(*main)(void *), void *arg);
GREEN_API int green_run_attr(const green_run_attr_t *attr, void *(*main)(void *), void *arg);
GREEN_API int green_sched_index(void);
GREEN_API int green_sched_count(void);

/* A scheduler driven by another event loop (libuv, GLib, a GUI's): the
 * host watches green_loop_fd for reading and waits at most
 * green_loop_timeout ms, then calls green_loop_run, which runs every
 * runnable green thread until all are parked.  green_loop_stop ends it as
 * green_run ends: it cancels the green threads and waits for them.  Every
 * call is made on the OS thread that made the loop, outside its green
 * threads (api.md). */
typedef struct green_loop green_loop_t;
GREEN_API green_loop_t *green_loop_new(void);
GREEN_API int green_loop_fd(green_loop_t *loop);
GREEN_API int green_loop_timeout(green_loop_t *loop);
GREEN_API int green_loop_run(green_loop_t *loop);
GREEN_API green_t *green_loop_spawn(green_loop_t *loop, const green_attr_t *attr,
                                    void *(*fn)(void *), void *arg);
GREEN_API int green_loop_stop(green_loop_t *loop);
GREEN_API green_t *green_spawn(void *(*fn)(void *), void *arg);
GREEN_API green_t *green_spawn_attr(const green_attr_t *attr,
                                    void *(*fn)(void *), void *arg);
GREEN_API int green_join(green_t *t, void **result);
GREEN_API int green_detach(green_t *t);
GREEN_API int green_cancel(green_t *t);
GREEN_API int green_yield(void);
GREEN_API int green_checkpoint(void);
GREEN_API int green_shield(int on);
GREEN_API green_t *green_self(void);
GREEN_API const char *green_name(const green_t *t);
GREEN_API uint64_t green_id(const green_t *t);

/* Values that belong to a green thread (asyncio's contextvars, pthreads'
 * keys): each thread has its own value under a key, NULL until set; the
 * key's destructor gets the values still set when a thread ends.  With
 * GREEN_KEY_INHERIT a new thread starts with its spawner's value. */
typedef unsigned int green_key_t;
#define GREEN_KEY_INHERIT 1
#define GREEN_KEYS_MAX 256      /* keys alive at once, in the process */
#define GREEN_KEY_ROUNDS 4      /* destructor rounds at a thread's end */
GREEN_API int green_key_create(green_key_t *key, void (*destructor)(void *), int flags);
GREEN_API int green_key_delete(green_key_t key);
GREEN_API void *green_key_get(green_key_t key);
GREEN_API int green_key_set(green_key_t key, const void *value);

/* Time: milliseconds on the monotonic clock. */
GREEN_API int64_t green_now(void);
GREEN_API int green_sleep(int64_t ms);
GREEN_API int64_t green_deadline(int64_t at);

/* I/O with the POSIX signatures; they park the calling green thread
 * instead of blocking the OS thread. */
GREEN_API ssize_t green_read(int fd, void *buf, size_t n);
GREEN_API ssize_t green_write(int fd, const void *buf, size_t n);
GREEN_API ssize_t green_readv(int fd, const struct iovec *iov, int iovcnt);
GREEN_API ssize_t green_writev(int fd, const struct iovec *iov, int iovcnt);
GREEN_API ssize_t green_recv(int fd, void *buf, size_t n, int flags);
GREEN_API ssize_t green_send(int fd, const void *buf, size_t n, int flags);
GREEN_API ssize_t green_recvfrom(int fd, void *buf, size_t n, int flags,
                                 struct sockaddr *addr, socklen_t *addrlen);
GREEN_API ssize_t green_sendto(int fd, const void *buf, size_t n, int flags,
                               const struct sockaddr *addr, socklen_t addrlen);
GREEN_API int green_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
GREEN_API int green_connect(int fd, const struct sockaddr *addr,
                            socklen_t addrlen);
GREEN_API ssize_t green_sendmsg(int fd, const struct msghdr *msg, int flags);
GREEN_API ssize_t green_recvmsg(int fd, struct msghdr *msg, int flags);
GREEN_API int green_wait(int fd, int events);
GREEN_API int green_close(int fd);
GREEN_API int green_fd_adopt(int fd);
GREEN_API int green_fd_release(int fd);

/* Offloading blocking calls to a pool of worker OS threads. */
GREEN_API int green_offload(void *(*fn)(void *), void *arg, void **result);
GREEN_API int green_offload_threads(size_t n);

/* Connecting and listening by name.  Sockets come back non-blocking. */
struct addrinfo;
#define GREEN_REUSEPORT 0x1
GREEN_API int green_getaddrinfo(const char *node, const char *service,
                                const struct addrinfo *hints, struct addrinfo **res);
GREEN_API int green_gai_error(void);
GREEN_API int green_tcp_connect(const char *host, const char *port);
GREEN_API int green_tcp_listen(const char *host, const char *port, int backlog);
GREEN_API int green_tcp_listen_flags(const char *host, const char *port, int backlog,
                                     int flags);
GREEN_API int green_udp_connect(const char *host, const char *port);
GREEN_API int green_udp_bind(const char *host, const char *port, int flags);
GREEN_API int green_unix_connect(const char *path);
GREEN_API int green_unix_listen(const char *path, int backlog);
GREEN_API int green_local_port(int fd);
GREEN_API int green_tcp_close(int fd);

/* Buffered streams over an fd or over any transport shaped like
 * green_read and green_write (TLS, a test double). */
typedef struct green_stream green_stream_t;
typedef struct green_stream_io {
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    ssize_t (*write)(void *ctx, const void *buf, size_t n);
    int (*close)(void *ctx);            /* NULL: nothing to close */
} green_stream_io_t;

GREEN_API green_stream_t *green_stream_open(int fd, size_t limit);
GREEN_API green_stream_t *green_stream_open_io(const green_stream_io_t *io, void *ctx,
                                               size_t limit);
GREEN_API ssize_t green_stream_read(green_stream_t *s, void *buf, size_t n);
GREEN_API ssize_t green_stream_readexactly(green_stream_t *s, void *buf, size_t n);
GREEN_API ssize_t green_stream_readuntil(green_stream_t *s, const void *delim, size_t dlen,
                                         void *buf, size_t n);
GREEN_API ssize_t green_stream_readline(green_stream_t *s, char *buf, size_t n);
GREEN_API ssize_t green_stream_peek(green_stream_t *s, const void **data, size_t want);
GREEN_API int green_stream_consume(green_stream_t *s, size_t n);
GREEN_API size_t green_stream_buffered(const green_stream_t *s);
GREEN_API ssize_t green_stream_write(green_stream_t *s, const void *buf, size_t n);
GREEN_API int green_stream_flush(green_stream_t *s);
GREEN_API int green_stream_close(green_stream_t *s);
GREEN_API int green_stream_fd(const green_stream_t *s);

/* Child processes and signals. */
GREEN_API pid_t green_waitpid(pid_t pid, int *status, int options);
GREEN_API int green_signal_wait(const sigset_t *set);

/* Cross-thread queues: a bounded FIFO any thread may use. */
typedef struct green_queue green_queue_t;
GREEN_API green_queue_t *green_queue_new(size_t elem_size, size_t capacity);
GREEN_API int green_queue_free(green_queue_t *q);
GREEN_API int green_queue_send(green_queue_t *q, const void *elem);
GREEN_API int green_queue_trysend(green_queue_t *q, const void *elem);
GREEN_API int green_queue_recv(green_queue_t *q, void *elem);
GREEN_API int green_queue_tryrecv(green_queue_t *q, void *elem);
GREEN_API int green_queue_close(green_queue_t *q);

/* Groups: structured concurrency. */
GREEN_API green_group_t *green_group_new(void);
GREEN_API green_t *green_group_spawn(green_group_t *g, void *(*fn)(void *), void *arg);
GREEN_API green_t *green_group_spawn_attr(green_group_t *g, const green_attr_t *attr,
                                          void *(*fn)(void *), void *arg);
GREEN_API int green_group_wait(green_group_t *g);
GREEN_API int green_group_cancel(green_group_t *g);
GREEN_API void green_group_free(green_group_t *g);
/* A member says it failed: the group's first failure cancels the other
 * members, and green_group_wait reports it once they have all finished. */
typedef struct green_failure {
    uint64_t id;        /* the member's green_id */
    int err;            /* the errno value it failed with */
} green_failure_t;
GREEN_API int green_group_fail(int err);
GREEN_API ssize_t green_group_failures(green_group_t *g, green_failure_t *out, size_t n);
GREEN_API green_t *green_group_next(green_group_t *g);
GREEN_API int green_gather(green_t **threads, size_t n, void **results);

/* Channels. */
GREEN_API green_chan_t *green_chan_new(size_t elem_size, size_t capacity);
GREEN_API int green_chan_send(green_chan_t *ch, const void *elem);
GREEN_API int green_chan_recv(green_chan_t *ch, void *elem);
GREEN_API int green_chan_trysend(green_chan_t *ch, const void *elem);
GREEN_API int green_chan_tryrecv(green_chan_t *ch, void *elem);
GREEN_API int green_chan_close(green_chan_t *ch);
GREEN_API void green_chan_free(green_chan_t *ch);
GREEN_API size_t green_chan_len(const green_chan_t *ch);
GREEN_API size_t green_chan_cap(const green_chan_t *ch);
GREEN_API int green_select(green_case_t *cases, size_t n);
GREEN_API int green_tryselect(green_case_t *cases, size_t n);

/* Mutex, condition variable, semaphore. */
GREEN_API int green_mutex_init(green_mutex_t *m);
GREEN_API int green_mutex_destroy(green_mutex_t *m);
GREEN_API int green_mutex_lock(green_mutex_t *m);
GREEN_API int green_mutex_trylock(green_mutex_t *m);
GREEN_API int green_mutex_unlock(green_mutex_t *m);
GREEN_API int green_cond_init(green_cond_t *c);
GREEN_API int green_cond_destroy(green_cond_t *c);
GREEN_API int green_cond_wait(green_cond_t *c, green_mutex_t *m);
GREEN_API int green_cond_signal(green_cond_t *c);
GREEN_API int green_cond_broadcast(green_cond_t *c);
GREEN_API int green_sem_init(green_sem_t *s, size_t value);
GREEN_API int green_sem_destroy(green_sem_t *s);
GREEN_API int green_sem_acquire(green_sem_t *s);
GREEN_API int green_sem_tryacquire(green_sem_t *s);
GREEN_API int green_sem_release(green_sem_t *s);

/* What green_metrics and green_metrics_process fill.  Set size to
 * sizeof(green_metrics_t) first: fields are only ever appended, each call
 * fills as many as the caller's size holds and sets size to the bytes it
 * filled, so a program built against an older header keeps working.
 * Counts run from the scheduler's start (for the process: every
 * scheduler's, ended ones too); the rest is the state now. */
typedef struct green_metrics {
    size_t size;
    /* Green threads now, by state; done: returned, not yet joined. */
    uint64_t running, runnable, parked, done;
    uint64_t spawned;           /* green_run's main included */
    uint64_t switches;          /* from one green thread to another */
    uint64_t wakeups;           /* parked threads made runnable */
    /* Parks by what they waited for. */
    uint64_t parks_io;          /* an fd, a stream, a call on the ring */
    uint64_t parks_sleep;
    uint64_t parks_join;        /* a thread or a group */
    uint64_t parks_chan;        /* a channel, a select, a queue */
    uint64_t parks_sync;        /* a mutex, condition or semaphore */
    uint64_t parks_offload;
    uint64_t parks_other;       /* signals, subprocesses, libgreen's own */
    /* From a wake-up to running, in ns: one wake-up in 256 is timed. */
    uint64_t wake_delay_samples;
    uint64_t wake_delay_p50_ns, wake_delay_p99_ns, wake_delay_max_ns;
    uint64_t poller_waits;      /* calls into the poller's backend */
    uint64_t poller_events;     /* ready fds and completions they brought */
    uint64_t timers;            /* armed now */
    uint64_t timers_armed;
    uint64_t fds;               /* fds libgreen watches between waits now */
    uint64_t stack_reserved;    /* bytes of stacks mapped, guards left out */
    uint64_t stack_resident;    /* bytes of them in memory */
    uint64_t stack_used_max;    /* the deepest a thread's stack was seen */
    /* The offload pool, one per process: the same in both calls. */
    uint64_t offload_queued;    /* jobs waiting for a worker now */
    uint64_t offload_jobs;      /* jobs a worker took */
    uint64_t offload_wait_p50_ns, offload_wait_p99_ns, offload_wait_max_ns;
    uint64_t schedulers;        /* counted in: 1, or the process's now */
} green_metrics_t;

/* Diagnostics. */
GREEN_API const char *green_version(void);
GREEN_API void green_dump(FILE *out);
GREEN_API int green_metrics(green_metrics_t *m);
GREEN_API int green_metrics_process(green_metrics_t *m);
GREEN_API ssize_t green_stack_used(const green_t *t);
GREEN_API const char *green_poller_name(void);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_H */
