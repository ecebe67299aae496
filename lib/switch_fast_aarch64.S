/*
 * green__ctx_switch(struct green__ctx *from, struct green__ctx *to) for
 * aarch64 (AAPCS64): saves what a callee must keep (x19-x28, the frame
 * pointer x29, the link register x30, the low halves d8-d15 of v8-v15,
 * and FPCR) on the current stack, stores sp in from->sp, loads to->sp and
 * restores the same from there.  The frame matches green__ctx_make in
 * switch_fast.c.
 */
    .text
    .globl green__ctx_switch
    .hidden green__ctx_switch
    .type green__ctx_switch, %function
green__ctx_switch:
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    ldr x9, [x1]
    mov sp, x9
    ldr x9, [sp, #160]
    msr fpcr, x9
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
    ret
    .size green__ctx_switch, .-green__ctx_switch

/* The first return into a new context lands here with the entry function
 * in x19 and sp 16-byte aligned.  The entry never returns.  The return
 * address undefined ends an unwinder's walk here, as on x86-64: a stall's
 * stack (lib/watch_stack.c) stops at the thread's first frame. */
    .globl green__ctx_start
    .hidden green__ctx_start
    .type green__ctx_start, %function
green__ctx_start:
    .cfi_startproc
    .cfi_undefined x30
    mov x29, #0
    blr x19
    brk #0
    .cfi_endproc
    .size green__ctx_start, .-green__ctx_start

    .section .note.GNU-stack,"",%progbits
