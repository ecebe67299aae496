/*
 * libgreen-hook: plain blocking calls, interposed, park only the green
 * thread that makes them.  A Check runner of its own (make test runs it
 * under each poller): it links libgreen-hook and libgreen as shared
 * libraries, as a program that opts in does, and uses the public API
 * only.  Every call below that looks blocking is the C library's name,
 * reaching the hook.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "public.h"

static void make_pipe(int p[2])
{
    ck_assert_int_eq(pipe(p), 0);
}

/* The fd's real flags, which fcntl no longer tells: /proc says them. */
static int real_flags(int fd)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int flags = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "flags: %o", (unsigned *)&flags) == 1)
            break;
    fclose(f);
    return flags;
}

/* Sleeps: a hundred sleep(1) take about one second together. */

static void *sleep_one(void *arg)
{
    (void)arg;
    ck_assert_uint_eq(sleep(1), 0);
    return NULL;
}

GREEN_TEST(sleeps_park)
{
    (void)arg;
    green_t *t[100];
    int64_t start = green_now();
    for (int i = 0; i < 100; i++)
        t[i] = green_spawn(sleep_one, NULL);
    ck_assert_int_eq(green_gather(t, 100, NULL), 0);
    int64_t took = green_now() - start;
    ck_assert_int_ge(took, 1000);
    ck_assert_int_lt(took, 20000);  /* one after another: 100 s */
    /* The others, and what they leave when cut short. */
    ck_assert_int_eq(usleep(1000), 0);
    struct timespec ts = {0, 2000000}, rem;
    ck_assert_int_eq(nanosleep(&ts, &rem), 0);
    ck_assert_int_eq(clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL), 0);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    now.tv_nsec += 2000000;
    if (now.tv_nsec >= 1000000000) {
        now.tv_nsec -= 1000000000;
        now.tv_sec++;
    }
    ck_assert_int_eq(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &now, NULL), 0);
    green_deadline(green_now() + 20);
    ts = (struct timespec){5, 0};
    errno = 0;
    ck_assert_int_eq(nanosleep(&ts, &rem), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_ge(rem.tv_sec, 4);
    ck_assert_uint_ge(sleep(5), 4);
    ck_assert_int_eq(usleep(5000000), -1);
    ck_assert_int_eq(clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem), ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    ts.tv_nsec = 1000000000;
    ck_assert_int_eq(nanosleep(&ts, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

/* The resolver: a hundred lookups at once, on the offload pool. */

static void *look_up(void *arg)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    *(int *)arg = getaddrinfo("localhost", "80", &hints, &res);
    if (*(int *)arg == 0)
        freeaddrinfo(res);
    return NULL;
}

GREEN_TEST(resolver_parks)
{
    (void)arg;
    green_t *t[100];
    int rc[100];
    for (int i = 0; i < 100; i++)
        t[i] = green_spawn(look_up, &rc[i]);
    ck_assert_int_eq(green_gather(t, 100, NULL), 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(rc[i], 0);
    struct addrinfo *res;
    ck_assert_int_eq(getaddrinfo(NULL, NULL, NULL, &res), EAI_NONAME);
    ck_assert_int_ne(getaddrinfo("not a valid host name", "80", NULL, &res), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(80),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char host[256], serv[32];
    ck_assert_int_eq(getnameinfo((struct sockaddr *)&sin, sizeof sin, host, sizeof host, serv,
                                 sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_str_eq(serv, "80");
    struct hostent *he = gethostbyname("localhost");
    ck_assert_ptr_nonnull(he);
    ck_assert_ptr_null(gethostbyname("not a valid host name"));
    return NULL;
}

/* Plain read and write between two green threads over blocking fds: each
 * parks in turn (without the hook the first read would stall both). */

static void *echo_plain(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[64];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        ck_assert_int_eq(write(fd, buf, (size_t)n), n);
    close(fd);
    return NULL;
}

GREEN_TEST(plain_io_parks)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    green_t *t = green_spawn(echo_plain, (void *)(intptr_t)sv[1]);
    for (int i = 0; i < 1000; i++) {
        char out[16], in[16];
        int k = snprintf(out, sizeof out, "ping %d", i);
        ck_assert_int_eq(write(sv[0], out, (size_t)k), k);
        ck_assert_int_eq(read(sv[0], in, sizeof in), k);
        ck_assert_mem_eq(in, out, (size_t)k);
    }
    struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
    ck_assert_int_eq(writev(sv[0], iov, 2), 4);
    char buf[8];
    ck_assert_int_eq(recv(sv[0], buf, 4, MSG_WAITALL), 4);
    ck_assert_int_eq(send(sv[0], "ef", 2, 0), 2);
    struct iovec back = {buf, sizeof buf};
    ck_assert_int_eq(readv(sv[0], &back, 1), 2);
    close(sv[0]);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

/* The program's view of O_NONBLOCK.  An fd the program made non-blocking
 * says EAGAIN, as it would; a pipe read through the hook keeps its own
 * flags; a socket libgreen accepted is non-blocking underneath, fcntl says
 * it is blocking, and libgreen's flag stays while the program toggles its
 * own. */

static void *write_later(void *arg)
{
    green_yield();
    ck_assert_int_eq(write((int)(intptr_t)arg, "x", 1), 1);
    return NULL;
}

static void *connect_echo(void *arg)
{
    struct sockaddr_in *sin = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)sin, sizeof *sin), 0);
    echo_plain((void *)(intptr_t)fd);
    return NULL;
}

/* A TCP connection accepted through the hook, to a green thread that
 * echoes until the end: its fd, and in *l and *t what to tear down. */
static int accepted_echo(int *l, green_t **t, struct sockaddr_in *sin)
{
    *l = socket(AF_INET, SOCK_STREAM, 0);
    *sin = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof *sin;
    ck_assert_int_eq(bind(*l, (struct sockaddr *)sin, sizeof *sin), 0);
    ck_assert_int_eq(listen(*l, 1), 0);
    ck_assert_int_eq(getsockname(*l, (struct sockaddr *)sin, &len), 0);
    *t = green_spawn(connect_echo, sin);
    int c = accept(*l, NULL, NULL);
    ck_assert_int_ge(c, 0);
    return c;
}

GREEN_TEST(fcntl_view)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    green_t *t = green_spawn(write_later, (void *)(intptr_t)p[1]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);  /* parked, then read */
    green_join(t, NULL);
    ck_assert_int_eq(real_flags(p[0]) & O_NONBLOCK, 0);
    ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK), 0);
    ck_assert_int_ne(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    errno = 0;
    ck_assert_int_eq(read(p[0], &c, 1), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) & ~O_NONBLOCK), 0);
    ck_assert_int_eq(real_flags(p[0]) & O_NONBLOCK, 0);
    t = green_spawn(write_later, (void *)(intptr_t)p[1]);
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    green_join(t, NULL);
    ck_assert_int_eq(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0);  /* others pass */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ne(fcntl(s, F_GETFL) & O_NONBLOCK, 0);
    close(s);
    close(p[0]);
    close(p[1]);

    int l;
    struct sockaddr_in sin;
    int fd = accepted_echo(&l, &t, &sin);
    ck_assert_int_ne(real_flags(fd) & O_NONBLOCK, 0);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    errno = 0;
    ck_assert_int_eq(read(fd, &c, 1), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK), 0);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_ne(real_flags(fd) & O_NONBLOCK, 0);
    ck_assert_int_eq(write(fd, "x", 1), 1);
    ck_assert_int_eq(read(fd, &c, 1), 1);  /* waits for the echo */
    close(fd);
    ck_assert_int_eq(green_join(t, NULL), 0);
    close(l);
    return NULL;
}

/* A plain read or write of a pipe or a tty in a green thread sets no
 * O_NONBLOCK on the file: code the hook does not see shares the flag
 * (stdio, plain OS threads, children, the shell on a terminal). */

enum { PIPE_LOAD = 256 * 1024 };

/* Reads fd to its end with read and readv in turn; the count. */
static void *read_all(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static char buf[8192];
    size_t got = 0;
    ssize_t n;
    for (int i = 0;; i++) {
        struct iovec iov[2] = {{buf, 100}, {buf + 100, sizeof buf - 100}};
        n = i % 2 ? readv(fd, iov, 2) : read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    ck_assert_int_eq(n, 0);
    return (void *)(uintptr_t)got;
}

/* Writes more than a pipe holds to w, with write and writev, for a green
 * thread that reads r to its end; neither end says O_NONBLOCK after. */
static void keeps_flags(int r, int w)
{
    green_t *t = green_spawn(read_all, (void *)(intptr_t)r);
    char *out = calloc(1, PIPE_LOAD);
    ck_assert_int_eq(write(w, out, PIPE_LOAD), PIPE_LOAD);
    struct iovec iov[3] = {{out, 1}, {out, 0}, {out, PIPE_LOAD - 1}};
    ck_assert_int_eq(writev(w, iov, 3), PIPE_LOAD);
    ck_assert_int_eq(real_flags(r) & O_NONBLOCK, 0);
    ck_assert_int_eq(real_flags(w) & O_NONBLOCK, 0);
    close(w);
    void *got;
    ck_assert_int_eq(green_join(t, &got), 0);
    ck_assert_uint_eq((uintptr_t)got, 2 * PIPE_LOAD);
    ck_assert_int_eq(real_flags(r) & O_NONBLOCK, 0);
    close(r);
    free(out);
}

GREEN_TEST(pipe_keeps_flags)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    keeps_flags(p[0], p[1]);
    return NULL;
}

/* A FIFO refuses RWF_NOWAIT (Linux 6.18 still), as an older kernel's
 * pipe does: its calls wait for poll(2)'s word. */
GREEN_TEST(fifo_keeps_flags)
{
    (void)arg;
    char dir[] = "/tmp/green-hook-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    int r = open(path, O_RDONLY | O_NONBLOCK);  /* else the open waits for a writer */
    ck_assert_int_ge(r, 0);
    int w = open(path, O_WRONLY);
    ck_assert_int_ge(w, 0);
    ck_assert_int_eq(fcntl(r, F_SETFL, 0), 0);
    keeps_flags(r, w);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    return NULL;
}

/* stdio writes the fd with calls the hook does not see: after a plain
 * write through the hook, a 1 MiB fwrite to a slow reader (an OS thread,
 * reading 64 bytes at a time) must still deliver every byte. */

enum { STDIO_LOAD = 1024 * 1024 };

static void *read_slowly(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[64];
    size_t got = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};  /* so a leaked flag fails the writer, not this */
        poll(&p, 1, -1);
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EAGAIN))
            break;
        got += n > 0 ? (size_t)n : 0;
    }
    return (void *)(uintptr_t)got;
}

GREEN_TEST(stdio_after_hooked_write)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    ck_assert_int_eq(write(p[1], "hello", 5), 5);
    pthread_t reader;
    ck_assert_int_eq(pthread_create(&reader, NULL, read_slowly, (void *)(intptr_t)p[0]), 0);
    FILE *f = fdopen(p[1], "w");
    ck_assert_ptr_nonnull(f);
    char *out = calloc(1, STDIO_LOAD);
    size_t put = fwrite(out, 1, STDIO_LOAD, f);
    int closed = fclose(f);  /* closes p[1]: the reader meets the end */
    void *got;
    ck_assert_int_eq(pthread_join(reader, &got), 0);
    ck_assert_uint_eq(put, STDIO_LOAD);
    ck_assert_int_eq(closed, 0);
    ck_assert_uint_eq((uintptr_t)got, 5 + STDIO_LOAD);
    close(p[0]);
    free(out);
    return NULL;
}

/* A plain OS thread's blocking read of a pipe a green thread has read
 * through the hook waits, as it would without the hook: each round, the
 * thread reads a byte the green thread writes, and says so on another
 * pipe, which the green thread waits on. */

enum { ROUNDS = 100 };

struct rounds {
    int in, ack;
    int done, err;
};

static void *read_rounds(void *arg)
{
    struct rounds *r = arg;
    for (r->done = 0; r->done < ROUNDS; r->done++) {
        char c;
        if (read(r->in, &c, 1) != 1) {
            r->err = errno;
            break;
        }
        ck_assert_int_eq(write(r->ack, "k", 1), 1);
    }
    close(r->ack);  /* the end, early if the read failed */
    return NULL;
}

GREEN_TEST(pthread_reads_after_green)
{
    (void)arg;
    int p[2], ack[2];
    make_pipe(p);
    make_pipe(ack);
    green_t *t = green_spawn(write_later, (void *)(intptr_t)p[1]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);  /* the green thread's, parked first */
    ck_assert_int_eq(green_join(t, NULL), 0);
    struct rounds r = {p[0], ack[1], 0, 0};
    pthread_t reader;
    ck_assert_int_eq(pthread_create(&reader, NULL, read_rounds, &r), 0);
    for (int i = 0; i < ROUNDS; i++) {
        ck_assert_int_eq(write(p[1], "x", 1), 1);
        if (read(ack[0], &c, 1) != 1)
            break;
    }
    ck_assert_int_eq(pthread_join(reader, NULL), 0);
    ck_assert_msg(r.done == ROUNDS, "the OS thread's read %d failed: %s", r.done, strerror(r.err));
    close(p[0]);
    close(p[1]);
    close(ack[0]);
    return NULL;
}

/* A tty, which takes no RWF_NOWAIT: both ends of a pseudo-terminal in raw
 * mode, written and read through the hook, keep their flags. */

enum { TTY_LOAD = 16 * 1024 };  /* within what the pty holds unread */

static void *read_tty(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[1024];
    size_t got = 0;
    while (got < TTY_LOAD + 5) {
        ssize_t n = read(fd, buf, sizeof buf);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    return NULL;
}

GREEN_TEST(tty_keeps_flags)
{
    (void)arg;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(master, 0);
    ck_assert_int_eq(grantpt(master), 0);
    ck_assert_int_eq(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    ck_assert_int_ge(slave, 0);
    struct termios tio;
    ck_assert_int_eq(tcgetattr(slave, &tio), 0);
    cfmakeraw(&tio);
    ck_assert_int_eq(tcsetattr(slave, TCSANOW, &tio), 0);
    green_t *t = green_spawn(read_tty, (void *)(intptr_t)slave);
    green_yield();  /* the reader parks first */
    ck_assert_int_eq(write(master, "hello", 5), 5);
    char *out = calloc(1, TTY_LOAD);
    ck_assert_int_eq(write(master, out, TTY_LOAD), TTY_LOAD);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(real_flags(master) & O_NONBLOCK, 0);
    ck_assert_int_eq(real_flags(slave) & O_NONBLOCK, 0);
    free(out);
    close(slave);
    close(master);
    return NULL;
}

/* poll, select and epoll_wait park on all their fds and their timeout. */

GREEN_TEST(poll_select_epoll_park)
{
    (void)arg;
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    green_t *t = green_spawn(write_later, (void *)(intptr_t)b[1]);
    struct pollfd fds[2] = {{a[0], POLLIN, 0}, {b[0], POLLIN, 0}};
    ck_assert_int_eq(poll(fds, 2, -1), 1);
    ck_assert_int_eq(fds[1].revents, POLLIN);
    green_join(t, NULL);
    char c;
    ck_assert_int_eq(read(b[0], &c, 1), 1);
    ck_assert_int_eq(poll(fds, 2, 30), 0);  /* the timeout */
    ck_assert_int_eq(poll(NULL, 0, 10), 0);
    struct timespec ts = {0, 10000000};
    ck_assert_int_eq(ppoll(fds, 1, &ts, NULL), 0);

    t = green_spawn(write_later, (void *)(intptr_t)a[1]);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(a[0], &rd);
    FD_SET(b[0], &rd);
    int top = (a[0] > b[0] ? a[0] : b[0]) + 1;
    ck_assert_int_eq(select(top, &rd, NULL, NULL, NULL), 1);
    ck_assert(FD_ISSET(a[0], &rd) && !FD_ISSET(b[0], &rd));
    green_join(t, NULL);
    ck_assert_int_eq(read(a[0], &c, 1), 1);
    struct timeval tv = {0, 20000};
    FD_SET(a[0], &rd);
    ck_assert_int_eq(select(top, &rd, NULL, NULL, &tv), 0);

    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = a[0]}, out;
    ck_assert_int_eq(epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &e), 0);
    t = green_spawn(write_later, (void *)(intptr_t)a[1]);
    ck_assert_int_eq(epoll_wait(ep, &out, 1, -1), 1);
    ck_assert_int_eq(out.data.fd, a[0]);
    green_join(t, NULL);
    ck_assert_int_eq(read(a[0], &c, 1), 1);
    ck_assert_int_eq(epoll_wait(ep, &out, 1, 20), 0);

    /* The thread's deadline: the error a library then sees. */
    green_deadline(green_now() + 20);
    errno = 0;
    ck_assert_int_eq(poll(fds, 2, 5000), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_eq(epoll_wait(ep, &out, 1, -1), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    close(ep);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    return NULL;
}

/* poll for one of the events poll(2) names besides POLLIN and POLLOUT,
 * alone: the wait ends on that readiness, as the real call's does. */

/* Fills fd's buffer with writes the program made non-blocking, and makes
 * it blocking again. */
static void fill(int fd)
{
    static const char page[4096];
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    while (write(fd, page, sizeof page) > 0)
        continue;
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(fcntl(fd, F_SETFL, 0), 0);
}

/* Reads all that fd holds, once the poll that waits for room has parked. */
static void *drain_later(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    green_yield();
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    while (read(fd, buf, sizeof buf) > 0)
        continue;
    ck_assert_int_eq(errno, EAGAIN);
    return NULL;
}

/* poll for events alone on fd, which a green thread makes ready: 1. */
static void poll_alone(int fd, short events, void *(*ready)(void *), int other)
{
    green_t *t = green_spawn(ready, (void *)(intptr_t)other);
    struct pollfd p = {fd, events, 0};
    ck_assert_int_eq(poll(&p, 1, 10000), 1);
    ck_assert_int_ne(p.revents & events, 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
}

GREEN_TEST(poll_rdnorm)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    poll_alone(p[0], POLLRDNORM, write_later, p[1]);
    close(p[0]);
    close(p[1]);
    return NULL;
}

GREEN_TEST(poll_wrnorm)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    fill(p[1]);
    poll_alone(p[1], POLLWRNORM, drain_later, p[0]);
    close(p[0]);
    close(p[1]);
    return NULL;
}

/* A pipe never says POLLWRBAND; a Unix stream socket does. */
GREEN_TEST(poll_wrband)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fill(sv[0]);
    poll_alone(sv[0], POLLWRBAND, drain_later, sv[1]);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

/* The events of every epoll registration of fd in this process, or'ed:
 * /proc says them (fdinfo of each epoll fd, a "tfd:" line per fd). */
static unsigned registered_events(int fd)
{
    unsigned all = 0;
    for (int ep = 0; ep < 1024; ep++) {
        char path[64], line[256];
        snprintf(path, sizeof path, "/proc/self/fdinfo/%d", ep);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        int tfd;
        unsigned events;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "tfd: %d events: %x", &tfd, &events) == 2 && tfd == fd)
                all |= events;
        fclose(f);
    }
    return all;
}

static void *look_at_registration(void *arg)
{
    int *fd_events = arg;
    fd_events[1] = (int)registered_events(fd_events[0]);
    return NULL;
}

/* Linux's files never report POLLRDBAND (decnet's sockets did), so the
 * wait is seen from /proc instead: while it is parked, the kernel has been
 * asked for POLLRDBAND; and it ends at its timeout, as the real one does. */
GREEN_TEST(poll_rdband)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int fd_events[2] = {sv[0], 0};
    green_t *t = green_spawn(look_at_registration, fd_events);
    struct pollfd p = {sv[0], POLLRDBAND, 0};
    ck_assert_int_eq(poll(&p, 1, 20), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_msg(fd_events[1] & EPOLLRDBAND, "the wait asked the kernel for %#x",
                  (unsigned)fd_events[1]);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

/* select with nfds above FD_SETSIZE, on bitmaps the program sized itself
 * (select(2) allows it): FD_SET would stop at FD_SETSIZE, so bits by hand. */

enum { BIG = 2048, WORD = 8 * sizeof(unsigned long) };

static void bit_set(unsigned long *bits, int fd)
{
    bits[fd / WORD] |= 1UL << (fd % WORD);
}

static bool bit_isset(const unsigned long *bits, int fd)
{
    return bits[fd / WORD] & (1UL << (fd % WORD));
}

GREEN_TEST(select_above_setsize)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    /* An fd above FD_SETSIZE too, where the limit lets the test have one. */
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < BIG && rl.rlim_max >= BIG) {
        rl.rlim_cur = BIG;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    int fd = p[0];
    if (rl.rlim_cur >= BIG) {
        fd = BIG - 100;
        ck_assert_int_eq(dup2(p[0], fd), fd);
    }
    unsigned long rd[BIG / WORD] = {0};
    bit_set(rd, fd);
    green_t *t = green_spawn(write_later, (void *)(intptr_t)p[1]);
    ck_assert_int_eq(select(BIG, (fd_set *)rd, NULL, NULL, NULL), 1);
    ck_assert(bit_isset(rd, fd));
    green_join(t, NULL);
    char c;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    /* Nothing ready: every bit of the program's bitmaps is cleared. */
    unsigned long wr[BIG / WORD];
    memset(wr, 0xff, sizeof wr);
    memset(rd, 0, sizeof rd);
    bit_set(rd, fd);
    struct timeval tv = {0, 10000};
    ck_assert_int_eq(select(BIG, (fd_set *)rd, NULL, NULL, &tv), 0);
    ck_assert(!bit_isset(rd, fd));
    ck_assert_int_eq(select(BIG, NULL, NULL, (fd_set *)wr, &tv), -1);
    ck_assert_int_eq(errno, EBADF);  /* every bit set: most are no fd */
    if (fd != p[0])
        close(fd);
    close(p[0]);
    close(p[1]);
    return NULL;
}

/* select looks at no more fds than the process's table has room for, as
 * the real one does: a bit set past it is not read.  The real call, made
 * outside green_run, says what the hook's must. */

enum { HUGE_BITS = 1 << 16 };

struct select_call {
    unsigned long *rd;
    int r, err;
};

static void select_now(struct select_call *c, int fd)
{
    c->rd = calloc(HUGE_BITS / WORD, sizeof *c->rd);
    ck_assert_ptr_nonnull(c->rd);
    bit_set(c->rd, fd);
    bit_set(c->rd, HUGE_BITS - 1);  /* past the table, unless it is that large */
    struct timeval tv = {0, 0};
    errno = 0;
    c->r = select(HUGE_BITS, (fd_set *)c->rd, NULL, NULL, &tv);
    c->err = errno;
}

static void *select_green(void *arg)
{
    struct select_call *c = arg;
    select_now(c, c->r);
    return NULL;
}

START_TEST(select_past_the_table)
{
    int p[2];
    make_pipe(p);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    struct select_call real, hooked = {.r = p[0]};
    select_now(&real, p[0]);
    ck_assert_int_eq(green_run(select_green, &hooked), 0);
    ck_assert_int_eq(hooked.r, real.r);
    if (real.r < 0)
        ck_assert_int_eq(hooked.err, real.err);
    else
        ck_assert_mem_eq(hooked.rd, real.rd, HUGE_BITS / 8);
    free(real.rd);
    free(hooked.rd);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* An fd only in exceptfds waits for urgent data alone: a hang-up or an
 * error there is not select's business, and the call waits on as the
 * real one does, for another fd or its timeout. */
GREEN_TEST(select_except_waits)
{
    (void)arg;
    int a[2], hup[2], err[2];
    make_pipe(a);
    make_pipe(hup);
    make_pipe(err);
    close(hup[1]);  /* hup[0] says POLLHUP */
    close(err[0]);  /* err[1] says POLLERR */
    int top = 0;
    int fds[] = {a[0], hup[0], err[1]};
    for (int i = 0; i < 3; i++)
        top = fds[i] >= top ? fds[i] + 1 : top;
    green_t *t = green_spawn(write_later, (void *)(intptr_t)a[1]);
    fd_set rd, ex;
    FD_ZERO(&rd);
    FD_ZERO(&ex);
    FD_SET(a[0], &rd);
    FD_SET(hup[0], &ex);
    FD_SET(err[1], &ex);
    ck_assert_int_eq(select(top, &rd, NULL, &ex, NULL), 1);
    ck_assert(FD_ISSET(a[0], &rd));
    ck_assert(!FD_ISSET(hup[0], &ex) && !FD_ISSET(err[1], &ex));
    green_join(t, NULL);
    /* Alone, they wait out the timeout. */
    FD_ZERO(&ex);
    FD_SET(hup[0], &ex);
    FD_SET(err[1], &ex);
    struct timeval tv = {0, 20000};
    int64_t start = green_now();
    ck_assert_int_eq(select(top, NULL, NULL, &ex, &tv), 0);
    ck_assert_int_ge(green_now() - start, 20);
    close(a[0]);
    close(a[1]);
    close(hup[0]);
    close(err[1]);
    return NULL;
}

/* The deadline and cancellation reach a plain read. */

static void *read_one(void *arg)
{
    char c;
    int *fd_err = arg;
    fd_err[1] = read(fd_err[0], &c, 1) < 0 ? errno : 0;
    return NULL;
}

GREEN_TEST(deadline_and_cancel)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    green_deadline(green_now() + 20);
    char c;
    errno = 0;
    ck_assert_int_eq(read(p[0], &c, 1), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    int fe[2] = {p[0], 0};
    green_t *t = green_spawn(read_one, fe);
    green_yield();
    green_cancel(t);
    green_join(t, NULL);
    ck_assert_int_eq(fe[1], ECANCELED);
    close(p[0]);
    close(p[1]);
    return NULL;
}

/* A plain close is a green close, so a new fd with the same number is
 * waited on afresh; dup2 onto a used fd too. */
GREEN_TEST(close_and_reuse)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        int p[2];
        make_pipe(p);
        green_t *t = green_spawn(write_later, (void *)(intptr_t)p[1]);
        char c;
        ck_assert_int_eq(read(p[0], &c, 1), 1);
        green_join(t, NULL);
        close(p[0]);
        close(p[1]);
    }
    int a[2], b[2];
    make_pipe(a);
    make_pipe(b);
    green_t *t = green_spawn(write_later, (void *)(intptr_t)a[1]);
    char c;
    ck_assert_int_eq(read(a[0], &c, 1), 1);
    green_join(t, NULL);
    ck_assert_int_eq(dup2(b[0], a[0]), a[0]);  /* a[0] is now b's reader */
    t = green_spawn(write_later, (void *)(intptr_t)b[1]);
    ck_assert_int_eq(read(a[0], &c, 1), 1);
    green_join(t, NULL);
    ck_assert_int_eq(dup3(b[0], a[0], O_CLOEXEC), a[0]);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    return NULL;
}

/* A copy of an fd (dup, F_DUPFD, F_DUPFD_CLOEXEC) is the same file, with
 * the same view: a socket libgreen accepted is non-blocking underneath,
 * and its copy is blocking in the program's eyes, and waits. */

/* copy, made from an accepted connection by make, is blocking in the
 * program's eyes, and a read of it waits for the echo. */
static void copy_waits(int (*make)(int fd), int cloexec)
{
    int l;
    green_t *t;
    struct sockaddr_in sin;
    int c = accepted_echo(&l, &t, &sin);
    int copy = make(c);
    ck_assert_int_ge(copy, 0);
    ck_assert_int_eq(fcntl(copy, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(fcntl(copy, F_GETFD) & FD_CLOEXEC, cloexec);
    char buf[4];
    ck_assert_int_eq(write(copy, "ping", 4), 4);
    ck_assert_int_eq(read(copy, buf, sizeof buf), 4);  /* nothing there yet: it waits */
    close(copy);
    close(c);
    ck_assert_int_eq(green_join(t, NULL), 0);
    close(l);
}

static int by_dup(int fd)
{
    return dup(fd);
}

static int by_dupfd(int fd)
{
    return fcntl(fd, F_DUPFD, 100);
}

static int by_dupfd_cloexec(int fd)
{
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

GREEN_TEST(dup_keeps_view)
{
    (void)arg;
    copy_waits(by_dup, 0);
    return NULL;
}

GREEN_TEST(dupfd_keeps_view)
{
    (void)arg;
    copy_waits(by_dupfd, 0);
    return NULL;
}

GREEN_TEST(dupfd_cloexec_keeps_view)
{
    (void)arg;
    copy_waits(by_dupfd_cloexec, FD_CLOEXEC);
    return NULL;
}

/* An fd above the fd limit the hook saw when it loaded keeps the view's
 * rules: the program's view is kept for it as for any other.  The runner
 * runs itself again (as a child, through sh to set the limit: Valgrind
 * keeps setrlimit from lowering it) with a hard limit of LOW_LIMIT, holding
 * a pipe at HIGH and HIGH + 1, above it.  There, for a pipe below the limit
 * and for that one, a look at the flags, then green_fd_adopt, which makes
 * the fd non-blocking underneath: the program still sees it blocking, and a
 * read waits. */

enum { LOW_LIMIT = 64, HIGH = 100 };
#define ABOVE_LIMIT "--above-limit"

static const char *self;  /* the runner, to run again */
static int child_fd = -1;  /* the fd the child is trying */

#define CHILD_CHECK(cond)                                                    \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: fd %d: %s failed (errno: %s)\n",         \
                    __FILE__, __LINE__, child_fd, #cond, strerror(errno));   \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

static void *child_write_later(void *arg)
{
    green_yield();
    CHILD_CHECK(write((int)(intptr_t)arg, "x", 1) == 1);
    return NULL;
}

static void *above_limit_main(void *arg)
{
    (void)arg;
    struct rlimit rl;
    CHILD_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max <= HIGH);
    int low[2];
    CHILD_CHECK(pipe(low) == 0);
    int fds[2][2] = {{low[0], low[1]}, {HIGH, HIGH + 1}};
    for (int i = 0; i < 2; i++) {
        int r = child_fd = fds[i][0], w = fds[i][1];
        CHILD_CHECK((fcntl(r, F_GETFL) & O_NONBLOCK) == 0);
        CHILD_CHECK(green_fd_adopt(r) == 0);
        CHILD_CHECK((fcntl(r, F_GETFL) & O_NONBLOCK) == 0);
        green_t *t = green_spawn(child_write_later, (void *)(intptr_t)w);
        char c;
        CHILD_CHECK(read(r, &c, 1) == 1);
        CHILD_CHECK(green_join(t, NULL) == 0);
        close(r);
        close(w);
    }
    return NULL;
}

START_TEST(view_above_load_limit)
{
    int p[2];
    make_pipe(p);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (dup2(p[0], HIGH) != HIGH || dup2(p[1], HIGH + 1) != HIGH + 1)
            _exit(2);
        close(p[0]);
        close(p[1]);
        char line[64];
        snprintf(line, sizeof line, "ulimit -n %d && exec \"$0\" %s", LOW_LIMIT, ABOVE_LIMIT);
        execl("/bin/sh", "sh", "-c", line, self, (char *)NULL);
        _exit(3);
    }
    close(p[0]);
    close(p[1]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the child (fd limit %d, a pipe at %d) failed: status %#x; its stderr says why",
                  LOW_LIMIT, HIGH, (unsigned)status);
}
END_TEST

/* TCP with the plain calls: socket, bind, listen, accept, connect. */

static void *serve_one(void *arg)
{
    int c = accept(*(int *)arg, NULL, NULL);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(fcntl(c, F_GETFL) & O_NONBLOCK, 0);
    char buf[8];
    ssize_t n = read(c, buf, sizeof buf);
    ck_assert_int_eq(write(c, buf, (size_t)n), n);
    close(c);
    return NULL;
}

GREEN_TEST(plain_tcp)
{
    (void)arg;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    ck_assert_int_eq(bind(l, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(l, 8), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sin, &len), 0);
    green_t *t = green_spawn(serve_one, &l);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(write(fd, "hello", 5), 5);
    char buf[8];
    ck_assert_int_eq(read(fd, buf, sizeof buf), 5);
    close(fd);
    green_join(t, NULL);
    close(l);
    return NULL;
}

/* Outside green_run every call is the real one. */
START_TEST(outside_is_real)
{
    int p[2];
    make_pipe(p);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    struct pollfd fd = {p[0], POLLIN, 0};
    ck_assert_int_eq(poll(&fd, 1, 0), 0);
    ck_assert_uint_eq(sleep(0), 0);
    ck_assert_int_eq(usleep(1), 0);
    ck_assert_int_eq(real_flags(p[0]) & O_NONBLOCK, 0);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* Outside green_run a call that succeeds leaves errno as it found it, as
 * the real call does: a program may set errno, make calls, and read it. */
#define KEEPS_ERRNO(call)                                                    \
    do {                                                                     \
        errno = SENTINEL;                                                    \
        long r_ = (long)(call);                                              \
        ck_assert_msg(r_ >= 0, "%s failed: %s", #call, strerror(errno));     \
        ck_assert_msg(errno == SENTINEL, "%s left errno %d (%s)", #call,     \
                      errno, strerror(errno));                               \
    } while (0)

START_TEST(outside_keeps_errno)
{
    enum { SENTINEL = 4242 };
    int p[2], sv[2];
    make_pipe(p);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char c;
    struct iovec iov = {&c, 1};
    KEEPS_ERRNO(write(p[1], "x", 1));
    KEEPS_ERRNO(read(p[0], &c, 1));
    KEEPS_ERRNO(writev(p[1], &iov, 1));
    KEEPS_ERRNO(readv(p[0], &iov, 1));
    KEEPS_ERRNO(send(sv[0], "x", 1, 0));
    KEEPS_ERRNO(recv(sv[1], &c, 1, 0));
    struct pollfd fd = {p[0], POLLIN, 0};
    KEEPS_ERRNO(poll(&fd, 1, 0));
    struct timespec zero = {0, 0};
    KEEPS_ERRNO(ppoll(&fd, 1, &zero, NULL));
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    struct timeval tv = {0, 0};
    KEEPS_ERRNO(select(p[0] + 1, &rd, NULL, NULL, &tv));
    int ep = epoll_create1(0);
    struct epoll_event e;
    KEEPS_ERRNO(epoll_wait(ep, &e, 1, 0));
    KEEPS_ERRNO(fcntl(p[0], F_GETFL));
    KEEPS_ERRNO(fcntl(p[0], F_SETFL, 0));
    int d;
    KEEPS_ERRNO(d = dup(p[0]));
    KEEPS_ERRNO(dup2(p[1], d));
    KEEPS_ERRNO(dup3(p[0], d, O_CLOEXEC));
    KEEPS_ERRNO(close(d));
    KEEPS_ERRNO(usleep(1));
    KEEPS_ERRNO(nanosleep(&zero, NULL));
    KEEPS_ERRNO(close(ep));
    KEEPS_ERRNO(close(sv[0]));
    KEEPS_ERRNO(close(sv[1]));
    KEEPS_ERRNO(close(p[0]));
    KEEPS_ERRNO(close(p[1]));
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], ABOVE_LIMIT) == 0)
        return green_run(above_limit_main, NULL) == 0 ? 0 : 1;
    self = argv[0];
    Suite *s = suite_create("hook");
    TCase *tc = tcase_create("hook");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, sleeps_park);
    tcase_add_test(tc, resolver_parks);
    tcase_add_test(tc, plain_io_parks);
    tcase_add_test(tc, fcntl_view);
    tcase_add_test(tc, pipe_keeps_flags);
    tcase_add_test(tc, fifo_keeps_flags);
    tcase_add_test(tc, stdio_after_hooked_write);
    tcase_add_test(tc, pthread_reads_after_green);
    tcase_add_test(tc, tty_keeps_flags);
    tcase_add_test(tc, poll_select_epoll_park);
    tcase_add_test(tc, poll_rdnorm);
    tcase_add_test(tc, poll_wrnorm);
    tcase_add_test(tc, poll_wrband);
    tcase_add_test(tc, poll_rdband);
    tcase_add_test(tc, select_above_setsize);
    tcase_add_test(tc, select_past_the_table);
    tcase_add_test(tc, select_except_waits);
    tcase_add_test(tc, deadline_and_cancel);
    tcase_add_test(tc, close_and_reuse);
    tcase_add_test(tc, plain_tcp);
    tcase_add_test(tc, dup_keeps_view);
    tcase_add_test(tc, dupfd_keeps_view);
    tcase_add_test(tc, dupfd_cloexec_keeps_view);
    tcase_add_test(tc, view_above_load_limit);
    tcase_add_test(tc, outside_is_real);
    tcase_add_test(tc, outside_keeps_errno);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
