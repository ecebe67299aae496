/*
 * Handles across schedulers: spawning on another scheduler of the run,
 * and joining, detaching and cancelling a thread that lives on one.
 *
 * A thread's state belongs to its own scheduler; another scheduler reads
 * and writes only the fields of a handle (joiner, detached, ended,
 * remote_join) and only under the owner's handles lock.  Whatever must
 * happen on the owner's thread (spawning there, cancelling, freeing a
 * thread joined from elsewhere) is a request posted to the owner's inbox
 * and carried out when it drains it.  A thread joined from elsewhere
 * tells its joiner when it finishes by posting the joiner's record to the
 * joiner's inbox.
 */
#include "sched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cores.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* What a thread needs once another scheduler uses its handle, made then:
 * a thread of one scheduler never pays for it. */
struct green__shared {
    struct green__remote *remote_join;  /* the joiner's record, elsewhere */
    struct green__remote free_msg, cancel_msg;
};

/* A request runs on the stack of whichever thread of the owner waits in
 * the poller, which may be the finished thread itself: it is queued with
 * the detached ones, which the owner frees after its next switch, on
 * another stack. */
static void deliver_free(struct green__remote *r)
{
    green__thread_bury(r->thread);
}

static void deliver_cancel(struct green__remote *r)
{
    green__cancel(r->thread);
}

struct green__shared *green__across_make(void)
{
    return malloc(sizeof(struct green__shared));
}

void green__across_unmade(struct green__shared *xs)
{
    free(xs);
}

void green__across_adopt(green_t *t, struct green__shared *xs)
{
    *xs = (struct green__shared){
        .free_msg = {.thread = t, .deliver = deliver_free},
        .cancel_msg = {.thread = t, .deliver = deliver_cancel},
    };
    t->xs = xs;
    t->shared = true;
}

/* Under the owner's lock: t's records for other schedulers, made the
 * first time one of them uses its handle; 0 or -ENOMEM. */
static int share(green_t *t)
{
    if (t->shared)
        return 0;
    struct green__shared *xs = green__across_make();
    if (!xs)
        return -ENOMEM;
    green__across_adopt(t, xs);
    return 0;
}

/* The owner frees t, which is finished and claimed; when the owner has
 * ended, the run's teardown frees it instead. */
static void free_there(green_t *t)
{
    (void)green__inbox_send(&t->sched->inbox, &t->xs->free_msg);
}

bool green__across_exit(green_t *t)
{
    t->ended = true;
    if (!t->shared || !t->xs->remote_join)
        return false;
    green__inbox_post(&t->joiner->sched->inbox, t->xs->remote_join);
    return true;
}

void green__across_free(green_t *t)
{
    struct green__sched *o = t->sched;
    green__lock_handles(o);
    if (t->shared) {
        green__inbox_unpost(&o->inbox, &t->xs->cancel_msg);
        green__inbox_unpost(&o->inbox, &t->xs->free_msg);
        free(t->xs);
        t->shared = false;
    }
    green__unlock_handles(o);
}

/* Joining. */

struct xjoin {
    struct green__wait wait;
    struct green__remote told;     /* posted here when the target finishes */
    const green_t *target;
};

static void xjoin_describe(const struct green__wait *w, char *buf, size_t n)
{
    const green_t *t = green__container_of(w, struct xjoin, wait)->target;
    snprintf(buf, n, "join #%llu '%s' on scheduler %u", (unsigned long long)t->id, t->name,
             t->sched->index);
}

static const struct green__waitop xjoin_op = {
    .unlink = NULL,
    .describe = xjoin_describe,
    .kind = GREEN__WAIT_JOIN,
};

/* Under the owner's lock: claims t for self, or -EINVAL or -ENOMEM. */
static int claim(green_t *t, green_t *self)
{
    if (t->detached || t->joiner)
        return -EINVAL;
    int err = share(t);
    if (err == 0)
        t->joiner = self;
    return err;
}

/* Parks until t, claimed by the caller, finishes; whether it did.  A
 * shielded wait ignores the deadline and cancellation.  Not inlined: the
 * caller's record is unlinked before it returns, which the compiler
 * cannot see. */
static __attribute__((noinline)) bool wait_for(struct green__sched *s, green_t *t, struct xjoin *j,
                                               bool shielded, int *err)
{
    struct green__sched *o = t->sched;
    green__lock_handles(o);
    bool ended = t->ended;
    if (!ended)
        t->xs->remote_join = &j->told;
    green__unlock_handles(o);
    if (ended)
        return true;
    *err = shielded ? green__park_shielded(s, &j->wait)
                    : green__park(s, &j->wait, s->current->deadline, ETIMEDOUT);
    green__lock_handles(o);
    ended = t->ended;
    t->xs->remote_join = NULL;
    green__unlock_handles(o);
    /* Posted after the wait ended otherwise: it must not wake a later
     * wait. */
    green__inbox_unpost(&s->inbox, &j->told);
    return ended;
}

int green__across_claim(struct green__sched *s, green_t *t)
{
    struct green__sched *o = t->sched;
    green__lock_handles(o);
    int err = claim(t, s->current);
    green__unlock_handles(o);
    return err;
}

void green__across_unclaim(green_t *t)
{
    struct green__sched *o = t->sched;
    green__lock_handles(o);
    t->joiner = NULL;
    green__unlock_handles(o);
}

int green__across_await(struct green__sched *s, green_t *t, void **result, bool shielded)
{
    struct xjoin j = {.wait.op = &xjoin_op, .told.thread = s->current, .target = t};
    int err = 0;
    if (!wait_for(s, t, &j, shielded, &err))
        return err;
    if (result)
        *result = t->result;
    free_there(t);
    return 0;
}

int green__across_join(struct green__sched *s, green_t *t, void **result)
{
    int err = green__across_claim(s, t);
    if (err == 0 && (err = green__across_await(s, t, result, false)) < 0)
        green__across_unclaim(t);  /* cut short: it may be joined again */
    return err;
}

int green__across_detach(green_t *t)
{
    struct green__sched *o = t->sched;
    green__lock_handles(o);
    int err = t->detached || t->joiner ? -EINVAL : share(t);
    bool ended = t->ended;
    if (err == 0)
        t->detached = true;  /* a finished one is freed below, once */
    green__unlock_handles(o);
    if (err == 0 && ended)
        free_there(t);
    return err;
}

int green__across_cancel(green_t *t)
{
    struct green__sched *o = t->sched;
    green__lock_handles(o);
    int err = t->ended ? 0 : share(t);
    if (!t->ended && err == 0)
        (void)green__inbox_send(&o->inbox, &t->xs->cancel_msg);
    green__unlock_handles(o);
    return err;
}

/* Spawning.
 *
 * A spawn on another scheduler is a request to it, and the spawner waits,
 * shielded, for the answer: the request lives on the spawner's stack.  A
 * scheduler carries its requests out at every switch, so the wait is
 * long only behind a thread that runs without parking or yielding.  A
 * spawn placed with GREEN_PLACE_ANY does not wait for such a thread: if
 * the thread has not been made within TAKE_BACK_MS, the spawner takes its
 * request back out of the other scheduler's inbox and makes the thread on
 * its own.  That is the only stealing there is, and it takes only what
 * has not started, not even been made: a thread never moves. */
enum { TAKE_BACK_MS = 1 };

struct spawnreq {
    struct green__remote ask;      /* carried out on the other scheduler */
    struct green__remote reply;    /* tells the spawner */
    struct green__wait wait;
    struct green__sched *from, *on;
    const green_attr_t *attr;
    void *(*fn)(void *);
    void *arg;
    void (*link)(green_t *t, void *ctx);
    void *ctx;
    green_t *t;
    int err;
    bool made;                     /* the reply came; on the spawner's thread */
};

static void deliver_spawn(struct green__remote *r)
{
    struct spawnreq *q = green__container_of(r, struct spawnreq, ask);
    /* Never eager here: this runs inside the owner's look at its inbox,
     * not on a green thread that could give way to the new one. */
    green_attr_t attr = q->attr ? *q->attr : (green_attr_t){0};
    attr.eager = false;
    /* The spawner is parked until the reply: its values hold still. */
    q->t = green__spawn_then(q->on, q->reply.thread, &attr, q->fn, q->arg, q->link, q->ctx,
                             &q->err);
    green__inbox_post(&q->from->inbox, &q->reply);
}

/* Drained on the spawner's scheduler.  The flag, not the wake-up, says
 * the thread was made: a spawner whose timed wait ended meanwhile is
 * runnable already and not woken again. */
static void deliver_reply(struct green__remote *r)
{
    struct spawnreq *q = green__container_of(r, struct spawnreq, reply);
    q->made = true;
    green__wake(r->thread, 0);
}

static void spawn_describe(const struct green__wait *w, char *buf, size_t n)
{
    snprintf(buf, n, "spawn on scheduler %u",
             green__container_of(w, struct spawnreq, wait)->on->index);
}

static const struct green__waitop spawn_op = {.unlink = NULL, .describe = spawn_describe};

static bool is_record(const struct green__remote *r, void *which)
{
    return r == which;
}

/* Waits TAKE_BACK_MS for q's thread to be made; whether the request was
 * taken back instead, to be made here. */
static bool took_back(struct green__sched *s, struct spawnreq *q)
{
    (void)green__park_shielded_until(s, &q->wait, green_now() + TAKE_BACK_MS, ETIMEDOUT);
    return !q->made && green__inbox_take(&q->on->inbox, is_record, &q->ask);
}

green_t *green__across_spawn(struct green__sched *s, struct green__sched *on,
                             const green_attr_t *attr, void *(*fn)(void *), void *arg,
                             void (*link)(green_t *t, void *ctx), void *ctx, int *err)
{
    struct spawnreq q = {
        .ask.deliver = deliver_spawn, .reply = {.thread = s->current, .deliver = deliver_reply},
        .wait.op = &spawn_op, .from = s, .on = on, .attr = attr, .fn = fn, .arg = arg,
        .link = link, .ctx = ctx,
    };
    /* An ended scheduler takes no more threads; it ended because main
     * returned, so the thread starts cancelled wherever it runs. */
    if (!green__inbox_send(&on->inbox, &q.ask) ||
        (attr && attr->place == GREEN_PLACE_ANY && took_back(s, &q)))
        return green__spawn_then(s, s->current, attr, fn, arg, link, ctx, err);
    /* Shielded: the answer is on its way, and q lives on this stack. */
    while (!q.made)
        (void)green__park_shielded(s, &q.wait);
    *err = q.err;
    return q.t;
}
