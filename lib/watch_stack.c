/*
 * The stall detector's second part: the stalled green thread's stack (see
 * watch.h).
 *
 * A stack can only be walked by the thread that runs on it, so the
 * watchdog, after the report's first line, sends SIGURG to the stalled
 * scheduler's OS thread with pthread_kill and waits, a while at most, for
 * the handler there to write the stack.  The handler checks that the
 * thread it interrupted is still the stalled one (the scheduler's seq is
 * the one the watchdog saw, and it is not waiting in the poller), then
 * walks the stack with backtrace() and writes it with
 * backtrace_symbols_fd(), neither of which allocates once backtrace has
 * been called once (it loads the unwinder on its first call, which is
 * why green__watch_stack_start calls it).
 *
 * Why SIGURG: its default action is to ignore it, so a SIGURG that
 * arrives late (the thread had it blocked, or has left green_run) harms
 * nothing, whatever its disposition is by then; a realtime signal's
 * default action ends the process.  The realtime signals are also the
 * ones programs, libraries and the C library itself hand out to their
 * own uses, while a program sees SIGURG only when it asked the kernel for
 * it (F_SETOWN on a socket that receives out-of-band data), and then has
 * a handler of its own.  Go preempts its goroutines with SIGURG for the
 * same reasons.
 *
 * The handler is installed only when SIGURG has its default action: a
 * handler of the program's (or of green_signal_wait, lib/signal.c) or an
 * ignore it set is left alone, and the report then says why it has no
 * stack.  Once installed it stays, as green_signal_wait's do: a SIGURG
 * sent as a scheduler stops may arrive after, and finds nothing to do;
 * restoring the old action would race with lib/signal.c and the program
 * setting their own.
 *
 * Only where the C library has backtrace (glibc; not musl, not the POSIX
 * build): elsewhere a report is its first line alone.
 */
#include "watch.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sched.h"

/* And where a backtrace from the handler is proven here: not ppc64,
 * where under qemu-ppc64le it faulted in one run of several (session
 * 15), and a stall's report there is its first line alone. */
#if !defined(GREEN_POSIX_ONLY) && defined(__has_include) && !defined(__powerpc64__)
#if __has_include(<execinfo.h>)
#define GREEN__HAVE_BACKTRACE 1
#endif
#endif

#ifdef GREEN__HAVE_BACKTRACE
#include <execinfo.h>
#include <ucontext.h>

#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* The innermost frames are the ones that tell: a deeper stack is cut. */
#define FRAMES 64

/* How long the watchdog waits for the stack at most, in ms: long enough
 * for a handler under Valgrind, short enough that a thread with SIGURG
 * blocked holds the watchdog back little. */
#define WAIT_MS 1000

/* Where the interrupted thread was: the handler's own frames and the
 * signal trampoline come before it in what backtrace() finds, and are
 * left out.  Where the unwinder does not find it (it stops at the signal
 * frame), it is written first, alone: the function that was running.
 * Where the architecture is not known here, nothing is left out. */
#if defined(__x86_64__)
static void *interrupted_at(const ucontext_t *uc)
{
    return (void *)uc->uc_mcontext.gregs[REG_RIP];
}
#elif defined(__i386__)
static void *interrupted_at(const ucontext_t *uc)
{
    return (void *)uc->uc_mcontext.gregs[REG_EIP];
}
#elif defined(__aarch64__)
static void *interrupted_at(const ucontext_t *uc)
{
    return (void *)uc->uc_mcontext.pc;
}
#elif defined(__arm__)
static void *interrupted_at(const ucontext_t *uc)
{
    return (void *)uc->uc_mcontext.arm_pc;
}
#elif defined(__riscv)
static void *interrupted_at(const ucontext_t *uc)
{
    return (void *)uc->uc_mcontext.__gregs[REG_PC];
}
#elif defined(__s390x__)
static void *interrupted_at(const ucontext_t *uc)
{
    return (void *)uc->uc_mcontext.psw.addr;
}
#else
static void *interrupted_at(const ucontext_t *uc)
{
    (void)uc;
    return NULL;
}
#endif

/* A ms of the watchdog's: nanosleep is libgreen-hook's to interpose
 * (lib/routed.h), so a wait that nobody ends stands in for it. */
static void nap(void)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ns = until.tv_nsec + 1000000;
    until.tv_sec += ns / 1000000000;
    until.tv_nsec = ns % 1000000000;
    pthread_mutex_lock(&lock);
    pthread_cond_timedwait(&never, &lock, &until);
    pthread_mutex_unlock(&lock);
}

static void say(const char *text)
{
    (void)!write(STDERR_FILENO, text, strlen(text));
}

static void write_stack(const ucontext_t *uc)
{
    void *frames[FRAMES];
    int n = backtrace(frames, FRAMES);
    void *at = interrupted_at(uc);
    int first = -1;
    /* The branches below that x86-64 never takes (no address, or the
     * unwinder stopped at the signal frame) are taken on the other
     * architectures, where CI runs the watch suite under qemu; the
     * coverage build is x86-64's alone. */
    for (int i = 0; at && i < n; i++)  /* GCOVR_EXCL_BR_LINE: see above */
        if (frames[i] == at) {
            first = i;
            break;
        }
    say("libgreen: its stack:\n");
    /* Where the unwinder does not go through the signal frame (armhf,
     * riscv64 under qemu-user), the interrupted function at least. */
    if (first < 0 && at)  /* GCOVR_EXCL_BR_LINE: see above */
        backtrace_symbols_fd(&at, 1, STDERR_FILENO);
    if (first < 0)  /* GCOVR_EXCL_BR_LINE: see above */
        first = 0;
    backtrace_symbols_fd(frames + first, n - first, STDERR_FILENO);
}

/* SIGURG, on the scheduler's OS thread.  It reads the thread's own
 * scheduler, and writes with write(2) and backtrace_symbols_fd(), which
 * allocates nothing; backtrace() allocates nothing once it has run once.
 * A SIGURG merged with one still pending (it does not queue) is answered
 * for the latest stall: shot is the watchdog's last. */
static void on_sigurg(int sig, siginfo_t *si, void *uctx)
{
    (void)sig;
    (void)si;
    int saved_errno = errno;
    struct green__sched *s = green__cur;
    struct green__watch *w = s && s->watch.on ? &s->watch : NULL;
    uint_fast64_t shot = w ? atomic_load(&w->shot) : 0;
    if (shot != 0) {  /* else a SIGURG not the watchdog's, or a late one */
        if (atomic_load(&w->seq) == shot && !atomic_load(&w->idle))
            write_stack(uctx);
        else
            say("libgreen: no stack: the stall ended before SIGURG arrived\n");
        atomic_store(&w->shot, 0);
    }
    errno = saved_errno;
}

/* Whether SIGURG has libgreen's handler: installed here if it has its
 * default action.  Under the watchdog's lock. */
static bool handler_ours(void)
{
    struct sigaction now;
    if (sigaction(SIGURG, NULL, &now) < 0)
        return false;  /* GCOVR_EXCL_LINE: asking about SIGURG cannot fail */
    if ((now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_sigurg)
        return true;
    if ((now.sa_flags & SA_SIGINFO) || now.sa_handler != SIG_DFL)
        return false;
    /* Loads the unwinder, which backtrace() does on its first call, not
     * in a handler; and binds backtrace_symbols_fd (writing nothing), so
     * that the handler makes no first call the dynamic linker resolves. */
    void *frame[1];
    backtrace(frame, 1);
    backtrace_symbols_fd(frame, 0, STDERR_FILENO);
    /* SA_ONSTACK: a thread whose stack is nearly full still has room for
     * the handler (green_run gives each OS thread an alternate stack). */
    struct sigaction sa = {.sa_sigaction = on_sigurg,
                           .sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK};
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGURG, &sa, NULL) == 0;
}

void green__watch_stack_start(struct green__watch *w)
{
    sigset_t mask;
    w->thread = pthread_self();
    w->sigurg_blocked = pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 &&
                        sigismember(&mask, SIGURG) == 1;
    atomic_store(&w->shot, 0);
    handler_ours();
}

void green__watch_stack_write(struct green__watch *w, uint_fast64_t seq)
{
    if (!handler_ours()) {
        fprintf(stderr, "libgreen: no stack: the program has set SIGURG's action itself "
                        "(libgreen takes the stack with SIGURG)\n");
        return;
    }
    if (w->sigurg_blocked) {
        fprintf(stderr, "libgreen: no stack: SIGURG, which takes it, is blocked in its OS thread\n");
        return;
    }
    /* The thread is alive (its scheduler is watched, and cannot stop
     * while the watchdog holds the lock), so the signal goes. */
    atomic_store(&w->shot, seq);
    pthread_kill(w->thread, SIGURG);
    /* No other report comes between the first line and the stack.  A
     * thread that has SIGURG blocked writes it when it unblocks it (or
     * says the stall ended), after the wait. */
    for (int i = 0; i < WAIT_MS && atomic_load(&w->shot) != 0; i++)
        nap();
}
#else
void green__watch_stack_start(struct green__watch *w)
{
    atomic_store(&w->shot, 0);
}

void green__watch_stack_write(struct green__watch *w, uint_fast64_t seq)
{
    (void)w;
    (void)seq;
}
#endif
