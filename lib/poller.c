/*
 * The generic part of the poller: the fd table, the waiter lists and the
 * interest bookkeeping that every backend shares.
 */
#include "poller.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "green.h"
#include "sched.h"

/* The backends this build has, the default first.  epoll exists on
 * Linux only; the build defines GREEN_HAVE_EPOLL there. */
static const struct green__poller_ops *const backends[] = {
#ifdef GREEN_HAVE_EPOLL
    &green__poller_epoll,
#endif
    &green__poller_poll,
};

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
    if (s)
        return s->poller.ops->name;
    const struct green__poller_ops *ops = green__poller_choose();
    if (!ops) {
        errno = EINVAL;
        return NULL;
    }
    return ops->name;
}

int green__poller_init(struct green__poller *p)
{
    memset(p, 0, sizeof *p);
    p->wakefd = -1;
    p->ops = green__poller_choose();
    if (!p->ops)
        return -EINVAL;
    return p->ops->init(p);
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
    if ((size_t)fd < p->nfds)
        return &p->fds[fd];
    /* Grows by doubling, so a process with n fds reallocates log n times;
     * parking on an fd already in the table never allocates. */
    size_t n = p->nfds ? p->nfds : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct green__fd *fds = realloc(p->fds, n * sizeof *fds);
    if (!fds) {
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = p->nfds; i < n; i++)
        fds[i] = (struct green__fd){.backend = -1};
    p->fds = fds;
    p->nfds = n;
    return &fds[fd];
}

static int set_interest(struct green__poller *p, int fd, struct green__fd *r,
                        int events)
{
    if (events == r->events)
        return 0;
    int err = p->ops->set(p, fd, r, events);
    if (err < 0)
        return err;
    p->nwatched += (events != 0) - (r->events != 0);
    r->events = events;
    return 0;
}

/* Counts w in or out of r's waiters; returns the interest they need. */
static int count(struct green__fd *r, const struct green__fdwait *w, int delta)
{
    if (w->events & GREEN_IN)
        r->nin += (unsigned)delta;
    if (w->events & GREEN_OUT)
        r->nout += (unsigned)delta;
    return (r->nin ? GREEN_IN : 0) | (r->nout ? GREEN_OUT : 0);
}

int green__poller_watch(struct green__poller *p, struct green__fdwait *w)
{
    struct green__fd *r = green__poller_fd(p, w->fd);
    if (!r)
        return -ENOMEM;
    if (r->pending & w->events) {
        /* An edge came while nobody waited: it is for this waiter. */
        w->revents = r->pending & w->events;
        r->pending &= ~w->events;
        return 1;
    }
    int err = set_interest(p, w->fd, r, r->events | w->events);
    if (err == -EPERM) {
        w->revents = w->events;  /* a regular file: always ready */
        return 1;
    }
    if (err < 0)
        return err;
    count(r, w, 1);
    w->revents = 0;
    green__list_push(&r->waiters, &w->node);
    return 0;
}

void green__poller_unwatch(struct green__poller *p, struct green__fdwait *w)
{
    struct green__fd *r = &p->fds[w->fd];
    green__list_remove(&r->waiters, &w->node);
    /* Narrowing never fails: it only gives up interest. */
    (void)set_interest(p, w->fd, r, count(r, w, -1));
}

int green__poller_wakefd(struct green__poller *p, int fd)
{
    green__poller_fresh(p, fd);  /* owned: epoll keeps it registered */
    struct green__fd *r = green__poller_fd(p, fd);
    if (!r)
        return -ENOMEM;
    int err = p->ops->set(p, fd, r, GREEN_IN);
    if (err < 0)
        return err;
    r->events = GREEN_IN;
    p->wakefd = fd;
    return 0;
}

void green__poller_ready(struct green__poller *p, int fd, int revents)
{
    if (fd == p->wakefd) {
        p->woken = true;
        return;
    }
    struct green__fd *r = &p->fds[fd];
    if (p->ops->edge_triggered) {
        /* Keep the edges no waiter is here to take. */
        int ready = revents & GREEN__ERR ? GREEN_IN | GREEN_OUT : revents;
        r->pending |= ready & ~r->events & (GREEN_IN | GREEN_OUT);
    }
    struct green__node *n = r->waiters.first;
    while (n) {
        struct green__fdwait *w = green__container_of(n, struct green__fdwait, node);
        n = n->next;  /* waking w unlinks it */
        if (!(revents & (w->events | GREEN__ERR | GREEN__NVAL)))
            continue;
        w->revents = revents;
        green__wake(green__container_of(w, green_t, w.fd),
                    revents & GREEN__NVAL ? EBADF : 0);
    }
}

static void reset(struct green__fd *r)
{
    r->backend = -1;
    r->pending = 0;
    r->nonblock = 0;
}

void green__poller_forget(struct green__poller *p, int fd)
{
    if (fd < 0 || (size_t)fd >= p->nfds)
        return;
    green__poller_ready(p, fd, GREEN__NVAL);
    p->ops->forget(p, fd, &p->fds[fd]);
    reset(&p->fds[fd]);
}

void green__poller_fresh(struct green__poller *p, int fd)
{
    struct green__fd *r = green__poller_fd(p, fd);
    if (!r)
        return;  /* only a cache: the next call asks again */
    /* No thread can wait on an fd number nobody had yet, but a plain
     * close() may have left a record behind. */
    if (r->events == 0) {
        reset(r);
        r->nonblock = 1;
    }
}
