/*
 * green_run's side of a scheduler: the context green_run was called on,
 * which the root thread leaves when it starts and resumes when it ends,
 * and what the root runs there.
 */
#ifndef GREEN_RUN_H
#define GREEN_RUN_H

#include <signal.h>
#include <stddef.h>

#include "switch.h"

struct green__main {
    /* green_run's own context, resumed once the root has finished. */
    struct green__ctx ctx;
    const void *lo;                 /* its stack, for ASan */
    size_t size;
    void *fake;
    void *fiber;                    /* TSan's fiber for green_run's context */
    void *(*fn)(void *);            /* the caller's main, which the root runs */
    void *arg;
    sigset_t saved_mask;            /* the OS thread's mask before green_run */
};

#endif
