/* The io_uring backend: what only it does.  Every other suite runs under
 * it too (make test runs the whole runner once per backend); these tests
 * ask for it themselves, whatever GREEN_POLLER says. */
#ifndef GREEN_POSIX_ONLY  /* io_uring is Linux's: the POSIX build has no ring */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sched.h"
#include "util.h"

/* Runs fn under uring.  Only where the process may not make a ring may
 * the backend fall back: there the test has nothing to check. */
static void *only_uring(void *(*fn)(void *))
{
    if (strcmp(green_poller_name(), "uring") != 0) {
        ck_assert(!kernel_has_uring());
        return NULL;
    }
    return fn(NULL);
}

#define URING_TEST(name)                        \
    static void *name##_body(void *arg);        \
    static void *name##_main(void *arg)         \
    {                                           \
        (void)arg;                              \
        return only_uring(name##_body);         \
    }                                           \
    START_TEST(name)                            \
    {                                           \
        setenv("GREEN_POLLER", "uring", 1);     \
        run_green(name##_main, NULL);           \
    }                                           \
    END_TEST                                    \
    static void *name##_body(void *arg)

static void *report_poller(void *arg)
{
    *(const char **)arg = green_poller_name();
    return NULL;
}

/* A seccomp filter that refuses io_uring_setup with EPERM, as a
 * container's may: green_run falls back to epoll and says so. */
START_TEST(falls_back_under_seccomp)
{
#ifdef SYS_io_uring_setup
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    if (under_valgrind() || getenv("GREEN_TEST_QEMU"))
        return;  /* the filter would be the tool's, not the program's */
    ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
    ck_assert_int_eq(syscall(SYS_io_uring_setup, 1, NULL), -1);
    ck_assert_int_eq(errno, EPERM);
    setenv("GREEN_POLLER", "uring", 1);
    const char *name = NULL;
    run_green(report_poller, &name);
    ck_assert_str_eq(name, "epoll (uring unavailable)");
#endif
}
END_TEST

URING_TEST(chosen_by_name)
{
    (void)arg;
    ck_assert_str_eq(green_poller_name(), "uring");
    ck_assert_ptr_nonnull(green__cur->poller.ops->start);
    return NULL;
}

/* A regular file's read and write are the ring's: the thread parks while
 * the kernel does them (another thread runs meanwhile), and they move the
 * file's position as read(2) and write(2) do. */
static bool ran;

static void *mark_ran(void *arg)
{
    (void)arg;
    ran = true;
    return NULL;
}

URING_TEST(regular_file_parks)
{
    (void)arg;
    FILE *f = tmpfile();
    int fd = fileno(f);
    green_t *t = green_spawn(mark_ran, NULL);
    ck_assert_int_eq(green_write(fd, "abcdef", 6), 6);
    ck_assert(ran);  /* the write parked */
    ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 6);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    green_join(t, NULL);
    ran = false;
    t = green_spawn(mark_ran, NULL);
    char buf[4];
    ck_assert_int_eq(green_read(fd, buf, 4), 4);
    ck_assert(ran);  /* the read parked */
    ck_assert_int_eq(memcmp(buf, "abcd", 4), 0);
    ck_assert_int_eq(green_read(fd, buf, 4), 2);
    ck_assert_int_eq(memcmp(buf, "ef", 2), 0);
    ck_assert_int_eq(green_read(fd, buf, 4), 0);
    green_join(t, NULL);
    fclose(f);
    return NULL;
}

/* Fifty threads' reads go to the kernel in one io_uring_enter. */
enum { READERS = 50 };

static void *read_one(void *arg)
{
    char c;
    ck_assert_int_eq(green_read(*(int *)arg, &c, 1), 1);
    return NULL;
}

URING_TEST(one_enter_for_many)
{
    (void)arg;
    int sv[READERS][2];
    green_t *t[READERS];
    for (int i = 0; i < READERS; i++) {
        make_socketpair(sv[i]);
        ck_assert_int_eq(write(sv[i][1], "x", 1), 1);
    }
    for (int i = 0; i < READERS; i++)
        t[i] = green_spawn(read_one, &sv[i][0]);
    unsigned long before = green__cur->poller.enters;
    for (int i = 0; i < READERS; i++)
        green_join(t[i], NULL);
    /* One to submit and reap them all; the joins' parks may add one. */
    ck_assert_uint_le(green__cur->poller.enters - before, 2);
    for (int i = 0; i < READERS; i++) {
        green_close(sv[i][0]);
        close(sv[i][1]);
    }
    return NULL;
}

/* A deadline stops the read in flight, and the stopped read takes
 * nothing: the byte that comes later is there for the next reader. */
URING_TEST(deadline_stops_read)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    char c;
    green_deadline(green_now() + 20);
    ck_assert_int_eq(green_read(sv[0], &c, 1), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(-1);
    ck_assert_int_eq(write(sv[1], "a", 1), 1);
    ck_assert_int_eq(recv(sv[0], &c, 1, MSG_DONTWAIT), 1);
    ck_assert_int_eq(c, 'a');
    green_close(sv[0]);
    close(sv[1]);
    return NULL;
}

/* The same for cancellation. */
static void *read_errno(void *arg)
{
    char c;
    ssize_t n = green_read(*(int *)arg, &c, 1);
    return (void *)(intptr_t)(n < 0 ? errno : 0);
}

URING_TEST(cancel_stops_read)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    green_t *t = green_spawn(read_errno, &sv[0]);
    green_yield();  /* it parks on its read */
    green_cancel(t);
    void *err;
    green_join(t, &err);
    ck_assert_int_eq((int)(intptr_t)err, ECANCELED);
    ck_assert_int_eq(write(sv[1], "b", 1), 1);
    char c;
    ck_assert_int_eq(recv(sv[0], &c, 1, MSG_DONTWAIT), 1);
    ck_assert_int_eq(c, 'b');
    green_close(sv[0]);
    close(sv[1]);
    return NULL;
}

/* green_close of an fd with a read in flight: the reader fails with
 * EBADF, and the ring lets go of the file, so the peer sees it closed. */
URING_TEST(close_in_flight)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    green_t *t = green_spawn(read_errno, &sv[0]);
    green_yield();
    ck_assert_int_eq(green_close(sv[0]), 0);
    void *err;
    green_join(t, &err);
    ck_assert_int_eq((int)(intptr_t)err, EBADF);
    char c;
    ck_assert_int_eq(green_read(sv[1], &c, 1), 0);  /* end of file: it is closed */
    close(sv[1]);
    return NULL;
}

/* An fd closed with plain close(2) under a thread's call: the ring holds
 * the file, so only the sweep finds the number closed; it stops the call,
 * which fails with EBADF. */
URING_TEST(plain_close_found_by_sweep)
{
    (void)arg;
    int sv[2];
    make_socketpair(sv);
    green_t *t = green_spawn(read_errno, &sv[0]);
    green_yield();
    close(sv[0]);
    void *err;
    green_join(t, &err);
    ck_assert_int_eq((int)(intptr_t)err, EBADF);
    close(sv[1]);
    return NULL;
}

/* Accept and connect are the ring's too; the accepted socket is
 * non-blocking, as under the other backends. */
static void *connect_to(void *arg)
{
    int fd = green_tcp_connect("127.0.0.1", arg);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(green_write(fd, "hi", 2), 2);
    green_close(fd);
    return NULL;
}

URING_TEST(accept_and_connect)
{
    (void)arg;
    int l = green_tcp_listen("127.0.0.1", "0", 8);
    ck_assert_int_ge(l, 0);
    char port[16];
    snprintf(port, sizeof port, "%d", green_local_port(l));
    green_t *t = green_spawn(connect_to, port);
    int c = green_accept(l, NULL, NULL);
    ck_assert_int_ge(c, 0);
    ck_assert_int_ne(fcntl(c, F_GETFL) & O_NONBLOCK, 0);
    char buf[4];
    ck_assert_int_eq(green_read(c, buf, sizeof buf), 2);
    ck_assert_int_eq(memcmp(buf, "hi", 2), 0);
    green_join(t, NULL);
    green_close(c);
    green_close(l);
    return NULL;
}

/* Reads of one regular file wait for their turn: the first thread's read
 * is in flight until the scheduler next looks at the ring, so the second
 * one, which runs before that, waits.  A close, a deadline and a
 * cancellation each end the wait for a turn. */
static int turn_file(void)
{
    FILE *f = tmpfile();
    int fd = dup(fileno(f));
    fclose(f);
    /* The first green call learns that the fd is no socket (ENOTSOCK), so
     * that the calls below are reads at the file position at once. */
    ck_assert_int_eq(green_write(fd, "abcdefgh", 8), 8);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Whether green_dump names a thread waiting for its turn. */
static bool turn_waited(void)
{
    FILE *f = tmpfile();
    green_dump(f);
    char *text = file_text(f);
    bool found = strstr(text, "its turn at the file position") != NULL;
    free(text);
    return found;
}

struct turn_read {
    int fd;
    bool expired, cancel_self;
    ssize_t r;
    int err;
    char buf[4];
};

static void *read_turn(void *arg)
{
    struct turn_read *t = arg;
    if (t->expired)
        green_deadline(green_now());
    if (t->cancel_self)
        green_cancel(green_self());
    t->r = green_read(t->fd, t->buf, 4);
    t->err = errno;
    return NULL;
}

static void read_pair(int fd, struct turn_read *second, ssize_t want, int err)
{
    struct turn_read first = {.fd = fd};
    second->fd = fd;
    green_t *a = green_spawn(read_turn, &first);
    green_t *b = green_spawn(read_turn, second);
    green_yield();  /* a's read is in flight, b waits or fails */
    green_join(b, NULL);
    green_join(a, NULL);
    ck_assert_int_eq(first.r, 4);
    ck_assert_int_eq(memcmp(first.buf, "abcd", 4), 0);
    ck_assert_int_eq(second->r, want);
    if (want < 0)
        ck_assert_int_eq(second->err, err);
}

URING_TEST(turn_ends_by_deadline_and_cancel)
{
    (void)arg;
    int fd = turn_file();
    read_pair(fd, &(struct turn_read){.expired = true}, -1, ETIMEDOUT);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    read_pair(fd, &(struct turn_read){.cancel_self = true}, -1, ECANCELED);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    struct turn_read second = {0};
    read_pair(fd, &second, 4, 0);
    ck_assert_int_eq(memcmp(second.buf, "efgh", 4), 0);
    close(fd);
    return NULL;
}

URING_TEST(turn_ends_by_close)
{
    (void)arg;
    int fd = turn_file();
    struct turn_read first = {.fd = fd}, second = {.fd = fd};
    green_t *a = green_spawn(read_turn, &first);
    green_t *b = green_spawn(read_turn, &second);
    green_yield();  /* a's read is in flight, b waits for its turn */
    ck_assert(turn_waited());
    ck_assert_int_eq(green_close(fd), 0);
    green_join(a, NULL);
    green_join(b, NULL);
    ck_assert_int_eq(second.r, -1);
    ck_assert_int_eq(second.err, EBADF);
    /* a's read completed or was cancelled before the close took. */
    ck_assert(first.r == 4 || (first.r == -1 && first.err == EBADF));
    return NULL;
}

/* Handed its turn, then the fd is closed before the thread runs: it fails
 * with EBADF, and makes no call on whatever file has the number now. */
static volatile bool first_done;

static void *read_then_mark(void *arg)
{
    read_turn(arg);
    first_done = true;
    return NULL;
}

static void *close_when_first_done(void *arg)
{
    while (!first_done)
        green_yield();
    ck_assert_int_eq(green_close(*(int *)arg), 0);
    return NULL;
}

URING_TEST(turn_handed_then_closed)
{
    (void)arg;
    int fd = turn_file();
    struct turn_read first = {.fd = fd}, second = {.fd = fd};
    green_t *c = green_spawn(close_when_first_done, &fd);
    green_t *a = green_spawn(read_then_mark, &first);
    green_t *b = green_spawn(read_turn, &second);
    green_join(c, NULL);
    green_join(a, NULL);
    green_join(b, NULL);
    ck_assert_int_eq(first.r, 4);
    ck_assert_int_eq(second.r, -1);
    ck_assert_int_eq(second.err, EBADF);
    return NULL;
}

/* A file closed with close(2) behind libgreen's back, its number taken by
 * a socket: the record still says the number has a file position, but a
 * reader parked on the socket does not keep a writer of it waiting. */
static void *read_one_byte(void *arg)
{
    char c;
    ck_assert_int_eq(green_read(*(int *)arg, &c, 1), 1);
    return (void *)(intptr_t)c;
}

URING_TEST(stale_file_number_takes_no_turn)
{
    (void)arg;
    int fd = turn_file(), sv[2];
    make_socketpair(sv);
    close(fd);
    ck_assert_int_eq(dup2(sv[0], fd), fd);  /* the file's number, now a socket */
    close(sv[0]);
    sv[0] = fd;
    green_t *r = green_spawn(read_one_byte, &sv[0]);
    green_yield();  /* the reader parks */
    ck_assert_int_eq(green_write(sv[0], "x", 1), 1);
    ck_assert_int_eq(write(sv[1], "y", 1), 1);
    void *got;
    ck_assert_int_eq(green_join(r, &got), 0);
    ck_assert_int_eq((intptr_t)got, 'y');
    char c;
    ck_assert_int_eq(read(sv[1], &c, 1), 1);
    ck_assert_int_eq(c, 'x');
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

/* An O_DIRECT read in flight when its fd is released keeps its turn: a
 * read made on the fd after the release waits for it to end, and the two
 * read two different blocks (the position the first moved). */
enum { BLOCK = 4096 };

struct block_read {
    int fd;
    ssize_t r;
    int err;
    unsigned char *buf;
};

static void *read_block(void *arg)
{
    struct block_read *b = arg;
    b->r = green_read(b->fd, b->buf, BLOCK);
    b->err = errno;
    return NULL;
}

URING_TEST(released_turn_is_kept)
{
    (void)arg;
    char path[] = "/tmp/green-direct-XXXXXX";
    int w = mkstemp(path);
    ck_assert_int_ge(w, 0);
    unsigned char *buf;
    ck_assert_int_eq(posix_memalign((void **)&buf, BLOCK, 2 * BLOCK), 0);
    memset(buf, 'a', BLOCK);
    memset(buf + BLOCK, 'b', BLOCK);
    ck_assert_int_eq(write(w, buf, 2 * BLOCK), 2 * BLOCK);
    ck_assert_int_eq(fsync(w), 0);
    int fd = open(path, O_RDONLY | O_DIRECT);
    unlink(path);
    close(w);
    if (fd < 0) {  /* a file system without O_DIRECT: nothing to check */
        free(buf);
        return NULL;
    }
    struct block_read a = {fd, 0, 0, buf}, b = {fd, 0, 0, buf + BLOCK};
    /* The first read learns that fd is no socket; the next are reads at
     * the position. */
    ck_assert_int_eq(green_read(fd, buf, BLOCK), BLOCK);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    green_t *ta = green_spawn(read_block, &a);
    green_yield();  /* a's read is in flight */
    ck_assert_int_eq(green_fd_release(fd), 0);
    green_t *tb = green_spawn(read_block, &b);
    green_join(ta, NULL);
    green_join(tb, NULL);
    ck_assert_int_eq(b.r, BLOCK);
    if (a.r == BLOCK) {  /* a's read completed before the release took */
        ck_assert_int_eq(a.buf[0], 'a');
        ck_assert_int_eq(b.buf[0], 'b');
        ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 2 * BLOCK);
    } else {
        ck_assert_int_eq(a.err, EBADF);
        ck_assert_int_eq(b.buf[0], 'a');
    }
    close(fd);
    free(buf);
    return NULL;
}

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

/* Where io_uring cannot be had, green_run falls back to epoll and says
 * so: no such system call (an old kernel, ENOSYS), or refused
 * (kernel.io_uring_disabled, EPERM), or a mapping of the rings failing. */
static void *report_poller_and_io(void *arg)
{
    *(const char **)arg = green_poller_name();
    char c;
    int p[2];
    make_pipe(p);
    ck_assert_int_eq(green_write(p[1], "u", 1), 1);  /* and I/O works */
    ck_assert_int_eq(green_read(p[0], &c, 1), 1);
    close(p[0]);
    close(p[1]);
    return NULL;
}

START_TEST(uring_falls_back_to_epoll)
{
    setenv("GREEN_POLLER", "uring", 1);
    const struct { enum green__fault_point p; int err; bool persistent; } refusals[] = {
        {GREEN__FAULT_io_uring_setup, ENOSYS, false},
        {GREEN__FAULT_io_uring_setup, EPERM, false},
        {GREEN__FAULT_io_uring_setup, EINVAL, true},  /* flags unknown, then too old */
        {GREEN__FAULT_mmap, ENOMEM, false},
    };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const char *name = NULL;
        green__fault_set(refusals[i].p, 1, refusals[i].persistent, refusals[i].err);
        ck_assert_int_eq(green_run(report_poller_and_io, &name), 0);
        green__fault_clear();
        ck_assert_str_eq(name, "epoll (uring unavailable)");
    }
}
END_TEST

/* A run of two schedulers where the kernel gives only the first its
 * ring (a lock on memory that the second's exhausts, on a kernel before
 * 5.12): the second falls back to epoll alone, and the two still talk,
 * through a socket whose ends each of them owns and through a channel. */
struct mixed {
    const char *name[2];
    int sv[2];
    green_chan_t *ch;
};

enum { MIXED_ROUNDS = 200 };

static void *mixed_side(void *arg)
{
    struct mixed *m = arg;
    int me = green_sched_index(), fd = m->sv[me];
    m->name[me] = green_poller_name();
    char c = 'a';
    for (int i = 0; i < MIXED_ROUNDS; i++) {
        if (me == 0) {
            ck_assert_int_eq(green_write(fd, &c, 1), 1);
            ck_assert_int_eq(green_read(fd, &c, 1), 1);
            ck_assert_int_eq(green_chan_send(m->ch, &i), 0);
        } else {
            ck_assert_int_eq(green_read(fd, &c, 1), 1);
            ck_assert_int_eq(green_write(fd, &c, 1), 1);
            int got;
            ck_assert_int_eq(green_chan_recv(m->ch, &got), 0);
            ck_assert_int_eq(got, i);
        }
    }
    return NULL;
}

static void *mixed_main(void *arg)
{
    struct mixed *m = arg;
    green_t *a = spawn_on(0, mixed_side, m), *b = spawn_on(1, mixed_side, m);
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    return NULL;
}

START_TEST(uring_on_one_scheduler_only)
{
    setenv("GREEN_POLLER", "uring", 1);
    struct mixed m = {.ch = green_chan_new(sizeof(int), 0)};
    make_socketpair(m.sv);
    green__fault_set(GREEN__FAULT_io_uring_setup, 2, false, ENOMEM);  /* the second's */
    ck_assert_int_eq(green_run_attr(&(green_run_attr_t){.schedulers = 2}, mixed_main, &m), 0);
    green__fault_clear();
    bool first_ring = strcmp(m.name[0], "uring") == 0;
    ck_assert_str_eq(m.name[first_ring ? 0 : 1], "uring");
    ck_assert_str_eq(m.name[first_ring ? 1 : 0], "epoll (uring unavailable)");
    green_chan_free(m.ch);
    close(m.sv[0]);
    close(m.sv[1]);
}
END_TEST

/* Under uring, a call the ring gives back with EINTR is made again, and
 * one given back with EAGAIN (a file another program made non-blocking,
 * on a kernel that does not wait for it) is waited out, for reads and for
 * accept alike.  The fault point puts a no-op with the error in the
 * call's place. */
/* Whether the backend is uring, on a kernel that gives a no-op the result
 * it is told to (6.10 and later), as the fault point needs. */
static bool uring_faults(void)
{
    if (strcmp(green_poller_name(), "uring") != 0)
        return false;
    green__fault_set(GREEN__FAULT_io_uring_op, 1, false, EINTR);
    int sv[2];
    make_socketpair(sv);
    ck_assert_int_eq(write(sv[1], "k", 1), 1);
    char c;
    ssize_t n = green_read(sv[0], &c, 1);
    green__fault_clear();
    green_close(sv[0]);
    close(sv[1]);
    return n == 1;
}

GREEN_TEST(uring_call_again)
{
    (void)arg;
    if (!uring_faults())
        return NULL;
    int errs[] = {EINTR, EAGAIN};
    for (int i = 0; i < 2; i++) {
        int sv[2];
        make_socketpair(sv);
        ck_assert_int_eq(write(sv[1], "r", 1), 1);
        green__fault_set(GREEN__FAULT_io_uring_op, 1, false, errs[i]);
        char c = 0;
        ck_assert_int_eq(green_read(sv[0], &c, 1), 1);
        ck_assert_int_eq(c, 'r');
        ck_assert_uint_eq(green__fault_calls(GREEN__FAULT_io_uring_op), 2);
        green__fault_clear();
        int l = green_tcp_listen("127.0.0.1", "0", 4);
        char port[16];
        snprintf(port, sizeof port, "%d", green_local_port(l));
        int cl = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        ck_assert_int_eq(connect(cl, (struct sockaddr *)&sin, sizeof sin), 0);
        green__fault_set(GREEN__FAULT_io_uring_op, 1, false, errs[i]);
        int a = green_accept(l, NULL, NULL);
        green__fault_clear();
        ck_assert_int_ge(a, 0);
        green_close(a);
        close(cl);
        green_close(l);
        green_close(sv[0]);
        close(sv[1]);
    }
    return NULL;
}

/* A call the stop interrupts (a read the kernel had started blocking)
 * comes back EINTR: past the deadline that is the deadline's doing, and
 * the call is not made again and again. */
GREEN_TEST(uring_stopped_call_not_retried)
{
    (void)arg;
    if (!uring_faults())
        return NULL;
    int sv[2];
    make_socketpair(sv);
    green_deadline(green_now() - 1);
    green__fault_set(GREEN__FAULT_io_uring_op, 1, true, EINTR);
    char c;
    errno = 0;
    ck_assert_int_eq(green_read(sv[0], &c, 1), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_uint_eq(green__fault_calls(GREEN__FAULT_io_uring_op), 1);
    green__fault_clear();
    green_close(sv[0]);
    close(sv[1]);
    return NULL;
}

/* The submission queue full and the kernel taking nothing: the call that
 * finds no room fails with ENOMEM, as a poll's arming does, and loses
 * nothing; the calls queued before it complete once the kernel takes them
 * again. */
enum { QUEUED = 256 };  /* poller_uring.c's SQ_ENTRIES */

GREEN_TEST(uring_queue_full)
{
    (void)arg;
    if (strcmp(green_poller_name(), "uring") != 0)
        return NULL;
    static int sv[QUEUED][2];
    green_t *t[QUEUED];
    for (int i = 0; i < QUEUED; i++) {
        make_socketpair(sv[i]);
        t[i] = green_spawn(read_one, &sv[i][0]);
    }
    int extra[2];
    make_socketpair(extra);
    green__fault_set(GREEN__FAULT_io_uring_enter, 1, true, EBUSY);
    green_yield();  /* every reader queues its call, and the queue is full */
    char c;
    errno = 0;
    ck_assert_int_eq(green_read(extra[0], &c, 1), -1);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(green_wait(extra[0], GREEN_IN), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    for (int i = 0; i < QUEUED; i++)
        ck_assert_int_eq(write(sv[i][1], "q", 1), 1);
    for (int i = 0; i < QUEUED; i++) {
        green_join(t[i], NULL);
        green_close(sv[i][0]);
        close(sv[i][1]);
    }
    green_close(extra[0]);
    close(extra[1]);
    return NULL;
}
#endif

Suite *uring_suite(void)
{
    Suite *s = suite_create("uring");
    TCase *tc = tcase_create("uring");
    tcase_add_test(tc, falls_back_under_seccomp);
    tcase_add_test(tc, chosen_by_name);
    tcase_add_test(tc, regular_file_parks);
    tcase_add_test(tc, one_enter_for_many);
    tcase_add_test(tc, deadline_stops_read);
    tcase_add_test(tc, cancel_stops_read);
    tcase_add_test(tc, close_in_flight);
    tcase_add_test(tc, plain_close_found_by_sweep);
    tcase_add_test(tc, accept_and_connect);
    tcase_add_test(tc, turn_ends_by_deadline_and_cancel);
    tcase_add_test(tc, turn_ends_by_close);
    tcase_add_test(tc, turn_handed_then_closed);
    tcase_add_test(tc, stale_file_number_takes_no_turn);
    tcase_add_test(tc, released_turn_is_kept);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, uring_falls_back_to_epoll);
    add_fault_test(faults, uring_on_one_scheduler_only);
    add_fault_test(faults, uring_call_again);
    add_fault_test(faults, uring_stopped_call_not_retried);
    add_fault_test(faults, uring_queue_full);
    suite_add_tcase(s, faults);
    return s;
}

#endif
