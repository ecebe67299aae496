/*
 * What libgreen knows of the file under an fd (file.h): the facts the
 * I/O engine learns, the file's O_NONBLOCK, and the fd's adoption and
 * release, which are inverses.
 *
 * This file's fcntl goes through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "file.h"
#include "poller.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* fd's file status flags, asked now (one remembered could be an earlier
 * file's), or -errno. */
static int status_flags(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -errno : flags;
}

/* Turns O_NONBLOCK on or off in fd's flags, just asked: 1 when that
 * changed them, 0 when they were so already, or -errno. */
static int turn_nonblock(int fd, int flags, bool on)
{
    if (!(flags & O_NONBLOCK) == !on)
        return 0;
    flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 1;
}

int green__file_nonblock(struct green__poller *p, int fd)
{
    int flags = status_flags(fd);
    int changed = flags < 0 ? flags : turn_nonblock(fd, flags, true);
    if (changed < 0)
        return changed;
    struct green__fd *r = green__poller_has(p, fd);
    if (changed && r)
        r->file.set_nonblock = true;
    return 0;
}

void green__file_notsock(struct green__poller *p, int fd)
{
    struct green__fd *r = green__poller_fd(p, fd);
    if (!r)
        return;
    int saved = errno;
    r->file.notsock = true;
    r->file.tty = p->ops->start && isatty(fd);  /* only the ring path asks */
    errno = saved;
}

void green__file_fresh(struct green__poller *p, int fd, bool tcp)
{
    struct green__fd *r = green__poller_fresh(p, fd);
    if (r)
        r->file.tcp = tcp;
}

/* The order of the checks gives EBADF for a number not open, however
 * large, before the table grows to hold it. */
int green__file_adopt(struct green__poller *p, int fd)
{
    int flags = status_flags(fd);
    if (flags < 0)
        return flags;
    if (!green__poller_fd(p, fd))
        return -ENOMEM;
    int changed = turn_nonblock(fd, flags, true);
    if (changed < 0)
        return changed;
    green__poller_fresh(p, fd)->file.set_nonblock = changed;
    return 0;
}

int green__file_release(struct green__poller *p, int fd)
{
    int flags = status_flags(fd);
    if (flags < 0)
        return flags;
    const struct green__fd *r = green__poller_has(p, fd);
    if (r && r->file.set_nonblock) {
        int err = turn_nonblock(fd, flags, false);
        if (err < 0)
            return err;  /* nothing forgotten: a second release can restore it */
    }
    (void)green__poller_forget(p, fd);
    return 0;
}
