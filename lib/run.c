/*
 * green_run: the life of a scheduler, from its set-up to its teardown.
 *
 * green_run sets a scheduler up on its own stack, spawns the root thread
 * and switches to it.  The root runs main; when main returns, it cancels
 * the other threads and waits for them, the way asyncio.run ends its
 * tasks, and switches back.  green_run's context is resumed only then,
 * once; the scheduler proper (lib/sched.c) runs everything in between.
 */
#include "sched.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cores.h"
#include "sanitizer.h"

/* The root's end: shutdown. */

/* The root waits for the others to finish; cancellation cannot end that. */

/* What began the end: main's return, or a host loop's stop. */
static const char *end_cause(const struct green__sched *s)
{
    return s->main.fn || s->cores ? "main returned" : "green_loop_stop was called";
}

static void shutdown_describe(const struct green__wait *w, char *buf, size_t n)
{
    const struct green__sched *s = w->thread->sched;
    snprintf(buf, n, "%s; waiting for %zu green threads to finish", end_cause(s),
             s->nlive - 1);
}

static const struct green__waitop shutdown_op = {
    .unlink = NULL,
    .describe = shutdown_describe,
};

/* Threads still alive this long after main returned and they were
 * cancelled are named, once. */
enum { STUBBORN_MS = 2000 };

static void report_stubborn(struct green__sched *s)
{
    fprintf(stderr, "libgreen: %zu green threads still running %d s after %s "
                    "and they were cancelled; waiting for them:\n",
            s->nlive - 1, STUBBORN_MS / 1000, end_cause(s));
    green__dump(s, stderr);
}

void green__run_cancel_others(struct green__sched *s)
{
    s->shutdown = true;
    for (struct green__node *n = s->all.first; n; n = n->next) {
        green_t *t = green__container_of(n, green_t, all);
        if (t != s->root)
            green__cancel(t);
    }
}

/* Parks the root until it is the only live thread. */
static void wait_for_others(struct green__sched *s)
{
    int64_t report_at = green_now() + STUBBORN_MS;
    while (s->nlive > 1) {
        struct green__wait w = {.op = &shutdown_op};
        if (green__park_shielded_until(s, &w, report_at, ETIMEDOUT) == -ETIMEDOUT) {
            report_stubborn(s);
            report_at = -1;  /* once; then wait as long as they take */
        }
    }
}

/* Frees the threads that finished but were never joined: every one but
 * the root, now. */
static void free_unjoined(struct green__sched *s)
{
    green__reap(s);
    for (struct green__node *n = s->all.first, *next; n; n = next) {
        next = n->next;
        green_t *t = green__container_of(n, green_t, all);
        if (t != s->root)
            green__thread_free(s, t);
    }
}

/* The root of a scheduler but the first of a run: it has no main, and
 * waits for the end, which the first asks for when main returns. */

static void serve_describe(const struct green__wait *w, char *buf, size_t n)
{
    const struct green__sched *s = w->thread->sched;
    if (s->cores)
        snprintf(buf, n, "scheduler %u: waiting for main to return", s->index);
    else
        snprintf(buf, n, "host loop: waiting for green_loop_stop");
}

static const struct green__waitop serve_op = {.unlink = NULL, .describe = serve_describe};

static void serve(struct green__sched *s)
{
    while (!s->shutdown) {
        struct green__wait w = {.op = &serve_op};
        (void)green__park_shielded(s, &w);
    }
}

/* The first asks for the end (an inbox request). */
static void deliver_end(struct green__remote *r)
{
    struct green__sched *s = green__container_of(r, struct green__sched, end_msg);
    green__run_cancel_others(s);
    green__wake(s->root, 0);
}

/* The root thread: runs main (or serves), then ends every other thread;
 * in a run of several schedulers, the scheduler ends with the run. */
static void *root_main(void *unused)
{
    struct green__sched *s = green__cur;
    (void)unused;
    if (s->main.fn) {
        s->main.fn(s->main.arg);
        green__run_cancel_others(s);
        if (s->cores)
            green__cores_end_others(s);
    } else {
        serve(s);
    }
    do
        wait_for_others(s);
    while (s->cores && !green__cores_end(s));
    if (s->cores)
        green__cores_wait_all_ended(s->cores);
    free_unjoined(s);
    return NULL;
}

void green__run_thread_done(struct green__sched *s)
{
    if (s->nlive == 1 && s->root->wait && s->root->wait->op == &shutdown_op)
        green__wake(s->root, 0);
}

/* Between green_run's context and the root. */

void green__run_root_started(struct green__sched *s)
{
    /* The root comes from green_run's stack: remember it for the way back. */
    green__asan_finish(NULL, &s->main.lo, &s->main.size);
}

_Noreturn void green__run_root_done(struct green__sched *s)
{
    green__jump(&s->root->ctx, NULL, &s->main.ctx, s->main.lo, s->main.size, s->main.fiber);
    abort();  /* GCOVR_EXCL_LINE: a finished thread is never resumed */
}

/* fork() in a green thread.
 *
 * The child has one OS thread, the one that forked, and it goes on in the
 * forking green thread, which becomes its scheduler's only thread (and its
 * root: when it returns, green_run returns in the child).  Every other
 * green thread is dropped without running again: its waits are unlinked
 * from what only this process holds (channels, locks, groups) and
 * forgotten where the state is reset or shared (the poller, the pool,
 * queues, signals).  In a run of several schedulers, a wait on an object
 * the run shared leaves it only when its thread runs again, so a dropped
 * thread's record stays queued there: the child must not use such
 * objects (api.md says so).  Its stack stays in the cache's slabs, which green_run
 * unmaps at its end.  The poller and the inbox start again, since their
 * fds (the epoll set, the eventfd) are the parent's too; the offload pool
 * and the signal dispatcher reset themselves the same way. */

static void drop_after_fork(green_t *t)
{
    if (t->state == GREEN__PARKED && !t->wait->op->forgotten_after_fork)
        green__wait_unlink(t->wait);
    t->state = GREEN__FREED;  /* no wake-up reaches it; no call accepts it */
}

static void drop_others_after_fork(struct green__sched *s, green_t *self)
{
    for (struct green__node *n = s->all.first, *next; n; n = next) {
        next = n->next;
        green_t *t = green__container_of(n, green_t, all);
        if (t != self) {
            drop_after_fork(t);
            green__list_remove(&s->all, &t->all);
        }
    }
}

static void after_fork_in_child(void)
{
    struct green__sched *s = green__cur;
    green__stats_after_fork(s ? &s->stats : NULL);
    if (!s)
        return;  /* the forking OS thread runs no scheduler */
    green_t *self = s->current;
    s->poller.forking = true;  /* until green__poller_after_fork below */
    drop_others_after_fork(s, self);
    /* The child has no other scheduler: it runs alone. */
    s->cores = NULL;
    s->index = 0;
    pthread_mutex_init(&s->handles, NULL);
    pthread_mutex_init(&s->stacks.slabs_lock, NULL);  /* maybe held by another OS thread */
    s->timers.n = 0;  /* only the dropped threads had timers */
    s->runq_head = s->runq_tail = s->zombies = NULL;
    s->nrunq = 0;
    s->nthreads = s->nlive = 1;
    s->root = self;
    self->detached = true;
    self->joiner = NULL;
    s->watch.on = false;  /* the child has no watchdog */
    green__inbox_after_fork(&s->inbox);
    (void)green__poller_after_fork(&s->poller);  /* a failure is the broken poller's */
    s->reserved = 0;  /* the new poller has made no room yet */
}

static void at_fork(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

/* Setting the scheduler up and tearing it down. */

/* GREEN_BUDGET: blocking-looking calls in a row that did not park before
 * the next yields first (sched.h, green__budget_take); 0 for no limit. */
enum { BUDGET_DEFAULT = 128 };

static unsigned budget_setting(void)
{
    const char *v = getenv("GREEN_BUDGET");
    char *end;
    if (!v || !*v)
        return BUDGET_DEFAULT;
    int saved = errno;  /* green_run's caller's */
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    /* ERANGE: past a 32-bit long, the number reads as ULONG_MAX, which is
     * UINT_MAX there, not past it. */
    bool range = errno == ERANGE;
    errno = saved;
    if (*end || v[0] == '-' || range || n > UINT_MAX)
        return BUDGET_DEFAULT;
    return n == 0 ? UINT_MAX : (unsigned)n;
}

static int sched_init(struct green__sched *s, bool hosted)
{
    memset(s, 0, sizeof *s);
    s->hosted = hosted;
    s->next_id = 1;
    s->id_step = 1;
    s->round = 1;
    s->budget = s->budget_max = budget_setting();
    pthread_mutex_init(&s->handles, NULL);
    s->errno_at = &errno;
    s->rng = ((uint64_t)green_now() << 20) ^ (uintptr_t)s ^ 0x9e3779b97f4a7c15u;
    green__stack_cache_init(&s->stacks);
    green__inbox_init(&s->inbox);
    int err = green__poller_init(&s->poller, hosted);
    if (err < 0) {
        green__inbox_fini(&s->inbox);
        return err;
    }
    err = green__overflow_enter(&s->overflow);
    if (err < 0) {
        green__poller_fini(&s->poller);
        green__inbox_fini(&s->inbox);
        return err;
    }
    green__stats_start(&s->stats);
    return 0;
}

static void sched_fini(struct green__sched *s)
{
    green__reap(s);
    green__stats_end(&s->stats);  /* before the stacks it may measure go */
    pthread_mutex_destroy(&s->handles);
    green__stack_cache_fini(&s->stacks);
    green__timers_fini(&s->timers);
    green__poller_fini(&s->poller);
    green__inbox_fini(&s->inbox);
    green__overflow_leave(&s->overflow);
}

/* SIGPIPE is blocked while green_run runs, so that writing to a closed
 * peer fails with EPIPE instead of killing the process; the SIGPIPEs such
 * writes raised are discarded before the mask is restored. */
void green__run_block_sigpipe(struct green__sched *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &s->main.saved_mask);
}

void green__run_restore_sigpipe(struct green__sched *s)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (!sigismember(&s->main.saved_mask, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) &&
               sigtimedwait(&set, NULL, &zero) == SIGPIPE)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &s->main.saved_mask, NULL);
}

/* The OS thread leaves the scheduler, which is torn down. */
static void stop(struct green__sched *s)
{
    green__trace_end(s);
    green__cur = NULL;
    sched_fini(s);
}

/* s is scheduler index of the run c: ids unique across the run, and an
 * inbox open for the others' requests. */
static int join_run(struct green__sched *s, struct green__cores *c, unsigned index)
{
    s->cores = c;
    s->index = index;
    s->next_id = index + 1;
    s->id_step = c->n;
    s->inbox.idle_count = &c->idle;
    s->end_msg = (struct green__remote){.deliver = deliver_end};
    s->deadlock_msg = (struct green__remote){.deliver = green__cores_deliver_deadlock};
    green__shared_fds_join(s);
    return green__inbox_open(s);
}

green_t *green__run_start(struct green__sched *s, struct green__cores *c, unsigned index,
                          void *(*main)(void *), void *arg, bool hosted, int *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, at_fork);
    *err = sched_init(s, hosted);
    if (*err == 0 && c && (*err = join_run(s, c, index)) < 0)
        sched_fini(s);
    if (*err < 0)
        return NULL;
    green__trace_start(s);
    /* Before the template: a ucontext switch sets the mask it holds. */
    green__run_block_sigpipe(s);
    green__ctx_template(&s->ctx_template);
    green__cur = s;
    char name[GREEN_NAME_MAX] = "main";
    if (hosted)
        snprintf(name, sizeof name, "host loop");
    else if (!main)
        snprintf(name, sizeof name, "scheduler %u", index);
    green_t *root = green__spawn(s, &(green_attr_t){.name = name}, root_main, NULL, err);
    if (!root) {
        green__run_restore_sigpipe(s);
        stop(s);
        return NULL;
    }
    root->detached = true;  /* nobody joins main */
    s->root = root;
    s->main.fn = main;
    s->main.arg = arg;
    return root;
}

/* Runs the root from green_run's context until every thread has
 * finished. */
static void run_root(struct green__sched *s, green_t *root)
{
    s->main.fiber = green__tsan_current();
    green__watch_start(&s->watch, root);
    green__enter(s, &s->main.ctx, &s->main.fake);
    green__watch_stop(&s->watch);
}

int green__run_sched(struct green__cores *c, unsigned index, void *(*main)(void *), void *arg)
{
    struct green__sched s;
    int err;
    green_t *root = green__run_start(&s, c, index, main, arg, false, &err);
    if (c)  /* every scheduler of the run starts, or none runs */
        err = green__cores_ready(c, root ? &s : NULL, err);
    if (!root)
        return err;
    if (err == 0)
        run_root(&s, root);
    green__run_restore_sigpipe(&s);
    int end = green__run_end(&s);
    return err ? err : end;
}

int green__run_end(struct green__sched *s)
{
    /* Every other thread is freed; only the root's stack is left. */
    green__thread_free(s, s->root);
    stop(s);
    bool deadlocked = s->deadlocked || (s->cores && atomic_load(&s->cores->deadlocked));
    return deadlocked ? -EDEADLK : 0;
}

int green_run(void *(*main)(void *), void *arg)
{
    if (!main)
        return green__fail(EINVAL);
    if (green__cur || green__loop_here())
        return green__fail(EPERM);
    int caller_errno = errno;  /* the green threads' errno is their own */
    int err = green__run_sched(NULL, 0, main, arg);
    if (err < 0)
        return green__fail(-err);
    errno = caller_errno;
    return 0;
}
