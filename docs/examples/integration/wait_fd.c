/* Waiting on a library's own socket.  The library makes every read and
 * write itself, in non-blocking mode; when it says it would block, the
 * green thread parks in green_wait until the socket is ready for what
 * the library asked, then calls the library again. */
#include <errno.h>
#include <green.h>

/* What a non-blocking library call says it needs, as most of them put
 * it: done, or wants the socket readable, or writable, or failed. */
enum step { STEP_DONE, STEP_WANT_READ, STEP_WANT_WRITE, STEP_FAILED };

/* Calls step(ctx) until it is done, parking between calls.  Returns 0,
 * or -1 with errno: the library's failure (EPROTO), or green_wait's
 * ETIMEDOUT and ECANCELED when the deadline or a cancel ends the wait. */
int drive(int fd, enum step (*step)(void *ctx), void *ctx)
{
    for (;;) {
        switch (step(ctx)) {
        case STEP_DONE:
            return 0;
        case STEP_WANT_READ:
            if (green_wait(fd, GREEN_IN) < 0)
                return -1;
            break;
        case STEP_WANT_WRITE:
            if (green_wait(fd, GREEN_OUT) < 0)
                return -1;
            break;
        case STEP_FAILED:
            errno = EPROTO;
            return -1;
        }
    }
}
