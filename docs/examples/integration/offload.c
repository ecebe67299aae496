/* A library call that blocks and has no non-blocking form (a resolver, a
 * connect inside the library), run on the offload pool: it then stops
 * one worker OS thread instead of every green thread of the scheduler. */
#include <errno.h>
#include <stdint.h>
#include <green.h>

/* The call, its argument and its outcome, on the caller's stack: the
 * caller waits for the worker to finish (below), so the record outlives
 * every use the worker makes of it. */
struct blocking_call {
    int (*fn)(void *arg);
    void *arg;
    int rc;
    int err;
};

/* Runs on a worker OS thread: it must not call libgreen's parking calls,
 * and errno is the worker's, so it is copied out here. */
static void *run_call(void *p)
{
    struct blocking_call *c = p;
    c->rc = c->fn(c->arg);
    c->err = errno;
    return NULL;
}

/* Calls fn(arg) on the pool and returns what it returned, with its errno.
 * The wait cannot be cut short: if the deadline or a cancel ended it, the
 * worker would run on with a record on a stack that is gone.  So bound
 * fn with the library's own timeout option, and let the cancel stay
 * pending: the caller's next parking call sees ECANCELED. */
int call_blocking(int (*fn)(void *arg), void *arg)
{
    struct blocking_call c = {fn, arg, -1, 0};
    int64_t old = green_deadline(GREEN_NEVER);
    int was = green_shield(1);
    int r = green_offload(run_call, &c, NULL);
    green_shield(was);
    green_deadline(old);
    if (r < 0)
        return -1;          /* EAGAIN, ENOMEM: fn did not run */
    errno = c.err;
    return c.rc;
}
