/* Green-local values: green_key_create, _delete, _get, _set, destructors
 * and inheritance. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "util.h"
#ifdef GREEN_FAULTS
#include "fault.h"
#endif

static green_key_t key;
static int destroyed;            /* destructor calls */
static intptr_t destroyed_sum;   /* the values they got */

static void count(void *value)
{
    destroyed++;
    destroyed_sum += (intptr_t)value;
}

static void *set_and_check(void *arg)
{
    ck_assert_ptr_null(green_key_get(key));
    ck_assert_int_eq(green_key_set(key, arg), 0);
    green_yield();  /* the others set theirs meanwhile */
    ck_assert_ptr_eq(green_key_get(key), arg);
    return NULL;
}

GREEN_TEST(key_per_thread)
{
    (void)arg;
    destroyed = 0;
    destroyed_sum = 0;
    ck_assert_int_eq(green_key_create(&key, count, 0), 0);
    green_t *t[3];
    for (intptr_t i = 0; i < 3; i++)
        t[i] = green_spawn(set_and_check, (void *)(i + 1));
    set_and_check((void *)100);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
    ck_assert_int_eq(destroyed, 3);  /* each at its thread's end */
    ck_assert_int_eq(destroyed_sum, 1 + 2 + 3);
    ck_assert_int_eq(green_key_set(key, NULL), 0);  /* main's: none left */
    ck_assert_int_eq(green_key_delete(key), 0);
    return NULL;
}

/* Cancelled threads end as any other: their destructors run. */
static void *set_then_sleep(void *arg)
{
    ck_assert_int_eq(green_key_set(key, arg), 0);
    ck_assert_int_eq(green_sleep(100000), -1);
    ck_assert_int_eq(errno, ECANCELED);
    return NULL;
}

GREEN_TEST(key_destructor_when_cancelled)
{
    (void)arg;
    destroyed = 0;
    ck_assert_int_eq(green_key_create(&key, count, 0), 0);
    green_t *t = green_spawn(set_then_sleep, (void *)7);
    green_yield();
    ck_assert_int_eq(green_cancel(t), 0);
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(destroyed, 1);
    return NULL;
}

/* main's values are destroyed when green_run ends, and so are those of
 * threads cancelled then. */
static void *main_sets(void *arg)
{
    (void)arg;
    ck_assert_int_eq(green_key_set(key, (void *)5), 0);
    green_detach(green_spawn(set_then_sleep, (void *)6));
    green_yield();
    return NULL;
}

START_TEST(key_destructor_at_green_run_end)
{
    destroyed = 0;
    destroyed_sum = 0;
    ck_assert_int_eq(green_key_create(&key, count, 0), 0);
    run_green(main_sets, NULL);
    ck_assert_int_eq(destroyed, 2);
    ck_assert_int_eq(destroyed_sum, 11);
}
END_TEST

/* A destructor that sets the value again runs again, GREEN_KEY_ROUNDS
 * times in all; then the value is dropped.  It may wait, too. */
static void set_again(void *value)
{
    destroyed++;
    ck_assert_int_eq(green_sleep(1), 0);
    ck_assert_int_eq(green_key_set(key, value), 0);
}

static void *set_once(void *arg)
{
    ck_assert_int_eq(green_key_set(key, arg), 0);
    return NULL;
}

GREEN_TEST(key_destructor_rounds)
{
    (void)arg;
    destroyed = 0;
    ck_assert_int_eq(green_key_create(&key, set_again, 0), 0);
    ck_assert_int_eq(green_join(green_spawn(set_once, (void *)1), NULL), 0);
    ck_assert_int_eq(destroyed, GREEN_KEY_ROUNDS);
    return NULL;
}

/* GREEN_KEY_INHERIT: a new thread starts with its spawner's value, which
 * stays the spawner's to destroy; one without it starts with none. */
static green_key_t plain;

static void *child_sees(void *arg)
{
    ck_assert_ptr_eq(green_key_get(key), arg);
    ck_assert_ptr_null(green_key_get(plain));
    ck_assert_int_eq(green_key_set(key, (void *)20), 0);  /* its own now */
    ck_assert_ptr_eq(green_key_get(key), (void *)20);
    return NULL;
}

static void *middle(void *arg)
{
    (void)arg;
    green_t *t = green_spawn(child_sees, (void *)10);  /* inherits main's */
    ck_assert_int_eq(green_join(t, NULL), 0);
    ck_assert_int_eq(green_key_set(key, (void *)30), 0);
    t = green_spawn(child_sees, (void *)30);  /* inherits its spawner's */
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

GREEN_TEST(key_inherit)
{
    (void)arg;
    destroyed = 0;
    destroyed_sum = 0;
    ck_assert_int_eq(green_key_create(&key, count, GREEN_KEY_INHERIT), 0);
    ck_assert_int_eq(green_key_create(&plain, count, 0), 0);
    ck_assert_int_eq(green_key_set(key, (void *)10), 0);
    ck_assert_int_eq(green_key_set(plain, (void *)1000), 0);
    /* Not inherited either: a NULL value, and a deleted key's value. */
    green_key_t unset, gone;
    ck_assert_int_eq(green_key_create(&unset, count, GREEN_KEY_INHERIT), 0);
    ck_assert_int_eq(green_key_set(unset, NULL), 0);
    ck_assert_int_eq(green_key_create(&gone, count, GREEN_KEY_INHERIT), 0);
    ck_assert_int_eq(green_key_set(gone, (void *)5000), 0);
    ck_assert_int_eq(green_key_delete(gone), 0);
    ck_assert_int_eq(green_join(green_spawn(middle, NULL), NULL), 0);
    ck_assert_int_eq(green_key_delete(unset), 0);
    /* The children's own 20s and middle's 30; no inherited value. */
    ck_assert_int_eq(destroyed, 3);
    ck_assert_int_eq(destroyed_sum, 20 + 20 + 30);
    ck_assert_ptr_eq(green_key_get(key), (void *)10);
    ck_assert_int_eq(green_key_set(key, NULL), 0);
    ck_assert_int_eq(green_key_set(plain, NULL), 0);
    return NULL;
}

/* Across schedulers: a thread placed on another one inherits too. */
static void *far_child(void *arg)
{
    ck_assert_int_eq(green_sched_index(), 1);
    ck_assert_ptr_eq(green_key_get(key), arg);
    return NULL;
}

CORES_TEST(key_inherit_across, 2)
{
    (void)arg;
    ck_assert_int_eq(green_key_create(&key, NULL, GREEN_KEY_INHERIT), 0);
    ck_assert_int_eq(green_key_set(key, (void *)77), 0);
    green_t *t = spawn_on(1, far_child, (void *)77);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

/* A deleted key's values are never seen again, not under a new key made
 * in its place, and never destroyed. */
GREEN_TEST(key_deleted)
{
    (void)arg;
    destroyed = 0;
    green_key_t old;
    ck_assert_int_eq(green_key_create(&old, count, 0), 0);
    ck_assert_int_eq(green_key_set(old, (void *)1), 0);
    ck_assert_int_eq(green_key_delete(old), 0);
    errno = 0;
    ck_assert_ptr_null(green_key_get(old));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_key_set(old, (void *)2), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_key_delete(old), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_key_create(&key, count, 0), 0);
    ck_assert_uint_ne(key, old);
    errno = 0;
    ck_assert_ptr_null(green_key_get(key));
    ck_assert_int_eq(errno, 0);  /* no value, no error */
    ck_assert_int_eq(green_join(green_spawn(set_once, NULL), NULL), 0);
    ck_assert_int_eq(destroyed, 0);  /* NULL values have no destructor call */
    return NULL;
}

/* A key in a far slot: a thread's values grow to reach it. */
GREEN_TEST(key_far_slot)
{
    (void)arg;
    static green_key_t k[100];
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(green_key_create(&k[i], NULL, 0), 0);
    ck_assert_int_eq(green_key_set(k[0], (void *)1), 0);
    errno = 0;
    ck_assert_ptr_null(green_key_get(k[99]));  /* beyond its values */
    ck_assert_int_eq(errno, 0);
    ck_assert_int_eq(green_key_set(k[99], (void *)99), 0);
    ck_assert_ptr_eq(green_key_get(k[0]), (void *)1);
    ck_assert_ptr_eq(green_key_get(k[99]), (void *)99);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(green_key_delete(k[i]), 0);
    return NULL;
}

/* The errors: no key, bad flags, too many keys, outside green_run. */
START_TEST(key_errors)
{
    green_key_t k;
    ck_assert_int_eq(green_key_create(NULL, NULL, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_key_create(&k, NULL, 2), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_key_delete(0), -1);  /* a zeroed handle is no key */
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(green_key_create(&k, NULL, 0), 0);
    errno = 0;
    ck_assert_ptr_null(green_key_get(k));
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_key_set(k, &k), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_key_delete(k), 0);

    static green_key_t all[GREEN_KEYS_MAX];
    for (int i = 0; i < GREEN_KEYS_MAX; i++)
        ck_assert_int_eq(green_key_create(&all[i], NULL, 0), 0);
    ck_assert_int_eq(green_key_create(&k, NULL, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    for (int i = 0; i < GREEN_KEYS_MAX; i++)
        ck_assert_int_eq(green_key_delete(all[i]), 0);
    ck_assert_int_eq(green_key_create(&k, NULL, 0), 0);
}
END_TEST

/* In a host loop: a thread the host spawns has no spawner to inherit
 * from; between slices the host is outside. */
#ifndef GREEN_POSIX_ONLY
static void *loop_thread(void *arg)
{
    ck_assert_ptr_null(green_key_get(key));
    ck_assert_int_eq(green_key_set(key, (void *)3), 0);
    *(volatile bool *)arg = true;
    return NULL;
}

START_TEST(key_in_a_loop)
{
    destroyed = 0;
    ck_assert_int_eq(green_key_create(&key, count, GREEN_KEY_INHERIT), 0);
    green_loop_t *l = green_loop_new();
    ck_assert_ptr_nonnull(l);
    volatile bool done = false;
    ck_assert_ptr_nonnull(green_loop_spawn(l, NULL, loop_thread, (void *)&done));
    ck_assert_int_eq(green_loop_run(l), 0);
    ck_assert(done);
    ck_assert_int_eq(destroyed, 1);
    ck_assert_int_eq(green_key_set(key, NULL), -1);
    ck_assert_int_eq(errno, EPERM);
    ck_assert_int_eq(green_loop_stop(l), 0);
}
END_TEST
#endif

#ifdef GREEN_FAULTS
/* No memory for a value, or for the values a new thread inherits. */
GREEN_TEST(key_no_memory)
{
    (void)arg;
    ck_assert_int_eq(green_key_create(&key, count, GREEN_KEY_INHERIT), 0);
    green__fault_set(GREEN__FAULT_realloc, 1, false, ENOMEM);
    ck_assert_int_eq(green_key_set(key, (void *)1), -1);
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_ptr_null(green_key_get(key));
    ck_assert_int_eq(green_key_set(key, (void *)1), 0);
    green__fault_set(GREEN__FAULT_realloc, 1, false, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(green_spawn(set_once, NULL));
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_clear();
    ck_assert_int_eq(green_join(green_spawn(set_once, NULL), NULL), 0);
    ck_assert_int_eq(green_key_set(key, NULL), 0);
    return NULL;
}
#endif

Suite *local_suite(void)
{
    Suite *s = suite_create("local");
    TCase *tc = tcase_create("local");
    tcase_add_test(tc, key_per_thread);
    tcase_add_test(tc, key_destructor_when_cancelled);
    tcase_add_test(tc, key_destructor_at_green_run_end);
    tcase_add_test(tc, key_destructor_rounds);
    tcase_add_test(tc, key_inherit);
    tcase_add_test(tc, key_inherit_across);
    tcase_add_test(tc, key_deleted);
    tcase_add_test(tc, key_far_slot);
    tcase_add_test(tc, key_errors);
#ifndef GREEN_POSIX_ONLY
    tcase_add_test(tc, key_in_a_loop);
#endif
    suite_add_tcase(s, tc);
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, key_no_memory);
    suite_add_tcase(s, faults);
    return s;
}
