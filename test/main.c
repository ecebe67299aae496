/* The test runner: every suite of suites.h, each test in its own process. */
#include <stdlib.h>

#include "util.h"

int main(void)
{
    SRunner *sr = srunner_create(NULL);
#define GREEN_SUITE(name, ...) srunner_add_suite(sr, name##_suite());
#include "suites.h"
#undef GREEN_SUITE
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
