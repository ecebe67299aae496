/*
 * Happy Eyeballs (RFC 8305): a name with several addresses is connected
 * by racing them.  The first address is tried at once; each next one
 * green__race_delay_ms after the one before began, or at once when every attempt
 * under way has failed.  The first to connect wins and the others are
 * cancelled, and any that connected meanwhile closed.  The families take
 * turns (IPv6, IPv4, IPv6, ...), starting with the resolver's first, so
 * that a family that does not work costs one delay, not one per address.
 *
 * Each attempt is a green thread of a group, reporting its fd (or
 * -errno) on a channel with room for all of them, so that none ever
 * waits to report.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>

#include "green.h"
#include "net.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

enum { ATTEMPT_STACK = 64 * 1024 };

int green__race_delay_ms = 250;

struct race {
    const struct addrinfo **order;  /* the addresses, families taking turns */
    size_t n, started, running;
    green_group_t *group;
    green_chan_t *results;          /* of int: an fd, or -errno */
    int64_t deadline;               /* the caller's */
};

struct attempt {
    struct race *race;
    const struct addrinfo *ai;
};

/* The addresses in order, the families taking turns. */
static void interleave(const struct addrinfo *res, const struct addrinfo **order)
{
    int first = res->ai_family;
    const struct addrinfo *a = res, *b = res;
    size_t i = 0;
    for (;;) {
        while (a && a->ai_family != first)
            a = a->ai_next;
        while (b && b->ai_family == first)
            b = b->ai_next;
        if (!a && !b)
            return;
        if (a) {
            order[i++] = a;
            a = a->ai_next;
        }
        if (b) {
            order[i++] = b;
            b = b->ai_next;
        }
    }
}

static void *attempt_main(void *arg)
{
    struct attempt *at = arg;
    green_deadline(at->race->deadline);
    int fd = green__connect_to(at->ai);
    (void)green_chan_trysend(at->race->results, &fd);  /* it has room */
    return NULL;
}

/* Starts the next attempt; one that cannot start fails at once. */
static void start_next(struct race *r, struct attempt *attempts)
{
    struct attempt *at = &attempts[r->started];
    *at = (struct attempt){r, r->order[r->started]};
    r->started++;
    green_attr_t attr = {.stack_size = ATTEMPT_STACK, .name = "connect"};
    if (green_group_spawn_attr(r->group, &attr, attempt_main, at)) {
        r->running++;
    } else {
        int fd = -errno;
        (void)green_chan_trysend(r->results, &fd);
        r->running++;
    }
}

/* Waits for the next report, until the next attempt is due: 0 with *fd
 * set, 1 when the next attempt is due, or -errno. */
static int next_report(struct race *r, int64_t due, int *fd)
{
    bool more = r->started < r->n;
    int64_t until = r->deadline;
    if (more && (until < 0 || due < until))
        until = due;
    int64_t old = green_deadline(until);
    int rc = green_chan_recv(r->results, fd);
    int err = errno;
    green_deadline(old);
    if (rc == 0)
        return 0;
    if (err == ETIMEDOUT && more && (r->deadline < 0 || green_now() < r->deadline))
        return 1;
    return -err;
}

static int run_race(struct race *r, struct attempt *attempts)
{
    int last = -EADDRNOTAVAIL, fd;
    int64_t due = 0;
    for (;;) {
        if (r->started < r->n && (r->running == 0 || green_now() >= due)) {
            start_next(r, attempts);
            due = green_now() + green__race_delay_ms;
        }
        if (r->running == 0)
            return last;
        int rc = next_report(r, due, &fd);
        if (rc < 0)
            return rc;
        if (rc == 1)
            continue;
        r->running--;
        if (fd >= 0)
            return fd;
        last = fd;
    }
}

/* Every attempt is over once the group is freed; any that connected
 * after the winner is closed. */
static void finish(struct race *r)
{
    green_group_free(r->group);
    int fd;
    while (green_chan_tryrecv(r->results, &fd) == 0)
        if (fd >= 0)
            green_close(fd);
    green_chan_free(r->results);
}

/* The caller's deadline.  The public call sets it and says what it was,
 * so it is read by setting it and putting it back. */
static int64_t caller_deadline(void)
{
    int64_t deadline = green_deadline(GREEN_NEVER);
    green_deadline(deadline);
    return deadline;
}

int green__connect_race(const struct addrinfo *res)
{
    struct race r = {.deadline = caller_deadline()};
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        r.n++;
    r.order = calloc(r.n, sizeof *r.order);
    struct attempt *attempts = calloc(r.n, sizeof *attempts);
    r.group = green_group_new();
    r.results = green_chan_new(sizeof(int), r.n);
    int fd = -ENOMEM;
    if (r.order && attempts && r.group && r.results) {
        interleave(res, r.order);
        fd = run_race(&r, attempts);
    }
    if (r.group)
        finish(&r);
    else
        green_chan_free(r.results);
    free(attempts);
    free(r.order);
    return fd;
}
