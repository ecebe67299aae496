/* A deadline scope around a query, inside whatever deadline the caller
 * already has.  pq_query and pq_close are pq_query.c's. */
#include <errno.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <green.h>

PGresult *pq_query(PGconn *c, const char *sql, int *broken);
void pq_close(PGconn *c);

/* Gives sql at most ms milliseconds, or less if the caller's own deadline
 * comes first.  On ETIMEDOUT or ECANCELED the query has been cancelled
 * on the server; if it could not be, the connection is closed and *c is
 * set to NULL, so the caller opens a new one. */
PGresult *query_within(PGconn **c, const char *sql, int64_t ms)
{
    int64_t at = green_now() + ms;
    int64_t old = green_deadline(at);
    if (old >= 0 && old < at)
        green_deadline(old);    /* the caller's is sooner: keep it */
    int broken;
    PGresult *res = pq_query(*c, sql, &broken);
    int err = errno;
    green_deadline(old);        /* the scope ends: the caller's again */
    if (res == NULL && broken) {
        pq_close(*c);
        *c = NULL;
    }
    errno = err;
    return res;
}
