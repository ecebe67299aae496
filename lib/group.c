/*
 * Groups and gather: structured concurrency.
 *
 * A group counts the members it spawned that are still running and keeps
 * a list of those not yet freed.  Members are ordinary green threads: join
 * one to get its result, or detach it.  Waiting for a group that is cut
 * short (deadline, cancellation) cancels the members and waits for them
 * before it returns, so no member outlives its group unnoticed.
 */
#include <errno.h>
#include <stdlib.h>

#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

struct green_group {
    struct green__sched *sched;   /* the scheduler it was made on */
    struct green__list members;   /* spawned and not yet freed */
    size_t running;               /* members not yet finished */
    struct green__list waiters;   /* threads in green_group_wait */
};

static void group_describe(const struct green__wait *w, char *buf, size_t n)
{
    const struct green_group *g = green__queued_of(w)->obj;
    snprintf(buf, n, "group %p (%zu running)", (const void *)g, g->running);
}

static const struct green__waitop group_op = {
    .unlink = green__queue_unlink,
    .describe = group_describe,
};

static void member_freed(green_t *t)
{
    green__list_remove(&t->group->members, &t->group_node);
    t->group = NULL;
    t->exit_hook = NULL;
}

/* The scheduler tells a member's group when it finishes and is freed. */
static void member_exit(green_t *t, enum green__exit how)
{
    struct green_group *g = t->group;
    if (how == GREEN__EXIT_FREED)
        member_freed(t);
    else if (--g->running == 0)
        green__queue_wake_all(&g->waiters, 0);
}

static int check_group(const struct green__sched *s, const green_group_t *g)
{
    if (!s)
        return -EPERM;
    if (!g)
        return -EINVAL;
    return g->sched == s ? 0 : -EXDEV;
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
    return g;
}

/* Before the new member can run (an eager one runs at once). */
static void link_member(green_t *t, void *ctx)
{
    green_group_t *g = ctx;
    t->group = g;
    t->exit_hook = member_exit;
    green__list_push(&g->members, &t->group_node);
    g->running++;
}

green_t *green_group_spawn_attr(green_group_t *g, const green_attr_t *attr,
                                void *(*fn)(void *), void *arg)
{
    struct green__sched *s = green__cur;
    int err = check_group(s, g);
    /* Members live on the group's scheduler, for now. */
    if (err == 0 && attr && attr->place != GREEN_PLACE_HERE && s->cores)
        err = -EXDEV;
    if (err < 0) {
        errno = -err;
        return NULL;
    }
    green_t *t = green__spawn_then(s, attr, fn, arg, link_member, g, &err);
    if (!t)
        errno = -err;
    return t;
}

green_t *green_group_spawn(green_group_t *g, void *(*fn)(void *), void *arg)
{
    return green_group_spawn_attr(g, NULL, fn, arg);
}

static void cancel_members(green_group_t *g)
{
    for (struct green__node *n = g->members.first; n; n = n->next)
        green__cancel(green__container_of(n, green_t, group_node));
}

/* Waits until every member has finished, whatever the deadline or
 * cancellation say. */
static void wait_shielded(struct green__sched *s, green_group_t *g)
{
    while (g->running > 0)
        (void)green__queue_park_shielded(s, &g->waiters, &group_op, g);
}

int green_group_cancel(green_group_t *g)
{
    int err = check_group(green__cur, g);
    if (err < 0)
        return green__fail(-err);
    cancel_members(g);
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
    while (g->running > 0 && err == 0)
        err = green__queue_park(s, &g->waiters, &group_op, g, self->deadline, ETIMEDOUT);
    if (err < 0) {
        cancel_members(g);
        wait_shielded(s, g);
        return green__fail(-err);
    }
    return 0;
}

/* Takes the running thread out of its own group, which it is freeing. */
static void leave(green_group_t *g, green_t *self)
{
    if (self->group != g)
        return;
    member_freed(self);
    g->running--;
}

void green_group_free(green_group_t *g)
{
    struct green__sched *s = green__cur;
    if (!g)
        return;
    if (!s || g->sched != s) {
        /* Outside its green_run every member is long gone (green_run frees
         * them all); from another OS thread nothing can safely be done. */
        if (green__list_empty(&g->members))
            free(g);
        return;
    }
    leave(g, s->current);
    cancel_members(g);
    wait_shielded(s, g);
    /* Every member has finished.  Free those nobody else will: detached
     * ones are reaped by the scheduler and joined ones by their joiner;
     * they only lose their group. */
    struct green__node *n = g->members.first;
    while (n) {
        green_t *t = green__container_of(n, green_t, group_node);
        n = n->next;
        green__lock_handles(s);
        bool ours = !t->detached && !t->joiner;
        if (ours)
            green__claim(s, t);  /* in the same step: another scheduler may join it */
        green__unlock_handles(s);
        member_freed(t);
        if (ours)
            (void)green__join(s, t, NULL, true);
    }
    free(g);
}

/* gather */

/* Checks every thread and claims it for this gather, so that a thread
 * listed twice is refused as if another join had it. */
static int check_gather(struct green__sched *s, green_t **threads, size_t n)
{
    if (!s)
        return -EPERM;
    if (n && !threads)
        return -EINVAL;
    /* Under the lock: in a run of several schedulers another one may
     * join or detach these meanwhile. */
    green__lock_handles(s);
    int err = 0;
    for (size_t i = 0; i < n && err == 0; i++) {
        err = green__check_join(s, threads[i]);
        if (err == 0)
            green__claim(s, threads[i]);
        else
            while (i-- > 0)
                threads[i]->joiner = NULL;
    }
    green__unlock_handles(s);
    return err;
}

int green_gather(green_t **threads, size_t n, void **results)
{
    struct green__sched *s = green__cur;
    int err = check_gather(s, threads, n);
    if (err < 0)
        return green__fail(-err);
    size_t i = 0;
    for (; i < n && err == 0; i++)
        err = green__join(s, threads[i], results ? &results[i] : NULL, false);
    if (err == 0)
        return 0;
    /* Cut short: the thread whose join failed and every one after it are
     * cancelled and waited for, so none is left behind. */
    for (size_t j = i - 1; j < n; j++)
        green__cancel(threads[j]);
    for (size_t j = i - 1; j < n; j++)
        (void)green__join(s, threads[j], results ? &results[j] : NULL, true);
    return green__fail(-err);
}
