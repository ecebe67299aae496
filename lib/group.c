/*
 * Groups and gather: structured concurrency.
 *
 * A group counts the members it spawned that are still running and keeps
 * a list of those not yet freed.  Members are ordinary green threads: join
 * one to get its result, or detach it.  Waiting for a group that is cut
 * short (deadline, cancellation) cancels the members and waits for them
 * before it returns, so no member outlives its group unnoticed.
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
static void wake_waiters(green_group_t *g)
{
    if (!in_run(g))
        green__queue_wake_all(&g->waiters, 0);
    else
        while (green__shared_wake_first(&g->waiters))
            ;
}

/* Under the lock. */
static void member_freed(green_t *t)
{
    green__list_remove(&t->group->members, &t->group_node);
    t->group = NULL;
    t->exit_hook = NULL;
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
    } else if (add_running(g, -1) == 0) {
        wake_waiters(g);
    }
    unlock(g);
    if (last)
        free(g);
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
    green__list_push(&j->g->members, &t->group_node);
    unlock(j->g);
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
    add_running(g, 1);
    unlock(g);
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

static void cancel_members(struct green__sched *s, green_group_t *g)
{
    lock(g);
    for (struct green__node *n = g->members.first; n; n = n->next) {
        green_t *t = green__container_of(n, green_t, group_node);
        if (t->sched == s)
            green__cancel(t);
        else
            (void)green__across_cancel(t);  /* its record is made: cannot fail */
    }
    unlock(g);
}

/* Under the lock: parks until a member finishes, or the wait is cut
 * short; with the lock held again on return. */
static int wait_once(struct green__sched *s, green_group_t *g, bool shielded)
{
    if (in_run(g))
        return green__shared_park(s, &g->lock, &g->waiters, &group_op, g, shielded);
    if (shielded)
        return green__queue_park_shielded(s, &g->waiters, &group_op, g);
    return green__queue_park(s, &g->waiters, &group_op, g, s->current->deadline, ETIMEDOUT);
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
        return green__fail(-err);
    }
    return 0;
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
            free(g);
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
        free(g);
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
