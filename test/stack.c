/* Stacks: sizes, the cache, guard pages, and running out of mappings. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sanitizer.h"
#include "sched.h"
#include "stack.h"
#include "util.h"

/* Touches about n bytes of stack, in frames the compiler cannot drop nor
 * fold into one: each frame's buffer is used after the call below it
 * (clang turned the plain recursion into a loop, one frame deep); with
 * yield, yields twice at the deepest. */
static __attribute__((noinline)) int dig(size_t n, bool yield)
{
    volatile char buf[4096];
    buf[0] = (char)n;
    buf[sizeof buf - 1] = 1;
    int r = 0;
    if (n > sizeof buf) {
        r = dig(n - sizeof buf, yield);
    } else if (yield) {
        green_yield();
        green_yield();
    }
    __asm__ volatile("" : : "r"(buf) : "memory");
    return r + buf[sizeof buf - 1];
}

static int use_stack(size_t n)
{
    return dig(n, false);
}

static int use_stack_then_yield(size_t n)
{
    return dig(n, true);
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
    unsigned long maps = c->maps, releases = c->releases;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(green_join(green_spawn(nothing, NULL), NULL), 0);
    ck_assert_uint_eq(c->maps, maps);
    ck_assert_uint_eq(c->releases, releases);
    /* A burst: beyond the warm ones, freed stacks give their memory back,
     * and the next burst reuses them without mapping anything. */
    enum { BURST = 3 * GREEN__STACK_WARM };
    green_t *t[BURST];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < BURST; i++)
            t[i] = green_spawn(nothing, NULL);
        for (int i = 0; i < BURST; i++)
            green_join(t[i], NULL);
        if (round == 0)
            maps = c->maps;
    }
    /* A slab of one (mprotect guards) gives its memory back by unmapping,
     * so the second burst maps those again. */
    ck_assert_uint_eq(c->maps - maps, c->mprotect_guards ? BURST - GREEN__STACK_WARM : 0);
    ck_assert_uint_ge(c->releases - releases, 2 * (BURST - GREEN__STACK_WARM));
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

/* Runs fn in green_run in a child whose stderr is captured; returns the
 * child's wait status and what it wrote. */
static int in_child(void *(*fn)(void *), void *arg, char *text, size_t cap)
{
    int pfd[2];
    make_pipe(pfd);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pfd[1], STDERR_FILENO);
        green_run(fn, arg);
        exit_child(0);
    }
    close(pfd[1]);
    size_t got = 0;
    ssize_t r;
    while (got < cap - 1 && (r = read(pfd[0], text + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    text[got] = '\0';
    close(pfd[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

/* Runs fn in a child, which must abort with want on its stderr. */
static void expect_overflow(void *(*fn)(void *), const char *want)
{
    char text[512];
    int status = in_child(fn, NULL, text, sizeof text);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "child status %#x, stderr: %s", status, text);
    ck_assert_msg(strstr(text, want) != NULL, "stderr: %s", text);
}

static void check_overflow_report(void)
{
    expect_overflow(spawn_overflow, "libgreen: stack overflow in green thread #2 'deep' (stack ");
}

START_TEST(stack_overflow_is_reported)
{
    if (under_valgrind())
        return;  /* Valgrind reports the write to the guard page itself */
    check_overflow_report();
    /* The same with guards made by mprotect, as on older kernels. */
    green__stack_force_mprotect = true;
    check_overflow_report();
}
END_TEST

/* A fault that is no overflow is the program's: it goes to the handler
 * that was there before green_run, or gets the default action. */
/* In page 0, but not NULL (UBSan checks NULL), and read at run time (or
 * the compiler sees the bad address). */
static volatile uintptr_t stray = 16;

static void *touch_stray(void *arg)
{
    (void)arg;
    *(volatile int *)stray = 1;
    return NULL;
}

static uintptr_t stray_page;  /* the page size, read before the fault */

/* Some kernels (s390's) report the faulting address only to the page. */
static void previous_siginfo(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    bool at = (uintptr_t)si->si_addr / stray_page == stray / stray_page;
    exit_child(sig == SIGSEGV && at ? 42 : 1);
}

static void previous_plain(int sig)
{
    exit_child(sig == SIGSEGV ? 43 : 1);
}

/* The status of a child that installs a handler (plain, or info with
 * SA_SIGINFO; SIG_DFL for none) and then touches page 0 in a green
 * thread. */
static int stray_fault(void (*plain)(int), void (*info)(int, siginfo_t *, void *))
{
    stray_page = (uintptr_t)sysconf(_SC_PAGESIZE);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setrlimit(RLIMIT_CORE, &(struct rlimit){0, 0});  /* no core file */
        struct sigaction sa = {.sa_flags = info ? SA_SIGINFO : 0};
        if (info)
            sa.sa_sigaction = info;
        else
            sa.sa_handler = plain;
        sigaction(SIGSEGV, &sa, NULL);
        green_run(touch_stray, NULL);
        exit_child(2);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

START_TEST(stray_fault_is_not_an_overflow)
{
    if (under_valgrind())
        return;  /* it reports the bad write itself */
    int status = stray_fault(NULL, previous_siginfo);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 42, "status %#x", status);
    status = stray_fault(previous_plain, NULL);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 43, "status %#x", status);
    status = stray_fault(SIG_DFL, NULL);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "status %#x", status);
}
END_TEST

/* A frame larger than a page, past the end of a thread's stack: it must
 * land in the guard region, not in the stack below it in the slab (its
 * neighbour's), and be reported as this thread's overflow.  Its size
 * comes from the page size: with 64 KiB pages (ppc64le, some aarch64
 * kernels) the smallest stack is a whole 64 KiB page. */
static size_t big_frame_bytes;

static void *big_frame(void *arg)
{
    (void)arg;
    char frame[big_frame_bytes];
    frame[0] = 1;           /* its lowest byte: far below the stack */
    /* The array's address escapes, so that no compiler shrinks it. */
    __asm__ volatile("" : : "r"(frame) : "memory");
    return (void *)(intptr_t)frame[0];
}

static void *neighbours(void *arg)
{
    (void)arg;
    /* The whole stack of a GREEN_STACK_MIN thread, with its record on top,
     * and half the guard below it. */
    const struct green__stack_cache *c = &green__cur->stacks;
    size_t region = (GREEN_STACK_MIN + sizeof(green_t) + 64 + c->page - 1) & ~(c->page - 1);
    big_frame_bytes = region + c->guard / 2;
    green_attr_t attr = {.stack_size = GREEN_STACK_MIN, .name = "below"};
    green_t *below = green_spawn_attr(&attr, nothing, NULL);  /* the lowest stack */
    attr.name = "big";
    green_t *big = green_spawn_attr(&attr, big_frame, NULL);  /* just above it */
    green_join(big, NULL);
    green_join(below, NULL);
    return NULL;
}

static void check_big_frame_report(void)
{
    expect_overflow(neighbours, "libgreen: stack overflow in green thread #3 'big'");
}

START_TEST(big_frame_is_reported)
{
    if (under_valgrind() || under_asan())
        return;  /* both watch the stack themselves */
    check_big_frame_report();
    green__stack_force_mprotect = true;
    check_big_frame_report();
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
    /* Once stacks are free again, spawning works: of the same size, from
     * the cache.  (A new size needs a new mapping, which qemu-arm still
     * refused in some runs after the run-out, EAGAIN with every slab
     * but the warm ones unmapped; the cache giving back free slabs for a
     * new size is full_address_space_gives_back_free_slabs.) */
    green_t *again = green_spawn_attr(&attr, count_run, NULL);
    ck_assert_msg(again != NULL, "a spawn after %zu joined: errno %d", n, errno);
    ck_assert_int_eq(green_join(again, NULL), 0);
    return NULL;
}

/* On a kernel without MADV_GUARD_INSTALL every guard splits a mapping,
 * and vm.max_map_count (65530 by default) runs out near 32,700 stacks. */
START_TEST(stack_exhaustion_fails_cleanly)
{
    /* Valgrind's own table of mappings is smaller, and ASan's allocator
     * needs mappings of its own: neither survives running out. */
    if (under_valgrind() || under_asan())
        return;
    long maps = max_map_count();
    if (maps < 0 || maps > 300000) {
        /* A generous vm.max_map_count: bound the address space instead. */
        struct rlimit rl = {(rlim_t)8 << 30, (rlim_t)8 << 30};
        ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
    }
    green__stack_force_mprotect = true;
    run_green(spawn_until_refused, NULL);
}
END_TEST

/* With guard pages that do not split mappings, what runs out is address
 * space: here RLIMIT_AS, set a little above what the process uses. */
START_TEST(stack_address_space_exhausted)
{
    if (under_valgrind() || under_asan())
        return;  /* both reserve address space of their own */
    struct rlimit rl = {(rlim_t)2 << 30, (rlim_t)2 << 30}, now;
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
    /* qemu-user accepts RLIMIT_AS but does not apply it: it would bound
     * the emulator too.  Nothing can run out there. */
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &now), 0);
    if (now.rlim_cur != rl.rlim_cur)
        return;
    run_green(spawn_until_refused, NULL);
}
END_TEST

/* More green threads than mprotect guards allow under the default
 * vm.max_map_count, all parked at once, each with a working guard page. */

enum { MANY = 40000 };

static green_t *many[MANY];
static bool overflow_now;

static void *park_then_maybe_overflow(void *arg)
{
    (void)arg;
    green_sleep(INT64_MAX);  /* until cancelled */
    if (overflow_now)
        recurse(0);
    return NULL;
}

/* As many threads as stack_many_guarded, all parked, then one of them
 * overflows: run in a child, whose handler must name that one. */
static size_t many_count(void)
{
    return green__cur->stacks.mprotect_guards ? MANY / 2 : MANY;
}

static void *many_then_overflow(void *arg)
{
    (void)arg;
    size_t n = many_count();
    green_attr_t attr = {.stack_size = GREEN_STACK_MIN, .name = "many"};
    for (size_t i = 0; i < n; i++)
        many[i] = green_spawn_attr(&attr, park_then_maybe_overflow, NULL);
    green_yield();  /* all parked */
    overflow_now = true;
    fprintf(stderr, "victim #%llu\n", (unsigned long long)green_id(many[n / 2]));
    green_cancel(many[n / 2]);
    green_join(many[n / 2], NULL);
    return NULL;
}

START_TEST(stack_many_overflow_named)
{
    if (under_valgrind())
        return;  /* Valgrind reports the write to the guard page itself */
    char text[512], want[96];
    int status = in_child(many_then_overflow, NULL, text, sizeof text);
    unsigned long long victim = 0;
    const char *line = strstr(text, "victim #");  /* ASan may have spoken first */
    ck_assert_msg(line && sscanf(line, "victim #%llu", &victim) == 1, "stderr: %s", text);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "stderr: %s", text);
    snprintf(want, sizeof want, "stack overflow in green thread #%llu 'many'", victim);
    ck_assert_msg(strstr(text, want) != NULL, "stderr: %s", text);
}
END_TEST

GREEN_TEST(stack_many_guarded)
{
    (void)arg;
    /* mprotect guards (no MADV_GUARD_INSTALL, as under qemu-user) cost two
     * mappings a stack, and vm.max_map_count is 65530 by default. */
    size_t n = under_valgrind() ? 2000 : many_count();
    size_t page = green__cur->stacks.page;
    green_attr_t attr = {.stack_size = GREEN_STACK_MIN, .name = "many"};
    for (size_t i = 0; i < n; i++) {
        many[i] = green_spawn_attr(&attr, park_then_maybe_overflow, NULL);
        ck_assert_ptr_nonnull(many[i]);
    }
    green_yield();  /* all parked */
    int pfd[2];
    make_pipe(pfd);
    for (size_t i = 0; i < n; i++) {
        const char *lo = many[i]->stack.lo;
        ck_assert_msg(!kernel_can_read(pfd, lo - page), "thread %zu has no guard page", i);
        ck_assert_msg(!kernel_can_read(pfd, lo - green__cur->stacks.guard),
                      "thread %zu's guard is too short", i);
        if (i % 1000 == 0)
            ck_assert(kernel_can_read(pfd, lo));
    }
    close(pfd[0]);
    close(pfd[1]);
    for (size_t i = 0; i < n; i++)
        green_cancel(many[i]);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(green_join(many[i], NULL), 0);
    return NULL;
}

/* High-water marks: what green_dump and green_stack_used say of how much
 * of its stack a thread used, and the warning near a stack's end.  Each
 * test runs in a process of its own, with a scheduler of its own: a stack
 * of a size no thread had before comes from a new slab, clean, and a
 * thread spawned right after another of its size joined gets that one's
 * stack, reused. */

enum { KIB = 1024 };

/* What ASan's redzones and Valgrind's frames may add to a depth, and the
 * page measure's rounding to a page (64 KiB on some ppc64le and aarch64
 * kernels). */
static unsigned slack_kib(void)
{
    return 64 + (unsigned)(green__cur->stacks.page / KIB);
}

/* The size green_dump gives a stack of stack_size kib: the usable bytes,
 * which are more where a page is larger than the record's share of one. */
static void check_total(unsigned total, unsigned kib)
{
    ck_assert_uint_ge(total, kib);
    ck_assert_uint_lt(total, kib + green__cur->stacks.page / KIB);
}

/* Whether the page measure works here: mincore(2) is Linux's; the POSIX
 * build has the stack pointer's measure alone. */
static bool pages_measured(void)
{
    size_t depth;
    const green_t *self = green_self();
    return green__stack_touched(&green__cur->stacks, self->stack.lo, self, &depth);
}

/* green_dump's line for the thread named name, without its newline. */
static char *dump_line(const char *name)
{
    char *text = dump_text(), want[48];
    snprintf(want, sizeof want, "'%s' ", name);
    char *line = strstr(text, want);
    ck_assert_msg(line != NULL, "no %s in: %s", want, text);
    char *end = strchr(line, '\n');
    if (end)
        *end = '\0';
    char *copy = strdup(line);
    free(text);
    return copy;
}

/* The used and total KiB of a line's "stack U/T KiB"; whether it is a
 * lower bound (">="). */
static bool stack_figures(const char *line, unsigned *used, unsigned *total)
{
    const char *at = strstr(line, " stack ");
    ck_assert_msg(at != NULL, "no stack in: %s", line);
    at += strlen(" stack ");
    bool bound = strncmp(at, ">=", 2) == 0;
    ck_assert_msg(sscanf(at + (bound ? 2 : 0), "%u/%u KiB", used, total) == 2, "line: %s", line);
    return bound;
}

/* Uses n bytes of stack, returns, and parks near the top of its stack
 * until cancelled: only the page measure can see how deep it went. */
static void *deep_then_park(void *arg)
{
    use_stack(*(size_t *)arg);
    green_sleep(INT64_MAX);
    return NULL;
}

GREEN_TEST(stack_high_water_shown)
{
    (void)arg;
    size_t deep = 100 * KIB;
    green_attr_t attr = {.stack_size = 200 * KIB, .name = "deep"};  /* a new size */
    stderr_begin();
    green_t *t = green_spawn_attr(&attr, deep_then_park, &deep);
    green_yield();  /* parked */
    char *line = dump_line("deep");
    char *said = stderr_end();
    unsigned used, total;
    bool bound = stack_figures(line, &used, &total);
    check_total(total, 200);
    ssize_t bytes = green_stack_used(t);
    ck_assert_int_gt(bytes, 0);
    if (pages_measured()) {
        ck_assert_msg(!bound, "line: %s", line);
        ck_assert_uint_ge(used, 100);
        ck_assert_uint_le(used, 100 + slack_kib());
        ck_assert_int_ge(bytes, (ssize_t)deep);
        ck_assert_int_le(bytes, (ssize_t)(used * KIB));
    } else {
        ck_assert_msg(bound, "line: %s", line);  /* its stack pointer's, at the park */
        ck_assert_uint_le(used, slack_kib());
    }
    ck_assert_msg(strstr(said, "came within") == NULL, "stderr: %s", said);  /* half its stack */
    free(said);
    free(line);
    /* The running thread's own figure counts where it is now. */
    ck_assert_int_gt(green_stack_used(green_self()), 0);
    green_cancel(t);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

static void *park_shallow(void *arg)
{
    (void)arg;
    green_sleep(INT64_MAX);
    return NULL;
}

/* A thread that uses little shows little on a clean stack; on the stack a
 * deep thread left, its own figure is a lower bound, and the line says
 * how deep the stack was touched before it. */
GREEN_TEST(stack_high_water_fresh_and_reused)
{
    (void)arg;
    green_attr_t little = {.stack_size = 96 * KIB, .name = "little"};  /* a new size */
    green_t *t = green_spawn_attr(&little, park_shallow, NULL);
    green_yield();
    char *line = dump_line("little");
    unsigned used, total;
    bool bound = stack_figures(line, &used, &total);
    check_total(total, 96);
    ck_assert_msg(!bound || !pages_measured(), "line: %s", line);
    size_t little_most = 24 * KIB + green__cur->stacks.page;  /* a page's rounding */
    ck_assert_uint_le(used * KIB, little_most);
    ck_assert_int_le(green_stack_used(t), (ssize_t)little_most);
    free(line);
    green_cancel(t);
    green_join(t, NULL);

    size_t deep = 100 * KIB;
    green_attr_t attr = {.stack_size = 200 * KIB, .name = "deep"};
    t = green_spawn_attr(&attr, deep_then_park, &deep);
    green_yield();
    green_cancel(t);
    green_join(t, NULL);
    attr.name = "after";
    t = green_spawn_attr(&attr, park_shallow, NULL);  /* on deep's stack */
    green_yield();
    line = dump_line("after");
    bound = stack_figures(line, &used, &total);
    ck_assert_msg(bound, "line: %s", line);
    ck_assert_uint_le(used, 24);
    ck_assert_int_le(green_stack_used(t), 24 * KIB);
    unsigned touched = 0;
    if (pages_measured()) {
        const char *paren = strstr(line, " KiB (");
        ck_assert_msg(paren && sscanf(paren, " KiB (%u touched on its reused stack)", &touched) == 1,
                      "line: %s", line);
        ck_assert_uint_ge(touched, 100);
    }
    free(line);
    green_cancel(t);
    green_join(t, NULL);
    return NULL;
}

/* Near the end of a stack: the margin is an eighth of it, at least 4 KiB,
 * 16 KiB of a 128 KiB stack.  Frames that leave 12 KiB of it, less what
 * the thread's first frames and the yield take, are well within, and far
 * enough from the end for the yield under ASan. */
static size_t near_depth(void)
{
    const green_t *self = green_self();
    return (size_t)((const char *)self - (const char *)self->stack.lo) - 12 * KIB;
}

static void *near_end_at_park(void *arg)
{
    (void)arg;
    use_stack_then_yield(near_depth());
    return NULL;
}

static int count_of(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

/* The thread is named on stderr once, whatever measures see it again. */
static void expect_named_once(green_t *t, const char *said)
{
    char want[96];
    snprintf(want, sizeof want, "libgreen: green thread #%llu 'near' came within ",
             (unsigned long long)green_id(t));
    ck_assert_msg(count_of(said, want) == 1, "stderr: %s", said);
    ck_assert_msg(strstr(said, " KiB of the end of its 1") != NULL, "%s", said);  /* 128 or more */
    ck_assert_msg(strstr(said, " KiB stack (used ") != NULL, "%s", said);
    ck_assert_msg(strstr(said, " KiB): give it a larger stack_size\n") != NULL, "%s", said);
}

GREEN_TEST(stack_near_end_named_once)
{
    (void)arg;
    green_attr_t attr = {.stack_size = 128 * KIB, .name = "near"};
    stderr_begin();
    green_t *t = green_spawn_attr(&attr, near_end_at_park, NULL);
    for (int i = 0; i < 3; i++)  /* it yields twice at its deepest */
        green_yield();
    char *text = dump_text();  /* the page measure sees it too */
    free(text);
    ck_assert_int_ge(green_stack_used(t), 116 * KIB);  /* 128 less 12 */
    char *said = stderr_end();
    expect_named_once(t, said);
    free(said);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

/* Deep between two parks: the stack pointer never shows it, the page
 * measure does, when green_dump asks. */
static void *near_end_between_parks(void *arg)
{
    (void)arg;
    use_stack(near_depth());
    green_sleep(INT64_MAX);
    return NULL;
}

GREEN_TEST(stack_near_end_seen_by_dump)
{
    (void)arg;
    if (!pages_measured())
        return NULL;  /* nothing can see it */
    green_attr_t attr = {.stack_size = 128 * KIB, .name = "near"};
    stderr_begin();
    green_t *t = green_spawn_attr(&attr, near_end_between_parks, NULL);
    green_yield();
    char *first = stderr_end();
    ck_assert_msg(strstr(first, "came within") == NULL, "stderr: %s", first);
    free(first);
    stderr_begin();
    free(dump_text());
    free(dump_text());
    ck_assert_int_ge(green_stack_used(t), 116 * KIB);  /* 128 less 12 */
    char *said = stderr_end();
    expect_named_once(t, said);
    free(said);
    green_cancel(t);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

/* The stacks' line: what the slabs reserve and what of it is resident. */
GREEN_TEST(stack_usage_line)
{
    (void)arg;
    size_t deep = 100 * KIB;
    green_attr_t attr = {.stack_size = 200 * KIB, .name = "deep"};
    green_t *t = green_spawn_attr(&attr, deep_then_park, &deep);
    green_yield();
    size_t reserved, resident;
    green__stack_usage(&green__cur->stacks, &reserved, &resident);
    ck_assert_uint_ge(reserved, 200 * KIB + GREEN_STACK_DEFAULT);
    if (pages_measured()) {
        ck_assert_uint_ge(resident, deep);
        ck_assert_uint_le(resident, reserved);
    } else {
        ck_assert_uint_eq(resident, 0);
    }
    char *text = dump_text(), want[64];
    snprintf(want, sizeof want, "  stacks: %zu KiB reserved, ", reserved / 1024);
    ck_assert_msg(strstr(text, want) != NULL, "dump: %s", text);
    ck_assert_msg(strstr(text, pages_measured() ? " KiB resident\n" : "resident unknown\n"),
                  "dump: %s", text);
    free(text);
    green_cancel(t);
    green_join(t, NULL);
    return NULL;
}

/* green_stack_used's errors. */
START_TEST(stack_used_outside_run)
{
    errno = 0;
    ck_assert_int_eq(green_stack_used(NULL), -1);
    ck_assert_int_eq(errno, EPERM);
}
END_TEST

GREEN_TEST(stack_used_null)
{
    (void)arg;
    errno = 0;
    ck_assert_int_eq(green_stack_used(NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    return NULL;
}

static green_t *elsewhere;

static void *look_across(void *arg)
{
    (void)arg;
    errno = 0;
    ck_assert_int_eq(green_stack_used(elsewhere), -1);
    ck_assert_int_eq(errno, EXDEV);
    return NULL;
}

CORES_TEST(stack_used_other_scheduler, 2)
{
    (void)arg;
    elsewhere = green_self();  /* on scheduler 0 */
    green_t *t = spawn_on(1, look_across, NULL);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

#ifdef GREEN_FAULTS
/* Failure paths that only the test build with fault points reaches (make
 * test-faults), in the suite's case "faults".  fault.h gives the points'
 * controls; GREEN_FAULT_IMPL keeps this file's own calls from being points. */
#define GREEN_FAULT_IMPL
#include "fault.h"

/* The stack cache's own bookkeeping cannot be allocated: ENOMEM, as for
 * any allocation, not the EAGAIN of a stack that cannot be mapped. */
GREEN_TEST(spawn_bookkeeping_enomem)
{
    (void)arg;
    green_attr_t attr = {.stack_size = 3 * GREEN_STACK_MIN};  /* a new size class */
    green__fault_set(GREEN__FAULT_malloc, 1, true, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(green_spawn_attr(&attr, nothing, NULL));
    ck_assert_int_eq(errno, ENOMEM);
    green__fault_set(GREEN__FAULT_mmap, 1, true, ENOMEM);
    ck_assert_ptr_null(green_spawn_attr(&attr, nothing, NULL));
    ck_assert_int_eq(errno, EAGAIN);
    green__fault_clear();
    green_t *t = green_spawn_attr(&attr, nothing, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(green_join(t, NULL), 0);
    return NULL;
}

/* Out of address space for a new slab, the cache unmaps the slabs whose
 * stacks are all free, of another size, and maps again: a 32-bit process
 * that spawned many small threads and joined them can still spawn a
 * default one.  Without that, the spawn failed with EAGAIN. */
GREEN_TEST(full_address_space_gives_back_free_slabs)
{
    (void)arg;
    enum { N = 100 };
    green_t *t[N];
    green_attr_t small = {.stack_size = GREEN_STACK_MIN};
    for (int i = 0; i < N; i++)
        ck_assert_ptr_nonnull(t[i] = green_spawn_attr(&small, nothing, NULL));
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
    unsigned long unmaps = green__cur->stacks.unmaps;
    green__fault_set(GREEN__FAULT_mmap, 1, false, ENOMEM);  /* the next map */
    green_attr_t other = {.stack_size = 3 * GREEN_STACK_MIN};  /* a new size class */
    green_t *u = green_spawn_attr(&other, nothing, NULL);
    green__fault_clear();
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(green_join(u, NULL), 0);
    ck_assert_uint_gt(green__cur->stacks.unmaps, unmaps);
    /* The small size still works: it maps a slab anew. */
    ck_assert_int_eq(green_join(green_spawn_attr(&small, nothing, NULL), NULL), 0);
    return NULL;
}

/* A kernel without MADV_GUARD_INSTALL (EINVAL): guards are made with
 * mprotect, and threads run as before. */
START_TEST(guards_without_madvise)
{
    green__fault_set(GREEN__FAULT_madvise, 1, false, EINVAL);
    ck_assert_int_eq(green_run(nothing, NULL), 0);
    ck_assert_uint_gt(green__fault_calls(GREEN__FAULT_mprotect), 0);
    green__fault_clear();
}
END_TEST

static void *parks(void *arg)
{
    (void)arg;
    green_sleep(INT64_MAX);  /* until cancelled */
    return NULL;
}

/* A slab's guards go in with one process_madvise; where the kernel will
 * not (no pidfd, no process_madvise, or it refuses the advice), one
 * madvise each, and every stack is guarded all the same. */
static unsigned long spawn_guarded(size_t n)
{
    static green_t *t[100];
    green_attr_t attr = {.stack_size = GREEN_STACK_MIN};
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_nonnull(t[i] = green_spawn_attr(&attr, parks, NULL));
    green_yield();
    unsigned long guards_alone = green__fault_calls(GREEN__FAULT_madvise);
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    for (size_t i = 0; i < n; i++) {
        const char *lo = t[i]->stack.lo;
        ck_assert(!kernel_can_read(pfd, lo - green__cur->stacks.page));
        ck_assert(!kernel_can_read(pfd, lo - green__cur->stacks.guard));
        ck_assert(kernel_can_read(pfd, lo));
    }
    close(pfd[0]);
    close(pfd[1]);
    for (size_t i = 0; i < n; i++)
        green_cancel(t[i]);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(green_join(t[i], NULL), 0);
    return guards_alone;
}

static const enum green__fault_point batch_steps[] = {
    GREEN__FAULT_malloc, GREEN__FAULT_pidfd_open, GREEN__FAULT_process_madvise,
};

static void *guards_one_by_one_main(void *arg)
{
    enum green__fault_point p = *(const enum green__fault_point *)arg;
    if (green__cur->stacks.mprotect_guards)
        return NULL;  /* slabs of one: nothing to batch */
    /* The slab's record is the first malloc, the vector the second. */
    if (p == GREEN__FAULT_malloc)
        green__fault_set(p, 2, false, ENOMEM);
    else
        green__fault_set(p, 1, true, EINVAL);
    ck_assert_uint_ge(spawn_guarded(100), 99);  /* the first slab's, less the probe's */
    green__fault_clear();
    return NULL;
}

START_TEST(guards_one_by_one)
{
    if (green__vg_running())
        return;  /* it installs them one by one anyway */
    run_green(guards_one_by_one_main, (void *)&batch_steps[_i]);
}
END_TEST

GREEN_TEST(guards_at_once)
{
    (void)arg;
    if (green__cur->stacks.mprotect_guards || green__vg_running())
        return NULL;
    green__fault_clear();
    ck_assert_uint_eq(spawn_guarded(100), 0);
    ck_assert_uint_gt(green__fault_calls(GREEN__FAULT_process_madvise), 0);
    return NULL;
}
#endif

#ifdef GREEN_FAULTS
/* mincore fails: the page measure is not known, and what is said falls
 * back to the stack pointer's, marked as a lower bound; nothing fails. */
GREEN_TEST(stack_used_without_mincore)
{
    (void)arg;
    if (!pages_measured())
        return NULL;  /* the POSIX build never asks */
    size_t deep = 100 * KIB;
    green_attr_t attr = {.stack_size = 200 * KIB, .name = "deep"};
    green_t *t = green_spawn_attr(&attr, deep_then_park, &deep);
    green_yield();
    green__fault_set(GREEN__FAULT_mincore, 1, true, ENOMEM);
    char *line = dump_line("deep");
    unsigned used, total;
    ck_assert_msg(stack_figures(line, &used, &total), "line: %s", line);
    ck_assert_uint_le(used, slack_kib());
    free(line);
    char *text = dump_text();
    ck_assert_msg(strstr(text, " KiB reserved, resident unknown\n") != NULL, "dump: %s", text);
    free(text);
    ssize_t bytes = green_stack_used(t);
    ck_assert_int_ge(bytes, 0);
    ck_assert_int_lt(bytes, (ssize_t)deep);
    ck_assert_uint_gt(green__fault_calls(GREEN__FAULT_mincore), 0);
    green__fault_clear();
    ck_assert_int_ge(green_stack_used(t), (ssize_t)deep);  /* known again */
    green_cancel(t);
    green_join(t, NULL);
    return NULL;
}

/* A slab's mincore at once is refused (as qemu-user refuses to look at
 * guards): it is asked stack by stack, and says the same. */
GREEN_TEST(stack_usage_stack_by_stack)
{
    (void)arg;
    if (!pages_measured())
        return NULL;
    size_t deep = 100 * KIB;
    green_attr_t attr = {.stack_size = 200 * KIB, .name = "deep"};
    green_t *t = green_spawn_attr(&attr, deep_then_park, &deep);
    green_yield();
    size_t reserved, resident, again;
    green__stack_usage(&green__cur->stacks, &reserved, &resident);
    green__fault_set(GREEN__FAULT_mincore, 1, false, EFAULT);  /* the first slab's */
    green__stack_usage(&green__cur->stacks, &reserved, &again);
    ck_assert_uint_gt(green__fault_calls(GREEN__FAULT_mincore), 2);
    green__fault_clear();
    ck_assert_uint_ge(again, deep);
    ck_assert_uint_eq(again, resident);
    green_cancel(t);
    green_join(t, NULL);
    return NULL;
}
#endif

Suite *stack_suite(void)
{
    Suite *s = suite_create("stack");
    TCase *tc = tcase_create("stack");
    tcase_add_test(tc, stack_default_size);
    tcase_add_test(tc, stack_custom_size);
    tcase_add_test(tc, stack_cache_reuses);
    tcase_add_test(tc, stack_overflow_is_reported);
    tcase_add_test(tc, stray_fault_is_not_an_overflow);
    tcase_add_test(tc, big_frame_is_reported);
    tcase_add_test(tc, stack_exhaustion_fails_cleanly);
    tcase_add_test(tc, stack_address_space_exhausted);
    tcase_add_test(tc, stack_many_guarded);
    tcase_add_test(tc, stack_many_overflow_named);
    tcase_add_test(tc, stack_high_water_shown);
    tcase_add_test(tc, stack_high_water_fresh_and_reused);
    tcase_add_test(tc, stack_near_end_named_once);
    tcase_add_test(tc, stack_near_end_seen_by_dump);
    tcase_add_test(tc, stack_usage_line);
    tcase_add_test(tc, stack_used_outside_run);
    tcase_add_test(tc, stack_used_null);
    tcase_add_test(tc, stack_used_other_scheduler);
    tcase_set_timeout(tc, 20);
    suite_add_tcase(s, tc);
    /* Failure paths, in the fault build only (util.h). */
    TCase *faults = tcase_create("faults");
    add_fault_test(faults, spawn_bookkeeping_enomem);
    add_fault_test(faults, full_address_space_gives_back_free_slabs);
    add_fault_test(faults, guards_without_madvise);
    add_fault_loop_test(faults, guards_one_by_one, 0,
                        (int)(sizeof batch_steps / sizeof batch_steps[0]));
    add_fault_test(faults, guards_at_once);
    add_fault_test(faults, stack_used_without_mincore);
    add_fault_test(faults, stack_usage_stack_by_stack);
    suite_add_tcase(s, faults);
    return s;
}
