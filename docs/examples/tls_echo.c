/*
 * Integrating a library that does its own I/O: OpenSSL over non-blocking
 * sockets, with green_wait as the only glue.  OpenSSL reads and writes
 * the socket itself; when it would block it says SSL_ERROR_WANT_READ or
 * WANT_WRITE, and the green thread parks in green_wait until the socket is
 * ready, then calls OpenSSL again.  The handshake and every record look
 * sequential, and other green threads run meanwhile.
 *
 * A server and a client in one program: the server gets a self-signed
 * certificate for "localhost" made at start, the client trusts exactly
 * that certificate and checks the name; three clients at once each send a
 * line and read it back.
 *
 *   cc tls_echo.c $(pkg-config --cflags --libs green openssl) -o tls_echo
 *   ./tls_echo
 */
#include <errno.h>
#include <green.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
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

static int tls_read(SSL *ssl, void *buf, int n)
{
    int r;
    while ((r = SSL_read(ssl, buf, n)) <= 0)
        if (wait_for(ssl, r) < 0)
            return -1;
    return r;
}

static int tls_write(SSL *ssl, const void *buf, int n)
{
    int r;
    while ((r = SSL_write(ssl, buf, n)) <= 0)
        if (wait_for(ssl, r) < 0)
            return -1;
    return r;
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
};

static void *serve(void *arg)
{
    struct shared *sh = arg;
    int fd = green_accept(sh->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    SSL *ssl = SSL_new(sh->server_ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_accept_state(ssl);
    char line[256];
    int n;
    if (tls_handshake(ssl) == 0 && (n = tls_read(ssl, line, sizeof line)) > 0)
        tls_write(ssl, line, n);
    SSL_shutdown(ssl);  /* a close_notify, sent without waiting for the reply */
    SSL_free(ssl);
    green_close(fd);
    return NULL;
}

static void *client(void *arg)
{
    struct shared *sh = arg;
    char port[12], line[64], back[64] = "";
    snprintf(port, sizeof port, "%d", green_local_port(sh->lfd));
    snprintf(line, sizeof line, "hello from green thread #%llu",
             (unsigned long long)green_id(green_self()));
    int fd = green_tcp_connect("localhost", port);
    if (fd < 0) {
        perror("connect");
        return NULL;
    }
    SSL *ssl = SSL_new(sh->client_ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_connect_state(ssl);
    SSL_set1_host(ssl, "localhost");  /* the certificate must name it */
    int n = -1;
    if (tls_handshake(ssl) == 0 && tls_write(ssl, line, (int)strlen(line)) > 0)
        n = tls_read(ssl, back, sizeof back - 1);
    if (n > 0) {
        back[n] = '\0';
        printf("%s: sent over %s, got back \"%s\"\n", SSL_get_version(ssl),
               SSL_get_cipher_name(ssl), back);
        sh->echoed += strcmp(back, line) == 0;
    } else {
        fprintf(stderr, "client: TLS failed\n");
        ERR_print_errors_fp(stderr);
    }
    SSL_free(ssl);
    green_close(fd);
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

int main(void)
{
    struct shared sh = {0};
    if (green_run(run, &sh) < 0) {
        perror("green_run");
        return 1;
    }
    return sh.echoed == CLIENTS ? 0 : 1;
}
