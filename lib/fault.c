/*
 * Fault points, for the test build only (make FAULTS=1; see fault.h).
 *
 * Each point counts its calls and, when it is the point set to fail and
 * its count has come to the chosen call, sets errno and fails the way its
 * call fails; otherwise it makes the real call.  Counts are atomic: the
 * offload workers and the signal handler pass through points too.
 */
#define GREEN_FAULT_IMPL
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const names[] = {
#define GREEN__FAULT_NAME(name) #name,
    GREEN__FAULT_POINTS(GREEN__FAULT_NAME)
#undef GREEN__FAULT_NAME
};

static atomic_ulong calls[GREEN__FAULT_NPOINTS];

/* The one point set to fail; point -1 for none. */
static struct {
    atomic_int point;
    unsigned long nth;
    bool persistent;
    int err;
} armed = {-1, 0, false, 0};

void green__fault_set(enum green__fault_point p, unsigned long nth, bool persistent, int err)
{
    atomic_store(&armed.point, -1);
    armed.nth = nth;
    armed.persistent = persistent;
    armed.err = err;
    atomic_store(&armed.point, (int)p);
}

void green__fault_clear(void)
{
    atomic_store(&armed.point, -1);
    for (int p = 0; p < GREEN__FAULT_NPOINTS; p++)
        atomic_store(&calls[p], 0);
}

unsigned long green__fault_calls(enum green__fault_point p)
{
    return atomic_load(&calls[p]);
}

const char *green__fault_name(enum green__fault_point p)
{
    return names[p];
}

int green__fault_errno(enum green__fault_point p)
{
    unsigned long n = atomic_fetch_add(&calls[p], 1) + 1;
    if (atomic_load(&armed.point) != (int)p)
        return 0;
    if (n == armed.nth || (armed.persistent && n > armed.nth))
        return armed.err;
    return 0;
}

/* Whether this call through p fails; if so errno says why. */
static bool fails(enum green__fault_point p)
{
    int err = green__fault_errno(p);
    if (err)
        errno = err;
    return err != 0;
}

#define POINT(p, failure) \
    if (fails(GREEN__FAULT_##p)) \
        return failure

void *green__fault_malloc(size_t n)
{
    POINT(malloc, NULL);
    return malloc(n);
}

void *green__fault_calloc(size_t n, size_t size)
{
    POINT(calloc, NULL);
    return calloc(n, size);
}

void *green__fault_realloc(void *p, size_t n)
{
    POINT(realloc, NULL);
    return realloc(p, n);
}

char *green__fault_strdup(const char *s)
{
    POINT(strdup, NULL);
    return strdup(s);
}

void *green__fault_mmap(void *addr, size_t n, int prot, int flags, int fd, off_t off)
{
    POINT(mmap, MAP_FAILED);
    return mmap(addr, n, prot, flags, fd, off);
}

int green__fault_munmap(void *addr, size_t n)
{
    POINT(munmap, -1);
    return munmap(addr, n);
}

int green__fault_madvise(void *addr, size_t n, int advice)
{
    POINT(madvise, -1);
    return madvise(addr, n, advice);
}

int green__fault_mprotect(void *addr, size_t n, int prot)
{
    POINT(mprotect, -1);
    return mprotect(addr, n, prot);
}

int green__fault_epoll_create1(int flags)
{
    POINT(epoll_create1, -1);
    return epoll_create1(flags);
}

int green__fault_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    POINT(epoll_ctl, -1);
    return epoll_ctl(epfd, op, fd, ev);
}

int green__fault_epoll_wait(int epfd, struct epoll_event *ev, int n, int timeout)
{
    POINT(epoll_wait, -1);
    return epoll_wait(epfd, ev, n, timeout);
}

int green__fault_poll(struct pollfd *fds, nfds_t n, int timeout)
{
    POINT(poll, -1);
    return poll(fds, n, timeout);
}

int green__fault_eventfd(unsigned int value, int flags)
{
    POINT(eventfd, -1);
    return eventfd(value, flags);
}

int green__fault_pipe2(int fds[2], int flags)
{
    POINT(pipe2, -1);
    return pipe2(fds, flags);
}

/* libgreen passes fcntl an int, or nothing with the commands that get. */
int green__fault_fcntl(int fd, int cmd, ...)
{
    POINT(fcntl, -1);
    if (cmd == F_GETFL || cmd == F_GETFD)
        return fcntl(fd, cmd);
    va_list ap;
    va_start(ap, cmd);
    int arg = va_arg(ap, int);
    va_end(ap);
    return fcntl(fd, cmd, arg);
}

int green__fault_socket(int family, int type, int protocol)
{
    POINT(socket, -1);
    return socket(family, type, protocol);
}

int green__fault_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    POINT(bind, -1);
    return bind(fd, addr, len);
}

int green__fault_listen(int fd, int backlog)
{
    POINT(listen, -1);
    return listen(fd, backlog);
}

int green__fault_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    POINT(accept4, -1);
    return accept4(fd, addr, len, flags);
}

int green__fault_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    POINT(connect, -1);
    return connect(fd, addr, len);
}

int green__fault_setsockopt(int fd, int level, int name, const void *v, socklen_t len)
{
    POINT(setsockopt, -1);
    return setsockopt(fd, level, name, v, len);
}

int green__fault_getsockopt(int fd, int level, int name, void *v, socklen_t *len)
{
    POINT(getsockopt, -1);
    return getsockopt(fd, level, name, v, len);
}

int green__fault_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    POINT(getsockname, -1);
    return getsockname(fd, addr, len);
}

/* The resolver fails as it does when a system call under it fails. */
int green__fault_getaddrinfo(const char *node, const char *service,
                             const struct addrinfo *hints, struct addrinfo **res)
{
    POINT(getaddrinfo, EAI_SYSTEM);
    return getaddrinfo(node, service, hints, res);
}

ssize_t green__fault_read(int fd, void *buf, size_t n)
{
    POINT(read, -1);
    return read(fd, buf, n);
}

ssize_t green__fault_write(int fd, const void *buf, size_t n)
{
    POINT(write, -1);
    return write(fd, buf, n);
}

ssize_t green__fault_readv(int fd, const struct iovec *iov, int n)
{
    POINT(readv, -1);
    return readv(fd, iov, n);
}

ssize_t green__fault_writev(int fd, const struct iovec *iov, int n)
{
    POINT(writev, -1);
    return writev(fd, iov, n);
}

ssize_t green__fault_recv(int fd, void *buf, size_t n, int flags)
{
    POINT(recv, -1);
    return recv(fd, buf, n, flags);
}

ssize_t green__fault_send(int fd, const void *buf, size_t n, int flags)
{
    POINT(send, -1);
    return send(fd, buf, n, flags);
}

ssize_t green__fault_recvfrom(int fd, void *buf, size_t n, int flags,
                              struct sockaddr *addr, socklen_t *len)
{
    POINT(recvfrom, -1);
    return recvfrom(fd, buf, n, flags, addr, len);
}

ssize_t green__fault_sendto(int fd, const void *buf, size_t n, int flags,
                            const struct sockaddr *addr, socklen_t len)
{
    POINT(sendto, -1);
    return sendto(fd, buf, n, flags, addr, len);
}

ssize_t green__fault_recvmsg(int fd, struct msghdr *m, int flags)
{
    POINT(recvmsg, -1);
    return recvmsg(fd, m, flags);
}

ssize_t green__fault_sendmsg(int fd, const struct msghdr *m, int flags)
{
    POINT(sendmsg, -1);
    return sendmsg(fd, m, flags);
}

/* pthread_create returns its error instead of setting errno. */
int green__fault_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                                void *(*fn)(void *), void *arg)
{
    int err = green__fault_errno(GREEN__FAULT_pthread_create);
    if (err)
        return err;
    return pthread_create(t, attr, fn, arg);
}

pid_t green__fault_waitpid(pid_t pid, int *status, int options)
{
    POINT(waitpid, -1);
    return waitpid(pid, status, options);
}

int green__fault_sigaction(int signo, const struct sigaction *sa, struct sigaction *old)
{
    POINT(sigaction, -1);
    return sigaction(signo, sa, old);
}

int green__fault_sigaltstack(const stack_t *ss, stack_t *old)
{
    POINT(sigaltstack, -1);
    return sigaltstack(ss, old);
}
