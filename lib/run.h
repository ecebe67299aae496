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

/* What the scheduler tells green_run's side as threads start and end. */
struct green__sched;

/* The root has started on its stack, leaving green_run's. */
void green__run_root_started(struct green__sched *s);

/* The root has finished: green_run's context resumes, for good. */
_Noreturn void green__run_root_done(struct green__sched *s);

/* A thread other than the root has finished. */
void green__run_thread_done(struct green__sched *s);

#endif
