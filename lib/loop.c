/*
 * A scheduler driven by a host's event loop (libuv, GLib, a GUI's).
 *
 * green_run gives its OS thread to the scheduler until main returns; a
 * loop lends it, a slice at a time.  The scheduler is the same one; what
 * changes is what a thread does when it finds nothing to run.  Under
 * green_run it waits in the poller on its own stack.  Here it looks at
 * the poller without waiting and, still finding nothing, hands the OS
 * thread back to the host (sched.c, hand_back) through the context that
 * green_run would come back to at the end, which is green_loop_run's
 * caller's.  The host watches the poller's own fd, readable when a wait
 * would report something, and waits no longer than the next timer;
 * green_loop_run then resumes the thread that handed back, which looks
 * again and runs what woke.
 *
 * The loop's root runs no main: it waits for green_loop_stop.  The stop
 * makes the scheduler an ordinary one again (a thread with nothing to run
 * waits in the poller, and a deadlock is reported and broken), cancels
 * every thread and resumes them until the root has seen them all finish,
 * as at the end of green_run.
 *
 * Between slices this OS thread runs no green thread: green__cur is NULL,
 * and libgreen's calls act as outside green_run.
 */
#include "sched.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "sanitizer.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

struct green_loop {
    struct green__sched s;
    int fd;                 /* the poller's, for the host */
};

/* The loop this OS thread made: one at a time, and no green_run beside. */
static __thread struct green_loop *here;

bool green__loop_here(void)
{
    return here != NULL;
}

green_loop_t *green_loop_new(void)
{
    if (green__cur || here) {
        errno = EPERM;
        return NULL;
    }
    struct green_loop *l = malloc(sizeof *l);
    if (!l) {
        errno = ENOMEM;
        return NULL;
    }
    int caller_errno = errno, err;
    green_t *root = green__run_start(&l->s, NULL, 0, NULL, NULL, true, &err);
    if (root && (err = green__poller_host_fd(&l->s.poller)) < 0) {
        green__run_restore_sigpipe(&l->s);
        (void)green__run_end(&l->s);
    }
    if (!root || err < 0) {
        green__cur = NULL;
        free(l);
        errno = -err;
        return NULL;
    }
    l->fd = err;
    green__run_restore_sigpipe(&l->s);  /* blocked again for each slice */
    green__watch_start(&l->s.watch, root);
    green__cur = NULL;
    here = l;
    errno = caller_errno;
    return l;
}

/* 0, or why the calling thread may not use l: EINVAL for no loop, EPERM
 * from a green thread or another OS thread than the loop's. */
static int check(const struct green_loop *l)
{
    if (!l)
        return EINVAL;
    if (green__cur || l != here)  /* here is this OS thread's */
        return EPERM;
    return 0;
}

int green_loop_fd(green_loop_t *l)
{
    int err = check(l);
    return err ? green__fail(err) : l->fd;
}

/* A poller whose fd could not be armed is looked at this often. */
enum { BLIND_MS = 10 };

static int until(int64_t at)
{
    int64_t ms = at - green_now();
    return ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

static int earlier(int a, int b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

int green_loop_timeout(green_loop_t *l)
{
    int err = check(l);
    if (err)
        return green__fail(err);
    struct green__sched *s = &l->s;
    if (s->runq_head || green__inbox_pending(&s->inbox))
        return 0;
    struct green__timer *tm = green__timers_first(&s->timers);
    int ms = earlier(tm ? until(tm->at) : -1, green__poller_next_sweep(&s->poller));
    return s->host_blind ? earlier(ms, BLIND_MS) : ms;
}

/* Lends the OS thread to l's threads until one hands it back, or the
 * root finishes.  The host's errno and signal mask are its own again. */
static void lend(struct green_loop *l)
{
    struct green__sched *s = &l->s;
    int caller_errno = errno;
    green__cur = s;
    green__run_block_sigpipe(s);
    s->main.fiber = green__tsan_current();
    (void)green__resume(s, &s->main.ctx, &s->main.fake);
    green__run_restore_sigpipe(s);
    green__cur = NULL;
    errno = caller_errno;
}

int green_loop_run(green_loop_t *l)
{
    int err = check(l);
    if (err)
        return green__fail(err);
    lend(l);
    return 0;
}

green_t *green_loop_spawn(green_loop_t *l, const green_attr_t *attr, void *(*fn)(void *),
                          void *arg)
{
    int err = check(l);
    if (err) {
        errno = err;
        return NULL;
    }
    /* As green_spawn_attr, from no thread: an eager one waits its turn. */
    struct green__sched *s = &l->s;
    green_t *current = s->current;
    green__cur = s;
    s->current = NULL;
    green_t *t = green_spawn_attr(attr, fn, arg);
    s->current = current;
    green__cur = NULL;
    return t;
}

int green_loop_stop(green_loop_t *l)
{
    int err = check(l);
    if (err)
        return green__fail(err);
    struct green__sched *s = &l->s;
    int caller_errno = errno;
    s->hosted = false;
    green__run_cancel_others(s);
    green__wake(s->root, 0);
    lend(l);  /* back when the root has seen the others finish */
    green__watch_stop(&s->watch);
    green__cur = s;
    err = green__run_end(s);
    here = NULL;
    free(l);
    errno = caller_errno;
    return err < 0 ? green__fail(-err) : 0;
}
