/*
 * Stack overflow detection.  A green thread that runs into the guard page
 * below its stack faults; a SIGSEGV handler, on an alternate signal stack
 * because the faulting stack is full, names the thread on stderr and
 * aborts.  Faults elsewhere go to whatever handler was there before.
 */
#ifndef GREEN_OVERFLOW_H
#define GREEN_OVERFLOW_H

#include <signal.h>
#include <stddef.h>

struct green__overflow {
    void *altstack;   /* the alternate stack we made, or NULL */
    size_t altsize;
    stack_t old;      /* the OS thread's alternate stack before */
};

/* Called by green_run on its OS thread: makes sure the thread has an
 * alternate signal stack and the handler is installed.  0 or -errno. */
int green__overflow_enter(struct green__overflow *o);

/* Undoes green__overflow_enter; the handler goes when the last green_run
 * in the process returns. */
void green__overflow_leave(struct green__overflow *o);

/* Appends s (the decimal digits of v) to buf at at, as far as cap, and
 * returns the new end: formatting that is async-signal-safe and takes
 * almost no stack, for messages from a stack near its end. */
size_t green__put_str(char *buf, size_t at, size_t cap, const char *s);
size_t green__put_num(char *buf, size_t at, size_t cap, unsigned long long v);

#endif
