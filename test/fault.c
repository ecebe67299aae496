/* The fault points' sweep, in the test build with fault points (make
 * FAULTS=1; lib/fault.h): every point made to fail in turn under a
 * program that uses every part.  The failure paths of one part are tested
 * in that part's suite, in its case "faults".  In the ordinary build this
 * suite is not run (test/suites.h). */
#ifdef GREEN_FAULTS
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The points' controls, without turning this file's own calls into
 * points. */
#define GREEN_FAULT_IMPL
#include "fault.h"
#include "sanitizer.h"
#include "util.h"

#ifdef GREEN__ASAN
#include <sanitizer/lsan_interface.h>
#endif

/* The sweep: a program that uses every part (spawn and join, channels and
 * select, mutex, condition and semaphore, groups, pipe and socket I/O,
 * offload, TCP by number and by name, Unix sockets, waitpid, signal_wait,
 * the cross-thread queue, deadlines and cancellation) is run with each
 * fault point failing, once and from then on, at calls spread over all
 * the calls the program makes through it.  Every run must end: each step
 * either works or fails with an errno libgreen documents for it (or the
 * injected one, passed on); no crash, no hang, no fd left open; and the
 * same program works again once the fault is gone. */

static int bad_errno;  /* the first step failure with an errno not allowed */
static int bad_line;   /* and the line of test/fault.c that saw it */
static int injected;

static bool allowed(int err)
{
    switch (err) {
    case ENOMEM: case EAGAIN: case EMFILE: case EIO: case ETIMEDOUT: case ECANCELED:
    case EPIPE: case ECONNRESET: case ECONNREFUSED: case EBADF: case ENXIO:
    case EADDRNOTAVAIL:
        return true;
    }
    return err == injected;
}

/* A step that failed at line: fine if its errno is one libgreen may give. */
static void failed_at(int line)
{
    if (!allowed(errno) && !bad_errno) {
        bad_errno = errno ? errno : -1;
        bad_line = line;
    }
}

static bool ok_at(bool cond, int line)
{
    if (!cond)
        failed_at(line);
    return cond;
}

#define failed() failed_at(__LINE__)
#define ok(cond) ok_at((cond), __LINE__)

static void *echo_arg(void *arg)
{
    return arg;
}

static void step_spawn(void)
{
    green_t *t = green_spawn(echo_arg, (void *)1);
    void *r;
    if (ok(t != NULL))
        ok(green_join(t, &r) == 0 && r == (void *)1);
}

static void *send_twice(void *arg)
{
    int v = 5;
    if (green_chan_send(arg, &v) < 0 || green_chan_send(arg, &v) < 0)
        green_chan_close(arg);
    return NULL;
}

static void step_chan(void)
{
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    if (!ok(ch != NULL))
        return;
    green_t *t = green_spawn(send_twice, ch);
    int v;
    if (ok(t != NULL)) {
        ok(green_chan_recv(ch, &v) == 0);
        green_case_t cases[10] = {{.chan = ch, .op = GREEN_RECV, .elem = &v}};  /* over 8: it allocates */
        for (int i = 1; i < 10; i++)
            cases[i] = (green_case_t){.chan = NULL, .op = GREEN_RECV, .elem = &v};
        ok(green_select(cases, 10) == 0);
        green_join(t, NULL);
    }
    green_chan_free(ch);
}

static green_mutex_t mu = GREEN_MUTEX_INIT;
static green_cond_t cv = GREEN_COND_INIT;
static green_sem_t sem = GREEN_SEM_INIT(0);
static bool flag;

static void *signal_flag(void *arg)
{
    (void)arg;
    green_mutex_lock(&mu);
    flag = true;
    green_cond_signal(&cv);
    green_mutex_unlock(&mu);
    green_sem_release(&sem);
    return NULL;
}

static void step_sync(void)
{
    flag = false;
    green_t *t = green_spawn(signal_flag, NULL);
    if (!ok(t != NULL))
        return;
    green_mutex_lock(&mu);
    while (!flag && ok(green_cond_wait(&cv, &mu) == 0))
        ;
    green_mutex_unlock(&mu);
    ok(green_sem_acquire(&sem) == 0);
    green_join(t, NULL);
}

static void step_group(void)
{
    green_group_t *g = green_group_new();
    if (!ok(g != NULL))
        return;
    for (int i = 0; i < 3; i++)
        ok(green_group_spawn(g, echo_arg, NULL) != NULL);
    ok(green_group_wait(g) == 0);
    green_group_free(g);
}

/* Writes what it was given, then closes its end. */
struct sender {
    int fd;
    size_t n;
};

static void *send_all(void *arg)
{
    struct sender *sd = arg;
    static char buf[65536];
    memset(buf, 'x', sd->n);
    green_write(sd->fd, buf, sd->n);
    green_close(sd->fd);
    return NULL;
}

/* Sends n bytes from one end to the other and checks them. */
static void exchange(int rfd, int wfd, size_t n)
{
    struct sender sd = {wfd, n};
    green_t *t = green_spawn(send_all, &sd);
    if (!ok(t != NULL)) {
        green_close(wfd);
        green_close(rfd);
        return;
    }
    static char buf[65536];
    size_t got = 0;
    ssize_t r;
    while (got < n && (r = green_read(rfd, buf + got, n - got)) > 0)
        got += (size_t)r;
    if (got < n)
        ok(false);
    green_join(t, NULL);
    green_close(rfd);
}

static void step_pipe_socketpair(void)
{
    int p[2];
    if (pipe(p) == 0)
        exchange(p[0], p[1], 65536);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0)
        exchange(sv[0], sv[1], 4096);
}

static void step_offload(void)
{
    void *r;
    for (int i = 0; i < 3; i++)
        ok(green_offload(echo_arg, (void *)2, &r) == 0 && r == (void *)2);
}

/* Accepts one connection on a listener and echoes what comes. */
static void *serve_once(void *arg)
{
    int l = *(int *)arg;
    int c = green_accept(l, NULL, NULL);
    green_close(l);  /* refuses the rest, so no client waits for ever */
    if (!ok(c >= 0))
        return NULL;
    char buf[8];
    ssize_t n = green_read(c, buf, sizeof buf);
    if (ok(n >= 0) && n > 0)
        ok(green_write(c, buf, (size_t)n) == n);
    green_close(c);
    return NULL;
}

static void talk(int fd)
{
    char buf[4];
    if (!ok(fd >= 0))
        return;
    /* The server checks its own calls: when one failed it closed, and the
     * read here sees the end of the stream, which is no error of its own
     * (errno is each thread's: this one's says nothing of the server's). */
    if (ok(green_write(fd, "ping", 4) == 4))
        ok(green_read(fd, buf, 4) >= 0);
    green_close(fd);
}

/* Echoes lines through a stream until end of file. */
static void *stream_echo(void *arg)
{
    int fd = *(int *)arg;
    green_stream_t *s = green_stream_open(fd, 0);
    if (!ok(s != NULL)) {
        green_close(fd);
        return NULL;
    }
    static char line[16384];
    ssize_t n;
    while ((n = green_stream_readline(s, line, sizeof line)) > 0)
        if (green_stream_write(s, line, (size_t)n) < 0) {
            failed();
            break;
        }
    if (n < 0)
        failed();
    if (green_stream_close(s) < 0)
        failed();
    return NULL;
}

/* A short line and one longer than the stream's buffer, there and back.
 * When the server failed it closed: end of file here is no error. */
static void step_stream(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return;
    green_t *t = green_spawn(stream_echo, &sv[1]);
    if (!ok(t != NULL)) {
        green_close(sv[0]);
        green_close(sv[1]);
        return;
    }
    green_stream_t *s = green_stream_open(sv[0], 0);
    if (!ok(s != NULL)) {
        green_close(sv[0]);
        green_join(t, NULL);
        return;
    }
    static char long_line[10001], buf[16384];
    memset(long_line, 'x', sizeof long_line - 1);
    long_line[sizeof long_line - 1] = '\n';
    ssize_t r = -1;
    if (ok(green_stream_write(s, "ping\n", 5) == 5) &&
        (r = green_stream_readline(s, buf, sizeof buf)) == 5 &&
        ok(green_stream_write(s, long_line, sizeof long_line) == sizeof long_line))
        r = green_stream_readline(s, buf, sizeof buf);
    if (r < 0)
        failed();
    if (green_stream_close(s) < 0)
        failed();
    green_join(t, NULL);
}

static void step_tcp(const char *host)
{
    int l = green_tcp_listen("127.0.0.1", "0", 0);
    if (!ok(l >= 0))
        return;
    char port[16];
    int n = green_local_port(l);
    if (!ok(n > 0)) {
        green_close(l);
        return;
    }
    snprintf(port, sizeof port, "%d", n);
    green_t *t = green_spawn(serve_once, &l);
    if (!ok(t != NULL)) {
        green_close(l);
        return;
    }
    talk(green_tcp_connect(host, port));
    green_join(t, NULL);
}

static void step_unix(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/green-sweep-%d.sock", (int)getpid());
    unlink(path);
    int l = green_unix_listen(path, 0);
    if (!ok(l >= 0))
        return;
    green_t *t = green_spawn(serve_once, &l);
    if (ok(t != NULL)) {
        talk(green_unix_connect(path));
        green_join(t, NULL);
    } else {
        green_close(l);
    }
    unlink(path);
}

static void step_waitpid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    int status;
    if (pid > 0)
        ok(green_waitpid(pid, &status, 0) == pid && WEXITSTATUS(status) == 3);
}

static void *wait_usr1(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    ok(green_signal_wait(&set) == SIGUSR1);
    return NULL;
}

static void step_signal(void)
{
    green_t *t = green_spawn(wait_usr1, NULL);
    if (!ok(t != NULL))
        return;
    green_yield();
    kill(getpid(), SIGUSR1);  /* ignored if the handler could not be installed */
    green_join(t, NULL);
}

static void *produce(void *arg)
{
    for (int i = 0; i < 8; i++)
        if (green_queue_send(arg, &i) < 0)
            break;
    return NULL;
}

static void step_queue(void)
{
    green_queue_t *q = green_queue_new(sizeof(int), 4);
    if (!ok(q != NULL))
        return;
    pthread_t pt;
    if (pthread_create(&pt, NULL, produce, q) == 0) {
        int v;
        for (int i = 0; i < 8 && ok(green_queue_recv(q, &v) == 0 && v == i); i++)
            ;
        green_queue_close(q);
        pthread_join(pt, NULL);
    }
    while (green_queue_free(q) < 0)
        green_yield();
}

static void *sleep_long(void *arg)
{
    (void)arg;
    green_sleep(10000);
    return NULL;
}

static void step_deadline_cancel(void)
{
    green_t *t = green_spawn(sleep_long, NULL);
    if (ok(t != NULL)) {
        green_yield();
        green_cancel(t);
        green_join(t, NULL);
    }
    int p[2];
    if (pipe(p) < 0)
        return;
    int64_t prev = green_deadline(green_now() + 5);
    char c;
    ssize_t r = green_read(p[0], &c, 1);
    ok(r < 0 && (errno == ETIMEDOUT || allowed(errno)));
    green_deadline(prev);
    green_close(p[0]);
    green_close(p[1]);
}

/* Each step's deadline.  A step cut short by a fault may wait for it (a
 * peer that could not be started, a wake-up that could not be written);
 * ETIMEDOUT is then what it reports, which is allowed. */
enum { STEP_MS = 250 };

static void *workload(void *arg)
{
    (void)arg;
    static void (*const steps[])(void) = {
        step_spawn, step_chan, step_sync, step_group, step_pipe_socketpair, step_offload,
        step_unix, step_waitpid, step_signal, step_queue, step_deadline_cancel, step_stream,
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        green_deadline(green_now() + STEP_MS);  /* nothing waits for long */
        steps[i]();
    }
    green_deadline(green_now() + STEP_MS);
    step_tcp("127.0.0.1");
    green_deadline(green_now() + STEP_MS);
    step_tcp("localhost");
    return NULL;
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* What one run of the sweep makes fail: point p from its nth call, or
 * (site not NULL) one call site, once or for good. */
struct fault {
    enum green__fault_point p;
    unsigned long nth;
    const char *site;
    bool persistent;
};

static void arm(const struct fault *f)
{
    enum green__fault_point p = f->p;
    bool memory = p == GREEN__FAULT_malloc || p == GREEN__FAULT_calloc ||
                  p == GREEN__FAULT_realloc || p == GREEN__FAULT_strdup ||
                  p == GREEN__FAULT_mmap;
    injected = memory ? ENOMEM : EIO;
    if (f->site)
        green__fault_set_site(f->site, f->persistent, injected);
    else
        green__fault_set(p, f->nth, f->persistent, injected);
}

/* Why a run failed, by its exit status. */
static const char *const verdicts[] = {
    [9] = "the clean run before fails",
    [10] = "green_run fails with an errno not documented",
    [11] = "a call fails with an errno not documented",
    [12] = "libgreen is not usable afterwards",
    [13] = "an fd is left open",
    [14] = "a block of memory is left allocated",
    [15] = "an address list of getaddrinfo is left",
    [16] = "a mapping is left",
    [17] = "LeakSanitizer found memory no one can free",
};

/* Under AddressSanitizer (make sanitize FAULTS=1), LeakSanitizer looks too:
 * it also sees what the books cannot, memory the C library or the test
 * allocated for libgreen and lost.  A child ends with _exit, where no leak
 * check runs by itself. */
static bool leaks_found(void)
{
#ifdef GREEN__ASAN
    return __lsan_do_recoverable_leak_check() != 0;
#else
    return false;
#endif
}

/* One run with f failing; in a child of the sweep, so a crash or a hang
 * (the alarm) is the child's.  Exits 0 when all holds. */
static void sweep_one(const struct fault *f)
{
    alarm(30);
    int report = dup(STDERR_FILENO);  /* for what went wrong */
    /* What libgreen says of the faults (a broken poller) is expected. */
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, STDERR_FILENO);
        close(null);
    }
    /* The child starts its own signal dispatcher and pipe (the parent's are
     * not inherited): a clean run first, then count. */
    if (green_run(workload, NULL) < 0 || bad_errno)
        exit_child(9);
    int fds = open_fds();
    struct green__fault_books before = green__fault_books();
    arm(f);
    int r = green_run(workload, NULL);
    int err = errno;
    green__fault_clear();
    if (r < 0 && !allowed(err)) {
        dprintf(report, "sweep: green_run failed with errno %d\n", err);
        exit_child(10);
    }
    if (bad_errno) {
        dprintf(report, "sweep: test/fault.c:%d: errno %d\n", bad_line, bad_errno);
        exit_child(11);
    }
    if (green_run(workload, NULL) < 0 || bad_errno) {
        dprintf(report, "sweep: afterwards, test/fault.c:%d: errno %d\n", bad_line, bad_errno);
        exit_child(12);  /* not usable afterwards */
    }
    struct green__fault_books after = green__fault_books();
    /* What munmap refused to unmap stays mapped: nothing else can be done. */
    bool unmapped = after.mapped == before.mapped || f->p == GREEN__FAULT_munmap;
    exit_child(open_fds() != fds ? 13 : after.blocks != before.blocks ? 14
               : after.addrinfos != before.addrinfos ? 15 : !unmapped ? 16
               : leaks_found() ? 17 : 0);
}

/* What the workload does, counted in a child: the calls through each
 * point, and the call sites it reaches. */
enum { MAX_SITES = 512 };
static struct {
    unsigned long calls[GREEN__FAULT_NPOINTS];
    const char *sites[MAX_SITES];  /* the same addresses in every child */
    enum green__fault_point points[MAX_SITES];
    size_t nsites;
} seen;

static void count_calls(void)
{
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        green__fault_clear();
        int r = green_run(workload, NULL);
        for (int p = 0; p < GREEN__FAULT_NPOINTS; p++)
            seen.calls[p] = green__fault_calls((enum green__fault_point)p);
        seen.nsites = green__fault_sites(seen.sites, seen.points, MAX_SITES);
        exit_child(write(pfd[1], &seen, sizeof seen) == sizeof seen && r == 0 && !bad_errno
                   ? 0 : 1);
    }
    close(pfd[1]);
    ck_assert_int_eq(read_blocking(pfd[0], &seen, sizeof seen), sizeof seen);
    close(pfd[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the workload fails");
    ck_assert_uint_le(seen.nsites, MAX_SITES);
}

enum { TRIES = 6 };  /* calls tried per point, spread over its count */

/* The runs of the sweep, made by fault_sweep and run by run_all. */
enum { MAX_RUNS = 2 * (GREEN__FAULT_NPOINTS * TRIES + MAX_SITES) };
static struct fault runs_todo[MAX_RUNS];
static size_t nruns;

/* Adds f's two runs, once and for good. */
static void add_both(struct fault f)
{
    for (int persistent = 0; persistent < 2; persistent++) {
        ck_assert_uint_lt(nruns, MAX_RUNS);
        f.persistent = persistent;
        runs_todo[nruns++] = f;
    }
}

/* Fails the test with why the run of f ended with status. */
static void check_run(const struct fault *f, int status)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    if (WIFEXITED(status) && code == 0)
        return;
    const char *why = code > 0 && (size_t)code < sizeof verdicts / sizeof verdicts[0] &&
                      verdicts[code] ? verdicts[code] : "it crashed or hung";
    char where[96];
    if (f->site)
        snprintf(where, sizeof where, "at %s", f->site);
    else
        snprintf(where, sizeof where, "at call %lu", f->nth);
    ck_abort_msg("%s failing %s%s: %s (status %#x)", green__fault_name(f->p), where,
                 f->persistent ? " and after" : "", why, status);
}

/* Runs each of runs_todo in a child of its own, JOBS children at a time:
 * the runs share nothing (each child has its fault, its fds, its socket
 * path by pid), and much of a run is waiting (a step cut short by a fault
 * waits for its deadline), so two at a time take half as long on two
 * cores.  The first run that fails fails the test, the others ended
 * first. */
enum { JOBS = 2 };

static void run_all(void)
{
    pid_t pids[JOBS] = {0};
    size_t which[JOBS] = {0};
    size_t next = 0, running = 0;
    while (next < nruns || running) {
        if (next < nruns && running < JOBS) {
            size_t slot = 0;
            while (pids[slot])
                slot++;
            pid_t pid = fork();
            ck_assert_int_ge(pid, 0);
            if (pid == 0)
                sweep_one(&runs_todo[next]);
            pids[slot] = pid;
            which[slot] = next++;
            running++;
            continue;
        }
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        ck_assert_int_gt(pid, 0);
        size_t slot = 0;
        while (slot < JOBS && pids[slot] != pid)
            slot++;
        ck_assert_uint_lt(slot, JOBS);
        pids[slot] = 0;
        running--;
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            for (size_t i = 0; i < JOBS; i++)
                if (pids[i]) {
                    kill(pids[i], SIGKILL);
                    waitpid(pids[i], NULL, 0);
                }
            check_run(&runs_todo[which[slot]], status);
        }
    }
}

START_TEST(fault_sweep)
{
    signal(SIGUSR1, SIG_IGN);
    green_offload_threads(2);
    ck_assert_int_eq(green_run(workload, NULL), 0);  /* warm: handlers, pool */
    ck_assert_int_eq(bad_errno, 0);
    count_calls();
    for (int p = 0; p < GREEN__FAULT_NPOINTS; p++) {
        unsigned long c = seen.calls[p];
        for (unsigned k = 0; k < TRIES && k < c; k++) {
            unsigned long nth = c <= TRIES ? k + 1 : 1 + k * (c - 1) / (TRIES - 1);
            add_both((struct fault){.p = (enum green__fault_point)p, .nth = nth});
        }
    }
    /* Then each call site on its own: the failure path of every call. */
    for (size_t i = 0; i < seen.nsites; i++)
        add_both((struct fault){.p = seen.points[i], .site = seen.sites[i]});
    run_all();
    ck_assert_uint_gt(nruns, 100);
}
END_TEST

Suite *fault_suite(void)
{
    Suite *s = suite_create("fault");
    TCase *sweep = tcase_create("sweep");
    tcase_set_timeout(sweep, 240);
    tcase_add_test(sweep, fault_sweep);
    suite_add_tcase(s, sweep);
    return s;
}
#endif
