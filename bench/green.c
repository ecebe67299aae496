/*
 * libgreen's side of every make bench workload.  Each run prints one
 * figure; bench/run.py runs it several times beside the peers.
 *
 *   green switch N      ns per switch: two threads yield to each other
 *   green spawn-eager N the same, each thread eager (run at once, as a call)
 *   green spawn N       ns per spawn, run and join, warm stack cache; on
 *                       several schedulers, spawned on the second
 *   green chan0 N       ns per message, unbuffered channel ping-pong
 *   green chan64 N      the same with capacity 64
 *   green mutex N       ns per handoff of a mutex between two threads
 *   green io N          us per round trip of one byte over a socketpair
 *   green wait N        the same, one side doing its own non-blocking I/O
 *                       and calling green_wait, as a library does
 *   green wait-adopted N  the same on an fd given to green_fd_adopt
 *   green select N, green select-adopted N
 *                       the same, waiting in green_select on the fd and a
 *                       channel instead of green_wait
 *   green waitctl N, green waitctl-adopted N
 *                       epoll_ctl calls per green_wait in those
 *   green offload N     us per green_offload of a function that returns
 *   green start N       us per green_run of a function that returns at once
 *   green idle N        bytes per green thread parked in a sleep
 *   green spawnscale N  ns per spawn while building up to N threads
 *   green skynet N      ms for a tree of N green threads (a power of 10),
 *                       fan-out 10: each leaf returns its number, each
 *                       parent spawns its ten children and sums them; on
 *                       several schedulers, the root's ten children go
 *                       round them and each subtree stays where it began
 *   green timers N      ms late, p99, of N sleepers once all are parked
 *   green file N        ms late, the worst, of a ticker that wakes every
 *                       10 ms while 100 threads read the first N MiB of
 *                       the file GREEN_BENCH_FILE in 64 KiB chunks, with
 *                       green_read (file-offload: pread in green_offload),
 *                       dropped from the page cache first
 *   green flood N       ms, the worst round trip of N pings, one every
 *                       10 ms, that a green thread echoes while another
 *                       reads a pipe an OS thread floods (64 KiB reads,
 *                       each hashed): the fairness budget (GREEN_BUDGET)
 *
 * GREEN_BENCH_SCHEDULERS=n runs the workload on n schedulers
 * (green_run_attr), the first running it; GREEN_BENCH_PIN=1 pins each to
 * a CPU.
 *
 * The http-hello server is docs/examples/http_server.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "green.h"
#include "sched.h"

static long N;
static double result;

/* switch */

static void *yielder(void *arg)
{
    (void)arg;
    for (long i = 0; i < N / 2; i++)
        green_yield();
    return NULL;
}

/* Runs fn in two green threads at once: ns per operation of the N. */
static void time_pair(void *(*fn)(void *))
{
    green_t *a = green_spawn(fn, NULL), *b = green_spawn(fn, NULL);
    double t0 = bench_now_ns();
    green_join(a, NULL);
    green_join(b, NULL);
    result = (bench_now_ns() - t0) / N;
}

static void *run_switch(void *arg)
{
    (void)arg;
    time_pair(yielder);
    return NULL;
}

/* spawn */

static void *nothing(void *arg)
{
    return arg;
}

/* On several schedulers, each thread is spawned on the second and joined
 * from the first: the round trips across OS threads. */
static void *run_spawn(void *arg)
{
    green_attr_t at = {.place = green_sched_count() > 1 ? GREEN_PLACE_ON(1) : GREEN_PLACE_HERE,
                       .eager = arg != NULL};
    green_join(green_spawn_attr(&at, nothing, NULL), NULL);
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        green_join(green_spawn_attr(&at, nothing, NULL), NULL);
    result = (bench_now_ns() - t0) / N;
    return NULL;
}

/* skynet */

struct sky {
    long num, size;
};

static bool lazy;

static void *skynet(void *arg)
{
    const struct sky *me = arg;
    if (me->size == 1)
        return (void *)(intptr_t)me->num;
    long part = me->size / 10, sum = 0;
    struct sky kids[10];
    green_t *t[10];
    /* The root spreads its subtrees over the schedulers; below it, every
     * thread spawns on its own, eager (GREEN_BENCH_LAZY=1: at the back of
     * the run queue). */
    bool root = me->size == N;
    int n = root ? green_sched_count() : 1;
    for (int i = 0; i < 10; i++) {
        kids[i] = (struct sky){me->num + i * part, part};
        green_attr_t at = {.place = n > 1 ? GREEN_PLACE_ON(i % n) : GREEN_PLACE_HERE,
                           .eager = !root && !lazy};
        if (!(t[i] = green_spawn_attr(&at, skynet, &kids[i]))) {
            perror("green_spawn");
            exit(1);
        }
    }
    for (int i = 0; i < 10; i++) {
        void *r;
        green_join(t[i], &r);
        sum += (intptr_t)r;
    }
    return (void *)(intptr_t)sum;
}

static void *run_skynet(void *arg)
{
    (void)arg;
    lazy = getenv("GREEN_BENCH_LAZY") != NULL;
    struct sky root = {0, N};
    double t0 = bench_now_ns();
    long sum = (long)(intptr_t)skynet(&root);
    result = (bench_now_ns() - t0) / 1e6;
    if (sum != N * (N - 1) / 2) {
        fprintf(stderr, "skynet: sum %ld, not %ld\n", sum, N * (N - 1) / 2);
        exit(1);
    }
    return NULL;
}

/* channel ping-pong */

static green_chan_t *there, *back;

static void *ponger(void *arg)
{
    int v;
    (void)arg;
    for (long i = 0; i < N / 2; i++)
        if (green_chan_recv(there, &v) < 0 || green_chan_send(back, &v) < 0)
            break;
    return NULL;
}

static void pingpong(size_t cap)
{
    there = green_chan_new(sizeof(int), cap);
    back = green_chan_new(sizeof(int), cap);
    /* On several schedulers the ponger runs on the second: every message
     * crosses OS threads. */
    green_attr_t at = {.place = green_sched_count() > 1 ? GREEN_PLACE_ON(1) : GREEN_PLACE_HERE};
    green_t *t = green_spawn_attr(&at, ponger, NULL);
    int v = 1;
    double t0 = bench_now_ns();
    for (long i = 0; i < N / 2; i++)
        if (green_chan_send(there, &v) < 0 || green_chan_recv(back, &v) < 0)
            exit(1);
    result = (bench_now_ns() - t0) / N;
    green_join(t, NULL);
    green_chan_free(there);
    green_chan_free(back);
}

static void *run_chan0(void *arg)
{
    (void)arg;
    pingpong(0);
    return NULL;
}

static void *run_chan64(void *arg)
{
    (void)arg;
    pingpong(64);
    return NULL;
}

/* mutex handoff */

static green_mutex_t handoff = GREEN_MUTEX_INIT;

static void *take_turns(void *arg)
{
    (void)arg;
    for (long i = 0; i < N / 2; i++) {
        green_mutex_lock(&handoff);
        green_yield();  /* the other queues up for it */
        green_mutex_unlock(&handoff);
    }
    return NULL;
}

static void *run_mutex(void *arg)
{
    (void)arg;
    time_pair(take_turns);
    return NULL;
}

/* offload round trip */

static void *returns_at_once(void *arg)
{
    return arg;
}

static void *run_offload(void *arg)
{
    (void)arg;
    green_offload(returns_at_once, NULL, NULL);  /* the pool starts */
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        if (green_offload(returns_at_once, NULL, NULL) < 0)
            exit(1);
    result = (bench_now_ns() - t0) / N / 1000;
    return NULL;
}

/* io round trip */

static void *echo_bytes(void *arg)
{
    int fd = *(int *)arg;
    char c;
    for (long i = 0; i < N; i++)
        if (green_read(fd, &c, 1) != 1 || green_write(fd, &c, 1) != 1)
            break;
    return NULL;
}

static void *run_io(void *arg)
{
    (void)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        exit(1);
    green_t *peer = green_spawn(echo_bytes, &sv[1]);
    char c = 'x';
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        if (green_write(sv[0], &c, 1) != 1 || green_read(sv[0], &c, 1) != 1)
            exit(1);
    result = (bench_now_ns() - t0) / N / 1000;
    green_join(peer, NULL);
    green_close(sv[0]);
    green_close(sv[1]);
    return NULL;
}

/* green_wait, used the way a library with its own I/O uses it */

enum { WAIT_ADOPT = 1, WAIT_COUNT_CTL = 2, WAIT_SELECT = 4 };

/* The wait as a select: the fd, or a message on a channel that never
 * gets one, as a server's connection thread waits. */
static int wait_in(int fd, int how)
{
    static green_chan_t *control;
    if (!(how & WAIT_SELECT))
        return green_wait(fd, GREEN_IN);
    if (!control)
        control = green_chan_new(sizeof(int), 0);
    int msg;
    green_case_t cases[] = {
        {.op = GREEN_READY, .fd = fd, .events = GREEN_IN},
        {.chan = control, .op = GREEN_RECV, .elem = &msg},
    };
    return green_select(cases, 2) == 0 ? 0 : -1;
}

static void *run_wait(void *arg)
{
    int how = (int)(intptr_t)arg;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        exit(1);
    if (how & WAIT_ADOPT ? green_fd_adopt(sv[0]) < 0 : fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0)
        exit(1);
    green_t *peer = green_spawn(echo_bytes, &sv[1]);
    unsigned long ctl0 = green__cur->poller.syscalls, waits = 0;
    char c = 'x';
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++) {
        if (send(sv[0], &c, 1, 0) != 1)
            exit(1);
        while (recv(sv[0], &c, 1, 0) != 1) {
            if (errno != EAGAIN || wait_in(sv[0], how) < 0)
                exit(1);
            waits++;
        }
    }
    result = how & WAIT_COUNT_CTL ? (double)(green__cur->poller.syscalls - ctl0) / (double)waits
                                  : (bench_now_ns() - t0) / N / 1000;
    green_join(peer, NULL);
    green_close(sv[0]);
    green_close(sv[1]);
    return NULL;
}

/* idle memory and spawn at scale */

static void *parked(void *arg)
{
    (void)arg;
    green_sleep(INT64_MAX);
    return NULL;
}

static void *run_idle(void *arg)
{
    bool spawn_time = arg != NULL;
    double mem0 = bench_memory(), t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        if (!green_spawn(parked, NULL))
            exit(2);
    green_yield();  /* every one runs and parks */
    result = spawn_time ? (bench_now_ns() - t0) / N : (bench_memory() - mem0) / N;
    printf("%.1f\n", result);
    fflush(stdout);
    _exit(0);  /* no need to unwind them all */
}

/* timers, once all are parked: p99 lateness in ms */

static green_sem_t go;
static int64_t start;
static double *late;

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *late_sleeper(void *arg)
{
    green_sem_acquire(&go);
    int64_t due = start + 500 + rand() % 1000;  /* releasing them all takes a while */
    int64_t ms = due - green_now();
    green_sleep(ms > 0 ? ms : 0);
    late[(long)arg] = (double)(green_now() - due);
    return NULL;
}

static void *run_timers(void *arg)
{
    (void)arg;
    green_attr_t attr = {.stack_size = GREEN_STACK_MIN};
    green_group_t *g = green_group_new();
    late = calloc((size_t)N, sizeof *late);
    green_sem_init(&go, 0);
    for (long i = 0; i < N; i++)
        green_group_spawn_attr(g, &attr, late_sleeper, (void *)i);
    green_yield();
    start = green_now();
    for (long i = 0; i < N; i++)
        green_sem_release(&go);
    green_group_wait(g);
    green_group_free(g);
    qsort(late, (size_t)N, sizeof *late, by_value);
    result = late[N * 99 / 100];
    free(late);
    return NULL;
}

/* file: a ticker's lateness while threads read a file */

enum { FILE_READERS = 100, CHUNK = 64 * 1024, TICK_MS = 10 };

struct slice {
    int fd;
    off_t from, to;
    bool offload;
};

static void *pread_chunk(void *arg)
{
    struct slice *sl = arg;
    static __thread char buf[CHUNK];
    ssize_t n = pread(sl->fd, buf, CHUNK, sl->from);
    return (void *)(intptr_t)n;
}

static void *read_slice(void *arg)
{
    struct slice *sl = arg;
    static char buf[CHUNK];  /* shared: the bytes are not looked at */
    if (!sl->offload && lseek(sl->fd, sl->from, SEEK_SET) < 0)
        exit(1);
    while (sl->from < sl->to) {
        void *got = NULL;
        ssize_t n = sl->offload ? (green_offload(pread_chunk, sl, &got) < 0 ? -1 : (intptr_t)got)
                                : green_read(sl->fd, buf, CHUNK);
        if (n <= 0)
            exit(1);
        sl->from += n;
    }
    return NULL;
}

static bool reading;

static void *ticker(void *arg)
{
    double *worst = arg;
    while (reading) {
        int64_t due = green_now() + TICK_MS;
        green_sleep(TICK_MS);
        double behind = (double)(green_now() - due);
        if (behind > *worst)
            *worst = behind;
    }
    return NULL;
}

static void *run_file(void *arg)
{
    const char *path = getenv("GREEN_BENCH_FILE");
    off_t size = (off_t)N << 20, share = size / FILE_READERS;
    struct slice sl[FILE_READERS];
    green_t *t[FILE_READERS];
    if (!path)
        exit(2);
    for (int i = 0; i < FILE_READERS; i++) {
        if ((sl[i].fd = open(path, O_RDONLY)) < 0)
            exit(1);
        sl[i] = (struct slice){sl[i].fd, share * i, share * (i + 1), arg != NULL};
    }
    (void)posix_fadvise(sl[0].fd, 0, 0, POSIX_FADV_DONTNEED);  /* as far as the kernel lets it */
    double worst = 0;
    reading = true;
    green_t *tk = green_spawn(ticker, &worst);
    for (int i = 0; i < FILE_READERS; i++)
        t[i] = green_spawn(read_slice, &sl[i]);
    for (int i = 0; i < FILE_READERS; i++) {
        green_join(t[i], NULL);
        close(sl[i].fd);
    }
    reading = false;
    green_join(tk, NULL);
    result = worst;
    return NULL;
}

/* flood */

enum { FLOOD_CHUNK = 65536, PING_MS = 10 };

static atomic_bool flooding;
static unsigned flood_sum;

/* An OS thread: writes as fast as the reader reads, then hangs up. */
static void *flood_producer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static char buf[FLOOD_CHUNK];
    while (atomic_load(&flooding))
        if (write(fd, buf, sizeof buf) < 0)
            break;
    close(fd);
    return NULL;
}

/* A green thread whose socket always has data: it never parks. */
static void *flood_consumer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static unsigned char buf[FLOOD_CHUNK];
    unsigned sum = 0;
    ssize_t n;
    while ((n = green_read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            sum = sum * 31 + buf[i];  /* a hash: a little CPU, in series */
    flood_sum = sum;
    green_close(fd);
    return NULL;
}

static void *echo_pings(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    while (green_read(fd, &c, 1) == 1)
        if (green_write(fd, &c, 1) != 1)
            break;
    green_close(fd);
    return NULL;
}

/* An OS thread: a ping every PING_MS, the worst round trip in result. */
static void *pinger(void *arg)
{
    int fd = (int)(intptr_t)arg;
    double worst = 0;
    for (long i = 0; i < N; i++) {
        usleep(PING_MS * 1000);
        double t0 = bench_now_ns();
        char c = 'p';
        if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
            exit(1);
        double ms = (bench_now_ns() - t0) / 1e6;
        if (ms > worst)
            worst = ms;
    }
    result = worst;
    close(fd);
    return NULL;
}

static void *run_flood(void *arg)
{
    int flood[2], ping[2];
    (void)arg;
    /* A pipe of a megabyte: the producer stays sixteen reads ahead, so
     * the reader never finds it empty. */
    if (pipe(flood) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, ping) < 0)
        exit(1);
    (void)fcntl(flood[1], F_SETPIPE_SZ, 1 << 20);
    atomic_store(&flooding, true);
    pthread_t producer, client;
    pthread_create(&producer, NULL, flood_producer, (void *)(intptr_t)flood[1]);
    green_t *consumer = green_spawn(flood_consumer, (void *)(intptr_t)flood[0]);
    green_t *echo = green_spawn(echo_pings, (void *)(intptr_t)ping[0]);
    pthread_create(&client, NULL, pinger, (void *)(intptr_t)ping[1]);
    green_join(echo, NULL);  /* the pinger hung up */
    atomic_store(&flooding, false);
    green_join(consumer, NULL);
    pthread_join(producer, NULL);
    pthread_join(client, NULL);
    return NULL;
}

/* start: us per green_run of a function that returns at once, set-up
 * and tear-down of the scheduler and its poller (a ring's is dearer). */
static double start_and_end(const green_run_attr_t *run)
{
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        if (green_run_attr(run, nothing, NULL) < 0) {
            perror("green_run");
            exit(1);
        }
    return (bench_now_ns() - t0) / N / 1000;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void *(*fn)(void *);
        void *arg;
    } workloads[] = {
        {"switch", run_switch, NULL}, {"spawn", run_spawn, NULL},
        {"spawn-eager", run_spawn, (void *)1},
        {"chan0", run_chan0, NULL},   {"chan64", run_chan64, NULL},
        {"mutex", run_mutex, NULL},   {"io", run_io, NULL},
        {"idle", run_idle, NULL},     {"spawnscale", run_idle, (void *)1},
        {"timers", run_timers, NULL}, {"offload", run_offload, NULL},
        {"skynet", run_skynet, NULL},
        {"file", run_file, NULL},     {"file-offload", run_file, (void *)1},
        {"wait", run_wait, (void *)0},
        {"wait-adopted", run_wait, (void *)WAIT_ADOPT},
        {"waitctl", run_wait, (void *)WAIT_COUNT_CTL},
        {"waitctl-adopted", run_wait, (void *)(WAIT_COUNT_CTL | WAIT_ADOPT)},
        {"select", run_wait, (void *)WAIT_SELECT},
        {"select-adopted", run_wait, (void *)(WAIT_SELECT | WAIT_ADOPT)},
        {"flood", run_flood, NULL},
    };
    if (argc != 3) {
        fprintf(stderr, "usage: green WORKLOAD N\n");
        return 2;
    }
    N = atol(argv[2]);
    const char *scheds = getenv("GREEN_BENCH_SCHEDULERS");
    green_run_attr_t run = {.schedulers = scheds ? (unsigned)atoi(scheds) : 1,
                            .pin = getenv("GREEN_BENCH_PIN") != NULL};
    if (strcmp(argv[1], "start") == 0) {
        printf("%.3f\n", start_and_end(&run));
        return 0;
    }
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++) {
        if (strcmp(argv[1], workloads[i].name) != 0)
            continue;
        if (green_run_attr(&run, workloads[i].fn, workloads[i].arg) < 0) {
            perror("green_run");
            return 1;
        }
        printf("%.3f\n", result);
        return 0;
    }
    fprintf(stderr, "green: no workload %s\n", argv[1]);
    return 2;
}
