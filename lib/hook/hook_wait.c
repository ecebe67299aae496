/*
 * libgreen-hook's waiting calls: poll, ppoll, select and epoll_wait park
 * on all their fds and their timeout; the sleeps park; the resolver's
 * calls run on the offload pool.  Outside a green thread each is the real
 * call (hook.c says why and how).
 *
 * A call's own timeout and the green thread's deadline both bound the
 * wait: the earlier is set for it, and the thread's is put back after.
 * The call's own timeout ending the wait is the call's usual result (0
 * ready fds, a full sleep); the thread's deadline or cancellation is -1
 * with ETIMEDOUT or ECANCELED (for the resolver, EAI_SYSTEM with that
 * errno), which a library sees as an error and gives up on.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hook.h"

/* The wait's bound: the earlier of the call's timeout (ms, negative for
 * none) and the thread's deadline.  Returns the thread's deadline, to be
 * put back; *mine gets the call's own, as a time. */
static int64_t bound(int64_t timeout_ms, int64_t *mine)
{
    int64_t old = green_deadline(GREEN_NEVER);
    *mine = timeout_ms < 0 ? GREEN_NEVER : green_now() + timeout_ms;
    int64_t d = old < 0 ? *mine : *mine < 0 || old < *mine ? old : *mine;
    green_deadline(d);
    return old;
}

/* After a wait failed with err under bound(): whether it was the call's
 * own timeout that ended it, rather than the thread's deadline. */
static bool own_timeout(int err, int64_t mine, int64_t old)
{
    int64_t now = green_now();
    return err == ETIMEDOUT && mine >= 0 && now >= mine && (old < 0 || now < old);
}

/* Every event poll(2) can be asked for, as epoll names it: a library may
 * ask for POLLRDNORM or POLLWRBAND alone, and an event left out here would
 * never end the wait.  (POLLERR, POLLHUP and POLLNVAL are reported
 * without being asked for.) */
static uint32_t epoll_events(short events)
{
    static const struct {
        short poll;
        uint32_t epoll;
    } map[] = {
        {POLLIN, EPOLLIN},         {POLLPRI, EPOLLPRI},         {POLLOUT, EPOLLOUT},
        {POLLRDNORM, EPOLLRDNORM}, {POLLRDBAND, EPOLLRDBAND}, {POLLWRNORM, EPOLLWRNORM},
        {POLLWRBAND, EPOLLWRBAND}, {POLLMSG, EPOLLMSG},       {POLLRDHUP, EPOLLRDHUP},
    };
    uint32_t e = 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (events & map[i].poll)
            e |= map[i].epoll;
    return e;
}

/* The events select counts in each of its sets, as Linux's select does: a
 * hang-up or an error makes an fd readable, an error writable, and only
 * urgent data exceptional.  An fd that reports another (a hang-up where
 * select looks for urgent data alone) is not ready, and the call waits on. */
enum {
    SELECT_IN = POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR,
    SELECT_OUT = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR,
    SELECT_EX = POLLPRI,
};

/* Whether select counts what p reports; a closed fd (POLLNVAL) ends it. */
static bool selected(const struct pollfd *p)
{
    return (p->revents & POLLNVAL) || ((p->events & POLLIN) && (p->revents & SELECT_IN)) ||
           ((p->events & POLLOUT) && (p->revents & SELECT_OUT)) ||
           ((p->events & POLLPRI) && (p->revents & SELECT_EX));
}

/* Looks at fds without waiting: how many are ready, by poll's rules or by
 * select's, or -1 with errno. */
static int look(struct pollfd *fds, nfds_t n, bool by_select)
{
    int r = REAL(poll)(fds, n, 0);
    if (r <= 0 || !by_select)
        return r;
    int ready = 0;
    for (nfds_t i = 0; i < n; i++)
        ready += selected(&fds[i]);
    return ready;
}

/* An epoll set of fds, for a call to park on: made at its first park and
 * kept until it returns.  Each fd is registered edge-triggered, and the
 * set's reports are taken before each look (drain), so that a readiness the
 * call does not count wakes it once, not at every park.  -1 with errno if
 * it cannot be made. */
static int waitset(const struct pollfd *fds, nfds_t n)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -1;
    for (nfds_t i = 0; i < n; i++) {
        struct epoll_event e = {.events = epoll_events(fds[i].events) | EPOLLET,
                                .data.fd = fds[i].fd};
        if (fds[i].fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fds[i].fd, &e) == 0)
            continue;
        if (errno == EEXIST) {  /* the same fd twice: wait for both */
            for (nfds_t j = 0; j < i; j++)
                if (fds[j].fd == fds[i].fd)
                    e.events |= epoll_events(fds[j].events);
            if (epoll_ctl(ep, EPOLL_CTL_MOD, fds[i].fd, &e) == 0)
                continue;
        }
        /* A regular file (EPERM) is always ready to read and write, which
         * the look before the park saw; nothing else ever comes of it. */
        if (errno == EPERM)
            continue;
        int err = errno;
        green_close(ep);
        errno = err;
        return -1;
    }
    return ep;
}

/* Takes the reports waiting in a waitset, so that it is readable again only
 * on news. */
static void drain(int ep)
{
    struct epoll_event ev[16];
    while (REAL(epoll_wait)(ep, ev, 16, 0) == 16)
        continue;
}

/* Parks until fds may have changed: 0, or -1 with errno.  One fd asked
 * for reading or writing alone, that reported nothing at the last look, is
 * a green_wait on it; anything else waits on *ep, made the first time. */
static int park_on(const struct pollfd *fds, nfds_t n, int *ep)
{
    if (*ep < 0 && n == 1 && fds[0].fd >= 0 && fds[0].events && !fds[0].revents &&
        !(fds[0].events & ~(POLLIN | POLLOUT))) {
        int ev = (fds[0].events & POLLIN ? GREEN_IN : 0) | (fds[0].events & POLLOUT ? GREEN_OUT : 0);
        return green_wait(fds[0].fd, ev) < 0 ? -1 : 0;
    }
    if (*ep < 0 && (*ep = waitset(fds, n)) < 0)
        return -1;
    return green_wait(*ep, GREEN_IN) < 0 ? -1 : 0;
}

/* poll inside a green thread, timeout in ms (negative for none), counting
 * ready fds by poll's rules or by select's. */
static int poll_green(struct pollfd *fds, nfds_t n, int64_t timeout, bool by_select)
{
    int r = look(fds, n, by_select);
    if (r != 0 || timeout == 0)
        return r;
    int64_t mine, old = bound(timeout, &mine);
    int ep = -1, err = 0;
    if (n == 0 && green_sleep(timeout < 0 ? INT64_MAX / 2 : mine - green_now()) < 0)
        err = errno;
    while (n > 0 && r == 0) {
        if (park_on(fds, n, &ep) < 0) {
            err = errno;
            break;
        }
        if (ep >= 0)
            drain(ep);
        r = look(fds, n, by_select);
        err = r < 0 ? errno : 0;
    }
    if (ep >= 0)
        green_close(ep);
    green_deadline(old);
    if (r > 0 || err == 0 || (r == 0 && own_timeout(err, mine, old)))
        return r;
    errno = err;
    return -1;
}

HOOK int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (!green__hook_in_green())
        return REAL(poll)(fds, n, timeout);
    return poll_green(fds, n, timeout, false);
}

/* A timespec as ms, rounded up; -1 for NULL, -2 when it is not valid. */
static int64_t ms_of(const struct timespec *ts)
{
    if (!ts)
        return -1;
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000)
        return -2;
    /* In int64_t: with a 32-bit time_t the comparison is always false,
     * and says so in a warning. */
    if ((int64_t)ts->tv_sec > INT64_MAX / 2000)
        return INT64_MAX / 2;
    return (int64_t)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
}

/* ppoll's signal mask is not applied: every green thread of an OS thread
 * shares its mask (docs/hooks.md). */
HOOK int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
    if (!green__hook_in_green())
        return REAL(ppoll)(fds, n, ts, mask);
    int64_t ms = ms_of(ts);
    if (ms == -2) {
        errno = EINVAL;
        return -1;
    }
    return poll_green(fds, n, ms, false);
}

/* select's sets are bitmaps of nfds bits, which may be more than
 * FD_SETSIZE: a program may size its own, as select(2) allows, and
 * FD_ISSET stops at FD_SETSIZE.  Linux lays them out as unsigned longs. */
enum { WORD_BITS = 8 * sizeof(unsigned long) };

static bool in_set(const fd_set *set, int fd)
{
    return set && (((const unsigned long *)set)[fd / WORD_BITS] >> (fd % WORD_BITS) & 1);
}

static void put_in_set(fd_set *set, int fd)
{
    ((unsigned long *)set)[fd / WORD_BITS] |= 1UL << (fd % WORD_BITS);
}

static void clear_set(fd_set *set, int nfds)
{
    if (set)
        memset(set, 0, ((size_t)nfds + WORD_BITS - 1) / WORD_BITS * sizeof(unsigned long));
}

/* How many of nfds select looks at.  Linux's looks at no more fds than
 * its table has room for (FDSize in /proc/self/status), so a program may
 * pass a large nfds (getdtablesize()) with sets of FD_SETSIZE bits; the
 * bits past the table are never read.  Up to FD_SETSIZE every set is large
 * enough, and nothing need be asked. */
static int select_limit(int nfds)
{
    if (nfds <= FD_SETSIZE)
        return nfds;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nfds;  /* no /proc: the program's word for it */
    char buf[1024];
    ssize_t got = REAL(read)(fd, buf, sizeof buf - 1);
    REAL(close)(fd);
    if (got <= 0)
        return nfds;
    buf[got] = '\0';
    const char *at = strstr(buf, "\nFDSize:");
    long size = at ? strtol(at + strlen("\nFDSize:"), NULL, 10) : 0;
    return size > 0 && size < nfds ? (int)size : nfds;
}

/* The fds in the sets as pollfds, in *out (freed by the caller): their
 * count, or -1 with ENOMEM. */
static ssize_t to_pollfds(int nfds, const fd_set *rd, const fd_set *wr, const fd_set *ex,
                          struct pollfd **out)
{
    size_t n = 0;
    for (int fd = 0; fd < nfds; fd++)
        n += in_set(rd, fd) || in_set(wr, fd) || in_set(ex, fd);
    struct pollfd *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        return -1;
    n = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = (short)((in_set(rd, fd) ? POLLIN : 0) | (in_set(wr, fd) ? POLLOUT : 0) |
                           (in_set(ex, fd) ? POLLPRI : 0));
        if (ev)
            p[n++] = (struct pollfd){.fd = fd, .events = ev};
    }
    *out = p;
    return (ssize_t)n;
}

/* The sets as select leaves them, from what the pollfds report: the count
 * of bits set, or -1 with EBADF (the sets untouched) for a closed fd. */
static int from_pollfds(const struct pollfd *p, nfds_t n, int nfds, fd_set *rd, fd_set *wr,
                        fd_set *ex)
{
    for (nfds_t i = 0; i < n; i++)
        if (p[i].revents & POLLNVAL) {
            errno = EBADF;
            return -1;
        }
    clear_set(rd, nfds);
    clear_set(wr, nfds);
    clear_set(ex, nfds);
    int r = 0;
    for (nfds_t i = 0; i < n; i++) {
        short got = p[i].revents, ev = p[i].events;
        if ((ev & POLLIN) && (got & SELECT_IN))
            put_in_set(rd, p[i].fd), r++;
        if ((ev & POLLOUT) && (got & SELECT_OUT))
            put_in_set(wr, p[i].fd), r++;
        if ((ev & POLLPRI) && (got & SELECT_EX))
            put_in_set(ex, p[i].fd), r++;
    }
    return r;
}

/* select, as a poll of the fds in its sets, counted by select's rules. */
HOOK int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
    if (!green__hook_in_green())
        return REAL(select)(nfds, rd, wr, ex, tv);
    if (nfds < 0 || (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000))) {
        errno = EINVAL;
        return -1;
    }
    nfds = select_limit(nfds);
    struct pollfd *p;
    ssize_t n = to_pollfds(nfds, rd, wr, ex, &p);
    if (n < 0)
        return -1;
    int64_t ms = tv ? (int64_t)tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000 : -1;
    int r = poll_green(p, (nfds_t)n, ms, true);
    if (r >= 0)
        r = from_pollfds(p, (nfds_t)n, nfds, rd, wr, ex);
    if (tv && r == 0)
        *tv = (struct timeval){0, 0};  /* as Linux: what is left */
    free(p);
    return r;
}

/* A library's own epoll set: park on the epoll fd's readiness. */
HOOK int epoll_wait(int ep, struct epoll_event *events, int max, int timeout)
{
    if (!green__hook_in_green())
        return REAL(epoll_wait)(ep, events, max, timeout);
    int r = REAL(epoll_wait)(ep, events, max, 0);
    if (r != 0 || timeout == 0)
        return r;
    int64_t mine, old = bound(timeout, &mine);
    int err = 0;
    while (r == 0) {
        if (green_wait(ep, GREEN_IN) < 0) {
            err = errno;
            break;
        }
        r = REAL(epoll_wait)(ep, events, max, 0);
    }
    green_deadline(old);
    if (r != 0 || own_timeout(err, mine, old))
        return r;
    errno = err;
    return -1;
}

/* Sleeps. */

/* Sleeps ms: 0, or -1 with errno and *left_ms what was left. */
static int sleep_green(int64_t ms, int64_t *left_ms)
{
    int64_t until = green_now() + ms;
    if (green_sleep(ms) == 0)
        return 0;
    int err = errno;
    int64_t left = until - green_now();
    *left_ms = left > 0 ? left : 0;
    errno = err;
    return -1;
}

HOOK unsigned sleep(unsigned s)
{
    if (!green__hook_in_green())
        return REAL(sleep)(s);
    int64_t left;
    return sleep_green((int64_t)s * 1000, &left) == 0 ? 0 : (unsigned)((left + 999) / 1000);
}

HOOK int usleep(useconds_t us)
{
    if (!green__hook_in_green())
        return REAL(usleep)(us);
    int64_t left;
    return sleep_green(((int64_t)us + 999) / 1000, &left);
}

static void set_left(struct timespec *rem, int64_t ms)
{
    if (rem)
        *rem = (struct timespec){(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
}

HOOK int nanosleep(const struct timespec *req, struct timespec *rem)
{
    if (!green__hook_in_green())
        return REAL(nanosleep)(req, rem);
    int64_t ms = ms_of(req), left;
    if (ms < 0) {
        errno = ms == -1 ? EFAULT : EINVAL;
        return -1;
    }
    if (sleep_green(ms, &left) == 0)
        return 0;
    set_left(rem, left);
    return -1;
}

/* Returns an error number, as clock_nanosleep does. */
HOOK int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req,
                         struct timespec *rem)
{
    if (!green__hook_in_green())
        return REAL(clock_nanosleep)(clock, flags, req, rem);
    struct timespec rel = req ? *req : (struct timespec){0, 0}, now;
    if (flags & TIMER_ABSTIME) {
        if (clock_gettime(clock, &now) < 0)
            return EINVAL;
        rel.tv_sec -= now.tv_sec;
        rel.tv_nsec -= now.tv_nsec;
        if (rel.tv_nsec < 0) {
            rel.tv_nsec += 1000000000;
            rel.tv_sec--;
        }
        if (rel.tv_sec < 0)
            return 0;  /* the time has passed */
    }
    int64_t ms = ms_of(req ? &rel : NULL), left;
    if (ms < 0)
        return ms == -1 ? EFAULT : EINVAL;
    if (sleep_green(ms, &left) == 0)
        return 0;
    if (!(flags & TIMER_ABSTIME))
        set_left(rem, left);
    return errno;
}

/* The resolver. */

HOOK int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                     struct addrinfo **res)
{
    if (!green__hook_in_green())
        return REAL(getaddrinfo)(node, service, hints, res);
    if (!node && !service)
        return EAI_NONAME;
    if (green_getaddrinfo(node, service, hints, res) == 0)
        return 0;
    int rc = green_gai_error();
    return rc ? rc : errno == ENOMEM ? EAI_MEMORY : EAI_SYSTEM;
}

/* green_offload, waited for to the end: the job writes the caller's
 * buffers, so the wait is not cut short (a cancellation stays pending
 * for the next call). */
static int offload_whole(void *(*fn)(void *), void *arg)
{
    int was = green_shield(1);
    int64_t old = green_deadline(GREEN_NEVER);
    int r = green_offload(fn, arg, NULL);
    green_deadline(old);
    green_shield(was);
    return r;
}

struct nameinfo {
    const struct sockaddr *sa;
    socklen_t salen, hostlen, servlen;
    char *host, *serv;
    int flags, rc;
};

static void *nameinfo_run(void *arg)
{
    struct nameinfo *c = arg;
    c->rc = REAL(getnameinfo)(c->sa, c->salen, c->host, c->hostlen, c->serv, c->servlen,
                              c->flags);
    return NULL;
}

HOOK int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen,
                     char *serv, socklen_t servlen, int flags)
{
    if (!green__hook_in_green())
        return REAL(getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags);
    struct nameinfo c = {sa, salen, hostlen, servlen, host, serv, flags, 0};
    if (offload_whole(nameinfo_run, &c) < 0)
        return errno == ENOMEM ? EAI_MEMORY : EAI_SYSTEM;
    return c.rc;
}

/* gethostbyname's answer lives in a buffer per OS thread, as the C
 * library's lives in one per process: valid until the next call. */
static __thread struct hostent host_entry;
static __thread char host_buf[8192];

struct hostbyname {
    const char *name;
    struct hostent *entry, *result;  /* the caller's OS thread's buffers */
    char *buf;
    int rc, herr;
};

static void *hostbyname_run(void *arg)
{
    struct hostbyname *c = arg;
    c->rc = REAL(gethostbyname_r)(c->name, c->entry, c->buf, sizeof host_buf, &c->result,
                                  &c->herr);
    return NULL;
}

HOOK struct hostent *gethostbyname(const char *name)
{
    if (!green__hook_in_green())
        return REAL(gethostbyname)(name);
    struct hostbyname c = {name, &host_entry, NULL, host_buf, 0, 0};
    if (offload_whole(hostbyname_run, &c) < 0) {
        h_errno = TRY_AGAIN;
        return NULL;
    }
    if (!c.result)
        h_errno = c.herr;
    return c.result;
}
