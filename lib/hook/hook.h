/*
 * libgreen-hook's shared parts (hook.c, hook_wait.c, hook_pipe.c): the
 * real calls and the program's view of each fd.  The hook is built with
 * the public header alone on its include path (-Iinclude): of libgreen's
 * own files it sees only ../routed.h, the list of the calls it interposes.
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

#include <green.h>
#include "../routed.h"  /* the list alone: it includes nothing */

/* The interposed calls are the library's only exported names. */
#define HOOK __attribute__((visibility("default")))

/* The real calls: the next definitions after this library's, of every
 * call routed.h lists with reach table or hook. */
#define GREEN__HOOK_ENTRY(reach, point, ret, name, params, args) \
    GREEN__IN_HOOK_##reach(ret(*name) params;)
struct green__hook_real {
    GREEN__ROUTED(GREEN__HOOK_ENTRY)
};
#undef GREEN__HOOK_ENTRY

extern struct green__hook_real green__hook_real;

/* Loads the real calls, once; the constructor does it, and a call made
 * before the constructor ran (from another library's) does it first. */
void green__hook_load(void);
#define REAL(name) (green__hook_real.name ? green__hook_real.name \
                    : (green__hook_load(), green__hook_real.name))

/* The program's view of fd's O_NONBLOCK (hook.c). */
enum { GREEN__HOOK_UNKNOWN, GREEN__HOOK_BLOCKING, GREEN__HOOK_NONBLOCKING };
int green__hook_view(int fd);

/* What fd is, for its reads and writes (hook.c), or -1 with errno: a
 * socket; a file that never waits for readiness (a regular file, a
 * directory, a block device); a pipe or FIFO; or anything else that waits
 * (a tty, an eventfd).  Whether a pipe is to be asked with RWF_NOWAIT: not
 * once it refused (green__hook_no_nowait). */
enum { GREEN__HOOK_SOCKET, GREEN__HOOK_FILE, GREEN__HOOK_PIPE, GREEN__HOOK_OTHER };
int green__hook_kind(int fd);
bool green__hook_nowait(int fd);
void green__hook_no_nowait(int fd);

/* readv and writev for a green thread on a pipe (pipe) or on anything
 * else that is neither a socket nor a file (hook_pipe.c), setting no
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
