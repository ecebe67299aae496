/* Talking across the schedulers of one run: channels and select, mutex,
 * condition variable and semaphore used by green threads of several
 * schedulers at once.  Each test checks that nothing is lost or
 * duplicated, including when a deadline or a cancellation races the
 * partner that completes the operation. */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

/* Fewer rounds under Valgrind, which runs the schedulers one at a time. */
static int rounds(int n)
{
    return under_valgrind() ? n / 20 : n;
}

/* Channels. */

struct pipe_args {
    green_chan_t *ch;
    int n;
};

static void *send_count(void *arg)
{
    struct pipe_args *a = arg;
    for (int i = 0; i < a->n; i++)
        ck_assert_int_eq(green_chan_send(a->ch, &i), 0);
    return NULL;
}

static void *recv_count(void *arg)
{
    struct pipe_args *a = arg;
    for (int i = 0; i < a->n; i++) {
        int v = -1;
        ck_assert_int_eq(green_chan_recv(a->ch, &v), 0);
        ck_assert_int_eq(v, i);
    }
    return NULL;
}

/* A rendezvous channel between two schedulers, both ways, in order. */
CORES_TEST(unbuffered_both_ways, 2)
{
    (void)arg;
    struct pipe_args a = {green_chan_new(sizeof(int), 0), rounds(20000)};
    green_t *t = spawn_on(1, send_count, &a);
    recv_count(&a);
    ck_assert_int_eq(green_join(t, NULL), 0);
    t = spawn_on(1, recv_count, &a);
    send_count(&a);
    ck_assert_int_eq(green_join(t, NULL), 0);
    green_chan_free(a.ch);
    return NULL;
}

/* Many producers and consumers on four schedulers over one buffered
 * channel: each value arrives exactly once. */
#define PRODUCERS 8
#define PER_PRODUCER 2000

struct mpmc {
    green_chan_t *ch;
    atomic_uchar seen[PRODUCERS * PER_PRODUCER];
    atomic_int next;
};

static void *produce(void *arg)
{
    struct mpmc *m = arg;
    int base = atomic_fetch_add(&m->next, 1) * PER_PRODUCER;
    for (int i = 0; i < rounds(PER_PRODUCER); i++) {
        int v = base + i;
        ck_assert_int_eq(green_chan_send(m->ch, &v), 0);
    }
    return NULL;
}

static void *consume(void *arg)
{
    struct mpmc *m = arg;
    int v, got = 0;
    while (green_chan_recv(m->ch, &v) == 0) {
        ck_assert_int_eq(atomic_fetch_add(&m->seen[v], 1), 0);
        got++;
    }
    ck_assert_int_eq(errno, EPIPE);
    return (void *)(intptr_t)got;
}

CORES_TEST(buffered_many_to_many, 4)
{
    (void)arg;
    struct mpmc *m = calloc(1, sizeof *m);
    m->ch = green_chan_new(sizeof(int), 3);
    green_t *p[PRODUCERS], *c[4];
    for (int i = 0; i < 4; i++)
        c[i] = spawn_on(i, consume, m);
    for (int i = 0; i < PRODUCERS; i++)
        p[i] = spawn_on(i % 4, produce, m);
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(green_join(p[i], NULL), 0);
    ck_assert_int_eq(green_chan_close(m->ch), 0);
    intptr_t total = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        ck_assert_int_eq(green_join(c[i], &r), 0);
        total += (intptr_t)r;
    }
    ck_assert_int_eq(total, PRODUCERS * rounds(PER_PRODUCER));
    green_chan_free(m->ch);
    free(m);
    return NULL;
}

/* A select over two channels fed from two other schedulers at once: one
 * case fires per select, and every value sent is received once. */
struct two {
    green_chan_t *a, *b;
    int n;
};

static void *send_on_a(void *arg)
{
    struct two *t = arg;
    for (int i = 0; i < t->n; i++)
        ck_assert_int_eq(green_chan_send(t->a, &i), 0);
    return NULL;
}

static void *send_on_b(void *arg)
{
    struct two *t = arg;
    for (int i = 0; i < t->n; i++)
        ck_assert_int_eq(green_chan_send(t->b, &i), 0);
    return NULL;
}

CORES_TEST(select_fed_from_two_schedulers, 3)
{
    (void)arg;
    struct two t = {green_chan_new(sizeof(int), 0), green_chan_new(sizeof(int), 0),
                    rounds(10000)};
    green_t *sa = spawn_on(1, send_on_a, &t), *sb = spawn_on(2, send_on_b, &t);
    int va = 0, vb = 0, next[2] = {0, 0};
    for (int i = 0; i < 2 * t.n; i++) {
        green_case_t cases[] = {
            {.chan = t.a, .op = GREEN_RECV, .elem = &va},
            {.chan = t.b, .op = GREEN_RECV, .elem = &vb},
        };
        int k = green_select(cases, 2);
        ck_assert_int_ge(k, 0);
        ck_assert_int_eq(cases[k].err, 0);
        ck_assert_int_eq(k == 0 ? va : vb, next[k]);  /* in order, none lost */
        next[k]++;
    }
    ck_assert_int_eq(next[0], t.n);
    ck_assert_int_eq(next[1], t.n);
    ck_assert_int_eq(green_join(sa, NULL), 0);
    ck_assert_int_eq(green_join(sb, NULL), 0);
    green_chan_free(t.a);
    green_chan_free(t.b);
    return NULL;
}

/* Both ends give up at their deadlines while the other may be completing
 * the exchange: a send reported done was received exactly once, and one
 * that failed was not received at all. */
struct racing {
    green_chan_t *ch;
    int n;
    atomic_uchar sent[4000], received[4000];
};

static void *send_with_deadlines(void *arg)
{
    struct racing *r = arg;
    for (int i = 0; i < r->n; i++) {
        green_deadline(green_now() + i % 3);
        if (green_chan_send(r->ch, &i) == 0)
            atomic_store(&r->sent[i], 1);
        else
            ck_assert_int_eq(errno, ETIMEDOUT);
        green_deadline(GREEN_NEVER);
    }
    int end = -1;
    ck_assert_int_eq(green_chan_send(r->ch, &end), 0);
    return NULL;
}

CORES_TEST(deadlines_race_the_partner, 2)
{
    (void)arg;
    struct racing *r = calloc(1, sizeof *r);
    r->ch = green_chan_new(sizeof(int), 0);
    r->n = rounds(4000);
    green_t *t = spawn_on(1, send_with_deadlines, r);
    for (int i = 0;; i++) {
        int v = -2;
        green_deadline(green_now() + i % 2);
        int rc = green_chan_recv(r->ch, &v);
        green_deadline(GREEN_NEVER);
        if (rc < 0) {
            ck_assert_int_eq(errno, ETIMEDOUT);
            continue;
        }
        if (v == -1)
            break;
        ck_assert_int_eq(atomic_fetch_add(&r->received[v], 1), 0);
    }
    ck_assert_int_eq(green_join(t, NULL), 0);
    for (int i = 0; i < r->n; i++)
        ck_assert_int_eq(r->sent[i], r->received[i]);
    green_chan_free(r->ch);
    free(r);
    return NULL;
}

/* Close and free wake the threads parked on the channel on other
 * schedulers with EPIPE; a freed channel goes when the last of them has
 * left it. */
static void *recv_expect_epipe(void *arg)
{
    int v;
    ck_assert_int_eq(green_chan_recv(arg, &v), -1);
    ck_assert_int_eq(errno, EPIPE);
    return NULL;
}

static void *select_expect_epipe(void *arg)
{
    green_chan_t **chs = arg;
    int v;
    green_case_t cases[] = {{.chan = chs[0], .op = GREEN_RECV, .elem = &v}, {.chan = chs[1], .op = GREEN_RECV, .elem = &v}};
    int k = green_select(cases, 2);
    ck_assert_int_eq(k, 0);
    ck_assert_int_eq(cases[0].err, EPIPE);
    return NULL;
}

CORES_TEST(close_and_free_wake_every_scheduler, 3)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *a = spawn_on(1, recv_expect_epipe, ch), *b = spawn_on(2, recv_expect_epipe, ch);
    free(dump_until("chan recv", 2));
    ck_assert_int_eq(green_chan_close(ch), 0);
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    green_chan_free(ch);

    green_chan_t *chs[2] = {green_chan_new(sizeof(int), 0), green_chan_new(sizeof(int), 0)};
    a = spawn_on(1, select_expect_epipe, chs);
    b = spawn_on(2, select_expect_epipe, chs);
    free(dump_until("select over 2 cases", 2));
    green_chan_free(chs[0]);  /* they leave chs[1] when they run */
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    green_chan_free(chs[1]);

    ch = green_chan_new(sizeof(int), 0);
    a = spawn_on(1, recv_expect_epipe, ch);
    b = spawn_on(2, recv_expect_epipe, ch);
    free(dump_until("chan recv", 2));
    green_chan_free(ch);  /* the last of them to leave frees it */
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    return NULL;
}

/* A select parked on another scheduler is cancelled from here; a select
 * over more cases than fit on the stack works across as well. */
static void *select_many(void *arg)
{
    green_chan_t **chs = arg;
    int v = 0;
    green_case_t cases[12];
    for (int i = 0; i < 12; i++)
        cases[i] = (green_case_t){.chan = chs[i % 3], .op = GREEN_RECV, .elem = &v};
    int k = green_select(cases, 12);
    return (void *)(intptr_t)(k < 0 ? -errno : v);
}

CORES_TEST(cancel_and_wide_select_across, 2)
{
    (void)arg;
    green_chan_t *chs[3];
    for (int i = 0; i < 3; i++)
        chs[i] = green_chan_new(sizeof(int), 0);
    green_t *t = spawn_on(1, select_many, chs);
    free(dump_until("select over 12 cases", 1));
    ck_assert_int_eq(green_cancel(t), 0);
    void *r;
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, -ECANCELED);

    t = spawn_on(1, select_many, chs);
    int v = 42;
    ck_assert_int_eq(green_chan_send(chs[2], &v), 0);
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_int_eq((intptr_t)r, 42);
    for (int i = 0; i < 3; i++)
        green_chan_free(chs[i]);
    return NULL;
}

/* Every thread waits on a channel nobody will use: a deadlock across
 * the run, reported and broken. */
static void *recv_forever(void *arg)
{
    int v;
    (void)green_chan_recv(arg, &v);
    return NULL;
}

static void *chan_deadlock_main(void *arg)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *t = spawn_on(1, recv_forever, ch);
    recv_forever(ch);
    green_join(t, NULL);
    green_chan_free(ch);
    return NULL;
}

START_TEST(channel_deadlock_across)
{
    char *text = run_deadlocked(2, chan_deadlock_main);
    ck_assert_ptr_nonnull(strstr(text, "chan recv"));
    free(text);
}
END_TEST

/* Mutex, condition variable and semaphore. */

/* Threads on four schedulers take turns at a counter under one mutex,
 * yielding inside: the count comes out exact. */
struct counted {
    green_mutex_t m;
    long count;
    int n;
};

static void *count_under_mutex(void *arg)
{
    struct counted *c = arg;
    for (int i = 0; i < c->n; i++) {
        ck_assert_int_eq(green_mutex_lock(&c->m), 0);
        long v = c->count;
        green_yield();
        c->count = v + 1;
        ck_assert_int_eq(green_mutex_unlock(&c->m), 0);
    }
    return NULL;
}

CORES_TEST(mutex_across, 4)
{
    (void)arg;
    struct counted c = {GREEN_MUTEX_INIT, 0, rounds(2000)};
    green_t *t[8];
    for (int i = 0; i < 8; i++)
        t[i] = spawn_on(i % 4, count_under_mutex, &c);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
    ck_assert_int_eq(c.count, 8L * c.n);
    ck_assert_int_eq(green_mutex_destroy(&c.m), 0);
    return NULL;
}

/* Waiters give up at their deadlines while the holder hands the mutex
 * on: a lock that succeeded owns it, one that failed does not, and the
 * mutex is never lost (each thread ends by taking it without a
 * deadline). */
static void *lock_with_deadlines(void *arg)
{
    struct counted *c = arg;
    for (int i = 0; i < c->n; i++) {
        green_deadline(green_now() + i % 2);
        int rc = green_mutex_lock(&c->m);
        green_deadline(GREEN_NEVER);
        if (rc < 0) {
            ck_assert_int_eq(errno, ETIMEDOUT);
            ck_assert_int_eq(green_mutex_unlock(&c->m), -1);
            ck_assert_int_eq(errno, EPERM);
            continue;
        }
        c->count++;
        green_yield();
        ck_assert_int_eq(green_mutex_unlock(&c->m), 0);
    }
    ck_assert_int_eq(green_mutex_lock(&c->m), 0);
    ck_assert_int_eq(green_mutex_unlock(&c->m), 0);
    return NULL;
}

CORES_TEST(mutex_deadlines_race_the_handoff, 3)
{
    (void)arg;
    struct counted c = {GREEN_MUTEX_INIT, 0, rounds(3000)};
    green_t *t[6];
    for (int i = 0; i < 6; i++)
        t[i] = spawn_on(i % 3, lock_with_deadlines, &c);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
    ck_assert_int_eq(green_mutex_trylock(&c.m), 0);
    ck_assert_int_eq(green_mutex_unlock(&c.m), 0);
    return NULL;
}

/* Permits released on one scheduler and acquired on others, some with
 * deadlines: every permit released is acquired once or left in the
 * semaphore. */
struct permits {
    green_sem_t sem;
    atomic_long acquired;
    int n;
};

static void *acquire_some(void *arg)
{
    struct permits *p = arg;
    for (int i = 0; i < p->n; i++) {
        green_deadline(green_now() + i % 3);
        int rc = green_sem_acquire(&p->sem);
        green_deadline(GREEN_NEVER);
        if (rc == 0)
            atomic_fetch_add(&p->acquired, 1);
        else
            ck_assert_int_eq(errno, ETIMEDOUT);
    }
    return NULL;
}

CORES_TEST(semaphore_across, 3)
{
    (void)arg;
    struct permits p = {GREEN_SEM_INIT(0), 0, rounds(3000)};
    green_t *a = spawn_on(1, acquire_some, &p), *b = spawn_on(2, acquire_some, &p);
    long released = 0;
    for (int i = 0; i < p.n; i++) {
        ck_assert_int_eq(green_sem_release(&p.sem), 0);
        released++;
        if (i % 4 == 0)
            green_yield();
    }
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    long left = 0;
    while (green_sem_tryacquire(&p.sem) == 0)
        left++;
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(atomic_load(&p.acquired) + left, released);
    return NULL;
}

/* A bounded buffer under a mutex and two condition variables, producers
 * and consumers on three schedulers; signal and broadcast both used. */
struct bounded {
    green_mutex_t m;
    green_cond_t not_full, not_empty;
    int buf[4], head, count, n, done;
    long sum;
};

static void *bounded_put(void *arg)
{
    struct bounded *b = arg;
    for (int i = 1; i <= b->n; i++) {
        ck_assert_int_eq(green_mutex_lock(&b->m), 0);
        while (b->count == 4)
            ck_assert_int_eq(green_cond_wait(&b->not_full, &b->m), 0);
        b->buf[(b->head + b->count++) % 4] = i;
        ck_assert_int_eq(green_cond_signal(&b->not_empty), 0);
        ck_assert_int_eq(green_mutex_unlock(&b->m), 0);
    }
    return NULL;
}

static void *bounded_get(void *arg)
{
    struct bounded *b = arg;
    long sum = 0;
    ck_assert_int_eq(green_mutex_lock(&b->m), 0);
    for (;;) {
        while (b->count == 0 && !b->done)
            ck_assert_int_eq(green_cond_wait(&b->not_empty, &b->m), 0);
        if (b->count == 0)
            break;
        sum += b->buf[b->head];
        b->head = (b->head + 1) % 4;
        b->count--;
        ck_assert_int_eq(green_cond_broadcast(&b->not_full), 0);
    }
    b->sum += sum;
    ck_assert_int_eq(green_mutex_unlock(&b->m), 0);
    return NULL;
}

CORES_TEST(condition_across, 3)
{
    (void)arg;
    struct bounded *b = calloc(1, sizeof *b);
    *b = (struct bounded){GREEN_MUTEX_INIT, GREEN_COND_INIT, GREEN_COND_INIT, .n = rounds(4000)};
    green_t *p[3], *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = spawn_on(i, bounded_get, b);
        p[i] = spawn_on((i + 1) % 3, bounded_put, b);
    }
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(green_join(p[i], NULL), 0);
    ck_assert_int_eq(green_mutex_lock(&b->m), 0);
    b->done = 1;
    ck_assert_int_eq(green_cond_broadcast(&b->not_empty), 0);
    ck_assert_int_eq(green_mutex_unlock(&b->m), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(green_join(c[i], NULL), 0);
    ck_assert_int_eq(b->sum, 3L * b->n * (b->n + 1) / 2);
    free(b);
    return NULL;
}

/* A lock waiter on another scheduler is cancelled from here and leaves
 * the queue; the mutex goes on to the next. */
static void *lock_expect_cancel(void *arg)
{
    ck_assert_int_eq(green_mutex_lock(arg), -1);
    ck_assert_int_eq(errno, ECANCELED);
    return NULL;
}

static void *lock_and_unlock(void *arg)
{
    ck_assert_int_eq(green_mutex_lock(arg), 0);
    ck_assert_int_eq(green_mutex_unlock(arg), 0);
    return NULL;
}

CORES_TEST(cancel_lock_waiter_across, 2)
{
    (void)arg;
    green_mutex_t m = GREEN_MUTEX_INIT;
    ck_assert_int_eq(green_mutex_lock(&m), 0);
    green_t *a = spawn_on(1, lock_expect_cancel, &m);
    free(dump_until("mutex", 1));
    green_t *b = spawn_on(1, lock_and_unlock, &m);
    free(dump_until("mutex", 2));
    ck_assert_int_eq(green_cancel(a), 0);
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_mutex_unlock(&m), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    ck_assert_int_eq(green_mutex_destroy(&m), 0);
    return NULL;
}

/* Two threads on two schedulers each hold one mutex and want the other's:
 * a deadlock across the run, reported and broken. */
struct two_mutexes {
    green_mutex_t a, b;
    green_sem_t both;
};

static void *lock_b_then_a(void *arg)
{
    struct two_mutexes *t = arg;
    ck_assert_int_eq(green_mutex_lock(&t->b), 0);
    ck_assert_int_eq(green_sem_release(&t->both), 0);
    if (green_mutex_lock(&t->a) == 0)
        green_mutex_unlock(&t->a);
    green_mutex_unlock(&t->b);
    return NULL;
}

static void *mutex_deadlock_main(void *arg)
{
    (void)arg;
    /* Static: main, cancelled, may return before the other thread ends. */
    static struct two_mutexes t = {GREEN_MUTEX_INIT, GREEN_MUTEX_INIT, GREEN_SEM_INIT(0)};
    ck_assert_int_eq(green_mutex_lock(&t.a), 0);
    green_t *o = spawn_on(1, lock_b_then_a, &t);
    ck_assert_int_eq(green_sem_acquire(&t.both), 0);
    if (green_mutex_lock(&t.b) == 0)
        green_mutex_unlock(&t.b);
    green_mutex_unlock(&t.a);
    green_join(o, NULL);
    return NULL;
}

START_TEST(mutex_deadlock_across)
{
    char *text = run_deadlocked(2, mutex_deadlock_main);
    ck_assert_ptr_nonnull(strstr(text, "mutex"));
    free(text);
}
END_TEST

/* Groups whose members live on several schedulers. */

static void *return_index(void *arg)
{
    green_yield();
    return (void *)(intptr_t)(green_sched_index() * 1000 + (intptr_t)arg);
}

static green_t *group_spawn_on(green_group_t *g, int place, void *(*fn)(void *), void *arg)
{
    green_t *t = green_group_spawn_attr(g, &(green_attr_t){.place = place}, fn, arg);
    ck_assert_ptr_nonnull(t);
    return t;
}

/* Members on every scheduler, placed by index and by "any": the group's
 * wait returns when all have finished, and each is joined for its
 * result. */
CORES_TEST(group_spans_schedulers, 3)
{
    (void)arg;
    green_group_t *g = green_group_new();
    green_t *t[12];
    for (int i = 0; i < 12; i++)
        t[i] = group_spawn_on(g, i < 9 ? GREEN_PLACE_ON(i % 3) : GREEN_PLACE_ANY,
                              return_index, (void *)(intptr_t)i);
    ck_assert_int_eq(green_group_wait(g), 0);
    for (int i = 0; i < 12; i++) {
        void *r;
        ck_assert_int_eq(green_join(t[i], &r), 0);
        ck_assert_int_eq((intptr_t)r % 1000, i);
        if (i < 9)
            ck_assert_int_eq((intptr_t)r / 1000, i % 3);
    }
    green_group_free(g);
    return NULL;
}

/* Members parked on every scheduler are cancelled mid-flight by a
 * thread of another scheduler; the group's wait, from a third, returns
 * once they have all unwound. */
static atomic_int unwound;

static void *park_until_cancelled(void *arg)
{
    int v;
    ck_assert_int_eq(green_chan_recv(arg, &v), -1);
    ck_assert_int_eq(errno, ECANCELED);
    atomic_fetch_add(&unwound, 1);
    return NULL;
}

static void *cancel_group(void *arg)
{
    ck_assert_int_eq(green_group_cancel(arg), 0);
    return NULL;
}

static void *wait_group(void *arg)
{
    ck_assert_int_eq(green_group_wait(arg), 0);
    ck_assert_int_eq(atomic_load(&unwound), 9);
    return NULL;
}

CORES_TEST(group_cancelled_from_elsewhere, 3)
{
    (void)arg;
    green_chan_t *never = green_chan_new(sizeof(int), 0);
    green_group_t *g = green_group_new();
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(green_detach(group_spawn_on(g, GREEN_PLACE_ON(i % 3),
                                                     park_until_cancelled, never)), 0);
    free(dump_until("chan recv", 9));
    green_t *w = spawn_on(2, wait_group, g);
    free(dump_until("group", 1));
    ck_assert_int_eq(green_join(spawn_on(1, cancel_group, g), NULL), 0);
    ck_assert_int_eq(green_join(w, NULL), 0);
    green_group_free(g);
    green_chan_free(never);
    return NULL;
}

/* A group's wait cut short by its deadline cancels the members on every
 * scheduler and waits for them before it fails. */
CORES_TEST(group_wait_deadline_across, 2)
{
    (void)arg;
    atomic_store(&unwound, 0);
    green_chan_t *never = green_chan_new(sizeof(int), 0);
    green_group_t *g = green_group_new();
    for (int i = 0; i < 4; i++)
        group_spawn_on(g, GREEN_PLACE_ON(i % 2), park_until_cancelled, never);
    green_deadline(green_now() + 20);
    ck_assert_int_eq(green_group_wait(g), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(atomic_load(&unwound), 4);
    green_group_free(g);  /* frees the members nobody joined, here and there */
    green_chan_free(never);
    return NULL;
}

/* Freed with members elsewhere that another thread has joined or will
 * join: the group goes with the last of them, and nothing leaks. */
static void *join_it(void *arg)
{
    void *r;
    ck_assert_int_eq(green_join(arg, &r), 0);
    return r;
}

CORES_TEST(group_freed_before_members_elsewhere, 3)
{
    (void)arg;
    green_chan_t *never = green_chan_new(sizeof(int), 0);
    green_group_t *g = green_group_new();
    green_t *a = group_spawn_on(g, GREEN_PLACE_ON(1), park_until_cancelled, never);
    group_spawn_on(g, GREEN_PLACE_ON(2), return_index, (void *)2);  /* nobody's: */
    group_spawn_on(g, GREEN_PLACE_ON(2), return_index, (void *)3);  /* the free frees them */
    ck_assert_int_eq(green_detach(group_spawn_on(g, GREEN_PLACE_ON(1), return_index, NULL)),
                     0);
    green_t *ja = spawn_on(2, join_it, a);
    free(dump_until("join #", 1));  /* a is claimed by ja */
    green_group_free(g);       /* cancels a, frees the others */
    ck_assert_int_eq(green_join(ja, NULL), 0);
    green_chan_free(never);
    return NULL;
}

/* green_gather over threads of every scheduler: results in order; cut
 * short by the deadline, it cancels and waits for the rest wherever they
 * are; a thread listed twice is refused and nothing stays claimed. */
CORES_TEST(gather_across, 3)
{
    (void)arg;
    green_t *t[6];
    void *r[6];
    for (int i = 0; i < 6; i++)
        t[i] = spawn_on(i % 3, return_index, (void *)(intptr_t)i);
    ck_assert_int_eq(green_gather(t, 6, r), 0);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq((intptr_t)r[i], (i % 3) * 1000 + i);

    green_t *twice[2];
    twice[0] = twice[1] = spawn_on(1, return_index, (void *)9);
    ck_assert_int_eq(green_gather(twice, 2, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_join(twice[0], r), 0);  /* not left claimed */
    ck_assert_int_eq((intptr_t)r[0], 1009);

    atomic_store(&unwound, 0);
    green_chan_t *never = green_chan_new(sizeof(int), 0);
    for (int i = 0; i < 4; i++)
        t[i] = spawn_on(i % 3, park_until_cancelled, never);
    green_deadline(green_now() + 20);
    ck_assert_int_eq(green_gather(t, 4, NULL), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    green_deadline(GREEN_NEVER);
    ck_assert_int_eq(atomic_load(&unwound), 4);  /* all cancelled, all joined */
    green_chan_free(never);
    return NULL;
}

/* A channel left bound to the run with nobody on it: seen from a plain
 * green_run on another OS thread. */
static green_chan_t *probe_ch;
static atomic_int probe_err;

static void *probe_main(void *arg)
{
    (void)arg;
    int v = 0;
    atomic_store(&probe_err, green_chan_trysend(probe_ch, &v) < 0 ? errno : 0);
    return NULL;
}

static void *probe_run(void *arg)
{
    (void)arg;
    ck_assert_int_eq(green_run(probe_main, NULL), 0);
    return NULL;
}

/* From a plain green_run on another OS thread: trysend on an idle
 * unbuffered channel should be EAGAIN, not EXDEV. */
static int probe(green_chan_t *ch)
{
    probe_ch = ch;
    atomic_store(&probe_err, -1);
    ck_assert_int_eq(green_offload(probe_run, NULL, NULL), 0);
    return atomic_load(&probe_err);
}

/* A channel in use by a run belongs to it: a plain green_run on another
 * OS thread gets EXDEV, as between two green_runs. */
CORES_TEST(run_owns_its_channels, 2)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    green_t *t = spawn_on(1, recv_expect_epipe, ch);
    free(dump_until("chan recv", 1));
    ck_assert_int_eq(probe(ch), EXDEV);
    ck_assert_int_eq(green_chan_close(ch), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(probe(ch), EPIPE);  /* idle again, and closed */
    green_chan_free(ch);
    return NULL;
}

static void *select_recv_two(void *arg)
{
    green_chan_t **chs = arg;
    int v = 0;
    green_case_t cases[] = {{.chan = chs[0], .op = GREEN_RECV, .elem = &v}, {.chan = chs[1], .op = GREEN_RECV, .elem = &v}};
    ck_assert_int_eq(green_select(cases, 2), 1);
    return NULL;
}

/* A select that performs a ready case leaves none of its channels bound,
 * in a run and alone. */
CORES_TEST(ready_select_unbinds_every_channel, 2)
{
    (void)arg;
    green_chan_t *b = green_chan_new(sizeof(int), 1), *j = green_chan_new(sizeof(int), 0);
    int v = 1;
    ck_assert_int_eq(green_chan_send(b, &v), 0);
    green_case_t cases[] = {{.chan = b, .op = GREEN_RECV, .elem = &v}, {.chan = j, .op = GREEN_RECV, .elem = &v}};
    ck_assert_int_eq(green_select(cases, 2), 0);
    ck_assert_int_eq(probe(j), EAGAIN);
    green_chan_free(b);
    green_chan_free(j);
    return NULL;
}

/* A partner that was gone (its select fired elsewhere) is dropped, and the
 * channel it leaves idle is unbound. */
CORES_TEST(dropped_partner_unbinds_its_channel, 2)
{
    (void)arg;
    green_chan_t *chs[2] = {green_chan_new(sizeof(int), 0), green_chan_new(sizeof(int), 0)};
    green_chan_t *b = green_chan_new(sizeof(int), 1);
    int v = 1;
    ck_assert_int_eq(green_chan_send(b, &v), 0);
    green_t *t = green_spawn(select_recv_two, chs);   /* same scheduler */
    free(dump_until("select over 2 cases", 1));
    v = 5;
    ck_assert_int_eq(green_chan_send(chs[1], &v), 0);  /* fires t; t has not run */
    /* The send case on chs[0] finds t's stale recv and drops it. */
    green_case_t cases[] = {{.chan = b, .op = GREEN_RECV, .elem = &v}, {.chan = chs[0], .op = GREEN_SEND, .elem = &v}};
    ck_assert_int_eq(green_tryselect(cases, 2), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(probe(chs[0]), EAGAIN);
    green_chan_free(chs[0]);
    green_chan_free(chs[1]);
    green_chan_free(b);
    return NULL;
}

static void *alone_select_main(void *arg)
{
    (void)arg;
    green_chan_t *b = green_chan_new(sizeof(int), 1), *j = green_chan_new(sizeof(int), 0);
    int v = 1;
    ck_assert_int_eq(green_chan_send(b, &v), 0);
    green_case_t cases[] = {{.chan = b, .op = GREEN_RECV, .elem = &v}, {.chan = j, .op = GREEN_RECV, .elem = &v}};
    ck_assert_int_eq(green_select(cases, 2), 0);
    ck_assert_int_eq(probe(j), EAGAIN);
    green_chan_free(b);
    green_chan_free(j);
    return NULL;
}

START_TEST(alone_select_unbinds_every_channel)
{
    ck_assert_int_eq(green_run(alone_select_main, NULL), 0);
}
END_TEST


/* Two-case selects with deadlines against senders with deadlines on two
 * other schedulers: nothing lost or duplicated on either channel. */
struct racing2 {
    green_chan_t *ch[2];
    int n;
    atomic_uchar sent[2][3000], received[2][3000];
};
struct racing2_arg { struct racing2 *r; int k; };

static void *send_racing2(void *arg)
{
    struct racing2_arg *a = arg;
    struct racing2 *r = a->r;
    for (int i = 0; i < r->n; i++) {
        green_deadline(green_now() + i % 3);
        if (green_chan_send(r->ch[a->k], &i) == 0)
            atomic_store(&r->sent[a->k][i], 1);
        else
            ck_assert_int_eq(errno, ETIMEDOUT);
        green_deadline(GREEN_NEVER);
    }
    int end = -1;
    ck_assert_int_eq(green_chan_send(r->ch[a->k], &end), 0);
    return NULL;
}

CORES_TEST(select_deadlines_race_across, 3)
{
    (void)arg;
    struct racing2 *r = calloc(1, sizeof *r);
    r->ch[0] = green_chan_new(sizeof(int), 0);
    r->ch[1] = green_chan_new(sizeof(int), 0);
    r->n = rounds(3000);
    struct racing2_arg a0 = {r, 0}, a1 = {r, 1};
    green_t *t0 = spawn_on(1, send_racing2, &a0), *t1 = spawn_on(2, send_racing2, &a1);
    int ended = 0;
    for (int i = 0; ended < 2; i++) {
        int v0 = -2, v1 = -2;
        green_case_t cases[2] = {{.chan = r->ch[0], .op = GREEN_RECV, .elem = &v0}, {.chan = r->ch[1], .op = GREEN_RECV, .elem = &v1}};
        int nc = 2;
        green_deadline(green_now() + i % 2);
        int k = green_select(cases, nc);
        green_deadline(GREEN_NEVER);
        if (k < 0) {
            ck_assert_int_eq(errno, ETIMEDOUT);
            continue;
        }
        int v = k == 0 ? v0 : v1;
        ck_assert_int_eq(k == 0 ? v1 : v0, -2);
        if (v == -1) {
            ended++;
            continue;
        }
        ck_assert_int_eq(atomic_fetch_add(&r->received[k][v], 1), 0);
    }
    ck_assert_int_eq(green_join(t0, NULL), 0);
    ck_assert_int_eq(green_join(t1, NULL), 0);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < r->n; i++)
            ck_assert_int_eq(r->sent[k][i], r->received[k][i]);
    green_chan_free(r->ch[0]);
    green_chan_free(r->ch[1]);
    free(r);
    return NULL;
}

/* green_dump while the mutex is handed across schedulers (TSan: the
 * description reads the owner while it changes). */
static atomic_int dump_stop;
static void *lock_loop(void *arg)
{
    green_mutex_t *m = arg;
    while (!atomic_load(&dump_stop)) {
        ck_assert_int_eq(green_mutex_lock(m), 0);
        green_yield();
        ck_assert_int_eq(green_mutex_unlock(m), 0);
    }
    return NULL;
}

CORES_TEST(dump_during_mutex_handoff, 3)
{
    (void)arg;
    static green_mutex_t m = GREEN_MUTEX_INIT;
    green_t *t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn_on(1 + i % 2, lock_loop, &m);
    for (int i = 0; i < rounds(200); i++) {
        free(dump_text());
    }
    atomic_store(&dump_stop, 1);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
    return NULL;
}

/* fds used on several schedulers. */

static void *read_expect_ebadf(void *arg)
{
    char c;
    ck_assert_int_eq(green_read(*(int *)arg, &c, 1), -1);
    ck_assert_int_eq(errno, EBADF);
    return NULL;
}

/* Threads on two other schedulers wait to read one pipe; green_close here
 * wakes both with EBADF, as it wakes waiters on its own scheduler. */
CORES_TEST(close_wakes_waiters_everywhere, 3)
{
    (void)arg;
    for (int round = 0; round < 2; round++) {
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        green_t *a = spawn_on(1, read_expect_ebadf, &p[0]);
        green_t *b = spawn_on(2, read_expect_ebadf, &p[0]);
        green_t *c = green_spawn(read_expect_ebadf, &p[0]);  /* and one here */
        free(dump_until("fd", 3));
        ck_assert_int_eq(green_close(p[0]), 0);
        ck_assert_int_eq(green_join(a, NULL), 0);
        ck_assert_int_eq(green_join(b, NULL), 0);
        ck_assert_int_eq(green_join(c, NULL), 0);
        green_close(p[1]);
    }
    return NULL;
}

/* green_fd_release here: the waiters elsewhere fail with EBADF, and the
 * fd stays open for its owner. */
CORES_TEST(release_wakes_waiters_everywhere, 2)
{
    (void)arg;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(green_fd_adopt(sv[0]), 0);
    green_t *a = spawn_on(1, read_expect_ebadf, &sv[0]);
    free(dump_until("fd", 1));
    ck_assert_int_eq(green_fd_release(sv[0]), 0);
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    char c;
    ck_assert_int_eq(read(sv[0], &c, 1), 1);  /* still open, ours again */
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

/* The stress of talking across: four schedulers on the two CPUs, each
 * running a worker that, round after round, exchanges a value through a
 * select with a partner on the next scheduler, and every 16th round
 * cancels a group spanning every scheduler mid-flight; worker 0 also
 * closes a pipe that threads of two other schedulers wait on.  Nothing is
 * lost, nothing hangs. */
enum { TALK_ROUNDS = 2000 };

struct talk {
    green_chan_t *a, *b;
};

static void *select_partner(void *arg)
{
    struct talk *t = arg;
    int v = -1;
    green_case_t cases[] = {{.chan = t->a, .op = GREEN_RECV, .elem = &v}, {.chan = t->b, .op = GREEN_RECV, .elem = &v}};
    int k = green_select(cases, 2);
    ck_assert_int_ge(k, 0);
    return (void *)(intptr_t)(v * 2 + k);
}

static void group_round(int n, green_chan_t *never)
{
    green_group_t *g = green_group_new();
    ck_assert_ptr_nonnull(g);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(green_detach(group_spawn_on(g, GREEN_PLACE_ON(i), park_until_cancelled,
                                                     never)), 0);
    ck_assert_int_eq(green_group_cancel(g), 0);
    ck_assert_int_eq(green_group_wait(g), 0);
    green_group_free(g);
}

static void fd_round(void)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    green_t *a = spawn_on(1, read_expect_ebadf, &p[0]);
    green_t *b = spawn_on(2, read_expect_ebadf, &p[0]);
    free(dump_until("fd ", 2));
    ck_assert_int_eq(green_close(p[0]), 0);
    ck_assert_int_eq(green_join(a, NULL), 0);
    ck_assert_int_eq(green_join(b, NULL), 0);
    green_close(p[1]);
}

static void *talk_worker(void *arg)
{
    int rounds = (int)(intptr_t)arg, n = green_sched_count(), me = green_sched_index();
    green_chan_t *never = green_chan_new(sizeof(int), 0);
    struct talk t = {green_chan_new(sizeof(int), 0), green_chan_new(sizeof(int), 0)};
    for (int i = 0; i < rounds; i++) {
        green_t *p = spawn_on((me + 1) % n, select_partner, &t);
        int v = i;
        green_case_t cases[] = {{.chan = t.a, .op = GREEN_SEND, .elem = &v}, {.chan = t.b, .op = GREEN_SEND, .elem = &v}};
        int k = green_select(cases, 2);
        ck_assert_int_ge(k, 0);
        void *r;
        ck_assert_int_eq(green_join(p, &r), 0);
        ck_assert_int_eq((intptr_t)r, i * 2 + k);  /* the case it took, the value sent */
        if (i % 16 == 0)
            group_round(n, never);
        if (me == 0 && i % 64 == 0)
            fd_round();
    }
    green_chan_free(t.a);
    green_chan_free(t.b);
    green_chan_free(never);
    return NULL;
}

CORES_TEST(stress_talking_across, 4)
{
    (void)arg;
    int rounds = under_valgrind() || under_tsan() ? TALK_ROUNDS / 50 : TALK_ROUNDS;
    green_t *w[4];
    for (int i = 0; i < 4; i++)
        w[i] = spawn_on(i, talk_worker, (void *)(intptr_t)rounds);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(green_join(w[i], NULL), 0);
    return NULL;
}

#ifdef GREEN_FAULTS
#include "fault.h"

/* A wide select in a run needs memory for its set of channels. */
static void *wide_select_enomem_main(void *arg)
{
    (void)arg;
    green_chan_t *ch = green_chan_new(sizeof(int), 1);
    int v = 0;
    green_case_t cases[10];
    for (int i = 0; i < 10; i++)
        cases[i] = (green_case_t){.chan = ch, .op = GREEN_RECV, .elem = &v};
    green__fault_set(GREEN__FAULT_malloc, 1, true, ENOMEM);
    errno = 0;
    ck_assert_int_eq(green_select(cases, 10), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green_chan_send(ch, &(int){7}), 0);
    v = 0;
    ck_assert_int_ge(green_select(cases, 10), 0);
    ck_assert_int_eq(v, 7);
    green_chan_free(ch);
    return NULL;
}

/* A group member's record for other schedulers is made before it is
 * spawned: without memory the spawn fails and the group is as it was. */
static void *group_member_enomem_main(void *arg)
{
    (void)arg;
    green_group_t *g = green_group_new();
    green__fault_set(GREEN__FAULT_malloc, 1, true, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(green_group_spawn_attr(g, &(green_attr_t){.place = GREEN_PLACE_ON(1)},
                                              return_index, NULL));
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green_group_wait(g), 0);  /* nothing running */
    group_spawn_on(g, GREEN_PLACE_ON(1), return_index, NULL);
    ck_assert_int_eq(green_group_wait(g), 0);
    green_group_free(g);
    return NULL;
}

START_TEST(group_member_enomem)
{
    run_on(2, group_member_enomem_main, NULL);
}
END_TEST

/* A wide select's memory fails (the arg-th allocation: alone its waits,
 * in a run after its set of channels): its channels are left unbound. */
static void *wide_enomem_main(void *arg)
{
    green_chan_t *ch = green_chan_new(sizeof(int), 0);
    int v = 0;
    green_case_t cases[10];
    for (int i = 0; i < 10; i++)
        cases[i] = (green_case_t){.chan = ch, .op = GREEN_RECV, .elem = &v};
    green__fault_set(GREEN__FAULT_malloc, (int)(intptr_t)arg, false, ENOMEM);
    errno = 0;
    ck_assert_int_eq(green_select(cases, 10), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(probe(ch), EAGAIN);
    green_chan_free(ch);
    return NULL;
}

START_TEST(wide_select_enomem_unbinds_alone)
{
    ck_assert_int_eq(green_run(wide_enomem_main, (void *)1), 0);
}
END_TEST

START_TEST(wide_select_enomem_unbinds_in_run)
{
    run_on(2, wide_enomem_main, (void *)2);
}
END_TEST

/* A gather over a thread elsewhere needs its handle's record there:
 * without memory nothing is claimed or joined, and a second try works. */
static void *gather_enomem_main(void *arg)
{
    (void)arg;
    green_t *t[2] = {spawn_on(0, return_index, (void *)1), spawn_on(1, return_index, (void *)2)};
    green__fault_set(GREEN__FAULT_malloc, 1, true, ENOMEM);
    errno = 0;
    ck_assert_int_eq(green_gather(t, 2, NULL), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    void *r[2];
    ck_assert_int_eq(green_gather(t, 2, r), 0);
    ck_assert_int_eq((intptr_t)r[0], 1);
    ck_assert_int_eq((intptr_t)r[1], 1002);
    return NULL;
}

START_TEST(gather_enomem)
{
    run_on(2, gather_enomem_main, NULL);
}
END_TEST

START_TEST(wide_select_enomem)
{
    run_on(2, wide_select_enomem_main, NULL);
}
END_TEST
#endif

Suite *across_suite(void)
{
    Suite *s = suite_create("across");
    TCase *tc = tcase_create("chan");
    tcase_add_test(tc, unbuffered_both_ways);
    tcase_add_test(tc, buffered_many_to_many);
    tcase_add_test(tc, select_fed_from_two_schedulers);
    tcase_add_test(tc, deadlines_race_the_partner);
    tcase_add_test(tc, close_and_free_wake_every_scheduler);
    tcase_add_test(tc, cancel_and_wide_select_across);
    tcase_add_test(tc, run_owns_its_channels);
    tcase_add_test(tc, channel_deadlock_across);
    tcase_add_test(tc, ready_select_unbinds_every_channel);
    tcase_add_test(tc, alone_select_unbinds_every_channel);
    tcase_add_test(tc, dropped_partner_unbinds_its_channel);
    tcase_add_test(tc, select_deadlines_race_across);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    TCase *sync = tcase_create("sync");
    tcase_add_test(sync, mutex_across);
    tcase_add_test(sync, mutex_deadlines_race_the_handoff);
    tcase_add_test(sync, semaphore_across);
    tcase_add_test(sync, condition_across);
    tcase_add_test(sync, cancel_lock_waiter_across);
    tcase_add_test(sync, mutex_deadlock_across);
    tcase_add_test(sync, dump_during_mutex_handoff);
    tcase_set_timeout(sync, 60);
    suite_add_tcase(s, sync);
    TCase *group = tcase_create("group");
    tcase_add_test(group, group_spans_schedulers);
    tcase_add_test(group, group_cancelled_from_elsewhere);
    tcase_add_test(group, group_wait_deadline_across);
    tcase_add_test(group, group_freed_before_members_elsewhere);
    tcase_add_test(group, gather_across);
    TCase *fds = tcase_create("fd");
    tcase_add_test(fds, close_wakes_waiters_everywhere);
    tcase_add_test(fds, release_wakes_waiters_everywhere);
    tcase_add_test(fds, stress_talking_across);
    tcase_set_timeout(fds, 60);  /* the stress test, on a loaded machine */
    suite_add_tcase(s, fds);
    suite_add_tcase(s, group);
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, wide_select_enomem);
    add_fault_test(faults, group_member_enomem);
    add_fault_test(faults, gather_enomem);
    add_fault_test(faults, wide_select_enomem_unbinds_alone);
    add_fault_test(faults, wide_select_enomem_unbinds_in_run);
    suite_add_tcase(s, faults);
    return s;
}
