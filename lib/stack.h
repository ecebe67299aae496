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

#include <stdbool.h>
#include <stddef.h>

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

#endif
