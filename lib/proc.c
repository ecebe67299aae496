/*
 * Waiting for child processes: green_waitpid.
 *
 * For one child, on Linux, a pidfd: it becomes readable when the child
 * exits, so the green thread parks on it like on any fd.  A pidfd says
 * nothing of stops and continues, and names one process: for those
 * (WUNTRACED, WCONTINUED, pid <= 0), on kernels without pidfd_open and
 * in the POSIX build, the thread polls waitpid with WNOHANG between sleeps that grow to
 * POLL_MAX_MS.
 *
 * This file's close goes through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>
#ifndef GREEN_POSIX_ONLY
#include <sys/syscall.h>
#endif

#include "sanitizer.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

enum { POLL_MAX_MS = 50 };

/* A pidfd for pid, or -errno (ENOSYS where there is none: the POSIX
 * build has the polling alone). */
#ifdef SYS_pidfd_open
static int open_pidfd(pid_t pid)
{
    /* Valgrind 3.19 does not know the call: spare its warning. */
    if (green__vg_running())
        return -ENOSYS;
    int err = green__fault_errno(GREEN__FAULT_pidfd_open);
    if (err)
        return -err;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    return fd >= 0 ? fd : -errno;
}
#else
static int open_pidfd(pid_t pid)
{
    (void)pid;
    return -ENOSYS;
}
#endif

/* Parks on the child's pidfd until waitpid has something: its result, or
 * -errno; -ENOSYS when there is no pidfd for it or it cannot be watched
 * (the caller polls instead). */
static pid_t wait_pidfd(struct green__sched *s, pid_t pid, int *status, int options)
{
    int pfd = open_pidfd(pid);
    if (pfd < 0)
        return -ENOSYS;  /* ESRCH too: polling's first waitpid says why */
    /* A new fd: what the table knew of an earlier one of its number is
     * stale. */
    green__poller_fresh(&s->poller, pfd);
    pid_t r;
    for (;;) {
        r = waitpid(pid, status, options | WNOHANG);
        if (r < 0)
            r = -errno;
        if (r != 0)
            break;
        int err = green__fd_wait(s, pfd, GREEN_IN, false);
        if (err < 0) {
            /* The deadline and cancellation end the call; a pidfd that
             * cannot be watched (ENOMEM, say) only means polling. */
            r = err == -ETIMEDOUT || err == -ECANCELED ? err : -ENOSYS;
            break;
        }
    }
    (void)green__poller_forget(&s->poller, pfd);
    close(pfd);
    return r;
}

static pid_t wait_polling(pid_t pid, int *status, int options)
{
    pid_t r;
    int64_t ms = 1;
    while ((r = waitpid(pid, status, options | WNOHANG)) == 0) {
        if (green_sleep(ms) < 0)
            return -errno;
        ms = ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : ms * 2;
    }
    return r < 0 ? -errno : r;
}

static pid_t wait_child(struct green__sched *s, pid_t pid, int *status, int options)
{
    /* A child that has already changed state is reaped even by a thread
     * that is cancelled or past its deadline, as green_join does. */
    pid_t r = waitpid(pid, status, options | WNOHANG);
    if (r != 0)
        return r < 0 ? -errno : r;
    if (green__cancel_due(s->current))
        return green__cancelled(s);
    if (pid > 0 && !(options & (WUNTRACED | WCONTINUED))) {
        r = wait_pidfd(s, pid, status, options);
        if (r != -ENOSYS)
            return r;
    }
    return wait_polling(pid, status, options);
}

pid_t green_waitpid(pid_t pid, int *status, int options)
{
    struct green__sched *s = green__cur;
    if (!s || (options & WNOHANG))
        return waitpid(pid, status, options);
    pid_t r = wait_child(s, pid, status, options);
    return r < 0 ? green__fail(-r) : r;
}
