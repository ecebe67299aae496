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
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
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
};

/* A select's wait: one chanwait per case, on the selecting thread's stack. */
struct selectwait {
    struct green__wait wait;
    struct chanwait *cases;
    size_t n;
    size_t fired;              /* the case that completed */
};

struct green_chan {
    void *sched;               /* bound while operations are parked on it */
    size_t elem_size, cap;
    size_t head, count;        /* the buffered values: a ring */
    bool closed;
    struct green__list sendq, recvq;
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

/* Completes the parked operation w with err (0 or EPIPE) and wakes it. */
static void fire(struct chanwait *w, int err)
{
    w->sel->fired = w->index;
    green__wake(w->sel->wait.thread, err);
}

/* The non-blocking operations: 0 when done, -EPIPE when the channel is
 * closed, -EAGAIN when it would have to wait. */

static int try_send(green_chan_t *ch, const void *elem)
{
    if (ch->closed)
        return -EPIPE;
    struct chanwait *w = first(&ch->recvq);
    if (w) {
        copy(ch, w->elem, elem);
        fire(w, 0);
        return 0;
    }
    if (ch->count < ch->cap) {
        copy(ch, slot(ch, ch->count++), elem);
        return 0;
    }
    return -EAGAIN;
}

static int try_recv(green_chan_t *ch, void *elem)
{
    struct chanwait *w = first(&ch->sendq);
    if (ch->count > 0) {
        copy(ch, elem, slot(ch, 0));
        ch->head = (ch->head + 1) % ch->cap;
        ch->count--;
        /* The space just freed goes to the longest-waiting sender. */
        if (w) {
            copy(ch, slot(ch, ch->count++), w->elem);
            fire(w, 0);
        }
        return 0;
    }
    if (w) {
        copy(ch, elem, w->elem);
        fire(w, 0);
        return 0;
    }
    return ch->closed ? -EPIPE : -EAGAIN;
}

static bool ready(const green_case_t *c)
{
    const green_chan_t *ch = c->chan;
    if (!ch)
        return false;
    if (ch->closed)
        return true;
    if (c->op == GREEN_SEND)
        return !green__list_empty(&ch->recvq) || ch->count < ch->cap;
    return ch->count > 0 || !green__list_empty(&ch->sendq);
}

/* Performs one of the ready cases, chosen at random so that none starves.
 * Returns its index, or -EAGAIN when none is ready. */
static int perform_ready(struct green__sched *s, green_case_t *cases, size_t n)
{
    size_t nready = 0;
    for (size_t i = 0; i < n; i++)
        nready += ready(&cases[i]);
    if (nready == 0)
        return -EAGAIN;
    size_t pick = nready == 1 ? 0 : (size_t)(green__random(s) % nready);
    for (size_t i = 0;; i++) {
        if (!ready(&cases[i]) || pick-- > 0)
            continue;
        green_case_t *c = &cases[i];
        int err = c->op == GREEN_SEND ? try_send(c->chan, c->elem) : try_recv(c->chan, c->elem);
        c->err = -err;
        unbind_if_idle(c->chan);
        return (int)i;
    }
}

/* Parking. */

static void select_unlink(struct green__wait *wait)
{
    struct selectwait *sw = green__container_of(wait, struct selectwait, wait);
    for (size_t i = 0; i < sw->n; i++) {
        struct chanwait *w = &sw->cases[i];
        if (!w->ch)
            continue;
        green__list_remove(w->op == GREEN_SEND ? &w->ch->sendq : &w->ch->recvq, &w->node);
        unbind_if_idle(w->ch);
    }
}

static void select_describe(const struct green__wait *wait, char *buf, size_t n)
{
    const struct selectwait *sw = green__container_of(wait, struct selectwait, wait);
    const struct chanwait *w = sw->cases;
    if (sw->n == 1)
        snprintf(buf, n, "chan %s %p", w->op == GREEN_SEND ? "send" : "recv", (void *)w->ch);
    else
        snprintf(buf, n, "select over %zu cases", sw->n);
}

static const struct green__waitop select_op = {
    .unlink = select_unlink,
    .describe = select_describe,
};

/* Parks until a partner completes one of the cases.  Returns its index,
 * or -errno (ETIMEDOUT, ECANCELED, ENOMEM). */
static int park_cases(struct green__sched *s, green_case_t *cases, size_t n)
{
    struct chanwait stack_waits[STACK_WAITS], *waits = stack_waits;
    if (n > STACK_WAITS && !(waits = malloc(n * sizeof *waits)))
        return -ENOMEM;
    struct selectwait sw = {.wait.op = &select_op, .cases = waits, .n = n};
    /* Queued from a random case on, so that of several cases on one
     * channel the partner that comes (which takes the first in the queue)
     * completes each as often. */
    size_t start = n > 1 ? (size_t)(green__random(s) % n) : 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        green_chan_t *ch = cases[i].chan;
        waits[i] = (struct chanwait){.ch = ch, .sel = &sw, .elem = cases[i].elem,
                                     .index = i, .op = cases[i].op};
        if (ch)
            green__list_push(cases[i].op == GREEN_SEND ? &ch->sendq : &ch->recvq,
                             &waits[i].node);
    }
    int err = green__park(s, &sw.wait, s->current->deadline, ETIMEDOUT);
    if (waits != stack_waits)
        free(waits);
    if (err == 0 || err == -EPIPE) {
        /* A partner, or close, completed this case. */
        cases[sw.fired].err = -err;
        return (int)sw.fired;
    }
    return err;
}

/* Checks the cases and binds their channels to s. */
static int check_cases(struct green__sched *s, green_case_t *cases, size_t n)
{
    if (!s)
        return -EPERM;
    if (n && !cases)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        green_case_t *c = &cases[i];
        if (c->op != GREEN_SEND && c->op != GREEN_RECV)
            return -EINVAL;
        if (c->chan && c->chan->elem_size && !c->elem)
            return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!cases[i].chan)
            continue;
        int err = green__bind(&cases[i].chan->sched, s);
        if (err < 0) {
            while (i-- > 0)
                if (cases[i].chan)
                    unbind_if_idle(cases[i].chan);
            return err;
        }
    }
    return 0;
}

static int do_select(green_case_t *cases, size_t n, bool block)
{
    struct green__sched *s = green__cur;
    int r = check_cases(s, cases, n);
    if (r < 0)
        return green__fail(-r);
    if (block && green__cancel_due(s->current))
        r = green__cancelled(s);
    else if ((r = perform_ready(s, cases, n)) == -EAGAIN && block)
        r = park_cases(s, cases, n);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            if (cases[i].chan)
                unbind_if_idle(cases[i].chan);
        return green__fail(-r);
    }
    return r;
}

int green_select(green_case_t *cases, size_t n)
{
    return do_select(cases, n, true);
}

int green_tryselect(green_case_t *cases, size_t n)
{
    return do_select(cases, n, false);
}

/* The single operations: select over one case, failing with the case's
 * error. */
static int single(green_chan_t *ch, int op, void *elem, bool block)
{
    if (!ch)
        return green__fail(EINVAL);
    green_case_t c = {ch, op, elem, 0};
    if (do_select(&c, 1, block) < 0)
        return -1;
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

static void wake_all(struct green__list *q, int err)
{
    struct chanwait *w;
    while ((w = first(q)) != NULL)
        fire(w, err);
}

int green_chan_close(green_chan_t *ch)
{
    struct green__sched *s = green__cur;
    if (!ch)
        return green__fail(EINVAL);
    int err = green__bind(&ch->sched, s);
    if (err < 0)
        return green__fail(-err);
    if (ch->closed) {
        unbind_if_idle(ch);
        return green__fail(EPIPE);
    }
    ch->closed = true;
    /* Parked receivers mean the buffer is empty: they get EPIPE.  Parked
     * senders' values were not sent: they get EPIPE too. */
    wake_all(&ch->recvq, EPIPE);
    wake_all(&ch->sendq, EPIPE);
    ch->sched = NULL;
    return 0;
}

/* Go's len and cap; a NULL channel, like Go's nil one, has 0 of both. */
size_t green_chan_len(const green_chan_t *ch)
{
    return ch ? ch->count : 0;
}

size_t green_chan_cap(const green_chan_t *ch)
{
    return ch ? ch->cap : 0;
}

void green_chan_free(green_chan_t *ch)
{
    if (!ch)
        return;
    if (ch->sched && ch->sched == green__cur) {
        wake_all(&ch->recvq, EPIPE);
        wake_all(&ch->sendq, EPIPE);
    }
    free(ch);
}
