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
    struct green__remote woken;   /* the waker's post, from elsewhere */
    bool queued;                  /* under the lock */
};

int green__shared_park(struct green__sched *s, int *lock, struct green__list *queue,
                       const struct green__waitop *op, const void *obj, bool shielded)
{
    struct shared_queued w = {
        .q = {.wait.op = op, .queue = queue, .obj = obj, .shared = true},
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
