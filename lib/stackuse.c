/*
 * Stack high-water marks: how much of its stack each green thread has
 * used, so that stack sizes can be chosen from evidence, and a warning
 * for a thread that comes near its stack's end before it overflows.
 *
 * Nothing is done ahead for them: a stack is never painted (its pages
 * would all become resident) and spawn and exit do nothing more.  Two
 * measures are taken when they are cheap:
 *
 *  - When a thread parks or yields, the scheduler compares how far below
 *    its record its stack pointer is with the deepest seen so far (one
 *    compare; lib/sched.c's suspend), and calls here only when it is
 *    deeper.  That depth is the thread's own, but a lower bound: frames
 *    that came and went between two parks are not seen.
 *  - When asked (green_dump, green_stack_used, the metrics), mincore(2)
 *    says which pages of the stack are resident.  The lowest is as deep
 *    as the stack was ever touched, to the page.  Stacks are cached, so
 *    that is the thread's own only when its stack came to it clean (just
 *    mapped, or its memory given back since its last thread): on a reused
 *    stack it is the deepest of all the threads that had it.
 *
 * So a thread's figure is the page measure on a clean stack, and its
 * stack pointer's otherwise; green_dump marks the second with ">=" and
 * adds the reused stack's page measure when that is more.
 *
 * This file's write goes through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include <errno.h>
#include <unistd.h>

#include "overflow.h"
#include "sched.h"
#include "stack.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* The usable bytes below t's record, which sits at the top of its stack. */
static size_t usable(const green_t *t)
{
    return (size_t)((const char *)t - (const char *)t->stack.lo);
}

/* The stack's size as the program asked for it: the usable bytes are the
 * request and a little of the page the record shares. */
static unsigned long long asked_kib(const green_t *t)
{
    return (usable(t) & ~(size_t)4095) / 1024;
}

static unsigned long long kib_up(size_t n)
{
    return (n + 1023) / 1024;
}

/* Names t on stderr, once in its life, when depth is within the margin of
 * its stack's end.  Formats with its own digits and writes with write(2):
 * it may run on a stack with a few KiB left, and stdio's unbuffered
 * stderr takes more than that. */
static void name_once(green_t *t, size_t depth)
{
    size_t size = usable(t);
    if (t->stack_named || depth > size || size - depth >= green__stack_margin(size))
        return;
    t->stack_named = true;
    char msg[200];
    size_t n = 0, cap = sizeof msg - 1;
    n = green__put_str(msg, n, cap, "libgreen: green thread #");
    n = green__put_num(msg, n, cap, t->id);
    n = green__put_str(msg, n, cap, " '");
    n = green__put_str(msg, n, cap, t->name);
    n = green__put_str(msg, n, cap, "' came within ");
    n = green__put_num(msg, n, cap, (size - depth) / 1024);
    n = green__put_str(msg, n, cap, " KiB of the end of its ");
    n = green__put_num(msg, n, cap, asked_kib(t));
    n = green__put_str(msg, n, cap, " KiB stack (used ");
    n = green__put_num(msg, n, cap, kib_up(depth));
    n = green__put_str(msg, n, cap, " KiB): give it a larger stack_size\n");
    (void)!write(STDERR_FILENO, msg, n);
}

void green__stack_deeper(green_t *t)
{
    uintptr_t sp = green__sp();
    t->sp_low_not = ~sp;
    green__stats_stack_depth(&t->sched->stats, (uintptr_t)t - sp);
    name_once(t, (uintptr_t)t - sp);
}

/* The deepest t's stack pointer has been seen: at its parks, and now if
 * t is running and this is its stack (not green_run's, which the
 * deadlock report runs on). */
static size_t own_depth(const green_t *t)
{
    size_t d = t->sp_low_not ? (uintptr_t)t - ~t->sp_low_not : 0;
    if (t == t->sched->current) {
        uintptr_t sp = green__sp();
        if (sp >= (uintptr_t)t->stack.lo && sp < (uintptr_t)t && (uintptr_t)t - sp > d)
            d = (uintptr_t)t - sp;
    }
    return d;
}

/* Both measures of t; the page measure's is false when it cannot be
 * known.  On a clean stack the page measure names t if it must. */
static bool measure(const green_t *t, size_t *own, size_t *touched)
{
    *own = own_depth(t);
    if (!green__stack_touched(&t->sched->stacks, t->stack.lo, t, touched))
        return false;
    if (!t->stack.reused)
        name_once((green_t *)t, *touched);  /* a flag, not the thread's state */
    return true;
}

size_t green__stack_used(const green_t *t)
{
    size_t own, touched, used;
    if (measure(t, &own, &touched) && !t->stack.reused && touched > own)
        used = touched;
    else
        used = own;
    green__stats_stack_depth(&t->sched->stats, used);
    return used;
}

void green__stack_describe(const green_t *t, char *buf, size_t n)
{
    size_t own, touched;
    bool known = measure(t, &own, &touched);
    if (known && !t->stack.reused) {
        snprintf(buf, n, " stack %llu/%llu KiB", kib_up(touched > own ? touched : own),
                 asked_kib(t));
    } else if (known && kib_up(touched) > kib_up(own)) {
        snprintf(buf, n, " stack >=%llu/%llu KiB (%llu touched on its reused stack)",
                 kib_up(own), asked_kib(t), kib_up(touched));
    } else {
        snprintf(buf, n, " stack >=%llu/%llu KiB", kib_up(own), asked_kib(t));
    }
}

ssize_t green_stack_used(const green_t *t)
{
    struct green__sched *s = green__cur;
    int err = !s ? EPERM : !t ? EINVAL : t->sched != s ? EXDEV : 0;
    if (err) {
        errno = err;
        return -1;
    }
    return (ssize_t)green__stack_used(t);
}
