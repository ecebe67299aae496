/*
 * The C library's calls that libgreen and libgreen-hook do not simply
 * make, each written once, as one entry that says where the call goes:
 *
 *   X(reach, point, ret, name, (parameters), (arguments))
 *
 * reach  table: libgreen-hook interposes the call, so libgreen makes it
 *        through the routed-call table (struct green__sys, lib/sys.h),
 *        which points at the C library's own.
 *        hook: libgreen-hook interposes it, and libgreen never makes it.
 *        libc: nothing interposes it; libgreen makes it directly.
 * point  plain: in a test build libgreen's call goes through a fault point
 *        that fails it as the call fails, -1 with errno (lib/fault.c
 *        generates it).
 *        own: through a fault point written by hand in lib/fault.c,
 *        because the call fails another way or the point keeps books.
 *        none: no fault point.
 *
 * From the list come the table (lib/sys.[ch]), the hook's table of the
 * real calls, every call with reach table or hook (lib/hook/hook.[ch]),
 * and the fault points: their names and their declarations, and the
 * wrappers of the plain ones (lib/fault.[ch]).  What the preprocessor
 * cannot make stays written by hand: one macro per call that turns a
 * plain read(...) in lib/ into the table's or the point's (sys.h and
 * fault.h, which check at compile time that each listed call has its
 * line), and the wrappers of the points marked own.
 *
 * The special cases: fcntl is variadic, and its point passes on the one
 * int libgreen gives it; getaddrinfo fails with EAI_ codes, and its point
 * counts the lists it hands out; close has no point (it had none before
 * this list, and one would change what the fault sweep runs).  Points
 * that are no call of the C library (pidfd_open and process_madvise, made
 * through syscall(2), and the ring's) are named in fault.h alone.
 *
 * This file includes nothing, because libgreen-hook, which sees nothing of
 * libgreen but the public header, includes it too: whoever expands the
 * list declares the types its entries name.
 */
#ifndef GREEN_ROUTED_H
#define GREEN_ROUTED_H

/* For the generators: GREEN__IN_TABLE_##reach(...) keeps its arguments for
 * a call in the table, GREEN__IN_HOOK_##reach(...) for a call the hook
 * interposes, GREEN__IS_POINT_##point(...) for a call with a fault point,
 * and GREEN__IS_PLAIN_##point(...) for one whose point is generated. */
#define GREEN__IN_TABLE_table(...) __VA_ARGS__
#define GREEN__IN_TABLE_hook(...)
#define GREEN__IN_TABLE_libc(...)
#define GREEN__IN_HOOK_table(...) __VA_ARGS__
#define GREEN__IN_HOOK_hook(...) __VA_ARGS__
#define GREEN__IN_HOOK_libc(...)
#define GREEN__IS_POINT_plain(...) __VA_ARGS__
#define GREEN__IS_POINT_own(...) __VA_ARGS__
#define GREEN__IS_POINT_none(...)
#define GREEN__IS_PLAIN_plain(...) __VA_ARGS__
#define GREEN__IS_PLAIN_own(...)
#define GREEN__IS_PLAIN_none(...)

/* Whether a call is a macro where this is expanded: the macros that turn
 * plain calls into the table's or the points' are written by hand, so
 * sys.h and fault.h check with this that none of the list's is missing.
 * A call's spelling is as long as its name and arguments only when
 * nothing expanded it. */
#define GREEN__ROUTED_STR(...) #__VA_ARGS__
#define GREEN__ROUTED_SPELT(...) GREEN__ROUTED_STR(__VA_ARGS__)
#define GREEN__ROUTED_IS_MACRO(name, args) \
    (sizeof GREEN__ROUTED_SPELT(name args) != sizeof #name " " #args)

/* The calls only Linux has, and what the POSIX build (GREEN_POSIX_ONLY,
 * which has no libgreen-hook) makes in their place: accept and pipe, each
 * followed by fcntl.  accept is then libgreen's own call, through the
 * table, as a hook on another system would interpose it too. */
#ifndef GREEN_POSIX_ONLY
#define GREEN__ROUTED_OS_ACCEPT(X)                                                                 \
    X(table, plain, int, accept4, (int fd, struct sockaddr *addr, socklen_t *len, int flags),      \
      (fd, addr, len, flags))
#define GREEN__ROUTED_OS_EPOLL(X)                                                                  \
    X(table, plain, int, epoll_wait, (int epfd, struct epoll_event *ev, int n, int timeout),       \
      (epfd, ev, n, timeout))
#define GREEN__ROUTED_OS_HOOK(X) \
    X(hook, none, int, accept, (int fd, struct sockaddr *addr, socklen_t *len), (fd, addr, len))
#define GREEN__ROUTED_OS_LIBC(X)                                                                   \
    X(libc, plain, int, epoll_create1, (int flags), (flags))                                       \
    X(libc, plain, int, epoll_ctl, (int epfd, int op, int fd, struct epoll_event *ev),             \
      (epfd, op, fd, ev))                                                                          \
    X(libc, plain, int, eventfd, (unsigned int value, int flags), (value, flags))                  \
    X(libc, plain, int, pipe2, (int fds[2], int flags), (fds, flags))
#else
#define GREEN__ROUTED_OS_ACCEPT(X) \
    X(table, plain, int, accept, (int fd, struct sockaddr *addr, socklen_t *len), (fd, addr, len))
#define GREEN__ROUTED_OS_EPOLL(X)
#define GREEN__ROUTED_OS_HOOK(X)
#define GREEN__ROUTED_OS_LIBC(X) X(libc, plain, int, pipe, (int fds[2]), (fds))
#endif

#define GREEN__ROUTED(X)                                                                           \
    /* Interposed by the hook: libgreen makes them through the table. */                           \
    X(table, plain, ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))                    \
    X(table, plain, ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n))             \
    X(table, plain, ssize_t, readv, (int fd, const struct iovec *iov, int n), (fd, iov, n))        \
    X(table, plain, ssize_t, writev, (int fd, const struct iovec *iov, int n), (fd, iov, n))       \
    X(table, plain, ssize_t, recv, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags))  \
    X(table, plain, ssize_t, send, (int fd, const void *buf, size_t n, int flags),                 \
      (fd, buf, n, flags))                                                                         \
    X(table, plain, ssize_t, recvfrom,                                                             \
      (int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *len),             \
      (fd, buf, n, flags, addr, len))                                                              \
    X(table, plain, ssize_t, sendto,                                                               \
      (int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t len),  \
      (fd, buf, n, flags, addr, len))                                                              \
    X(table, plain, ssize_t, recvmsg, (int fd, struct msghdr *m, int flags), (fd, m, flags))       \
    X(table, plain, ssize_t, sendmsg, (int fd, const struct msghdr *m, int flags),                 \
      (fd, m, flags))                                                                              \
    GREEN__ROUTED_OS_ACCEPT(X)                                                                     \
    X(table, plain, int, connect, (int fd, const struct sockaddr *addr, socklen_t len),            \
      (fd, addr, len))                                                                             \
    X(table, plain, int, socket, (int family, int type, int protocol), (family, type, protocol))   \
    X(table, own, int, fcntl, (int fd, int cmd, ...), (fd, cmd, ...))                              \
    X(table, none, int, close, (int fd), (fd))                                                     \
    X(table, plain, int, poll, (struct pollfd *fds, nfds_t n, int timeout), (fds, n, timeout))     \
    GREEN__ROUTED_OS_EPOLL(X)                                                                      \
    X(table, own, int, getaddrinfo,                                                                \
      (const char *node, const char *service, const struct addrinfo *hints,                        \
       struct addrinfo **res),                                                                     \
      (node, service, hints, res))                                                                 \
    /* Interposed by the hook, and never made by libgreen. */                                      \
    GREEN__ROUTED_OS_HOOK(X)                                                                       \
    X(hook, none, int, dup, (int fd), (fd))                                                        \
    X(hook, none, int, dup2, (int fd, int to), (fd, to))                                           \
    X(hook, none, int, dup3, (int fd, int to, int flags), (fd, to, flags))                         \
    X(hook, none, int, ppoll,                                                                      \
      (struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask),             \
      (fds, n, ts, mask))                                                                          \
    X(hook, none, int, select,                                                                     \
      (int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv),                          \
      (nfds, rd, wr, ex, tv))                                                                      \
    X(hook, none, int, nanosleep, (const struct timespec *req, struct timespec *rem), (req, rem))  \
    X(hook, none, int, clock_nanosleep,                                                            \
      (clockid_t id, int flags, const struct timespec *req, struct timespec *rem),                 \
      (id, flags, req, rem))                                                                       \
    X(hook, none, int, usleep, (useconds_t us), (us))                                              \
    X(hook, none, unsigned, sleep, (unsigned s), (s))                                              \
    X(hook, none, int, getnameinfo,                                                                \
      (const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen, char *serv,      \
       socklen_t servlen, int flags),                                                              \
      (sa, salen, host, hostlen, serv, servlen, flags))                                            \
    X(hook, none, int, gethostbyname_r,                                                            \
      (const char *host, struct hostent *entry, char *buf, size_t n, struct hostent **result,      \
       int *herr),                                                                                 \
      (host, entry, buf, n, result, herr))                                                         \
    X(hook, none, struct hostent *, gethostbyname, (const char *host), (host))                     \
    /* Not interposed: libgreen makes them directly (in a test build, through                      \
     * their points). */                                                                           \
    X(libc, own, void *, malloc, (size_t n), (n))                                                  \
    X(libc, own, void *, calloc, (size_t n, size_t size), (n, size))                               \
    X(libc, own, void *, realloc, (void *p, size_t n), (p, n))                                     \
    X(libc, own, char *, strdup, (const char *s), (s))                                             \
    X(libc, own, void *, mmap, (void *addr, size_t n, int prot, int flags, int fd, off_t off),     \
      (addr, n, prot, flags, fd, off))                                                             \
    X(libc, own, int, munmap, (void *addr, size_t n), (addr, n))                                   \
    X(libc, plain, int, madvise, (void *addr, size_t n, int advice), (addr, n, advice))            \
    X(libc, plain, int, mprotect, (void *addr, size_t n, int prot), (addr, n, prot))               \
    GREEN__ROUTED_OS_LIBC(X)                                                                       \
    X(libc, plain, int, bind, (int fd, const struct sockaddr *addr, socklen_t len),                \
      (fd, addr, len))                                                                             \
    X(libc, plain, int, listen, (int fd, int backlog), (fd, backlog))                              \
    X(libc, plain, int, setsockopt, (int fd, int level, int opt, const void *v, socklen_t len),    \
      (fd, level, opt, v, len))                                                                    \
    X(libc, plain, int, getsockopt, (int fd, int level, int opt, void *v, socklen_t *len),         \
      (fd, level, opt, v, len))                                                                    \
    X(libc, plain, int, getsockname, (int fd, struct sockaddr *addr, socklen_t *len),              \
      (fd, addr, len))                                                                             \
    X(libc, own, int, pthread_create,                                                              \
      (pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg),                  \
      (t, attr, fn, arg))                                                                          \
    X(libc, plain, pid_t, waitpid, (pid_t pid, int *status, int options), (pid, status, options))  \
    X(libc, plain, int, sigaction,                                                                 \
      (int signo, const struct sigaction *sa, struct sigaction *old),                              \
      (signo, sa, old))                                                                            \
    X(libc, plain, int, sigaltstack, (const stack_t *ss, stack_t *old), (ss, old))

#endif
