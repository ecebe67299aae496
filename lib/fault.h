/*
 * Fault points: in a test build (make FAULTS=1, which defines
 * GREEN_FAULTS), every call libgreen makes that can fail is reached
 * through a fault point that a test can make fail on its n-th call, once
 * or from then on, with a chosen errno; or a single call site can be made
 * to fail.  The points also keep the books of the memory and mappings
 * libgreen holds.  The ordinary build has no points
 * at all: this header then defines nothing but the names of the points,
 * and green__fault_errno is the constant 0.
 *
 * Each .c file of lib/ that makes such calls includes this header last,
 * after every system header: in a test build it turns the calls of this
 * file into calls of the points (lib/fault.c), which then make the real
 * call unless they are to fail.  In every build it also brings lib/sys.h,
 * the table through which libgreen passes by libgreen-hook.
 */
#ifndef GREEN_FAULT_H
#define GREEN_FAULT_H

#include <stdbool.h>
#include <stddef.h>

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
    X(pthread_create) X(pidfd_open) X(process_madvise) X(waitpid) X(sigaction) X(sigaltstack) \
    X(io_uring_setup) X(io_uring_enter) X(io_uring_op)

enum green__fault_point {
#define GREEN__FAULT_ENUM(name) GREEN__FAULT_##name,
    GREEN__FAULT_POINTS(GREEN__FAULT_ENUM)
#undef GREEN__FAULT_ENUM
    GREEN__FAULT_NPOINTS
};

#ifdef GREEN_FAULTS

/* A call site: "lib/io.c:77", one string object per call in the source. */
#define GREEN__FAULT_STR2(x) #x
#define GREEN__FAULT_STR(x) GREEN__FAULT_STR2(x)
#define GREEN__FAULT_SITE (__FILE__ ":" GREEN__FAULT_STR(__LINE__))

/* For the tests: point p fails with err on its nth call (counting from 1
 * from now: the counts start again), and, when persistent, on every call
 * after it.  One point or site fails at a time; setting another replaces
 * it. */
void green__fault_set(enum green__fault_point p, unsigned long nth, bool persistent, int err);

/* The call at site (one green__fault_sites named) fails with err the next
 * time it is made, and, when persistent, every time after. */
void green__fault_set_site(const char *site, bool persistent, int err);

/* No point fails, and every count starts again from 0. */
void green__fault_clear(void);

/* The calls through p since the last green__fault_clear. */
unsigned long green__fault_calls(enum green__fault_point p);

/* The call's name ("malloc"). */
const char *green__fault_name(enum green__fault_point p);

/* The call sites made since the process began, up to max of them: their
 * names and points into the arrays; returns how many there are. */
size_t green__fault_sites(const char **sites, enum green__fault_point *points, size_t max);

/* The books: what libgreen holds now of what it allocated (blocks from
 * malloc, calloc, realloc and strdup, and getaddrinfo's lists) and the
 * bytes it has mapped, counting from the start of the process. */
struct green__fault_books {
    long blocks, addrinfos, mapped;
};
struct green__fault_books green__fault_books(void);

/* Counts a call through p at site: 0 to go ahead, or the errno it is to
 * fail with.  For calls that are not plain functions (pidfd_open and
 * process_madvise, made through syscall(2)). */
int green__fault_check(enum green__fault_point p, const char *site);
#define green__fault_errno(p) green__fault_check(p, GREEN__FAULT_SITE)

#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct epoll_event;

void *green__fault_malloc(const char *site, size_t n);
void *green__fault_calloc(const char *site, size_t n, size_t size);
void *green__fault_realloc(const char *site, void *p, size_t n);
char *green__fault_strdup(const char *site, const char *s);
void *green__fault_mmap(const char *site, void *addr, size_t n, int prot, int flags, int fd, off_t off);
int green__fault_munmap(const char *site, void *addr, size_t n);
int green__fault_madvise(const char *site, void *addr, size_t n, int advice);
int green__fault_mprotect(const char *site, void *addr, size_t n, int prot);
int green__fault_epoll_create1(const char *site, int flags);
int green__fault_epoll_ctl(const char *site, int epfd, int op, int fd, struct epoll_event *ev);
int green__fault_epoll_wait(const char *site, int epfd, struct epoll_event *ev, int n, int timeout);
int green__fault_poll(const char *site, struct pollfd *fds, nfds_t n, int timeout);
int green__fault_eventfd(const char *site, unsigned int value, int flags);
int green__fault_pipe2(const char *site, int fds[2], int flags);
int green__fault_fcntl(const char *site, int fd, int cmd, ...);
int green__fault_socket(const char *site, int family, int type, int protocol);
int green__fault_bind(const char *site, int fd, const struct sockaddr *addr, socklen_t len);
int green__fault_listen(const char *site, int fd, int backlog);
int green__fault_accept4(const char *site, int fd, struct sockaddr *addr, socklen_t *len, int flags);
int green__fault_connect(const char *site, int fd, const struct sockaddr *addr, socklen_t len);
int green__fault_setsockopt(const char *site, int fd, int level, int name, const void *v, socklen_t len);
int green__fault_getsockopt(const char *site, int fd, int level, int name, void *v, socklen_t *len);
int green__fault_getsockname(const char *site, int fd, struct sockaddr *addr, socklen_t *len);
int green__fault_getaddrinfo(const char *site, const char *node, const char *service,
                             const struct addrinfo *hints, struct addrinfo **res);
ssize_t green__fault_read(const char *site, int fd, void *buf, size_t n);
ssize_t green__fault_write(const char *site, int fd, const void *buf, size_t n);
ssize_t green__fault_readv(const char *site, int fd, const struct iovec *iov, int n);
ssize_t green__fault_writev(const char *site, int fd, const struct iovec *iov, int n);
ssize_t green__fault_recv(const char *site, int fd, void *buf, size_t n, int flags);
ssize_t green__fault_send(const char *site, int fd, const void *buf, size_t n, int flags);
ssize_t green__fault_recvfrom(const char *site, int fd, void *buf, size_t n, int flags,
                              struct sockaddr *addr, socklen_t *len);
ssize_t green__fault_sendto(const char *site, int fd, const void *buf, size_t n, int flags,
                            const struct sockaddr *addr, socklen_t len);
ssize_t green__fault_recvmsg(const char *site, int fd, struct msghdr *m, int flags);
ssize_t green__fault_sendmsg(const char *site, int fd, const struct msghdr *m, int flags);
int green__fault_pthread_create(const char *site, pthread_t *t, const pthread_attr_t *attr,
                                void *(*fn)(void *), void *arg);
pid_t green__fault_waitpid(const char *site, pid_t pid, int *status, int options);
int green__fault_sigaction(const char *site, int signo, const struct sigaction *sa, struct sigaction *old);
int green__fault_sigaltstack(const char *site, const stack_t *ss, stack_t *old);
/* Not points (they cannot fail), but kept in the books. */
void green__fault_free(void *p);
void green__fault_freeaddrinfo(struct addrinfo *ai);

/* The calls around the hook (lib/sys.h), after every system header; the
 * points below replace those that are points, and make the call through
 * the table themselves. */
#include "sys.h"

/* The calls, turned into their points everywhere but in fault.c. */
#ifndef GREEN_FAULT_IMPL
#undef read
#undef write
#undef readv
#undef writev
#undef recv
#undef send
#undef recvfrom
#undef sendto
#undef recvmsg
#undef sendmsg
#undef accept4
#undef connect
#undef socket
#undef fcntl
#undef poll
#undef epoll_wait
#undef getaddrinfo
#undef strdup
#define malloc(n) green__fault_malloc(GREEN__FAULT_SITE, n)
#define calloc(n, size) green__fault_calloc(GREEN__FAULT_SITE, n, size)
#define realloc(p, n) green__fault_realloc(GREEN__FAULT_SITE, p, n)
#define free(p) green__fault_free(p)
#define freeaddrinfo(ai) green__fault_freeaddrinfo(ai)
#define strdup(s) green__fault_strdup(GREEN__FAULT_SITE, s)
#define mmap(a, n, prot, flags, fd, off) green__fault_mmap(GREEN__FAULT_SITE, a, n, prot, flags, fd, off)
#define munmap(a, n) green__fault_munmap(GREEN__FAULT_SITE, a, n)
#define madvise(a, n, advice) green__fault_madvise(GREEN__FAULT_SITE, a, n, advice)
#define mprotect(a, n, prot) green__fault_mprotect(GREEN__FAULT_SITE, a, n, prot)
#define epoll_create1(flags) green__fault_epoll_create1(GREEN__FAULT_SITE, flags)
#define epoll_ctl(epfd, op, fd, ev) green__fault_epoll_ctl(GREEN__FAULT_SITE, epfd, op, fd, ev)
#define epoll_wait(epfd, ev, n, t) green__fault_epoll_wait(GREEN__FAULT_SITE, epfd, ev, n, t)
#define poll(fds, n, t) green__fault_poll(GREEN__FAULT_SITE, fds, n, t)
#define eventfd(v, flags) green__fault_eventfd(GREEN__FAULT_SITE, v, flags)
#define pipe2(fds, flags) green__fault_pipe2(GREEN__FAULT_SITE, fds, flags)
#define fcntl(...) green__fault_fcntl(GREEN__FAULT_SITE, __VA_ARGS__)
#define socket(f, t, p) green__fault_socket(GREEN__FAULT_SITE, f, t, p)
#define bind(fd, a, l) green__fault_bind(GREEN__FAULT_SITE, fd, a, l)
#define listen(fd, b) green__fault_listen(GREEN__FAULT_SITE, fd, b)
#define accept4(fd, a, l, f) green__fault_accept4(GREEN__FAULT_SITE, fd, a, l, f)
#define connect(fd, a, l) green__fault_connect(GREEN__FAULT_SITE, fd, a, l)
#define setsockopt(fd, lv, nm, v, l) green__fault_setsockopt(GREEN__FAULT_SITE, fd, lv, nm, v, l)
#define getsockopt(fd, lv, nm, v, l) green__fault_getsockopt(GREEN__FAULT_SITE, fd, lv, nm, v, l)
#define getsockname(fd, a, l) green__fault_getsockname(GREEN__FAULT_SITE, fd, a, l)
#define getaddrinfo(n, s, h, r) green__fault_getaddrinfo(GREEN__FAULT_SITE, n, s, h, r)
#define read(fd, b, n) green__fault_read(GREEN__FAULT_SITE, fd, b, n)
#define write(fd, b, n) green__fault_write(GREEN__FAULT_SITE, fd, b, n)
#define readv(fd, v, n) green__fault_readv(GREEN__FAULT_SITE, fd, v, n)
#define writev(fd, v, n) green__fault_writev(GREEN__FAULT_SITE, fd, v, n)
#define recv(fd, b, n, f) green__fault_recv(GREEN__FAULT_SITE, fd, b, n, f)
#define send(fd, b, n, f) green__fault_send(GREEN__FAULT_SITE, fd, b, n, f)
#define recvfrom(fd, b, n, f, a, l) green__fault_recvfrom(GREEN__FAULT_SITE, fd, b, n, f, a, l)
#define sendto(fd, b, n, f, a, l) green__fault_sendto(GREEN__FAULT_SITE, fd, b, n, f, a, l)
#define recvmsg(fd, m, f) green__fault_recvmsg(GREEN__FAULT_SITE, fd, m, f)
#define sendmsg(fd, m, f) green__fault_sendmsg(GREEN__FAULT_SITE, fd, m, f)
#define pthread_create(t, a, fn, arg) green__fault_pthread_create(GREEN__FAULT_SITE, t, a, fn, arg)
#define waitpid(p, s, o) green__fault_waitpid(GREEN__FAULT_SITE, p, s, o)
#define sigaction(s, sa, old) green__fault_sigaction(GREEN__FAULT_SITE, s, sa, old)
#define sigaltstack(ss, old) green__fault_sigaltstack(GREEN__FAULT_SITE, ss, old)
#endif /* GREEN_FAULT_IMPL */

#else

static inline int green__fault_errno(enum green__fault_point p)
{
    (void)p;
    return 0;
}

/* The calls around the hook. */
#include "sys.h"

#endif /* GREEN_FAULTS */

#endif
