/*
 * The routed-call table: the C library's calls that libgreen-hook
 * (lib/hook/) interposes, reached around it.  A program that links the
 * hook, or preloads it, gets the hook's read, poll, close and the rest for
 * its own calls; libgreen's calls must reach the C library itself, or a
 * green_read would park on its own system call.  So libgreen makes those
 * calls through this table, which points at the C library's definitions
 * (lib/sys.c).  Which calls it holds is said once, in lib/routed.h.
 *
 * Each .c file of lib/ that makes such calls includes this header last,
 * through fault.h; the macros below then turn read(...) into
 * green__sys.read(...).  In a test build fault.h sends them to its points
 * instead, and the points make the call through the table.
 */
#ifndef GREEN_SYS_H
#define GREEN_SYS_H

#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "routed.h"

struct epoll_event;

/* One entry per call with reach table, with the call's own type. */
#define GREEN__SYS_ENTRY(reach, point, ret, name, params, args) \
    GREEN__IN_TABLE_##reach(ret(*name) params;)
struct green__sys {
    GREEN__ROUTED(GREEN__SYS_ENTRY)
};
#undef GREEN__SYS_ENTRY

extern struct green__sys green__sys;

/* Points every entry whose definition is in a shared object named
 * prefix... at the C library's own instead; the count it changed.  Run
 * for "libgreen-hook" when libgreen is loaded (a test runs it for the C
 * library itself, which changes nothing). */
size_t green__sys_pass_by(const char *prefix);

/* A call through the table; fault.h makes it a call through the call's
 * fault point instead. */
#define GREEN__ROUTE(name, ...) green__sys.name(__VA_ARGS__)

/* The calls with reach table in routed.h, one line each: a macro cannot
 * define macros.  close has no fault point, so it is always the table's. */
#ifndef GREEN_SYS_IMPL
#define read(...) GREEN__ROUTE(read, __VA_ARGS__)
#define write(...) GREEN__ROUTE(write, __VA_ARGS__)
#define readv(...) GREEN__ROUTE(readv, __VA_ARGS__)
#define writev(...) GREEN__ROUTE(writev, __VA_ARGS__)
#define recv(...) GREEN__ROUTE(recv, __VA_ARGS__)
#define send(...) GREEN__ROUTE(send, __VA_ARGS__)
#define recvfrom(...) GREEN__ROUTE(recvfrom, __VA_ARGS__)
#define sendto(...) GREEN__ROUTE(sendto, __VA_ARGS__)
#define recvmsg(...) GREEN__ROUTE(recvmsg, __VA_ARGS__)
#define sendmsg(...) GREEN__ROUTE(sendmsg, __VA_ARGS__)
#define connect(...) GREEN__ROUTE(connect, __VA_ARGS__)
#define socket(...) GREEN__ROUTE(socket, __VA_ARGS__)
#define fcntl(...) GREEN__ROUTE(fcntl, __VA_ARGS__)
#define close(...) green__sys.close(__VA_ARGS__)
#define poll(...) GREEN__ROUTE(poll, __VA_ARGS__)
#define getaddrinfo(...) GREEN__ROUTE(getaddrinfo, __VA_ARGS__)
#ifndef GREEN_POSIX_ONLY
#define accept4(...) GREEN__ROUTE(accept4, __VA_ARGS__)
#define epoll_wait(...) GREEN__ROUTE(epoll_wait, __VA_ARGS__)
#else
#define accept(...) GREEN__ROUTE(accept, __VA_ARGS__)
#endif

/* A call of the list without its line would reach the hook: none has. */
#define GREEN__SYS_CHECK(reach, point, ret, name, params, args) \
    GREEN__IN_TABLE_##reach(_Static_assert(GREEN__ROUTED_IS_MACRO(name, args), \
                                           #name " is made through the table");)
GREEN__ROUTED(GREEN__SYS_CHECK)
#undef GREEN__SYS_CHECK
#endif

#endif
