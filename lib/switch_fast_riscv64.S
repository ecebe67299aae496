/*
 * green__ctx_switch(struct green__ctx *from, struct green__ctx *to) for
 * riscv64 (LP64D): saves what a callee must keep (s0-s11, fs0-fs11, the
 * return address ra) and the rounding mode frm on the current stack,
 * stores sp in from->sp, loads to->sp and restores the same from there.
 * The frame matches green__ctx_make in switch_fast.c.
 *
 * Of the floating-point CSR, only frm is kept: it is the control state,
 * as FPCR is on aarch64 (RISC-V has no trap enables to keep).  fflags,
 * the accrued exception flags, stays with the OS thread, as FPSR does on
 * aarch64.  The vector registers and their CSRs are not kept: no
 * callee keeps them either.  tp and gp are the OS thread's and the
 * program's, the same in every green thread, so they are not touched.
 */
#if !defined(__riscv_flen) || __riscv_flen != 64
#error "the riscv64 fast switch needs the D extension (rv64gc, LP64D)"
#endif

/* 26 doublewords: s0-s11 at 0-11, ra at 12, fs0-fs11 at 13-24, frm at
 * 25.  208 bytes keeps sp 16-byte aligned, as the psABI wants. */
#define FRAME 208

    .text
    .globl green__ctx_switch
    .hidden green__ctx_switch
    .type green__ctx_switch, @function
green__ctx_switch:
    .cfi_startproc
    addi sp, sp, -FRAME
    sd s0, 0(sp)
    sd s1, 8(sp)
    sd s2, 16(sp)
    sd s3, 24(sp)
    sd s4, 32(sp)
    sd s5, 40(sp)
    sd s6, 48(sp)
    sd s7, 56(sp)
    sd s8, 64(sp)
    sd s9, 72(sp)
    sd s10, 80(sp)
    sd s11, 88(sp)
    sd ra, 96(sp)
    fsd fs0, 104(sp)
    fsd fs1, 112(sp)
    fsd fs2, 120(sp)
    fsd fs3, 128(sp)
    fsd fs4, 136(sp)
    fsd fs5, 144(sp)
    fsd fs6, 152(sp)
    fsd fs7, 160(sp)
    fsd fs8, 168(sp)
    fsd fs9, 176(sp)
    fsd fs10, 184(sp)
    fsd fs11, 192(sp)
    frrm t0
    sd t0, 200(sp)
    sd sp, 0(a0)
    ld sp, 0(a1)
    ld t0, 200(sp)
    fsrm t0
    ld s0, 0(sp)
    ld s1, 8(sp)
    ld s2, 16(sp)
    ld s3, 24(sp)
    ld s4, 32(sp)
    ld s5, 40(sp)
    ld s6, 48(sp)
    ld s7, 56(sp)
    ld s8, 64(sp)
    ld s9, 72(sp)
    ld s10, 80(sp)
    ld s11, 88(sp)
    ld ra, 96(sp)
    fld fs0, 104(sp)
    fld fs1, 112(sp)
    fld fs2, 120(sp)
    fld fs3, 128(sp)
    fld fs4, 136(sp)
    fld fs5, 144(sp)
    fld fs6, 152(sp)
    fld fs7, 160(sp)
    fld fs8, 168(sp)
    fld fs9, 176(sp)
    fld fs10, 184(sp)
    fld fs11, 192(sp)
    addi sp, sp, FRAME
    ret
    .cfi_endproc
    .size green__ctx_switch, .-green__ctx_switch

/* The first return into a new context lands here with the entry function
 * in s1 and sp 16-byte aligned.  The frame pointer is cleared and ra is
 * marked undefined so that an unwinder stops here.  The entry never
 * returns. */
    .globl green__ctx_start
    .hidden green__ctx_start
    .type green__ctx_start, @function
green__ctx_start:
    .cfi_startproc
    .cfi_undefined ra
    li s0, 0
    jalr s1
    unimp
    .cfi_endproc
    .size green__ctx_start, .-green__ctx_start

    .section .note.GNU-stack,"",@progbits
