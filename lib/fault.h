/*
 * Fault points: in a test build (make FAULTS=1, which defines
 * GREEN_FAULTS), every call libgreen makes that can fail is reached
 * through a fault point that a test can make fail on its n-th call, once
 * or from then on, with a chosen errno.  The ordinary build has no points
 * at all: this header then defines nothing but the names of the points,
 * and green__fault_errno is the constant 0.
 *
 * Each .c file of lib/ that makes such calls includes this header last,
 * after every system header: in a test build it turns the calls of this
 * file into calls of the points (lib/fault.c), which then make the real
 * call unless they are to fail.
 */
#ifndef GREEN_FAULT_H
#define GREEN_FAULT_H

#include <stdbool.h>

/* Every point, named for the call it stands for. */
#define GREEN__FAULT_POINTS(X)                                                   \
    X(malloc) X(calloc) X(realloc) X(strdup)                                     \
    X(mmap) X(munmap) X(madvise) X(mprotect)                                     \
    X(epoll_create1) X(epoll_ctl) X(epoll_wait) X(poll)                          \
    X(eventfd) X(pipe2) X(fcntl)                                                 \
    X(socket) X(bind) X(listen) X(accept4) X(connect)                            \
    X(setsockopt) X(getsockopt) X(getsockname) X(getaddrinfo)                    \
    X(read) X(write) X(readv) X(writev)                                          \
    X(recv) X(send) X(recvfrom) X(sendto) X(recvmsg) X(sendmsg)                  \
    X(pthread_create) X(pidfd_open) X(waitpid) X(sigaction) X(sigaltstack)

enum green__fault_point {
#define GREEN__FAULT_ENUM(name) GREEN__FAULT_##name,
    GREEN__FAULT_POINTS(GREEN__FAULT_ENUM)
#undef GREEN__FAULT_ENUM
    GREEN__FAULT_NPOINTS
};

#ifdef GREEN_FAULTS

/* For the tests: point p fails with err on its nth call (counting from 1
 * since the last green__fault_clear), and, when persistent, on every call
 * after it.  One point fails at a time; setting another replaces it. */
void green__fault_set(enum green__fault_point p, unsigned long nth, bool persistent, int err);

/* No point fails, and every count starts again from 0. */
void green__fault_clear(void);

/* The calls through p since the last green__fault_clear. */
unsigned long green__fault_calls(enum green__fault_point p);

/* The call's name ("malloc"). */
const char *green__fault_name(enum green__fault_point p);

/* Counts a call through p: 0 to go ahead, or the errno it is to fail with.
 * For calls that are not plain functions (pidfd_open, made through
 * syscall(2)). */
int green__fault_errno(enum green__fault_point p);

#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct epoll_event;

void *green__fault_malloc(size_t n);
void *green__fault_calloc(size_t n, size_t size);
void *green__fault_realloc(void *p, size_t n);
char *green__fault_strdup(const char *s);
void *green__fault_mmap(void *addr, size_t n, int prot, int flags, int fd, off_t off);
int green__fault_munmap(void *addr, size_t n);
int green__fault_madvise(void *addr, size_t n, int advice);
int green__fault_mprotect(void *addr, size_t n, int prot);
int green__fault_epoll_create1(int flags);
int green__fault_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int green__fault_epoll_wait(int epfd, struct epoll_event *ev, int n, int timeout);
int green__fault_poll(struct pollfd *fds, nfds_t n, int timeout);
int green__fault_eventfd(unsigned int value, int flags);
int green__fault_pipe2(int fds[2], int flags);
int green__fault_fcntl(int fd, int cmd, ...);
int green__fault_socket(int family, int type, int protocol);
int green__fault_bind(int fd, const struct sockaddr *addr, socklen_t len);
int green__fault_listen(int fd, int backlog);
int green__fault_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int green__fault_connect(int fd, const struct sockaddr *addr, socklen_t len);
int green__fault_setsockopt(int fd, int level, int name, const void *v, socklen_t len);
int green__fault_getsockopt(int fd, int level, int name, void *v, socklen_t *len);
int green__fault_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int green__fault_getaddrinfo(const char *node, const char *service,
                             const struct addrinfo *hints, struct addrinfo **res);
ssize_t green__fault_read(int fd, void *buf, size_t n);
ssize_t green__fault_write(int fd, const void *buf, size_t n);
ssize_t green__fault_readv(int fd, const struct iovec *iov, int n);
ssize_t green__fault_writev(int fd, const struct iovec *iov, int n);
ssize_t green__fault_recv(int fd, void *buf, size_t n, int flags);
ssize_t green__fault_send(int fd, const void *buf, size_t n, int flags);
ssize_t green__fault_recvfrom(int fd, void *buf, size_t n, int flags,
                              struct sockaddr *addr, socklen_t *len);
ssize_t green__fault_sendto(int fd, const void *buf, size_t n, int flags,
                            const struct sockaddr *addr, socklen_t len);
ssize_t green__fault_recvmsg(int fd, struct msghdr *m, int flags);
ssize_t green__fault_sendmsg(int fd, const struct msghdr *m, int flags);
int green__fault_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                                void *(*fn)(void *), void *arg);
pid_t green__fault_waitpid(pid_t pid, int *status, int options);
int green__fault_sigaction(int signo, const struct sigaction *sa, struct sigaction *old);
int green__fault_sigaltstack(const stack_t *ss, stack_t *old);

/* The calls, turned into their points everywhere but in fault.c. */
#ifndef GREEN_FAULT_IMPL
#undef strdup
#define malloc(n) green__fault_malloc(n)
#define calloc(n, size) green__fault_calloc(n, size)
#define realloc(p, n) green__fault_realloc(p, n)
#define strdup(s) green__fault_strdup(s)
#define mmap(a, n, prot, flags, fd, off) green__fault_mmap(a, n, prot, flags, fd, off)
#define munmap(a, n) green__fault_munmap(a, n)
#define madvise(a, n, advice) green__fault_madvise(a, n, advice)
#define mprotect(a, n, prot) green__fault_mprotect(a, n, prot)
#define epoll_create1(flags) green__fault_epoll_create1(flags)
#define epoll_ctl(epfd, op, fd, ev) green__fault_epoll_ctl(epfd, op, fd, ev)
#define epoll_wait(epfd, ev, n, t) green__fault_epoll_wait(epfd, ev, n, t)
#define poll(fds, n, t) green__fault_poll(fds, n, t)
#define eventfd(v, flags) green__fault_eventfd(v, flags)
#define pipe2(fds, flags) green__fault_pipe2(fds, flags)
#define fcntl(...) green__fault_fcntl(__VA_ARGS__)
#define socket(f, t, p) green__fault_socket(f, t, p)
#define bind(fd, a, l) green__fault_bind(fd, a, l)
#define listen(fd, b) green__fault_listen(fd, b)
#define accept4(fd, a, l, f) green__fault_accept4(fd, a, l, f)
#define connect(fd, a, l) green__fault_connect(fd, a, l)
#define setsockopt(fd, lv, nm, v, l) green__fault_setsockopt(fd, lv, nm, v, l)
#define getsockopt(fd, lv, nm, v, l) green__fault_getsockopt(fd, lv, nm, v, l)
#define getsockname(fd, a, l) green__fault_getsockname(fd, a, l)
#define getaddrinfo(n, s, h, r) green__fault_getaddrinfo(n, s, h, r)
#define read(fd, b, n) green__fault_read(fd, b, n)
#define write(fd, b, n) green__fault_write(fd, b, n)
#define readv(fd, v, n) green__fault_readv(fd, v, n)
#define writev(fd, v, n) green__fault_writev(fd, v, n)
#define recv(fd, b, n, f) green__fault_recv(fd, b, n, f)
#define send(fd, b, n, f) green__fault_send(fd, b, n, f)
#define recvfrom(fd, b, n, f, a, l) green__fault_recvfrom(fd, b, n, f, a, l)
#define sendto(fd, b, n, f, a, l) green__fault_sendto(fd, b, n, f, a, l)
#define recvmsg(fd, m, f) green__fault_recvmsg(fd, m, f)
#define sendmsg(fd, m, f) green__fault_sendmsg(fd, m, f)
#define pthread_create(t, a, fn, arg) green__fault_pthread_create(t, a, fn, arg)
#define waitpid(p, s, o) green__fault_waitpid(p, s, o)
#define sigaction(s, sa, old) green__fault_sigaction(s, sa, old)
#define sigaltstack(ss, old) green__fault_sigaltstack(ss, old)
#endif /* GREEN_FAULT_IMPL */

#else

static inline int green__fault_errno(enum green__fault_point p)
{
    (void)p;
    return 0;
}

#endif /* GREEN_FAULTS */

#endif
