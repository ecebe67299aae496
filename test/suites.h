/* The Check suites, one per part of lib/, in the order they run.  This
 * list feeds test/main.c and the Makefile (which builds test/NAME.c for
 * each; a file whose suite is left out here compiles to nothing). */
GREEN_SUITE(sched)
GREEN_SUITE(cancel)
GREEN_SUITE(stack)
GREEN_SUITE(sleep)
GREEN_SUITE(poller)
GREEN_SUITE(io)
GREEN_SUITE(group)
GREEN_SUITE(chan)
GREEN_SUITE(sync)
GREEN_SUITE(scale)
GREEN_SUITE(offload)
GREEN_SUITE(net)
GREEN_SUITE(stream)
GREEN_SUITE(proc)
GREEN_SUITE(signal)
GREEN_SUITE(queue)
GREEN_SUITE(watch)
#ifdef __linux__
GREEN_SUITE(ring)
GREEN_SUITE(uring)
#endif
#ifdef GREEN_FAULTS
GREEN_SUITE(fault)  /* only in the test build with fault points */
#endif
