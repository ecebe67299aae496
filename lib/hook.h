/*
 * libgreen-hook's shared parts (lib/hook.c, lib/hook_wait.c): the real
 * calls and the program's view of each fd.
 */
#ifndef GREEN_HOOK_H
#define GREEN_HOOK_H

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "green.h"

/* The interposed calls are the library's only exported names. */
#define HOOK __attribute__((visibility("default")))

/* The real calls: the next definitions after this library's. */
struct green__hook_real {
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
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*socket)(int, int, int);
    int (*fcntl)(int, int, ...);
    int (*close)(int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
    int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    int (*epoll_wait)(int, struct epoll_event *, int, int);
    int (*nanosleep)(const struct timespec *, struct timespec *);
    int (*clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);
    int (*usleep)(useconds_t);
    unsigned (*sleep)(unsigned);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    int (*getnameinfo)(const struct sockaddr *, socklen_t, char *, socklen_t, char *,
                       socklen_t, int);
    int (*gethostbyname_r)(const char *, struct hostent *, char *, size_t,
                           struct hostent **, int *);
    struct hostent *(*gethostbyname)(const char *);
};
extern struct green__hook_real green__hook_real;

/* Loads the real calls, once; the constructor does it, and a call made
 * before the constructor ran (from another library's) does it first. */
void green__hook_load(void);
#define REAL(name) (green__hook_real.name ? green__hook_real.name \
                    : (green__hook_load(), green__hook_real.name))

/* The program's view of fd's O_NONBLOCK (lib/hook.c). */
enum { GREEN__HOOK_UNKNOWN, GREEN__HOOK_BLOCKING, GREEN__HOOK_NONBLOCKING };
int green__hook_view(int fd);

/* What fd is, for its reads and writes (lib/hook.c), or -1 with errno: a
 * socket; a file that never waits for readiness (a regular file, a
 * directory, a block device); a pipe or FIFO; or anything else that waits
 * (a tty, an eventfd).  Whether a pipe is to be asked with RWF_NOWAIT: not
 * once it refused (green__hook_no_nowait). */
enum { GREEN__HOOK_SOCKET, GREEN__HOOK_FILE, GREEN__HOOK_PIPE, GREEN__HOOK_OTHER };
int green__hook_kind(int fd);
bool green__hook_nowait(int fd);
void green__hook_no_nowait(int fd);

/* readv and writev for a green thread on a pipe (pipe) or on anything
 * else that is neither a socket nor a file (lib/hook_pipe.c), setting no
 * O_NONBLOCK on it.  The write writes every byte, as green_write does. */
ssize_t green__hook_readv(int fd, const struct iovec *iov, int n, bool pipe);
ssize_t green__hook_writev(int fd, const struct iovec *iov, int n, bool pipe);

/* Whether a call is inside a green thread, and whether a call on fd is to
 * be the green one (inside a green thread, on an fd the program sees as
 * blocking).  green_self says EPERM outside green_run; the call that asked
 * is then the real one, which leaves errno alone when it succeeds, so the
 * question must leave it alone too. */
static inline bool green__hook_in_green(void)
{
    int err = errno;
    bool in = green_self() != NULL;
    errno = err;
    return in;
}

bool green__hook_greened(int fd);

#endif
