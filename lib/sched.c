/*
 * The scheduler: spawning, parking and waking, the run queue.  green_run,
 * which sets a scheduler up, runs its root thread and tears it down, is
 * lib/run.c.
 *
 * There is no scheduler context that green threads bounce through.  A
 * thread that stops running (it parks, yields or finishes) picks the next
 * runnable thread itself and switches straight to it: one switch per
 * handoff.  When nothing is runnable, the stopping thread waits for the
 * poller and timers on its own stack.  green_run's own context is resumed
 * only once, when main and every other green thread have finished.
 */
#include "sched.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cores.h"
#include "local.h"
#include "sanitizer.h"

__thread struct green__sched *green__cur __attribute__((tls_model("initial-exec")));

/* The most dispatches between two looks at the poller and timers. */
#define POLL_EVERY 64

/* Run queue. */

static void runq_push(struct green__sched *s, green_t *t)
{
    t->state = GREEN__RUNNABLE;
    t->next = NULL;
    if (s->runq_tail)
        s->runq_tail->next = t;
    else
        s->runq_head = t;
    s->runq_tail = t;
    s->nrunq++;
}

/* The spawner of an eager thread goes first when the thread stops. */
static void runq_push_front(struct green__sched *s, green_t *t)
{
    t->state = GREEN__RUNNABLE;
    t->next = s->runq_head;
    s->runq_head = t;
    if (!s->runq_tail)
        s->runq_tail = t;
    s->nrunq++;
}

static green_t *runq_pop(struct green__sched *s)
{
    green_t *t = s->runq_head;
    if (t) {
        s->runq_head = t->next;
        if (!s->runq_head)
            s->runq_tail = NULL;
        s->nrunq--;
    }
    return t;
}

/* Freeing finished threads. */

static void thread_free(struct green__sched *s, green_t *t)
{
    struct green__stack stack = t->stack;  /* t lives in it */
    if (t->locals)  /* inherited by a thread that never ran */
        green__locals_free(t);
    if (t->exit_hook)
        t->exit_hook(t, GREEN__EXIT_FREED);
    green__list_remove(&s->all, &t->all);
    s->nthreads--;
    if (s->cores)
        green__across_free(t);
    t->state = GREEN__FREED;
    green__tsan_free(t->tsan_fiber);
    green__stack_put(&s->stacks, &stack);
}

static void reap(struct green__sched *s)
{
    while (s->zombies) {
        green_t *t = s->zombies;
        s->zombies = t->next;
        thread_free(s, t);
    }
}

/* run.c's doors to the two above, which stay static here: the switch
 * path inlines them (an out-of-line reap after every switch cost spawn,
 * run and join 2 to 9% in make bench). */
void green__thread_free(struct green__sched *s, green_t *t)
{
    thread_free(s, t);
}

void green__thread_bury(green_t *t)
{
    t->next = t->sched->zombies;
    t->sched->zombies = t;
}

void green__reap(struct green__sched *s)
{
    reap(s);
}

/* Waiting for the poller and timers. */

static int64_t clamp_timeout(int64_t ms)
{
    return ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : ms;
}

static void fire_timers(struct green__sched *s)
{
    struct green__timer *tm = green__timers_first(&s->timers);
    if (!tm)
        return;
    int64_t now = green_now();
    while ((tm = green__timers_first(&s->timers)) && tm->at <= now) {
        green_t *t = green__container_of(tm, green_t, timer);
        green__wake(t, t->timer_err);
    }
}

/* Lets the poller report ready fds, waiting up to timeout_ms (-1: until
 * one is ready), then fires due timers. */
static void poll_once(struct green__sched *s, int timeout_ms)
{
    green__stats_publish(s);
    if (s->watch.on)
        green__watch_idle(&s->watch, true);
    /* Asleep, a post to the inbox writes its fd, which the poller
     * watches; otherwise it is seen below. */
    bool asleep = timeout_ms != 0 && green__inbox_sleep(&s->inbox);
    if (!asleep && green__inbox_pending(&s->inbox))
        timeout_ms = 0;
    if (green__tracing(s))
        green__trace_poll_begin(s, timeout_ms);
    /* A loop's host watches the poller's fd, which stays readable until
     * the wait takes what made it so, waiters or not. */
    if (green__poller_busy(&s->poller) || s->inbox.waiting > 0 || timeout_ms != 0 ||
        s->hosted) {
        int n = green__poller_wait(&s->poller, timeout_ms);
        green__count(&s->stats.poller_waits);
        if (n > 0)
            green__count_by(&s->stats.poller_events, (uint64_t)n);
    }
    if (asleep)
        green__inbox_awake(&s->inbox);
    if (s->watch.on)
        green__watch_idle(&s->watch, false);
    s->poller.woken = false;
    if (green__inbox_pending(&s->inbox))
        green__inbox_drain(&s->inbox);
    if (green__tracing(s))
        green__trace_poll_timers(s);
    fire_timers(s);
    if (green__tracing(s))
        green__trace_poll_end(s);
    s->since_poll = 0;
    /* Once per round of the run queue, so that I/O cannot be starved by
     * busy threads; but at least every POLL_EVERY dispatches, so that a
     * long run queue does not make timers late. */
    s->round = s->nrunq == 0 ? 1 : s->nrunq < POLL_EVERY ? (unsigned)s->nrunq : POLL_EVERY;
}

/* Whether something of s's own (an fd, a timer, another OS thread's
 * post) can wake one of its threads. */
static bool waits_locally(const struct green__sched *s)
{
    return green__poller_busy(&s->poller) || s->timers.n > 0 || s->inbox.waiting > 0;
}

/* Whether s waits for timers and nothing else of its own. */
static bool only_timers(const struct green__sched *s)
{
    return !green__poller_busy(&s->poller) && s->inbox.waiting == 0;
}

/* In a run of several schedulers: another has posted a request, which
 * the next look at the poller carries out.  One load; a scheduler alone
 * is told of posts through its poller. */
static inline bool requested(struct green__sched *s)
{
    return s->cores && green__inbox_pending(&s->inbox);
}

/* When only green_shield held the cancellation back: a cleanup that
 * waits for ever will never end, so a deadlock breaks the shields. */
static void break_shields(struct green__sched *s)
{
    for (struct green__node *n = s->all.first; n; n = n->next) {
        green_t *t = green__container_of(n, green_t, all);
        if (t->state == GREEN__PARKED && !t->shielded)
            green__wake(t, ECANCELED);
    }
}

bool green__deadlock(struct green__sched *s, bool quiet)
{
    if (!quiet) {
        fprintf(stderr, "libgreen: deadlock: every green thread is parked and "
                        "no fd or timer can wake one\n");
        green__dump(s, stderr);
    }
    s->deadlocked = true;
    size_t woken = s->nrunq;
    for (struct green__node *n = s->all.first; n; n = n->next)
        green__cancel(green__container_of(n, green_t, all));
    if (s->nrunq == woken)
        break_shields(s);
    return s->nrunq != woken;
}

/* Every thread is parked and nothing can wake one: report it, and cancel
 * them all so that they unwind and green_run can return EDEADLK. */
static void deadlock(struct green__sched *s)
{
    if (!green__deadlock(s, false)) {
        /* Only libgreen's own shielded waits could refuse, and the root's
         * wait for the others cannot be the last one parked.  Not
         * reached. */
        /* GCOVR_EXCL_START */
        fprintf(stderr, "libgreen: internal error: deadlock cannot be broken\n");
        abort();
        /* GCOVR_EXCL_STOP */
    }
}

static void hand_back(struct green__sched *s);

/* The next thread to run when that means looking at the poller first:
 * the run queue is empty, or it is time for the periodic look (see
 * poll_once).  May wait for fds and timers. */
static __attribute__((noinline)) green_t *next_thread_slow(struct green__sched *s)
{
    for (;;) {
        if (s->runq_head) {
            /* Not when the poller has just run, as it has after a wait. */
            if ((waits_locally(s) && s->since_poll >= s->round) || requested(s))
                poll_once(s, 0);
            return runq_pop(s);
        }
        if (s->hosted) {
            /* A host loop waits instead (lib/loop.c), deadlock or not: its
             * callbacks may spawn, and its stop ends every wait. */
            poll_once(s, 0);
            if (!s->runq_head)
                hand_back(s);
            continue;
        }
        if (!waits_locally(s)) {
            if (!s->cores) {
                deadlock(s);
                continue;
            }
            /* Only another scheduler can wake one. */
            if (green__cores_spin(s)) {
                poll_once(s, 0);
                continue;
            }
            if (green__cores_idle(s))
                continue;
        } else if (s->cores && only_timers(s) && green__cores_spin(s)) {
            /* Timers are far off next to a request's round trip (a
             * spawn's take-back timer, above all). */
            poll_once(s, 0);
            continue;
        }
        struct green__timer *tm = green__timers_first(&s->timers);
        poll_once(s, tm ? (int)clamp_timeout(tm->at - green_now()) : -1);
        if (s->cores)
            green__inbox_busy(&s->inbox);
    }
}

/* The next thread to run.  When threads are runnable the poller and
 * timers are still looked at every s->round dispatches, so that a busy
 * thread that yields cannot starve the ones waiting for I/O or a timer.
 * The common case, a runnable thread and no look due, stays inline: it is
 * on the path of every switch. */
static inline green_t *next_thread(struct green__sched *s)
{
    if (s->runq_head && (!waits_locally(s) || ++s->since_poll < s->round) && !requested(s))
        return runq_pop(s);
    return next_thread_slow(s);
}

/* Context switches. */

void green__jump(struct green__ctx *from, void **fake, struct green__ctx *to,
                 const void *lo, size_t size, void *fiber)
{
    green__asan_start(fake, lo, size);
    green__tsan_switch(fiber);
    green__ctx_switch(from, to);
    green__asan_finish(fake ? *fake : NULL, NULL, NULL);
}

/* The usable stack below t's struct, which sits at the top of it. */
static size_t stack_below(const green_t *t)
{
    return (size_t)((const char *)t - (const char *)t->stack.lo);
}

/* errno is each green thread's own: it waits on from's stack while from
 * is switched out.  Its address is the OS thread's, so the scheduler
 * keeps it and the switch makes no call to find it. */
static inline __attribute__((always_inline)) void
switch_to(struct green__sched *s, green_t *from, green_t *to)
{
    int saved_errno = *s->errno_at;
    s->current = to;
    to->state = GREEN__RUNNING;
    green__count(&s->stats.switches);
    if (green__tracing(s))
        green__trace_run(s, to);
    if (s->watch.on)
        green__watch_switch(&s->watch, to);
    green__jump(&from->ctx, from->state == GREEN__DONE ? NULL : &from->asan_fake, &to->ctx,
                to->stack.lo, stack_below(to), to->tsan_fiber);
    reap(s);
    *s->errno_at = saved_errno;
}

/* Runs other threads until the running one is runnable again and its
 * turn comes.  Inline in its two callers, the park and the yield: it is
 * the switch path. */
static inline __attribute__((always_inline)) bool suspend_to(struct green__sched *s,
                                                             green_t *self)
{
    green_t *next = next_thread(s);
    if (next != self) {
        switch_to(s, self, next);
        return true;
    }
    self->state = GREEN__RUNNING;
    return false;
}

/* The same, traced: the thread's slice ends here, and when nobody else
 * ran, a new one begins (switch_to begins it otherwise). */
static __attribute__((noinline)) void suspend_traced(struct green__sched *s, green_t *self)
{
    green__trace_stop(s, self);
    if (!suspend_to(s, self))
        green__trace_run(s, self);
}

static inline __attribute__((always_inline)) void suspend(struct green__sched *s)
{
    green_t *self = s->current;
    if (__builtin_expect(~green__sp() > self->sp_low_not, 0))
        green__stack_deeper(self);  /* lib/stackuse.c */
    if (green__tracing(s))
        suspend_traced(s, self);
    else
        suspend_to(s, self);
}

void green__enter(struct green__sched *s, struct green__ctx *from, void **fake)
{
    green_t *t = runq_pop(s);
    s->current = t;
    t->state = GREEN__RUNNING;
    if (green__tracing(s))
        green__trace_run(s, t);
    green__jump(from, fake, &t->ctx, t->stack.lo, stack_below(t), t->tsan_fiber);
}

/* A host loop's scheduler (lib/loop.c): the thread that found nothing
 * to run hands the OS thread back to green_loop_run's caller, and goes on
 * looking when green__resume switches back to it.  It may have finished:
 * its stack is freed only after it has switched to the next thread. */
static void hand_back(struct green__sched *s)
{
    green_t *self = s->current;
    bool asleep = green__inbox_sleep(&s->inbox);
    if (!asleep && green__inbox_pending(&s->inbox))
        return;  /* a post came: take it first */
    int saved_errno = *s->errno_at;
    s->host_waiter = self;
    s->host_blind = green__poller_host_fd(&s->poller) < 0;
    if (s->watch.on)
        green__watch_idle(&s->watch, true);
    green__jump(&self->ctx, &self->asan_fake, &s->main.ctx, s->main.lo, s->main.size,
                s->main.fiber);
    if (s->watch.on)
        green__watch_idle(&s->watch, false);
    *s->errno_at = saved_errno;
    if (asleep)
        green__inbox_awake(&s->inbox);
}

bool green__resume(struct green__sched *s, struct green__ctx *from, void **fake)
{
    green_t *t = s->host_waiter;
    if (!t && !s->runq_head)
        return false;
    if (!t) {
        green__enter(s, from, fake);
        return true;
    }
    s->host_waiter = NULL;
    s->current = t;
    green__jump(from, fake, &t->ctx, t->stack.lo, stack_below(t), t->tsan_fiber);
    return true;
}

/* Parking and waking. */

void green__budget_spent(struct green__sched *s)
{
    runq_push(s, s->current);
    suspend(s);
    s->budget = s->budget_max;  /* the others have had their turn */
    if (s->watch.on)
        green__watch_idle(&s->watch, false);  /* a yield is no stall */
}

int green__cancelled(struct green__sched *s)
{
    runq_push(s, s->current);
    suspend(s);
    if (s->watch.on)
        green__watch_idle(&s->watch, false);  /* a yield is no stall */
    return -ECANCELED;
}

/* The running thread, made runnable by a timed wake-up, runs again
 * (lib/metrics.h).  Timed here, on the parker's way back, and not at
 * every switch. */
static __attribute__((noinline)) void woke(struct green__sched *s, green_t *self)
{
    green__hist_add(&s->stats.wake_delay, (uint64_t)(green__now_ns() - self->woken_ns));
    self->woken_ns = 0;
}

static int park(struct green__sched *s, struct green__wait *w, int64_t until,
                int timer_err, bool shielded)
{
    green_t *self = s->current;
    w->thread = self;
    if (green__cancel_due(self) && !shielded) {
        green__wait_unlink(w);
        return green__cancelled(s);
    }
    if (until >= 0) {
        /* A deadline that has passed fails the call at once.  A timer that
         * ends the wait normally (a sleep) is queued even when its time has
         * passed, so that sleepers wake in the order of their times. */
        if (timer_err && until <= green_now()) {
            green__wait_unlink(w);
            return -timer_err;
        }
        self->timer.at = until;
        green__timers_add(&s->timers, &self->timer);
        green__count(&s->stats.timers_armed);
    }
    green__count(&s->stats.parks[w->op->kind]);
    self->wait = w;
    self->shielded = shielded;
    self->timer_err = timer_err;
    self->state = GREEN__PARKED;
    suspend(s);
    self->wait = NULL;
    if (__builtin_expect(self->woken_ns != 0, 0))
        woke(s, self);
    return -self->wake_err;
}

int green__park(struct green__sched *s, struct green__wait *w, int64_t until, int timer_err)
{
    return park(s, w, until, timer_err, false);
}

int green__park_shielded(struct green__sched *s, struct green__wait *w)
{
    return park(s, w, -1, 0, true);
}

int green__park_shielded_until(struct green__sched *s, struct green__wait *w, int64_t until,
                               int timer_err)
{
    return park(s, w, until, timer_err, true);
}

void green__wake(green_t *t, int err)
{
    if (t->state != GREEN__PARKED)
        return;
    struct green__sched *s = t->sched;
    if (green__tracing(s))
        green__trace_wake(s, t, err);
    t->wake_err = err;  /* before unlink, which may look at why */
    green__wait_unlink(t->wait);
    green__timers_remove(&s->timers, &t->timer);
    runq_push(s, t);
    if (green__stats_woken(&s->stats))
        t->woken_ns = green__now_ns();
}

void green__cancel(green_t *t)
{
    if (t->state == GREEN__DONE || t->state == GREEN__FREED)
        return;
    t->cancelled = true;
    if (t->state == GREEN__PARKED && !t->shielded && !t->shield)
        green__wake(t, ECANCELED);
}

/* Queues of parked threads, for the synchronisation objects. */

static struct green__queued *enqueue(struct green__list *queue, struct green__queued *q,
                                     const struct green__waitop *op, const void *obj)
{
    *q = (struct green__queued){.wait.op = op, .queue = queue, .obj = obj};
    green__list_push(queue, &q->node);
    return q;
}

int green__queue_park(struct green__sched *s, struct green__list *queue,
                      const struct green__waitop *op, const void *obj,
                      int64_t until, int timer_err)
{
    struct green__queued q;
    return green__park(s, &enqueue(queue, &q, op, obj)->wait, until, timer_err);
}

int green__queue_park_shielded(struct green__sched *s, struct green__list *queue,
                               const struct green__waitop *op, const void *obj)
{
    struct green__queued q;
    return green__park_shielded(s, &enqueue(queue, &q, op, obj)->wait);
}

int green__queue_wait(struct green__list *queue, const struct green__waitop *op,
                      const void *obj)
{
    struct green__sched *s = green__cur;
    return green__queue_park(s, queue, op, obj, s->current->deadline, ETIMEDOUT);
}

green_t *green__queue_first(const struct green__list *queue)
{
    if (!queue->first)
        return NULL;
    return green__container_of(queue->first, struct green__queued, node)->wait.thread;
}

void green__queue_unlink(struct green__wait *w)
{
    struct green__queued *q = green__container_of(w, struct green__queued, wait);
    green__list_remove(q->queue, &q->node);
}

void green__queue_wake_all(struct green__list *queue, int err)
{
    green_t *t;
    while ((t = green__queue_first(queue)) != NULL)
        green__wake(t, err);
}

uint64_t green__random(struct green__sched *s)
{
    /* xorshift64: fair enough for choosing among ready cases. */
    uint64_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return s->rng = x;
}

/* Starting and finishing threads. */

static _Noreturn void thread_exit(struct green__sched *s, green_t *self);
static inline void wake_joiner(green_t *t);

static void thread_entry(void)
{
    struct green__sched *s = green__cur;
    green_t *self = s->current;
    if (self == s->root)
        green__run_root_started(s);
    else
        green__asan_finish(NULL, NULL, NULL);
    reap(s);
    *s->errno_at = 0;  /* as a new pthread's */
    self->result = self->fn(self->arg);
    if (self->locals)
        green__locals_end(self);
    thread_exit(s, self);
}

static _Noreturn void thread_exit(struct green__sched *s, green_t *self)
{
    self->state = GREEN__DONE;
    s->nlive--;
    bool detached;
    if (s->cores) {
        atomic_store_explicit(&s->load, s->nlive, memory_order_relaxed);
        green__lock_handles(s);
        /* A joiner elsewhere is told by across_exit, once its record is
         * there; until then it is running, not parked here. */
        if (!green__across_exit(self) && self->joiner && self->joiner->sched == s)
            wake_joiner(self);
        detached = self->detached;
        green__unlock_handles(s);
    } else {
        detached = self->detached;
        if (self->joiner)
            wake_joiner(self);
    }
    if (self->exit_hook)
        self->exit_hook(self, GREEN__EXIT_DONE);
    if (self == s->root)
        green__run_root_done(s);
    green__run_thread_done(s);
    if (green__tracing(s))
        green__trace_stop(s, self);
    if (detached) {
        self->next = s->zombies;
        s->zombies = self;
    }
    switch_to(s, self, next_thread(s));
    abort();  /* GCOVR_EXCL_LINE: a finished thread is never resumed */
}

static int check_attr(const green_attr_t *attr, size_t *size)
{
    *size = attr && attr->stack_size ? attr->stack_size : GREEN_STACK_DEFAULT;
    if (*size < GREEN_STACK_MIN || *size > GREEN_STACK_MAX)
        return -EINVAL;
    if (attr && attr->name && strlen(attr->name) >= GREEN_NAME_MAX)
        return -EINVAL;
    return 0;
}

/* Room in the timers and the poller for every thread, so that parking
 * never allocates: made ahead, doubling, so that a spawn seldom asks. */
static __attribute__((noinline)) int reserve_more(struct green__sched *s)
{
    size_t n = s->reserved ? 2 * s->reserved : 64;
    if (green__timers_reserve(&s->timers, n) < 0 || s->poller.ops->reserve(&s->poller, n) < 0)
        return -ENOMEM;
    s->reserved = n;
    return 0;
}

/* The struct sits at the top of the stack, aligned for anything. */
static green_t *thread_place(const struct green__stack *st)
{
    uintptr_t top = (uintptr_t)st->lo + st->size;
    return (green_t *)((top - sizeof(green_t)) & ~(uintptr_t)63);
}

/* Zeroes what spawn must, the fields before ctx, in blocks of 64 bytes:
 * whole, x86-64's gcc makes it a rep stos, whose start-up cost some 30
 * cycles of every spawn; a block that small it stores inline. */
static inline void zero_fields(green_t *t)
{
    char *p = (char *)t;
    size_t n = offsetof(green_t, ctx);
    for (; n >= 64; n -= 64, p += 64)
        memset(p, 0, 64);
    memset(p, 0, n);
}

static green_t *spawn(struct green__sched *s, const green_t *parent, const green_attr_t *attr,
                      void *(*fn)(void *), void *arg, int *err)
{
    size_t size;
    struct green__stack st;
    if (!fn)
        *err = -EINVAL;
    else if ((*err = check_attr(attr, &size)) != 0)
        ;
    else if (s->nthreads >= s->reserved && reserve_more(s) < 0)
        *err = -ENOMEM;
    else  /* -EAGAIN when no stack can be mapped, -ENOMEM for its bookkeeping */
        *err = green__stack_get(&s->stacks, size + sizeof(green_t) + 64, &st);
    if (*err)
        return NULL;

    green_t *t = thread_place(&st);
    zero_fields(t);
    t->locals = NULL;
    if (parent && parent->locals && (*err = green__locals_inherit(t, parent)) < 0) {
        green__stack_put(&s->stacks, &st);
        return NULL;
    }
    t->sched = s;
    t->stack = st;
    t->fn = fn;
    t->arg = arg;
    t->id = s->next_id;
    s->next_id += s->id_step;
    t->deadline = -1;
    t->cancelled = s->shutdown;
    t->name[0] = '\0';
    if (attr && attr->name)
        strcpy(t->name, attr->name);
    if (green__tracing(s))
        green__trace_spawn(s, t);
    green__ctx_make(&t->ctx, &s->ctx_template, st.lo, stack_below(t), thread_entry);
    t->tsan_fiber = green__tsan_new();
    green__list_push(&s->all, &t->all);
    s->nthreads++;
    s->nlive++;
    green__count(&s->stats.spawned);
    if (s->cores)
        atomic_store_explicit(&s->load, s->nlive, memory_order_relaxed);
    return t;
}

/* A new thread goes to the back of the run queue; an eager one runs at
 * once, like a call, and its spawner right after it stops. */
static void start(struct green__sched *s, green_t *t, bool eager)
{
    if (eager && s->current) {
        green_t *self = s->current;
        runq_push_front(s, self);
        switch_to(s, self, t);
    } else {
        runq_push(s, t);
    }
}

green_t *green__spawn_then(struct green__sched *s, const green_t *parent,
                           const green_attr_t *attr, void *(*fn)(void *), void *arg,
                           void (*link)(green_t *t, void *ctx), void *ctx, int *err)
{
    if (!s) {
        *err = -EPERM;
        return NULL;
    }
    green_t *t = spawn(s, parent, attr, fn, arg, err);
    if (t) {
        if (link)
            link(t, ctx);
        start(s, t, attr && attr->eager);
    }
    return t;
}

green_t *green__spawn(struct green__sched *s, const green_attr_t *attr,
                      void *(*fn)(void *), void *arg, int *err)
{
    if (!s) {
        *err = -EPERM;
        return NULL;
    }
    green_t *t = spawn(s, NULL, attr, fn, arg, err);
    if (t)
        start(s, t, false);
    return t;
}

/* The scheduler attr places a new thread on, or NULL with -errno. */
static struct green__sched *place(struct green__sched *s, const green_attr_t *attr, int *err)
{
    int at = attr ? attr->place : GREEN_PLACE_HERE;
    size_t n = s->cores ? s->cores->n : 1;
    if (at == GREEN_PLACE_HERE)
        return s;
    if (at == GREEN_PLACE_ANY)
        return s->cores ? green__cores_pick(s) : s;
    if (at < GREEN_PLACE_ANY || (size_t)at > n) {
        *err = -EINVAL;
        return NULL;
    }
    return s->cores ? s->cores->scheds[at - 1] : s;
}

/* Placed elsewhere or eager: off the common path. */
__attribute__((noinline)) green_t *green__spawn_placed(struct green__sched *s,
                                                       const green_attr_t *attr,
                                                       void *(*fn)(void *), void *arg,
                                                       void (*link)(green_t *t, void *ctx),
                                                       void *ctx, int *err)
{
    struct green__sched *on = place(s, attr, err);
    return on == s ? green__spawn_then(s, s->current, attr, fn, arg, link, ctx, err)
         : on ? green__across_spawn(s, on, attr, fn, arg, link, ctx, err) : NULL;
}

green_t *green_spawn_attr(const green_attr_t *attr, void *(*fn)(void *), void *arg)
{
    int err = -EPERM;
    struct green__sched *s = green__cur;
    green_t *t = NULL;
    if (s && attr && (attr->place != GREEN_PLACE_HERE || attr->eager)) {
        t = green__spawn_placed(s, attr, fn, arg, NULL, NULL, &err);
    } else if (s && (t = spawn(s, s->current, attr, fn, arg, &err)) != NULL) {
        runq_push(s, t);
    }
    if (!t)
        errno = -err;
    return t;
}

green_t *green_spawn(void *(*fn)(void *), void *arg)
{
    return green_spawn_attr(NULL, fn, arg);
}

/* Joining and detaching. */

/* A join parks on this, and the joinee's joiner field points back. */
struct joinwait {
    struct green__wait wait;
    green_t *target;
};

static void join_describe(const struct green__wait *w, char *buf, size_t n)
{
    const green_t *t = green__container_of(w, struct joinwait, wait)->target;
    snprintf(buf, n, "join #%llu '%s'", (unsigned long long)t->id, t->name);
}

/* Nothing to unlink: the claim (t->joiner) outlives the wait, until the
 * joiner frees t or gives the claim up. */
static const struct green__waitop join_op = {
    .unlink = NULL,
    .describe = join_describe,
    .kind = GREEN__WAIT_JOIN,
};

/* t finished: its joiner wakes, if it is parked joining t (a gather has
 * claimed several threads and joins them one at a time). */
static inline __attribute__((always_inline)) void wake_joiner(green_t *t)
{
    green_t *j = t->joiner;
    if (j->state == GREEN__PARKED &&
        ((j->wait->op == &join_op &&
          green__container_of(j->wait, struct joinwait, wait)->target == t) ||
         j->wait->op->ends_at_join))
        green__wake(j, 0);
}

/* Whether t is a live handle of this scheduler's.  A handle used after
 * its thread was joined or reaped is caught while its stack is cached,
 * which pthreads does not do; past that it is undefined, as there. */
static int check_handle(const struct green__sched *s, const green_t *t)
{
    if (!s)
        return -EPERM;
    if (!t || t->sched != s || t->state == GREEN__FREED)
        return -EINVAL;
    return 0;
}

static bool joinable(const green_t *t)
{
    return !t->detached && !t->joiner;
}

int green__check_join(const struct green__sched *s, const green_t *t)
{
    int err = check_handle(s, t);
    if (err < 0)
        return err;
    if (t == s->current)
        return -EDEADLK;
    return joinable(t) ? 0 : -EINVAL;
}

void green__claim(struct green__sched *s, green_t *t)
{
    t->joiner = s->current;
}

int green__join(struct green__sched *s, green_t *t, void **result, bool shielded)
{
    green_t *self = s->current;
    if (t->state != GREEN__DONE) {
        struct joinwait jw = {.wait.op = &join_op, .target = t};
        int err = shielded ? green__park_shielded(s, &jw.wait)
                           : green__park(s, &jw.wait, self->deadline, ETIMEDOUT);
        if (err < 0)
            return err;
    }
    if (result)
        *result = t->result;
    thread_free(s, t);
    return 0;
}

bool green__elsewhere(const struct green__sched *s, const green_t *t)
{
    return s && s->cores && t && t->sched != s && t->sched->cores == s->cores;
}

/* Checks t for a join and claims it, in one step under the lock: another
 * scheduler may detach or join it meanwhile. */
static inline int check_and_claim(struct green__sched *s, green_t *t)
{
    if (!s)
        return -EPERM;
    green__lock_handles(s);
    int err = green__check_join(s, t);
    if (err == 0)
        green__claim(s, t);
    green__unlock_handles(s);
    return err;
}

int green__check_and_claim(struct green__sched *s, green_t *t)
{
    return check_and_claim(s, t);
}

int green_join(green_t *t, void **result)
{
    struct green__sched *s = green__cur;
    int err;
    if (green__elsewhere(s, t))
        err = green__across_join(s, t, result);
    else if ((err = check_and_claim(s, t)) == 0 && (err = green__join(s, t, result, false)) < 0) {
        green__lock_handles(s);
        t->joiner = NULL;  /* it may be joined again */
        green__unlock_handles(s);
    }
    return err < 0 ? green__fail(-err) : 0;
}

int green_detach(green_t *t)
{
    struct green__sched *s = green__cur;
    if (green__elsewhere(s, t)) {
        int err = green__across_detach(t);
        return err < 0 ? green__fail(-err) : 0;
    }
    int err = check_handle(s, t);
    if (err < 0)
        return green__fail(-err);
    green__lock_handles(s);
    bool done = t->state == GREEN__DONE;
    if (!joinable(t))
        err = -EINVAL;
    else if (done)
        t->joiner = s->current;  /* claimed, for the free below */
    else
        t->detached = true;
    green__unlock_handles(s);
    if (err < 0)
        return green__fail(-err);
    if (done)
        thread_free(s, t);
    return 0;
}

int green_cancel(green_t *t)
{
    struct green__sched *s = green__cur;
    if (green__elsewhere(s, t)) {
        int err = green__across_cancel(t);
        return err < 0 ? green__fail(-err) : 0;
    }
    int err = check_handle(s, t);
    if (err < 0)
        return green__fail(-err);
    green__cancel(t);
    return 0;
}

/* The running thread. */

int green_yield(void)
{
    struct green__sched *s = green__cur;
    if (!s) {
        sched_yield();
        return 0;
    }
    runq_push(s, s->current);
    suspend(s);
    if (s->watch.on)
        green__watch_idle(&s->watch, false);  /* a yield is no stall */
    /* Others have run first: a loop of yields that ignores the answer
     * still lets them. */
    return green__cancel_due(s->current) ? green__fail(ECANCELED) : 0;
}

int green_checkpoint(void)
{
    struct green__sched *s = green__cur;
    if (!s)
        return 0;
    green_t *self = s->current;
    if (green__cancel_due(self))
        return green__fail(-green__cancelled(s));
    if (self->deadline >= 0 && green_now() >= self->deadline)
        return green__fail(ETIMEDOUT);
    return 0;
}

int green_shield(int on)
{
    struct green__sched *s = green__cur;
    if (!s)
        return green__fail(EPERM);
    green_t *self = s->current;
    int was = self->shield;
    self->shield = on != 0;
    return was;
}

green_t *green_self(void)
{
    struct green__sched *s = green__cur;
    if (!s) {
        errno = EPERM;
        return NULL;
    }
    return s->current;
}

const char *green_name(const green_t *t)
{
    if (!t) {
        errno = EINVAL;
        return NULL;
    }
    return t->name;
}

uint64_t green_id(const green_t *t)
{
    if (!t) {
        errno = EINVAL;
        return 0;
    }
    return t->id;
}
