/*
 * The public edge of the error convention.  Inside libgreen a call
 * returns -errno; a public call fails the way the POSIX call it stands
 * in for does, with -1 and errno, converted once, here.
 */
#ifndef GREEN_FAIL_H
#define GREEN_FAIL_H

#include <errno.h>

/* Fails a public call with err: sets errno and returns -1. */
static inline int green__fail(int err)
{
    errno = err;
    return -1;
}

#endif
