/* OpenSSL over a non-blocking socket: OpenSSL makes the reads and writes
 * and says what it needs next; the green thread waits for that and calls
 * again.  docs/examples/tls_echo.c is a whole server built this way. */
#include <errno.h>
#include <openssl/ssl.h>
#include <green.h>

/* After an SSL call returned r <= 0: parks until the socket is ready for
 * what OpenSSL needs and returns 0, so the caller repeats the same call;
 * or returns -1 with errno, ETIMEDOUT or ECANCELED from green_wait, or
 * EPROTO when TLS itself failed.  A read can need the socket writable
 * (a renegotiation, a key update) and a write readable, which is why
 * each case asks for what OpenSSL says, not for what the caller does. */
static int tls_wait(SSL *ssl, int r)
{
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return green_wait(SSL_get_fd(ssl), GREEN_IN) < 0 ? -1 : 0;
    case SSL_ERROR_WANT_WRITE:
        return green_wait(SSL_get_fd(ssl), GREEN_OUT) < 0 ? -1 : 0;
    default:
        errno = EPROTO;
        return -1;
    }
}

int tls_handshake(SSL *ssl)
{
    int r;
    while ((r = SSL_do_handshake(ssl)) != 1)
        if (tls_wait(ssl, r) < 0)
            return -1;
    return 0;
}

/* Returns the bytes read, 0 at the peer's close_notify, or -1. */
int tls_read(SSL *ssl, void *buf, int n)
{
    int r;
    while ((r = SSL_read(ssl, buf, n)) <= 0) {
        if (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (tls_wait(ssl, r) < 0)
            return -1;
    }
    return r;
}

/* OpenSSL must be called again with the same buffer after a WANT_*,
 * which the loop does. */
int tls_write(SSL *ssl, const void *buf, int n)
{
    int r;
    while ((r = SSL_write(ssl, buf, n)) <= 0)
        if (tls_wait(ssl, r) < 0)
            return -1;
    return r;
}
