/*
 * Flags set on a new fd after it is made, for the POSIX build, where the
 * calls that make fds take no flags (lib/fd_flags.h).  The Linux build
 * sets them in the call and does not build this file.
 */
#include "fd_flags.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* Closes fd, keeping the errno of the failure that made it go; -1. */
static int close_failed(int fd)
{
    int err = errno;
    close(fd);
    errno = err;
    return -1;
}

int green__fd_flag(int fd, int fd_flags, int status_flags)
{
    if (fd < 0)
        return fd;
    if (fd_flags && fcntl(fd, F_SETFD, fd_flags) < 0)
        return close_failed(fd);
    if (status_flags) {
        int now = fcntl(fd, F_GETFL);
        if (now < 0 || fcntl(fd, F_SETFL, now | status_flags) < 0)
            return close_failed(fd);
    }
    return fd;
}

int green__pipe_flagged(int p[2], int fd_flags, int status_flags)
{
    if (pipe(p) < 0)
        return -1;
    if (green__fd_flag(p[0], fd_flags, status_flags) < 0)
        return close_failed(p[1]);
    if (green__fd_flag(p[1], fd_flags, status_flags) < 0)
        return close_failed(p[0]);
    return 0;
}
