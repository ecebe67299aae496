#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ring.h"
#include "sanitizer.h"
#include "sched.h"

void run_green(void *(*fn)(void *), void *arg)
{
    ck_assert_int_eq(green_run(fn, arg), 0);
}

void run_on(unsigned n, void *(*fn)(void *), void *arg)
{
    ck_assert_int_eq(green_run_attr(&(green_run_attr_t){.schedulers = n}, fn, arg), 0);
}

green_t *spawn_on(int index, void *(*fn)(void *), void *arg)
{
    green_t *t = green_spawn_attr(&(green_attr_t){.place = GREEN_PLACE_ON(index)}, fn, arg);
    ck_assert_ptr_nonnull(t);
    return t;
}

bool under_valgrind(void)
{
#ifdef GREEN__VALGRIND
    return RUNNING_ON_VALGRIND;
#else
    return false;
#endif
}

bool under_asan(void)
{
#ifdef GREEN__ASAN
    return true;
#else
    return false;
#endif
}

#ifdef __GLIBC__
bool heap_in_use(size_t *bytes)
{
    *bytes = mallinfo2().uordblks;
    return true;
}

void trim_heap(void)
{
    malloc_trim(0);
}
#else
bool heap_in_use(size_t *bytes)
{
    (void)bytes;
    return false;
}

void trim_heap(void)
{
}
#endif

static void forever_describe(const struct green__wait *w, char *buf, size_t n)
{
    (void)w;
    snprintf(buf, n, "test wait");
}

static const struct green__waitop forever_op = {
    .unlink = NULL,
    .describe = forever_describe,
};

void *echo_fd(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];  /* on this green thread's own stack */
    ssize_t n;
    while ((n = green_read(fd, buf, sizeof buf)) > 0)
        if (green_write(fd, buf, (size_t)n) != n)
            break;
    green_close(fd);
    return NULL;
}

void *read_err(void *arg)
{
    int *fd_err = arg;
    char c;
    fd_err[1] = green_read(fd_err[0], &c, 1) < 0 ? errno : 0;
    return NULL;
}

#if defined(__SANITIZE_THREAD__)
#define TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_TSAN 1
#endif
#endif

bool under_tsan(void)
{
#ifdef TEST_TSAN
    return true;
#else
    return false;
#endif
}

void exit_child(int code)
{
    green__coverage_flush();
    _exit(code);
}

bool under_qemu(void)
{
    return getenv("GREEN_TEST_QEMU") != NULL;
}

/* Asked of the kernel by the call's number, not through the build's
 * io_uring headers: where the compiler found none (Debian's musl-gcc
 * without the kernel's headers on its path), the uring backend is its
 * stub, and the uring suite must then fail on a kernel that has io_uring,
 * not pass as if the process could make no ring. */
bool kernel_has_uring(void)
{
#ifdef SYS_io_uring_setup
    static int known;  /* 0: not asked yet; 1: yes; -1: no */
    if (!known) {
        /* Zeroed parameters (struct io_uring_params, 120 bytes in Linux
         * 6.x, with room to grow) ask for a ring of the defaults. */
        uint64_t par[64] = {0};
        int fd = (int)syscall(SYS_io_uring_setup, 2, par);
        known = fd >= 0 ? 1 : -1;
        if (fd >= 0)
            close(fd);
    }
    return known > 0;
#else
    return false;
#endif
}

pid_t fork_counted(void)
{
    /* A coverage build turns a call of fork into one that clears the
     * child's counts after the fork handlers ran; called through a
     * pointer, it is the plain one, and the handlers' counts stay. */
    pid_t (*volatile plain_fork)(void) = fork;
    return plain_fork();
}

ssize_t read_blocking(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return got ? (ssize_t)got : r;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int park_forever(void)
{
    struct green__wait w = {.op = &forever_op};
    return green__park(green__cur, &w, -1, 0);
}

static FILE *captured;
static int saved_stderr = -1;

void stderr_begin(void)
{
    fflush(stderr);
    captured = tmpfile();
    ck_assert_ptr_nonnull(captured);
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(captured), STDERR_FILENO);
}

char *file_text(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    char *text = calloc(1, (size_t)n + 1);
    ck_assert_ptr_nonnull(text);
    rewind(f);
    ck_assert_int_eq(fread(text, 1, (size_t)n, f), n);
    fclose(f);
    return text;
}

/* Takes out of text the line ASan writes at a process's first switch
 * (test/sanitize.sh drops it from the suite's output): a test that asks
 * for silence means libgreen's, which it is under ASan too. */
static void drop_asan_warning(char *text)
{
    char *at = strstr(text, "ASan doesn't fully support makecontext/swapcontext");
    if (!at)
        return;
    char *start = at, *end = strchr(at, '\n');
    while (start > text && start[-1] != '\n')
        start--;
    end = end ? end + 1 : at + strlen(at);
    memmove(start, end, strlen(end) + 1);
}

char *stderr_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    char *text = file_text(captured);
    drop_asan_warning(text);
    return text;
}

char *dump_text(void)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    green_dump(f);
    return file_text(f);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

char *dump_until(const char *what, int n)
{
    char *text;
    while (count(text = dump_text(), what) < n) {
        free(text);
        green_yield();
    }
    return text;
}

char *run_deadlocked(unsigned schedulers, void *(*main)(void *))
{
    stderr_begin();
    errno = 0;
    int r = schedulers ? green_run_attr(&(green_run_attr_t){.schedulers = schedulers}, main, NULL)
                       : green_run(main, NULL);
    int err = errno;
    char *text = stderr_end();
    ck_assert_msg(r == -1 && err == EDEADLK, "run returned %d, errno %d: %s", r, err, text);
    return text;
}

void make_socketpair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

void make_pipe(int fds[2])
{
    ck_assert_int_eq(pipe(fds), 0);
}

bool kernel_can_read(int pfd[2], const void *addr)
{
    char c;
    /* Memcheck knows the guard pages (lib/stack.c) and would report the
     * probe that reads them. */
#ifdef GREEN__VALGRIND
    VALGRIND_DISABLE_ERROR_REPORTING;
#endif
    ssize_t n = write(pfd[1], addr, 1);
#ifdef GREEN__VALGRIND
    VALGRIND_ENABLE_ERROR_REPORTING;
#endif
    if (n != 1)
        return false;
    ck_assert_int_eq(read(pfd[0], &c, 1), 1);
    return true;
}

int tcp_pair(int *accepted)
{
    int lfd = green_tcp_listen("127.0.0.1", "0", 4);
    ck_assert_int_ge(lfd, 0);
    char port[16];
    snprintf(port, sizeof port, "%d", green_local_port(lfd));
    int fd = green_tcp_connect("127.0.0.1", port);
    ck_assert_int_ge(fd, 0);
    *accepted = green_accept(lfd, NULL, NULL);
    ck_assert_int_ge(*accepted, 0);
    green_close(lfd);
    return fd;
}

int tcp_listener(unsigned short *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    socklen_t len = sizeof sin;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Records in one regular file, shared by a pool of green threads. */

int temp_file(bool direct)
{
    char path[] = "/tmp/green-file-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    if (direct) {
        int flags = fcntl(fd, F_GETFL);
        (void)fcntl(fd, F_SETFL, flags | O_DIRECT);  /* tmpfs refuses it */
    }
    return fd;
}

static void *aligned_record(void)
{
    void *buf;
    ck_assert_int_eq(posix_memalign(&buf, 4096, FILE_RECORD), 0);
    return buf;
}

static void fill_record(uint32_t *buf, uint32_t n)
{
    for (size_t i = 0; i < FILE_RECORD / sizeof *buf; i++)
        buf[i] = n;
}

/* The record's number, or -1 when its words disagree. */
static long record_number(const uint32_t *buf)
{
    for (size_t i = 1; i < FILE_RECORD / sizeof *buf; i++)
        if (buf[i] != buf[0])
            return -1;
    return buf[0] < FILE_RECORDS ? (long)buf[0] : -1;
}

static void *write_records(void *arg)
{
    struct shared_file *f = arg;
    uint32_t *buf = aligned_record();
    while (f->next < FILE_RECORDS) {
        fill_record(buf, f->next++);
        ck_assert_int_eq(green_write(f->fd, buf, FILE_RECORD), FILE_RECORD);
    }
    free(buf);
    return NULL;
}

static void *read_records(void *arg)
{
    struct shared_file *f = arg;
    uint32_t *buf = aligned_record();
    ssize_t r;
    while ((r = green_read(f->fd, buf, FILE_RECORD)) > 0) {
        long n = r == FILE_RECORD ? record_number(buf) : -1;
        if (n < 0)
            f->bad++;
        else
            f->seen[n]++;
    }
    ck_assert_int_eq(r, 0);
    free(buf);
    return NULL;
}

static void run_pool(void *(*fn)(void *), struct shared_file *f)
{
    green_t *t[FILE_POOL];
    for (int i = 0; i < FILE_POOL; i++)
        t[i] = green_spawn(fn, f);
    for (int i = 0; i < FILE_POOL; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
}

void check_each_once(const struct shared_file *f)
{
    ck_assert_int_eq(f->bad, 0);
    for (int i = 0; i < FILE_RECORDS; i++)
        ck_assert_msg(f->seen[i] == 1, "record %d read %d times", i, f->seen[i]);
}

void pool_write(struct shared_file *f)
{
    run_pool(write_records, f);
}

void pool_read(struct shared_file *f)
{
    run_pool(read_records, f);
}

void count_records(struct shared_file *f)
{
    uint32_t *buf = aligned_record();
    for (int i = 0; i < FILE_RECORDS; i++) {
        ck_assert_int_eq(pread(f->fd, buf, FILE_RECORD, (off_t)i * FILE_RECORD), FILE_RECORD);
        long n = record_number(buf);
        ck_assert_int_ge(n, 0);
        f->seen[n]++;
    }
    ck_assert_int_eq(pread(f->fd, buf, 1, (off_t)FILE_RECORDS * FILE_RECORD), 0);
    free(buf);
}

int uncached_records(bool direct)
{
    int w = temp_file(false);
    uint32_t *buf = aligned_record();
    for (uint32_t i = 0; i < FILE_RECORDS; i++) {
        fill_record(buf, i);
        ck_assert_int_eq(write(w, buf, FILE_RECORD), FILE_RECORD);
    }
    free(buf);
    ck_assert_int_eq(fsync(w), 0);
    ck_assert_int_eq(posix_fadvise(w, 0, 0, POSIX_FADV_DONTNEED), 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", w);
    int fd = open(path, O_RDONLY | (direct ? O_DIRECT : 0));
    if (fd < 0 && direct)
        fd = open(path, O_RDONLY);  /* a file system without O_DIRECT */
    ck_assert_int_ge(fd, 0);
    close(w);
    return fd;
}
