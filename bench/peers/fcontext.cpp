// Floor: the fastest known context switch, Boost.Context's fcontext
// (jump_fcontext, hand-written assembly), between two contexts.
//   fcontext switch N
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

int main(int argc, char **argv)
{
    if (argc != 3 || std::strcmp(argv[1], "switch") != 0)
        return 2;
    long n = std::atol(argv[2]);
    static char stack[64 * 1024];
    ctx::fcontext_t other = ctx::make_fcontext(stack + sizeof stack, sizeof stack, bounce);
    double t0 = now_ns();
    for (long i = 0; i < n / 2; i++)
        other = ctx::jump_fcontext(other, nullptr).fctx;
    std::printf("%.3f\n", (now_ns() - t0) / n);
    return 0;
}
