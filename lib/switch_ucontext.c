/*
 * The default switch backend: makecontext and swapcontext from the C
 * library.  swapcontext also saves and restores the signal mask, with a
 * system call, so every green thread keeps a signal mask of its own.  A
 * new thread's starts as the OS thread's was when green_run began (with
 * SIGPIPE blocked), whoever spawns it: the mask a running thread has set
 * cannot be read without a system call.  Its floating-point environment
 * comes from the same template.
 */
#include "switch.h"

const char green__switch_name[] = "ucontext";

void green__ctx_template(struct green__ctx *tmpl)
{
    /* It fills in what makecontext leaves alone: the signal mask and the
     * floating-point state.  It cannot fail on Linux. */
    getcontext(&tmpl->uc);
}

#ifndef GREEN_POSIX_ONLY
/* Where a copied context's floating-point state is: on x86-64 the context
 * points at its own copy (glibc's, and libucontext's under musl), and a
 * memcpy would leave it pointing at the template's.  The pointer's type
 * is glibc's struct _libc_fpstate, musl's struct _fpstate: a void * fits
 * both. */
static void own_fpregs(ucontext_t *uc)
{
#if defined(__x86_64__)
    uc->uc_mcontext.fpregs = (void *)&uc->__fpregs_mem;
#else
    (void)uc;
#endif
}

/* A copy, not a getcontext: getcontext reads the signal mask with a
 * system call, a third of a spawn's cost. */
static void from_template(struct green__ctx *ctx, const struct green__ctx *tmpl)
{
    ctx->uc = tmpl->uc;
    own_fpregs(&ctx->uc);
}
#else
/* POSIX says nothing of where a context keeps its floating-point state,
 * and a copy may point into the template (glibc on x86-64 and macOS do),
 * so the POSIX build makes the context with getcontext, at the cost of its
 * system call: the floating-point environment is the spawner's, as under
 * the fast switch, and the signal mask, a field POSIX names, the
 * template's. */
static void from_template(struct green__ctx *ctx, const struct green__ctx *tmpl)
{
    getcontext(&ctx->uc);
    ctx->uc.uc_sigmask = tmpl->uc.uc_sigmask;
}
#endif

void green__ctx_make(struct green__ctx *ctx, const struct green__ctx *tmpl, void *lo,
                     size_t size, void (*entry)(void))
{
    from_template(ctx, tmpl);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, entry, 0);
}

void green__ctx_switch(struct green__ctx *from, struct green__ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}
