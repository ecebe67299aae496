/*
 * Groups and gather: structured concurrency.
 *
 * A group counts the members it spawned that are still running and keeps
 * a list of those not yet freed.  Members are ordinary green threads: join
 * one to get its result, or detach it.  Waiting for a group that is cut
 * short (deadline, cancellation) cancels the members and waits for them
 * before it returns, so no member outlives its group unnoticed.
 *
 * A member may say it failed (green_group_fail).  The group keeps each
 * failure, in the order they came, with room for one per member made at
 * its spawn, so that recording one cannot fail; the first since a wait
 * last reported one cancels the other members, and the wait reports it
 * once they have all finished.  Finished members also queue, in the order
 * they finished, for green_group_next to hand out.
 *
 * A group made in a run of several schedulers may be used from any of
 * them, and its members placed on any: its state changes under its spin
 * lock, its waits are shared ones (lib/shared_wait.c), each member's
 * handle record for other schedulers is made before it is spawned (so
 * that cancelling or freeing it from elsewhere cannot fail), and members
 * elsewhere tell it from their own scheduler when they finish and when
 * they are freed.  Freed while members elsewhere are not yet, the group
 * goes with the last of them.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "spin.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

struct green_group {
    struct green__sched *sched;   /* the scheduler it was made on */
    struct green__cores *run;     /* its run of several schedulers, or NULL
                                     (kept: a member may outlive sched) */
    struct green__list members;   /* spawned and not yet freed */
    size_t running;               /* members not yet finished, or being spawned */
    struct green__list waiters;   /* threads in green_group_wait */
    size_t nmembers;              /* in members */
    /* Failures not yet taken by green_group_failures, oldest first, with
     * room for one more per member. */
    green_failure_t *failures;
    size_t nfailures, cap;
    int first;                    /* the first failure no wait has reported
                                     yet, or 0 */
    struct green__list done;      /* finished members not yet handed out,
                                     in the order they finished */
    struct green__list nexters;   /* threads in green_group_next */
    /* In a run of several schedulers: */
    int lock;
    bool freed;                   /* green_group_free came: the last member frees it */
};

static void group_describe(const struct green__wait *w, char *buf, size_t n)
{
    const struct green_group *g = green__queued_of(w)->obj;
    /* Read atomically: in a run, a member elsewhere may be finishing. */
    snprintf(buf, n, "group %p (%zu running)", (const void *)g,
             __atomic_load_n(&g->running, __ATOMIC_RELAXED));
}

/* Under the lock: running moves by delta (stored atomically for
 * group_describe, a plain store where it compiles); the new count. */
static size_t add_running(green_group_t *g, int delta)
{
    size_t n = g->running + (size_t)(ptrdiff_t)delta;
    __atomic_store_n(&g->running, n, __ATOMIC_RELAXED);
    return n;
}

static const struct green__waitop group_op = {
    .unlink = green__queue_unlink,
    .describe = group_describe,
    .kind = GREEN__WAIT_JOIN,
};

static bool in_run(const green_group_t *g)
{
    return g->run != NULL;
}

static void lock(green_group_t *g)
{
    if (in_run(g))
        green__spin_lock(&g->lock);
}

static void unlock(green_group_t *g)
{
    if (in_run(g))
        green__spin_unlock(&g->lock);
}

/* Under the lock. */
static void wake_all(green_group_t *g, struct green__list *queue)
{
    if (!in_run(g))
        green__queue_wake_all(queue, 0);
    else
        while (green__shared_wake_first(queue))
            ;
}

static void wake_waiters(green_group_t *g)
{
    wake_all(g, &g->waiters);
}

/* Under the lock. */
static void member_freed(green_t *t)
{
    struct green_group *g = t->group;
    green__list_remove(&g->members, &t->group_node);
    g->nmembers--;
    if (t->in_done)
        green__list_remove(&g->done, &t->done_node);
    t->in_done = false;
    t->group = NULL;
    t->exit_hook = NULL;
}

/* Under the lock: t has finished; it waits for green_group_next. */
static void member_done(green_group_t *g, green_t *t)
{
    green__list_push(&g->done, &t->done_node);
    t->in_done = true;
    wake_all(g, &g->nexters);
}

static void group_free(green_group_t *g)
{
    free(g->failures);
    free(g);
}

/* A member's scheduler tells its group when it finishes and when it is
 * freed. */
static void member_exit(green_t *t, enum green__exit how)
{
    struct green_group *g = t->group;
    lock(g);
    bool last = false;
    if (how == GREEN__EXIT_FREED) {
        member_freed(t);
        last = g->freed && green__list_empty(&g->members);
    } else {
        member_done(g, t);
        if (add_running(g, -1) == 0)
            wake_waiters(g);
    }
    unlock(g);
    if (last)
        group_free(g);
}

/* The calls on g: from its scheduler, or any of its run's. */
static int check_group(const struct green__sched *s, const green_group_t *g)
{
    if (!s)
        return -EPERM;
    if (!g)
        return -EINVAL;
    return g->sched == s || (s->cores && g->run == s->cores) ? 0 : -EXDEV;
}

green_group_t *green_group_new(void)
{
    struct green__sched *s = green__cur;
    if (!s) {
        errno = EPERM;
        return NULL;
    }
    green_group_t *g = calloc(1, sizeof *g);
    if (!g) {
        errno = ENOMEM;
        return NULL;
    }
    g->sched = s;
    g->run = s->cores;
    return g;
}

/* What a member's spawn hands to link_member. */
struct joining {
    green_group_t *g;
    struct green__shared *xs;     /* in a run: its handle's record */
};

/* Before the new member can run (an eager one runs at once), on the
 * scheduler it was placed on; g counts it as running already. */
static void link_member(green_t *t, void *ctx)
{
    struct joining *j = ctx;
    if (j->xs)
        green__across_adopt(t, j->xs);
    lock(j->g);
    t->group = j->g;
    t->exit_hook = member_exit;
    t->in_done = t->group_failed = false;  /* not zeroed at spawn */
    green__list_push(&j->g->members, &t->group_node);
    j->g->nmembers++;
    unlock(j->g);
}

/* Under the lock: room for one failure more per member, the one about to
 * be spawned too.  0 or -ENOMEM. */
static int make_room(green_group_t *g)
{
    size_t need = g->nfailures + g->nmembers + 1;
    if (need <= g->cap)
        return 0;
    size_t cap = 2 * need;  /* need grows by one a spawn */
    green_failure_t *f = realloc(g->failures, cap * sizeof *f);
    if (!f)
        return -ENOMEM;
    g->failures = f;
    g->cap = cap;
    return 0;
}

green_t *green_group_spawn_attr(green_group_t *g, const green_attr_t *attr,
                                void *(*fn)(void *), void *arg)
{
    struct green__sched *s = green__cur;
    int err = check_group(s, g);
    struct joining j = {.g = g};
    if (err == 0 && in_run(g) && !(j.xs = green__across_make()))
        err = -ENOMEM;
    if (err < 0) {
        errno = -err;
        return NULL;
    }
    /* Counted before it is spawned: a wait meanwhile waits for it too. */
    lock(g);
    err = make_room(g);
    if (err == 0)
        add_running(g, 1);
    unlock(g);
    if (err < 0) {
        green__across_unmade(j.xs);
        errno = -err;
        return NULL;
    }
    green_t *t = attr && (attr->place != GREEN_PLACE_HERE || attr->eager)
                     ? green__spawn_placed(s, attr, fn, arg, link_member, &j, &err)
                     : green__spawn_then(s, s->current, attr, fn, arg, link_member, &j, &err);
    if (!t) {
        green__across_unmade(j.xs);
        lock(g);
        if (add_running(g, -1) == 0)
            wake_waiters(g);
        unlock(g);
        errno = -err;
    }
    return t;
}

green_t *green_group_spawn(green_group_t *g, void *(*fn)(void *), void *arg)
{
    return green_group_spawn_attr(g, NULL, fn, arg);
}

/* Under the lock: every member but except. */
static void cancel_locked(struct green__sched *s, green_group_t *g, const green_t *except)
{
    for (struct green__node *n = g->members.first; n; n = n->next) {
        green_t *t = green__container_of(n, green_t, group_node);
        if (t == except)
            continue;
        if (t->sched == s)
            green__cancel(t);
        else
            (void)green__across_cancel(t);  /* its record is made: cannot fail */
    }
}

static void cancel_members(struct green__sched *s, green_group_t *g)
{
    lock(g);
    cancel_locked(s, g, NULL);
    unlock(g);
}

/* Under the lock: parks on queue until a member finishes, or the wait is
 * cut short; with the lock held again on return. */
static int park_on(struct green__sched *s, green_group_t *g, struct green__list *queue,
                   bool shielded)
{
    if (in_run(g))
        return green__shared_park(s, &g->lock, queue, &group_op, g, shielded);
    if (shielded)
        return green__queue_park_shielded(s, queue, &group_op, g);
    return green__queue_park(s, queue, &group_op, g, s->current->deadline, ETIMEDOUT);
}

static int wait_once(struct green__sched *s, green_group_t *g, bool shielded)
{
    return park_on(s, g, &g->waiters, shielded);
}

/* Waits until every member has finished, whatever the deadline or
 * cancellation say. */
static void wait_shielded(struct green__sched *s, green_group_t *g)
{
    lock(g);
    while (g->running > 0)
        (void)wait_once(s, g, true);
    unlock(g);
}

int green_group_cancel(green_group_t *g)
{
    struct green__sched *s = green__cur;
    int err = check_group(s, g);
    if (err < 0)
        return green__fail(-err);
    cancel_members(s, g);
    return 0;
}

int green_group_wait(green_group_t *g)
{
    struct green__sched *s = green__cur;
    int err = check_group(s, g);
    if (err < 0)
        return green__fail(-err);
    green_t *self = s->current;
    if (self->group == g)
        return green__fail(EDEADLK);  /* it would wait for itself */
    lock(g);
    while (g->running > 0 && err == 0)
        err = wait_once(s, g, false);
    unlock(g);
    if (err < 0) {
        cancel_members(s, g);
        wait_shielded(s, g);
    }
    /* Reported once; green_group_failures keeps every one. */
    lock(g);
    int first = g->first;
    g->first = 0;
    unlock(g);
    return err < 0 ? green__fail(-err) : first ? green__fail(first) : 0;
}

int green_group_fail(int err)
{
    struct green__sched *s = green__cur;
    if (!s)
        return green__fail(EPERM);
    green_t *self = s->current;
    green_group_t *g = self->group;
    if (err <= 0 || !g)
        return green__fail(EINVAL);
    /* A call that failed because the member was cancelled (by the
     * group's first failure, say) is no failure of its own. */
    if (err == ECANCELED && self->cancelled)
        return 0;
    lock(g);
    if (!self->group_failed) {
        self->group_failed = true;
        g->failures[g->nfailures++] = (green_failure_t){self->id, err};  /* room made */
        if (g->first == 0) {
            g->first = err;
            cancel_locked(s, g, self);
        }
    }
    unlock(g);
    return 0;
}

ssize_t green_group_failures(green_group_t *g, green_failure_t *out, size_t n)
{
    int err = check_group(green__cur, g);
    if (err == 0 && n && !out)
        err = -EINVAL;
    if (err < 0)
        return green__fail(-err);
    lock(g);
    size_t k = n < g->nfailures ? n : g->nfailures;
    if (n == 0) {
        k = g->nfailures;  /* how many wait, taking none */
    } else {
        memcpy(out, g->failures, k * sizeof *out);
        memmove(g->failures, g->failures + k, (g->nfailures - k) * sizeof *out);
        g->nfailures -= k;
    }
    unlock(g);
    return (ssize_t)k;
}

/* Under the lock: the first finished member still to be joined, taken
 * off the list; NULL when there is none.  A detached one is passed over:
 * its scheduler frees it. */
static green_t *take_done(green_group_t *g)
{
    while (!green__list_empty(&g->done)) {
        green_t *t = green__container_of(g->done.first, green_t, done_node);
        green__list_remove(&g->done, &t->done_node);
        t->in_done = false;
        green__lock_handles(t->sched);
        bool joinable = !t->detached && !t->joiner;
        green__unlock_handles(t->sched);
        if (joinable)
            return t;
    }
    return NULL;
}

green_t *green_group_next(green_group_t *g)
{
    struct green__sched *s = green__cur;
    int err = check_group(s, g);
    if (err == 0 && s->current->group == g)
        err = -EDEADLK;  /* it may be the one it waits for */
    if (err < 0) {
        errno = -err;
        return NULL;
    }
    lock(g);
    green_t *t;
    while (!(t = take_done(g)) && err == 0)
        err = g->running > 0 ? park_on(s, g, &g->nexters, false) : -ECHILD;
    unlock(g);
    if (!t)
        errno = -err;
    return t;
}

/* Under the lock: takes the running thread out of its own group, which
 * it is freeing. */
static void leave(green_group_t *g, green_t *self)
{
    if (self->group != g)
        return;
    member_freed(self);
    add_running(g, -1);
}

/* Under the lock, every member finished: frees t, a member, unless
 * someone else will (a joiner, or its scheduler for a detached one); t
 * only leaves the group then.  A member elsewhere is detached instead,
 * freed by its scheduler, and leaves the group from there. */
static void free_member(struct green__sched *s, green_t *t)
{
    if (t->sched != s) {
        (void)green__across_detach(t);  /* -EINVAL: someone else's */
        return;
    }
    green__lock_handles(s);
    bool ours = !t->detached && !t->joiner;
    if (ours)
        green__claim(s, t);  /* in the same step: another scheduler may join it */
    green__unlock_handles(s);
    member_freed(t);
    if (ours)
        (void)green__join(s, t, NULL, true);
}

void green_group_free(green_group_t *g)
{
    struct green__sched *s = green__cur;
    if (!g)
        return;
    if (check_group(s, g) < 0) {
        /* Outside its green_run every member is long gone (green_run frees
         * them all); from another OS thread nothing can safely be done. */
        if (green__list_empty(&g->members))
            group_free(g);
        return;
    }
    lock(g);
    leave(g, s->current);
    unlock(g);
    cancel_members(s, g);
    wait_shielded(s, g);
    lock(g);
    g->freed = true;
    struct green__node *n = g->members.first;
    while (n) {
        green_t *t = green__container_of(n, green_t, group_node);
        n = n->next;
        free_member(s, t);
    }
    bool last = green__list_empty(&g->members);
    unlock(g);
    if (last)
        group_free(g);
}

/* gather */

/* Claims t for the running thread's gather, on t's own scheduler's lock:
 * 0, -EINVAL (not joinable, or listed twice), -ENOMEM. */
static int claim_one(struct green__sched *s, green_t *t)
{
    if (green__elsewhere(s, t))
        return green__across_claim(s, t);
    return green__check_and_claim(s, t);
}

static void unclaim_one(struct green__sched *s, green_t *t)
{
    if (green__elsewhere(s, t)) {
        green__across_unclaim(t);
        return;
    }
    green__lock_handles(s);
    t->joiner = NULL;
    green__unlock_handles(s);
}

/* Checks every thread and claims it for this gather, so that a thread
 * listed twice is refused as if another join had it. */
static int check_gather(struct green__sched *s, green_t **threads, size_t n)
{
    if (!s)
        return -EPERM;
    if (n && !threads)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int err = claim_one(s, threads[i]);
        if (err < 0) {
            while (i-- > 0)
                unclaim_one(s, threads[i]);
            return err;
        }
    }
    return 0;
}

static int join_one(struct green__sched *s, green_t *t, void **result, bool shielded)
{
    if (green__elsewhere(s, t))
        return green__across_await(s, t, result, shielded);
    return green__join(s, t, result, shielded);
}

int green_gather(green_t **threads, size_t n, void **results)
{
    struct green__sched *s = green__cur;
    int err = check_gather(s, threads, n);
    if (err < 0)
        return green__fail(-err);
    size_t i = 0;
    for (; i < n && err == 0; i++)
        err = join_one(s, threads[i], results ? &results[i] : NULL, false);
    if (err == 0)
        return 0;
    /* Cut short: the thread whose join failed and every one after it are
     * cancelled and waited for, so none is left behind. */
    for (size_t j = i - 1; j < n; j++) {
        if (green__elsewhere(s, threads[j]))
            (void)green__across_cancel(threads[j]);  /* claimed: its record is made */
        else
            green__cancel(threads[j]);
    }
    for (size_t j = i - 1; j < n; j++)
        (void)join_one(s, threads[j], results ? &results[j] : NULL, true);
    return green__fail(-err);
}
