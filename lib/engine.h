/*
 * The I/O engine: how one call (call.h) is made without blocking the OS
 * thread, and the facts about the file (file.h) it decides on.
 *
 * io.c gives the POSIX meaning (a write written in full, MSG_WAITALL, the
 * rest of a vector, connect's outcome) and makes each single call through
 * green__engine_call, which picks the path once: by readiness (engine.c)
 * or, under a backend that makes the calls, by the ring (engine_ring.c).
 * Each path is one loop, and parks through the poller's waits (poller.h).
 */
#ifndef GREEN_ENGINE_H
#define GREEN_ENGINE_H

#include <stdbool.h>
#include <sys/types.h>

#include "call.h"
#include "file.h"

struct green__sched;
struct green__poller;

/* The flag that keeps a send on a socket whose peer has gone from raising
 * SIGPIPE.  The POSIX build goes without (macOS has no MSG_NOSIGNAL): there,
 * as for write(2) on a pipe in every build, what keeps SIGPIPE from the
 * process is green_run's blocking it (run.c), which each green thread
 * keeps unless it unblocks SIGPIPE itself. */
#ifndef GREEN_POSIX_ONLY
#define GREEN__NOSIGNAL MSG_NOSIGNAL
#else
#define GREEN__NOSIGNAL 0
#endif

/* Makes c until it succeeds once or fails for good: its result (accept's:
 * the new fd, libgreen's and as TCP as its listener) or -errno: the call's
 * own, EBADF for a negative fd or one closed or released since c->gen was
 * taken, EINVAL for connect to no address (once the fd is found open),
 * ETIMEDOUT, ECANCELED, ENOMEM, the backend's error; connect's EINPROGRESS
 * when the connection goes on in the background.  A socket call on a file that is not a socket learns
 * it (ENOTSOCK) and goes on with the plain call. */
ssize_t green__engine_call(struct green__sched *s, struct green__call *c);

/* The two paths, each a loop that ends when green__engine_call would. */
ssize_t green__engine_ready(struct green__sched *s, struct green__call *c);
ssize_t green__engine_ring(struct green__sched *s, struct green__call *c);

#endif
