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

struct green__call {
    enum green__call_kind kind;
    int fd;
    int flags;                    /* recvfrom's, sendto's, the messages' */
    void *buf;                    /* read's, write's, recvfrom's, sendto's */
    size_t n;
    const struct iovec *iov;      /* readv's, writev's */
    int iovcnt;
    struct sockaddr *addr;        /* recvfrom's and accept's: the peer */
    socklen_t *addrlen;
    const struct sockaddr *to;    /* sendto's and connect's */
    socklen_t tolen;
    struct msghdr *msg;           /* recvmsg's, sendmsg's */
    /* The fd's generation when the public call began: a call that goes on
     * after a part (a write's rest) must not go on into a file that took
     * the number after a close or release. */
    unsigned gen;
    /* The engine's choices, for a backend that makes the call: */
    bool plain;                   /* read and write, not the socket calls */
    bool at;                      /* at offset, not at the file position */
    int64_t offset;
    /* Room for the message a backend builds for a call that has none
     * (recvfrom, sendto, a socket's writev). */
    struct msghdr room;
    struct iovec one;
};

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
