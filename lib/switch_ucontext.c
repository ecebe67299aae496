/*
 * The default switch backend: makecontext and swapcontext from the C
 * library.  swapcontext also saves and restores the signal mask, with a
 * system call, so every green thread keeps a signal mask of its own.
 */
#include "switch.h"

const char green__switch_name[] = "ucontext";

void green__ctx_make(struct green__ctx *ctx, void *lo, size_t size,
                     void (*entry)(void))
{
    /* getcontext only fills in what makecontext leaves alone (the signal
     * mask, the floating-point state); it cannot fail on Linux. */
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, entry, 0);
}

void green__ctx_switch(struct green__ctx *from, struct green__ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}
