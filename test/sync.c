/* Mutex, condition variable, semaphore. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Mutex */

START_TEST(mutex_outside)
{
    green_mutex_t m = GREEN_MUTEX_INIT;
    errno = 0;
    ck_assert_int_eq(green_mutex_lock(&m), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_mutex_trylock(&m), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_mutex_unlock(&m), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_mutex_init(&m), 0);
    ck_assert_int_eq(green_mutex_destroy(&m), 0);
}
END_TEST

GREEN_TEST(mutex_basics)
{
    (void)arg;
    static green_mutex_t m = GREEN_MUTEX_INIT;
    ck_assert_int_eq(green_mutex_lock(&m), 0);
    errno = 0;
    ck_assert_int_eq(green_mutex_lock(&m), -1);  /* it holds it already */
    ck_assert_int_eq(errno, EDEADLK);
    ck_assert_int_eq(green_mutex_trylock(&m), -1);
    ck_assert_int_eq(errno, EBUSY);
    ck_assert_int_eq(green_mutex_destroy(&m), -1);
    ck_assert_int_eq(errno, EBUSY);
    ck_assert_int_eq(green_mutex_unlock(&m), 0);
    ck_assert_int_eq(green_mutex_unlock(&m), -1);  /* not held */
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_mutex_trylock(&m), 0);
    ck_assert_int_eq(green_mutex_unlock(&m), 0);
    ck_assert_int_eq(green_mutex_destroy(&m), 0);
    ck_assert_int_eq(green_mutex_lock(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_mutex_trylock(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_mutex_unlock(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_mutex_init(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_mutex_destroy(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

static green_mutex_t shared_mutex = GREEN_MUTEX_INIT;
static char order[16];
static int norder;

static void *lock_and_record(void *arg)
{
    if (green_mutex_lock(&shared_mutex) < 0)
        return (void *)(intptr_t)errno;
    order[norder++] = *(char *)arg;
    green_yield();  /* hold it across a switch */
    green_mutex_unlock(&shared_mutex);
    return NULL;
}

GREEN_TEST(mutex_fifo_handoff)
{
    (void)arg;
    static char names[] = "abcd";
    green_t *t[4];
    green_mutex_lock(&shared_mutex);
    for (int i = 0; i < 4; i++)
        t[i] = green_spawn(lock_and_record, &names[i]);
    green_yield();  /* all four queue up */
    green_mutex_unlock(&shared_mutex);
    /* A newcomer cannot barge ahead of the queue. */
    ck_assert_int_eq(green_mutex_trylock(&shared_mutex), -1);
    ck_assert_int_eq(errno, EBUSY);
    for (int i = 0; i < 4; i++)
        green_join(t[i], NULL);
    ck_assert_str_eq(order, "abcd");
    return NULL;
}

GREEN_TEST(mutex_cancel_waiter)
{
    (void)arg;
    static char x = 'x';
    green_mutex_lock(&shared_mutex);
    green_t *t = green_spawn(lock_and_record, &x);
    green_yield();  /* t waits for the mutex */
    green_cancel(t);
    void *err;
    green_join(t, &err);
    ck_assert_int_eq((intptr_t)err, ECANCELED);
    ck_assert_int_eq(norder, 0);  /* it never got it */
    /* It left the queue: unlocking makes nobody the owner. */
    ck_assert_int_eq(green_mutex_unlock(&shared_mutex), 0);
    ck_assert_ptr_null(shared_mutex.owner);
    return NULL;
}

static void *hold_mutex(void *arg)
{
    green_mutex_lock(arg);
    green_sleep(100000);  /* until cancelled */
    green_mutex_unlock(arg);
    return NULL;
}

GREEN_TEST(mutex_lock_times_out)
{
    (void)arg;
    green_mutex_t m = GREEN_MUTEX_INIT;
    green_t *h = green_spawn(hold_mutex, &m);
    green_yield();
    green_deadline(green_now() + 10);
    errno = 0;
    ck_assert_int_eq(green_mutex_lock(&m), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    green_cancel(h);
    ck_assert_int_eq(green_mutex_lock(&m), 0);  /* h unlocked as it unwound */
    green_mutex_unlock(&m);
    green_join(h, NULL);
    /* A cancelled thread may still take a free mutex, to clean up. */
    green_cancel(green_self());
    ck_assert_int_eq(green_mutex_lock(&m), 0);
    ck_assert_int_eq(green_mutex_unlock(&m), 0);
    return NULL;
}

/* Condition variable */

struct box {
    green_mutex_t m;
    green_cond_t c;
    int value, woken;
};

static void *wait_for_value(void *arg)
{
    struct box *b = arg;
    green_mutex_lock(&b->m);
    while (b->value == 0)
        if (green_cond_wait(&b->c, &b->m) < 0) {
            int err = errno;
            green_mutex_unlock(&b->m);
            return (void *)(intptr_t)err;
        }
    b->woken++;
    green_mutex_unlock(&b->m);
    return NULL;
}

GREEN_TEST(cond_signal_and_broadcast)
{
    (void)arg;
    struct box b = {GREEN_MUTEX_INIT, GREEN_COND_INIT, 0, 0};
    green_t *t[3];
    for (int i = 0; i < 3; i++)
        t[i] = green_spawn(wait_for_value, &b);
    green_yield();
    ck_assert_int_eq(green_cond_destroy(&b.c), -1);
    ck_assert_int_eq(errno, EBUSY);
    green_mutex_lock(&b.m);
    b.value = 1;
    ck_assert_int_eq(green_cond_signal(&b.c), 0);
    green_mutex_unlock(&b.m);
    green_join(t[0], NULL);  /* FIFO: the first waiter was signalled */
    ck_assert_int_eq(b.woken, 1);
    ck_assert_int_eq(green_cond_broadcast(&b.c), 0);
    green_join(t[1], NULL);
    green_join(t[2], NULL);
    ck_assert_int_eq(b.woken, 3);
    ck_assert_int_eq(green_cond_signal(&b.c), 0);  /* nobody waits: fine */
    ck_assert_int_eq(green_cond_destroy(&b.c), 0);
    return NULL;
}

GREEN_TEST(cond_errors)
{
    (void)arg;
    green_mutex_t m = GREEN_MUTEX_INIT;
    green_cond_t c;
    ck_assert_int_eq(green_cond_init(&c), 0);
    errno = 0;
    ck_assert_int_eq(green_cond_wait(&c, &m), -1);  /* m not held */
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_cond_wait(NULL, &m), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_cond_wait(&c, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_cond_signal(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_cond_broadcast(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_cond_init(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_cond_destroy(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    /* Deadline: fails, with the mutex held again. */
    green_mutex_lock(&m);
    green_deadline(green_now() + 10);
    ck_assert_int_eq(green_cond_wait(&c, &m), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    ck_assert_int_eq(green_mutex_unlock(&m), 0);
    return NULL;
}

START_TEST(cond_outside)
{
    green_cond_t c = GREEN_COND_INIT;
    green_mutex_t m = GREEN_MUTEX_INIT;
    errno = 0;
    ck_assert_int_eq(green_cond_wait(&c, &m), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_cond_signal(&c), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_cond_broadcast(&c), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

GREEN_TEST(cond_cancel)
{
    (void)arg;
    struct box b = {GREEN_MUTEX_INIT, GREEN_COND_INIT, 0, 0};
    green_t *t = green_spawn(wait_for_value, &b);
    green_yield();
    green_mutex_lock(&b.m);  /* the waiter must take it back to return */
    green_cancel(t);
    green_yield();
    green_mutex_unlock(&b.m);
    void *err;
    green_join(t, &err);
    ck_assert_int_eq((intptr_t)err, ECANCELED);
    /* Cancelled before waiting: fails at once, mutex still held. */
    green_mutex_lock(&b.m);
    green_cancel(green_self());
    ck_assert_int_eq(green_cond_wait(&b.c, &b.m), -1);
    ck_assert_int_eq(errno, ECANCELED);
    ck_assert_int_eq(green_mutex_unlock(&b.m), 0);
    return NULL;
}

/* Semaphore */

static green_sem_t limit = GREEN_SEM_INIT(3);
static int inside, most_inside;

static void *limited(void *arg)
{
    (void)arg;
    if (green_sem_acquire(&limit) < 0)
        return (void *)(intptr_t)errno;
    if (++inside > most_inside)
        most_inside = inside;
    green_sleep(1);
    inside--;
    green_sem_release(&limit);
    return NULL;
}

GREEN_TEST(sem_limits_concurrency)
{
    (void)arg;
    green_t *t[20];
    for (int i = 0; i < 20; i++)
        t[i] = green_spawn(limited, NULL);
    for (int i = 0; i < 20; i++) {
        void *r;
        green_join(t[i], &r);
        ck_assert_ptr_null(r);
    }
    ck_assert_int_eq(most_inside, 3);
    ck_assert_uint_eq(limit.value, 3);
    return NULL;
}

GREEN_TEST(sem_basics)
{
    (void)arg;
    green_sem_t s;
    ck_assert_int_eq(green_sem_init(&s, 1), 0);
    ck_assert_int_eq(green_sem_tryacquire(&s), 0);
    errno = 0;
    ck_assert_int_eq(green_sem_tryacquire(&s), -1);
    ck_assert_int_eq(errno, EAGAIN);
    green_deadline(green_now() + 10);
    ck_assert_int_eq(green_sem_acquire(&s), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(green_sem_release(&s), 0);
    ck_assert_int_eq(green_sem_release(&s), 0);
    ck_assert_uint_eq(s.value, 2);
    ck_assert_int_eq(green_sem_destroy(&s), 0);
    green_sem_t full = GREEN_SEM_INIT(SIZE_MAX);
    ck_assert_int_eq(green_sem_release(&full), -1);
    ck_assert_int_eq(errno, EOVERFLOW);
    ck_assert_int_eq(green_sem_init(NULL, 1), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_sem_destroy(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_sem_acquire(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_sem_tryacquire(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_sem_release(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

static void *acquire_err(void *arg)
{
    return (void *)(intptr_t)(green_sem_acquire(arg) < 0 ? errno : 0);
}

GREEN_TEST(sem_fifo_cancel_destroy)
{
    (void)arg;
    green_sem_t s = GREEN_SEM_INIT(0);
    green_t *a = green_spawn(acquire_err, &s), *b = green_spawn(acquire_err, &s);
    green_yield();
    ck_assert_int_eq(green_sem_destroy(&s), -1);
    ck_assert_int_eq(errno, EBUSY);
    green_cancel(a);
    ck_assert_int_eq(green_sem_release(&s), 0);  /* goes to b, not to a */
    void *ra, *rb;
    green_join(a, &ra);
    green_join(b, &rb);
    ck_assert_int_eq((intptr_t)ra, ECANCELED);
    ck_assert_int_eq((intptr_t)rb, 0);
    ck_assert_uint_eq(s.value, 0);
    /* A cancelled thread still takes a free permit. */
    green_sem_release(&s);
    green_cancel(green_self());
    ck_assert_int_eq(green_sem_acquire(&s), 0);
    return NULL;
}

START_TEST(sem_outside)
{
    green_sem_t s = GREEN_SEM_INIT(1);
    errno = 0;
    ck_assert_int_eq(green_sem_acquire(&s), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_sem_tryacquire(&s), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_sem_release(&s), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

/* Another OS thread's scheduler, while the objects are in use here. */
static green_mutex_t foreign_m = GREEN_MUTEX_INIT;
static green_sem_t foreign_s = GREEN_SEM_INIT(0);
static green_cond_t foreign_c = GREEN_COND_INIT;

static void *touch_foreign(void *arg)
{
    int *errs = arg;
    errs[0] = green_mutex_trylock(&foreign_m) < 0 ? errno : 0;
    errs[1] = green_sem_release(&foreign_s) < 0 ? errno : 0;
    errs[2] = green_cond_signal(&foreign_c) < 0 ? errno : 0;
    green_mutex_t own = GREEN_MUTEX_INIT;
    green_mutex_lock(&own);
    errs[3] = green_cond_wait(&foreign_c, &own) < 0 ? errno : 0;
    errs[4] = green_mutex_unlock(&own) < 0 ? errno : 0;  /* still held */
    return NULL;
}

static void *foreign_thread(void *arg)
{
    green_run(touch_foreign, arg);
    return NULL;
}

static void *cond_waiter(void *arg)
{
    (void)arg;
    green_mutex_t m = GREEN_MUTEX_INIT;
    green_mutex_lock(&m);
    green_cond_wait(&foreign_c, &m);
    green_mutex_unlock(&m);
    return NULL;
}

GREEN_TEST(sync_other_os_thread)
{
    (void)arg;
    green_mutex_lock(&foreign_m);
    green_t *s = green_spawn(acquire_err, &foreign_s);
    green_t *c = green_spawn(cond_waiter, NULL);
    green_yield();
    int errs[5] = {-1, -1, -1, -1, -1};
    pthread_t pt;
    pthread_create(&pt, NULL, foreign_thread, errs);
    pthread_join(pt, NULL);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(errs[i], EXDEV);
    ck_assert_int_eq(errs[4], 0);
    green_mutex_unlock(&foreign_m);
    green_cancel(s);
    green_cancel(c);
    green_join(s, NULL);
    green_join(c, NULL);
    return NULL;
}

/* Deadlock: the report says who holds the mutex. */
static green_mutex_t dl_mutex = GREEN_MUTEX_INIT;
static green_cond_t dl_cond = GREEN_COND_INIT;

static void *writer(void *arg)
{
    (void)arg;
    green_mutex_t m = GREEN_MUTEX_INIT;
    green_mutex_lock(&dl_mutex);
    green_mutex_lock(&m);
    green_cond_wait(&dl_cond, &m);  /* nobody signals */
    green_mutex_unlock(&m);
    green_mutex_unlock(&dl_mutex);
    return NULL;
}

static void *main_locks_held_mutex(void *arg)
{
    (void)arg;
    green_t *w = green_spawn_attr(&(green_attr_t){.name = "writer"}, writer, NULL);
    green_yield();
    green_mutex_lock(&dl_mutex);
    green_join(w, NULL);
    return NULL;
}

START_TEST(sync_deadlock_report)
{
    stderr_begin();
    int r = green_run(main_locks_held_mutex, NULL);
    int err = errno;
    char *text = stderr_end();
    ck_assert_int_eq(r, -1);
    ck_assert_int_eq(err, EDEADLK);
    char want[128];
    snprintf(want, sizeof want, "#1 'main' parked: mutex %p held by #2 'writer'", (void *)&dl_mutex);
    ck_assert_msg(strstr(text, want) != NULL, "%s", text);
    snprintf(want, sizeof want, "#2 'writer' parked: cond %p", (void *)&dl_cond);
    ck_assert_msg(strstr(text, want) != NULL, "%s", text);
    free(text);
}
END_TEST

Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("sync");
    tcase_add_test(tc, mutex_outside);
    tcase_add_test(tc, mutex_basics);
    tcase_add_test(tc, mutex_fifo_handoff);
    tcase_add_test(tc, mutex_cancel_waiter);
    tcase_add_test(tc, mutex_lock_times_out);
    tcase_add_test(tc, cond_signal_and_broadcast);
    tcase_add_test(tc, cond_errors);
    tcase_add_test(tc, cond_outside);
    tcase_add_test(tc, cond_cancel);
    tcase_add_test(tc, sem_limits_concurrency);
    tcase_add_test(tc, sem_basics);
    tcase_add_test(tc, sem_fifo_cancel_destroy);
    tcase_add_test(tc, sem_outside);
    tcase_add_test(tc, sync_other_os_thread);
    tcase_add_test(tc, sync_deadlock_report);
    suite_add_tcase(s, tc);
    return s;
}
