// Boost.Fiber's side of make bench's skynet: a tree of N fibers, fan-out
// 10, each leaf returning its number and each parent summing its ten
// children, under Boost.Fiber's work-stealing scheduler on the number of
// OS threads in BOOST_FIBER_THREADS (default 1).  Children are launched
// the default way (post: queued, and stealable by an idle thread), on
// 16 KiB stacks from malloc (Boost's own default of 128 KiB would be an
// mmap each).  Prints ms for the tree.
//   fiber skynet N
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace fibers = boost::fibers;

static long skynet(long num, long size)
{
    if (size == 1)
        return num;
    long part = size / 10, results[10];
    fibers::fiber kids[10];
    for (int i = 0; i < 10; i++)
        kids[i] = fibers::fiber(std::allocator_arg, fibers::fixedsize_stack(16 * 1024),
                                [&results, i, num, part] { results[i] = skynet(num + i * part, part); });
    long sum = 0;
    for (int i = 0; i < 10; i++) {
        kids[i].join();
        sum += results[i];
    }
    return sum;
}

// The other OS threads take part in the work-stealing until the tree is
// done: each waits on a fiber condition variable, which lets its
// scheduler run (and steal) fibers meanwhile.
static fibers::mutex done_lock;
static fibers::condition_variable_any done_cv;
static bool done;

static void helper(unsigned threads)
{
    fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads);
    std::unique_lock<fibers::mutex> lk(done_lock);
    done_cv.wait(lk, [] { return done; });
}

int main(int argc, char **argv)
{
    if (argc != 3 || std::strcmp(argv[1], "skynet") != 0)
        return 2;
    long n = std::atol(argv[2]);
    const char *env = std::getenv("BOOST_FIBER_THREADS");
    unsigned threads = env ? (unsigned)std::atoi(env) : 1;
    // The scheduler's set-up waits until every thread has installed it:
    // the others start first.
    std::vector<std::thread> others;
    for (unsigned i = 1; i < threads; i++)
        others.emplace_back(helper, threads);
    fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(threads);
    auto t0 = std::chrono::steady_clock::now();
    long sum = skynet(0, n);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    {
        std::unique_lock<fibers::mutex> lk(done_lock);
        done = true;
    }
    done_cv.notify_all();
    for (auto &t : others)
        t.join();
    if (sum != n * (n - 1) / 2) {
        std::fprintf(stderr, "skynet: sum %ld, not %ld\n", sum, n * (n - 1) / 2);
        return 1;
    }
    std::printf("%.3f\n", ms);
    return 0;
}
