/*
 * Connecting and listening by name: what every network program would
 * otherwise write itself around getaddrinfo, socket, connect and bind.
 *
 * Names are resolved on the offload pool, since getaddrinfo blocks; a
 * numeric address and port are resolved in place.  Sockets come back
 * close-on-exec and, inside green_run, non-blocking and known to the
 * poller as owned; outside, blocking, as a plain program expects.
 *
 * This file's socket and getaddrinfo go through the routed-call table,
 * around libgreen-hook (routed.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "file.h"
#include "net.h"
#include "offload.h"
#include "fd_flags.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* The resolver's own code for the last failure, as errno is for the
 * rest: the green thread's, or the OS thread's outside green_run. */
static __thread int gai_outside;

static int *gai_last(void)
{
    return green__cur ? &green__cur->current->gai_error : &gai_outside;
}

int green_gai_error(void)
{
    return *gai_last();
}

/* The resolver's ways of saying "no such name"; EAI_NODATA and
 * EAI_ADDRFAMILY are extensions a libc may lack. */
static const int no_such_name[] = {
    EAI_NONAME,
#ifdef EAI_NODATA
    EAI_NODATA,
#endif
#ifdef EAI_ADDRFAMILY
    EAI_ADDRFAMILY,
#endif
};

static int gai_errno(int rc, int sys_errno)
{
    for (size_t i = 0; i < sizeof no_such_name / sizeof no_such_name[0]; i++)
        if (rc == no_such_name[i])
            return ENXIO;
    switch (rc) {
    case EAI_AGAIN:
        return EAGAIN;
    case EAI_MEMORY:
        return ENOMEM;
    case EAI_SYSTEM:
        return sys_errno ? sys_errno : EIO;
    case EAI_BADFLAGS:
    case EAI_FAMILY:
    case EAI_SOCKTYPE:
    case EAI_SERVICE:
        return EINVAL;
    default:  /* EAI_FAIL and whatever else: the resolver failed for good */
        return EIO;
    }
}

/* A lookup handed to a worker.  It owns copies of its strings, so that it
 * outlives a caller whose wait ended early; then drop frees it. */
struct lookup {
    char *node, *service;
    struct addrinfo hints;
    struct addrinfo *res;
    int rc, sys_errno;
};

static void *lookup_run(void *arg)
{
    struct lookup *l = arg;
    l->rc = getaddrinfo(l->node, l->service, &l->hints, &l->res);
    l->sys_errno = errno;
    return NULL;
}

static void lookup_free(void *arg)
{
    struct lookup *l = arg;
    if (l->res)
        freeaddrinfo(l->res);
    free(l->node);
    free(l->service);
    free(l);
}

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    *failed |= !d;
    return d;
}

/* 0 or -errno. */
static int lookup_offloaded(const char *node, const char *service,
                            const struct addrinfo *hints, struct addrinfo **res)
{
    struct lookup *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    bool failed = false;
    l->node = dup_or_null(node, &failed);
    l->service = dup_or_null(service, &failed);
    if (hints)
        l->hints = *hints;
    if (failed) {
        lookup_free(l);
        return -ENOMEM;
    }
    int err = green__offload(lookup_run, l, NULL, lookup_free);
    if (err < 0)
        return err;  /* the pool frees it, now or when the worker is done */
    int rc = l->rc;
    if (rc == 0) {
        *res = l->res;
        l->res = NULL;
    } else {
        *gai_last() = rc;
        err = -gai_errno(rc, l->sys_errno);
    }
    lookup_free(l);
    return err;
}

/* 0 or -errno. */
static int lookup(const char *node, const char *service,
                  const struct addrinfo *hints, struct addrinfo **res)
{
    *gai_last() = 0;
    if ((!node && !service) || !res)
        return -EINVAL;
    if (green__cur && green__cancel_due(green__cur->current))
        return green__cancelled(green__cur);  /* even for a number: see api.md */
    *res = NULL;
    int rc;
    if (!green__cur) {
        rc = getaddrinfo(node, service, hints, res);  /* blocking is fine here */
    } else {
        /* Numbers need no resolver: look them up here, without a worker;
         * anything else is a name. */
        struct addrinfo numeric = hints ? *hints : (struct addrinfo){.ai_family = AF_UNSPEC};
        numeric.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
        rc = getaddrinfo(node, service, &numeric, res);
        if (rc == EAI_NONAME)
            return lookup_offloaded(node, service, hints, res);
    }
    if (rc == 0)
        return 0;
    *gai_last() = rc;
    return -gai_errno(rc, errno);
}

int green_getaddrinfo(const char *node, const char *service,
                      const struct addrinfo *hints, struct addrinfo **res)
{
    int err = lookup(node, service, hints, res);
    return err < 0 ? green__fail(-err) : 0;
}

static int fd_result(int r)
{
    return r < 0 ? green__fail(-r) : r;
}

/* A socket, close-on-exec, and non-blocking if nonblocking; the fd or -1
 * with errno.  Linux sets both in the call; POSIX (before 2024) with
 * fcntl after it, so an exec by another OS thread in between may inherit
 * the socket. */
#ifndef GREEN_POSIX_ONLY
static int socket_flagged(int family, int type, int protocol, bool nonblocking)
{
    return socket(family, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), protocol);
}
#else
static int socket_flagged(int family, int type, int protocol, bool nonblocking)
{
    return green__fd_flag(socket(family, type, protocol), FD_CLOEXEC,
                          nonblocking ? O_NONBLOCK : 0);
}
#endif

/* A socket, close-on-exec; inside green_run non-blocking and known to
 * the poller as owned.  The fd or -errno. */
static int open_socket(int family, int type, int protocol)
{
    struct green__sched *s = green__cur;
    int fd = socket_flagged(family, type, protocol, s != NULL);
    if (fd < 0)
        return -errno;
    bool tcp = (family == AF_INET || family == AF_INET6) && type == SOCK_STREAM &&
               (protocol == 0 || protocol == IPPROTO_TCP);
    if (s)
        green__file_fresh(&s->poller, fd, tcp);
    return fd;
}

/* Whether a failed attempt must stop the whole call: the caller's
 * deadline has passed or it was cancelled. */
static bool give_up(void)
{
    struct green__sched *s = green__cur;
    if (!s)
        return false;
    green_t *self = s->current;
    return green__cancel_due(self) || (self->deadline >= 0 && green_now() >= self->deadline);
}

int green__connect_to(const struct addrinfo *ai)
{
    int fd = open_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0 || green_connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    int err = -errno;
    green_close(fd);
    return err;
}

/* Tries each address in turn; the first error that stops it, or the last
 * address's error, is the call's.  Several addresses of a TCP name race
 * each other inside green_run (lib/race.c).  The fd or -errno. */
static int connect_any(const char *host, const char *port, int type)
{
    if (!host || !port)
        return -EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = type}, *res;
    int fd = lookup(host, port, &hints, &res);
    if (fd < 0)
        return fd;
    if (type == SOCK_STREAM && green__cur && res->ai_next) {
        fd = green__connect_race(res);
    } else {
        fd = -EADDRNOTAVAIL;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
            if ((fd = green__connect_to(ai)) >= 0 || give_up())
                break;
    }
    freeaddrinfo(res);
    return fd;
}

int green_tcp_connect(const char *host, const char *port)
{
    return fd_result(connect_any(host, port, SOCK_STREAM));
}

int green_udp_connect(const char *host, const char *port)
{
    return fd_result(connect_any(host, port, SOCK_DGRAM));
}

/* Binds, and for a stream socket listens, on one address: 0 or -errno. */
static int bind_to(int fd, const struct addrinfo *ai, int backlog, int flags)
{
    int one = 1;
    bool stream = ai->ai_socktype == SOCK_STREAM;
    if ((stream && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) ||
        ((flags & GREEN_REUSEPORT) &&
         setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
        (stream && listen(fd, backlog ? backlog : SOMAXCONN) < 0))
        return -errno;
    return 0;
}

static int bind_any(const char *host, const char *port, int type, int backlog, int flags)
{
    if (!port || (flags & ~GREEN_REUSEPORT) || backlog < 0)
        return -EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = type,
                             .ai_flags = AI_PASSIVE}, *res;
    int fd = lookup(host, port, &hints, &res);
    if (fd < 0)
        return fd;
    fd = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = open_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        int err = bind_to(fd, ai, backlog, flags);
        if (err == 0)
            break;
        green_close(fd);
        fd = err;
    }
    freeaddrinfo(res);
    return fd;
}

int green_tcp_listen_flags(const char *host, const char *port, int backlog, int flags)
{
    return fd_result(bind_any(host, port, SOCK_STREAM, backlog, flags));
}

int green_tcp_listen(const char *host, const char *port, int backlog)
{
    return fd_result(bind_any(host, port, SOCK_STREAM, backlog, 0));
}

int green_udp_bind(const char *host, const char *port, int flags)
{
    return fd_result(bind_any(host, port, SOCK_DGRAM, 0, flags));
}

int green_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return green__fail(EAFNOSUPPORT);
}

/* A graceful close: the peer is told that nothing more comes, what it
 * still sends is read and dropped until its own end of file (or the
 * deadline), and then the socket is closed, so that the peer's last
 * bytes cannot turn the close into a reset that loses what was sent. */
int green_tcp_close(int fd)
{
    if (fd < 0)
        return green__fail(EBADF);
    int err = 0;
    if (shutdown(fd, SHUT_WR) < 0) {
        err = errno;
        if (err == EBADF)
            return green__fail(EBADF);
    } else {
        char drop[512];
        ssize_t r;
        while ((r = green_read(fd, drop, sizeof drop)) > 0)
            continue;
        if (r < 0)
            err = errno;
    }
    green_close(fd);
    return err ? green__fail(err) : 0;
}

/* Unix-domain sockets. */

static int unix_address(const char *path, struct sockaddr_un *sun, socklen_t *len)
{
    if (!path || !*path)
        return -EINVAL;
    size_t n = strlen(path);
    if (n >= sizeof sun->sun_path)
        return -ENAMETOOLONG;
    *sun = (struct sockaddr_un){.sun_family = AF_UNIX};
    memcpy(sun->sun_path, path, n + 1);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

/* A Unix stream socket connected to path, or listening on it (backlog
 * >= 0): the fd or -errno. */
static int unix_socket(const char *path, int backlog)
{
    struct sockaddr_un sun;
    socklen_t len;
    int err = unix_address(path, &sun, &len);
    if (err < 0)
        return err;
    int fd = open_socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return fd;
    if (backlog < 0 ? green_connect(fd, (struct sockaddr *)&sun, len) < 0
                    : bind(fd, (struct sockaddr *)&sun, len) < 0 ||
                      listen(fd, backlog ? backlog : SOMAXCONN) < 0) {
        err = -errno;
        green_close(fd);
        return err;
    }
    return fd;
}

int green_unix_connect(const char *path)
{
    return fd_result(unix_socket(path, -1));
}

int green_unix_listen(const char *path, int backlog)
{
    if (backlog < 0)
        return green__fail(EINVAL);
    return fd_result(unix_socket(path, backlog));
}
