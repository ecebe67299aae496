/*
 * Fault points, for the test build only (make FAULTS=1; see fault.h).
 *
 * Each point counts its calls and notes its call site; when it is the
 * point set to fail and its count has come to the chosen call, or the
 * site set to fail, it sets errno and fails the way its call fails;
 * otherwise it makes the real call.  It also keeps the books of what
 * libgreen allocated and mapped, for the sweep to find leaks.  All is
 * atomic: the offload workers and the signal handler pass through points
 * too.
 *
 * The points of the calls in the routed-call table make their real call
 * through it, around libgreen-hook (routed.h); the others, directly.
 */
#define GREEN_FAULT_IMPL

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#ifndef GREEN_POSIX_ONLY
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif

#include "fault.h"  /* after the system headers: it brings lib/sys.h's macros */

/* The points' names, in the enum's order (fault.h). */
#define NAME(reach, point, ret, name, params, args) GREEN__IS_POINT_##point(#name,)
#define NAME_BARE(name) #name,
static const char *const names[] = {GREEN__ROUTED(NAME) GREEN__FAULT_BARE(NAME_BARE)};
_Static_assert(sizeof names / sizeof names[0] == GREEN__FAULT_NPOINTS, "a name for each point");

static atomic_ulong calls[GREEN__FAULT_NPOINTS];

/* What is set to fail: a point from its nth call, or a site; point -1
 * for nothing.  A site set to fail once is spent by its first call. */
static struct {
    atomic_int point;
    unsigned long nth;
    _Atomic(const char *) site;
    atomic_bool spent;
    bool persistent;
    int err;
} armed = {-1, 0, NULL, false, false, 0};

void green__fault_clear(void)
{
    atomic_store(&armed.point, -1);
    for (int p = 0; p < GREEN__FAULT_NPOINTS; p++)
        atomic_store(&calls[p], 0);
}

static void arm(enum green__fault_point p, unsigned long nth, const char *site,
                bool persistent, int err)
{
    green__fault_clear();
    armed.nth = nth;
    atomic_store(&armed.site, site);
    atomic_store(&armed.spent, false);
    armed.persistent = persistent;
    armed.err = err;
    atomic_store(&armed.point, (int)p);
}

void green__fault_set(enum green__fault_point p, unsigned long nth, bool persistent, int err)
{
    arm(p, nth, NULL, persistent, err);
}

void green__fault_set_site(const char *site, bool persistent, int err)
{
    arm(GREEN__FAULT_NPOINTS, 0, site, persistent, err);
}

unsigned long green__fault_calls(enum green__fault_point p)
{
    return atomic_load(&calls[p]);
}

const char *green__fault_name(enum green__fault_point p)
{
    return names[p];
}

/* Every site seen, in a table open-addressed by the site's address: a
 * site is one string object, so the address names it.  Lock-free, for the
 * signal handler's calls. */
enum { MAX_SITES = 1024 };
static struct {
    _Atomic(const char *) name;
    atomic_int point;
} sites[MAX_SITES];

static void note_site(enum green__fault_point p, const char *site)
{
    size_t h = ((uintptr_t)site >> 3) % MAX_SITES;
    for (size_t i = 0; i < MAX_SITES; i++, h = (h + 1) % MAX_SITES) {
        const char *seen = atomic_load(&sites[h].name);
        if (seen == site)
            return;
        if (!seen && atomic_compare_exchange_strong(&sites[h].name, &seen, site)) {
            atomic_store(&sites[h].point, (int)p);
            return;
        }
        if (seen == site)
            return;
    }
}

size_t green__fault_sites(const char **names_out, enum green__fault_point *points, size_t max)
{
    size_t n = 0;
    for (size_t h = 0; h < MAX_SITES; h++) {
        const char *site = atomic_load(&sites[h].name);
        if (!site)
            continue;
        if (n < max) {
            names_out[n] = site;
            points[n] = (enum green__fault_point)atomic_load(&sites[h].point);
        }
        n++;
    }
    return n;
}

static atomic_long blocks, addrinfos, mapped;

struct green__fault_books green__fault_books(void)
{
    return (struct green__fault_books){atomic_load(&blocks), atomic_load(&addrinfos),
                                       atomic_load(&mapped)};
}

int green__fault_check(enum green__fault_point p, const char *site)
{
    unsigned long n = atomic_fetch_add(&calls[p], 1) + 1;
    note_site(p, site);
    int armed_point = atomic_load(&armed.point);
    if (armed_point == GREEN__FAULT_NPOINTS) {
        if (atomic_load(&armed.site) != site)
            return 0;
        if (armed.persistent || !atomic_exchange(&armed.spent, true))
            return armed.err;
        return 0;
    }
    if (armed_point != (int)p)
        return 0;
    if (n == armed.nth || (armed.persistent && n > armed.nth))
        return armed.err;
    return 0;
}

/* Whether this call through p fails; if so errno says why. */
static bool fails(enum green__fault_point p, const char *site)
{
    int err = green__fault_check(p, site);
    if (err)
        errno = err;
    return err != 0;
}

#define POINT(p, failure) \
    if (fails(GREEN__FAULT_##p, site)) \
        return failure

/* The points of the calls routed.h marks plain: each fails as its call
 * does, -1 with errno, or makes it (through the table, for a call with
 * reach table: sys.h's macros). */
#define PLAIN(reach, point, ret, name, params, args) \
    GREEN__IS_PLAIN_##point(ret green__fault_##name GREEN__FAULT_SITE_FIRST params { \
        POINT(name, -1);                                                           \
        return name args;                                                          \
    })
GREEN__ROUTED(PLAIN)

/* A block handed out goes into the books. */
static void *counted(void *block)
{
    if (block)
        atomic_fetch_add(&blocks, 1);
    return block;
}

void *green__fault_malloc(const char *site, size_t n)
{
    POINT(malloc, NULL);
    return counted(malloc(n));
}

void *green__fault_calloc(const char *site, size_t n, size_t size)
{
    POINT(calloc, NULL);
    return counted(calloc(n, size));
}

void *green__fault_realloc(const char *site, void *p, size_t n)
{
    POINT(realloc, NULL);
    void *r = realloc(p, n);
    return p ? r : counted(r);
}

char *green__fault_strdup(const char *site, const char *s)
{
    POINT(strdup, NULL);
    return counted(strdup(s));
}

void *green__fault_mmap(const char *site, void *addr, size_t n, int prot, int flags, int fd, off_t off)
{
    POINT(mmap, MAP_FAILED);
    void *r = mmap(addr, n, prot, flags, fd, off);
    if (r != MAP_FAILED)
        atomic_fetch_add(&mapped, (long)n);
    return r;
}

int green__fault_munmap(const char *site, void *addr, size_t n)
{
    POINT(munmap, -1);
    int r = munmap(addr, n);
    if (r == 0)
        atomic_fetch_sub(&mapped, (long)n);
    return r;
}

/* libgreen passes fcntl an int, or nothing with the commands that get. */
int green__fault_fcntl(const char *site, int fd, int cmd, ...)
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

/* The resolver fails as it does when a system call under it fails (err
 * an errno), or with err itself when that is one of its EAI_ codes (which
 * are negative). */
int green__fault_getaddrinfo(const char *site, const char *node, const char *service,
                             const struct addrinfo *hints, struct addrinfo **res)
{
    int err = green__fault_check(GREEN__FAULT_getaddrinfo, site);
    if (err > 0) {
        errno = err;
        return EAI_SYSTEM;
    }
    if (err < 0)
        return err;
    int rc = getaddrinfo(node, service, hints, res);
    if (rc == 0)
        atomic_fetch_add(&addrinfos, 1);
    return rc;
}

/* pthread_create returns its error instead of setting errno. */
int green__fault_pthread_create(const char *site, pthread_t *t, const pthread_attr_t *attr,
                                void *(*fn)(void *), void *arg)
{
    int err = green__fault_check(GREEN__FAULT_pthread_create, site);
    if (err)
        return err;
    return pthread_create(t, attr, fn, arg);
}

void green__fault_free(void *p)
{
    if (p)
        atomic_fetch_sub(&blocks, 1);
    free(p);
}

void green__fault_freeaddrinfo(struct addrinfo *ai)
{
    if (ai)
        atomic_fetch_sub(&addrinfos, 1);
    freeaddrinfo(ai);
}
