/*
 * Channels and select, with Go's semantics.
 *
 * A channel is a ring buffer of cap values and two queues of parked
 * operations, senders and receivers.  The operation that finds a partner
 * parked does the whole transfer itself, copying the value straight from
 * or into the parked thread's memory, and then wakes it: a woken
 * operation is already complete.  Capacity 0 is a rendezvous: a value
 * only ever moves from a sender's memory to a receiver's.
 *
 * green_chan_send and green_chan_recv are select with one case, so there
 * is one path.  A select parks with one chanwait per case, all on
 * the selecting thread's stack; the first partner to come takes one, and
 * waking the thread unlinks the rest.
 *
 * In a run of several schedulers a channel may be used from any of them.
 * Each channel then has a spin lock, and a select holds the locks of all
 * its channels (taken in address order, so that two selects never each
 * wait for the other's) while it looks for a partner and queues its
 * cases: a partner cannot come between the look and the queueing.  A
 * partner takes a case only by winning the select's `over` flag, so that
 * one case fires however many channels offer one at once, and it wakes the
 * thread (by a post to its scheduler's inbox when that is another).  The woken thread takes its
 * other cases off their channels itself (withdraw): a deadline or a
 * cancellation that ends the wait must win `over` too, and when a partner
 * won first the select has completed, its value moved, whatever ended the
 * wait.  A scheduler alone takes none of these locks.
 *
 * A select may also wait for an fd's readiness (GREEN_READY) and for a
 * thread's end (GREEN_DONE), which only its own scheduler sees: each fd
 * case watches its fd through the poller (green__fd_watch) with the
 * select's wait, and each thread is claimed for a join, whose end wakes
 * the claimer (ends_at_join).  Such a wake-up only says to look again:
 * the woken select picks among the non-channel cases that are ready now,
 * or, in a run, wins `over` first; if nothing is ready after all, it
 * starts again.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "spin.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

struct selectwait;

/* One parked case. */
struct chanwait {
    struct green__node node;   /* in the channel's sendq or recvq */
    green_chan_t *ch;          /* NULL: this case has no channel */
    struct selectwait *sel;    /* the wait it is part of */
    void *elem;                /* the value to send, or where to receive */
    size_t index;              /* the case it stands for */
    int op;
    bool queued;               /* in ch's queue (under ch's lock) */
};

/* A select's wait: one chanwait per case, on the selecting thread's stack. */
struct selectwait {
    struct green__wait wait;
    struct chanwait *cases;
    size_t n;
    size_t fired;              /* the case a partner completed, or NONE */
    int err;                   /* its error: 0, or EPIPE when closed */
    struct green__fdwait *fds; /* the fd cases' watches, or NULL for none */
    const green_case_t *user;  /* the cases, for green_dump */
};

#define NONE SIZE_MAX

/* A select whose non-channel case woke it looks again. */
#define AGAIN (-EINTR)

/* A select's wait in a run of several schedulers. */
struct runselect {
    struct selectwait sw;
    atomic_bool over;          /* a case fired, or the wait ended otherwise */
    struct green__remote woken; /* posted by a partner on another scheduler */
};

#define FREED ((size_t)1 << (sizeof(size_t) * 8 - 1))

static struct runselect *in_run(struct selectwait *sw)
{
    return green__container_of(sw, struct runselect, sw);
}

struct green_chan {
    void *sched;               /* bound while operations are parked on it:
                                  to a scheduler, or to a run of several */
    size_t elem_size, cap;
    size_t head, count;        /* the buffered values: a ring */
    bool closed;
    struct green__list sendq, recvq;
    /* In a run of several schedulers: */
    int lock;
    /* How many selects have queued a case here and not left yet, with
     * FREED set once the channel is freed meanwhile: the one that makes
     * it FREED alone frees it. */
    atomic_size_t parked;
    unsigned char buf[];
};

/* Waits on the stack; a select over more cases allocates its waits. */
#define STACK_WAITS 8

green_chan_t *green_chan_new(size_t elem_size, size_t capacity)
{
    if (elem_size && capacity > (SIZE_MAX - sizeof(green_chan_t)) / elem_size) {
        errno = EINVAL;
        return NULL;
    }
    green_chan_t *ch = calloc(1, sizeof *ch + elem_size * capacity);
    if (!ch) {
        errno = ENOMEM;
        return NULL;
    }
    ch->elem_size = elem_size;
    ch->cap = capacity;
    return ch;
}

static void copy(const green_chan_t *ch, void *to, const void *from)
{
    if (ch->elem_size)
        memcpy(to, from, ch->elem_size);
}

static void *slot(green_chan_t *ch, size_t i)
{
    return ch->buf + ((ch->head + i) % ch->cap) * ch->elem_size;
}

static struct chanwait *first(const struct green__list *q)
{
    return q->first ? green__container_of(q->first, struct chanwait, node) : NULL;
}

static void unbind_if_idle(green_chan_t *ch)
{
    if (green__list_empty(&ch->sendq) && green__list_empty(&ch->recvq))
        ch->sched = NULL;
}

static void dequeue(struct chanwait *w)
{
    green__list_remove(w->op == GREEN_SEND ? &w->ch->sendq : &w->ch->recvq, &w->node);
    w->queued = false;
}

/* The first parked operation of q that a partner may complete.  Alone, a
 * select's cases leave their queues when it is woken.  In a run, the
 * operation is taken off q, and a select that is over leaves its queues
 * only when its thread runs again (withdraw), so those are dropped on the
 * way. */
GREEN__SPECIALISED struct chanwait *take(struct green__list *q, bool shared)
{
    if (!shared)
        return first(q);  /* waking it takes it off (select_unlink) */
    struct chanwait *w;
    while ((w = first(q)) != NULL) {
        dequeue(w);
        bool no = false;
        if (atomic_compare_exchange_strong(&in_run(w->sel)->over, &no, true))
            return w;
    }
    return NULL;
}

/* Whether q has an operation a partner may complete, dropping those of
 * selects that are over from its head. */
GREEN__SPECIALISED bool waiting(struct green__list *q, bool shared)
{
    if (!shared)
        return !green__list_empty(q);
    struct chanwait *w;
    while ((w = first(q)) != NULL &&
           atomic_load_explicit(&in_run(w->sel)->over, memory_order_relaxed))
        dequeue(w);
    return w != NULL;
}

/* Completes the taken operation w with err (0 or EPIPE) and wakes it. */
GREEN__SPECIALISED void fire(struct chanwait *w, int err, bool shared)
{
    struct selectwait *sw = w->sel;
    sw->fired = w->index;
    sw->err = err;
    if (!shared) {
        green__wake(sw->wait.thread, 0);
        return;
    }
    /* Not sw->wait.thread: green__park sets that, and in a run a partner
     * may come as soon as the select has queued its cases. */
    struct green__remote *woken = &in_run(sw)->woken;
    green_t *t = woken->thread;
    if (t->sched == green__cur)
        green__wake(t, 0);
    else
        green__inbox_post(&t->sched->inbox, woken);
}

/* The non-blocking operations: 0 when done, -EPIPE when the channel is
 * closed, -EAGAIN when it would have to wait. */

GREEN__SPECIALISED int try_send(green_chan_t *ch, const void *elem, bool shared)
{
    if (ch->closed)
        return -EPIPE;
    struct chanwait *w = take(&ch->recvq, shared);
    if (w) {
        copy(ch, w->elem, elem);
        fire(w, 0, shared);
        return 0;
    }
    if (ch->count < ch->cap) {
        copy(ch, slot(ch, ch->count++), elem);
        return 0;
    }
    return -EAGAIN;
}

GREEN__SPECIALISED int try_recv(green_chan_t *ch, void *elem, bool shared)
{
    struct chanwait *w;
    if (ch->count > 0) {
        copy(ch, elem, slot(ch, 0));
        ch->head = (ch->head + 1) % ch->cap;
        ch->count--;
        /* The space just freed goes to the longest-waiting sender. */
        if ((w = take(&ch->sendq, shared)) != NULL) {
            copy(ch, slot(ch, ch->count++), w->elem);
            fire(w, 0, shared);
        }
        return 0;
    }
    if ((w = take(&ch->sendq, shared)) != NULL) {
        copy(ch, elem, w->elem);
        fire(w, 0, shared);
        return 0;
    }
    return ch->closed ? -EPIPE : -EAGAIN;
}

GREEN__SPECIALISED bool ready(const green_case_t *c, bool shared)
{
    green_chan_t *ch = c->chan;
    if (!ch)
        return false;
    if (ch->closed)
        return true;
    if (c->op == GREEN_SEND)
        return waiting(&ch->recvq, shared) || ch->count < ch->cap;
    return ch->count > 0 || waiting(&ch->sendq, shared);
}

static void unbind_cases(green_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cases[i].chan)
            unbind_if_idle(cases[i].chan);
}

/* Performs one of the ready cases, chosen at random so that none starves.
 * Returns its index, or -EAGAIN when none is ready.  In a run, a case
 * found ready may find its partner gone (another case of the partner's
 * select fired meanwhile); that partner is dropped and the look made
 * again. */
/* The non-channel cases. */

static bool other(const green_case_t *c)
{
    return c->op == GREEN_READY || c->op == GREEN_DONE;
}

/* Whether a non-channel case is ready, as a look without waiting saw it:
 * a thread's end, or what fds[i] says of the fd (set by look_at_fds). */
static bool other_ready(const green_case_t *c, const struct green__fdwait *fdw)
{
    if (c->op == GREEN_DONE)
        return c->thread && c->thread->state == GREEN__DONE;
    return c->fd >= 0 && fdw && fdw->revents != 0;
}

/* Looks at each fd case's fd without waiting (a poll(2) each), into
 * fds[i].revents: GREEN__NVAL for an error. */
static void look_at_fds(const green_case_t *cases, size_t n, struct green__fdwait *fds)
{
    for (size_t i = 0; i < n; i++) {
        if (cases[i].op != GREEN_READY || cases[i].fd < 0)
            continue;
        int r = green__poll_one(cases[i].fd, cases[i].events, 0);
        fds[i] = (struct green__fdwait){.fd = cases[i].fd, .events = cases[i].events,
                                        .revents = r < 0 ? GREEN__NVAL : r};
        fds[i].res = r < 0 ? -r : 0;
    }
}

/* Performs non-channel case c: joins its thread, or hands out what its
 * fd is ready for. */
static void perform_other(struct green__sched *s, green_case_t *c, int ready_or_err)
{
    if (c->op == GREEN_DONE) {
        (void)green__join(s, c->thread, c->elem, true);  /* done: no wait */
        c->thread = NULL;  /* joined: not to be given back */
        c->err = 0;
        return;
    }
    c->err = ready_or_err < 0 ? -ready_or_err : 0;
    c->events = ready_or_err < 0 ? 0 : ready_or_err;
}

static int fd_result(const struct green__fdwait *w)
{
    return w->revents & GREEN__NVAL ? -(w->res ? w->res : EBADF)
                                    : green__ready_events(w->revents, w->events);
}

GREEN__SPECIALISED int perform_ready(struct green__sched *s, green_case_t *cases, size_t n,
                                     bool shared, struct green__fdwait *fds, bool block)
{
    for (;;) {
        size_t nready = 0;
        bool others = false;
        for (size_t i = 0; i < n; i++) {
            nready += ready(&cases[i], shared) ||
                      (cases[i].op == GREEN_DONE && other_ready(&cases[i], NULL));
            others |= cases[i].op == GREEN_READY;
        }
        /* An fd costs a look only where it could be chosen now: in a try,
         * or beside another ready case.  Otherwise its watch says. */
        struct green__fdwait *seen = others && (nready || !block) ? fds : NULL;
        if (seen) {
            look_at_fds(cases, n, fds);
            for (size_t i = 0; i < n; i++)
                nready += cases[i].op == GREEN_READY && other_ready(&cases[i], &seen[i]);
        }
        if (nready == 0)
            return -EAGAIN;
        size_t i = 0;
        if (n > 1) {
            size_t pick = nready == 1 ? 0 : (size_t)(green__random(s) % nready);
            /* In a run, a partner counted above may be gone by now. */
            while (i < n && !((ready(&cases[i], shared) ||
                               (other(&cases[i]) && other_ready(&cases[i], seen ? &seen[i] : NULL))) &&
                              pick-- == 0))
                i++;
            if (i == n)
                continue;
        }
        green_case_t *c = &cases[i];
        if (other(c)) {
            perform_other(s, c, c->op == GREEN_READY ? fd_result(&seen[i]) : 0);
            unbind_cases(cases, n);
            return (int)i;
        }
        int err = c->op == GREEN_SEND ? try_send(c->chan, c->elem, shared)
                                      : try_recv(c->chan, c->elem, shared);
        if (err == -EAGAIN)
            continue;
        c->err = -err;
        /* Every case's channel, not only this one's: the others were
         * bound too, and dropping a partner that was gone may have left
         * another idle. */
        unbind_cases(cases, n);
        return (int)i;
    }
}

/* The channels of a select in a run: each once, in address order, the
 * order in which every select takes their locks. */
struct chanset {
    green_chan_t **ch;
    size_t n;
    green_chan_t *stack[STACK_WAITS];
};

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)*(green_chan_t *const *)a, y = (uintptr_t)*(green_chan_t *const *)b;
    return (x > y) - (x < y);
}

static int chanset_make(struct chanset *set, const green_case_t *cases, size_t n)
{
    set->ch = n <= STACK_WAITS ? set->stack : malloc(n * sizeof *set->ch);
    if (!set->ch)
        return -ENOMEM;
    set->n = 0;
    for (size_t i = 0; i < n; i++)
        if (cases[i].chan)
            set->ch[set->n++] = cases[i].chan;
    if (set->n > 1)
        qsort(set->ch, set->n, sizeof *set->ch, by_address);
    size_t k = 0;
    for (size_t i = 0; i < set->n; i++)
        if (k == 0 || set->ch[i] != set->ch[k - 1])
            set->ch[k++] = set->ch[i];
    set->n = k;
    return 0;
}

static void chanset_free(struct chanset *set)
{
    if (set->ch != set->stack)
        free(set->ch);
}

static void lock_all(const struct chanset *set)
{
    for (size_t i = 0; set && i < set->n; i++)
        green__spin_lock(&set->ch[i]->lock);
}

static void unlock_all(const struct chanset *set)
{
    for (size_t i = 0; set && i < set->n; i++)
        green__spin_unlock(&set->ch[i]->lock);
}

/* Parking. */

/* The fd cases' watches: the select's own scheduler's, so taken off at
 * once, in a run too. */
static void unwatch_fds(struct selectwait *sw)
{
    for (size_t i = 0; sw->fds && i < sw->n; i++)
        green__fd_unwatch(green__cur, &sw->fds[i]);
}

static void select_unlink(struct green__wait *wait)
{
    struct selectwait *sw = green__container_of(wait, struct selectwait, wait);
    for (size_t i = 0; i < sw->n; i++) {
        struct chanwait *w = &sw->cases[i];
        if (!w->ch || !w->queued)
            continue;
        dequeue(w);
        unbind_if_idle(w->ch);
    }
    unwatch_fds(sw);
}

static void select_shared_unlink(struct green__wait *wait)
{
    unwatch_fds(green__container_of(wait, struct selectwait, wait));
}

static void select_describe(const struct green__wait *wait, char *buf, size_t n)
{
    const struct selectwait *sw = green__container_of(wait, struct selectwait, wait);
    const struct chanwait *w = sw->cases;
    const green_case_t *c = sw->user;
    if (sw->n > 1)
        snprintf(buf, n, "select over %zu cases", sw->n);
    else if (c && c->op == GREEN_READY)
        snprintf(buf, n, "select fd %d", c->fd);
    else if (c && c->op == GREEN_DONE && c->thread)
        snprintf(buf, n, "select join #%llu", (unsigned long long)c->thread->id);
    else
        snprintf(buf, n, "chan %s %p", w->op == GREEN_SEND ? "send" : "recv", (void *)w->ch);
}

static const struct green__waitop select_op = {
    .unlink = select_unlink,
    .describe = select_describe,
    .ends_at_join = true,
    .kind = GREEN__WAIT_CHAN,
};

/* In a run, the woken thread takes its cases off the channels itself. */
static const struct green__waitop select_shared_op = {
    .unlink = select_shared_unlink,
    .describe = select_describe,
    .ends_at_join = true,
    .kind = GREEN__WAIT_CHAN,
};

/* A select leaves ch: whether ch was freed meanwhile and it was the last
 * to leave, which is then to free it. */
static bool leave(green_chan_t *ch)
{
    return atomic_fetch_sub_explicit(&ch->parked, 1, memory_order_acq_rel) == FREED + 1;
}

/* In a run, after the wait, with none of the locks held: takes the
 * select's cases off their channels.  A partner that won `over` first
 * completed the select, whatever else ended the wait (err); its post is
 * taken back if it has not woken the thread yet.  A channel freed while
 * the select was parked on it is freed by the last such select to leave. */
static __attribute__((noinline)) int withdraw(struct runselect *rs, const struct chanset *set,
                                              int err)
{
    if (err == 0 && rs->sw.n == 1 && rs->sw.cases[0].ch) {
        /* Woken by the partner that took the select's one case off its
         * queue, after it moved the value (the post it made, drained on
         * this thread, or its wake-up from this thread): nothing is left
         * to take off or back, and no lock is needed. */
        if (leave(set->ch[0]))
            free(set->ch[0]);
        return 0;
    }
    lock_all(set);
    bool no = false;
    if (!atomic_compare_exchange_strong(&rs->over, &no, true))
        err = 0;
    select_unlink(&rs->sw.wait);
    /* A post was made under a lock held here, so whether it is still on
     * the list can be read without the inbox's lock (usually, the post is
     * what woke the thread and it is off). */
    if (rs->woken.posted)
        green__inbox_unpost(&green__cur->inbox, &rs->woken);
    unlock_all(set);
    /* Last: once it has left, a channel may be freed by another. */
    for (size_t i = 0; i < set->n; i++)
        if (leave(set->ch[i]))
            free(set->ch[i]);
    return err;
}

/* Queues a wait for each case on its channel, from a random case on, so
 * that of several cases on one channel the partner that comes (which
 * takes the first in the queue) completes each as often. */
GREEN__SPECIALISED void queue_cases(struct green__sched *s, const green_case_t *cases,
                                    struct selectwait *sw)
{
    size_t n = sw->n, start = n > 1 ? (size_t)(green__random(s) % n) : 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        green_chan_t *ch = cases[i].chan;
        sw->cases[i] = (struct chanwait){.ch = ch, .sel = sw, .elem = cases[i].elem,
                                         .index = i, .op = cases[i].op, .queued = ch != NULL};
        if (ch)
            green__list_push(cases[i].op == GREEN_SEND ? &ch->sendq : &ch->recvq,
                             &sw->cases[i].node);
    }
}

/* The enabled non-channel cases. */
static size_t count_others(const green_case_t *cases, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (cases[i].op == GREEN_READY && cases[i].fd >= 0) ||
             (cases[i].op == GREEN_DONE && cases[i].thread);
    return k;
}

/* Non-channel case c's readiness now: its thread ended (1), or what its
 * fd is ready for as its watch w saw it (the wake-up's error err with
 * it) and, with look, as poll(2) sees it now; -errno for an error, 0 for
 * not ready. */
static int other_now(struct green__sched *s, const green_case_t *c,
                     const struct green__fdwait *w, int err, bool look)
{
    if (c->op == GREEN_DONE)
        return c->thread && c->thread->state == GREEN__DONE;
    if (c->fd < 0)
        return 0;
    int r = w->revents ? green__fd_watched(s, w, err) : 0;
    return r == 0 && look ? green__poll_one(c->fd, c->events, 0) : r;
}

/* What the watches saw and the select did not use, handed on. */
static void unused_fds(struct green__sched *s, const struct selectwait *sw, size_t except)
{
    for (size_t i = 0; sw->fds && i < sw->n; i++)
        if (i != except && sw->fds[i].revents)
            green__fd_unused(s, &sw->fds[i]);
}

/* The non-channel cases ready now, one of them at random, performed;
 * AGAIN when none is (the select starts again).  With more than one such
 * case, every fd is looked at (look), so that the choice is fair. */
static int choose_other(struct green__sched *s, green_case_t *cases, struct selectwait *sw,
                        int err, bool look)
{
    static const struct green__fdwait none;
    size_t n = sw->n, nready = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t pick = pass == 0 ? 0 : nready == 1 ? 0 : (size_t)(green__random(s) % nready);
        for (size_t i = 0; i < n; i++) {
            if (!other(&cases[i]))
                continue;
            const struct green__fdwait *w = sw->fds ? &sw->fds[i] : &none;
            /* The first pass's answers, kept where there is room. */
            int r = pass == 0 || !sw->fds ? other_now(s, &cases[i], w, err, look)
                                          : sw->fds[i].res;
            if (sw->fds)
                sw->fds[i].res = r;
            if (pass == 0) {
                nready += r != 0;
            } else if (r != 0 && pick-- == 0) {
                unused_fds(s, sw, i);
                perform_other(s, &cases[i], r);
                return (int)i;
            }
        }
        if (nready == 0)
            break;
    }
    unused_fds(s, sw, NONE);
    return AGAIN;
}

/* Watches each fd case's fd for sw.  AGAIN when it watches them all;
 * else one was ready (or failed) at once: the watches are taken off, and
 * a ready case is performed (the index returned). */
static int watch_fds(struct green__sched *s, green_case_t *cases, struct selectwait *sw)
{
    if (!sw->fds)
        return AGAIN;
    memset(sw->fds, 0, sw->n * sizeof *sw->fds);
    for (size_t i = 0; i < sw->n; i++) {
        if (cases[i].op != GREEN_READY || cases[i].fd < 0)
            continue;
        int r = green__fd_watch(s, &sw->fds[i], cases[i].fd, cases[i].events);
        if (r != 0) {
            unwatch_fds(sw);
            if (r < 0)
                sw->fds[i].revents = GREEN__NVAL;
            return choose_other(s, cases, sw, r < 0 ? -r : 0, count_others(cases, sw->n) > 1);
        }
    }
    return AGAIN;
}

/* Parks until a partner completes one of the cases, an fd case's fd is
 * ready or a GREEN_DONE case's thread ends.  Returns the index of the
 * case done, AGAIN, or -errno (ETIMEDOUT, ECANCELED, ENOMEM).  In a run,
 * set's locks are held on entry and released on return. */
GREEN__SPECIALISED int park_cases(struct green__sched *s, green_case_t *cases, size_t n,
                                  const struct chanset *set, bool shared,
                                  struct green__fdwait *fds)
{
    struct chanwait stack_waits[STACK_WAITS], *waits = stack_waits;
    if (n > STACK_WAITS && !(waits = malloc(n * sizeof *waits))) {
        unbind_cases(cases, n);
        if (shared)
            unlock_all(set);
        return -ENOMEM;
    }
    /* In a run, the select's wait has more to it; alone, only its first
     * part is set. */
    struct runselect rs;
    struct selectwait *sw = &rs.sw;
    *sw = (struct selectwait){.wait.op = shared ? &select_shared_op : &select_op,
                              .cases = waits, .n = n, .fired = NONE, .fds = fds,
                              .user = cases};
    int now = watch_fds(s, cases, sw);
    if (now != AGAIN) {
        unbind_cases(cases, n);
        if (shared)
            unlock_all(set);
        if (waits != stack_waits)
            free(waits);
        return now;
    }
    if (shared) {
        atomic_init(&rs.over, false);
        rs.woken = (struct green__remote){.thread = s->current};
    }
    queue_cases(s, cases, sw);
    if (shared) {
        for (size_t i = 0; i < set->n; i++)
            atomic_fetch_add_explicit(&set->ch[i]->parked, 1, memory_order_relaxed);
        unlock_all(set);
    }
    int err = green__park(s, &sw->wait, s->current->deadline, ETIMEDOUT);
    if (shared)
        err = withdraw(&rs, set, err);
    unwatch_fds(sw);  /* a partner's post may have come first */
    if (waits != stack_waits)
        free(waits);
    if (sw->fired != NONE && err == 0) {
        /* A partner, or close, completed this case. */
        unused_fds(s, sw, NONE);
        cases[sw->fired].err = sw->err;
        return (int)sw->fired;
    }
    if (err == -ETIMEDOUT || err == -ECANCELED) {
        unused_fds(s, sw, NONE);
        return err;
    }
    return choose_other(s, cases, sw, -err, count_others(cases, n) > 1);
}

static __attribute__((noinline)) int park_alone(struct green__sched *s, green_case_t *cases,
                                                size_t n, struct green__fdwait *fds)
{
    return park_cases(s, cases, n, NULL, false, fds);
}

static __attribute__((noinline)) int park_in_run(struct green__sched *s, green_case_t *cases,
                                                 size_t n, const struct chanset *set,
                                                 struct green__fdwait *fds)
{
    return park_cases(s, cases, n, set, true, fds);
}

/* Checks a non-channel case: its events, and one case per fd. */
static int check_other(const green_case_t *cases, size_t i)
{
    const green_case_t *c = &cases[i];
    if (c->chan)
        return -EINVAL;
    if (c->op == GREEN_DONE || c->fd < 0)
        return 0;
    if (!c->events || (c->events & ~(GREEN_IN | GREEN_OUT)))
        return -EINVAL;
    for (size_t j = 0; j < i; j++)
        if (cases[j].op == GREEN_READY && cases[j].fd == c->fd)
            return -EINVAL;
    return 0;
}

/* Checks the cases; *has_fds says whether one waits for an fd. */
static int check_cases(struct green__sched *s, const green_case_t *cases, size_t n,
                       bool *has_fds)
{
    *has_fds = false;
    if (!s)
        return -EPERM;
    if (n && !cases)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        const green_case_t *c = &cases[i];
        if (other(c)) {
            int err = check_other(cases, i);
            if (err < 0)
                return err;
            *has_fds |= c->op == GREEN_READY && c->fd >= 0;
            continue;
        }
        if (c->op != GREEN_SEND && c->op != GREEN_RECV)
            return -EINVAL;
        if (c->chan && c->chan->elem_size && !c->elem)
            return -EINVAL;
    }
    return 0;
}

static void unclaim_threads(struct green__sched *s, green_case_t *cases, size_t n)
{
    green__lock_handles(s);
    for (size_t i = 0; i < n; i++)
        if (cases[i].op == GREEN_DONE && cases[i].thread)
            cases[i].thread->joiner = NULL;  /* not joined: it may be again */
    green__unlock_handles(s);
}

/* The GREEN_DONE cases' threads, claimed for a join for the time of the
 * select (so that their end wakes it, and nobody else joins them), or
 * given back. */
static int claim_threads(struct green__sched *s, green_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        green_t *t = cases[i].op == GREEN_DONE ? cases[i].thread : NULL;
        if (!t)
            continue;
        int err = green__elsewhere(s, t) ? -EXDEV : green__check_and_claim(s, t);
        if (err < 0) {
            unclaim_threads(s, cases, i);
            return err;
        }
    }
    return 0;
}


/* Binds the cases' channels to s's user (under their locks in a run). */
static inline int bind_cases(struct green__sched *s, green_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int err = cases[i].chan ? green__bind(&cases[i].chan->sched, s) : 0;
        if (err < 0) {
            unbind_cases(cases, i);
            return err;
        }
    }
    return 0;
}

/* With the cases bound (and in a run, their channels locked, which it
 * releases): performs a ready case, or parks for one. */
GREEN__SPECIALISED int select_bound(struct green__sched *s, green_case_t *cases, size_t n,
                                    bool block, const struct chanset *set, bool shared,
                                    struct green__fdwait *fds)
{
    if (block && green__cancel_due(s->current)) {
        unbind_cases(cases, n);
        unlock_all(set);
        return green__cancelled(s);
    }
    /* Past the deadline a ready fd still counts, as for green_wait. */
    bool look = !block || (fds && s->current->deadline >= 0 &&
                           s->current->deadline <= green_now());
    int r = perform_ready(s, cases, n, shared, fds, !look);
    if (r == -EAGAIN && block)
        return shared ? park_in_run(s, cases, n, set, fds) : park_alone(s, cases, n, fds);
    if (r < 0)
        unbind_cases(cases, n);
    unlock_all(set);
    return r;
}

/* A select in a run: its channels locked meanwhile. */
static __attribute__((noinline)) int select_in_run(struct green__sched *s, green_case_t *cases,
                                                   size_t n, bool block,
                                                   struct green__fdwait *fds)
{
    struct chanset set;
    int r = chanset_make(&set, cases, n);
    if (r < 0)
        return r;
    lock_all(&set);
    if ((r = bind_cases(s, cases, n)) < 0)
        unlock_all(&set);
    else
        r = select_bound(s, cases, n, block, &set, true, fds);
    chanset_free(&set);
    return r;
}

/* One look, or one wait: the case done, AGAIN, or -errno. */
static int select_once(struct green__sched *s, green_case_t *cases, size_t n, bool block,
                       struct green__fdwait *fds)
{
    int r;
    if (__builtin_expect(s->cores != NULL, 0))
        return select_in_run(s, cases, n, block, fds);
    if ((r = bind_cases(s, cases, n)) == 0)
        r = select_bound(s, cases, n, block, NULL, false, fds);
    return r;
}

/* A select with fd or thread cases: their watches, and the threads
 * claimed, for the time of the select. */
static __attribute__((noinline)) int select_others(struct green__sched *s, green_case_t *cases,
                                                   size_t n, bool block, bool has_fds)
{
    struct green__fdwait stack_fds[STACK_WAITS], *fds = NULL;
    if (has_fds && !(fds = n <= STACK_WAITS ? stack_fds : malloc(n * sizeof *fds)))
        return -ENOMEM;
    if (has_fds)
        green__budget_take(s);  /* an fd that is always ready never parks */
    int r = claim_threads(s, cases, n);
    if (r == 0) {
        while ((r = select_once(s, cases, n, block, fds)) == AGAIN)
            ;
        unclaim_threads(s, cases, n);
    }
    if (fds != stack_fds)
        free(fds);
    return r;
}

static bool has_others(const green_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (other(&cases[i]))
            return true;
    return false;
}

static int do_select(green_case_t *cases, size_t n, bool block)
{
    struct green__sched *s = green__cur;
    bool has_fds;
    int r = check_cases(s, cases, n, &has_fds);
    if (r == 0 && has_others(cases, n))
        r = select_others(s, cases, n, block, has_fds);
    else if (r == 0)
        r = select_once(s, cases, n, block, NULL);
    return r < 0 ? green__fail(-r) : r;
}

int green_select(green_case_t *cases, size_t n)
{
    return do_select(cases, n, true);
}

int green_tryselect(green_case_t *cases, size_t n)
{
    return do_select(cases, n, false);
}

/* One checked case on a scheduler alone: with no choice to make, the try
 * itself says whether the case is ready.  0 or -errno, as a select. */
static int single_alone(struct green__sched *s, green_case_t *c, bool block)
{
    int err = green__bind(&c->chan->sched, s);
    if (err < 0)
        return err;
    if (block && green__cancel_due(s->current)) {
        unbind_if_idle(c->chan);
        return green__cancelled(s);
    }
    err = c->op == GREEN_SEND ? try_send(c->chan, c->elem, false)
                              : try_recv(c->chan, c->elem, false);
    if (err == -EAGAIN && block)
        return park_alone(s, c, 1, NULL);
    unbind_if_idle(c->chan);
    if (err == -EAGAIN)
        return err;
    c->err = -err;
    return 0;
}

/* The single operations: select over one case, failing with the case's
 * error. */
static int single(green_chan_t *ch, int op, void *elem, bool block)
{
    if (!ch)
        return green__fail(EINVAL);
    green_case_t c = {.chan = ch, .op = op, .elem = elem};
    struct green__sched *s = green__cur;
    bool has_fds;
    if (s && !s->cores && check_cases(s, &c, 1, &has_fds) == 0) {
        int r = single_alone(s, &c, block);
        if (r < 0)
            return green__fail(-r);
    } else if (do_select(&c, 1, block) < 0) {
        return -1;
    }
    return c.err ? green__fail(c.err) : 0;
}

int green_chan_send(green_chan_t *ch, const void *elem)
{
    return single(ch, GREEN_SEND, (void *)(uintptr_t)elem, true);
}

int green_chan_recv(green_chan_t *ch, void *elem)
{
    return single(ch, GREEN_RECV, elem, true);
}

int green_chan_trysend(green_chan_t *ch, const void *elem)
{
    return single(ch, GREEN_SEND, (void *)(uintptr_t)elem, false);
}

int green_chan_tryrecv(green_chan_t *ch, void *elem)
{
    return single(ch, GREEN_RECV, elem, false);
}

/* Closing and freeing. */

static void wake_all(green_chan_t *ch, int err, bool shared)
{
    struct chanwait *w;
    while ((w = take(&ch->recvq, shared)) != NULL)
        fire(w, err, shared);
    while ((w = take(&ch->sendq, shared)) != NULL)
        fire(w, err, shared);
}

/* Takes ch's lock in a run; binds it to s's user. */
static int lock_bound(struct green__sched *s, green_chan_t *ch)
{
    if (!s)
        return -EPERM;
    if (s->cores)
        green__spin_lock(&ch->lock);
    int err = green__bind(&ch->sched, s);
    if (err < 0 && s->cores)
        green__spin_unlock(&ch->lock);
    return err;
}

static void unlock(struct green__sched *s, green_chan_t *ch)
{
    if (s->cores)
        green__spin_unlock(&ch->lock);
}

int green_chan_close(green_chan_t *ch)
{
    struct green__sched *s = green__cur;
    if (!ch)
        return green__fail(EINVAL);
    int err = lock_bound(s, ch);
    if (err < 0)
        return green__fail(-err);
    if (ch->closed) {
        unbind_if_idle(ch);
        unlock(s, ch);
        return green__fail(EPIPE);
    }
    ch->closed = true;
    /* Parked receivers mean the buffer is empty: they get EPIPE.  Parked
     * senders' values were not sent: they get EPIPE too. */
    wake_all(ch, EPIPE, s->cores != NULL);
    ch->sched = NULL;
    unlock(s, ch);
    return 0;
}

/* Go's len and cap; a NULL channel, like Go's nil one, has 0 of both. */
size_t green_chan_len(const green_chan_t *ch)
{
    if (!ch)
        return 0;
    /* Locked: a scheduler of a run may be changing it.  The channel was
     * made by green_chan_new, never const itself. */
    int *lock = (int *)&ch->lock;
    green__spin_lock(lock);
    size_t n = ch->count;
    green__spin_unlock(lock);
    return n;
}

size_t green_chan_cap(const green_chan_t *ch)
{
    return ch ? ch->cap : 0;
}

void green_chan_free(green_chan_t *ch)
{
    struct green__sched *s = green__cur;
    if (!ch)
        return;
    if (!s || lock_bound(s, ch) < 0) {
        free(ch);
        return;
    }
    wake_all(ch, EPIPE, s->cores != NULL);
    unlock(s, ch);
    /* In a run, the woken selects still take their cases off ch: the
     * last of them to leave frees it. */
    if (atomic_fetch_or_explicit(&ch->parked, FREED, memory_order_acq_rel) == 0)
        free(ch);
}
