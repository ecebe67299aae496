/*
 * Stacks for green threads.
 *
 * Stacks are carved from slabs: one anonymous mapping holds many stacks
 * of one size, each with a guard region below it.  Where the kernel has
 * MADV_GUARD_INSTALL (Linux 6.13 and later) the guards do not split the
 * mapping, so a slab of 64 stacks costs one entry of vm.max_map_count;
 * elsewhere each guard is made with mprotect, which splits the mapping,
 * and a slab holds one stack.  Free stacks wait in per-size lists for the
 * next spawn; beyond the GREEN__STACK_WARM most recently freed of a size,
 * their memory is given back to the kernel: a stack in a shared slab
 * keeps its mapping and guard, a slab of one is unmapped, which also gives
 * back its two entries of vm.max_map_count.
 */
#ifndef GREEN_STACK_H
#define GREEN_STACK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Free stacks of a size that keep their memory; older ones release it. */
#define GREEN__STACK_WARM 64

/* The bytes a slab of small stacks spans. */
#define GREEN__SLAB_BYTES ((size_t)16 << 20)

/* The guard region below each stack: large enough that a frame far bigger
 * than a page (a 32 KiB buffer on the stack) past the end of a stack lands
 * in it, not in the stack below.  It costs no memory: never touched, and
 * with MADV_GUARD_INSTALL not even a mapping of its own. */
#define GREEN__GUARD_BYTES ((size_t)64 * 1024)

struct green__slab;

struct green__stack {
    void *lo;                  /* lowest usable byte; the guard is just below */
    size_t size;               /* usable bytes from lo, whole pages */
    struct green__slab *slab;  /* the mapping it was carved from */
    /* A thread has used it since its memory was last given back (or
     * mapped): its resident pages may be an earlier thread's. */
    bool reused;
};

/* The free stacks of one size, most recently freed last.  Those below
 * `clean` have given their memory back. */
struct green__stack_class {
    size_t size;
    struct green__stack *free;
    size_t n, clean;
    size_t cap;                /* room for every stack carved: total */
    size_t total;
};

struct green__stack_cache {
    size_t page;
    size_t guard;              /* the guard region's bytes, whole pages */
    bool mprotect_guards;      /* no MADV_GUARD_INSTALL: slabs of one */
    struct green__stack_class *classes;
    size_t nclasses;
    struct green__slab *slabs;
    /* Held while slabs changes, and by green_metrics_process while it
     * measures another OS thread's slabs. */
    pthread_mutex_t slabs_lock;
    /* Counters, for tests and benchmarks. */
    unsigned long maps, unmaps, releases;
};

/* Forces mprotect guards, as on a kernel without MADV_GUARD_INSTALL; for
 * tests of that path. */
extern bool green__stack_force_mprotect;

void green__stack_cache_init(struct green__stack_cache *c);
void green__stack_cache_fini(struct green__stack_cache *c);

/* Gets a stack of at least size usable bytes (rounded up to pages).
 * Returns 0, -EAGAIN when no mapping could be made (address space,
 * vm.max_map_count or RLIMIT_AS exhausted), or -ENOMEM. */
int green__stack_get(struct green__stack_cache *c, size_t size,
                     struct green__stack *out);

/* Returns a stack to its free list. */
void green__stack_put(struct green__stack_cache *c, const struct green__stack *s);

/* High-water marks (lib/stackuse.c has the thread's side).
 *
 * The bytes from the lowest resident page of [lo, top) up to top: how
 * deep the stack whose top is there has been touched, to the page, by any
 * thread since its memory was last given back, in *depth.  Asks
 * mincore(2), in slices, from lo up, so a deep stack costs few calls.
 * Returns false where it cannot be known: mincore failed, or there is
 * none (the POSIX build). */
bool green__stack_touched(const struct green__stack_cache *c, const void *lo,
                          const void *top, size_t *depth);

/* The bytes of stack (guards left out) in the cache's slabs, and of them
 * resident: one mincore(2) slice after another over each slab.  resident
 * is 0 where it cannot be known (the POSIX build, mincore failed). */
void green__stack_usage(const struct green__stack_cache *c, size_t *reserved,
                        size_t *resident);

/* Where a thread comes too near its stack's end to be safe: within the
 * last eighth of the usable bytes below its record, and at least 4 KiB. */
static inline size_t green__stack_margin(size_t usable)
{
    size_t eighth = usable / 8;
    return eighth > 4096 ? eighth : 4096;
}

/* The stack pointer, for the high-water mark a thread leaves when it
 * parks: read from the register where the compiler lets us name it (the
 * frame address would force a frame pointer on the park path). */
#if defined(__x86_64__)
static inline __attribute__((always_inline)) uintptr_t green__sp(void)
{
    uintptr_t sp;
    __asm__("mov %%rsp, %0" : "=r"(sp));
    return sp;
}
#elif defined(__aarch64__)
static inline __attribute__((always_inline)) uintptr_t green__sp(void)
{
    uintptr_t sp;
    __asm__("mov %0, sp" : "=r"(sp));
    return sp;
}
#else
static inline __attribute__((always_inline)) uintptr_t green__sp(void)
{
    return (uintptr_t)__builtin_frame_address(0);
}
#endif

struct green;

/* The running thread t parks or yields with its stack pointer deeper
 * than ever before: keeps where it is now (a call below the park's, so
 * the next park as deep does not call again), and names t on stderr,
 * once, if that is within the margin of its stack's end. */
void green__stack_deeper(struct green *t);

/* The bytes of its stack t has used at most, as far as can be told: the
 * deepest page it touched when its stack came to it clean, else the
 * deepest its stack pointer was when it parked or yielded (or is now,
 * for the running thread), which is less than it may have used.  Names
 * t, once, if the page it touched is within the margin.  t is on the
 * caller's scheduler. */
size_t green__stack_used(const struct green *t);

/* Writes what green_dump says of t's stack (" stack 12/256 KiB") into
 * buf, and names t as green__stack_used does. */
void green__stack_describe(const struct green *t, char *buf, size_t n);

#endif
