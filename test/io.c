/* The blocking-looking I/O calls. */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <termios.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "sched.h"
#include "util.h"
#include "sys.h"  /* last: its macros route this file's calls through the table */

enum { BIG = 1 << 20 };  /* far more than a pipe or socket buffer holds */

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 31 + seed) ^ (i >> 8));
    return p;
}

struct xfer {
    int fd;
    const unsigned char *buf;
    size_t n;
    ssize_t result;
    int err;
};

static void *write_all(void *arg)
{
    struct xfer *x = arg;
    x->result = green_write(x->fd, x->buf, x->n);
    x->err = x->result < 0 ? errno : 0;
    return NULL;
}

struct reader {
    int fd;
    unsigned char *buf;
    size_t n, got;
};

/* Reads until n bytes or EOF; returns the count. */
static size_t read_full(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = green_read(fd, buf + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static void *read_into(void *arg)
{
    struct reader *rd = arg;
    rd->got = read_full(rd->fd, rd->buf, rd->n);
    return NULL;
}

/* read and write */

GREEN_TEST(read_write_pipe)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    unsigned char *src = pattern(BIG, 1), *dst = malloc(BIG);
    struct xfer x = {p[1], src, BIG, 0, 0};
    green_t *w = green_spawn(write_all, &x);
    ck_assert_uint_eq(read_full(p[0], dst, BIG), BIG);
    green_join(w, NULL);
    ck_assert_int_eq(x.result, BIG);
    ck_assert_mem_eq(dst, src, BIG);
    /* EOF once the writer closes. */
    green_close(p[1]);
    char c;
    ck_assert_int_eq(green_read(p[0], &c, 1), 0);
    green_close(p[0]);
    free(src);
    free(dst);
    return NULL;
}

GREEN_TEST(read_write_bad_fd)
{
    (void)arg;
    char c = 0;
    int p[2];
    make_pipe(p);
    close(p[0]);
    close(p[1]);
    errno = 0;
    ck_assert_int_eq(green_read(-1, &c, 1), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_read(p[0], &c, 1), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_write(p[1], &c, 1), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_write(-1, &c, 1), -1);
    ck_assert_int_eq(errno, EBADF);
    struct iovec iov = {&c, 1};
    ck_assert_int_eq(green_readv(-1, &iov, 1), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_writev(-1, &iov, 1), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_recv(-1, &c, 1, 0), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_send(-1, &c, 1, 0), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_accept(-1, NULL, NULL), -1);
    ck_assert_int_eq(errno, EBADF);
    /* Not a socket: the call's own error comes back. */
    int q[2];
    make_pipe(q);
    ck_assert_int_eq(green_recv(q[0], &c, 1, 0), -1);
    ck_assert_int_eq(errno, ENOTSOCK);
    green_close(q[0]);
    green_close(q[1]);
    return NULL;
}

/* Blocking fds: the first green call makes them non-blocking, and other
 * green threads keep running while one waits. */
static int other_ran;

static void *write_later(void *arg)
{
    int fd = *(int *)arg;
    other_ran = 1;
    green_yield();
    green_write(fd, "x", 1);
    return NULL;
}

GREEN_TEST(blocking_fd_does_not_stall)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    green_t *t = green_spawn(write_later, &p[1]);
    char c;
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);
    ck_assert_int_eq(c, 'x');
    ck_assert_int_eq(other_ran, 1);
    /* The ring's read needs no flag; the others' do. */
    if (strcmp(green_poller_name(), "uring") == 0)
        ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    else
        ck_assert_int_ne(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    green_join(t, NULL);
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

START_TEST(io_outside_is_posix)
{
    int p[2];
    make_pipe(p);
    ck_assert_int_eq(green_write(p[1], "ab", 2), 2);
    char buf[2];
    ck_assert_int_eq(green_read(p[0], buf, 2), 2);
    ck_assert_int_eq(buf[0], 'a');
    /* Outside green_run the fd is left as it was: blocking. */
    ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    struct iovec iov[2] = {{"c", 1}, {"d", 1}};
    ck_assert_int_eq(green_writev(p[1], iov, 2), 2);
    struct iovec in = {buf, 2};
    ck_assert_int_eq(green_readv(p[0], &in, 1), 2);
    ck_assert_int_eq(buf[1], 'd');
    ck_assert_int_eq(green_wait(p[1], GREEN_OUT), GREEN_OUT);
    ck_assert_int_eq(green_close(p[0]), 0);
    ck_assert_int_eq(green_close(p[1]), 0);
    errno = 0;
    ck_assert_int_eq(green_close(p[1]), -1);
    ck_assert_int_eq(errno, EBADF);
    int sv[2];
    make_socketpair(sv);
    ck_assert_int_eq(green_send(sv[0], "e", 1, 0), 1);
    ck_assert_int_eq(green_recv(sv[1], buf, 1, 0), 1);
    ck_assert_int_eq(buf[0], 'e');
    ck_assert_int_eq(green_sendto(sv[0], "f", 1, 0, NULL, 0), 1);
    ck_assert_int_eq(green_recvfrom(sv[1], buf, 1, 0, NULL, NULL), 1);
    ck_assert_int_eq(buf[0], 'f');
    close(sv[0]);
    close(sv[1]);
    ck_assert_int_eq(green_accept(-1, NULL, NULL), -1);
    ck_assert_int_eq(errno, EBADF);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    ck_assert_int_eq(green_connect(-1, (struct sockaddr *)&sin, sizeof sin), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

/* readv and writev */

GREEN_TEST(readv_writev)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    /* Odd-sized pieces, so writev stops inside one. */
    enum { PIECES = 7 };
    static const size_t sizes[PIECES] = {1, 70001, 0, 300000, 3, 200000, 99999};
    size_t total = 0;
    for (int i = 0; i < PIECES; i++)
        total += sizes[i];
    unsigned char *src = pattern(total, 2), *dst = malloc(total);
    struct iovec iov[PIECES];
    for (size_t i = 0, off = 0; i < PIECES; off += sizes[i], i++)
        iov[i] = (struct iovec){src + off, sizes[i]};
    struct reader rd = {p[0], dst, total, 0};
    green_t *r = green_spawn(read_into, &rd);
    ck_assert_int_eq(green_writev(p[1], iov, PIECES), (ssize_t)total);
    green_join(r, NULL);
    ck_assert_uint_eq(rd.got, total);
    ck_assert_mem_eq(dst, src, total);
    /* readv scatters what is there. */
    ck_assert_int_eq(green_write(p[1], "hello", 5), 5);
    char a[2], b[8];
    struct iovec in[2] = {{a, 2}, {b, sizeof b}};
    ck_assert_int_eq(green_readv(p[0], in, 2), 5);
    ck_assert_int_eq(memcmp(a, "he", 2), 0);
    ck_assert_int_eq(memcmp(b, "llo", 3), 0);
    green_close(p[0]);
    green_close(p[1]);
    free(src);
    free(dst);
    return NULL;
}

GREEN_TEST(readv_writev_bad_count)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    struct iovec iov = {"x", 1};
    errno = 0;
    ck_assert_int_eq(green_writev(p[1], &iov, -1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_readv(p[0], &iov, -1), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

/* A write of BIG bytes of src that the deadline stopped returned n: part
 * of them, with errno ETIMEDOUT, and exactly those n are in the pipe
 * (nothing dropped).  Clears the deadline. */
static void stopped_by_deadline(int rfd, ssize_t n, const unsigned char *src)
{
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, BIG);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    unsigned char *dst = malloc((size_t)n);
    ck_assert_int_eq(read_full(rfd, dst, (size_t)n), n);
    ck_assert_mem_eq(dst, src, (size_t)n);
    free(dst);
}

/* A write stopped part way reports the count written and why. */
GREEN_TEST(write_partial_on_deadline)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    unsigned char *src = pattern(BIG, 3);
    green_deadline(green_now() + 20);
    errno = 0;
    stopped_by_deadline(p[0], green_write(p[1], src, BIG), src);
    char c;
    ck_assert_int_eq(green_read(p[0], &c, 0), 0);
    green_deadline(green_now() + 5);
    ck_assert_int_eq(green_read(p[0], &c, 1), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_close(p[0]);
    green_close(p[1]);
    free(src);
    return NULL;
}

/* The same for writev, stopped inside an element or between two. */
GREEN_TEST(writev_partial_on_deadline)
{
    (void)arg;
    unsigned char *src = pattern(BIG, 5);
    for (int between = 0; between < 2; between++) {
        int p[2];
        make_pipe(p);
        /* The pipe takes 64 KiB: the first element fills it exactly, or
         * the first one stops inside the second. */
        size_t first = between ? 65536 : 1000;
        struct iovec iov[2] = {{src, first}, {src + first, BIG - first}};
        green_deadline(green_now() + 20);
        errno = 0;
        stopped_by_deadline(p[0], green_writev(p[1], iov, 2), src);
        green_close(p[0]);
        green_close(p[1]);
    }
    free(src);
    return NULL;
}

/* recv, send, recvfrom, sendto */

GREEN_TEST(send_recv)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    char buf[16];
    errno = 0;
    ck_assert_int_eq(green_recv(sv[0], buf, sizeof buf, MSG_DONTWAIT), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(green_send(sv[1], "abc", 3, 0), 3);
    ck_assert_int_eq(green_recv(sv[0], buf, sizeof buf, MSG_PEEK), 3);
    ck_assert_int_eq(green_recv(sv[0], buf, sizeof buf, 0), 3);
    ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
    ck_assert_int_eq(green_send(sv[1], "d", 1, MSG_DONTWAIT), 1);
    ck_assert_int_eq(green_recv(sv[0], buf, 1, 0), 1);
    green_close(sv[0]);
    green_close(sv[1]);
    /* On a pipe, the socket calls fail as the kernel's do. */
    int p[2];
    make_pipe(p);
    ck_assert_int_eq(green_send(p[1], "e", 1, 0), -1);
    ck_assert_int_eq(errno, ENOTSOCK);
    ck_assert_int_eq(green_recv(p[0], buf, 1, 0), -1);
    ck_assert_int_eq(errno, ENOTSOCK);
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

static void *send_in_pieces(void *arg)
{
    int fd = *(int *)arg;
    for (int i = 0; i < 4; i++) {
        green_send(fd, "xy", 2, 0);
        green_yield();
    }
    return NULL;
}

GREEN_TEST(recv_waitall)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    green_t *t = green_spawn(send_in_pieces, &sv[1]);
    char buf[8];
    ck_assert_int_eq(green_recv(sv[0], buf, 8, MSG_WAITALL), 8);
    ck_assert_int_eq(memcmp(buf, "xyxyxyxy", 8), 0);
    green_join(t, NULL);
    /* EOF ends it early with what came. */
    green_send(sv[1], "z", 1, 0);
    green_close(sv[1]);
    ck_assert_int_eq(green_recv(sv[0], buf, 8, MSG_WAITALL), 1);
    green_close(sv[0]);
    /* The deadline ends it with what came, and says so. */
    make_socketpair(sv);
    green_send(sv[1], "ab", 2, 0);
    green_deadline(green_now() + 10);
    errno = 0;
    ck_assert_int_eq(green_recv(sv[0], buf, 8, MSG_WAITALL), 2);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    green_close(sv[0]);
    green_close(sv[1]);
    return NULL;
}

static void *udp_echo(void *arg)
{
    int fd = *(int *)arg;
    char buf[64];
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = green_recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
    if (n > 0)
        green_sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    return NULL;
}

static int udp_socket(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(fd, 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    return fd;
}

GREEN_TEST(sendto_recvfrom_udp)
{
    (void)arg;
    struct sockaddr_in a, b, from;
    int fa = udp_socket(&a), fb = udp_socket(&b);
    green_t *t = green_spawn(udp_echo, &fb);
    ck_assert_int_eq(green_sendto(fa, "ping", 4, 0, (struct sockaddr *)&b, sizeof b), 4);
    char buf[8];
    socklen_t len = sizeof from;
    ck_assert_int_eq(green_recvfrom(fa, buf, sizeof buf, 0, (struct sockaddr *)&from, &len), 4);
    ck_assert_int_eq(memcmp(buf, "ping", 4), 0);
    ck_assert_int_eq(from.sin_port, b.sin_port);
    green_join(t, NULL);
    errno = 0;
    ck_assert_int_eq(green_sendto(fa, "x", 1, 0, NULL, 0), -1);
    ck_assert_int_eq(errno, EDESTADDRREQ);
    green_close(fa);
    green_close(fb);
    return NULL;
}

/* Two readers parked in recvfrom on one datagram socket: each call's
 * sender address is its own (under the ring both are in flight at once,
 * each with the message it was made with). */
struct dgram_reader {
    int fd;
    char payload[8];
    in_port_t from;
};

static void *read_one_dgram(void *arg)
{
    struct dgram_reader *r = arg;
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t n = green_recvfrom(r->fd, r->payload, sizeof r->payload - 1, 0,
                               (struct sockaddr *)&from, &len);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(len, sizeof from);
    r->from = from.sin_port;
    return NULL;
}

GREEN_TEST(two_readers_of_one_datagram_socket)
{
    (void)arg;
    struct sockaddr_in srv, a, b;
    int fs = udp_socket(&srv), fa = udp_socket(&a), fb = udp_socket(&b);
    struct dgram_reader r[2] = {{.fd = fs}, {.fd = fs}};
    green_t *t[2] = {green_spawn(read_one_dgram, &r[0]), green_spawn(read_one_dgram, &r[1])};
    green_yield();  /* both are parked in their recvfrom */
    ck_assert_int_eq(green_sendto(fa, "a", 1, 0, (struct sockaddr *)&srv, sizeof srv), 1);
    ck_assert_int_eq(green_sendto(fb, "b", 1, 0, (struct sockaddr *)&srv, sizeof srv), 1);
    green_join(t[0], NULL);
    green_join(t[1], NULL);
    /* One datagram each, and each with the address of the socket that
     * sent it. */
    ck_assert_int_ne(r[0].payload[0], r[1].payload[0]);
    for (int i = 0; i < 2; i++)
        ck_assert_uint_eq(r[i].from, r[i].payload[0] == 'a' ? a.sin_port : b.sin_port);
    green_close(fs);
    green_close(fa);
    green_close(fb);
    return NULL;
}

/* accept and connect */

static void *echo_once(void *arg)
{
    int lfd = *(int *)arg;
    int c = green_accept(lfd, NULL, NULL);
    char buf[64];
    ssize_t n;
    while ((n = green_read(c, buf, sizeof buf)) > 0)
        green_write(c, buf, (size_t)n);
    green_close(c);
    return NULL;
}

GREEN_TEST(accept_connect_tcp)
{
    (void)arg;
    unsigned short port;
    int lfd = tcp_listener(&port);
    green_t *server = green_spawn(echo_once, &lfd);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(green_connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(green_write(fd, "hello", 5), 5);
    char buf[8];
    ck_assert_uint_eq(read_full(fd, (unsigned char *)buf, 5), 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    green_close(fd);
    green_join(server, NULL);
    /* A refused connection: nothing listens once the listener is gone. */
    green_close(lfd);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    ck_assert_int_eq(green_connect(fd, (struct sockaddr *)&sin, sizeof sin), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    green_close(fd);
    return NULL;
}

GREEN_TEST(accept_gives_nonblocking_socket)
{
    (void)arg;
    unsigned short port;
    int lfd = tcp_listener(&port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(green_connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int c = green_accept(lfd, (struct sockaddr *)&peer, &len);
    ck_assert_int_ge(c, 0);
    ck_assert_int_eq(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    ck_assert_int_ne(fcntl(c, F_GETFL) & O_NONBLOCK, 0);
    /* accept's own errors come back as they are. */
    errno = 0;
    ck_assert_int_eq(green_accept(c, NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_close(c);
    green_close(fd);
    green_close(lfd);
    return NULL;
}

GREEN_TEST(accept_deadline_and_cancel)
{
    (void)arg;
    unsigned short port;
    int lfd = tcp_listener(&port);
    green_deadline(green_now() + 10);
    errno = 0;
    ck_assert_int_eq(green_accept(lfd, NULL, NULL), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    green_cancel(green_self());
    ck_assert_int_eq(green_accept(lfd, NULL, NULL), -1);
    ck_assert_int_eq(errno, ECANCELED);
    green_close(lfd);
    return NULL;
}

GREEN_TEST(connect_errors)
{
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    ck_assert_int_eq(green_connect(fd, NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    ck_assert_int_eq(green_connect(fd, (struct sockaddr *)&sin, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_close(fd);
    ck_assert_int_eq(green_connect(fd, (struct sockaddr *)&sin, sizeof sin), -1);
    ck_assert_int_eq(errno, EBADF);
    return NULL;
}

/* Writing to a closed peer: EPIPE, and the process lives. */
GREEN_TEST(epipe_not_sigpipe)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    green_close(sv[1]);
    errno = 0;
    ck_assert_int_eq(green_write(sv[0], "x", 1), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(green_send(sv[0], "x", 1, 0), -1);
    ck_assert_int_eq(errno, EPIPE);
    struct iovec iov = {"x", 1};
    ck_assert_int_eq(green_writev(sv[0], &iov, 1), -1);
    ck_assert_int_eq(errno, EPIPE);
    green_close(sv[0]);
    int p[2];
    make_pipe(p);
    green_close(p[0]);
    ck_assert_int_eq(green_write(p[1], "x", 1), -1);
    ck_assert_int_eq(errno, EPIPE);
    green_close(p[1]);
    return NULL;
}

START_TEST(sigpipe_restored_after_run)
{
    /* green_run leaves the signal mask as it found it. */
    sigset_t before, after;
    pthread_sigmask(SIG_SETMASK, NULL, &before);
    run_green(epipe_not_sigpipe_main, NULL);
    pthread_sigmask(SIG_SETMASK, NULL, &after);
    ck_assert_int_eq(sigismember(&before, SIGPIPE), sigismember(&after, SIGPIPE));
    sigset_t pending;
    sigpending(&pending);
    ck_assert_int_eq(sigismember(&pending, SIGPIPE), 0);
}
END_TEST

/* Two green threads on one fd at once. */

GREEN_TEST(reader_and_writer_on_one_socket)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    unsigned char *src = pattern(BIG, 4), *dst = malloc(BIG);
    /* On sv[0]: one thread reads the reply while another writes BIG. */
    struct reader reply = {sv[0], dst, 4, 0};
    green_t *r = green_spawn(read_into, &reply);
    struct xfer x = {sv[0], src, BIG, 0, 0};
    green_t *w = green_spawn(write_all, &x);
    green_yield();  /* both are parked on sv[0] now */
    unsigned char *sink = malloc(BIG);
    ck_assert_uint_eq(read_full(sv[1], sink, BIG), BIG);
    ck_assert_mem_eq(sink, src, BIG);
    ck_assert_int_eq(green_write(sv[1], "done", 4), 4);
    green_join(r, NULL);
    green_join(w, NULL);
    ck_assert_int_eq(x.result, BIG);
    ck_assert_uint_eq(reply.got, 4);
    ck_assert_int_eq(memcmp(dst, "done", 4), 0);
    green_close(sv[0]);
    green_close(sv[1]);
    free(src);
    free(dst);
    free(sink);
    return NULL;
}

static void *read_one(void *arg)
{
    struct reader *rd = arg;
    ssize_t n = green_read(rd->fd, rd->buf, 1);
    rd->got = n > 0 ? (size_t)n : 0;
    return NULL;
}

GREEN_TEST(two_readers_on_one_fd)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    unsigned char a = 0, b = 0;
    struct reader ra = {p[0], &a, 1, 0}, rb = {p[0], &b, 1, 0};
    green_t *ta = green_spawn(read_one, &ra);
    green_t *tb = green_spawn(read_one, &rb);
    green_yield();
    green_write(p[1], "1", 1);
    green_yield();
    green_write(p[1], "2", 1);
    green_join(ta, NULL);
    green_join(tb, NULL);
    ck_assert_uint_eq(ra.got + rb.got, 2);
    ck_assert_int_eq(a + b, '1' + '2');
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

/* Many waiters on one fd: each wake-up is counted in and out exactly. */
GREEN_TEST(many_readers_on_one_fd)
{
    (void)arg;
    enum { N = 500 };
    static unsigned char got[N];
    static struct reader rd[N];
    green_t *t[N];
    int p[2];
    make_pipe(p);
    for (int i = 0; i < N; i++) {
        rd[i] = (struct reader){p[0], &got[i], 1, 0};
        t[i] = green_spawn(read_one, &rd[i]);
    }
    green_yield();
    unsigned char *src = pattern(N, 5);
    ck_assert_int_eq(green_write(p[1], src, N), N);
    unsigned sum = 0, want = 0;
    size_t count = 0;
    for (int i = 0; i < N; i++) {
        green_join(t[i], NULL);
        count += rd[i].got;
        sum += got[i];
        want += src[i];
    }
    ck_assert_uint_eq(count, N);
    ck_assert_uint_eq(sum, want);
    free(src);
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

/* sendmsg and recvmsg: an fd passed over a Unix socket, a message larger
 * than the socket holds sent in full with its fd once, and the errors. */

static ssize_t send_fd(int sock, int fd, const void *buf, size_t n)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct iovec iov = {(void *)buf, n};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                       .msg_controllen = sizeof ctl.space};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return green_sendmsg(sock, &m, 0);
}

/* Receives up to n bytes and any fd that came with them (-1 if none). */
static ssize_t recv_fd(int sock, void *buf, size_t n, int *fd)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {buf, n};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                       .msg_controllen = sizeof ctl.space};
    ssize_t r = green_recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    *fd = -1;
    struct cmsghdr *c = r >= 0 ? CMSG_FIRSTHDR(&m) : NULL;
    if (c && c->cmsg_type == SCM_RIGHTS)
        memcpy(fd, CMSG_DATA(c), sizeof *fd);
    return r;
}

struct fd_recv {
    int sock, fd;
    ssize_t r;
    unsigned char *buf;
    size_t n;
};

static void *receive_fd(void *arg)
{
    struct fd_recv *x = arg;
    x->r = recv_fd(x->sock, x->buf, x->n, &x->fd);
    if (x->r > 0 && x->n > 1000)  /* a large one: the rest, without fds */
        x->r += (ssize_t)read_full(x->sock, x->buf + x->r, x->n - (size_t)x->r);
    return NULL;
}

GREEN_TEST(sendmsg_recvmsg_pass_fd)
{
    (void)arg;
    int sv[2], p[2];
    make_socketpair(sv);
    make_pipe(p);
    /* The receiver parks first. */
    unsigned char small[16];
    struct fd_recv x = {.sock = sv[1], .buf = small, .n = sizeof small};
    green_t *t = green_spawn(receive_fd, &x);
    green_yield();
    ck_assert_int_eq(send_fd(sv[0], p[1], "hi", 2), 2);
    green_join(t, NULL);
    ck_assert_int_eq(x.r, 2);
    ck_assert_int_ge(x.fd, 0);
    ck_assert_int_eq(green_write(x.fd, "!", 1), 1);  /* the pipe's write end */
    char c;
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);
    ck_assert_int_eq(c, '!');
    green_close(x.fd);

    /* More than the socket holds: all of it, the fd with the first part. */
    unsigned char *src = pattern(BIG, 7), *dst = malloc(BIG);
    struct fd_recv y = {.sock = sv[1], .buf = dst, .n = BIG};
    t = green_spawn(receive_fd, &y);
    ck_assert_int_eq(send_fd(sv[0], p[1], src, BIG), BIG);
    green_join(t, NULL);
    ck_assert_int_eq(y.r, BIG);
    ck_assert_int_ge(y.fd, 0);
    ck_assert_mem_eq(dst, src, BIG);
    green_close(y.fd);

    /* Errors, a deadline, and MSG_DONTWAIT passed on. */
    errno = 0;
    ck_assert_int_eq(green_sendmsg(sv[0], NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_recvmsg(sv[0], NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    struct iovec iov = {&c, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ck_assert_int_eq(green_recvmsg(-1, &m, 0), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_sendmsg(p[0], &m, 0), -1);
    ck_assert_int_eq(errno, ENOTSOCK);
    ck_assert_int_eq(green_recvmsg(sv[1], &m, MSG_DONTWAIT), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(green_sendmsg(sv[0], &m, MSG_DONTWAIT), 1);
    ck_assert_int_eq(green_recvmsg(sv[1], &m, 0), 1);
    green_deadline(green_now() + 10);
    ck_assert_int_eq(green_recvmsg(sv[1], &m, 0), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    free(src);
    free(dst);
    green_close(sv[0]);
    green_close(sv[1]);
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

/* A message of several parts larger than the socket holds: every byte,
 * in order; and cut short by the deadline, the count it sent. */
GREEN_TEST(sendmsg_large_vector)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    unsigned char *src = pattern(2 * BIG, 3), *dst = malloc(2 * BIG);
    struct iovec iov[3] = {{src, BIG / 2}, {src + BIG / 2, BIG}, {src + 3 * BIG / 2, BIG / 2}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 3};
    struct reader rd = {sv[1], dst, 2 * BIG, 0};
    green_t *t = green_spawn(read_into, &rd);
    ck_assert_int_eq(green_sendmsg(sv[0], &m, 0), 2 * BIG);
    green_join(t, NULL);
    ck_assert_uint_eq(rd.got, 2 * BIG);
    ck_assert_mem_eq(dst, src, 2 * BIG);
    /* Nobody reads now: the deadline stops it after the socket is full. */
    green_deadline(green_now() + 20);
    errno = 0;
    ssize_t r = green_sendmsg(sv[0], &m, 0);
    ck_assert_int_gt(r, 0);
    ck_assert_int_lt(r, 2 * BIG);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    free(src);
    free(dst);
    green_close(sv[0]);
    green_close(sv[1]);
    return NULL;
}

START_TEST(sendmsg_recvmsg_outside)
{
    int sv[2];
    make_socketpair(sv);
    char c = 'x';
    struct iovec iov = {&c, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ck_assert_int_eq(green_sendmsg(sv[0], &m, 0), 1);
    c = 0;
    ck_assert_int_eq(green_recvmsg(sv[1], &m, 0), 1);
    ck_assert_int_eq(c, 'x');
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* The table libgreen makes its C library calls through (lib/sys.h):
 * entries are passed by only where their definition is in the named
 * object, and the calls work after.  The C library is named as the
 * object getpid is in: glibc's libc.so.6, musl's dynamic linker. */
GREEN_TEST(sys_table_passes_by)
{
    (void)arg;
    ck_assert_uint_eq(green__sys_pass_by("no-such-object"), 0);
    Dl_info libc;
    ck_assert(dladdr((void *)getpid, &libc) && libc.dli_fname);
    const char *base = strrchr(libc.dli_fname, '/');
    size_t n = green__sys_pass_by(base ? base + 1 : libc.dli_fname);
    size_t entries = sizeof green__sys / sizeof green__sys.read;  /* 17 in the POSIX build */
    ck_assert_uint_le(n, entries);
    if (!under_asan() && !under_tsan())
        ck_assert_uint_eq(n, entries);  /* unhooked, unintercepted: all the C library's */
    int p[2];
    make_pipe(p);
    char c;
    ck_assert_int_eq(green_write(p[1], "x", 1), 1);
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

/* Cancellation and deadlines in I/O. */

GREEN_TEST(cancel_read)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    int a[2] = {p[0], 0};
    green_t *t = green_spawn(read_err, a);
    green_yield();
    green_cancel(t);
    green_join(t, NULL);
    ck_assert_int_eq(a[1], ECANCELED);
    /* A cancelled thread's I/O fails even when it would not block. */
    green_cancel(green_self());
    errno = 0;
    ck_assert_int_eq(green_write(p[1], "x", 1), -1);
    ck_assert_int_eq(errno, ECANCELED);
    ck_assert_int_eq(green_wait(p[1], GREEN_OUT), -1);
    ck_assert_int_eq(errno, ECANCELED);
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

GREEN_TEST(read_ready_past_deadline)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    green_write(p[1], "x", 1);
    green_deadline(green_now() - 1);
    /* It can complete without parking, so it completes. */
    char c;
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);
    ck_assert_int_eq(green_wait(p[1], GREEN_OUT), GREEN_OUT);
    errno = 0;
    ck_assert_int_eq(green_read(p[0], &c, 1), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_eq(green_wait(p[0], GREEN_IN), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

/* A read of nothing returns 0 at once, as read(2) and readv(2) do, even
 * when nothing is queued: it never parks (there is no deadline here to end
 * a wait).  A bad fd still says EBADF. */
static void read_nothing(int fd)
{
    char c;
    struct iovec empty = {&c, 0};
    ck_assert_int_eq(green_read(fd, &c, 0), 0);
    ck_assert_int_eq(green_read(fd, NULL, 0), 0);
    ck_assert_int_eq(green_readv(fd, NULL, 0), 0);
    ck_assert_int_eq(green_readv(fd, &empty, 1), 0);
    /* No vector for one element is the call's EFAULT, not a crash.
     * (Valgrind reports the bad pointer the test passes on purpose.) */
    if (!under_valgrind()) {
        ck_assert_int_eq(green_readv(fd, NULL, 1), -1);
        ck_assert_int_eq(errno, EFAULT);
    }
}

GREEN_TEST(zero_length_read_returns_at_once)
{
    (void)arg;
    int sv[2], p[2];
    make_socketpair(sv);
    make_pipe(p);
    read_nothing(sv[0]);
    read_nothing(p[0]);
    int accepted, c = tcp_pair(&accepted);
    read_nothing(c);
    /* What comes later is still there for the next read. */
    ck_assert_int_eq(green_write(sv[1], "a", 1), 1);
    read_nothing(sv[0]);
    char got;
    ck_assert_int_eq(green_read(sv[0], &got, 1), 1);
    ck_assert_int_eq(got, 'a');
    errno = 0;
    ck_assert_int_eq(green_read(-1, &got, 0), -1);
    ck_assert_int_eq(errno, EBADF);
    /* Still a blocking call: a cancelled thread's fails. */
    green_cancel(green_self());
    ck_assert_int_eq(green_read(sv[0], &got, 0), -1);
    ck_assert_int_eq(errno, ECANCELED);
    int fds[] = {sv[0], sv[1], p[0], p[1], c, accepted};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        green_close(fds[i]);
    return NULL;
}

/* A pool of green threads on one regular file's fd, as a log writer or a
 * file server has: each read and write moves the one file position, and no
 * two overlap (POSIX 2.9.7), whatever the poller (test/util.c has the
 * records and the pools). */

GREEN_TEST(shared_file_writes_do_not_overlap)
{
    (void)arg;
    struct shared_file f = {.fd = temp_file(true)};
    pool_write(&f);
    ck_assert_int_eq(lseek(f.fd, 0, SEEK_CUR), (off_t)FILE_RECORDS * FILE_RECORD);
    count_records(&f);
    check_each_once(&f);
    close(f.fd);
    return NULL;
}

GREEN_TEST(shared_file_reads_do_not_overlap)
{
    (void)arg;
    for (int direct = 0; direct < 2; direct++) {
        struct shared_file f = {.fd = uncached_records(direct)};
        pool_read(&f);
        check_each_once(&f);
        close(f.fd);
    }
    return NULL;
}

/* Writers of an O_APPEND file, with O_DIRECT and without: each record
 * goes to the end, whole. */
GREEN_TEST(shared_file_appends_whole)
{
    (void)arg;
    for (int direct = 0; direct < 2; direct++) {
        struct shared_file f = {.fd = temp_file(direct)};
        ck_assert_int_eq(fcntl(f.fd, F_SETFL, fcntl(f.fd, F_GETFL) | O_APPEND), 0);
        pool_write(&f);
        count_records(&f);
        check_each_once(&f);
        close(f.fd);
    }
    return NULL;
}

/* A file closed with close(2) behind libgreen's back: the next call on
 * its number fails with EBADF, as read(2) would. */
GREEN_TEST(file_read_after_plain_close)
{
    (void)arg;
    int fd = temp_file(false);
    char c;
    ck_assert_int_eq(green_write(fd, "ab", 2), 2);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(green_read(fd, &c, 1), 1);
    close(fd);
    errno = 0;
    ck_assert_int_eq(green_read(fd, &c, 1), -1);
    ck_assert_int_eq(errno, EBADF);
    return NULL;
}

/* The program's own lseek between calls still says where the next one
 * reads. */
GREEN_TEST(shared_file_honours_lseek)
{
    (void)arg;
    struct shared_file f = {.fd = temp_file(false)};
    ck_assert_int_eq(green_write(f.fd, "abcdef", 6), 6);
    ck_assert_int_eq(lseek(f.fd, 2, SEEK_SET), 2);
    char buf[4];
    ck_assert_int_eq(green_read(f.fd, buf, 3), 3);
    ck_assert_int_eq(memcmp(buf, "cde", 3), 0);
    ck_assert_int_eq(lseek(f.fd, 0, SEEK_CUR), 5);
    close(f.fd);
    return NULL;
}

/* A call the kernel completed counts, whatever ends its wait.  Under
 * uring the kernel may complete a parked thread's call in an
 * io_uring_enter that another thread's cancellation makes (its stop is
 * submitted at once) before libgreen collects the result; a green_close
 * or green_fd_release then must not throw the result away: the bytes a
 * read took are handed to its caller, the bytes a write sent are counted.
 * Under the other pollers nothing is taken from the socket until the
 * thread runs again, which it does only to fail with EBADF. */
static int other[2];

static void *park_reading_other(void *arg)
{
    (void)arg;
    char c;
    ck_assert_int_eq(green_read(other[0], &c, 1), -1);
    ck_assert_int_eq(errno, ECANCELED);
    return NULL;
}

struct kept {
    int fd;
    ssize_t r;
    int err;
    char buf[64];
};

static void *read_kept(void *arg)
{
    struct kept *k = arg;
    k->r = green_read(k->fd, k->buf, sizeof k->buf);
    k->err = errno;
    return NULL;
}

static void *write_kept(void *arg)
{
    struct kept *k = arg;
    static char big[256 * 1024];
    k->r = green_write(k->fd, big, sizeof big);
    k->err = errno;
    return NULL;
}

/* Ends the wait of the thread parked on one socket after the peer made
 * its call able to complete: another thread's cancellation enters the
 * ring, then end() is called on the fd. */
static void cancel_other_then(green_t *x, int fd, int (*end)(int))
{
    green_cancel(x);
    ck_assert_int_eq(end(fd), 0);
    ck_assert_int_eq(green_join(x, NULL), 0);
}

GREEN_TEST(released_fd_keeps_completed_read)
{
    (void)arg;
    int sv[2];
    for (int round = 0; round < 20; round++) {
        make_socketpair(sv);
        make_socketpair(other);
        struct kept k = {.fd = sv[0]};
        green_t *x = green_spawn(park_reading_other, NULL);
        green_t *t = green_spawn(read_kept, &k);
        green_yield();  /* both park */
        ck_assert_int_eq(write(sv[1], "hello", 5), 5);
        cancel_other_then(x, sv[0], green_fd_release);
        ck_assert_int_eq(green_join(t, NULL), 0);
        /* Either the read had the bytes, or they are still in the socket. */
        char rest[8];
        ssize_t left = recv(sv[0], rest, sizeof rest, MSG_DONTWAIT);
        if (k.r == 5) {
            ck_assert_int_eq(memcmp(k.buf, "hello", 5), 0);
            ck_assert_int_eq(left, -1);
        } else {
            ck_assert_int_eq(k.r, -1);
            ck_assert_int_eq(k.err, EBADF);
            ck_assert_int_eq(left, 5);
        }
        int fds[] = {sv[0], sv[1], other[0], other[1]};
        for (int i = 0; i < 4; i++)
            close(fds[i]);
    }
    return NULL;
}

GREEN_TEST(closed_fd_counts_completed_write)
{
    (void)arg;
    int sv[2];
    for (int round = 0; round < 20; round++) {
        make_socketpair(sv);
        make_socketpair(other);
        struct kept k = {.fd = sv[0]};
        green_t *x = green_spawn(park_reading_other, NULL);
        green_t *t = green_spawn(write_kept, &k);
        green_yield();  /* both park, the writer on a full socket */
        char sink[64 * 1024];
        ssize_t got = 0, r;
        while ((r = recv(sv[1], sink, sizeof sink, MSG_DONTWAIT)) > 0)
            got += r;
        cancel_other_then(x, sv[0], green_close);
        ck_assert_int_eq(green_join(t, NULL), 0);
        while ((r = recv(sv[1], sink, sizeof sink, MSG_DONTWAIT)) > 0)
            got += r;
        /* Every byte the peer received was counted. */
        if (k.r < 0)
            ck_assert_msg(got == 0, "%zd bytes arrived, none counted (errno %d)", got, k.err);
        else
            ck_assert_int_eq(k.r, got);
        close(sv[1]);
        close(other[0]);
        close(other[1]);
    }
    return NULL;
}

/* A terminal nobody reads: a write to it parks the thread until its
 * deadline, as a pipe's does, and the others run meanwhile.  (Under uring
 * the kernel made a ring's write to a tty in the submitting thread, and
 * that OS thread blocked for good.) */
/* A raw pseudo-terminal: its slave end, and the master in *master; -1
 * where the emulator cannot make one (see below). */
static int pty_pair(int *master)
{
    *master = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(*master, 0);
    ck_assert_int_eq(grantpt(*master), 0);
    ck_assert_int_eq(unlockpt(*master), 0);
    const char *name = ptsname(*master);
    int slave = name ? open(name, O_RDWR | O_NOCTTY) : -1;
    /* qemu-user with 64 KiB pages (make test-ppc64le) garbles the ioctl
     * behind ptsname (EFAULT, or a wrong name): its bug, and nothing to
     * test there. */
    if (slave < 0 && under_qemu()) {
        close(*master);
        return -1;
    }
    ck_assert_int_ge(slave, 0);
    struct termios t;
    ck_assert_int_eq(tcgetattr(slave, &t), 0);
    cfmakeraw(&t);
    ck_assert_int_eq(tcsetattr(slave, TCSANOW, &t), 0);
    return slave;
}

static bool tty_other_ran;

static void *mark_tty_other(void *arg)
{
    tty_other_ran = true;
    return arg;
}

GREEN_TEST(tty_write_parks)
{
    (void)arg;
    int master, slave = pty_pair(&master);
    if (slave < 0)
        return NULL;
    static char big[BIG];
    green_t *t = green_spawn(mark_tty_other, NULL);
    int64_t old = green_deadline(green_now() + 100);
    ssize_t r = green_write(slave, big, sizeof big);
    int err = errno;
    green_deadline(old);
    ck_assert(tty_other_ran);
    ck_assert_int_lt(r, (ssize_t)sizeof big);  /* a partial count, or -1 */
    ck_assert_int_eq(err, ETIMEDOUT);
    /* What it wrote is there, and a read parks until more comes. */
    char buf[16];
    ck_assert_int_eq(green_read(master, buf, sizeof buf), sizeof buf);
    ck_assert_int_eq(green_write(master, "x", 1), 1);
    ck_assert_int_eq(green_read(slave, buf, sizeof buf), 1);
    green_join(t, NULL);
    close(slave);
    close(master);
    return NULL;
}

/* A write cut short by a close goes no further, even when the number is
 * another file's at once: under uring the kernel may complete part of the
 * write (counted) before the close, and the rest must not go to the new
 * file. */
GREEN_TEST(closed_write_stops_at_the_number)
{
    (void)arg;
    for (int round = 0; round < 20; round++) {
        int sv[2];
        make_socketpair(sv);
        make_socketpair(other);
        struct kept k = {.fd = sv[0]};
        green_t *x = green_spawn(park_reading_other, NULL);
        green_t *t = green_spawn(write_kept, &k);
        ck_assert_int_eq(green_wait(sv[1], GREEN_IN), GREEN_IN);  /* the writer filled it */
        char sink[64 * 1024];
        ck_assert_int_gt(recv(sv[1], sink, sizeof sink, MSG_DONTWAIT), 0);
        cancel_other_then(x, sv[0], green_close);
        int again[2];
        make_socketpair(again);  /* the writer's number, most likely */
        ck_assert_int_eq(green_join(t, NULL), 0);
        ck_assert_int_eq(k.err, EBADF);
        ck_assert_int_eq(recv(again[1], sink, sizeof sink, MSG_DONTWAIT), -1);
        ck_assert_int_eq(errno, EAGAIN);
        int fds[] = {sv[1], again[0], again[1], other[0], other[1]};
        for (int i = 0; i < 5; i++)
            close(fds[i]);
    }
    return NULL;
}

/* A read of no bytes from an inotify fd with nothing queued: read(2) of 0
 * bytes would block there; this returns 0 at once. */
GREEN_TEST(zero_length_read_of_inotify)
{
    (void)arg;
    int fd = inotify_init1(IN_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    char c;
    ck_assert_int_eq(green_read(fd, &c, 0), 0);
    ck_assert_int_eq(green_readv(fd, NULL, 0), 0);
    close(fd);
    return NULL;
}

/* An eventfd's reader and writer do not wait for each other (its lseek
 * succeeds, but it has no position to keep in order). */
static void *read_counter(void *arg)
{
    uint64_t v = 0;
    ck_assert_int_eq(green_read(*(int *)arg, &v, sizeof v), sizeof v);
    return (void *)(uintptr_t)v;
}

GREEN_TEST(eventfd_reader_and_writer)
{
    (void)arg;
    int fd = eventfd(0, EFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    uint64_t one = 1;
    ck_assert_int_eq(green_write(fd, &one, sizeof one), sizeof one);  /* learnt: no socket */
    ck_assert_int_eq(green_read(fd, &one, sizeof one), sizeof one);
    green_t *r = green_spawn(read_counter, &fd);
    green_yield();  /* the reader parks */
    uint64_t seven = 7;
    ck_assert_int_eq(green_write(fd, &seven, sizeof seven), sizeof seven);
    void *got;
    ck_assert_int_eq(green_join(r, &got), 0);
    ck_assert_uint_eq((uintptr_t)got, 7);
    close(fd);
    return NULL;
}

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

/* A call the kernel interrupts (EINTR) is made again, unseen. */
GREEN_TEST(interrupted_call_is_made_again)
{
    (void)arg;
    if (strcmp(green_poller_name(), "uring") == 0)
        return NULL;  /* the ring makes the call, not recv(2) */
    int sv[2];
    make_socketpair(sv);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    green__fault_set(GREEN__FAULT_recv, 1, false, EINTR);
    char c = 0;
    ck_assert_int_eq(green_read(sv[0], &c, 1), 1);
    ck_assert_int_eq(c, 'x');
    ck_assert_uint_eq(green__fault_calls(GREEN__FAULT_recv), 2);
    green__fault_clear();
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

/* Ten short messages over TCP, each sent once the reader has parked for
 * it (but the first): one recv a message, as the hand-written epoll
 * server makes, not two, the first of them saying EAGAIN. */
struct turns {
    int fd;
    green_chan_t *go;
};

static void *send_on_cue(void *arg)
{
    struct turns *t = arg;
    int cue;
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(green_chan_recv(t->go, &cue), 0);
        ck_assert_int_eq(green_write(t->fd, "ping", 4), 4);
    }
    return NULL;
}

GREEN_TEST(tcp_short_read_spares_eagain)
{
    (void)arg;
    if (strcmp(green_poller_name(), "uring") == 0)
        return NULL;  /* the ring makes the call, not recv(2) */
    int srv;
    struct turns t = {tcp_pair(&srv), green_chan_new(sizeof(int), 0)};
    green_t *sender = green_spawn(send_on_cue, &t);
    unsigned long recvs = green__fault_calls(GREEN__FAULT_recv);
    char buf[64];
    int cue = 1;
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(green_chan_send(t.go, &cue), 0);
        ck_assert_int_eq(green_read(srv, buf, sizeof buf), 4);
    }
    ck_assert_uint_eq(green__fault_calls(GREEN__FAULT_recv) - recvs, 10);
    green_join(sender, NULL);
    green_chan_free(t.go);
    green_close(t.fd);
    green_close(srv);
    return NULL;
}
#endif

/* The fairness budget: a thread whose reads never park (its socket
 * always has data) yields after GREEN_BUDGET calls in a row, so a
 * runnable thread beside it runs then, not when the flood ends. */
enum { FLOOD = 20000 };
static long flood_reads, seen_at;

static void *flood_reader(void *arg)
{
    int fd = *(int *)arg;
    char c;
    while (flood_reads < FLOOD && green_read(fd, &c, 1) == 1)
        flood_reads++;
    return NULL;
}

static void *observe(void *arg)
{
    (void)arg;
    seen_at = flood_reads;
    return NULL;
}

static void *budget_main(void *arg)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    static char bytes[FLOOD];
    ck_assert_int_eq(write(sv[1], bytes, sizeof bytes), FLOOD);
    flood_reads = 0;
    seen_at = -1;
    green_t *f = green_spawn(flood_reader, &sv[0]);
    green_t *o = green_spawn(observe, NULL);
    ck_assert_int_eq(green_join(f, NULL), 0);
    ck_assert_int_eq(green_join(o, NULL), 0);
    ck_assert_int_eq(flood_reads, FLOOD);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

/* Under uring every read parks for its completion, which is a turn for
 * the others anyway. */
static bool reads_park(void)
{
    return strcmp(green_poller_name(), "uring") == 0;  /* GREEN_POLLER's, or the default */
}

START_TEST(budget_default)
{
    unsetenv("GREEN_BUDGET");
    run_green(budget_main, NULL);
    ck_assert_int_ge(seen_at, 0);
    ck_assert_int_lt(seen_at, 128);  /* 127 reads, then the 128th yields first */
    if (!reads_park())
        ck_assert_int_eq(seen_at, 127);
}
END_TEST

START_TEST(budget_set_and_off)
{
    setenv("GREEN_BUDGET", "10", 1);
    run_green(budget_main, NULL);
    ck_assert_int_lt(seen_at, 10);
    if (!reads_park())
        ck_assert_int_eq(seen_at, 9);
    setenv("GREEN_BUDGET", "0", 1);  /* off */
    run_green(budget_main, NULL);
    if (!reads_park())
        ck_assert_int_eq(seen_at, FLOOD);
    /* Not a number, empty, negative or past unsigned: the default. */
    static const char *const unusable[] = {"ten", "", "-5", "4294967296",
                                           "99999999999999999999999"};
    for (size_t i = 0; i < sizeof unusable / sizeof unusable[0]; i++) {
        setenv("GREEN_BUDGET", unusable[i], 1);
        run_green(budget_main, NULL);
        ck_assert_int_lt(seen_at, 128);
        if (!reads_park())
            ck_assert_int_eq(seen_at, 127);
    }
}
END_TEST

Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    tcase_add_test(tc, read_write_pipe);
    tcase_add_test(tc, budget_default);
    tcase_add_test(tc, budget_set_and_off);
    tcase_add_test(tc, read_write_bad_fd);
    tcase_add_test(tc, blocking_fd_does_not_stall);
    tcase_add_test(tc, io_outside_is_posix);
    tcase_add_test(tc, readv_writev);
    tcase_add_test(tc, zero_length_read_returns_at_once);
    tcase_add_test(tc, shared_file_writes_do_not_overlap);
    tcase_add_test(tc, shared_file_reads_do_not_overlap);
    tcase_add_test(tc, shared_file_honours_lseek);
    tcase_add_test(tc, tty_write_parks);
    tcase_add_test(tc, shared_file_appends_whole);
    tcase_add_test(tc, file_read_after_plain_close);
    tcase_add_test(tc, released_fd_keeps_completed_read);
    tcase_add_test(tc, closed_fd_counts_completed_write);
    tcase_add_test(tc, closed_write_stops_at_the_number);
    tcase_add_test(tc, zero_length_read_of_inotify);
    tcase_add_test(tc, eventfd_reader_and_writer);
    tcase_add_test(tc, readv_writev_bad_count);
    tcase_add_test(tc, writev_partial_on_deadline);
    tcase_add_test(tc, write_partial_on_deadline);
    tcase_add_test(tc, send_recv);
    tcase_add_test(tc, recv_waitall);
    tcase_add_test(tc, sendto_recvfrom_udp);
    tcase_add_test(tc, two_readers_of_one_datagram_socket);
    tcase_add_test(tc, accept_connect_tcp);
    tcase_add_test(tc, accept_gives_nonblocking_socket);
    tcase_add_test(tc, accept_deadline_and_cancel);
    tcase_add_test(tc, connect_errors);
    tcase_add_test(tc, epipe_not_sigpipe);
    tcase_add_test(tc, sigpipe_restored_after_run);
    tcase_add_test(tc, reader_and_writer_on_one_socket);
    tcase_add_test(tc, two_readers_on_one_fd);
    tcase_add_test(tc, many_readers_on_one_fd);
    tcase_add_test(tc, sendmsg_recvmsg_pass_fd);
    tcase_add_test(tc, sendmsg_recvmsg_outside);
    tcase_add_test(tc, sendmsg_large_vector);
    tcase_add_test(tc, sys_table_passes_by);
    tcase_add_test(tc, cancel_read);
    tcase_add_test(tc, read_ready_past_deadline);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, interrupted_call_is_made_again);
    add_fault_test(faults, tcp_short_read_spares_eagain);
    suite_add_tcase(s, faults);
    return s;
}
