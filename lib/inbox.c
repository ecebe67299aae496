/*
 * The inbox: wake-ups posted by other OS threads (see inbox.h).
 *
 * This file's read, write and close go through the routed-call table,
 * around libgreen-hook (routed.h).
 */
#include "inbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#ifndef GREEN_POSIX_ONLY
#include <sys/eventfd.h>
#endif

#include "fd_flags.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* An eventfd where there is one (one fd, one counter), else a pipe, both
 * non-blocking and close-on-exec: 0 or -1 with errno.  Linux makes the
 * pipe in one call; POSIX (before 2024) sets the flags after it. */
#ifndef GREEN_POSIX_ONLY

static int make_eventfd(void)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

static int make_pipe(int p[2])
{
    return pipe2(p, O_NONBLOCK | O_CLOEXEC);
}
#else
static int make_eventfd(void)
{
    return -ENOSYS;
}

static int make_pipe(int p[2])
{
    return green__pipe_flagged(p, FD_CLOEXEC, O_NONBLOCK);
}
#endif

void green__inbox_init(struct green__inbox *in)
{
    *in = (struct green__inbox){.rfd = -1, .wfd = -1};
    pthread_mutex_init(&in->lock, NULL);
}

void green__inbox_fini(struct green__inbox *in)
{
    if (in->rfd >= 0)
        close(in->rfd);
    if (in->wfd >= 0 && in->wfd != in->rfd)
        close(in->wfd);
    pthread_mutex_destroy(&in->lock);
}

void green__inbox_after_fork(struct green__inbox *in)
{
    if (in->rfd >= 0)
        close(in->rfd);
    if (in->wfd >= 0 && in->wfd != in->rfd)
        close(in->wfd);
    green__inbox_init(in);
}

static int make_fds(struct green__inbox *in)
{
    int fd = make_eventfd();
    if (fd >= 0) {
        in->rfd = in->wfd = fd;
        return 0;
    }
    if (fd != -ENOSYS)
        return fd;
    int p[2];
    if (make_pipe(p) < 0)
        return -errno;
    in->rfd = p[0];
    in->wfd = p[1];
    return 0;
}

int green__inbox_open(struct green__sched *s)
{
    struct green__inbox *in = &s->inbox;
    if (in->rfd >= 0)
        return 0;
    int err = make_fds(in);
    if (err < 0)
        return err;
    err = green__poller_wakefd(&s->poller, in->rfd);
    if (err < 0) {
        green__inbox_fini(in);
        green__inbox_init(in);
    }
    return err;
}

int green__inbox_park(struct green__sched *s, struct green__wait *w)
{
    s->inbox.waiting++;  /* something can wake a thread: not a deadlock */
    int err = green__park(s, w, s->current->deadline, ETIMEDOUT);
    s->inbox.waiting--;
    return err;
}

static void signal_fd(int fd)
{
    /* Eight bytes suit an eventfd; a pipe takes them as well.  A full
     * pipe or a saturated counter already says "look". */
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(fd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
}

/* Under the lock.  A post ends the idleness in the same step, so that
 * the run never counts every scheduler idle while a post is on its way
 * (lib/cores.c's deadlock rule). */
static void post_locked(struct green__inbox *in, struct green__remote *r)
{
    if (in->idle) {
        in->idle = false;
        atomic_fetch_sub(in->idle_count, 1);
    }
    if (!r->posted) {
        bool was_empty = green__list_empty(&in->posted);
        green__list_push(&in->posted, &r->node);
        r->posted = true;
        atomic_store_explicit(&in->pending, true, memory_order_release);
        if (was_empty && in->asleep && !in->signalled) {
            signal_fd(in->wfd);
            in->signalled = true;
        }
    }
}

void green__inbox_post(struct green__inbox *in, struct green__remote *r)
{
    pthread_mutex_lock(&in->lock);
    post_locked(in, r);
    pthread_mutex_unlock(&in->lock);
}

bool green__inbox_send(struct green__inbox *in, struct green__remote *r)
{
    pthread_mutex_lock(&in->lock);
    bool open = !in->closed;
    if (open)
        post_locked(in, r);
    pthread_mutex_unlock(&in->lock);
    return open;
}

size_t green__inbox_idle(struct green__inbox *in)
{
    size_t n = 0;
    pthread_mutex_lock(&in->lock);
    if (green__list_empty(&in->posted) && !in->idle) {
        in->idle = true;
        n = atomic_fetch_add(in->idle_count, 1) + 1;
    }
    pthread_mutex_unlock(&in->lock);
    return n;
}

void green__inbox_busy(struct green__inbox *in)
{
    pthread_mutex_lock(&in->lock);
    if (in->idle) {
        in->idle = false;
        atomic_fetch_sub(in->idle_count, 1);
    }
    pthread_mutex_unlock(&in->lock);
}

bool green__inbox_close(struct green__inbox *in)
{
    pthread_mutex_lock(&in->lock);
    bool empty = green__list_empty(&in->posted);
    if (empty)
        in->closed = true;
    pthread_mutex_unlock(&in->lock);
    return empty;
}

void green__inbox_unpost(struct green__inbox *in, struct green__remote *r)
{
    pthread_mutex_lock(&in->lock);
    if (r->posted) {
        green__list_remove(&in->posted, &r->node);
        r->posted = false;
    }
    pthread_mutex_unlock(&in->lock);
}

struct green__remote *green__inbox_take(struct green__inbox *in,
                                        bool (*want)(const struct green__remote *r, void *ctx),
                                        void *ctx)
{
    struct green__remote *found = NULL;
    pthread_mutex_lock(&in->lock);
    for (struct green__node *n = in->posted.first; n && !found; n = n->next) {
        struct green__remote *r = green__container_of(n, struct green__remote, node);
        if (want(r, ctx))
            found = r;
    }
    /* pending stays set, for the owner's drain to clear: it reads the fd
     * too if a post wrote it. */
    if (found) {
        green__list_remove(&in->posted, &found->node);
        found->posted = false;
    }
    pthread_mutex_unlock(&in->lock);
    return found;
}

bool green__inbox_sleep(struct green__inbox *in)
{
    if (in->rfd < 0)
        return false;
    pthread_mutex_lock(&in->lock);
    in->asleep = green__list_empty(&in->posted);
    bool asleep = in->asleep;
    pthread_mutex_unlock(&in->lock);
    return asleep;
}

void green__inbox_awake(struct green__inbox *in)
{
    pthread_mutex_lock(&in->lock);
    in->asleep = false;
    pthread_mutex_unlock(&in->lock);
}

void green__inbox_drain(struct green__inbox *in)
{
    pthread_mutex_lock(&in->lock);
    /* Empty the fd if a post wrote it (the scheduler slept), before
     * taking the list: the next post finds the list empty and, if the
     * scheduler sleeps again by then, writes again.  Not otherwise: a
     * read is a system call, and most posts find the scheduler awake. */
    if (in->signalled) {
        in->signalled = false;
        pthread_mutex_unlock(&in->lock);
        char buf[64];
        while (read(in->rfd, buf, sizeof buf) > 0 && in->rfd != in->wfd)
            ;
        pthread_mutex_lock(&in->lock);
    }
    /* One record at a time, each off the list before it is delivered: it
     * may be posted again as soon as it is off (a second cancel), and a
     * delivery may unpost others.  Those posted while this runs wait for
     * the next look, which pending asks for. */
    struct green__node *last = in->posted.last, *n;
    if (!last)  /* another scheduler took what was posted (green__inbox_take) */
        atomic_store_explicit(&in->pending, false, memory_order_relaxed);
    while ((n = in->posted.first) != NULL) {
        green__list_remove(&in->posted, n);
        struct green__remote *r = green__container_of(n, struct green__remote, node);
        r->posted = false;
        if (green__list_empty(&in->posted))
            atomic_store_explicit(&in->pending, false, memory_order_relaxed);
        pthread_mutex_unlock(&in->lock);
        if (r->deliver)
            r->deliver(r);
        else
            green__wake(r->thread, 0);
        if (n == last)
            return;
        pthread_mutex_lock(&in->lock);
    }
    pthread_mutex_unlock(&in->lock);
}
