/*
 * Hooks that tell AddressSanitizer, ThreadSanitizer and Valgrind about
 * green stacks, and gcov when to write its counts.
 *
 * Each hook is a no-op unless the build uses the tool: ASan is detected
 * from the compiler, Valgrind from the presence of its headers.  The
 * functions are inline so that a plain build pays nothing.
 */
#ifndef GREEN_SANITIZER_H
#define GREEN_SANITIZER_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define GREEN__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GREEN__ASAN 1
#endif
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
/* Where the installed Valgrind has no port (riscv64 in 3.19) valgrind.h
 * defines NVALGRIND and its requests compile to nothing: the no-op hooks
 * say so without unused parameters. */
#ifndef NVALGRIND
#define GREEN__VALGRIND 1
#endif
#endif
#endif

#ifdef GREEN__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

/* Before switching to the stack [lo, lo + size): *save receives this
 * context's fake stack; NULL when the context is leaving for good, so
 * that ASan frees its fake stack. */
static inline void green__asan_start(void **save, const void *lo, size_t size)
{
    __sanitizer_start_switch_fiber(save, lo, size);
}

/* After a switch lands: restores the fake stack saved by the matching
 * green__asan_start, and reports the stack we came from. */
static inline void green__asan_finish(void *save, const void **from_lo,
                                      size_t *from_size)
{
    __sanitizer_finish_switch_fiber(save, from_lo, from_size);
}

/* A reused stack may still carry poison left by frames of a green thread
 * that never returned; clear it. */
static inline void green__asan_unpoison(void *lo, size_t size)
{
    __asan_unpoison_memory_region(lo, size);
}
#else
static inline void green__asan_start(void **save, const void *lo, size_t size)
{
    (void)save, (void)lo, (void)size;
}

static inline void green__asan_finish(void *save, const void **from_lo,
                                      size_t *from_size)
{
    (void)save, (void)from_lo, (void)from_size;
}

static inline void green__asan_unpoison(void *lo, size_t size)
{
    (void)lo, (void)size;
}
#endif

#if defined(__SANITIZE_THREAD__)
#define GREEN__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GREEN__TSAN 1
#endif
#endif

/* ThreadSanitizer follows each green thread as a fiber of its own. */
#ifdef GREEN__TSAN
#include <sanitizer/tsan_interface.h>

static inline void *green__tsan_current(void)
{
    return __tsan_get_current_fiber();
}

static inline void *green__tsan_new(void)
{
    return __tsan_create_fiber(0);
}

static inline void green__tsan_free(void *fiber)
{
    __tsan_destroy_fiber(fiber);
}

/* Just before switching contexts. */
static inline void green__tsan_switch(void *fiber)
{
    __tsan_switch_to_fiber(fiber, 0);
}
#else
static inline void *green__tsan_current(void)
{
    return NULL;
}

static inline void *green__tsan_new(void)
{
    return NULL;
}

static inline void green__tsan_free(void *fiber)
{
    (void)fiber;
}

static inline void green__tsan_switch(void *fiber)
{
    (void)fiber;
}
#endif

#ifdef GREEN__VALGRIND
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>

/* The kernel wrote n bytes at p behind Valgrind's back (a ring's read). */
static inline void green__vg_defined(const void *p, size_t n)
{
    (void)VALGRIND_MAKE_MEM_DEFINED(p, n);
}

static inline unsigned green__vg_stack_register(void *lo, size_t size)
{
    return VALGRIND_STACK_REGISTER(lo, (char *)lo + size);
}

static inline void green__vg_stack_deregister(unsigned id)
{
    VALGRIND_STACK_DEREGISTER(id);
}

/* [p, p + n) may not be touched: a guard region made with madvise
 * (MADV_GUARD_INSTALL), which Valgrind does not see as it sees an
 * mprotect. */
static inline void green__vg_noaccess(const void *p, size_t n)
{
    (void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
}

static inline bool green__vg_running(void)
{
    return RUNNING_ON_VALGRIND;
}
#else
static inline void green__vg_defined(const void *p, size_t n)
{
    (void)p, (void)n;
}

static inline unsigned green__vg_stack_register(void *lo, size_t size)
{
    (void)lo, (void)size;
    return 0;
}

static inline void green__vg_stack_deregister(unsigned id)
{
    (void)id;
}

static inline void green__vg_noaccess(const void *p, size_t n)
{
    (void)p, (void)n;
}

static inline bool green__vg_running(void)
{
    return false;
}
#endif

/* gcov writes a process's counts at exit, which abort() and _exit() skip:
 * a coverage build (GREEN_COVERAGE) writes them here first. */
#ifdef GREEN_COVERAGE
void __gcov_dump(void);
static inline void green__coverage_flush(void)
{
    __gcov_dump();
}
#else
static inline void green__coverage_flush(void)
{
}
#endif

#endif
