/* libpq's asynchronous API in a green thread: PQconnectStart and
 * PQconnectPoll to connect, PQsendQuery, PQconsumeInput and PQisBusy to
 * query, green_wait on PQsocket between them.  On a deadline or a
 * cancel, the query is cancelled on the server with PQcancel. */
#include <errno.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <green.h>

/* Connects within the caller's deadline.  conninfo should give hostaddr
 * (a numeric address) or a Unix socket: with a host name, PQconnectStart
 * resolves it itself, blocking the OS thread.  Returns the connection,
 * or NULL with errno: ECONNREFUSED when libpq failed (PQerrorMessage says
 * why; the connection is freed), ETIMEDOUT, ECANCELED, ENOMEM. */
PGconn *pq_connect(const char *conninfo)
{
    PGconn *c = PQconnectStart(conninfo);
    if (c == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    /* libpq's rule: before the first PQconnectPoll, act as if it had
     * asked for the socket to be writable. */
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_FAILED) {
        int r = 0;
        if (st == PGRES_POLLING_OK) {
            /* The socket is now final (it changes while libpq tries one
             * address after another): adopt it for the connection's life. */
            if (PQsetnonblocking(c, 1) == 0 && green_fd_adopt(PQsocket(c)) == 0)
                return c;
            break;
        }
        if (st == PGRES_POLLING_READING)
            r = green_wait(PQsocket(c), GREEN_IN);
        else if (st == PGRES_POLLING_WRITING)
            r = green_wait(PQsocket(c), GREEN_OUT);
        if (r < 0) {
            int err = errno;    /* ETIMEDOUT or ECANCELED */
            PQfinish(c);
            errno = err;
            return NULL;
        }
        st = PQconnectPoll(c);
    }
    PQfinish(c);
    errno = ECONNREFUSED;
    return NULL;
}

/* Gives the socket back to libpq, which closes it. */
void pq_close(PGconn *c)
{
    green_fd_release(PQsocket(c));
    PQfinish(c);
}

/* PQcancel opens a connection of its own and blocks until the server has
 * the request, so it runs on the offload pool.  It is safe to call from
 * another thread. */
struct cancel_job {
    PGcancel *cancel;
    char why[256];
    int ok;
};

static void *send_cancel(void *p)
{
    struct cancel_job *j = p;
    j->ok = PQcancel(j->cancel, j->why, sizeof j->why);
    return NULL;
}

/* After a query's wait was cut short: asks the server to stop it, then
 * reads what is left, so the connection can be used again.  The shield
 * holds back a cancel of this green thread until the cleanup is done; a
 * deadline of its own bounds the drain.  Returns 0 if the connection is
 * usable again; -1 means the caller should pq_close it. */
static int pq_abandon(PGconn *c)
{
    int was = green_shield(1);
    int64_t old = green_deadline(GREEN_NEVER);
    struct cancel_job j = {PQgetCancel(c), "", 0};
    int rc = -1;
    if (j.cancel != NULL && green_offload(send_cancel, &j, NULL) == 0 && j.ok) {
        green_deadline(green_now() + 2000);
        PGresult *res;
        rc = 0;
        for (;;) {
            while (PQisBusy(c)) {
                if (green_wait(PQsocket(c), GREEN_IN) < 0 || !PQconsumeInput(c)) {
                    rc = -1;
                    break;
                }
            }
            if (rc < 0 || (res = PQgetResult(c)) == NULL)
                break;
            PQclear(res);
        }
    }
    PQfreeCancel(j.cancel);
    green_deadline(old);
    green_shield(was);
    return rc;
}

/* Runs one query within the caller's deadline.  Returns its last result
 * (PQresultStatus says whether the server took it), or NULL with errno:
 * EIO when libpq failed (PQerrorMessage says why), ETIMEDOUT or ECANCELED
 * when the wait was cut short.  Then the query has been cancelled on the
 * server; if it could not be (it was not all sent yet, or the cancel
 * failed), *broken is set and the connection must be closed, which stops
 * the query. */
PGresult *pq_query(PGconn *c, const char *sql, int *broken)
{
    *broken = 0;
    if (!PQsendQuery(c, sql)) {
        errno = EIO;
        return NULL;
    }
    /* In non-blocking mode the query may not all be sent at once.  While
     * it is not, libpq may also need to read, so wait for either. */
    int r;
    while ((r = PQflush(c)) == 1) {
        int ready = green_wait(PQsocket(c), GREEN_IN | GREEN_OUT);
        if (ready < 0) {
            /* Cut short with part of the query unsent: the server has
             * not started it, and ignores a cancel while it reads it.
             * Closing the connection now keeps it from ever running. */
            *broken = 1;
            return NULL;
        }
        if ((ready & GREEN_IN) && !PQconsumeInput(c))
            goto failed;
    }
    if (r < 0)
        goto failed;
    /* Read until a whole result is in; PQgetResult then does not block. */
    PGresult *last = NULL, *res;
    for (;;) {
        while (PQisBusy(c)) {
            if (green_wait(PQsocket(c), GREEN_IN) < 0) {
                PQclear(last);
                goto cut_short;
            }
            if (!PQconsumeInput(c)) {
                PQclear(last);
                goto failed;
            }
        }
        if ((res = PQgetResult(c)) == NULL)
            return last;
        PQclear(last);
        last = res;
    }
cut_short:;
    int err = errno;
    *broken = pq_abandon(c) < 0;
    errno = err;
    return NULL;
failed:
    errno = EIO;
    return NULL;
}
