/*
 * The guard-page fault handler.
 *
 * The handler is process-wide (signal dispositions are), installed by the
 * first green_run and restored by the last, under a mutex.  Everything it
 * does after a fault is async-signal-safe: it reads the thread-local
 * scheduler, formats with its own digits and writes with write(2).
 *
 * This file's write goes through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include "overflow.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sanitizer.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* A fault this far below the guard region is still taken for an
 * overflow: a frame larger than the guard can step over it. */
#define SLACK ((size_t)64 * 1024)
#define ALTSTACK_SIZE ((size_t)64 * 1024)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned users;
static struct sigaction previous;

size_t green__put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at < cap)
        buf[at++] = *s++;
    return at;
}

size_t green__put_num(char *buf, size_t at, size_t cap, unsigned long long v)
{
    char digits[24];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n > 0 && at < cap)
        buf[at++] = digits[--n];
    return at;
}

static void report(const green_t *t)
{
    char msg[160];
    size_t n = 0, cap = sizeof msg - 1;
    n = green__put_str(msg, n, cap, "libgreen: stack overflow in green thread #");
    n = green__put_num(msg, n, cap, t->id);
    n = green__put_str(msg, n, cap, " '");
    n = green__put_str(msg, n, cap, t->name);
    n = green__put_str(msg, n, cap, "' (stack ");
    n = green__put_num(msg, n, cap, (unsigned long long)((const char *)t - (const char *)t->stack.lo));
    n = green__put_str(msg, n, cap, " bytes)\n");
    (void)!write(STDERR_FILENO, msg, n);
}

static void chain(int sig, siginfo_t *si, void *uctx)
{
    if (previous.sa_flags & SA_SIGINFO) {
        previous.sa_sigaction(sig, si, uctx);
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
    } else {
        /* Returning re-runs the faulting instruction, which now gets the
         * default action. */
        signal(sig, SIG_DFL);
        green__coverage_flush();  /* or the path is never counted */
    }
}

static void on_fault(int sig, siginfo_t *si, void *uctx)
{
    struct green__sched *s = green__cur;
    const green_t *t = s ? s->current : NULL;
    if (t) {
        const char *a = si->si_addr, *lo = t->stack.lo;
        size_t below = s->stacks.guard + SLACK;
        if (a < lo && (size_t)(lo - a) <= below) {
            report(t);
            green__coverage_flush();  /* or the handler is never counted */
            abort();  /* GCOVR_EXCL_LINE: counted only after the counts are written */
        }
    }
    chain(sig, si, uctx);
}

static int install(void)
{
    int err = 0;
    pthread_mutex_lock(&lock);
    if (users == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSEGV, &sa, &previous) < 0)
            err = -errno;
    }
    if (!err)
        users++;
    pthread_mutex_unlock(&lock);
    return err;
}

static void uninstall(void)
{
    pthread_mutex_lock(&lock);
    if (--users == 0)
        sigaction(SIGSEGV, &previous, NULL);
    pthread_mutex_unlock(&lock);
}

static void restore_altstack(struct green__overflow *o)
{
    if (!o->altstack)
        return;
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    munmap(o->altstack, o->altsize);
    o->altstack = NULL;
}

int green__overflow_enter(struct green__overflow *o)
{
    o->altstack = NULL;
    if (sigaltstack(NULL, &o->old) < 0)
        return -errno;
    if (o->old.ss_flags & SS_DISABLE) {
        void *mem = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
            return -ENOMEM;
        stack_t ss = {.ss_sp = mem, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
        if (sigaltstack(&ss, NULL) < 0) {
            int err = -errno;
            munmap(mem, ALTSTACK_SIZE);
            return err;
        }
        o->altstack = mem;
        o->altsize = ALTSTACK_SIZE;
    }
    int err = install();
    if (err < 0)
        restore_altstack(o);
    return err;
}

void green__overflow_leave(struct green__overflow *o)
{
    uninstall();
    restore_altstack(o);
}
