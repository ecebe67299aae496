/*
 * The fast switch backend (make SWITCH=fast): a few instructions of
 * assembly per architecture (switch_fast_<arch>.S) save the callee-saved
 * registers and the floating-point control state on the stack being left,
 * swap stack pointers and restore the same from the stack being entered.
 * No system call: unlike swapcontext it does not save or restore the
 * signal mask, so all green threads of an OS thread share that thread's
 * mask.  Shadow stacks (CET) are not supported.
 *
 * A new context gets a frame laid out as the switch expects to find it,
 * whose return address is green__ctx_start: a trampoline that calls the
 * entry function held in a callee-saved register.
 */
#include <stdint.h>
#include <string.h>

#include "switch.h"

const char green__switch_name[] = "fast";

/* In switch_fast_<arch>.S. */
void green__ctx_start(void);

/* The frame green__ctx_switch pops, per architecture: words of a
 * pointer's size, lowest address first.  FP_WORD is where the
 * floating-point control state goes, ENTRY_WORD the register that carries
 * the entry function, RET_WORD the return address. */
#if defined(__x86_64__)
/* mxcsr|x87cw, pad, r15, r14, r13, r12, rbx, rbp, return address */
enum { FRAME_WORDS = 9, FP_WORD = 0, ENTRY_WORD = 5, RET_WORD = 8 };

static uintptr_t fp_control(void)
{
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return mxcsr | (uintptr_t)cw << 32;
}
#elif defined(__aarch64__)
/* x19..x28, x29, x30 (return address), d8..d15, fpcr, pad */
enum { FRAME_WORDS = 22, FP_WORD = 20, ENTRY_WORD = 0, RET_WORD = 11 };

static uintptr_t fp_control(void)
{
    uintptr_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    return fpcr;
}
#elif defined(__riscv) && __riscv_xlen == 64
/* s0..s11 (s1 the entry), ra (return address), fs0..fs11, frm */
enum { FRAME_WORDS = 26, FP_WORD = 25, ENTRY_WORD = 1, RET_WORD = 12 };

static uintptr_t fp_control(void)
{
    uintptr_t frm;
    __asm__ volatile("frrm %0" : "=r"(frm));
    return frm;
}
#elif defined(__arm__)
/* FPSCR, d8..d15 (two words each), r4..r11 (r4 the entry), lr (return
 * address) */
enum { FRAME_WORDS = 26, FP_WORD = 0, ENTRY_WORD = 17, RET_WORD = 25 };

static uintptr_t fp_control(void)
{
    uintptr_t fpscr;
    __asm__ volatile("vmrs %0, fpscr" : "=r"(fpscr));
    return fpscr;
}
#else
#error "SWITCH=fast supports x86-64, aarch64, riscv64 and 32-bit ARM; use the default SWITCH=ucontext"
#endif

void green__ctx_template(struct green__ctx *tmpl)
{
    tmpl->sp = NULL;  /* nothing to keep: the state is read at each make */
}

void green__ctx_make(struct green__ctx *ctx, const struct green__ctx *tmpl, void *lo,
                     size_t size, void (*entry)(void))
{
    (void)tmpl;
    /* The frame sits at the top, 16-byte aligned, so that the trampoline
     * calls entry with the stack aligned as the ABI requires. */
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uintptr_t *frame = (uintptr_t *)(top - 16 - FRAME_WORDS * sizeof(uintptr_t));
    memset(frame, 0, FRAME_WORDS * sizeof(uintptr_t));
    frame[FP_WORD] = fp_control();  /* the creator's rounding and masks */
    frame[ENTRY_WORD] = (uintptr_t)entry;
    frame[RET_WORD] = (uintptr_t)green__ctx_start;
    ctx->sp = frame;
}
