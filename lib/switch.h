/*
 * The context switch contract.
 *
 * A backend saves the running context into one green__ctx and resumes
 * another.  The backend is chosen by the build (SWITCH=ucontext, the
 * default, or SWITCH=fast), never by an #ifdef inside a function.  The scheduler never
 * looks inside a green__ctx.
 */
#ifndef GREEN_SWITCH_H
#define GREEN_SWITCH_H

#include <stddef.h>

/* The build defines GREEN_SWITCH_FAST for SWITCH=fast; ucontext is the
 * default. */
#ifdef GREEN_SWITCH_FAST
#include "switch_fast.h"
#else
#include "switch_ucontext.h"
#endif

/* Captures, from the running context, the state every context made from
 * tmpl starts with (under ucontext, the signal mask): once per green_run,
 * so that a spawn makes no system call. */
void green__ctx_template(struct green__ctx *tmpl);

/* Prepares ctx to run entry() on the stack [lo, lo + size) the first time
 * it is switched to, starting from tmpl's state.  entry must never
 * return: a finished green thread switches away for good instead. */
void green__ctx_make(struct green__ctx *ctx, const struct green__ctx *tmpl, void *lo,
                     size_t size, void (*entry)(void));

/* Saves the running context in from and resumes to. */
void green__ctx_switch(struct green__ctx *from, struct green__ctx *to);

/* The backend's name, for diagnostics and the benchmarks. */
extern const char green__switch_name[];

#endif
