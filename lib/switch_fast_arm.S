/*
 * green__ctx_switch(struct green__ctx *from, struct green__ctx *to) for
 * 32-bit ARM (AAPCS with VFP, as armhf): saves what a callee must keep
 * (r4-r11, d8-d15, the link register lr) and FPSCR on the current stack,
 * stores sp in from->sp, loads to->sp and restores the same from there.
 * The frame matches green__ctx_make in switch_fast.c.
 *
 * FPSCR holds what aarch64 splits in two, FPCR and FPSR.  As on aarch64
 * only the control half (rounding mode, flush-to-zero, default NaN, trap
 * enables, vector length and stride) is the green thread's: the resumed
 * thread gets its own control bits and the status bits (the condition
 * flags, QC and the accrued exception flags) the OS thread has now.
 *
 * The code is the same in ARM and Thumb-2 state.  It is assembled in the
 * state the compiler makes C code in (Thumb-2 for Debian's armhf), which
 * gcc does not tell the assembler: a switch in the other state would be
 * reached from the scheduler's tail calls through a linker veneer.
 */
#if !defined(__ARM_FP)
#error "the 32-bit ARM fast switch needs VFP (armhf)"
#endif

    .syntax unified
    .fpu vfpv2
#if defined(__thumb2__)
    .thumb
#else
    .arm
#endif
    .text

/* FPSCR's status bits: N, Z, C, V and QC (31-27), IDC (7) and IXC-IOC
 * (4-0), each a valid immediate. */
#define STATUS_HI 0xF8000000
#define STATUS_LO 0x9F

/* 26 words, lowest address first: FPSCR, d8-d15 (16), r4-r11, lr.  104
 * bytes keeps sp 8-byte aligned, as the AAPCS wants at a call. */
    .globl green__ctx_switch
    .hidden green__ctx_switch
    .type green__ctx_switch, %function
green__ctx_switch:
    push {r4-r11, lr}
    vpush {d8-d15}
    vmrs r2, fpscr
    push {r2}
    mov ip, sp
    str ip, [r0]
    ldr ip, [r1]
    mov sp, ip
    pop {r2}
    /* r2: the saved control bits; r3: the current status bits. */
    bic r2, r2, #STATUS_HI
    bic r2, r2, #STATUS_LO
    vmrs r3, fpscr
    bic ip, r3, #STATUS_HI
    bic ip, ip, #STATUS_LO
    eor r3, r3, ip
    orr r2, r2, r3
    vmsr fpscr, r2
    vpop {d8-d15}
    pop {r4-r11, pc}
    .size green__ctx_switch, .-green__ctx_switch

/* The first return into a new context lands here with the entry function
 * in r4 and sp 8-byte aligned; the frame pointer (r11, or r7 in Thumb)
 * comes zeroed from the frame.  No unwinder goes past it: the link
 * register is undefined for the debugger, and the exception table says
 * it cannot be unwound.  The entry never returns. */
    .globl green__ctx_start
    .hidden green__ctx_start
    .type green__ctx_start, %function
green__ctx_start:
    .fnstart
    .cantunwind
    .cfi_sections .debug_frame
    .cfi_startproc
    .cfi_undefined lr
    blx r4
    udf #0
    .cfi_endproc
    .fnend
    .size green__ctx_start, .-green__ctx_start

    .section .note.GNU-stack,"",%progbits
