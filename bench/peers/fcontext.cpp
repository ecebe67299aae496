// Floor: the fastest known context switch, Boost.Context's fcontext
// (jump_fcontext, hand-written assembly), between two contexts.
//   fcontext switch N   ns per switch
//   fcontext spawn N    ns to make a context on a warm stack, enter it and
//                       come back as it finishes
#include <boost/context/detail/fcontext.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace ctx = boost::context::detail;

static double now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void bounce(ctx::transfer_t t)
{
    for (;;)
        t = ctx::jump_fcontext(t.fctx, nullptr);
}

// A context that finishes at once: it jumps back and is never resumed.
static void finish(ctx::transfer_t t)
{
    ctx::jump_fcontext(t.fctx, nullptr);
}

static char stack[64 * 1024];

static double run_switch(long n)
{
    ctx::fcontext_t other = ctx::make_fcontext(stack + sizeof stack, sizeof stack, bounce);
    double t0 = now_ns();
    for (long i = 0; i < n / 2; i++)
        other = ctx::jump_fcontext(other, nullptr).fctx;
    return (now_ns() - t0) / n;
}

static double run_spawn(long n)
{
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        ctx::jump_fcontext(ctx::make_fcontext(stack + sizeof stack, sizeof stack, finish),
                           nullptr);
    return (now_ns() - t0) / n;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = std::atol(argv[2]);
    if (std::strcmp(argv[1], "switch") == 0)
        std::printf("%.3f\n", run_switch(n));
    else if (std::strcmp(argv[1], "spawn") == 0)
        std::printf("%.3f\n", run_spawn(n));
    else
        return 2;
    return 0;
}
