/*
 * Queues of parked threads shared by the schedulers of a run: the mutex,
 * condition variable and semaphore used from several schedulers at once
 * (see wait.h).
 *
 * The queue and the object's state change only under the object's spin
 * lock.  A waker takes the first waiter off the queue before it hands it
 * anything, so a waiter still on the queue when it runs again was handed
 * nothing and leaves with its own error; one taken off was handed the
 * object, even if its deadline passed meanwhile.  A wake-up for a thread
 * of another scheduler is a post to that scheduler's inbox, made under
 * the lock, so that a waiter that takes the lock back after its wait knows
 * the post has been made and can take it back.
 */
#include "sched.h"
#include "spin.h"

struct shared_queued {
    struct green__queued q;
    const struct green__waitop *obj_op;  /* the object's, for describe */
    struct green__remote woken;   /* the waker's post, from elsewhere */
    bool queued;                  /* under the lock */
};

static void shared_describe(const struct green__wait *w, char *buf, size_t n)
{
    const struct shared_queued *sq = green__container_of(w, struct shared_queued, q.wait);
    sq->obj_op->describe(w, buf, n);
}

/* Waking does not unlink: the woken thread leaves the queue itself. */
static const struct green__waitop shared_op = {
    .unlink = NULL,
    .describe = shared_describe,
    .kind = GREEN__WAIT_SYNC,
};

int green__shared_park(struct green__sched *s, int *lock, struct green__list *queue,
                       const struct green__waitop *op, const void *obj, bool shielded)
{
    struct shared_queued w = {
        .q = {.wait.op = &shared_op, .queue = queue, .obj = obj},
        .obj_op = op,
        .woken.thread = s->current,
        .queued = true,
    };
    green__list_push(queue, &w.q.node);
    green__spin_unlock(lock);
    int err = shielded ? green__park_shielded(s, &w.q.wait)
                       : green__park(s, &w.q.wait, s->current->deadline, ETIMEDOUT);
    green__spin_lock(lock);
    if (w.queued) {
        green__list_remove(queue, &w.q.node);
        return err;
    }
    /* The waker posted under the lock held again here: whether the post
     * is still on the list can be read without the inbox's lock. */
    if (w.woken.posted)
        green__inbox_unpost(&s->inbox, &w.woken);
    return 0;
}

green_t *green__shared_wake_first(struct green__list *queue)
{
    if (!queue->first)
        return NULL;
    struct shared_queued *w = green__container_of(queue->first, struct shared_queued, q.node);
    green__list_remove(queue, &w->q.node);
    w->queued = false;
    /* Not w->q.wait.thread, which green__park sets after the lock is
     * released. */
    green_t *t = w->woken.thread;
    if (t->sched == green__cur)
        green__wake(t, 0);
    else
        green__inbox_post(&t->sched->inbox, &w->woken);
    return t;
}
