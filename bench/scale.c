/*
 * make bench, the scale part: what many green threads cost.
 *
 *   idle memory   N green threads parked in a sleep: resident bytes per
 *                 thread (VmRSS), and page tables per thread (VmPTE), with
 *                 Go's goroutines doing the same (bench/idle.go) when go is
 *                 installed
 *   spawn         ns per spawn while building up to N (slabs mapped cold)
 *   timers        100,000 sleepers: how late each wakes, while they are
 *                 all being started (a woken sleeper queues behind the
 *                 threads not yet run), and once all are parked
 *   idle conns    10,000 idle connections and 100 busy ones between a
 *                 server and a client process; round trips per second of
 *                 the busy ones, under poll and under epoll
 *
 * Every measurement runs in a child process of its own, so that each
 * starts from the same baseline.  Run with --million to add 1,000,000
 * idle green threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "green.h"
#include "sched.h"

enum { RUNS = 3 };

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* A line of /proc/self/status, in kB. */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            kb = atol(line + klen + 1);
    if (f)
        fclose(f);
    return kb;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Runs fn in a child process; the child writes up to 8 doubles to the
 * pipe, which come back in out.  Returns how many, 0 if the child failed. */
static int in_child(void (*fn)(int fd, void *arg), void *arg, double out[8])
{
    int p[2];
    if (pipe(p) < 0)
        return 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        fn(p[1], arg);
        _exit(0);
    }
    close(p[1]);
    ssize_t got = 0, r;
    while (got < (ssize_t)(8 * sizeof(double)) &&
           (r = read(p[0], (char *)out + got, 8 * sizeof(double) - (size_t)got)) > 0)
        got += r;
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? (int)(got / (ssize_t)sizeof(double)) : 0;
}

static void report(int fd, const double *v, int n)
{
    if (write(fd, v, (size_t)n * sizeof *v) < 0)
        _exit(1);
}

/* idle memory and spawn rate */

struct idle_args {
    long n;
    size_t stack;
    int fd;
};

static void *parked(void *arg)
{
    (void)arg;
    green_sleep(INT64_MAX);
    return NULL;
}

static void *idle_main(void *arg)
{
    struct idle_args *a = arg;
    green_attr_t attr = {.stack_size = a->stack};
    long rss0 = status_kb("VmRSS"), pte0 = status_kb("VmPTE");
    double t0 = now_ns();
    for (long i = 0; i < a->n; i++)
        if (!green_spawn_attr(&attr, parked, NULL))
            _exit(2);
    green_yield();  /* every one runs and parks */
    double t1 = now_ns();
    long rss1 = status_kb("VmRSS"), pte1 = status_kb("VmPTE");
    double v[3] = {(rss1 - rss0) * 1024.0 / a->n, (pte1 - pte0) * 1024.0 / a->n,
                   (t1 - t0) / a->n};
    report(a->fd, v, 3);
    _exit(0);  /* no need to unwind a million threads */
}

static void idle_child(int fd, void *arg)
{
    struct idle_args *a = arg;
    a->fd = fd;
    green_run(idle_main, a);
}

static void bench_idle(long n, size_t stack, const char *go)
{
    struct idle_args a = {n, stack, -1};
    double v[8];
    if (in_child(idle_child, &a, v) < 3) {
        printf("  %-9ld failed (out of memory or mappings?)\n", n);
        return;
    }
    printf("  %-9ld %8.0f B  %8.0f B  %10.0f B  %8.0f ns", n, v[0], v[1], v[0] + v[1], v[2]);
    if (go) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "GOMAXPROCS=1 %s %ld", go, n);
        FILE *f = popen(cmd, "r");
        double rss = 0, pte = 0;
        if (f && fscanf(f, "%lf %lf", &rss, &pte) == 2)
            printf("   go: %6.0f B + %4.0f B = %6.0f B", rss, pte, rss + pte);
        if (f)
            pclose(f);
    }
    printf("\n");
}

/* timers */

struct timer_args {
    long n;
    bool steady;     /* all parked first, deadlines from a common start */
    int fd;
    double *late;
    int64_t start;
    green_sem_t go;
};

static struct timer_args *timer_run;

static void *late_sleeper(void *arg)
{
    long i = (long)arg;
    int64_t due;
    if (timer_run->steady) {
        /* Releasing them all takes a while: leave it 500 ms. */
        green_sem_acquire(&timer_run->go);
        due = timer_run->start + 500 + rand() % 1000;
        int64_t ms = due - green_now();
        green_sleep(ms > 0 ? ms : 0);
    } else {
        green_sleep(1 + rand() % 1000);
        due = green_self()->timer.at;
    }
    timer_run->late[i] = (double)(green_now() - due);
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *timers_main(void *arg)
{
    struct timer_args *a = arg;
    green_attr_t attr = {.stack_size = GREEN_STACK_MIN};
    timer_run = a;
    a->late = calloc((size_t)a->n, sizeof *a->late);
    green_sem_init(&a->go, 0);
    green_group_t *g = green_group_new();
    for (long i = 0; i < a->n; i++)
        if (!green_group_spawn_attr(g, &attr, late_sleeper, (void *)i))
            _exit(2);
    if (a->steady) {
        green_yield();  /* every one waits for the go */
        a->start = green_now();
        for (long i = 0; i < a->n; i++)
            green_sem_release(&a->go);
    }
    green_group_wait(g);
    qsort(a->late, (size_t)a->n, sizeof *a->late, by_value);
    double v[3] = {a->late[a->n / 2], a->late[a->n * 99 / 100], a->late[a->n - 1]};
    report(a->fd, v, 3);
    _exit(0);
}

static void timers_child(int fd, void *arg)
{
    struct timer_args *a = arg;
    a->fd = fd;
    green_run(timers_main, a);
}

static void bench_timers(bool steady)
{
    struct timer_args ta = {.n = 100000, .steady = steady};
    double v[8];
    if (in_child(timers_child, &ta, v) == 3)
        printf("  %-42s median %.0f ms, p99 %.0f ms, max %.0f ms late\n",
               steady ? "all parked, due 0.5..1.5 s after a start:"
                      : "all spawned at once, sleeping 1..1000 ms:",
               v[0], v[1], v[2]);
}

/* idle connections */

enum { IDLE = 10000, BUSY = 100, MSG = 64 };
static const double BUSY_SECONDS = 0.5;

static void *echo(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[MSG];
    ssize_t n;
    while ((n = green_read(fd, buf, sizeof buf)) > 0)
        if (green_write(fd, buf, (size_t)n) != n)
            break;
    green_close(fd);
    return NULL;
}

static void *conn_server(void *arg)
{
    int lfd = *(int *)arg;
    green_attr_t attr = {.stack_size = 32 * 1024};
    green_group_t *g = green_group_new();
    for (int i = 0; i < IDLE + BUSY; i++) {
        int fd = green_accept(lfd, NULL, NULL);
        if (fd < 0)
            _exit(3);
        green_t *t = green_group_spawn_attr(g, &attr, echo, (void *)(intptr_t)fd);
        if (!t)
            _exit(4);
        green_detach(t);
    }
    green_group_wait(g);  /* until every client hangs up */
    green_group_free(g);
    return NULL;
}

struct conn_run {
    struct sockaddr_in addr;
    green_sem_t connecting;
    int fds[IDLE + BUSY];
    long trips;
    double until;
};

static int dial(struct conn_run *c)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    green_sem_acquire(&c->connecting);
    int r = green_connect(fd, (struct sockaddr *)&c->addr, sizeof c->addr);
    green_sem_release(&c->connecting);
    return r == 0 ? fd : -1;
}

static struct conn_run *conns;

static void *open_conn(void *arg)
{
    long i = (long)arg;
    conns->fds[i] = dial(conns);
    return NULL;
}

static void *busy(void *arg)
{
    int fd = conns->fds[(long)arg];
    char buf[MSG] = {0};
    while (now_ns() < conns->until) {
        if (green_write(fd, buf, MSG) != MSG)
            break;
        size_t got = 0;
        while (got < MSG) {
            ssize_t n = green_read(fd, buf + got, MSG - got);
            if (n <= 0)
                return NULL;
            got += (size_t)n;
        }
        conns->trips++;
    }
    return NULL;
}

static void *conn_client(void *arg)
{
    int fd = *(int *)arg;
    green_group_t *g = green_group_new();
    green_attr_t attr = {.stack_size = 32 * 1024};
    for (long i = 0; i < IDLE + BUSY; i++)
        green_group_spawn_attr(g, &attr, open_conn, (void *)i);
    green_group_wait(g);
    for (int i = 0; i < IDLE + BUSY; i++)
        if (conns->fds[i] < 0)
            _exit(5);
    double t0 = now_ns();
    conns->until = t0 + BUSY_SECONDS * 1e9;
    for (long i = IDLE; i < IDLE + BUSY; i++)
        green_group_spawn_attr(g, &attr, busy, (void *)i);
    green_group_wait(g);
    double v[1] = {conns->trips / ((now_ns() - t0) / 1e9)};
    for (int i = 0; i < IDLE + BUSY; i++)
        green_close(conns->fds[i]);
    green_group_free(g);
    report(fd, v, 1);
    return NULL;
}

static void conn_child(int fd, void *arg)
{
    const char *poller = arg;
    setenv("GREEN_POLLER", poller, 1);
    raise_nofile();
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
        _exit(6);
    pid_t server = fork();
    if (server == 0) {
        alarm(60);  /* bounded, whatever happens to the client */
        _exit(green_run(conn_server, &lfd) == 0 ? 0 : 7);
    }
    close(lfd);
    static struct conn_run c;
    c.addr = sin;
    green_sem_init(&c.connecting, 256);
    conns = &c;
    int r = green_run(conn_client, &fd);
    int status;
    waitpid(server, &status, 0);
    _exit(r == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 8);
}

static void bench_conns(const char *poller, double *median)
{
    double v[RUNS], out[8];
    for (int r = 0; r < RUNS; r++) {
        if (in_child(conn_child, (void *)poller, out) < 1) {
            printf("  %-6s failed\n", poller);
            *median = 0;
            return;
        }
        v[r] = out[0];
    }
    qsort(v, RUNS, sizeof v[0], by_value);
    *median = v[RUNS / 2];
    printf("  %-6s %10.0f round trips/s  [%.0f .. %.0f]\n", poller, v[RUNS / 2], v[0], v[RUNS - 1]);
}

int main(int argc, char **argv)
{
    bool million = argc > 1 && strcmp(argv[1], "--million") == 0;
    const char *go = getenv("GREEN_BENCH_GO");  /* the built bench/idle.go */
    if (go && access(go, X_OK) != 0)
        go = NULL;

    printf("\nidle green threads, parked in a sleep; stack %zu KiB each (virtual), guard page each\n",
           GREEN_STACK_DEFAULT / 1024);
    printf("  %-9s %10s  %10s  %12s  %11s\n", "threads", "resident", "page tables", "total/thread",
           "spawn");
    bench_idle(10000, 0, go);
    bench_idle(100000, 0, go);
    if (million)
        bench_idle(1000000, 0, go);
    if (!go)
        printf("  (go: not measured; install golang-go to compare goroutines)\n");

    printf("\ntimers: 100000 sleepers, how late each woke\n");
    bench_timers(false);
    bench_timers(true);

    printf("\nidle connections: %d idle and %d busy, %.1f s of 64-byte round trips, median of %d\n",
           IDLE, BUSY, BUSY_SECONDS, RUNS);
    double ep = 0, po = 0;
    bench_conns("epoll", &ep);
    bench_conns("poll", &po);
    if (ep > 0 && po > 0)
        printf("  epoll / poll: %.1f\n", ep / po);
    return 0;
}
