/*
 * The portable alternative to a hand-written switch, measured for issue
 * "a fast context switch": makecontext and swapcontext enter a context
 * once, then _setjmp and _longjmp (which leave the signal mask alone)
 * switch between the two.  Built without _FORTIFY_SOURCE: with it, glibc
 * turns longjmp into __longjmp_chk, which aborts ("longjmp causes
 * uninitialized stack frame") on a jump to another stack.
 *   sjlj switch N
 */
#undef _FORTIFY_SOURCE
#include <setjmp.h>
#include <ucontext.h>

#include "../common.h"

static jmp_buf main_jb, other_jb;
static ucontext_t main_uc, other_uc;

static void other(void)
{
    if (_setjmp(other_jb) == 0)
        swapcontext(&other_uc, &main_uc);  /* entered once: back to main */
    for (;;)
        if (_setjmp(other_jb) == 0)
            _longjmp(main_jb, 1);
}

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "switch") != 0)
        return 2;
    long n = atol(argv[2]);
    static char stack[64 * 1024];
    getcontext(&other_uc);
    other_uc.uc_stack.ss_sp = stack;
    other_uc.uc_stack.ss_size = sizeof stack;
    makecontext(&other_uc, other, 0);
    swapcontext(&main_uc, &other_uc);
    double t0 = bench_now_ns();
    for (long i = 0; i < n / 2; i++)
        if (_setjmp(main_jb) == 0)
            _longjmp(other_jb, 1);
    printf("%.3f\n", (bench_now_ns() - t0) / n);
    return 0;
}
