/* Connecting and listening by name: green_getaddrinfo, green_tcp_*,
 * green_udp_*, green_unix_*, green_local_port.  Loopback only. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

/* A name the resolver refuses without asking any server: it is not a
 * valid host name, so no DNS query leaves the machine. */
#define BAD_NAME "not a valid host name"

static char *port_of(int fd, char buf[16])
{
    int port = green_local_port(fd);
    ck_assert_int_gt(port, 0);
    snprintf(buf, 16, "%d", port);
    return buf;
}

GREEN_TEST(getaddrinfo_resolves)
{
    (void)arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    ck_assert_int_eq(green_getaddrinfo("127.0.0.1", "80", &hints, &res), 0);
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port), 80);
    freeaddrinfo(res);
    /* A name, from /etc/hosts: resolved on the offload pool. */
    ck_assert_int_eq(green_getaddrinfo("localhost", "http", &hints, &res), 0);
    struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
    ck_assert_int_eq(ntohs(sin->sin_port), 80);
    freeaddrinfo(res);
    /* No node, a service: the wildcard address, for a listener. */
    hints.ai_flags = AI_PASSIVE;
    ck_assert_int_eq(green_getaddrinfo(NULL, "80", &hints, &res), 0);
    sin = (struct sockaddr_in *)res->ai_addr;
    ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), INADDR_ANY);
    ck_assert_int_eq(ntohs(sin->sin_port), 80);
    freeaddrinfo(res);
    return NULL;
}
END_TEST

GREEN_TEST(getaddrinfo_failures)
{
    (void)arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = (void *)1;
    ck_assert_int_eq(green_getaddrinfo(BAD_NAME, "80", &hints, &res), -1);
    ck_assert_int_eq(errno, ENXIO);
    ck_assert_int_eq(green_gai_error(), EAI_NONAME);
    ck_assert_ptr_null(res);
    ck_assert_str_eq(gai_strerror(green_gai_error()), gai_strerror(EAI_NONAME));
    ck_assert_int_eq(green_getaddrinfo("localhost", "no-such-service", &hints, &res), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_gai_error(), EAI_SERVICE);
    ck_assert_int_eq(green_getaddrinfo(NULL, NULL, &hints, &res), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_getaddrinfo("localhost", "80", &hints, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_gai_error(), 0);  /* not the resolver's failure */
    /* The name fails the whole connect the same way. */
    ck_assert_int_eq(green_tcp_connect(BAD_NAME, "80"), -1);
    ck_assert_int_eq(errno, ENXIO);
    ck_assert_int_eq(green_gai_error(), EAI_NONAME);
    green_cancel(green_self());
    ck_assert_int_eq(green_getaddrinfo("127.0.0.1", "80", &hints, &res), -1);
    ck_assert_int_eq(errno, ECANCELED);
    ck_assert_int_eq(green_tcp_listen("127.0.0.1", "0", 1), -1);
    ck_assert_int_eq(errno, ECANCELED);
    return NULL;
}
END_TEST

/* Accepts one connection on lfd and echoes one byte. */
static void *echo_one(void *arg)
{
    int lfd = (int)(intptr_t)arg, c = green_accept(lfd, NULL, NULL);
    ck_assert_int_ge(c, 0);
    char b;
    ck_assert_int_eq(green_read(c, &b, 1), 1);
    ck_assert_int_eq(green_write(c, &b, 1), 1);
    green_close(c);
    return NULL;
}

static void round_trip(const char *listen_host, const char *connect_host)
{
    int lfd = green_tcp_listen(listen_host, "0", 16);
    ck_assert_int_ge(lfd, 0);
    char port[16];
    port_of(lfd, port);
    green_t *t = green_spawn(echo_one, (void *)(intptr_t)lfd);
    int fd = green_tcp_connect(connect_host, port);
    ck_assert_int_ge(fd, 0);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    char b = 'q';
    ck_assert_int_eq(green_write(fd, &b, 1), 1);
    b = 0;
    ck_assert_int_eq(green_read(fd, &b, 1), 1);
    ck_assert_int_eq(b, 'q');
    ck_assert_int_eq(green_join(t, NULL), 0);
    green_close(fd);
    green_close(lfd);
}

/* A lookup that fails before it reaches a worker (here: the deadline has
 * passed) frees its copy of the request: 2,000 of them leave the heap as
 * it was.  (Under Valgrind and ASan their own leak checks say so; where
 * the C library does not say what its heap holds, as musl's, only the
 * failures are checked.) */
GREEN_TEST(getaddrinfo_failure_frees_request)
{
    (void)arg;
    green_deadline(green_now() - 1);
    struct addrinfo *res;
    size_t before, after;
    bool counted = heap_in_use(&before);
    for (int i = 0; i < 2000; i++) {
        errno = 0;
        ck_assert_int_eq(green_getaddrinfo("localhost", "80", NULL, &res), -1);
        ck_assert_int_eq(errno, ETIMEDOUT);
        ck_assert_int_eq(green_tcp_connect("localhost", "80"), -1);
    }
    if (counted && heap_in_use(&after) && !under_valgrind() && !under_asan())
        ck_assert_uint_lt(after - before, 16 * 1024);
    return NULL;
}

GREEN_TEST(tcp_connect_listen)
{
    (void)arg;
    round_trip("127.0.0.1", "127.0.0.1");
    round_trip("localhost", "localhost");
    return NULL;
}
END_TEST

static bool have_ipv6_loopback(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&sin6, sizeof sin6) == 0;
    close(fd);
    return ok;
}

GREEN_TEST(tcp_ipv6_loopback)
{
    (void)arg;
    if (!have_ipv6_loopback())
        return NULL;  /* a kernel or namespace without IPv6 */
    round_trip("::1", "::1");
    return NULL;
}
END_TEST

GREEN_TEST(tcp_connect_refused)
{
    (void)arg;
    int lfd = green_tcp_listen("127.0.0.1", "0", 1);
    char port[16];
    port_of(lfd, port);
    green_close(lfd);  /* nobody listens there now */
    ck_assert_int_eq(green_tcp_connect("127.0.0.1", port), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    return NULL;
}
END_TEST

/* A listener whose accept queue is full drops new SYNs: the connection
 * never completes, and the caller's deadline ends the attempt. */
GREEN_TEST(tcp_connect_deadline)
{
    (void)arg;
    int lfd = green_tcp_listen("127.0.0.1", "0", 1);
    char port[16];
    port_of(lfd, port);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fill[8];
    for (int i = 0; i < 8; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fill[i], (struct sockaddr *)&sin, sizeof sin);
    }
    int64_t start = green_now();
    green_deadline(start + 100);
    ck_assert_int_eq(green_tcp_connect("127.0.0.1", port), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_ge(green_now(), start + 100);
    green_deadline(GREEN_NEVER);
    for (int i = 0; i < 8; i++)
        close(fill[i]);
    green_close(lfd);
    return NULL;
}
END_TEST

/* Happy Eyeballs.  A black hole: a listener on family's loopback whose
 * accept queue is full, so that a connect to it is never answered. */
struct hole {
    int lfd, fill[8];
    struct sockaddr_storage addr;
    socklen_t len;
};

static void hole_open(struct hole *h, int family)
{
    h->lfd = green_tcp_listen(family == AF_INET6 ? "::1" : "127.0.0.1", "0", 1);
    ck_assert_int_ge(h->lfd, 0);
    h->len = sizeof h->addr;
    ck_assert_int_eq(getsockname(h->lfd, (struct sockaddr *)&h->addr, &h->len), 0);
    for (int i = 0; i < 8; i++) {
        h->fill[i] = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(h->fill[i], (struct sockaddr *)&h->addr, h->len);
    }
}

static void hole_close(struct hole *h)
{
    for (int i = 0; i < 8; i++)
        close(h->fill[i]);
    green_close(h->lfd);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static struct addrinfo entry(const struct sockaddr_storage *addr, socklen_t len,
                             struct addrinfo *next)
{
    return (struct addrinfo){.ai_family = addr->ss_family, .ai_socktype = SOCK_STREAM,
                             .ai_addr = (struct sockaddr *)addr, .ai_addrlen = len,
                             .ai_next = next};
}

static int peer_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ck_assert_int_eq(getpeername(fd, (struct sockaddr *)&ss, &len), 0);
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* The first address never answers (on IPv6 where there is one): the next,
 * on the other family, is tried after the delay and wins, and the first
 * attempt is cancelled and closed. */
GREEN_TEST(connect_race_black_hole)
{
    (void)arg;
    struct hole h;
    hole_open(&h, have_ipv6_loopback() ? AF_INET6 : AF_INET);
    int lfd = green_tcp_listen("127.0.0.1", "0", 8);
    struct sockaddr_storage good;
    socklen_t len = sizeof good;
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&good, &len), 0);
    struct addrinfo second = entry(&good, len, NULL), first = entry(&h.addr, h.len, &second);
    int fds = open_fds();
    int64_t start = green_now();
    int fd = green__connect_race(&first);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ge(green_now() - start, 250);  /* the second waited its turn */
    ck_assert_int_eq(peer_port(fd), green_local_port(lfd));
    ck_assert_int_eq(open_fds(), fds + 1);  /* the losing attempt is closed */
    green_close(fd);
    /* The same through the list: what green_tcp_connect gives it. */
    fd = green__connect_race(&second);
    ck_assert_int_ge(fd, 0);
    green_close(fd);
    green_close(lfd);
    hole_close(&h);
    return NULL;
}

/* A refusal starts the next attempt at once; when every address fails,
 * the last error is the call's. */
GREEN_TEST(connect_race_failures)
{
    (void)arg;
    int lfd = green_tcp_listen("127.0.0.1", "0", 8), dead = green_tcp_listen("127.0.0.1", "0", 8);
    struct sockaddr_storage good, gone;
    socklen_t len = sizeof good, glen = sizeof gone;
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&good, &len), 0);
    ck_assert_int_eq(getsockname(dead, (struct sockaddr *)&gone, &glen), 0);
    green_close(dead);  /* nobody listens there now */
    struct addrinfo c = entry(&good, len, NULL), b = entry(&gone, glen, &c),
                    a = entry(&gone, glen, &b);
    green__race_delay_ms = 60000;  /* no slowness of the machine passes for it */
    int64_t start = green_now();
    int fd = green__connect_race(&a);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_lt(green_now() - start, 30000);  /* no delay after a refusal */
    green_close(fd);
    b.ai_next = NULL;
    errno = 0;
    ck_assert_int_eq(green__connect_race(&a), -ECONNREFUSED);
    green_close(lfd);
    return NULL;
}

/* The families take turns: with one address of the first family and two
 * of the other, the second of those comes last.  A Unix socket stands
 * for the other family, which the race treats like any. */
GREEN_TEST(connect_race_families_take_turns)
{
    (void)arg;
    int dead = green_tcp_listen("127.0.0.1", "0", 8);
    struct sockaddr_storage gone;
    socklen_t glen = sizeof gone;
    ck_assert_int_eq(getsockname(dead, (struct sockaddr *)&gone, &glen), 0);
    green_close(dead);
    char path[64];
    snprintf(path, sizeof path, "/tmp/green-race-%d.sock", (int)getpid());
    unlink(path);
    int lfd = green_unix_listen(path, 8);
    ck_assert_int_ge(lfd, 0);
    struct sockaddr_storage un;
    socklen_t ulen = sizeof un;
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&un, &ulen), 0);
    /* refused (inet), refused (inet), unix: the unix one comes second. */
    struct addrinfo c = entry(&un, ulen, NULL), b = entry(&gone, glen, &c),
                    a = entry(&gone, glen, &b);
    green__race_delay_ms = 60000;  /* no slowness of the machine passes for it */
    int64_t start = green_now();
    int fd = green__connect_race(&a);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_lt(green_now() - start, 30000);
    green_close(fd);
    /* refused inet, unix, unix: the inet one first, then both unix. */
    struct addrinfo f = entry(&un, ulen, NULL), e = entry(&un, ulen, &f),
                    d = entry(&gone, glen, &e);
    fd = green__connect_race(&d);
    ck_assert_int_ge(fd, 0);
    green_close(fd);
    green_close(lfd);
    unlink(path);
    return NULL;
}

/* The caller's deadline and cancellation end the whole race, and every
 * attempt with it. */
struct holes {
    int r;
    struct hole h;
};

static void *race_holes(void *arg)
{
    struct holes *x = arg;
    struct addrinfo b = entry(&x->h.addr, x->h.len, NULL), a = entry(&x->h.addr, x->h.len, &b);
    x->r = green__connect_race(&a);
    return NULL;
}

GREEN_TEST(connect_race_deadline_and_cancel)
{
    (void)arg;
    struct holes x;
    hole_open(&x.h, AF_INET);
    int fds = open_fds();
    green_deadline(green_now() + 300);  /* the second attempt starts */
    race_holes(&x);
    ck_assert_int_eq(x.r, -ETIMEDOUT);
    green_deadline(green_now() + 50);  /* it does not */
    race_holes(&x);
    ck_assert_int_eq(x.r, -ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(open_fds(), fds);
    green_t *t = green_spawn(race_holes, &x);
    green_yield();
    green_cancel(t);
    green_join(t, NULL);
    ck_assert_int_eq(x.r, -ECANCELED);
    ck_assert_int_eq(open_fds(), fds);
    hole_close(&x.h);
    return NULL;
}

/* A graceful close: what the peer sends until its own close is read and
 * dropped; the deadline bounds it. */
static void *send_then_close(void *arg)
{
    int fd = green_accept((int)(intptr_t)arg, NULL, NULL);
    char buf[4096] = {0};
    for (int i = 0; i < 64; i++)
        green_write(fd, buf, sizeof buf);
    char c;
    ck_assert_int_eq(green_read(fd, &c, 1), 0);  /* the other side shut down */
    green_close(fd);
    return NULL;
}

GREEN_TEST(tcp_close_graceful)
{
    (void)arg;
    int lfd = green_tcp_listen("127.0.0.1", "0", 8);
    char port[16];
    port_of(lfd, port);
    green_t *t = green_spawn(send_then_close, (void *)(intptr_t)lfd);
    int fd = green_tcp_connect("127.0.0.1", port);
    ck_assert_int_eq(green_tcp_close(fd), 0);
    green_join(t, NULL);

    /* A peer that never closes: the deadline, and the socket is closed. */
    fd = green_tcp_connect("127.0.0.1", port);
    int c = green_accept(lfd, NULL, NULL);
    green_deadline(green_now() + 20);
    errno = 0;
    ck_assert_int_eq(green_tcp_close(fd), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    char b;
    ck_assert_int_eq(green_read(c, &b, 1), 0);
    green_close(c);

    /* Not connected: said, and closed. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    errno = 0;
    ck_assert_int_eq(green_tcp_close(fd), -1);
    ck_assert_int_eq(errno, ENOTCONN);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(green_tcp_close(p[0]), -1);
    ck_assert_int_eq(errno, ENOTSOCK);
    ck_assert_int_eq(fcntl(p[0], F_GETFD), -1);
    close(p[1]);
    ck_assert_int_eq(green_tcp_close(-1), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_tcp_close(fd), -1);
    ck_assert_int_eq(errno, EBADF);
    green_close(lfd);
    return NULL;
}

/* What the peer sends in one go, once the reader is parked. */
struct burst {
    int fd;
    bool urgent;  /* "hello", an urgent byte, "world"; else "abc" and the end */
};

static void *send_burst(void *arg)
{
    const struct burst *b = arg;
    if (b->urgent) {
        ck_assert_int_eq(send(b->fd, "hello", 5, 0), 5);
        ck_assert_int_eq(send(b->fd, "!", 1, MSG_OOB), 1);
        ck_assert_int_eq(send(b->fd, "world", 5, 0), 5);
    } else {
        ck_assert_int_eq(green_write(b->fd, "abc", 3), 3);
        ck_assert_int_eq(shutdown(b->fd, SHUT_WR), 0);
    }
    return NULL;
}

/* Reads from fd until want has come, in at most three reads. */
static void read_all_of(int fd, const char *want)
{
    char buf[64];
    size_t got = 0, n = strlen(want);
    for (int i = 0; i < 3 && got < n; i++) {
        ssize_t r = green_read(fd, buf + got, sizeof buf - got);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    ck_assert_uint_eq(got, n);
    ck_assert_mem_eq(buf, want, n);
}

/* After a read of a TCP socket comes back short, the next one waits for
 * an edge instead of reading.  What came with the edge that woke the
 * reader and cannot bring another must still be read, never waited for:
 * the peer's end after its last bytes, and the bytes past urgent data
 * (a read stops short at the urgent mark). */
GREEN_TEST(tcp_short_read_then_end_or_urgent)
{
    (void)arg;
    for (int urgent = 0; urgent < 2; urgent++) {
        int srv, cli = tcp_pair(&srv);
        /* First a short read, so that the socket is known drained. */
        ck_assert_int_eq(green_write(cli, "x", 1), 1);
        read_all_of(srv, "x");
        struct burst b = {cli, urgent};
        green_t *t = green_spawn(send_burst, &b);
        read_all_of(srv, urgent ? "helloworld" : "abc");
        if (!urgent) {
            char c;
            ck_assert_int_eq(green_read(srv, &c, 1), 0);
        }
        ck_assert_int_eq(green_join(t, NULL), 0);
        green_close(cli);
        green_close(srv);
    }
    return NULL;
}

static void *write_def(void *arg)
{
    ck_assert_int_eq(green_write(*(int *)arg, "def", 3), 3);
    return NULL;
}

/* A read that fails: its errno, as the thread's result. */
static void *read_fails(void *arg)
{
    char c;
    return (void *)(intptr_t)(green_read(*(int *)arg, &c, 1) < 0 ? errno : 0);
}

/* Past the deadline a read still returns what has come, even on a socket
 * known drained whose edge has not been seen yet; a cancellation ends its
 * wait as any other. */
GREEN_TEST(tcp_drained_read_past_deadline)
{
    (void)arg;
    int srv, cli = tcp_pair(&srv);
    ck_assert_int_eq(green_write(cli, "abc", 3), 3);
    read_all_of(srv, "abc");
    green_join(green_spawn(write_def, &cli), NULL);
    green_deadline(green_now() - 1);
    char buf[8];
    ck_assert_int_eq(green_read(srv, buf, sizeof buf), 3);
    ck_assert_mem_eq(buf, "def", 3);
    errno = 0;
    ck_assert_int_eq(green_read(srv, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    /* Cancelled while it waits first on the drained socket. */
    green_t *t = green_spawn(read_fails, &srv);
    green_yield();  /* it waits */
    green_cancel(t);
    void *err;
    ck_assert_int_eq(green_join(t, &err), 0);
    ck_assert_int_eq((intptr_t)err, ECANCELED);
    green_close(cli);
    green_close(srv);
    return NULL;
}

GREEN_TEST(tcp_listen_errors)
{
    (void)arg;
    ck_assert_int_eq(green_tcp_listen("127.0.0.1", "0", -1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_tcp_listen_flags("127.0.0.1", "0", 1, 0x100), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_tcp_listen("127.0.0.1", NULL, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_tcp_connect(NULL, "80"), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_tcp_connect("127.0.0.1", NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* A port in use, without and with SO_REUSEPORT on both. */
    int a = green_tcp_listen("127.0.0.1", "0", 1);
    char port[16];
    port_of(a, port);
    ck_assert_int_eq(green_tcp_listen("127.0.0.1", port, 1), -1);
    ck_assert_int_eq(errno, EADDRINUSE);
    green_close(a);
    a = green_tcp_listen_flags("127.0.0.1", "0", 1, GREEN_REUSEPORT);
    port_of(a, port);
    int b = green_tcp_listen_flags("127.0.0.1", port, 1, GREEN_REUSEPORT);
    ck_assert_int_ge(b, 0);
    ck_assert_int_eq(green_local_port(b), atoi(port));
    green_close(a);
    green_close(b);
    return NULL;
}
END_TEST

GREEN_TEST(local_port_errors)
{
    (void)arg;
    ck_assert_int_eq(green_local_port(-1), -1);
    ck_assert_int_eq(errno, EBADF);
    int sv[2];
    make_socketpair(sv);
    ck_assert_int_eq(green_local_port(sv[0]), -1);
    ck_assert_int_eq(errno, EAFNOSUPPORT);
    int p[2];
    make_pipe(p);
    ck_assert_int_eq(green_local_port(p[0]), -1);
    ck_assert_int_eq(errno, ENOTSOCK);
    close(sv[0]), close(sv[1]), close(p[0]), close(p[1]);
    return NULL;
}
END_TEST

GREEN_TEST(udp_bind_connect)
{
    (void)arg;
    int srv = green_udp_bind("127.0.0.1", "0", 0);
    ck_assert_int_ge(srv, 0);
    char port[16];
    port_of(srv, port);
    int cli = green_udp_connect("127.0.0.1", port);
    ck_assert_int_ge(cli, 0);
    ck_assert_int_eq(green_send(cli, "ping", 4, 0), 4);
    char buf[8];
    struct sockaddr_storage from;
    socklen_t len = sizeof from;
    ck_assert_int_eq(green_recvfrom(srv, buf, sizeof buf, 0, (struct sockaddr *)&from, &len), 4);
    ck_assert_int_eq(green_sendto(srv, "pong", 4, 0, (struct sockaddr *)&from, len), 4);
    ck_assert_int_eq(green_recv(cli, buf, sizeof buf, 0), 4);
    ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
    ck_assert_int_eq(green_udp_bind("127.0.0.1", "0", 0x100), -1);
    ck_assert_int_eq(errno, EINVAL);
    green_close(cli);
    green_close(srv);
    return NULL;
}
END_TEST

static void temp_path(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/green-test-%ld.sock", (long)getpid());
    unlink(buf);
}

GREEN_TEST(unix_connect_listen)
{
    (void)arg;
    char path[64];
    temp_path(path, sizeof path);
    int lfd = green_unix_listen(path, 4);
    ck_assert_int_ge(lfd, 0);
    green_t *t = green_spawn(echo_one, (void *)(intptr_t)lfd);
    int fd = green_unix_connect(path);
    ck_assert_int_ge(fd, 0);
    char b = 'u';
    ck_assert_int_eq(green_write(fd, &b, 1), 1);
    b = 0;
    ck_assert_int_eq(green_read(fd, &b, 1), 1);
    ck_assert_int_eq(b, 'u');
    ck_assert_int_eq(green_join(t, NULL), 0);
    /* The path is taken while the socket file exists. */
    ck_assert_int_eq(green_unix_listen(path, 4), -1);
    ck_assert_int_eq(errno, EADDRINUSE);
    green_close(fd);
    green_close(lfd);
    unlink(path);
    ck_assert_int_eq(green_unix_connect(path), -1);
    ck_assert_int_eq(errno, ENOENT);
    return NULL;
}
END_TEST

GREEN_TEST(unix_errors)
{
    (void)arg;
    char long_path[200];
    memset(long_path, 'x', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    ck_assert_int_eq(green_unix_listen(long_path, 1), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);
    ck_assert_int_eq(green_unix_connect(long_path), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);
    ck_assert_int_eq(green_unix_connect(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_unix_listen("", 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_unix_listen("/tmp/x", -1), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}
END_TEST

/* Outside green_run the calls block, as POSIX calls do, and return
 * blocking sockets, which the first green call inside makes non-blocking. */
START_TEST(net_outside)
{
    int lfd = green_tcp_listen("127.0.0.1", "0", 4);
    ck_assert_int_ge(lfd, 0);
    char port[16];
    port_of(lfd, port);
    int fd = green_tcp_connect("localhost", port);
    ck_assert_int_ge(fd, 0);
    ck_assert(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    ck_assert(!(fcntl(lfd, F_GETFL) & O_NONBLOCK));
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(green_write(fd, "x", 1), 1);
    int c = green_accept(lfd, NULL, NULL);
    char b;
    ck_assert_int_eq(green_read(c, &b, 1), 1);
    close(c);
    struct addrinfo *res;
    ck_assert_int_eq(green_getaddrinfo(BAD_NAME, "1", NULL, &res), -1);
    ck_assert_int_eq(errno, ENXIO);
    close(fd);
    close(lfd);
}
END_TEST

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

/* The resolver's codes, each turned into the errno api.md gives it, with
 * the code itself kept for green_gai_error. */
GREEN_TEST(getaddrinfo_codes_map_to_errno)
{
    (void)arg;
    static const struct {
        int code, err;
    } map[] = {
        {EAI_NONAME, ENXIO}, {EAI_NODATA, ENXIO}, {EAI_ADDRFAMILY, ENXIO},
        {EAI_AGAIN, EAGAIN}, {EAI_FAIL, EIO}, {EAI_MEMORY, ENOMEM}, {EAI_SERVICE, EINVAL},
        {EAI_FAMILY, EINVAL}, {EAI_SOCKTYPE, EINVAL}, {EAI_BADFLAGS, EINVAL},
        {EAI_OVERFLOW, EIO},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        struct addrinfo *res = NULL;
        green__fault_set(GREEN__FAULT_getaddrinfo, 1, true, map[i].code);
        errno = 0;
        int r = green_getaddrinfo("localhost", "80", NULL, &res);
        green__fault_clear();
        ck_assert_int_eq(r, -1);
        ck_assert_msg(errno == map[i].err, "%s: errno %d", gai_strerror(map[i].code), errno);
        ck_assert_int_eq(green_gai_error(), map[i].code);
        ck_assert_ptr_null(res);
    }
    /* EAI_SYSTEM passes on the system's errno. */
    green__fault_set(GREEN__FAULT_getaddrinfo, 1, true, EMFILE);
    struct addrinfo *res = NULL;
    ck_assert_int_eq(green_getaddrinfo("localhost", "80", NULL, &res), -1);
    green__fault_clear();
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_eq(green_gai_error(), EAI_SYSTEM);
    return NULL;
}

/* A race whose bookkeeping cannot be allocated fails with ENOMEM; one
 * whose attempt cannot start (no stack) goes on to the next address. */
GREEN_TEST(connect_race_enomem)
{
    (void)arg;
    int lfd = green_tcp_listen("127.0.0.1", "0", 8);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&ss, &len), 0);
    struct addrinfo b = entry(&ss, len, NULL), a = entry(&ss, len, &b);
    struct green__fault_books before = green__fault_books();
    green__fault_set(GREEN__FAULT_calloc, 1, false, ENOMEM);
    ck_assert_int_eq(green__connect_race(&a), -ENOMEM);
    green__fault_set(GREEN__FAULT_calloc, 2, false, ENOMEM);
    ck_assert_int_eq(green__connect_race(&a), -ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green__fault_books().blocks, before.blocks);
    green__fault_set(GREEN__FAULT_mmap, 1, false, ENOMEM);  /* the first attempt's stack */
    int fd = green__connect_race(&a);
    green__fault_clear();
    ck_assert_int_ge(fd, 0);
    green_close(fd);
    green_close(lfd);
    return NULL;
}
#endif

Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("net");
    tcase_add_test(tc, getaddrinfo_resolves);
    tcase_add_test(tc, getaddrinfo_failures);
    tcase_add_test(tc, getaddrinfo_failure_frees_request);
    tcase_add_test(tc, tcp_connect_listen);
    tcase_add_test(tc, tcp_ipv6_loopback);
    tcase_add_test(tc, tcp_connect_refused);
    tcase_add_test(tc, tcp_connect_deadline);
    tcase_add_test(tc, connect_race_black_hole);
    tcase_add_test(tc, connect_race_failures);
    tcase_add_test(tc, connect_race_deadline_and_cancel);
    tcase_add_test(tc, connect_race_families_take_turns);
    tcase_add_test(tc, tcp_close_graceful);
    tcase_add_test(tc, tcp_short_read_then_end_or_urgent);
    tcase_add_test(tc, tcp_drained_read_past_deadline);
    tcase_add_test(tc, tcp_listen_errors);
    tcase_add_test(tc, local_port_errors);
    tcase_add_test(tc, udp_bind_connect);
    tcase_add_test(tc, unix_connect_listen);
    tcase_add_test(tc, unix_errors);
    tcase_add_test(tc, net_outside);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, getaddrinfo_codes_map_to_errno);
    add_fault_test(faults, connect_race_enomem);
    suite_add_tcase(s, faults);
    return s;
}
