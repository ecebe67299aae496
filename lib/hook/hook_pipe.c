/*
 * libgreen-hook's reads and writes of an fd that is neither a socket nor a
 * file: a pipe, a FIFO, a tty, an eventfd.  They park only the green
 * thread, as libgreen's calls do, but set no O_NONBLOCK on the fd.  That
 * flag belongs to the open file, which code the hook never sees shares:
 * stdio's own calls (an fwrite that meets EAGAIN gives up), plain OS
 * threads (whose blocking read then fails at once), child processes, and
 * the shell on the same terminal.  hook.c says which fds come here.
 *
 * A pipe takes RWF_NOWAIT (Linux 6.4 and later), a flag of the one call:
 * preadv2 and pwritev2 at the file's own position (offset -1) then never
 * wait, and the thread parks on green_wait only when they say EAGAIN.
 * Anything else (a tty, an older kernel's pipe: they say EOPNOTSUPP) is
 * called only once poll(2) says it is ready.  A read then returns what is
 * there.  A write is cut into pieces the file has room for: a pipe says
 * POLLOUT only with a free slot, which holds PIPE_BUF bytes; a tty says it
 * with room in its buffer, and a pseudo-terminal's takes at least one
 * buffer allocation of TTY_PIECE bytes (a blocking write of more, straight
 * after POLLOUT, was seen to block).
 *
 * What remains: on the poll path, another OS thread or process that takes
 * the data or the room between the poll and the call leaves the call to
 * block this OS thread until there is more; and a tty driver whose room
 * is smaller than TTY_PIECE can block it too.  docs/hooks.md says so.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hook.h"

/* preadv2 and pwritev2 with RWF_NOWAIT at the file's own position (offset
 * -1).  A C library that declares neither (musl before 1.2.5 defines no
 * RWF_NOWAIT) is passed by with syscall(2): the kernel takes the offset
 * in two longs, low half then high, and -1 is all ones in both on every
 * ABI, 32-bit or 64-bit. */
#ifdef RWF_NOWAIT
static ssize_t readv_nowait(int fd, const struct iovec *iov, int n)
{
    return preadv2(fd, iov, n, -1, RWF_NOWAIT);
}

static ssize_t writev_nowait(int fd, const struct iovec *iov, int n)
{
    return pwritev2(fd, iov, n, -1, RWF_NOWAIT);
}
#else
enum { NOWAIT = 8 };  /* <linux/fs.h>'s RWF_NOWAIT */

static ssize_t readv_nowait(int fd, const struct iovec *iov, int n)
{
    return syscall(SYS_preadv2, fd, iov, n, -1L, -1L, NOWAIT);
}

static ssize_t writev_nowait(int fd, const struct iovec *iov, int n)
{
    return syscall(SYS_pwritev2, fd, iov, n, -1L, -1L, NOWAIT);
}
#endif

/* A green call is cancelled before anything else, as libgreen's are; a
 * deadline already past still lets a call that needs no wait through. */
static bool cancelled(void)
{
    int err = errno;
    if (green_checkpoint() < 0 && errno == ECANCELED)
        return true;
    errno = err;
    return false;
}

/* The bytes in iov, or SIZE_MAX for a vector the real call refuses
 * (EINVAL), which it is then left to. */
static size_t total(const struct iovec *iov, int n)
{
    if (n < 0 || n > IOV_MAX)
        return SIZE_MAX;
    size_t sum = 0;
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len > SSIZE_MAX - sum)
            return SIZE_MAX;
        sum += iov[i].iov_len;
    }
    return sum;
}

/* Parks until poll(2) says fd is ready for events: 0, or -1 with errno. */
static int until_ready(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    for (;;) {
        int r = REAL(poll)(&p, 1, 0);
        if (r > 0)
            return 0;  /* POLLNVAL too: the call says EBADF */
        if (r < 0 && errno != EINTR)
            return -1;
        if (r == 0 && green_wait(fd, events == POLLIN ? GREEN_IN : GREEN_OUT) < 0)
            return -1;
    }
}

/* After a call failed: 0 to make it again (it was interrupted, or would
 * have blocked and fd is now ready), or -1 with errno to give up. */
static int again(int fd, int events)
{
    if (errno == EINTR)
        return 0;
    if (errno != EAGAIN)
        return -1;
    return green_wait(fd, events) < 0 ? -1 : 0;
}

static bool refused(int err)
{
    return err == EOPNOTSUPP || err == ENOSYS;
}

ssize_t green__hook_readv(int fd, const struct iovec *iov, int n, bool pipe)
{
    size_t want = total(iov, n);
    if (want == 0 || want == SIZE_MAX)
        return REAL(readv)(fd, iov, n);  /* no wait: a read of nothing returns at once */
    if (cancelled())
        return -1;
    int err = errno;
    bool nowait = pipe && green__hook_nowait(fd);
    for (;;) {
        ssize_t r;
        if (nowait) {
            r = readv_nowait(fd, iov, n);
            if (r < 0 && refused(errno)) {
                green__hook_no_nowait(fd);
                nowait = false;
                continue;
            }
        } else {
            if (until_ready(fd, POLLIN) < 0)
                return -1;
            r = REAL(readv)(fd, iov, n);
        }
        if (r >= 0) {
            errno = err;  /* a call that succeeds leaves errno alone */
            return r;
        }
        if (again(fd, GREEN_IN) < 0)
            return -1;
    }
}

enum { WINDOW = 8, TTY_PIECE = 1024 };

/* The part of iov (n entries) from byte skip on, at most max bytes in at
 * most WINDOW entries, into w: its entries. */
static int window(const struct iovec *iov, int n, size_t skip, size_t max, struct iovec *w)
{
    int k = 0;
    for (int i = 0; i < n && k < WINDOW && max > 0; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        size_t len = iov[i].iov_len - skip < max ? iov[i].iov_len - skip : max;
        w[k++] = (struct iovec){(char *)iov[i].iov_base + skip, len};
        max -= len;
        skip = 0;
    }
    return k;
}

/* One call of the write, done bytes of want already written: its count,
 * or -1 with errno.  The whole vector goes in one call where it can, so a
 * write of at most PIPE_BUF bytes to a pipe stays whole, as the real one
 * would. */
static ssize_t write_once(int fd, const struct iovec *iov, int n, size_t done, size_t want,
                          bool pipe, bool *nowait)
{
    size_t max = *nowait ? SIZE_MAX : pipe ? PIPE_BUF : TTY_PIECE;
    struct iovec w[WINDOW];
    const struct iovec *v = iov;
    int k = n;
    if (done > 0 || want > max) {
        k = window(iov, n, done, max, w);
        v = w;
    }
    if (!*nowait)
        return until_ready(fd, POLLOUT) < 0 ? -1 : REAL(writev)(fd, v, k);
    ssize_t r = writev_nowait(fd, v, k);
    if (r < 0 && refused(errno)) {
        green__hook_no_nowait(fd);
        *nowait = false;
        return write_once(fd, iov, n, done, want, pipe, nowait);
    }
    return r;
}

ssize_t green__hook_writev(int fd, const struct iovec *iov, int n, bool pipe)
{
    size_t want = total(iov, n);
    if (want == 0 || want == SIZE_MAX)
        return REAL(writev)(fd, iov, n);
    if (cancelled())
        return -1;
    int err = errno;
    bool nowait = pipe && green__hook_nowait(fd);
    size_t done = 0;
    while (done < want) {
        ssize_t r = write_once(fd, iov, n, done, want, pipe, &nowait);
        if (r >= 0)
            done += (size_t)r;
        else if (again(fd, GREEN_OUT) < 0)
            return done ? (ssize_t)done : -1;  /* as green_write: the count, errno why */
    }
    errno = err;
    return (ssize_t)done;
}
