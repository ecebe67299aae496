/*
 * Waiting for signals: green_signal_wait.
 *
 * The first wait for a signal installs libgreen's handler for it, which
 * stays installed.  The handler only counts the signal and writes a byte
 * to a pipe.  A dispatcher OS thread, started with the first wait, reads
 * the pipe and, under the lock, hands counted signals to parked waiters
 * through their schedulers' inboxes; a signal nobody waits for stays
 * counted for the next wait that asks for it.
 *
 * Not signalfd: it needs the signal blocked in every thread that could
 * take it, and under the ucontext switch every green thread has its own
 * signal mask, saved in contexts libgreen cannot all reach.  A handler
 * works whatever the masks are.
 *
 * This file's read, write, fcntl and close go through the routed-call
 * table, around libgreen-hook (routed.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "os_thread.h"
#include "fd_flags.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

struct sigwaiter {
    struct green__wait wait;
    struct green__node node;      /* in sig.waiters */
    sigset_t set;
    int signo;                    /* 0 until a signal is handed over */
    struct green__inbox *inbox;
    struct green__remote remote;
};

static struct {
    pthread_mutex_t lock;
    sigset_t installed;           /* signals with libgreen's handler */
    struct green__list waiters;   /* of sigwaiter, in the order they came */
    bool running;                 /* the dispatcher */
} sig = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Read by the handler: plain ints, set before any handler is installed. */
static volatile int pipe_r = -1, pipe_w = -1;
static atomic_uint counts[NSIG];  /* arrived and not yet handed over */

static void handler(int signo)
{
    int err = errno;
    atomic_fetch_add(&counts[signo], 1);
    char b = (char)signo;
    if (write(pipe_w, &b, 1) < 0) {
        /* A full pipe already says "look"; the count is what matters. */
    }
    errno = err;
}

/* Takes one counted signal of set, lowest number first; 0 if none. */
static int take(const sigset_t *set)
{
    for (int s = 1; s < NSIG; s++) {
        if (sigismember(set, s) != 1)
            continue;
        unsigned n = atomic_load(&counts[s]);
        while (n > 0)
            if (atomic_compare_exchange_weak(&counts[s], &n, n - 1))
                return s;
    }
    return 0;
}

/* Under the lock: hands counted signals to the waiters, first come first. */
static void dispatch(void)
{
    struct green__node *n = sig.waiters.first;
    while (n) {
        struct sigwaiter *w = green__container_of(n, struct sigwaiter, node);
        n = n->next;
        if ((w->signo = take(&w->set)) != 0) {
            green__list_remove(&sig.waiters, &w->node);
            green__inbox_post(w->inbox, &w->remote);
        }
    }
}

static void *dispatcher(void *arg)
{
    (void)arg;
    for (;;) {
        char buf[64];
        if (read(pipe_r, buf, sizeof buf) < 0 && errno != EINTR)
            return NULL;  /* the pipe is gone: a forked child's old one */
        pthread_mutex_lock(&sig.lock);
        dispatch();
        pthread_mutex_unlock(&sig.lock);
    }
}

/* A child of fork() has no dispatcher, and must not read its parent's
 * pipe: it starts afresh.  Handlers and counts carry over. */
static void forget_in_child(void)
{
    pthread_mutex_init(&sig.lock, NULL);
    sig.waiters = (struct green__list){NULL, NULL};
    sig.running = false;
    int r = pipe_r, w = pipe_w;
    pipe_r = pipe_w = -1;
    if (r >= 0)
        close(r);
    if (w >= 0)
        close(w);
}

static void at_fork(void)
{
    pthread_atfork(NULL, NULL, forget_in_child);
}

/* A pipe, close-on-exec: 0 or -1 with errno.  Linux makes it in one
 * call; POSIX (before 2024) sets the flag after it. */
#ifndef GREEN_POSIX_ONLY
static int make_pipe(int p[2])
{
    return pipe2(p, O_CLOEXEC);
}
#else
static int make_pipe(int p[2])
{
    return green__pipe_flagged(p, FD_CLOEXEC, 0);
}
#endif

/* Under the lock: the pipe and the dispatcher exist.  0 or -errno. */
static int start(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, at_fork);
    if (sig.running)
        return 0;
    if (pipe_r < 0) {
        int p[2];
        if (make_pipe(p) < 0)
            return -errno;
        fcntl(p[1], F_SETFL, O_NONBLOCK);  /* the handler never blocks */
        pipe_r = p[0];
        pipe_w = p[1];
    }
    int err = green__os_thread(dispatcher, NULL);
    if (err < 0)
        return err;
    sig.running = true;
    return 0;
}

/* Under the lock: libgreen's handler for every signal of set. */
static int install(const sigset_t *set)
{
    struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_RESTART};
    sigfillset(&sa.sa_mask);
    for (int s = 1; s < NSIG; s++) {
        if (sigismember(set, s) != 1 || sigismember(&sig.installed, s) == 1)
            continue;
        if (sigaction(s, &sa, NULL) < 0)
            return -errno;
        sigaddset(&sig.installed, s);
    }
    return 0;
}

/* Which sets make sense: at least one signal, none that cannot be caught
 * or that libgreen itself handles (SIGSEGV: stack overflow). */
static bool valid_set(const sigset_t *set)
{
    bool any = false;
    for (int s = 1; s < NSIG; s++) {
        if (sigismember(set, s) != 1)
            continue;
        if (s == SIGKILL || s == SIGSTOP || s == SIGSEGV)
            return false;
        any = true;
    }
    return any;
}

static void sigwait_unlink(struct green__wait *wait)
{
    struct sigwaiter *w = green__container_of(wait, struct sigwaiter, wait);
    pthread_mutex_lock(&sig.lock);
    if (!w->signo)
        green__list_remove(&sig.waiters, &w->node);
    pthread_mutex_unlock(&sig.lock);
    if (w->signo)
        green__inbox_unpost(w->inbox, &w->remote);
}

static void sigwait_describe(const struct green__wait *wait, char *buf, size_t n)
{
    const struct sigwaiter *w = green__container_of(wait, struct sigwaiter, wait);
    int first = 0;
    for (int s = 1; s < NSIG && !first; s++)
        if (sigismember(&w->set, s) == 1)
            first = s;
    snprintf(buf, n, "signal %d", first);
}

static const struct green__waitop sigwait_op = {
    .unlink = sigwait_unlink,
    .describe = sigwait_describe,
    .forgotten_after_fork = true,
};

/* Under the lock: a counted signal of set, or the waiter queued. */
static int take_or_queue(struct sigwaiter *w)
{
    int err = start();
    if (err == 0)
        err = install(&w->set);
    if (err < 0)
        return err;
    int signo = take(&w->set);
    if (signo)
        return signo;
    green__list_push(&sig.waiters, &w->node);
    return 0;
}

int green_signal_wait(const sigset_t *set)
{
    struct green__sched *s = green__cur;
    if (!set || !valid_set(set))
        return green__fail(EINVAL);
    if (!s)
        return green__fail(EPERM);
    green_t *self = s->current;
    if (green__cancel_due(self))
        return green__fail(-green__cancelled(s));
    int err = green__inbox_open(s);
    if (err < 0)
        return green__fail(-err);
    struct sigwaiter w = {.wait.op = &sigwait_op, .set = *set, .inbox = &s->inbox, .remote.thread = self};
    pthread_mutex_lock(&sig.lock);
    int r = take_or_queue(&w);
    pthread_mutex_unlock(&sig.lock);
    if (r != 0)
        return r > 0 ? r : green__fail(-r);
    err = green__inbox_park(s, &w.wait);
    /* A signal handed over as the wait ended is the caller's: it is taken. */
    if (w.signo)
        return w.signo;
    return green__fail(-err);
}
