/*
 * Mutex, condition variable and semaphore.
 *
 * Each is a queue of parked green threads plus a little state, with no
 * allocation.  Handoff is direct and FIFO: unlocking a mutex makes the
 * first waiter its owner before waking it, and releasing a semaphore
 * hands the permit to the first waiter, so a newcomer cannot barge ahead
 * of a thread that has waited.
 *
 * An object is bound to what uses it while it is held or waited on
 * (green__bind): a scheduler alone, or a run of several schedulers, any
 * of which may use it; another OS thread's scheduler touching it
 * meanwhile gets EXDEV.  Idle, it may move to another OS thread.  In a
 * run, every change is made under the object's spin lock and the waits
 * are shared ones (lib/shared_wait.c); a scheduler alone takes no lock.
 */
#include <errno.h>
#include <stdint.h>

#include "sched.h"
#include "spin.h"

/* Lets an object with no waiters left move to another scheduler. */
static void unbind_if_idle(void **sched, const struct green__list *waiters)
{
    if (green__list_empty(waiters))
        *sched = NULL;
}

/* The object's lock, taken in a run only. */
GREEN__SPECIALISED void lock_in_run(int *lock, bool shared)
{
    if (shared)
        green__spin_lock(lock);
}

GREEN__SPECIALISED void unlock_in_run(int *lock, bool shared)
{
    if (shared)
        green__spin_unlock(lock);
}

/* Parks the running thread on an object's queue (under its lock, which
 * it holds on return, in a run).  0 when a waker handed it the object,
 * or -errno. */
GREEN__SPECIALISED int wait_on(struct green__sched *s, int *lock, struct green__list *queue,
                               const struct green__waitop *op, const void *obj, bool shielded,
                               bool shared)
{
    if (shared)
        return green__shared_park(s, lock, queue, op, obj, shielded);
    if (shielded)
        return green__queue_park_shielded(s, queue, op, obj);
    return green__queue_park(s, queue, op, obj, s->current->deadline, ETIMEDOUT);
}

/* Wakes the first thread of an object's queue: the thread, or NULL. */
GREEN__SPECIALISED green_t *wake_first(struct green__list *queue, bool shared)
{
    if (shared)
        return green__shared_wake_first(queue);
    green_t *t = green__queue_first(queue);
    if (t)
        green__wake(t, 0);
    return t;
}

/* Mutex. */

/* A mutex with waiters always has an owner: unlock hands it on. */
static void mutex_describe(const struct green__wait *w, char *buf, size_t n)
{
    const green_mutex_t *m = green__queued_of(w)->obj;
    /* Read once, atomically: in a run another scheduler may be handing
     * the mutex on (a thread's id and name never change). */
    const green_t *o = __atomic_load_n(&m->owner, __ATOMIC_RELAXED);
    snprintf(buf, n, "mutex %p held by #%llu '%s'", (const void *)m, (unsigned long long)o->id,
             o->name);
}

/* Stored atomically for green_dump, which reads it without the lock
 * (mutex_describe); relaxed, a plain store where it compiles. */
static void set_owner(green_mutex_t *m, green_t *t)
{
    __atomic_store_n(&m->owner, t, __ATOMIC_RELAXED);
}

static const struct green__waitop mutex_op = {
    .unlink = green__queue_unlink,
    .describe = mutex_describe,
    .kind = GREEN__WAIT_SYNC,
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
GREEN__SPECIALISED int lock_(struct green__sched *s, green_mutex_t *m, bool shielded,
                             bool shared)
{
    lock_in_run(&m->lock, shared);
    int err = green__bind(&m->sched, s);
    green_t *self = s->current;
    if (err == 0 && !m->owner)
        set_owner(m, self);
    else if (err == 0 && m->owner == self)
        err = -EDEADLK;
    else if (err == 0)
        err = wait_on(s, &m->lock, &m->waiters, &mutex_op, m, shielded, shared);
    /* On success after a wait, the unlocker made this thread the owner. */
    unlock_in_run(&m->lock, shared);
    return err;
}

/* The copy for a run, kept out of line so that the path alone stays
 * lean. */
static __attribute__((noinline)) int lock_in_a_run(struct green__sched *s, green_mutex_t *m,
                                                   bool shielded)
{
    return lock_(s, m, shielded, true);
}

GREEN__SPECIALISED int lock(struct green__sched *s, green_mutex_t *m, bool shielded)
{
    if (!s)
        return -EPERM;
    return green__in_run(s) ? lock_in_a_run(s, m, shielded) : lock_(s, m, shielded, false);
}

/* Under m's lock in a run: hands m to its first waiter. */
GREEN__SPECIALISED void unlock(green_mutex_t *m, bool shared)
{
    green_t *next = wake_first(&m->waiters, shared);
    set_owner(m, next);
    if (!next)
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
    if (!s)
        return green__fail(EPERM);
    bool shared = green__in_run(s);
    lock_in_run(&m->lock, shared);
    int err = green__bind(&m->sched, s);
    if (err == 0 && m->owner)
        err = -EBUSY;
    else if (err == 0)
        set_owner(m, s->current);
    unlock_in_run(&m->lock, shared);
    return err < 0 ? green__fail(-err) : 0;
}

GREEN__SPECIALISED bool unlock_mine(struct green__sched *s, green_mutex_t *m, bool shared)
{
    lock_in_run(&m->lock, shared);
    bool mine = m->owner == s->current;
    if (mine)
        unlock(m, shared);
    unlock_in_run(&m->lock, shared);
    return mine;
}

static __attribute__((noinline)) bool unlock_in_a_run(struct green__sched *s, green_mutex_t *m)
{
    return unlock_mine(s, m, true);
}

int green_mutex_unlock(green_mutex_t *m)
{
    struct green__sched *s = green__cur;
    if (!m)
        return green__fail(EINVAL);
    if (!s)
        return green__fail(EPERM);
    bool mine = green__in_run(s) ? unlock_in_a_run(s, m) : unlock_mine(s, m, false);
    return mine ? 0 : green__fail(EPERM);
}

/* Condition variable. */

static void cond_describe(const struct green__wait *w, char *buf, size_t n)
{
    snprintf(buf, n, "cond %p", green__queued_of(w)->obj);
}

static const struct green__waitop cond_op = {
    .unlink = green__queue_unlink,
    .describe = cond_describe,
    .kind = GREEN__WAIT_SYNC,
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
    if (!s)
        return green__fail(EPERM);
    bool shared = green__in_run(s);
    lock_in_run(&m->lock, shared);
    bool mine = m->owner == s->current;
    unlock_in_run(&m->lock, shared);
    if (!mine)
        return green__fail(EPERM);
    lock_in_run(&c->lock, shared);
    int err = green__bind(&c->sched, s);
    if (err == 0 && green__cancel_due(s->current)) {
        unbind_if_idle(&c->sched, &c->waiters);
        unlock_in_run(&c->lock, shared);
        return green__fail(-green__cancelled(s));  /* the mutex stays held */
    }
    if (err == 0) {
        /* Released under c's lock: a signal cannot come between the
         * release and the wait. */
        lock_in_run(&m->lock, shared);
        unlock(m, shared);
        unlock_in_run(&m->lock, shared);
        err = wait_on(s, &c->lock, &c->waiters, &cond_op, c, false, shared);
        unbind_if_idle(&c->sched, &c->waiters);
    }
    unlock_in_run(&c->lock, shared);
    if (err == -EXDEV)
        return green__fail(EXDEV);
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
    bool shared = green__in_run(s);
    lock_in_run(&c->lock, shared);
    bool theirs = c->sched && c->sched != green__user(s);
    while (!theirs && wake_first(&c->waiters, shared) && all)
        ;
    if (!theirs)
        unbind_if_idle(&c->sched, &c->waiters);
    unlock_in_run(&c->lock, shared);
    return theirs ? green__fail(EXDEV) : 0;
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
    .kind = GREEN__WAIT_SYNC,
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

/* Takes a permit, waiting for one if block; 0 or -errno. */
static int acquire(struct green__sched *s, green_sem_t *sem, bool block)
{
    if (!s)
        return -EPERM;
    bool shared = green__in_run(s);
    lock_in_run(&sem->lock, shared);
    int err = green__bind(&sem->sched, s);
    if (err == 0 && sem->value > 0)
        sem->value--;
    else if (err == 0 && !block)
        err = -EAGAIN;
    else if (err == 0)
        /* On success, the releaser handed its permit to this thread. */
        err = wait_on(s, &sem->lock, &sem->waiters, &sem_op, sem, false, shared);
    if (err != -EXDEV)
        unbind_if_idle(&sem->sched, &sem->waiters);
    unlock_in_run(&sem->lock, shared);
    return err;
}

int green_sem_acquire(green_sem_t *sem)
{
    if (!sem)
        return green__fail(EINVAL);
    int err = acquire(green__cur, sem, true);
    return err < 0 ? green__fail(-err) : 0;
}

int green_sem_tryacquire(green_sem_t *sem)
{
    if (!sem)
        return green__fail(EINVAL);
    int err = acquire(green__cur, sem, false);
    return err < 0 ? green__fail(-err) : 0;
}

int green_sem_release(green_sem_t *sem)
{
    struct green__sched *s = green__cur;
    if (!sem)
        return green__fail(EINVAL);
    if (!s)
        return green__fail(EPERM);
    bool shared = green__in_run(s);
    lock_in_run(&sem->lock, shared);
    int err = green__bind(&sem->sched, s);
    if (err == 0 && !wake_first(&sem->waiters, shared)) {
        if (sem->value == SIZE_MAX)
            err = -EOVERFLOW;
        else
            sem->value++;
    }
    if (err != -EXDEV)
        unbind_if_idle(&sem->sched, &sem->waiters);
    unlock_in_run(&sem->lock, shared);
    return err < 0 ? green__fail(-err) : 0;
}
