/*
 * The C library's calls that libgreen-hook (lib/hook.c) interposes,
 * reached around it.  A program that links the hook, or preloads it, gets
 * the hook's read, poll, close and the rest for its own calls; libgreen's
 * calls must reach the C library itself, or a green_read would park on
 * its own system call.  So libgreen makes those calls through this table,
 * which points at the C library's definitions (lib/sys.c).
 *
 * Each .c file of lib/ that makes such calls includes this header last,
 * through fault.h; the macros below then turn read(...) into
 * green__sys.read(...).  In a test build fault.h's points come first, and
 * the points make the call through the table.
 */
#ifndef GREEN_SYS_H
#define GREEN_SYS_H

#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct epoll_event;

struct green__sys {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*socket)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*close)(int);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*epoll_wait)(int, struct epoll_event *, int, int);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);
};

extern struct green__sys green__sys;

/* Points every entry whose definition is in a shared object named
 * prefix... at the C library's own instead; the count it changed.  Run
 * for "libgreen-hook" when libgreen is loaded (a test runs it for the C
 * library itself, which changes nothing). */
size_t green__sys_pass_by(const char *prefix);

#ifndef GREEN_SYS_IMPL
#define read(fd, b, n) green__sys.read(fd, b, n)
#define write(fd, b, n) green__sys.write(fd, b, n)
#define readv(fd, v, n) green__sys.readv(fd, v, n)
#define writev(fd, v, n) green__sys.writev(fd, v, n)
#define recv(fd, b, n, f) green__sys.recv(fd, b, n, f)
#define send(fd, b, n, f) green__sys.send(fd, b, n, f)
#define recvfrom(fd, b, n, f, a, l) green__sys.recvfrom(fd, b, n, f, a, l)
#define sendto(fd, b, n, f, a, l) green__sys.sendto(fd, b, n, f, a, l)
#define recvmsg(fd, m, f) green__sys.recvmsg(fd, m, f)
#define sendmsg(fd, m, f) green__sys.sendmsg(fd, m, f)
#define accept4(fd, a, l, f) green__sys.accept4(fd, a, l, f)
#define connect(fd, a, l) green__sys.connect(fd, a, l)
#define socket(f, t, p) green__sys.socket(f, t, p)
#define fcntl(...) green__sys.fcntl(__VA_ARGS__)
#define close(fd) green__sys.close(fd)
#define poll(fds, n, t) green__sys.poll(fds, n, t)
#define epoll_wait(epfd, ev, n, t) green__sys.epoll_wait(epfd, ev, n, t)
#define getaddrinfo(n, s, h, r) green__sys.getaddrinfo(n, s, h, r)
#endif

#endif
