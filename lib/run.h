/*
 * green_run's side of a scheduler: the context green_run was called on,
 * which the root thread leaves when it starts and resumes when it ends,
 * and what the root runs there.
 */
#ifndef GREEN_RUN_H
#define GREEN_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "green.h"
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

/* The steps of green_run, which a host loop (lib/loop.c) takes apart. */

struct green__cores;

/* Sets s up as the OS thread's scheduler (green__cur), index of the run c
 * (NULL alone), with a root thread ready to run main(arg), or to wait for
 * the end without main; hosted for a host loop's.  SIGPIPE is left
 * blocked, for the caller to restore.  The root, or NULL with -errno in
 * *err. */
green_t *green__run_start(struct green__sched *s, struct green__cores *c, unsigned index,
                          void *(*main)(void *), void *arg, bool hosted, int *err);

/* SIGPIPE is blocked while green threads run: a write to a closed peer
 * fails with EPIPE.  Restoring discards the SIGPIPEs they raised.  Block
 * it before green__run_start makes the threads' context template, whose
 * mask a ucontext switch sets. */
void green__run_block_sigpipe(struct green__sched *s);
void green__run_restore_sigpipe(struct green__sched *s);

/* Once the root has finished: frees it, and tears s down.  0, or -EDEADLK
 * when a deadlock was broken. */
int green__run_end(struct green__sched *s);

/* Whether this OS thread has a host loop (lib/loop.c): it runs no
 * green_run while it has. */
bool green__loop_here(void);

#endif
