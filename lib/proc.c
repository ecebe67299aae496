/*
 * Waiting for child processes: green_waitpid.
 *
 * For one child, on Linux, a pidfd: it becomes readable when the child
 * exits, so the green thread parks on it like on any fd.  A pidfd says
 * nothing of stops and continues, and names one process: for those
 * (WUNTRACED, WCONTINUED, pid <= 0) and on kernels without pidfd_open,
 * the thread polls waitpid with WNOHANG between sleeps that grow to
 * POLL_MAX_MS.
 */
#include <errno.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sanitizer.h"
#include "sched.h"

enum { POLL_MAX_MS = 50 };

static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    /* Valgrind 3.19 does not know the call: spare its warning. */
    if (green__vg_running()) {
        errno = ENOSYS;
        return -1;
    }
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* Parks on the child's pidfd until waitpid has something; -2 when the
 * kernel has no pidfd for it (the caller polls instead). */
static pid_t wait_pidfd(pid_t pid, int *status, int options)
{
    int pfd = pidfd_open_(pid);
    if (pfd < 0)
        return errno == ESRCH ? waitpid(pid, status, options | WNOHANG) : -2;
    /* A new fd: what the table knew of an earlier one of its number is
     * stale (a plain close() leaves such records). */
    green__poller_fresh(&green__cur->poller, pfd);
    pid_t r;
    while ((r = waitpid(pid, status, options | WNOHANG)) == 0) {
        if (green_wait(pfd, GREEN_IN) < 0) {
            r = -1;
            break;
        }
    }
    int err = errno;
    green_close(pfd);
    errno = err;
    return r;
}

static pid_t wait_polling(pid_t pid, int *status, int options)
{
    pid_t r;
    int64_t ms = 1;
    while ((r = waitpid(pid, status, options | WNOHANG)) == 0) {
        if (green_sleep(ms) < 0)
            return -1;
        ms = ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : ms * 2;
    }
    return r;
}

pid_t green_waitpid(pid_t pid, int *status, int options)
{
    struct green__sched *s = green__cur;
    if (!s || (options & WNOHANG))
        return waitpid(pid, status, options);
    /* A child that has already changed state is reaped even by a thread
     * that is cancelled or past its deadline, as green_join does. */
    pid_t r = waitpid(pid, status, options | WNOHANG);
    if (r != 0)
        return r;
    if (s->current->cancelled)
        return green__fail(ECANCELED);
    if (pid > 0 && !(options & (WUNTRACED | WCONTINUED))) {
        r = wait_pidfd(pid, status, options);
        if (r != -2)
            return r;
    }
    return wait_polling(pid, status, options);
}
