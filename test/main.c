/* The test runner: every suite, each test in its own process. */
#include <stdlib.h>

#include "util.h"

int main(void)
{
    SRunner *sr = srunner_create(sched_suite());
    srunner_add_suite(sr, stack_suite());
    srunner_add_suite(sr, sleep_suite());
    srunner_add_suite(sr, io_suite());
    srunner_add_suite(sr, group_suite());
    srunner_add_suite(sr, chan_suite());
    srunner_add_suite(sr, sync_suite());
    srunner_add_suite(sr, scale_suite());
    srunner_add_suite(sr, offload_suite());
    srunner_add_suite(sr, net_suite());
    srunner_add_suite(sr, proc_suite());
    srunner_add_suite(sr, queue_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
