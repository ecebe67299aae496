/* The poller: green_wait, green_close, the fd's life, and the backends. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sched.h"
#include "util.h"

/* green_close wakes every waiter with EBADF. */

GREEN_TEST(close_wakes_waiters)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    int a[2] = {p[0], 0}, b[2] = {p[0], 0};
    green_t *ta = green_spawn(read_err, a);
    green_t *tb = green_spawn(read_err, b);
    green_yield();
    ck_assert_int_eq(green_close(p[0]), 0);
    green_join(ta, NULL);
    green_join(tb, NULL);
    ck_assert_int_eq(a[1], EBADF);
    ck_assert_int_eq(b[1], EBADF);
    errno = 0;
    ck_assert_int_eq(green_close(p[0]), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_close(-1), -1);
    ck_assert_int_eq(errno, EBADF);
    green_close(p[1]);
    return NULL;
}

/* Closed behind libgreen's back with close(2).  poll(2) reports the fd
 * as not open; epoll drops a closed fd silently, and the sweep for stale
 * registrations finds it.  Either way the waiter fails with EBADF, long
 * before its deadline, which is far beyond the test's time limit: the
 * sweep's waking must not wait for it. */
static void *read_err_deadline(void *arg)
{
    green_deadline(green_now() + 60000);
    return read_err(arg);
}

GREEN_TEST(plain_close_under_waiter)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    int a[2] = {p[0], 0};
    green_t *t = green_spawn(read_err_deadline, a);
    green_yield();
    close(p[0]);
    green_join(t, NULL);
    ck_assert_int_eq(a[1], EBADF);
    close(p[1]);
    return NULL;
}

/* The same for one end of a socket pair, as a library's own close
 * (fclose, redisFree, PQfinish) under a parked reader makes it: the waiter
 * has no deadline, so only the sweep can end its wait. */
GREEN_TEST(plain_close_under_socket_waiter)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    int a[2] = {sv[0], 0};
    green_t *t = green_spawn(read_err, a);
    green_yield();
    close(sv[0]);
    green_join(t, NULL);
    ck_assert_int_eq(a[1], EBADF);
    close(sv[1]);
    return NULL;
}

/* green_wait */

static void *write_byte(void *arg)
{
    green_write(*(int *)arg, "w", 1);
    return NULL;
}

GREEN_TEST(wait_for_readiness)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    green_t *t = green_spawn(write_byte, &p[1]);
    ck_assert_int_eq(green_wait(p[0], GREEN_IN), GREEN_IN);
    green_join(t, NULL);
    ck_assert_int_eq(green_wait(p[0], GREEN_IN | GREEN_OUT), GREEN_IN);
    /* green_wait leaves the fd's flags alone. */
    int q[2];
    make_pipe(q);
    ck_assert_int_eq(green_wait(q[1], GREEN_OUT), GREEN_OUT);
    ck_assert_int_eq(fcntl(q[1], F_GETFL) & O_NONBLOCK, 0);
    /* A hang-up counts as ready for what was asked. */
    close(q[1]);
    ck_assert_int_eq(green_wait(q[0], GREEN_IN), GREEN_IN);
    close(q[0]);
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

GREEN_TEST(wait_errors)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    errno = 0;
    ck_assert_int_eq(green_wait(p[0], 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_wait(p[0], 0x10), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_wait(-1, GREEN_IN), -1);
    ck_assert_int_eq(errno, EBADF);
    close(p[0]);
    close(p[1]);
    ck_assert_int_eq(green_wait(p[0], GREEN_IN), -1);
    ck_assert_int_eq(errno, EBADF);
    green_deadline(green_now() + 10);
    int q[2];
    make_pipe(q);
    ck_assert_int_eq(green_wait(q[0], GREEN_IN), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    close(q[0]);
    close(q[1]);
    return NULL;
}

START_TEST(wait_outside_errors)
{
    errno = 0;
    ck_assert_int_eq(green_wait(0, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_wait(-1, GREEN_IN), -1);
    ck_assert_int_eq(errno, EBADF);
    int p[2];
    make_pipe(p);
    close(p[0]);
    ck_assert_int_eq(green_wait(p[0], GREEN_IN), -1);
    ck_assert_int_eq(errno, EBADF);
    close(p[1]);
}
END_TEST

/* The backend is told of interest only when it changes: a ping-pong of
 * many waits costs epoll at most an add and a change per fd, not one per
 * park, and poll none at all. */
static void *echo_n(void *arg)
{
    int fd = *(int *)arg;
    char c;
    for (int i = 0; i < 200; i++)
        if (green_read(fd, &c, 1) != 1 || green_write(fd, &c, 1) != 1)
            break;
    return NULL;
}

GREEN_TEST(poller_interest_persists)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    green_t *t = green_spawn(echo_n, &sv[1]);
    unsigned long before = green__cur->poller.syscalls;
    char c = 'x';
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(green_write(sv[0], &c, 1), 1);
        ck_assert_int_eq(green_read(sv[0], &c, 1), 1);
    }
    green_join(t, NULL);
    ck_assert_uint_le(green__cur->poller.syscalls - before, 4);
    green_close(sv[0]);
    green_close(sv[1]);
    return NULL;
}

/* An edge that came while nobody waited is not lost: green_wait, which
 * parks without trying any I/O first, still sees the fd ready. */
static void *read_byte(void *arg)
{
    char c;
    green_read(*(int *)arg, &c, 1);
    return NULL;
}

GREEN_TEST(wait_sees_earlier_edge)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    green_t *t = green_spawn(read_byte, &p[0]);
    green_yield();  /* it parks: the fd is registered */
    green_write(p[1], "a", 1);
    green_join(t, NULL);
    green_write(p[1], "b", 1);
    green_sleep(5);  /* the poller runs and sees the edge, nobody waits */
    ck_assert_int_eq(green_wait(p[0], GREEN_IN), GREEN_IN);
    char c;
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);
    ck_assert_int_eq(c, 'b');
    green_close(p[0]);
    green_close(p[1]);
    return NULL;
}

GREEN_TEST(wait_on_regular_file)
{
    (void)arg;
    FILE *f = tmpfile();
    /* poll says a regular file is always ready; epoll refuses it, and
     * libgreen treats that the same way. */
    ck_assert_int_eq(green_wait(fileno(f), GREEN_IN | GREEN_OUT), GREEN_IN | GREEN_OUT);
    fclose(f);
    return NULL;
}

/* green_close leaves nothing behind for the next fd with the number. */
GREEN_TEST(fd_number_reused_after_close)
{
    (void)arg;
    for (int round = 0; round < 3; round++) {
        int p[2];
        make_pipe(p);
        green_t *t = green_spawn(read_byte, &p[0]);
        green_yield();
        green_write(p[1], "x", 1);
        ck_assert_int_eq(green_join(t, NULL), 0);
        green_close(p[0]);
        green_close(p[1]);
    }
    return NULL;
}

/* Choosing the poller backend. */

START_TEST(poller_selection)
{
    unsetenv("GREEN_POLLER");
    const char *def = green_poller_name();
    ck_assert_ptr_nonnull(def);
#ifndef GREEN_POSIX_ONLY
    ck_assert_str_eq(def, "uring");
#else
    ck_assert_str_eq(def, "poll");
#endif
    setenv("GREEN_POLLER", "", 1);  /* set but empty: the default */
    ck_assert_str_eq(green_poller_name(), def);
    setenv("GREEN_POLLER", "poll", 1);
    ck_assert_str_eq(green_poller_name(), "poll");
    setenv("GREEN_POLLER", "kqueue", 1);
    errno = 0;
    ck_assert_ptr_null(green_poller_name());
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_run(read_err, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

static void *report_poller(void *arg)
{
    *(const char **)arg = green_poller_name();
    return NULL;
}

START_TEST(poller_in_use)
{
    setenv("GREEN_POLLER", "poll", 1);
    const char *name = NULL;
    run_green(report_poller, &name);
    ck_assert_str_eq(name, "poll");
#ifndef GREEN_POSIX_ONLY
    setenv("GREEN_POLLER", "epoll", 1);
    run_green(report_poller, &name);
    ck_assert_str_eq(name, "epoll");
#endif
}
END_TEST

/* The fd's life. */

/* Two readers parked on one fd are woken by one byte.  The first takes it,
 * closes the fd with green_close and opens a new file under the same
 * number with data in it.  The second was woken for the old file: it must
 * fail with EBADF, as a thread blocked in read(2) keeps its own file, and
 * never read the new file's data. */
struct reuse {
    int fd, wfd;
    int err;
    char got;
};

static void *read_then_reuse(void *arg)
{
    struct reuse *r = arg;
    char c;
    ck_assert_int_eq(green_read(r->fd, &c, 1), 1);
    ck_assert_int_eq(green_close(r->fd), 0);
    close(r->wfd);
    int q[2];
    make_pipe(q);
    ck_assert_int_eq(q[0], r->fd);  /* the lowest number free: the old one */
    ck_assert_int_eq(write(q[1], "N", 1), 1);
    r->wfd = q[1];
    return NULL;
}

static void *read_second(void *arg)
{
    struct reuse *r = arg;
    ssize_t n = green_read(r->fd, &r->got, 1);
    r->err = n < 0 ? errno : 0;
    return NULL;
}

GREEN_TEST(woken_reader_keeps_its_file)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    struct reuse r = {.fd = p[0], .wfd = p[1]};
    green_t *a = green_spawn(read_then_reuse, &r);
    green_t *b = green_spawn(read_second, &r);
    green_yield();  /* both park on p[0] */
    ck_assert_int_eq(write(r.wfd, "x", 1), 1);
    green_join(a, NULL);
    green_join(b, NULL);
    ck_assert_int_eq(r.err, EBADF);
    ck_assert_int_ne(r.got, 'N');
    green_close(r.fd);
    close(r.wfd);
    return NULL;
}

/* Makes the fd number `want` a new file of the kind asked, with plain
 * calls, as a library would: 's' a socketpair, 'p' a pipe, 'b' a
 * blocking socketpair left blocking.  *peer is the other end. */
static int new_file_at(int want, char kind, int *peer)
{
    int sv[2];
    if (kind == 'p')
        make_pipe(sv);
    else
        make_socketpair(sv);
    ck_assert_int_eq(sv[0], want);
    if (kind == 's')
        ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    *peer = sv[1];
    return sv[0];
}

static void *write_later(void *arg)
{
    int fd = *(int *)arg;
    green_yield();
    green_write(fd, "L", 1);
    return NULL;
}

/* An fd libgreen owned and kept registered is closed with close(2); a new
 * file gets its number.  Whatever the new file is, a green read on it
 * parks until data comes and gets it: it neither waits for ever on the
 * old registration (epoll) nor blocks the OS thread (a blocking fd, whose
 * read would keep write_later from ever running). */
static void reuse_after_plain_close(char kind)
{
    int sv[2];
    make_socketpair(sv);
    green_t *t = green_spawn(write_later, &sv[1]);
    char c;
    ck_assert_int_eq(green_read(sv[0], &c, 1), 1);  /* parks: registered */
    green_join(t, NULL);
    int old = sv[0];
    close(sv[0]);
    close(sv[1]);

    int peer, fd = new_file_at(old, kind, &peer);
    green_deadline(green_now() + 3000);
    t = green_spawn(write_later, &peer);
    ck_assert_int_eq(green_read(fd, &c, 1), 1);
    ck_assert_int_eq(c, 'L');
    green_join(t, NULL);
    /* And green_wait sees it too. */
    t = green_spawn(write_later, &peer);
    ck_assert_int_eq(green_wait(fd, GREEN_IN), GREEN_IN);
    green_join(t, NULL);
    green_deadline(GREEN_NEVER);
    green_close(fd);
    close(peer);
}

GREEN_TEST(plain_close_then_socket)
{
    (void)arg;
    reuse_after_plain_close('s');
    return NULL;
}

GREEN_TEST(plain_close_then_pipe)
{
    (void)arg;
    reuse_after_plain_close('p');
    return NULL;
}

GREEN_TEST(plain_close_then_blocking_socket)
{
    (void)arg;
    reuse_after_plain_close('b');
    return NULL;
}

/* A TCP socket libgreen made, known drained after a short read, is closed
 * with close(2) and the number goes to a socketpair.  The read on it waits
 * first, as it would on the socket; the sweep finds the old registration
 * gone, wakes it with the new file's data, and forgets that the number was
 * TCP (a Unix socket's short read proves nothing). */
GREEN_TEST(plain_close_of_drained_tcp_then_socket)
{
    (void)arg;
    if (strcmp(green_poller_name(), "uring") == 0)
        return NULL;  /* its reads are the ring's: no hint, no EAGAIN to spare */
    int srv, cli = tcp_pair(&srv);
    int hold = dup(cli);  /* the listener's number, free again: not for the pair */
    char buf[8];
    green_t *t = green_spawn(write_later, &cli);
    ck_assert_int_eq(green_read(srv, buf, sizeof buf), 1);  /* parks: registered */
    green_join(t, NULL);
    ck_assert(green__cur->poller.fds[srv].file.drained);
    close(srv);
    int peer, fd = new_file_at(srv, 's', &peer);
    green_deadline(green_now() + 3000);
    t = green_spawn(write_later, &peer);
    ck_assert_int_eq(green_read(fd, buf, sizeof buf), 1);
    green_join(t, NULL);
    green_deadline(GREEN_NEVER);
    /* poll(2) is told every fd at every wait: nothing to sweep, and a
     * level wait is safe whatever the hint says. */
    if (green__cur->poller.ops->check)
        ck_assert(!green__cur->poller.fds[fd].file.tcp);
    green_close(fd);
    close(peer);
    green_close(cli);
    close(hold);
    return NULL;
}

/* A pipe libgreen made non-blocking is closed plainly, and a new blocking
 * pipe gets its number: reading it parks instead of blocking. */
GREEN_TEST(plain_close_then_blocking_pipe)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    green_t *t = green_spawn(write_later, &p[1]);
    char c;
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);
    green_join(t, NULL);
    int old = p[0];
    close(p[0]);
    close(p[1]);
    int peer, fd = new_file_at(old, 'p', &peer);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    t = green_spawn(write_later, &peer);
    ck_assert_int_eq(green_read(fd, &c, 1), 1);
    green_join(t, NULL);
    green_close(fd);
    close(peer);
    return NULL;
}

/* The same, with the new pipe made non-blocking by its user.  Once the
 * sweep has found the old file's registration stale, libgreen forgets
 * what it knew of that file, that it set the flag among it: a release
 * leaves the new pipe's flag as its user set it.  (epoll's check is the
 * one that tells a new file from the old; uring's re-arms whatever is
 * open, and poll holds nothing to check.) */
GREEN_TEST(plain_close_then_release_keeps_flags)
{
    (void)arg;
    if (strcmp(green_poller_name(), "epoll") != 0)
        return NULL;
    int p[2];
    make_pipe(p);
    green_t *t = green_spawn(write_later, &p[1]);
    char c;
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);  /* parks: registered, made non-blocking */
    green_join(t, NULL);
    int old = p[0];
    close(p[0]);
    close(p[1]);
    int peer, fd = new_file_at(old, 'p', &peer);
    ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    green_deadline(green_now() + 3000);
    t = green_spawn(write_later, &peer);
    ck_assert_int_eq(green_read(fd, &c, 1), 1);  /* woken once the sweep finds it */
    green_join(t, NULL);
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(green_fd_release(fd), 0);
    ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
    close(peer);
    return NULL;
}

/* A real library that closes the fd it was given: stdio's fclose, on a
 * connection libgreen made.  The next connection, made with plain calls,
 * gets the number and must be woken when its data comes. */
static void *serve_two(void *arg)
{
    int lfd = *(int *)arg;
    for (int i = 0; i < 2; i++) {
        int c = green_accept(lfd, NULL, NULL);
        ck_assert_int_ge(c, 0);
        char b;
        ck_assert_int_eq(green_read(c, &b, 1), 1);
        green_yield();
        ck_assert_int_eq(green_write(c, "R", 1), 1);
        ck_assert_int_eq(green_read(c, &b, 1), 0);
        green_close(c);
    }
    return NULL;
}

GREEN_TEST(library_fclose_then_reuse)
{
    (void)arg;
    unsigned short port;
    int lfd = tcp_listener(&port);
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    green_t *t = green_spawn(serve_two, &lfd);

    int fd = green_tcp_connect("127.0.0.1", ps);
    ck_assert_int_ge(fd, 0);
    char c;
    ck_assert_int_eq(green_write(fd, "q", 1), 1);
    ck_assert_int_eq(green_read(fd, &c, 1), 1);  /* parked: registered */
    FILE *f = fdopen(fd, "r+");
    ck_assert_ptr_nonnull(f);
    fclose(f);

    int fd2 = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(fd2, fd);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    green_deadline(green_now() + 3000);
    ck_assert_int_eq(green_connect(fd2, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(green_write(fd2, "q", 1), 1);
    ck_assert_int_eq(green_wait(fd2, GREEN_IN), GREEN_IN);
    ck_assert_int_eq(green_read(fd2, &c, 1), 1);
    ck_assert_int_eq(c, 'R');
    green_deadline(GREEN_NEVER);
    green_close(fd2);
    green_join(t, NULL);
    green_close(lfd);
    return NULL;
}

/* Adopting: the fd is made non-blocking and stays registered, so waits on
 * it cost no epoll_ctl; without adoption a green_wait-only fd is
 * registered and removed on every wait. */
static void *ping_n(void *arg)
{
    int fd = *(int *)arg;
    for (int i = 0; i < 100; i++) {
        green_yield();
        if (green_write(fd, "p", 1) != 1)
            break;
    }
    return NULL;
}

static unsigned long waits_cost(int fd, int peer)
{
    unsigned long before = green__cur->poller.syscalls;
    green_t *t = green_spawn(ping_n, &peer);
    for (int i = 0; i < 100; i++) {
        char c;
        ck_assert_int_eq(green_wait(fd, GREEN_IN), GREEN_IN);
        ck_assert_int_eq(read(fd, &c, 1), 1);
    }
    green_join(t, NULL);
    return green__cur->poller.syscalls - before;
}

GREEN_TEST(fd_adopt_keeps_registration)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    unsigned long plain = waits_cost(sv[0], sv[1]);
    ck_assert_int_eq(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
    ck_assert_int_eq(green_fd_adopt(sv[0]), 0);
    ck_assert_int_ne(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
    unsigned long adopted = waits_cost(sv[0], sv[1]);
    /* The backend, not its name: uring falls back on epoll where the
     * process may not make a ring (make test-confined). */
    if (strcmp(green__cur->poller.ops->name, "epoll") == 0) {
        ck_assert_uint_ge(plain, 100);  /* at least an add per wait */
        ck_assert_uint_le(adopted, 1);  /* one add, for good */
    } else {
        ck_assert_uint_eq(plain + adopted, 0);  /* poll tells the kernel nothing */
    }
    green_close(sv[0]);
    close(sv[1]);
    return NULL;
}

GREEN_TEST(fd_adopt_errors)
{
    (void)arg;
    errno = 0;
    /* A number not open, however large, is EBADF, and the table does not
     * grow to hold it. */
    size_t nfds = green__cur->poller.nfds;
    ck_assert_int_eq(green_fd_adopt(INT_MAX), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_fd_adopt(1 << 20), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_uint_eq(green__cur->poller.nfds, nfds);
    ck_assert_int_eq(green_fd_adopt(-1), -1);
    ck_assert_int_eq(errno, EBADF);
    int p[2];
    make_pipe(p);
    close(p[0]);
    ck_assert_int_eq(green_fd_adopt(p[0]), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_fd_release(-1), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(green_fd_release(p[0]), -1);
    ck_assert_int_eq(errno, EBADF);
    close(p[1]);
    return NULL;
}

START_TEST(fd_adopt_outside)
{
    int p[2];
    make_pipe(p);
    errno = 0;
    ck_assert_int_eq(green_fd_adopt(p[0]), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_fd_release(p[0]), -1);
    ck_assert_int_eq(errno, EPERM);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* Releasing wakes the fd's waiters with EBADF, forgets its registration
 * and gives the fd back blocking if libgreen made it non-blocking; the
 * fd itself stays open. */
GREEN_TEST(fd_release_forgets)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    ck_assert_int_eq(green_fd_adopt(p[0]), 0);
    int a[2] = {p[0], 0};
    green_t *t = green_spawn(read_err, a);
    green_yield();
    ck_assert_int_eq(green_fd_release(p[0]), 0);
    green_join(t, NULL);
    ck_assert_int_eq(a[1], EBADF);
    ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    /* Still open and usable; a library may now close it plainly. */
    ck_assert_int_eq(write(p[1], "z", 1), 1);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    close(p[0]);
    /* A flag the fd had before adoption is left alone. */
    int q[2];
    ck_assert_int_eq(pipe2(q, O_NONBLOCK), 0);
    ck_assert_int_eq(green_fd_adopt(q[0]), 0);
    ck_assert_int_eq(green_fd_release(q[0]), 0);
    ck_assert_int_ne(fcntl(q[0], F_GETFL) & O_NONBLOCK, 0);
    close(q[0]);
    close(q[1]);
    close(p[1]);
    return NULL;
}

/* The inbox's fd failing to register leaves no record behind: a blocking
 * pipe that later gets its number is read by parking.  Only epoll can
 * refuse an fd (a regular file); poll watches anything. */
GREEN_TEST(wakefd_failure_leaves_no_record)
{
    (void)arg;
    if (strcmp(green_poller_name(), "epoll") != 0)
        return NULL;
    FILE *f = tmpfile();
    int fd = fileno(f);
    ck_assert_int_eq(green__poller_wakefd(&green__cur->poller, fd), -EPERM);
    ck_assert_int_eq(green__cur->poller.wakefd, -1);
    const struct green__fd *r = &green__cur->poller.fds[fd];
    ck_assert(!r->owned && r->backend.epoll_registered == 0 && r->events == 0);
    fclose(f);
    int peer, p = new_file_at(fd, 'p', &peer);
    green_t *t = green_spawn(write_later, &peer);
    char c;
    ck_assert_int_eq(green_read(p, &c, 1), 1);
    green_join(t, NULL);
    green_close(p);
    close(peer);
    return NULL;
}

/* The epoll fd, found the way a double close would hit it. */
/* The backend's fd: link names "eventpoll" or "io_uring". */
static int backend_fd(const char *kind)
{
    for (int fd = 3; fd < 1024; fd++) {
        char path[64], link[64] = "";
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0 && strstr(link, kind))
            return fd;
    }
    return -1;
}

/* EPOLL_CTL_DEL fails (the epoll fd is briefly another file, as after a
 * double close) as a waiter leaves: the fd must not stay counted as
 * watched, or a later deadlock would hang instead of being reported. */
static void *wait_in(void *arg)
{
    green_wait(*(int *)arg, GREEN_IN);
    return NULL;
}

static void *deadlock_after_failed_del(void *arg)
{
    (void)arg;
    int ep = backend_fd("eventpoll"), p[2];
    ck_assert_int_ge(ep, 0);
    make_pipe(p);
    green_t *t = green_spawn(wait_in, &p[0]);
    green_yield();  /* it parks: registered, not owned */
    int saved = dup(ep);
    ck_assert_int_eq(dup2(p[1], ep), ep);  /* epoll_ctl now says EINVAL */
    green_cancel(t);                        /* its wait ends: a DEL that fails */
    ck_assert_int_eq(dup2(saved, ep), ep);
    close(saved);
    green_join(t, NULL);
    ck_assert_uint_eq(green__cur->poller.nwatched, 0);
    park_forever();  /* nothing can wake it: a deadlock */
    close(p[0]);
    close(p[1]);
    return NULL;
}

START_TEST(failed_del_keeps_deadlock_detection)
{
    setenv("GREEN_POLLER", "epoll", 1);
    if (!green_poller_name())
        return;  /* a build without epoll (POSIX=1) */
    free(run_deadlocked(0, deadlock_after_failed_del));
}
END_TEST

/* A backend that keeps failing is reported once, its error reaches the fd
 * waiters, later fd waits fail with it, and timers still work: no thread
 * spins or hangs.  epoll and uring are broken by putting a pipe where
 * their fd was;
 * poll by a file limit below the number of fds it is asked to watch. */
static int poller_error;

static void break_poller(int *undo)
{
    if (strcmp(green_poller_name(), "poll") != 0) {
        bool ep = strcmp(green__cur->poller.ops->name, "epoll") == 0;  /* uring may fall back */
        int fd = backend_fd(ep ? "eventpoll" : "io_uring"), p[2];
        ck_assert_int_ge(fd, 0);
        make_pipe(p);
        ck_assert_int_eq(dup2(p[0], fd), fd);
        close(p[0]);
        close(p[1]);
        poller_error = ep ? EINVAL : EOPNOTSUPP;  /* epoll_wait's, io_uring_enter's */
        *undo = -1;
    } else {
        struct rlimit rl = {1, 1024};
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
        *undo = (int)rl.rlim_cur;
        rl.rlim_cur = 1;
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
        poller_error = EINVAL;
    }
}

static void *read_err_bounded(void *arg)
{
    green_deadline(green_now() + 3000);
    return read_err(arg);
}

static void *broken_poller_main(void *arg)
{
    (void)arg;
    int p[2], q[2];
    make_pipe(p);
    make_pipe(q);
    int a[2] = {p[0], 0}, b[2] = {q[0], 0};
    green_t *ta = green_spawn(read_err_bounded, a);
    green_t *tb = green_spawn(read_err_bounded, b);
    green_yield();  /* both park */
    int undo;
    break_poller(&undo);
    green_join(ta, NULL);
    green_join(tb, NULL);
    if (undo >= 0) {
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = (rlim_t)undo;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ck_assert_int_eq(a[1], poller_error);
    ck_assert_int_eq(b[1], poller_error);
    ck_assert_int_eq(green_sleep(5), 0);
    char c;
    errno = 0;
    ck_assert_int_eq(green_read(p[0], &c, 1), -1);
    ck_assert_int_eq(errno, poller_error);
    for (int i = 0; i < 2; i++) {
        close(p[i]);
        close(q[i]);
    }
    return NULL;
}

GREEN_TEST(broken_poller_reported)
{
    (void)arg;
    /* Valgrind keeps its own file limit, so poll cannot be broken there. */
    if (under_valgrind() && strcmp(green_poller_name(), "poll") == 0)
        return NULL;
    stderr_begin();
    green_t *t = green_spawn(broken_poller_main, NULL);
    green_join(t, NULL);
    char *text = stderr_end();
    const char *first = strstr(text, "poller failed for good");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(strstr(first + 1, "poller failed for good"));  /* once */
    free(text);
    return NULL;
}

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

/* Adoption when the table cannot grow or the flag cannot be set, and
 * release when the flags cannot be read: each error is reported, and
 * the fd can be adopted and released afterwards. */
GREEN_TEST(adopt_and_release_fail)
{
    (void)arg;
    int p[2];
    make_pipe(p);
    int fd = dup2(p[0], 300);  /* past the table's first size */
    ck_assert_int_eq(fd, 300);
    green__fault_set(GREEN__FAULT_realloc, 1, true, ENOMEM);
    ck_assert_int_eq(green_fd_adopt(fd), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    green__fault_set(GREEN__FAULT_fcntl, 2, false, EBADF);  /* F_SETFL */
    ck_assert_int_eq(green_fd_adopt(fd), -1);
    ck_assert_int_eq(errno, EBADF);
    green__fault_clear();
    ck_assert_int_eq(green_fd_adopt(fd), 0);
    green__fault_set(GREEN__FAULT_fcntl, 1, false, EBADF);  /* F_GETFL */
    ck_assert_int_eq(green_fd_release(fd), -1);
    ck_assert_int_eq(errno, EBADF);
    green__fault_set(GREEN__FAULT_fcntl, 2, false, EBADF);  /* F_SETFL */
    ck_assert_int_eq(green_fd_release(fd), -1);
    ck_assert_int_eq(errno, EBADF);
    green__fault_clear();
    /* A release that failed forgot nothing: this one clears the flag. */
    ck_assert_int_eq(green_fd_release(fd), 0);
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
    close(p[0]);
    close(p[1]);
    return NULL;
}
#endif

Suite *poller_suite(void)
{
    Suite *s = suite_create("poller");
    TCase *tc = tcase_create("poller");
    tcase_add_test(tc, close_wakes_waiters);
    tcase_add_test(tc, plain_close_under_waiter);
    tcase_add_test(tc, plain_close_under_socket_waiter);
    tcase_add_test(tc, wait_for_readiness);
    tcase_add_test(tc, wait_errors);
    tcase_add_test(tc, wait_outside_errors);
    tcase_add_test(tc, poller_interest_persists);
    tcase_add_test(tc, wait_sees_earlier_edge);
    tcase_add_test(tc, wait_on_regular_file);
    tcase_add_test(tc, fd_number_reused_after_close);
    tcase_add_test(tc, poller_selection);
    tcase_add_test(tc, poller_in_use);
    tcase_add_test(tc, woken_reader_keeps_its_file);
    tcase_add_test(tc, plain_close_then_socket);
    tcase_add_test(tc, plain_close_then_pipe);
    tcase_add_test(tc, plain_close_then_blocking_socket);
    tcase_add_test(tc, plain_close_then_blocking_pipe);
    tcase_add_test(tc, plain_close_then_release_keeps_flags);
    tcase_add_test(tc, library_fclose_then_reuse);
    tcase_add_test(tc, plain_close_of_drained_tcp_then_socket);
    tcase_add_test(tc, fd_adopt_keeps_registration);
    tcase_add_test(tc, fd_adopt_errors);
    tcase_add_test(tc, fd_adopt_outside);
    tcase_add_test(tc, fd_release_forgets);
    tcase_add_test(tc, wakefd_failure_leaves_no_record);
    tcase_add_test(tc, failed_del_keeps_deadlock_detection);
    tcase_add_test(tc, broken_poller_reported);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, adopt_and_release_fail);
    suite_add_tcase(s, faults);
    return s;
}
