/*
 * The I/O engine's ring path (engine.h): under a backend that makes the
 * calls itself (uring), each call is handed to it, and the thread parks
 * until it completes (green__fd_call).  No fd is made non-blocking, and a
 * regular file's read parks too.  An EAGAIN the backend gives back (an fd
 * another program made non-blocking, on an older kernel) is waited out by
 * readiness.  A terminal's calls take the readiness path instead: the
 * kernel makes a ring's write to a tty in the thread that submits it, and
 * a full tty blocks that OS thread (Linux 6.18).
 *
 * Turns.  read(2) and write(2) hold the file position's lock, so two
 * never start at one place (POSIX 2.9.7).  The ring's calls do not; so
 * those that move a regular file's position are made one at a time per
 * fd, in the order they came, each waiting its turn (the poller's turn
 * waits).  The ring moves the position for a call it completes at once (a
 * buffered read or write, or one an io-wq worker makes), but not for an
 * O_DIRECT call that completes later: for those the engine keeps the
 * position itself, reading it before the call, which it makes at that
 * offset, and moving it after.  Either way the program's own lseek
 * between calls is honoured.  A write to an O_APPEND file goes to the
 * end, where the kernel keeps the position.
 *
 * This file's fcntl goes through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* Whether c, as the backend makes it, is a read or write at the file
 * position: a socket's read, write and writev are recv, send and sendmsg,
 * which have none; a readv is readv on anything. */
static bool at_position(const struct green__call *c)
{
    switch (c->kind) {
    case GREEN__READV: return true;
    case GREEN__READ: case GREEN__WRITE: case GREEN__WRITEV: return c->plain;
    default: return false;
    }
}

/* Whether fd's calls move a position: a regular file's or a block
 * device's (an eventfd's lseek succeeds too, but its reader and writer
 * must not wait for each other).  errno is left as it was. */
static bool has_position(int fd)
{
    int saved = errno;
    struct stat st;
    bool has = fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
    errno = saved;
    return has;
}

/* The file status flags of c's fd when c moves its position, else -1.
 * Whether the file has a position is learnt once per file; the flags are
 * asked each time, since O_DIRECT decides how the call is made, and a
 * number closed with close(2) behind libgreen's back may be another
 * file's now.  errno is left as it was. */
static int position_flags(struct green__file *f, const struct green__call *c)
{
    if (!at_position(c))
        return -1;
    if (f->positioned == 0)
        f->positioned = has_position(c->fd) ? 1 : -1;
    int saved = errno;
    int flags = f->positioned > 0 ? fcntl(c->fd, F_GETFL) : -1;
    errno = saved;  /* not open: the call will say so */
    return flags;
}

/* Whether fd is still the file st was taken of: the same after a
 * release, another after a close that let the number be reused. */
static bool same_file(int fd, const struct stat *st)
{
    int saved = errno;
    struct stat now;
    bool same = fstat(fd, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino;
    errno = saved;
    return same;
}

/* An O_DIRECT call, made at the position the engine keeps for it. */
static ssize_t call_direct(struct green__sched *s, struct green__call *c)
{
    struct stat st;
    off_t pos = lseek(c->fd, 0, SEEK_CUR);
    if (pos < 0 || fstat(c->fd, &st) < 0)
        return -errno;
    c->at = true;
    c->offset = pos;
    ssize_t res = green__fd_call(s, c);
    c->at = false;
    if (res > 0 && (green__fd_gen(&s->poller, c->fd) == c->gen || same_file(c->fd, &st))) {
        int saved = errno;
        (void)lseek(c->fd, pos + res, SEEK_SET);
        errno = saved;
    }
    return res;
}

/* Makes c, which moves its fd's position, in its turn; flags are the
 * file's. */
static ssize_t call_in_turn(struct green__sched *s, struct green__call *c, int flags)
{
    int err = green__fd_take_turn(s, c->fd);
    if (err < 0)
        return err;
    bool appends = c->kind >= GREEN__WRITE && (flags & O_APPEND);
    ssize_t res = (flags & O_DIRECT) && !appends ? call_direct(s, c)
                : green__fd_call(s, c);  /* the ring moves the position */
    green__fd_give_turn(&s->poller, c->fd);
    return res;
}

/* Makes c once by the backend, in a turn when it moves a position. */
static ssize_t ring_once(struct green__sched *s, struct green__call *c)
{
    struct green__fd *r = green__poller_fd(&s->poller, c->fd);
    if (!r)
        return -ENOMEM;
    int flags = position_flags(&r->file, c);
    if (flags < 0)
        return green__fd_call(s, c);
    /* A number closed with close(2) and reused leaves a stale record,
     * which must not hold a socket's reader and writer apart: before
     * waiting for a turn, a look. */
    if (green__fd_turn_held(&s->poller, c->fd) && !has_position(c->fd)) {
        r->file.positioned = -1;
        return green__fd_call(s, c);
    }
    return call_in_turn(s, c, flags);
}

ssize_t green__engine_ring(struct green__sched *s, struct green__call *c)
{
    bool vector = c->kind == GREEN__READV || c->kind == GREEN__WRITEV;
    if ((vector && (c->iovcnt < 0 || c->iovcnt > IOV_MAX)) || (c->kind == GREEN__CONNECT && !c->to))
        return -EINVAL;
    for (;;) {
        const struct green__fd *r = green__poller_has(&s->poller, c->fd);
        if (green__fd_gen(&s->poller, c->fd) != c->gen)
            return -EBADF;  /* closed or released between two tries */
        if (r && r->file.tty)
            return green__engine_ready(s, c);
        c->plain = r && r->file.notsock;
        ssize_t n = ring_once(s, c);
        if (n == -ENOTSOCK && !c->plain && c->kind < GREEN__ACCEPT) {
            green__file_notsock(&s->poller, c->fd);
            continue;
        }
        if (n == -EINTR)
            continue;
        if (n != -EAGAIN)
            return n;
        int err = green__fd_wait(s, c->fd, green__call_events(c), true);
        if (err < 0)
            return err;
    }
}
