/* Stacks: sizes, the cache, guard pages, and running out of mappings. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sched.h"
#include "util.h"

/* Touches about n bytes of stack, in a frame the compiler cannot drop. */
static __attribute__((noinline)) int use_stack(size_t n)
{
    volatile char buf[4096];
    buf[0] = (char)n;
    buf[sizeof buf - 1] = 1;
    if (n <= sizeof buf)
        return buf[0];
    return use_stack(n - sizeof buf) + buf[sizeof buf - 1];
}

static void *use(void *arg)
{
    use_stack(*(size_t *)arg);
    return (void *)1;
}

GREEN_TEST(stack_default_size)
{
    (void)arg;
    size_t n = GREEN_STACK_DEFAULT - 32 * 1024;  /* leave room for frames */
    void *r = NULL;
    green_t *t = green_spawn(use, &n);
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_ptr_eq(r, (void *)1);
    return NULL;
}

GREEN_TEST(stack_custom_size)
{
    (void)arg;
    size_t n = 900 * 1024;
    void *r = NULL;
    green_t *t = green_spawn_attr(&(green_attr_t){.stack_size = 1024 * 1024}, use, &n);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(green_join(t, &r), 0);
    ck_assert_ptr_eq(r, (void *)1);
    /* The smallest stack allowed works. */
    n = 4096;
    t = green_spawn_attr(&(green_attr_t){.stack_size = GREEN_STACK_MIN}, use, &n);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

static void *nothing(void *arg)
{
    return arg;
}

GREEN_TEST(stack_cache_reuses)
{
    (void)arg;
    struct green__stack_cache *c = &green__cur->stacks;
    green_join(green_spawn(nothing, NULL), NULL);  /* warm */
    unsigned long maps = c->maps, unmaps = c->unmaps;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(green_join(green_spawn(nothing, NULL), NULL), 0);
    ck_assert_uint_eq(c->maps, maps);
    ck_assert_uint_eq(c->unmaps, unmaps);
    /* Beyond the cache's bound, freed stacks are unmapped. */
    green_t *t[GREEN__STACK_CACHE + 10];
    for (int i = 0; i < GREEN__STACK_CACHE + 10; i++)
        t[i] = green_spawn(nothing, NULL);
    for (int i = 0; i < GREEN__STACK_CACHE + 10; i++)
        green_join(t[i], NULL);
    ck_assert_uint_eq(c->n, GREEN__STACK_CACHE);
    ck_assert_uint_gt(c->unmaps, unmaps);
    return NULL;
}

/* Overflow: in a child process, so that the abort is observed. */

static __attribute__((noinline)) int recurse(int depth)
{
    volatile char pad[1024];
    pad[0] = (char)depth;
    if (depth < 0)  /* never: keeps the compiler from calling it infinite */
        return 0;
    return recurse(depth + 1) + pad[0];
}

static void *overflow(void *arg)
{
    (void)arg;
    recurse(0);
    return NULL;
}

static void *spawn_overflow(void *arg)
{
    (void)arg;
    green_attr_t attr = {.stack_size = 64 * 1024, .name = "deep"};
    green_join(green_spawn_attr(&attr, overflow, NULL), NULL);
    return NULL;
}

START_TEST(stack_overflow_is_reported)
{
    if (under_valgrind()) {
        /* Valgrind reports the write to the guard page itself. */
        return;
    }
    int pfd[2];
    make_pipe(pfd);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pfd[1], STDERR_FILENO);
        green_run(spawn_overflow, NULL);
        _exit(0);
    }
    close(pfd[1]);
    char text[512] = "";
    size_t got = 0;
    ssize_t r;
    while ((r = read(pfd[0], text + got, sizeof text - 1 - got)) > 0)
        got += (size_t)r;
    close(pfd[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "child status %#x, stderr: %s", status, text);
    ck_assert_msg(strstr(text, "libgreen: stack overflow in green thread #2 'deep' (stack ") != NULL,
                  "stderr: %s", text);
}
END_TEST

/* Running out of mappings: spawn until the kernel refuses a stack, then
 * check that every thread spawned still runs and nothing was lost. */

static long max_map_count(void)
{
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    long n = -1;
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = -1;
        fclose(f);
    }
    return n;
}

static int ran_count;

static void *count_run(void *arg)
{
    (void)arg;
    ran_count++;
    return NULL;
}

static void *spawn_until_refused(void *arg)
{
    (void)arg;
    size_t cap = 200000, n = 0;
    green_t **t = malloc(cap * sizeof *t);
    ck_assert_ptr_nonnull(t);
    green_attr_t attr = {.stack_size = GREEN_STACK_MIN};
    while (n < cap && (t[n] = green_spawn_attr(&attr, count_run, NULL)) != NULL)
        n++;
    ck_assert_uint_lt(n, cap);
    ck_assert_msg(errno == EAGAIN || errno == ENOMEM, "errno %d", errno);
    ck_assert_uint_gt(n, 100);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
    ck_assert_int_eq(ran_count, (int)n);
    free(t);
    /* Once stacks are free again, spawning works. */
    ck_assert_int_eq(green_join(green_spawn(count_run, NULL), NULL), 0);
    return NULL;
}

START_TEST(stack_exhaustion_fails_cleanly)
{
    if (under_valgrind())
        return;  /* Valgrind's own table of mappings is smaller */
    long maps = max_map_count();
    if (maps < 0 || maps > 300000) {
        /* A generous vm.max_map_count: bound the address space instead. */
        if (under_asan())
            return;
        struct rlimit rl = {(rlim_t)8 << 30, (rlim_t)8 << 30};
        ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
    }
    run_green(spawn_until_refused, NULL);
}
END_TEST

Suite *stack_suite(void)
{
    Suite *s = suite_create("stack");
    TCase *tc = tcase_create("stack");
    tcase_add_test(tc, stack_default_size);
    tcase_add_test(tc, stack_custom_size);
    tcase_add_test(tc, stack_cache_reuses);
    tcase_add_test(tc, stack_overflow_is_reported);
    tcase_add_test(tc, stack_exhaustion_fails_cleanly);
    tcase_set_timeout(tc, 20);
    suite_add_tcase(s, tc);
    return s;
}
