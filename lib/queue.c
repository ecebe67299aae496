/*
 * Cross-thread queues: a bounded FIFO of fixed-size values that any
 * thread may use, green or not, on any OS thread's scheduler.
 *
 * One mutex guards the ring and two lists of waiters, senders waiting for
 * room and receivers waiting for a value.  A waiter is a green thread
 * (woken through its scheduler's inbox) or a plain OS thread (woken with
 * a condition variable).  A wake-up means "try again", as with fds: the
 * woken thread retakes the lock and retries.  Each change wakes one
 * waiter of the kind it may help; a woken waiter that leaves without
 * retrying (cancelled, past its deadline) passes its wake-up on, so none
 * is lost.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

struct qwaiter {
    struct green__node node;      /* in the queue's senders or receivers */
    green_t *thread;              /* NULL for a plain OS thread */
    struct green__inbox *inbox;
    struct green__remote remote;
    pthread_cond_t *cond;         /* a plain OS thread's */
    bool woken;                   /* taken off its list by a wake-up */
};

struct green_queue {
    pthread_mutex_t lock;
    size_t elem_size, cap, head, count;
    bool closed;
    struct green__list senders, receivers;  /* of qwaiter, FIFO */
    unsigned char *ring;
};

green_queue_t *green_queue_new(size_t elem_size, size_t capacity)
{
    if (capacity == 0 || (elem_size && capacity > SIZE_MAX / elem_size)) {
        errno = EINVAL;
        return NULL;
    }
    green_queue_t *q = calloc(1, sizeof *q);
    size_t bytes = elem_size * capacity;
    unsigned char *ring = malloc(bytes > 0 ? bytes : 1);
    if (!q || !ring) {
        free(q);
        free(ring);
        errno = ENOMEM;
        return NULL;
    }
    pthread_mutex_init(&q->lock, NULL);
    q->elem_size = elem_size;
    q->cap = capacity;
    q->ring = ring;
    return q;
}

int green_queue_free(green_queue_t *q)
{
    if (!q)
        return 0;
    pthread_mutex_lock(&q->lock);
    bool busy = !green__list_empty(&q->senders) || !green__list_empty(&q->receivers);
    pthread_mutex_unlock(&q->lock);
    if (busy)
        return green__fail(EBUSY);
    pthread_mutex_destroy(&q->lock);
    free(q->ring);
    free(q);
    return 0;
}

/* Waking, under the lock. */

static void wake(struct qwaiter *w)
{
    w->woken = true;
    if (w->thread)
        green__inbox_post(w->inbox, &w->remote);
    else
        pthread_cond_signal(w->cond);
}

static void wake_first(struct green__list *l)
{
    if (green__list_empty(l))
        return;
    struct qwaiter *w = green__container_of(l->first, struct qwaiter, node);
    green__list_remove(l, &w->node);
    wake(w);
}

static void wake_all(struct green__list *l)
{
    while (!green__list_empty(l))
        wake_first(l);
}

/* The ring, under the lock.  Each returns 0 or -errno. */

static int put(green_queue_t *q, const void *elem)
{
    if (q->closed)
        return -EPIPE;
    if (q->count == q->cap)
        return -EAGAIN;
    if (q->elem_size)
        memcpy(q->ring + (q->head + q->count) % q->cap * q->elem_size, elem, q->elem_size);
    q->count++;
    wake_first(&q->receivers);
    return 0;
}

static int get(green_queue_t *q, void *elem)
{
    if (q->count == 0)
        return q->closed ? -EPIPE : -EAGAIN;
    if (q->elem_size)
        memcpy(elem, q->ring + q->head * q->elem_size, q->elem_size);
    q->head = (q->head + 1) % q->cap;
    q->count--;
    wake_first(&q->senders);
    return 0;
}

/* Parking a green thread, or blocking an OS thread, until woken. */

struct qwait {
    struct green__wait wait;
    green_queue_t *q;
    struct green__list *list;
    struct qwaiter w;
};

/* The wait ended before or after a wake-up: off the list, or, woken and
 * leaving without retrying, the wake-up goes to the next waiter. */
static void qwait_unlink(struct green__wait *wait)
{
    struct qwait *qw = green__container_of(wait, struct qwait, wait);
    green_t *t = wait->thread;
    green_queue_t *q = qw->q;
    pthread_mutex_lock(&q->lock);
    if (!qw->w.woken)
        green__list_remove(qw->list, &qw->w.node);
    else if (t->wake_err)
        wake_first(qw->list);
    pthread_mutex_unlock(&q->lock);
    if (qw->w.woken)
        green__inbox_unpost(qw->w.inbox, &qw->w.remote);
}

static void qwait_describe(const struct green__wait *wait, char *buf, size_t n)
{
    const struct qwait *qw = green__container_of(wait, struct qwait, wait);
    snprintf(buf, n, "queue %p %s", (void *)qw->q,
             qw->list == &qw->q->senders ? "send" : "recv");
}

static const struct green__waitop qwait_op = {
    .unlink = qwait_unlink,
    .describe = qwait_describe,
    .forgotten_after_fork = true,
    .kind = GREEN__WAIT_CHAN,
};

/* Called with the lock held, which it drops and retakes.  0 or -errno. */
static int wait_green(struct green__sched *s, green_queue_t *q, struct green__list *list)
{
    int err = green__inbox_open(s);  /* once per scheduler, and only to wait */
    if (err < 0)
        return err;
    green_t *self = s->current;
    struct qwait qw = {.wait.op = &qwait_op, .q = q, .list = list,
                       .w = {.thread = self, .inbox = &s->inbox, .remote.thread = self}};
    green__list_push(list, &qw.w.node);
    pthread_mutex_unlock(&q->lock);
    /* A passed deadline or a cancellation unlinks it again at once. */
    err = green__inbox_park(s, &qw.wait);
    pthread_mutex_lock(&q->lock);
    return err;
}

static int wait_os(green_queue_t *q, struct green__list *list)
{
    pthread_cond_t cond;
    pthread_cond_init(&cond, NULL);
    struct qwaiter w = {.cond = &cond};
    green__list_push(list, &w.node);
    while (!w.woken)
        pthread_cond_wait(&cond, &q->lock);
    pthread_cond_destroy(&cond);
    return 0;
}

/* Tries op until it succeeds or fails for good, waiting on list while it
 * would block.  Returns 0 or -1 with errno. */
static int run(green_queue_t *q, void *elem, bool sending, bool wait)
{
    struct green__sched *s = green__cur;
    if (!q || (!elem && q->elem_size))
        return green__fail(EINVAL);
    if (wait && s && green__cancel_due(s->current))
        return green__fail(-green__cancelled(s));  /* even when it would not wait */
    struct green__list *list = sending ? &q->senders : &q->receivers;
    pthread_mutex_lock(&q->lock);
    int err;
    while ((err = sending ? put(q, elem) : get(q, elem)) == -EAGAIN && wait) {
        err = s ? wait_green(s, q, list) : wait_os(q, list);
        if (err < 0)
            break;
    }
    pthread_mutex_unlock(&q->lock);
    return err < 0 ? green__fail(-err) : 0;
}

int green_queue_send(green_queue_t *q, const void *elem)
{
    return run(q, (void *)elem, true, true);
}

int green_queue_trysend(green_queue_t *q, const void *elem)
{
    return run(q, (void *)elem, true, false);
}

int green_queue_recv(green_queue_t *q, void *elem)
{
    return run(q, elem, false, true);
}

int green_queue_tryrecv(green_queue_t *q, void *elem)
{
    return run(q, elem, false, false);
}

int green_queue_close(green_queue_t *q)
{
    if (!q)
        return green__fail(EINVAL);
    pthread_mutex_lock(&q->lock);
    bool was = q->closed;
    q->closed = true;
    wake_all(&q->senders);
    wake_all(&q->receivers);
    pthread_mutex_unlock(&q->lock);
    return was ? green__fail(EPIPE) : 0;
}
