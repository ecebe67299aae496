/*
 * Integrating a library that does its own I/O: OpenSSL over non-blocking
 * sockets, with green_wait as the only glue, and a buffered stream on top.
 * OpenSSL reads and writes the socket itself; when it would block it says
 * SSL_ERROR_WANT_READ or WANT_WRITE, and the green thread parks in
 * green_wait until the socket is ready, then calls OpenSSL again.  Those
 * loops, shaped like green_read and green_write, are the transport of a
 * green_stream (green_stream_open_io), so the protocol above reads lines
 * as it would on a plain socket.
 *
 * A server and a client in one program: the server gets a self-signed
 * certificate for "localhost" made at start, the client trusts exactly
 * that certificate and checks the name; three clients at once each send a
 * line and read it back.  With a port, it is only the server, echoing
 * lines until the client leaves (try openssl s_client).
 *
 *   cc tls_echo.c $(pkg-config --cflags --libs green openssl) -o tls_echo
 *   ./tls_echo                   (the self-test)
 *   ./tls_echo PORT              (a server; 0 picks a free port)
 *   openssl s_client -connect 127.0.0.1:PORT -quiet
 */
#include <errno.h>
#include <green.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After an OpenSSL call on ssl returned r: parks until the socket is
 * ready for what OpenSSL needs and returns 0 (call it again), or returns
 * -1 when the call failed for good. */
static int wait_for(SSL *ssl, int r)
{
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return green_wait(SSL_get_fd(ssl), GREEN_IN) < 0 ? -1 : 0;
    case SSL_ERROR_WANT_WRITE:
        return green_wait(SSL_get_fd(ssl), GREEN_OUT) < 0 ? -1 : 0;
    default:
        return -1;
    }
}

/* The blocking-looking calls, each a loop around wait_for. */
static int tls_handshake(SSL *ssl)
{
    int r;
    while ((r = SSL_do_handshake(ssl)) != 1)
        if (wait_for(ssl, r) < 0)
            return -1;
    return 0;
}

/* The stream's transport: read and write shaped like green_read and
 * green_write (-1 with errno; 0 at the end), close ending the session. */
static ssize_t tls_read(void *ctx, void *buf, size_t n)
{
    SSL *ssl = ctx;
    size_t got;
    int r;
    while ((r = SSL_read_ex(ssl, buf, n, &got)) != 1) {
        if (SSL_get_error(ssl, r) == SSL_ERROR_ZERO_RETURN)
            return 0;  /* the peer's close_notify */
        if (wait_for(ssl, r) < 0) {
            if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ &&
                SSL_get_error(ssl, r) != SSL_ERROR_WANT_WRITE)
                errno = EPROTO;  /* not green_wait's: TLS itself failed */
            return -1;
        }
    }
    return (ssize_t)got;
}

static ssize_t tls_write(void *ctx, const void *buf, size_t n)
{
    SSL *ssl = ctx;
    size_t done;
    int r;
    while ((r = SSL_write_ex(ssl, buf, n, &done)) != 1)
        if (wait_for(ssl, r) < 0) {
            if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ &&
                SSL_get_error(ssl, r) != SSL_ERROR_WANT_WRITE)
                errno = EPIPE;
            return -1;
        }
    return (ssize_t)done;
}

static int tls_close(void *ctx)
{
    SSL *ssl = ctx;
    int fd = SSL_get_fd(ssl);
    SSL_shutdown(ssl);  /* a close_notify, sent without waiting for the reply */
    SSL_free(ssl);
    return green_close(fd);
}

static const green_stream_io_t tls_io = {tls_read, tls_write, tls_close};

/* A TLS session on fd, handshake done, as a stream; NULL if it failed
 * (fd is closed then). */
static green_stream_t *tls_stream(SSL_CTX *ctx, int fd, const char *host)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        green_close(fd);
        return NULL;
    }
    if (host) {
        SSL_set_connect_state(ssl);
        SSL_set1_host(ssl, host);  /* the certificate must name it */
    } else {
        SSL_set_accept_state(ssl);
    }
    green_stream_t *s = tls_handshake(ssl) == 0 ? green_stream_open_io(&tls_io, ssl, 0) : NULL;
    if (!s)
        tls_close(ssl);
    return s;
}

/* A key and a self-signed certificate for "localhost", valid for a day. */
static int make_identity(EVP_PKEY **key, X509 **cert)
{
    *key = EVP_EC_gen("P-256");
    *cert = X509_new();
    if (!*key || !*cert)
        return -1;
    X509_NAME *name = X509_get_subject_name(*cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    ASN1_INTEGER_set(X509_get_serialNumber(*cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(*cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(*cert), 86400);
    X509_set_issuer_name(*cert, name);
    X509_set_pubkey(*cert, *key);
    return X509_sign(*cert, *key, EVP_sha256()) > 0 ? 0 : -1;
}

struct shared {
    SSL_CTX *server_ctx, *client_ctx;
    int lfd;
    int echoed;
    int port;    /* -1: the self-test; else the port to serve on */
};

/* Echoes lines until the client leaves. */
static void serve_stream(green_stream_t *s)
{
    char line[1024];
    ssize_t n;
    while ((n = green_stream_readline(s, line, sizeof line)) > 0)
        if (green_stream_write(s, line, (size_t)n) < 0)
            break;  /* sent when the next readline must wait for more */
    green_stream_close(s);
}

/* The server alone: a green thread per connection, until killed. */
struct conn {
    SSL_CTX *ctx;
    int fd;
};

static void *serve_conn(void *arg)
{
    struct conn *c = arg;
    green_stream_t *s = tls_stream(c->ctx, c->fd, NULL);
    free(c);
    if (s)
        serve_stream(s);
    return NULL;
}

static void serve_forever(struct shared *sh)
{
    char port[12];
    snprintf(port, sizeof port, "%d", sh->port);
    int lfd = green_tcp_listen("127.0.0.1", port, 128);
    if (lfd < 0) {
        perror("listen");
        return;
    }
    printf("listening on 127.0.0.1:%d\n", green_local_port(lfd));
    fflush(stdout);
    for (;;) {
        int fd = green_accept(lfd, NULL, NULL);
        struct conn *c = fd < 0 ? NULL : malloc(sizeof *c);
        green_t *t = NULL;
        if (c) {
            *c = (struct conn){sh->server_ctx, fd};
            t = green_spawn(serve_conn, c);
        }
        if (t) {
            green_detach(t);
        } else if (fd >= 0) {
            free(c);
            green_close(fd);
        }
    }
}

static void *serve(void *arg)
{
    struct shared *sh = arg;
    int fd = green_accept(sh->lfd, NULL, NULL);
    green_stream_t *s = fd < 0 ? NULL : tls_stream(sh->server_ctx, fd, NULL);
    if (s)
        serve_stream(s);
    return NULL;
}

static void *client(void *arg)
{
    struct shared *sh = arg;
    char port[12], line[64], back[64];
    snprintf(port, sizeof port, "%d", green_local_port(sh->lfd));
    int len = snprintf(line, sizeof line, "hello from green thread #%llu\n",
                       (unsigned long long)green_id(green_self()));
    int fd = green_tcp_connect("localhost", port);
    if (fd < 0) {
        perror("connect");
        return NULL;
    }
    green_stream_t *s = tls_stream(sh->client_ctx, fd, "localhost");
    ssize_t n = -1;
    /* The line waits in the stream's buffer; readline sends it first. */
    if (s && green_stream_write(s, line, (size_t)len) == len)
        n = green_stream_readline(s, back, sizeof back - 1);
    if (n > 0) {
        back[n - 1] = '\0';
        line[len - 1] = '\0';
        printf("TLS: got back \"%s\"\n", back);
        sh->echoed += strcmp(back, line) == 0;
    } else {
        fprintf(stderr, "client: TLS failed\n");
        ERR_print_errors_fp(stderr);
    }
    if (s)
        green_stream_close(s);
    return NULL;
}

enum { CLIENTS = 3 };

static void *run(void *arg)
{
    struct shared *sh = arg;
    EVP_PKEY *key;
    X509 *cert;
    sh->server_ctx = SSL_CTX_new(TLS_server_method());
    sh->client_ctx = SSL_CTX_new(TLS_client_method());
    if (make_identity(&key, &cert) < 0 || !sh->server_ctx || !sh->client_ctx ||
        SSL_CTX_use_certificate(sh->server_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(sh->server_ctx, key) != 1 ||
        X509_STORE_add_cert(SSL_CTX_get_cert_store(sh->client_ctx), cert) != 1) {
        ERR_print_errors_fp(stderr);
        return NULL;
    }
    SSL_CTX_set_verify(sh->client_ctx, SSL_VERIFY_PEER, NULL);
    /* A client that leaves without a close_notify has still left. */
    SSL_CTX_set_options(sh->server_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (sh->port >= 0) {
        serve_forever(sh);
        return NULL;
    }
    sh->lfd = green_tcp_listen("127.0.0.1", "0", 16);
    green_t *t[2 * CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        t[2 * i] = green_spawn(serve, sh);
        t[2 * i + 1] = green_spawn(client, sh);
    }
    green_gather(t, 2 * CLIENTS, NULL);
    printf("%d of %d lines echoed over TLS\n", sh->echoed, CLIENTS);
    green_close(sh->lfd);
    X509_free(cert);
    EVP_PKEY_free(key);
    SSL_CTX_free(sh->server_ctx);
    SSL_CTX_free(sh->client_ctx);
    return NULL;
}

int main(int argc, char **argv)
{
    struct shared sh = {.port = argc > 1 ? atoi(argv[1]) : -1};
    if (green_run(run, &sh) < 0) {
        perror("green_run");
        return 1;
    }
    return sh.echoed == CLIENTS ? 0 : 1;
}
