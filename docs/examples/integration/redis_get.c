/* hiredis's plain context in non-blocking mode: hiredis parses and
 * buffers, the green thread waits on c->fd whenever hiredis would block. */
#include <errno.h>
#include <sys/socket.h>
#include <hiredis.h>
#include <green.h>

/* Connects within the caller's deadline.  ip should be an address:
 * redisConnectNonBlock resolves a name itself, blocking the OS thread.
 * Returns the context, or NULL with errno (the connect's own errno, such
 * as ECONNREFUSED; ETIMEDOUT, ECANCELED; ENOMEM). */
redisContext *redis_connect(const char *ip, int port)
{
    redisContext *c = redisConnectNonBlock(ip, port);
    if (c == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (c->err)
        err = ECONNREFUSED;
    /* The connect is under way: it is done when the socket is writable,
     * and SO_ERROR says how it went. */
    else if (green_wait(c->fd, GREEN_OUT) < 0)
        err = errno;
    else if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    else if (err == 0 && green_fd_adopt(c->fd) < 0)
        err = errno;
    if (err != 0) {
        redisFree(c);
        errno = err;
        return NULL;
    }
    return c;
}

/* Gives the socket back to hiredis, which closes it. */
void redis_close(redisContext *c)
{
    green_fd_release(c->fd);
    redisFree(c);
}

/* GET key.  Returns the reply (free it with freeReplyObject), or NULL
 * with errno: EIO when hiredis failed (c->errstr says why), ETIMEDOUT or
 * ECANCELED.  After a NULL the context may hold half a reply: close it.
 * Redis has no way to stop a command once sent, so there is nothing else
 * to clean up. */
redisReply *redis_get(redisContext *c, const char *key)
{
    if (redisAppendCommand(c, "GET %s", key) != REDIS_OK)
        goto failed;
    /* Send: hiredis writes what the socket takes and keeps the rest. */
    int done = 0;
    for (;;) {
        if (redisBufferWrite(c, &done) != REDIS_OK)
            goto failed;
        if (done)
            break;
        if (green_wait(c->fd, GREEN_OUT) < 0)
            return NULL;
    }
    /* Receive: parse what is buffered; read more only when it is not a
     * whole reply.  A read that would block is no error to hiredis in
     * non-blocking mode. */
    void *reply = NULL;
    for (;;) {
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK)
            goto failed;
        if (reply != NULL)
            return reply;
        if (green_wait(c->fd, GREEN_IN) < 0)
            return NULL;
        if (redisBufferRead(c) != REDIS_OK)
            goto failed;
    }
failed:
    errno = EIO;
    return NULL;
}
