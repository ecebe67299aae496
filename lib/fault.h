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
 * the table through which libgreen passes by libgreen-hook.  Which calls
 * have points is said once, with the table's, in lib/routed.h.
 */
#ifndef GREEN_FAULT_H
#define GREEN_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#include "routed.h"

/* The points that are no call of the C library libgreen makes by name,
 * asked with green__fault_errno where the code makes them: pidfd_open and
 * process_madvise, made through syscall(2), the ring's setup, its
 * entering and the operations in it; and mincore, which is made by name
 * but only to measure stacks (lib/stack.c), so no hook routes it. */
#define GREEN__FAULT_BARE(X) \
    X(pidfd_open) X(process_madvise) X(mincore) X(io_uring_setup) X(io_uring_enter) X(io_uring_op)

/* Every point, named for the call it stands for: the calls routed.h marks
 * as points, then the bare ones. */
#define GREEN__FAULT_ENUM(reach, point, ret, name, params, args) \
    GREEN__IS_POINT_##point(GREEN__FAULT_##name,)
#define GREEN__FAULT_ENUM_BARE(name) GREEN__FAULT_##name,
enum green__fault_point {
    GREEN__ROUTED(GREEN__FAULT_ENUM)
    GREEN__FAULT_BARE(GREEN__FAULT_ENUM_BARE)
    GREEN__FAULT_NPOINTS
};
#undef GREEN__FAULT_ENUM
#undef GREEN__FAULT_ENUM_BARE

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

/* The points of the calls routed.h lists as points: each takes the call
 * site, then the call's own parameters. */
#define GREEN__FAULT_SITE_FIRST(...) (const char *site, __VA_ARGS__)
#define GREEN__FAULT_DECLARE(reach, point, ret, name, params, args) \
    GREEN__IS_POINT_##point(ret green__fault_##name GREEN__FAULT_SITE_FIRST params;)
GREEN__ROUTED(GREEN__FAULT_DECLARE)
#undef GREEN__FAULT_DECLARE

/* Not points (they cannot fail), but kept in the books. */
void green__fault_free(void *p);
void green__fault_freeaddrinfo(struct addrinfo *ai);

/* The calls around the hook (lib/sys.h), after every system header. */
#include "sys.h"

/* The calls, turned into their points everywhere but in fault.c: the
 * table's by sys.h's own macros, the others (reach libc in routed.h) one
 * line each, since a macro cannot define macros. */
#ifndef GREEN_FAULT_IMPL
#define GREEN__FAULT_CALL(name, ...) green__fault_##name(GREEN__FAULT_SITE, __VA_ARGS__)
#undef GREEN__ROUTE
#define GREEN__ROUTE GREEN__FAULT_CALL
#undef strdup
#define malloc(...) GREEN__FAULT_CALL(malloc, __VA_ARGS__)
#define calloc(...) GREEN__FAULT_CALL(calloc, __VA_ARGS__)
#define realloc(...) GREEN__FAULT_CALL(realloc, __VA_ARGS__)
#define strdup(...) GREEN__FAULT_CALL(strdup, __VA_ARGS__)
#define mmap(...) GREEN__FAULT_CALL(mmap, __VA_ARGS__)
#define munmap(...) GREEN__FAULT_CALL(munmap, __VA_ARGS__)
#define madvise(...) GREEN__FAULT_CALL(madvise, __VA_ARGS__)
#define mprotect(...) GREEN__FAULT_CALL(mprotect, __VA_ARGS__)
#ifndef GREEN_POSIX_ONLY
#define epoll_create1(...) GREEN__FAULT_CALL(epoll_create1, __VA_ARGS__)
#define epoll_ctl(...) GREEN__FAULT_CALL(epoll_ctl, __VA_ARGS__)
#define eventfd(...) GREEN__FAULT_CALL(eventfd, __VA_ARGS__)
#define pipe2(...) GREEN__FAULT_CALL(pipe2, __VA_ARGS__)
#else
#define pipe(...) GREEN__FAULT_CALL(pipe, __VA_ARGS__)
#endif
#define bind(...) GREEN__FAULT_CALL(bind, __VA_ARGS__)
#define listen(...) GREEN__FAULT_CALL(listen, __VA_ARGS__)
#define setsockopt(...) GREEN__FAULT_CALL(setsockopt, __VA_ARGS__)
#define getsockopt(...) GREEN__FAULT_CALL(getsockopt, __VA_ARGS__)
#define getsockname(...) GREEN__FAULT_CALL(getsockname, __VA_ARGS__)
#define pthread_create(...) GREEN__FAULT_CALL(pthread_create, __VA_ARGS__)
#define waitpid(...) GREEN__FAULT_CALL(waitpid, __VA_ARGS__)
#define sigaction(...) GREEN__FAULT_CALL(sigaction, __VA_ARGS__)
#define sigaltstack(...) GREEN__FAULT_CALL(sigaltstack, __VA_ARGS__)
#define free(p) green__fault_free(p)
#define freeaddrinfo(ai) green__fault_freeaddrinfo(ai)

/* A point of the list without its line would never be reached: none is. */
#define GREEN__FAULT_CHECK(reach, point, ret, name, params, args) \
    GREEN__IS_POINT_##point(_Static_assert(GREEN__ROUTED_IS_MACRO(name, args), \
                                           #name " is made through its point");)
GREEN__ROUTED(GREEN__FAULT_CHECK)
#undef GREEN__FAULT_CHECK
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
