/*
 * The generic part of the poller: the fd table, the three waits on an fd
 * (for readiness, for a call a backend makes, for a turn at the file
 * position), the interest bookkeeping that every backend shares, the
 * sweep for stale registrations, and the fd's life (see poller.h).
 *
 * This file's poll goes through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include "poller.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "green.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* The backends this build has, the default first.  epoll and uring exist
 * on Linux only; the build defines GREEN_HAVE_EPOLL there.  The ring is
 * the default: in make bench it is at least as fast as epoll on every row
 * and the only backend under which a regular file's read does not stall
 * the OS thread (docs/performance.md, issue 32).  Where the kernel refuses
 * it, green__poller_init falls back to epoll. */
static const struct green__poller_ops *const backends[] = {
#ifdef GREEN_HAVE_EPOLL
    &green__poller_uring,
    &green__poller_epoll,
#endif
    &green__poller_poll,
};

/* One green thread's wait on one fd, on its stack: for readiness, or for
 * a call the backend makes (green__fd_call). */
static struct green__fdwait *fdwait_of(struct green__node *n)
{
    return green__container_of(n, struct green__fdwait, node);
}

/* A backend whose wait fails this many times in a row is broken. */
enum { BROKEN_AFTER = 3 };

/* How long a thread parks before the sweep first checks its registration,
 * and how much longer each later gap is (see mark_unchecked). */
enum { SWEEP_MS = 50, GAP_GROWTH = 8, GAP_MAX_MS = 60000 };

const struct green__poller_ops *green__poller_choose(void)
{
    const char *want = getenv("GREEN_POLLER");
    if (!want || !*want)
        return backends[0];
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(want, backends[i]->name) == 0)
            return backends[i];
    return NULL;
}

const char *green_poller_name(void)
{
    struct green__sched *s = green__cur;
    if (s && s->poller.fell_back)
        return "epoll (uring unavailable)";
    if (s)
        return s->poller.ops->name;
    const struct green__poller_ops *ops = green__poller_choose();
    if (!ops) {
        errno = EINVAL;
        return NULL;
    }
    return ops->name;
}

int green__poller_init(struct green__poller *p, bool hosted)
{
    memset(p, 0, sizeof *p);
    p->hosted = hosted;
    p->wakefd = -1;
    p->ops = green__poller_choose();
    if (!p->ops)
        return -EINVAL;
    int err = p->ops->init(p);
#ifdef GREEN_HAVE_EPOLL
    if (err < 0 && p->ops == &green__poller_uring) {  /* the one fallback */
        p->fell_back = p->ops->name;
        p->ops = &green__poller_epoll;
        err = p->ops->init(p);
    }
#endif
    return err;
}

int green__poller_host_fd(struct green__poller *p)
{
    return p->ops->host_fd ? p->ops->host_fd(p) : -ENOSYS;
}

void green__poller_fini(struct green__poller *p)
{
    p->ops->fini(p);
    free(p->fds);
    p->fds = NULL;
    p->nfds = 0;
}

struct green__fd *green__poller_fd(struct green__poller *p, int fd)
{
    if (p->users)
        green__poller_mark_user(p, fd);
    if ((size_t)fd < p->nfds)
        return &p->fds[fd];
    /* Grows by doubling, so a process with n fds reallocates log n times;
     * parking on an fd already in the table never allocates. */
    size_t n = p->nfds ? p->nfds : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct green__fd *fds = realloc(p->fds, n * sizeof *fds);
    if (!fds)
        return NULL;
    memset(fds + p->nfds, 0, (n - p->nfds) * sizeof *fds);
    p->fds = fds;
    p->nfds = n;
    return &fds[fd];
}

/* Interest. */

static void set_interest(struct green__poller *p, struct green__fd *r, int events)
{
    p->nwatched += (events != 0) - (r->events != 0);
    r->events = events;
}

/* Widens the interest in fd: 0, or the backend's -errno. */
static int widen(struct green__poller *p, int fd, struct green__fd *r, int events)
{
    if (events == r->events)
        return 0;
    int err = p->ops->set(p, fd, r, events);
    if (err == 0)
        set_interest(p, r, events);
    return err;
}

/* Narrows it.  This never fails: the backend only gives interest up, and
 * if the kernel refuses, the worst left behind is a spurious wake-up, so
 * the table (and the deadlock detector that counts it) stays right. */
static void narrow(struct green__poller *p, int fd, struct green__fd *r, int events)
{
    if (events == r->events)
        return;
    (void)p->ops->set(p, fd, r, events);
    set_interest(p, r, events);
}

/* Counts w's events in or out of r's waiters; returns the interest they
 * need. */
static int count(struct green__fd *r, int events, int delta)
{
    if (events & GREEN_IN)
        r->nin += (unsigned)delta;
    if (events & GREEN_OUT)
        r->nout += (unsigned)delta;
    return (r->nin ? GREEN_IN : 0) | (r->nout ? GREEN_OUT : 0);
}

static void reset(struct green__poller *p, int fd, struct green__fd *r);

/* Stale registrations.
 *
 * epoll keeps a registration between waits, and a plain close(2) makes
 * the kernel drop it without a word: a waiter parked on the closed file,
 * or a later file with the same number that the table still calls
 * registered, would park for ever.  Checking at every park would cost a
 * system call on the hottest path, so instead every park on such a backend
 * is marked unchecked, and a sweep checks the marked records whose check
 * is due: SWEEP_MS after they parked, then at gaps GAP_GROWTH times
 * longer each, up to GAP_MAX_MS, for as long as they stay parked.  The first check is the
 * one that matters for a new file under an old number, and it comes soon;
 * the later ones find a file closed under a long-parked waiter, and may
 * be rare.  A park shorter than SWEEP_MS costs no system call; a longer
 * one costs one, one more for each eightfold of its length, and one a
 * minute once parked for minutes.  The clock
 * is the coarse one (a few nanoseconds to read), and the table is walked
 * at most once per SWEEP_MS. */

static void mark_unchecked(struct green__poller *p, struct green__fd *r)
{
    if (!p->ops->check || r->unchecked)
        return;
    r->unchecked = true;
    r->check_gap = SWEEP_MS;
    r->check_at = green__coarse_now() + SWEEP_MS;
    if (p->nunchecked++ == 0 || r->check_at < p->next_check)
        p->next_check = r->check_at;
}

static void clear_unchecked(struct green__poller *p, struct green__fd *r)
{
    if (r->unchecked) {
        r->unchecked = false;
        p->nunchecked--;
    }
}

/* Checks every record whose check is due and schedules the next.
 * Returns whether it found one closed, whose waiters it woke. */
static bool sweep(struct green__poller *p, int64_t now)
{
    int64_t next = INT64_MAX;
    bool woke = false;
    for (size_t fd = 0; fd < p->nfds; fd++) {
        struct green__fd *r = &p->fds[fd];
        if (!r->unchecked)
            continue;
        if (r->check_at <= now) {
            int found = p->ops->check(p, (int)fd, r);
            if (found == -EBADF) {
                reset(p, (int)fd, r);  /* closed under them: they fail with EBADF */
                woke = true;
                continue;
            }
            if (found == 1)  /* another file under the number */
                r->file = (struct green__file){0};
            r->check_gap = r->check_gap * GAP_GROWTH < GAP_MAX_MS
                         ? r->check_gap * GAP_GROWTH : GAP_MAX_MS;
            r->check_at = now + r->check_gap;
        }
        if (r->check_at < next)
            next = r->check_at;
    }
    p->next_check = next > now + SWEEP_MS ? next : now + SWEEP_MS;
    return woke;
}

/* Sweeps if one is due; returns timeout_ms shortened to the next sweep,
 * or 0 when the sweep woke a thread: the scheduler's timeout was worked
 * out before it ran, and the woken thread must not wait for it. */
static int check_stale(struct green__poller *p, int timeout_ms)
{
    if (p->nunchecked == 0)
        return timeout_ms;
    int64_t now = green__coarse_now();
    if (now >= p->next_check && sweep(p, now))
        return 0;
    /* A sweep that woke nobody forgot no record: some are still marked. */
    int64_t until = p->next_check - now;  /* at most GAP_MAX_MS */
    return timeout_ms < 0 || timeout_ms > until ? (int)until : timeout_ms;
}

int green__poller_next_sweep(const struct green__poller *p)
{
    if (p->nunchecked == 0)
        return -1;
    int64_t until = p->next_check - green__coarse_now();
    return until < 0 ? 0 : (int)until;  /* at most GAP_MAX_MS */
}

/* Waiting. */

/* The backend is broken: its waiters fail with its error. */
static void fail_waiters(struct green__poller *p, int err)
{
    /* Calls in flight will not complete: their threads stop waiting. */
    while (!green__list_empty(&p->calls)) {
        struct green__fdwait *w = green__container_of(p->calls.first, struct green__fdwait, in_calls);
        green__poller_done(p, w, -err);
    }
    for (size_t fd = 0; fd < p->nfds; fd++) {
        struct green__list *l = &p->fds[fd].waiters;
        while (!green__list_empty(l)) {
            struct green__fdwait *w = fdwait_of(l->first);
            w->revents |= GREEN__NVAL;  /* which watch of a select it was */
            green__wake(w->wait.thread, err);  /* it unlinks */
        }
    }
}

static void broken(struct green__poller *p, int err)
{
    p->broken = err;
    fprintf(stderr, "libgreen: the %s poller failed for good (%s); its fd waiters fail "
                    "with that error, and only timers and other OS threads can wake "
                    "green threads now\n", p->ops->name, strerror(err));
    fail_waiters(p, err);
}

/* Without a working backend: sleep until the timeout or the inbox. */
static void wait_without_backend(struct green__poller *p, int timeout_ms)
{
    struct pollfd pfd = {p->wakefd, POLLIN, 0};
    if (poll(&pfd, p->wakefd >= 0, timeout_ms) > 0)
        p->woken = true;
}

static int poller_wait(struct green__poller *p, int timeout_ms)
{
    timeout_ms = check_stale(p, timeout_ms);
    if (p->broken) {
        wait_without_backend(p, timeout_ms);
        return -1;
    }
    int n = p->ops->wait(p, timeout_ms);
    if (n >= 0) {
        p->failures = 0;
    } else if (++p->failures >= BROKEN_AFTER) {
        broken(p, -n);
    }
    return n;
}

int green__poller_wait(struct green__poller *p, int timeout_ms)
{
    /* The wait runs on the stack of a thread that parked, and may resume
     * it with no switch: its errno is left as it was. */
    int saved_errno = errno;
    int n = poller_wait(p, timeout_ms);
    errno = saved_errno;
    return n;
}

/* Watching one fd. */

static void fd_unlink(struct green__wait *wait)
{
    struct green__fdwait *w = green__container_of(wait, struct green__fdwait, wait);
    struct green__poller *p = &wait->thread->sched->poller;
    struct green__fd *r = &p->fds[w->fd];
    green__list_remove(&r->waiters, &w->node);
    int events = count(r, w->events, -1);
    if (green__list_empty(&r->waiters))
        clear_unchecked(p, r);
    narrow(p, w->fd, r, events);
}

static void fd_describe(const struct green__wait *wait, char *buf, size_t n)
{
    const struct green__fdwait *w = green__container_of(wait, struct green__fdwait, wait);
    int ev = w->events;
    snprintf(buf, n, "fd %d %s", w->fd,
             ev == (GREEN_IN | GREEN_OUT) ? "read+write" : ev == GREEN_IN ? "read" : "write");
}

static const struct green__waitop fd_op = {
    .unlink = fd_unlink,
    .describe = fd_describe,
    .forgotten_after_fork = true,
    .kind = GREEN__WAIT_IO,
};

/* Adds w to its fd's waiters and widens the interest.  Returns 0, 1 when
 * the fd is ready already (an edge came while nobody waited, or it cannot
 * be watched; w is not added and w->revents says what is ready), or
 * -errno. */
static int watch(struct green__poller *p, struct green__fdwait *w)
{
    if (p->broken)
        return -p->broken;
    struct green__fd *r = green__poller_fd(p, w->fd);
    if (!r)
        return -ENOMEM;
    if (r->pending & w->events) {
        /* An edge came while nobody waited: it is for this waiter. */
        w->revents = r->pending & w->events;
        r->pending &= ~w->events;
        return 1;
    }
    int err = widen(p, w->fd, r, r->events | w->events);
    if (err == -EPERM) {
        w->revents = w->events;  /* a regular file: always ready */
        return 1;
    }
    if (err < 0)
        return err;
    mark_unchecked(p, r);
    count(r, w->events, 1);
    w->revents = 0;
    green__list_push(&r->waiters, &w->node);
    return 0;
}

int green__poll_one(int fd, int events, int timeout_ms)
{
    struct pollfd pfd = {fd, (short)((events & GREEN_IN ? POLLIN : 0) |
                                     (events & GREEN_OUT ? POLLOUT : 0)), 0};
    int r;
    while ((r = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return r < 0 ? -errno : 0;
    if (pfd.revents & POLLNVAL)
        return -EBADF;
    int ready = (pfd.revents & POLLIN ? GREEN_IN : 0) | (pfd.revents & POLLOUT ? GREEN_OUT : 0) |
                (pfd.revents & (POLLERR | POLLHUP) ? GREEN__ERR : 0);
    return green__ready_events(ready, events);
}

/* Whether a level wait must look at the fd before it parks: an edge-
 * triggered registration kept from before reports only changes, and the
 * readiness it last reported may not be used up.  A look is a poll(2), not
 * an epoll_ctl, and only when readiness was handed out with no edge since. */
static int level_now(struct green__poller *p, int fd, int events)
{
    const struct green__fd *r = &p->fds[fd];
    if (!p->ops->edge_triggered || !r->owned || !(r->handed & events))
        return 0;
    return green__poll_one(fd, events, 0);
}

/* A select's watches.  Its wait is its own, not fd_op: the poller wakes
 * the thread, and the select's unlink takes every watch off. */

int green__fd_watch(struct green__sched *s, struct green__fdwait *w, int fd, int events)
{
    struct green__poller *p = &s->poller;
    *w = (struct green__fdwait){.wait = {&fd_op, s->current}, .fd = fd, .events = events};
    int err = watch(p, w);
    if (err == 1) {  /* an edge kept from before, or a file: as a level wait hands it out */
        w->gen = p->fds[fd].gen;
        p->fds[fd].handed |= w->revents & events;
    }
    if (err != 0)
        return err;
    w->watching = true;
    w->gen = p->fds[fd].gen;
    int now = level_now(p, fd, events);
    if (now == 0)
        return 0;
    green__fd_unwatch(s, w);
    w->revents = now < 0 ? GREEN__NVAL : now;
    if (now > 0)
        p->fds[fd].handed |= now & events;
    return now < 0 ? now : 1;
}

void green__fd_unwatch(struct green__sched *s, struct green__fdwait *w)
{
    if (w->watching && !s->poller.forking)
        fd_unlink(&w->wait);
    w->watching = false;
}

void green__fd_unused(struct green__sched *s, const struct green__fdwait *w)
{
    struct green__poller *p = &s->poller;
    if (w->revents & (GREEN_IN | GREEN_OUT) && w->gen == green__fd_gen(p, w->fd))
        p->fds[w->fd].handed |= w->revents & w->events;
}

int green__fd_watched(struct green__sched *s, const struct green__fdwait *w, int err)
{
    struct green__poller *p = &s->poller;
    if (w->gen != green__fd_gen(p, w->fd) && w->revents)
        return -EBADF;  /* closed or released meanwhile */
    if (w->revents & GREEN__NVAL)
        return err ? -err : -EBADF;
    if (!w->revents)
        return 0;
    p->fds[w->fd].handed |= w->revents & w->events;  /* as a level green_wait */
    return green__ready_events(w->revents, w->events);
}

int green__fd_wait(struct green__sched *s, int fd, int events, bool level)
{
    struct green__poller *p = &s->poller;
    struct green__fdwait w = {.wait = {&fd_op, s->current}, .fd = fd, .events = events};
    int err = watch(p, &w);
    if (err == 0 && level) {
        int now = level_now(p, fd, events);
        if (now != 0) {
            fd_unlink(&w.wait);
            w.revents = now < 0 ? GREEN__NVAL : now;
            err = now < 0 ? now : 1;
        }
    }
    if (err == 0) {
        unsigned gen = p->fds[fd].gen;
        err = green__park(s, &w.wait, s->current->deadline, ETIMEDOUT);
        if (err < 0)
            return err;
        /* Closed or released after the wake-up, before this thread ran:
         * the number may be another file by now. */
        if (p->fds[fd].gen != gen)
            return -EBADF;
    } else if (err < 0) {
        return err;
    }
    if (level)
        p->fds[fd].handed |= w.revents & events;
    return w.revents;
}

void green__poller_ready(struct green__poller *p, int fd, int revents)
{
    if (fd == p->wakefd) {
        p->woken = true;
        return;
    }
    struct green__fd *r = &p->fds[fd];
    r->handed &= ~revents;
    green__file_ready(&r->file, revents & (GREEN_IN | GREEN__ERR), revents & GREEN__UNHINT);
    if (p->ops->edge_triggered) {
        /* Keep the edges no waiter is here to take. */
        int ready = revents & GREEN__ERR ? GREEN_IN | GREEN_OUT : revents;
        r->pending |= ready & ~r->events & (GREEN_IN | GREEN_OUT);
    }
    struct green__node *n = r->waiters.first;
    while (n) {
        struct green__fdwait *w = fdwait_of(n);
        n = n->next;  /* waking w unlinks it */
        if (!(revents & (w->events | GREEN__ERR | GREEN__NVAL)) ||
            (w->call && !(revents & GREEN__NVAL)))
            continue;  /* not for it; a call ends by its completion or a close */
        w->revents = revents;
        green__wake(w->wait.thread, revents & GREEN__NVAL ? EBADF : 0);
    }
}

/* Calls the backend makes. */

static void call_unlink(struct green__wait *wait)
{
    struct green__fdwait *w = green__container_of(wait, struct green__fdwait, wait);
    struct green__poller *p = &wait->thread->sched->poller;
    struct green__fd *r = &p->fds[w->fd];
    green__list_remove(&r->waiters, &w->node);
    if (green__list_empty(&r->waiters))
        clear_unchecked(p, r);
    if (!w->done)
        p->ops->stop(p, w);  /* its completion still comes: see green__fd_call */
}

static void call_describe(const struct green__wait *wait, char *buf, size_t n)
{
    const struct green__fdwait *w = green__container_of(wait, struct green__fdwait, wait);
    bool in = green__call_reads(w->call->kind);
    snprintf(buf, n, "fd %d %s%s", w->fd, in ? "read" : "write",
             wait->op->unlink ? "" : ", ending");
}

static const struct green__waitop fd_call_op = {
    .unlink = call_unlink,
    .describe = call_describe,
    .forgotten_after_fork = true,
    .kind = GREEN__WAIT_IO,
};

/* After the wait ended early: the call is stopping, and its record and
 * buffers must outlive it. */
static const struct green__waitop fd_ending_op = {
    .unlink = NULL,
    .describe = call_describe,
    .forgotten_after_fork = true,
    .kind = GREEN__WAIT_IO,
};

/* A call in flight: its wait, whose address is the backend's token, and
 * the room its message may be built in (green__poller_room). */
struct fdcall {
    struct green__fdwait w;
    struct green__call_room room;
};

ssize_t green__fd_call(struct green__sched *s, struct green__call *c)
{
    struct green__poller *p = &s->poller;
    if (p->broken)
        return -p->broken;
    struct green__fd *r = green__poller_fd(p, c->fd);
    if (!r)
        return -ENOMEM;
    green__fd_own(p, r);
    struct fdcall fc;  /* the room is left for the backend to fill */
    struct green__fdwait *w = &fc.w;
    *w = (struct green__fdwait){.wait = {&fd_call_op, s->current}, .fd = c->fd, .call = c};
    int err = p->ops->start(p, c, w);
    if (err < 0)
        return err;
    p->ncalls++;
    green__list_push(&p->calls, &w->in_calls);
    mark_unchecked(p, r);
    green__list_push(&r->waiters, &w->node);
    err = green__park(s, &w->wait, s->current->deadline, ETIMEDOUT);
    w->wait.op = &fd_ending_op;
    while (!w->done)
        (void)green__park_shielded(s, &w->wait);
    /* Done; or cut short by the deadline, cancellation or a close, but
     * completed before the stop took: the result counts, so nothing read
     * is lost and nothing written goes uncounted.  A failure then is the
     * call's own, unless it is the stop's doing (ECANCELED; EINTR for a
     * call the kernel had started blocking) or the fd was closed. */
    if (err == 0 || w->res >= 0)
        return w->res;
    return err != -EBADF && w->res != -ECANCELED && w->res != -EINTR ? w->res : err;
}

/* Turns: one call at a time at a file position (engine_ring.c says when
 * and why).  A turn outlives a close or release of its fd: the call that
 * holds it may still be in flight, and no later call on the number may
 * overlap it. */

struct turn {
    struct green__wait wait;
    struct green__node node;   /* in the fd record's turns */
    int fd;
};

static void turn_unlink(struct green__wait *wait)
{
    struct turn *t = green__container_of(wait, struct turn, wait);
    struct green__poller *p = &wait->thread->sched->poller;
    green__list_remove(&p->fds[t->fd].turns, &t->node);
}

static void turn_describe(const struct green__wait *wait, char *buf, size_t n)
{
    const struct turn *t = green__container_of(wait, struct turn, wait);
    snprintf(buf, n, "fd %d, its turn at the file position", t->fd);
}

static const struct green__waitop turn_op = {
    .unlink = turn_unlink,
    .describe = turn_describe,
    .forgotten_after_fork = true,
    .kind = GREEN__WAIT_IO,
};

int green__fd_take_turn(struct green__sched *s, int fd)
{
    struct green__poller *p = &s->poller;
    struct green__fd *r = &p->fds[fd];
    if (!r->turn_taken) {
        r->turn_taken = true;
        return 0;
    }
    struct turn t = {.wait = {&turn_op, s->current}, .fd = fd};
    unsigned gen = r->gen;
    green__list_push(&r->turns, &t.node);
    int err = green__park(s, &t.wait, s->current->deadline, ETIMEDOUT);
    if (err < 0)
        return err;
    if (p->fds[fd].gen != gen) {
        green__fd_give_turn(p, fd);  /* handed the turn, then closed before it ran */
        return -EBADF;
    }
    return 0;
}

void green__fd_give_turn(struct green__poller *p, int fd)
{
    struct green__fd *r = &p->fds[fd];
    if (green__list_empty(&r->turns))
        r->turn_taken = false;
    else
        green__wake(green__container_of(r->turns.first, struct turn, node)->wait.thread, 0);
}

struct green__call *green__poller_call(void *token)
{
    return ((struct green__fdwait *)token)->call;
}

struct green__call_room *green__poller_room(void *token)
{
    return &green__container_of(token, struct fdcall, w)->room;
}

void green__poller_done(struct green__poller *p, void *token, int res)
{
    struct green__fdwait *w = token;
    w->res = res;
    w->done = true;
    p->ncalls--;
    green__list_remove(&p->calls, &w->in_calls);
    green__wake(w->wait.thread, 0);
}

/* The fd's life. */

/* Forgets everything about the file under r's number; the next one is a
 * new file to the table. */
static void reset(struct green__poller *p, int fd, struct green__fd *r)
{
    if (!green__list_empty(&r->waiters))
        green__poller_ready(p, fd, GREEN__NVAL);
    while (!green__list_empty(&r->turns))  /* each wake unlinks one */
        green__wake(green__container_of(r->turns.first, struct turn, node)->wait.thread, EBADF);
    p->ops->forget(p, fd, r);
    clear_unchecked(p, r);
    unsigned gen = r->gen + 1;
    bool taken = r->turn_taken;  /* its call may still be in flight */
    p->nowned -= r->owned;
    *r = (struct green__fd){.gen = gen, .turn_taken = taken};
}

int green__poller_forget(struct green__poller *p, int fd)
{
    if (fd < 0)
        return -EBADF;
    if ((size_t)fd < p->nfds)
        reset(p, fd, &p->fds[fd]);
    return 0;
}

struct green__fd *green__poller_fresh(struct green__poller *p, int fd)
{
    struct green__fd *r = green__poller_fd(p, fd);
    if (r) {
        reset(p, fd, r);
        green__fd_own(p, r);
    }
    return r;
}

int green__poller_wakefd(struct green__poller *p, int fd)
{
    struct green__fd *r = green__poller_fresh(p, fd);  /* owned: epoll keeps it registered */
    if (!r)
        return -ENOMEM;
    int err = p->ops->set(p, fd, r, GREEN_IN);
    if (err < 0) {
        reset(p, fd, r);
        return err;
    }
    r->events = GREEN_IN;
    p->wakefd = fd;
    return 0;
}

int green__poller_after_fork(struct green__poller *p)
{
    p->forking = false;
    /* Closing the child's copy of the epoll fd leaves the parent's set as
     * it is; nothing is deleted from it. */
    p->ops->fini(p);
    for (size_t fd = 0; fd < p->nfds; fd++)
        p->fds[fd] = (struct green__fd){.gen = p->fds[fd].gen + 1};
    p->nwatched = p->nunchecked = p->ncalls = p->nowned = 0;
    p->calls = (struct green__list){0};  /* their threads are gone */
    p->wakefd = -1;
    p->woken = false;
    p->failures = p->broken = 0;
    int err = p->ops->init(p);
    if (err < 0)
        p->broken = -err;
    return err;
}
