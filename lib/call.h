/*
 * One I/O call: the single description of a read, a write, an accept or
 * a connect, from the public call (io.c) through the engine that makes it
 * (engine.c, engine_ring.c) to a backend that makes calls itself (the
 * ring's, poller_uring.c).  It lives on the calling thread's stack for as
 * long as the call is in flight.
 */
#ifndef GREEN_CALL_H
#define GREEN_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "green.h"

/* The reading kinds first, then the writing ones. */
enum green__call_kind {
    GREEN__READ, GREEN__READV, GREEN__RECVFROM, GREEN__RECVMSG,
    GREEN__WRITE, GREEN__WRITEV, GREEN__SENDTO, GREEN__SENDMSG,
    GREEN__ACCEPT, GREEN__CONNECT,
};

/* Room for the message a backend builds for a call that brings none
 * (recvfrom, sendto, a socket's writev): green__fd_call's, whose frame
 * outlives the call in flight (green__poller_room). */
struct green__call_room {
    struct msghdr msg;
    struct iovec one;
};

/* Every public call zeroes one of these whole, so it is kept to 80
 * bytes, the most x86-64's gcc zeroes with plain stores: past that it is
 * a rep stos, whose start-up costs some 30 cycles a call.  Hence the
 * unions of fields no call uses together, and the room kept elsewhere. */
struct green__call {
    enum green__call_kind kind;
    int fd;
    int flags;                    /* recvfrom's, sendto's, the messages' */
    int iovcnt;                   /* readv's, writev's */
    socklen_t tolen;              /* sendto's and connect's */
    /* The fd's generation when the public call began: a call that goes on
     * after a part (a write's rest) must not go on into a file that took
     * the number after a close or release. */
    unsigned gen;
    /* The engine's choices, for a backend that makes the call: */
    bool plain;                   /* read and write, not the socket calls */
    bool at;                      /* at offset, not at the file position */
    void *buf;                    /* read's, write's, recvfrom's, sendto's */
    size_t n;
    union {
        const struct iovec *iov;  /* readv's, writev's */
        struct msghdr *msg;       /* recvmsg's, sendmsg's */
    };
    union {
        struct sockaddr *addr;    /* recvfrom's and accept's: the peer */
        const struct sockaddr *to;  /* sendto's and connect's */
    };
    socklen_t *addrlen;           /* recvfrom's and accept's */
    int64_t offset;               /* with at */
};
_Static_assert(sizeof(struct green__call) <= 80, "a call is zeroed with plain stores");

static inline bool green__call_reads(enum green__call_kind k)
{
    return k < GREEN__WRITE || k == GREEN__ACCEPT;
}

/* The readiness the call waits for when it would block. */
static inline int green__call_events(const struct green__call *c)
{
    return green__call_reads(c->kind) ? GREEN_IN : GREEN_OUT;
}

#endif
