/*
 * What the I/O engine knows of the file under an fd: the facts it learns
 * from the calls it makes and decides on (engine.c, engine_ring.c).  They
 * sit in the fd's record (poller.h), so they are forgotten with it when
 * the number is closed, released or found to be another file.
 */
#ifndef GREEN_FILE_H
#define GREEN_FILE_H

#include <stdbool.h>

struct green__file {
    bool notsock;            /* a socket call said ENOTSOCK: the plain
                                calls from now on */
    bool tty;                /* notsock, and a terminal: its calls wait
                                for readiness, never by a ring */
    bool set_nonblock;       /* the engine set O_NONBLOCK on it, and
                                release clears it again */
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

#endif
