/*
 * libgreen-hook: the blocking calls of the C library, interposed, so that
 * a library written for blocking I/O (libpq, hiredis, libcurl) parks only
 * the green thread that called it.  Opt-in: a program links -lgreen-hook
 * or runs with LD_PRELOAD=libgreen-hook.so; libgreen itself interposes
 * nothing, and reaches the C library around this folder (lib/sys.h).
 *
 * Every call here is the real one outside a green thread (plain OS
 * threads, the offload workers, before and after green_run) and on an fd
 * the program itself made non-blocking.  Inside a green thread, on an fd
 * the program sees as blocking, it is the green call: the same result,
 * but the wait parks the green thread, under its deadline and
 * cancellation.  The program's view of O_NONBLOCK is kept per fd (view),
 * since libgreen makes the sockets it accepts or connects non-blocking
 * underneath; fcntl reports the view.  Nothing else is made non-blocking:
 * pipes and ttys are read and written without the flag (hook_pipe.c).
 *
 * The hook uses libgreen's public API only.  docs/hooks.md says what is
 * interposed, how each call behaves, and the limits.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <green.h>

#include "hook.h"

struct green__hook_real green__hook_real;

/* What the hook knows of each fd, in a byte.  VIEW is the program's view
 * of its O_NONBLOCK: UNKNOWN until a call looks (then the fd's own flag),
 * BLOCKING or NONBLOCKING as the program set it.  UNDER: libgreen has made
 * the fd non-blocking underneath a blocking view, so the flag stays while
 * the program toggles its own.  SOCKET: it is a socket (the one kind kept,
 * since sockets are the hot path; any other is asked each time, so that a
 * number closed unseen and reused is not taken for what it was).
 * NO_NOWAIT: a pipe that said RWF_NOWAIT is not for it.  A close, a socket
 * or an accept starts the byte afresh; a copy of the fd copies it. */
#define UNKNOWN GREEN__HOOK_UNKNOWN
#define BLOCKING GREEN__HOOK_BLOCKING
#define NONBLOCKING GREEN__HOOK_NONBLOCKING
enum { VIEW = 3, UNDER = 4, SOCKET = 8, NO_NOWAIT = 16 };

/* One byte per fd number, for every number an fd can have, whatever limit
 * is set after the hook loaded: in pages of VIEW_PAGE numbers, each mapped
 * when a number in it is first written (a page not there is all UNKNOWN).
 * Every OS thread reads the table without a lock, so a page, once
 * published, is never moved or unmapped; an untouched part of one costs
 * address space, not memory. */
enum { VIEW_SHIFT = 20, VIEW_PAGE = 1 << VIEW_SHIFT, VIEW_PAGES = (INT_MAX >> VIEW_SHIFT) + 1 };
static _Atomic(_Atomic unsigned char *) pages[VIEW_PAGES];

#define LOAD(reach, point, ret, name, params, args) \
    GREEN__IN_HOOK_##reach(*(void **)&green__hook_real.name = dlsym(RTLD_NEXT, #name);)

static void load(void)
{
    GREEN__ROUTED(LOAD)
}

static pthread_once_t loaded = PTHREAD_ONCE_INIT;

void green__hook_load(void)
{
    pthread_once(&loaded, load);
}

__attribute__((constructor)) static void hook_init(void)
{
    green__hook_load();
}

static _Atomic unsigned char *page_of(int fd)
{
    return atomic_load_explicit(&pages[fd >> VIEW_SHIFT], memory_order_acquire);
}

static int entry(int fd)
{
    _Atomic unsigned char *page = fd >= 0 ? page_of(fd) : NULL;
    return page ? atomic_load_explicit(&page[fd & (VIEW_PAGE - 1)], memory_order_relaxed)
                : UNKNOWN;
}

/* fd's page, mapped if it is not there yet; NULL if it cannot be (the fd
 * then stays UNKNOWN, looked up each time). */
static _Atomic unsigned char *new_page(int fd)
{
    void *fresh = mmap(NULL, VIEW_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fresh == MAP_FAILED)
        return NULL;
    _Atomic unsigned char *page = NULL;
    if (atomic_compare_exchange_strong_explicit(&pages[fd >> VIEW_SHIFT], &page, fresh,
                                                memory_order_acq_rel, memory_order_acquire))
        return fresh;
    munmap(fresh, VIEW_PAGE);  /* another OS thread's came first */
    return page;
}

/* fd's byte, for writing: NULL if it is all UNKNOWN and is to stay so. */
static _Atomic unsigned char *slot(int fd, int e)
{
    if (fd < 0)
        return NULL;
    _Atomic unsigned char *page = page_of(fd);
    if (!page && (e == UNKNOWN || !(page = new_page(fd))))
        return NULL;
    return &page[fd & (VIEW_PAGE - 1)];
}

static void set_entry(int fd, int e)
{
    _Atomic unsigned char *at = slot(fd, e);
    if (at)
        atomic_store_explicit(at, (unsigned char)e, memory_order_relaxed);
}

/* Adds bits to fd's byte; another OS thread may be adding others. */
static void add_bits(int fd, int bits)
{
    _Atomic unsigned char *at = slot(fd, bits);
    if (at)
        atomic_fetch_or_explicit(at, (unsigned char)bits, memory_order_relaxed);
}

/* The program's view of fd, learnt from the fd's own flag the first time. */
int green__hook_view(int fd)
{
    int v = entry(fd) & VIEW;
    if (v == UNKNOWN) {
        int flags = REAL(fcntl)(fd, F_GETFL);
        v = flags >= 0 && (flags & O_NONBLOCK) ? NONBLOCKING : BLOCKING;
        if (flags >= 0)
            add_bits(fd, v);
    }
    return v;
}

bool green__hook_greened(int fd)
{
    return green__hook_in_green() && green__hook_view(fd) == BLOCKING;
}

int green__hook_kind(int fd)
{
    int e = entry(fd);
    if (e & SOCKET)
        return GREEN__HOOK_SOCKET;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (S_ISSOCK(st.st_mode)) {
        add_bits(fd, SOCKET);
        return GREEN__HOOK_SOCKET;
    }
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode))
        return GREEN__HOOK_FILE;
    return S_ISFIFO(st.st_mode) ? GREEN__HOOK_PIPE : GREEN__HOOK_OTHER;
}

bool green__hook_nowait(int fd)
{
    return !(entry(fd) & NO_NOWAIT);
}

void green__hook_no_nowait(int fd)
{
    add_bits(fd, NO_NOWAIT);
}

/* Reading and writing.  Inside a green thread, on an fd the program sees
 * as blocking, a socket's call is libgreen's (which sets no flag on it: it
 * passes MSG_DONTWAIT).  Every other fd's is made without O_NONBLOCK, which
 * libgreen's calls would set on it (but under uring), and which stdio's own
 * calls, plain OS threads and child processes would then meet on the open
 * file they share: a regular file's is the real call, which never waits
 * for readiness (under uring, libgreen's: the ring's read parks instead of
 * blocking, with no flag); a pipe's or a tty's, hook_pipe.c's.  A tty
 * goes there under uring too: the kernel may make the ring's write of one
 * in the submitting thread, blocking it. */
enum route { BY_REAL, BY_GREEN, BY_PIPE, BY_OTHER };

static enum route route_of(int fd)
{
    switch (green__hook_kind(fd)) {
    case GREEN__HOOK_SOCKET:
        return BY_GREEN;
    case GREEN__HOOK_FILE:
        return strcmp(green_poller_name(), "uring") == 0 ? BY_GREEN : BY_REAL;
    case GREEN__HOOK_PIPE:
        return BY_PIPE;
    case GREEN__HOOK_OTHER:
        return BY_OTHER;
    default:
        return BY_REAL;  /* no such fd: the real call says so */
    }
}

/* Whether a socket call on fd is to be the green one: it is on a socket
 * (on anything else it fails, and libgreen's would set the flag first). */
static bool greened_socket(int fd)
{
    return green__hook_greened(fd) && green__hook_kind(fd) == GREEN__HOOK_SOCKET;
}

HOOK ssize_t read(int fd, void *buf, size_t n)
{
    enum route r = green__hook_greened(fd) ? route_of(fd) : BY_REAL;
    if (r == BY_REAL)
        return REAL(read)(fd, buf, n);
    if (r == BY_GREEN)
        return green_read(fd, buf, n);
    return green__hook_readv(fd, &(struct iovec){buf, n}, 1, r == BY_PIPE);
}

HOOK ssize_t write(int fd, const void *buf, size_t n)
{
    enum route r = green__hook_greened(fd) ? route_of(fd) : BY_REAL;
    if (r == BY_REAL)
        return REAL(write)(fd, buf, n);
    if (r == BY_GREEN)
        return green_write(fd, buf, n);
    return green__hook_writev(fd, &(struct iovec){(void *)buf, n}, 1, r == BY_PIPE);
}

HOOK ssize_t readv(int fd, const struct iovec *iov, int n)
{
    enum route r = green__hook_greened(fd) ? route_of(fd) : BY_REAL;
    if (r == BY_REAL)
        return REAL(readv)(fd, iov, n);
    if (r == BY_GREEN)
        return green_readv(fd, iov, n);
    return green__hook_readv(fd, iov, n, r == BY_PIPE);
}

HOOK ssize_t writev(int fd, const struct iovec *iov, int n)
{
    enum route r = green__hook_greened(fd) ? route_of(fd) : BY_REAL;
    if (r == BY_REAL)
        return REAL(writev)(fd, iov, n);
    if (r == BY_GREEN)
        return green_writev(fd, iov, n);
    return green__hook_writev(fd, iov, n, r == BY_PIPE);
}

HOOK ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    return greened_socket(fd) ? green_recv(fd, buf, n, flags) : REAL(recv)(fd, buf, n, flags);
}

HOOK ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    return greened_socket(fd) ? green_send(fd, buf, n, flags) : REAL(send)(fd, buf, n, flags);
}

HOOK ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                      socklen_t *len)
{
    return greened_socket(fd) ? green_recvfrom(fd, buf, n, flags, addr, len)
                              : REAL(recvfrom)(fd, buf, n, flags, addr, len);
}

HOOK ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                    socklen_t len)
{
    return greened_socket(fd) ? green_sendto(fd, buf, n, flags, addr, len)
                              : REAL(sendto)(fd, buf, n, flags, addr, len);
}

HOOK ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    return greened_socket(fd) ? green_recvmsg(fd, msg, flags) : REAL(recvmsg)(fd, msg, flags);
}

HOOK ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    return greened_socket(fd) ? green_sendmsg(fd, msg, flags) : REAL(sendmsg)(fd, msg, flags);
}

/* Connections.  A socket libgreen accepted or connected is non-blocking
 * underneath; the program sees what it asked for. */

static int accepted(int c, int flags)
{
    if (c < 0)
        return c;
    if ((flags & SOCK_CLOEXEC) && REAL(fcntl)(c, F_SETFD, FD_CLOEXEC) < 0) {
        int err = errno;
        green_close(c);
        errno = err;
        return -1;
    }
    set_entry(c, (flags & SOCK_NONBLOCK ? NONBLOCKING : BLOCKING) | SOCKET);
    return c;
}

HOOK int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (!greened_socket(fd)) {
        int c = REAL(accept4)(fd, addr, len, flags);
        if (c >= 0)
            set_entry(c, (flags & SOCK_NONBLOCK ? NONBLOCKING : BLOCKING) | SOCKET);
        return c;
    }
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
        errno = EINVAL;
        return -1;
    }
    return accepted(green_accept(fd, addr, len), flags);
}

HOOK int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept4(fd, addr, len, 0);
}

HOOK int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    return greened_socket(fd) ? green_connect(fd, addr, len) : REAL(connect)(fd, addr, len);
}

HOOK int socket(int family, int type, int protocol)
{
    int fd = REAL(socket)(family, type, protocol);
    if (fd >= 0)
        set_entry(fd, (type & SOCK_NONBLOCK ? NONBLOCKING : BLOCKING) | SOCKET);
    return fd;
}

/* A copy of fd (dup, dup2, dup3, F_DUPFD, F_DUPFD_CLOEXEC), copy or -1:
 * the same open file, so it takes fd's view, as it shares its flags (one
 * file: one flag). */
static int duplicated(int fd, int copy)
{
    if (copy >= 0) {
        (void)green__hook_view(fd);
        set_entry(copy, entry(fd));
    }
    return copy;
}

/* fcntl: O_NONBLOCK as the program set it; libgreen's own flag, where it
 * set one, stays underneath. */
HOOK int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);  /* an int or a pointer: passed on as it came */
    va_end(ap);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        return duplicated(fd, REAL(fcntl)(fd, cmd, arg));
    if (cmd != F_GETFL && cmd != F_SETFL)
        return REAL(fcntl)(fd, cmd, arg);
    int now = REAL(fcntl)(fd, F_GETFL);
    if (now < 0)
        return now;
    int v = green__hook_view(fd), under = entry(fd) & UNDER;
    if (v == BLOCKING && (now & O_NONBLOCK))
        under = UNDER;  /* libgreen's flag, not the program's */
    if (cmd == F_GETFL)
        return v == BLOCKING ? now & ~O_NONBLOCK : now;
    int flags = (int)(intptr_t)arg;
    int r = REAL(fcntl)(fd, F_SETFL, flags | (under ? O_NONBLOCK : 0));
    if (r == 0)
        set_entry(fd, (entry(fd) & ~(VIEW | UNDER)) | (flags & O_NONBLOCK ? NONBLOCKING : BLOCKING) |
                          under);
    return r;
}

/* Closing: libgreen hears of every close, so that no record of an fd
 * outlives it and a new fd with the same number starts clean. */

HOOK int close(int fd)
{
    set_entry(fd, UNKNOWN);
    return green__hook_in_green() ? green_close(fd) : REAL(close)(fd);
}

/* dup2 and dup3 close newfd first: libgreen forgets it (as it would on a
 * green_close). */

HOOK int dup(int fd)
{
    return duplicated(fd, REAL(dup)(fd));
}

HOOK int dup2(int oldfd, int newfd)
{
    if (green__hook_in_green() && oldfd != newfd)
        (void)green_fd_release(newfd);
    return duplicated(oldfd, REAL(dup2)(oldfd, newfd));
}

HOOK int dup3(int oldfd, int newfd, int flags)
{
    if (green__hook_in_green() && oldfd != newfd)
        (void)green_fd_release(newfd);
    return duplicated(oldfd, REAL(dup3)(oldfd, newfd, flags));
}
