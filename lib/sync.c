/*
 * Mutex, condition variable and semaphore.
 *
 * Each is a queue of parked green threads plus a little state, with no
 * allocation.  Handoff is direct and FIFO: unlocking a mutex makes the
 * first waiter its owner before waking it, and releasing a semaphore
 * hands the permit to the first waiter, so a newcomer cannot barge ahead
 * of a thread that has waited.
 *
 * An object is bound to the scheduler that uses it while it is held or
 * waited on (green__bind); another OS thread's scheduler touching it
 * meanwhile gets EXDEV.  Idle, it may move to another OS thread.
 */
#include <errno.h>
#include <stdint.h>

#include "sched.h"

/* Lets an object with no waiters left move to another scheduler. */
static void unbind_if_idle(void **sched, const struct green__list *waiters)
{
    if (green__list_empty(waiters))
        *sched = NULL;
}

/* Mutex. */

/* A mutex with waiters always has an owner: unlock hands it on. */
static void mutex_describe(const struct green__wait *w, char *buf, size_t n)
{
    const green_mutex_t *m = green__queued_of(w)->obj;
    snprintf(buf, n, "mutex %p held by #%llu '%s'", (const void *)m,
             (unsigned long long)m->owner->id, m->owner->name);
}

static const struct green__waitop mutex_op = {
    .unlink = green__queue_unlink,
    .describe = mutex_describe,
};

int green_mutex_init(green_mutex_t *m)
{
    if (!m)
        return green__fail(EINVAL);
    *m = (green_mutex_t)GREEN_MUTEX_INIT;
    return 0;
}

int green_mutex_destroy(green_mutex_t *m)
{
    if (!m)
        return green__fail(EINVAL);
    if (m->owner || !green__list_empty(&m->waiters))
        return green__fail(EBUSY);
    return 0;
}

/* Locks m for the running thread; a shielded lock ignores the deadline
 * and cancellation.  0 or -errno. */
static int lock(struct green__sched *s, green_mutex_t *m, bool shielded)
{
    int err = green__bind(&m->sched, s);
    if (err < 0)
        return err;
    green_t *self = s->current;
    if (!m->owner) {
        m->owner = self;
        return 0;
    }
    if (m->owner == self)
        return -EDEADLK;
    if (shielded)
        return green__queue_park_shielded(s, &m->waiters, &mutex_op, m);
    /* On success, the unlocker made this thread the owner. */
    return green__queue_park(s, &m->waiters, &mutex_op, m, self->deadline, ETIMEDOUT);
}

static void unlock(green_mutex_t *m)
{
    green_t *next = green__queue_first(&m->waiters);
    m->owner = next;
    if (next)
        green__wake(next, 0);
    else
        m->sched = NULL;
}

int green_mutex_lock(green_mutex_t *m)
{
    if (!m)
        return green__fail(EINVAL);
    int err = lock(green__cur, m, false);
    return err < 0 ? green__fail(-err) : 0;
}

int green_mutex_trylock(green_mutex_t *m)
{
    struct green__sched *s = green__cur;
    if (!m)
        return green__fail(EINVAL);
    int err = green__bind(&m->sched, s);
    if (err < 0)
        return green__fail(-err);
    if (m->owner)
        return green__fail(EBUSY);
    m->owner = s->current;
    return 0;
}

int green_mutex_unlock(green_mutex_t *m)
{
    struct green__sched *s = green__cur;
    if (!m)
        return green__fail(EINVAL);
    if (!s || m->owner != s->current)
        return green__fail(EPERM);
    unlock(m);
    return 0;
}

/* Condition variable. */

static void cond_describe(const struct green__wait *w, char *buf, size_t n)
{
    snprintf(buf, n, "cond %p", green__queued_of(w)->obj);
}

static const struct green__waitop cond_op = {
    .unlink = green__queue_unlink,
    .describe = cond_describe,
};

int green_cond_init(green_cond_t *c)
{
    if (!c)
        return green__fail(EINVAL);
    *c = (green_cond_t)GREEN_COND_INIT;
    return 0;
}

int green_cond_destroy(green_cond_t *c)
{
    if (!c)
        return green__fail(EINVAL);
    return green__list_empty(&c->waiters) ? 0 : green__fail(EBUSY);
}

int green_cond_wait(green_cond_t *c, green_mutex_t *m)
{
    struct green__sched *s = green__cur;
    if (!c || !m)
        return green__fail(EINVAL);
    if (!s || m->owner != s->current)
        return green__fail(EPERM);
    int err = green__bind(&c->sched, s);
    if (err < 0)
        return green__fail(-err);
    green_t *self = s->current;
    if (green__cancel_due(self)) {
        unbind_if_idle(&c->sched, &c->waiters);
        return green__fail(-green__cancelled(s));  /* the mutex stays held */
    }
    unlock(m);
    err = green__queue_park(s, &c->waiters, &cond_op, c, self->deadline, ETIMEDOUT);
    unbind_if_idle(&c->sched, &c->waiters);
    /* As with pthreads, the mutex is held again on return, whatever
     * ended the wait; taking it back is not cut short. */
    (void)lock(s, m, true);
    return err < 0 ? green__fail(-err) : 0;
}

static int cond_wake(green_cond_t *c, bool all)
{
    struct green__sched *s = green__cur;
    if (!c)
        return green__fail(EINVAL);
    if (!s)
        return green__fail(EPERM);
    if (c->sched && c->sched != s)
        return green__fail(EXDEV);
    if (all)
        green__queue_wake_all(&c->waiters, 0);
    else if (!green__list_empty(&c->waiters))
        green__wake(green__queue_first(&c->waiters), 0);
    unbind_if_idle(&c->sched, &c->waiters);
    return 0;
}

int green_cond_signal(green_cond_t *c)
{
    return cond_wake(c, false);
}

int green_cond_broadcast(green_cond_t *c)
{
    return cond_wake(c, true);
}

/* Semaphore. */

static void sem_describe(const struct green__wait *w, char *buf, size_t n)
{
    snprintf(buf, n, "sem %p", green__queued_of(w)->obj);
}

static const struct green__waitop sem_op = {
    .unlink = green__queue_unlink,
    .describe = sem_describe,
};

int green_sem_init(green_sem_t *sem, size_t value)
{
    if (!sem)
        return green__fail(EINVAL);
    *sem = (green_sem_t)GREEN_SEM_INIT(value);
    return 0;
}

int green_sem_destroy(green_sem_t *sem)
{
    if (!sem)
        return green__fail(EINVAL);
    return green__list_empty(&sem->waiters) ? 0 : green__fail(EBUSY);
}

/* Takes a permit if one is free: 0, -EAGAIN, or a binding error. */
static int sem_take(struct green__sched *s, green_sem_t *sem)
{
    int err = green__bind(&sem->sched, s);
    if (err < 0)
        return err;
    if (sem->value == 0)
        return -EAGAIN;
    sem->value--;
    unbind_if_idle(&sem->sched, &sem->waiters);
    return 0;
}

int green_sem_acquire(green_sem_t *sem)
{
    struct green__sched *s = green__cur;
    if (!sem)
        return green__fail(EINVAL);
    int err = sem_take(s, sem);
    if (err == -EAGAIN) {
        /* On success, the releaser handed its permit to this thread. */
        err = green__queue_park(s, &sem->waiters, &sem_op, sem, s->current->deadline,
                                ETIMEDOUT);
        unbind_if_idle(&sem->sched, &sem->waiters);
    }
    return err < 0 ? green__fail(-err) : 0;
}

int green_sem_tryacquire(green_sem_t *sem)
{
    if (!sem)
        return green__fail(EINVAL);
    int err = sem_take(green__cur, sem);
    if (err == -EAGAIN)
        unbind_if_idle(&sem->sched, &sem->waiters);
    return err < 0 ? green__fail(-err) : 0;
}

int green_sem_release(green_sem_t *sem)
{
    struct green__sched *s = green__cur;
    if (!sem)
        return green__fail(EINVAL);
    int err = green__bind(&sem->sched, s);
    if (err < 0)
        return green__fail(-err);
    green_t *next = green__queue_first(&sem->waiters);
    if (next) {
        green__wake(next, 0);
    } else if (sem->value == SIZE_MAX) {
        unbind_if_idle(&sem->sched, &sem->waiters);
        return green__fail(EOVERFLOW);
    } else {
        sem->value++;
    }
    unbind_if_idle(&sem->sched, &sem->waiters);
    return 0;
}
