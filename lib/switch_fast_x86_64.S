/*
 * green__ctx_switch(struct green__ctx *from, struct green__ctx *to) for
 * x86-64 (System V): saves what a callee must keep (rbx, rbp, r12-r15,
 * MXCSR and the x87 control word) on the current stack, stores the stack
 * pointer in from->sp, loads to->sp and restores the same from there.
 * The frame matches green__ctx_make in switch_fast.c.
 */
    .text
    .globl green__ctx_switch
    .hidden green__ctx_switch
    .type green__ctx_switch, @function
green__ctx_switch:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $16, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $16, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size green__ctx_switch, .-green__ctx_switch

/* The first return into a new context lands here with the entry function
 * in r12 and the stack 16-byte aligned.  The entry never returns. */
    .globl green__ctx_start
    .hidden green__ctx_start
    .type green__ctx_start, @function
green__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
    xorl %ebp, %ebp
    callq *%r12
    ud2
    .cfi_endproc
    .size green__ctx_start, .-green__ctx_start

    .section .note.GNU-stack,"",@progbits
