#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sanitizer.h"
#include "sched.h"

void run_green(void *(*fn)(void *), void *arg)
{
    ck_assert_int_eq(green_run(fn, arg), 0);
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

char *stderr_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    return file_text(captured);
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
    if (write(pfd[1], addr, 1) != 1)
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
