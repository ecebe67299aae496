/* The Check suites, one per part of lib/, in the order they run: the one
 * list.  It feeds test/main.c and the build (which builds test/NAME.c for
 * each; a file whose suite is left out here compiles to nothing).  A
 * suite marked `threads` crosses OS threads (two schedulers, objects used
 * from another OS thread, the queue, the offload pool, signals, the
 * resolver): make tsan runs those under ThreadSanitizer. */
GREEN_SUITE(sched, threads)
GREEN_SUITE(cancel, threads)
GREEN_SUITE(cores, threads)
GREEN_SUITE(across, threads)
GREEN_SUITE(stack)
GREEN_SUITE(sleep)
GREEN_SUITE(poller)
GREEN_SUITE(io)
GREEN_SUITE(group, threads)
GREEN_SUITE(chan, threads)
GREEN_SUITE(sync, threads)
GREEN_SUITE(scale)
GREEN_SUITE(offload, threads)
GREEN_SUITE(net, threads)
GREEN_SUITE(stream)
GREEN_SUITE(proc, threads)
GREEN_SUITE(signal, threads)
GREEN_SUITE(queue, threads)
GREEN_SUITE(watch, threads)
GREEN_SUITE(loop, threads)
GREEN_SUITE(local, threads)
GREEN_SUITE(metrics, threads)
GREEN_SUITE(trace, threads)
#ifndef GREEN_POSIX_ONLY  /* io_uring: Linux's */
GREEN_SUITE(ring)
GREEN_SUITE(uring)
#endif
#ifdef GREEN_FAULTS
GREEN_SUITE(fault)  /* only in the test build with fault points */
#endif
