/* For the runners that link libgreen as a program does, through its
 * public API only (test/hook.c, test/hook_real.c): a Check test whose
 * body runs as green_run's main.
 *     GREEN_TEST(name) { ...; return NULL; }      (the body sees `arg`) */
#ifndef GREEN_TEST_PUBLIC_H
#define GREEN_TEST_PUBLIC_H

#include <check.h>

#include "green.h"

#define GREEN_TEST(name)                                        \
    static void *name##_main(void *arg);                        \
    START_TEST(name)                                            \
    {                                                           \
        ck_assert_int_eq(green_run(name##_main, NULL), 0);      \
    }                                                           \
    END_TEST                                                    \
    static void *name##_main(void *arg)

#endif
