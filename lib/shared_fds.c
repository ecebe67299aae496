/*
 * fds used by several schedulers of a run.
 *
 * Each scheduler keeps its own poller, with its own record of every fd its
 * threads wait on or do I/O on.  The run keeps, per fd number, which
 * schedulers' pollers know the fd: a bit per scheduler (the last bit
 * stands for every scheduler from 31 on), set the first time a poller
 * makes a record for it.  green_close and green_fd_release on one
 * scheduler take the fd's bits and, before the fd is closed or given back,
 * ask each other scheduler that knows it to forget it: its waiters there
 * wake and fail with EBADF, as they do on one scheduler, and its
 * registration goes while the number still names the same file.  An fd
 * only one scheduler uses costs its close one atomic exchange.
 */
#include "sched.h"

#include <stdlib.h>
#include <sys/resource.h>

#include "cores.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* fd numbers above this share the last bit's treatment: every scheduler
 * is asked. */
#define MAX_TRACKED (1u << 20)

int green__shared_fds_init(struct green__cores *c)
{
    struct rlimit rl;
    size_t n = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > n)
        n = rl.rlim_cur;
    if (n > MAX_TRACKED)
        n = MAX_TRACKED;
    c->fd_users = calloc(n, sizeof *c->fd_users);
    if (!c->fd_users)
        return -ENOMEM;
    c->nfd_users = n;
    return 0;
}

void green__shared_fds_fini(struct green__cores *c)
{
    free(c->fd_users);
}

static unsigned bit_of(unsigned index)
{
    return 1u << (index < 31 ? index : 31);
}

void green__shared_fds_join(struct green__sched *s)
{
    s->poller.users = s->cores->fd_users;
    s->poller.nusers = s->cores->nfd_users;
    s->poller.user_bit = bit_of(s->index);
}

void green__poller_mark_user(struct green__poller *p, int fd)
{
    if ((size_t)fd >= p->nusers)
        return;  /* untracked: a close asks every scheduler */
    if (!(atomic_load_explicit(&p->users[fd], memory_order_relaxed) & p->user_bit))
        atomic_fetch_or(&p->users[fd], p->user_bit);
}

/* Asking one scheduler to forget the fd. */

struct forget {
    struct green__remote ask;     /* carried out by the other scheduler */
    struct green__remote reply;   /* wakes the asker */
    struct green__wait wait;
    struct green__sched *from, *on;
    int fd;
};

static void deliver_forget(struct green__remote *r)
{
    struct forget *f = green__container_of(r, struct forget, ask);
    (void)green__poller_forget(&f->on->poller, f->fd);
    green__inbox_post(&f->from->inbox, &f->reply);
}

static void forget_describe(const struct green__wait *w, char *buf, size_t n)
{
    const struct forget *f = green__container_of(w, struct forget, wait);
    snprintf(buf, n, "fd %d closing on scheduler %u", f->fd, f->on->index);
}

static const struct green__waitop forget_op = {.unlink = NULL, .describe = forget_describe};

/* Not inlined: the record is on this stack while the other scheduler uses
 * it, and the wait unlinks nothing the compiler can see. */
static __attribute__((noinline)) void forget_there(struct green__sched *s,
                                                   struct green__sched *on, int fd)
{
    struct forget f = {
        .ask.deliver = deliver_forget, .reply.thread = s->current, .wait.op = &forget_op,
        .from = s, .on = on, .fd = fd,
    };
    /* An ended scheduler has no thread left to wake. */
    if (green__inbox_send(&on->inbox, &f.ask))
        (void)green__park_shielded(s, &f.wait);  /* shielded: f is on this stack */
}

void green__shared_fds_forget(struct green__sched *s, int fd)
{
    struct green__cores *c = s->cores;
    unsigned users = (size_t)fd < c->nfd_users ? atomic_exchange(&c->fd_users[fd], 0) : ~0u;
    users &= ~s->poller.user_bit | bit_of(31);  /* the shared last bit stays */
    for (size_t i = 0; users && i < c->n; i++)
        if (i != s->index && (users & bit_of((unsigned)i)))
            forget_there(s, c->scheds[i], fd);
}
