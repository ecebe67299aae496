/*
 * What libgreen knows of the file under an fd: the facts the I/O engine
 * learns from the calls it makes and decides on (engine.c,
 * engine_ring.c), and the calls that keep them (file.c).  They sit in the
 * fd's record (poller.h), so they are forgotten with it when the number is
 * closed, released or found to be another file.
 */
#ifndef GREEN_FILE_H
#define GREEN_FILE_H

#include <stdbool.h>

struct green__file {
    bool notsock;            /* a socket call said ENOTSOCK: the plain
                                calls from now on */
    bool tty;                /* notsock, and a terminal: its calls wait
                                for readiness, never by a ring */
    bool set_nonblock;       /* libgreen set O_NONBLOCK on it (a call
                                or adoption), and release clears it */
    bool tcp;                /* a TCP socket libgreen made: a short read
                                means it had no more queued */
    bool drained;            /* tcp, and a read came back short with no
                                edge since: the next would say EAGAIN, so
                                it waits first */
    signed char positioned;  /* 1: its reads and writes move a file
                                position (a regular file, a block device);
                                -1: they do not; 0: not known yet */
};

/* The poller reports readiness: an edge for reading ends the drained
 * hint, and urgent data, the peer's shutdown or an error (unhint) end the
 * TCP hint for good, since a short read no longer proves anything. */
static inline void green__file_ready(struct green__file *f, bool readable, bool unhint)
{
    if (readable)
        f->drained = false;
    if (unhint)
        f->tcp = false;
}

struct green__poller;

/* Makes fd non-blocking (noting it, for release, when that changed it):
 * 0 or -errno. */
int green__file_nonblock(struct green__poller *p, int fd);

/* A socket call on fd said ENOTSOCK: the plain calls from now on. */
void green__file_notsock(struct green__poller *p, int fd);

/* fd is a socket libgreen made (net.c) or accepted: libgreen's, and tcp
 * says whether a short read on it means it had nothing more queued. */
void green__file_fresh(struct green__poller *p, int fd, bool tcp);

/* green_fd_adopt: fd made non-blocking, and a new file that libgreen
 * owns.  green_fd_release: fd given back as found, blocking again if
 * libgreen made it non-blocking.  0 or -errno (EBADF for a number not
 * open, ENOMEM, fcntl's). */
int green__file_adopt(struct green__poller *p, int fd);
int green__file_release(struct green__poller *p, int fd);

#endif
