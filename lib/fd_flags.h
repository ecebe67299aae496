/* The POSIX build's stand-ins for the flags Linux sets on an fd as it
 * makes it (SOCK_CLOEXEC and SOCK_NONBLOCK, pipe2's and accept4's): the
 * same flags, set with fcntl just after (lib/fd_flags.c).  Between the
 * two an exec by another OS thread may inherit the fd (README, "The POSIX
 * build"). */
#ifndef GREEN_FD_FLAGS_H
#define GREEN_FD_FLAGS_H

/* fd, given fd_flags (F_SETFD: FD_CLOEXEC) and status_flags added
 * (F_SETFL: O_NONBLOCK), either 0 for none; or, closed, -1 with errno.
 * An fd < 0 (a failed call's) comes back as it is. */
int green__fd_flag(int fd, int fd_flags, int status_flags);

/* A pipe whose two ends have the flags; 0, or -1 with errno and no fd. */
int green__pipe_flagged(int p[2], int fd_flags, int status_flags);

#endif
