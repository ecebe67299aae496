/*
 * Sleeping and deadlines (the clock is the timer part's).
 *
 * A deadline is a scope kept on the green thread: every blocking call it
 * makes reads it, so a helper built from many calls honours its caller's
 * deadline unasked.
 */
#include <errno.h>
#include <time.h>

#include "sched.h"

static void sleep_describe(const struct green__wait *w, char *buf, size_t n)
{
    (void)w;  /* green_dump adds when its timer fires */
    snprintf(buf, n, "sleep");
}

/* A sleep waits on the timer alone, which waking disarms. */
static const struct green__waitop sleep_op = {
    .unlink = NULL,
    .describe = sleep_describe,
    .kind = GREEN__WAIT_SLEEP,
};

/* Outside green_run: block the OS thread, resuming after signals. */
static int sleep_os_thread(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = ts.tv_nsec + (long)(ms % 1000) * 1000000;  /* < 2 s */
    ts.tv_sec += ms / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    int err;
    while ((err = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
        ;
    return err ? green__fail(err) : 0;
}

int green_sleep(int64_t ms)
{
    struct green__sched *s = green__cur;
    if (ms < 0)
        return green__fail(EINVAL);
    if (!s)
        return sleep_os_thread(ms);
    green_t *self = s->current;
    if (green__cancel_due(self))
        return green__fail(-green__cancelled(s));
    if (ms == 0) {
        green_yield();
        return 0;
    }
    int64_t now = green_now();
    int64_t end = ms > INT64_MAX - now ? INT64_MAX : now + ms, until = end;
    int timer_err = 0;
    if (self->deadline >= 0 && self->deadline < end) {
        until = self->deadline;
        timer_err = ETIMEDOUT;
    }
    struct green__wait w = {.op = &sleep_op};
    int err = green__park(s, &w, until, timer_err);
    return err < 0 ? green__fail(-err) : 0;
}

int64_t green_deadline(int64_t at)
{
    struct green__sched *s = green__cur;
    if (!s) {
        errno = EPERM;
        return -1;
    }
    green_t *self = s->current;
    int64_t prev = self->deadline;
    self->deadline = at < 0 ? -1 : at;
    return prev;
}
