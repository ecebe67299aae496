/*
 * Stacks for green threads: anonymous mappings with a PROT_NONE guard page
 * below them, and a per-scheduler cache of free stacks so that a warm
 * spawn calls neither mmap nor munmap.
 */
#ifndef GREEN_STACK_H
#define GREEN_STACK_H

#include <stddef.h>

/* How many free stacks a cache keeps before it unmaps. */
#define GREEN__STACK_CACHE 64

struct green__stack {
    void *lo;      /* lowest usable byte; the guard page is just below */
    size_t size;   /* usable bytes from lo, a multiple of the page size */
    unsigned vg;   /* Valgrind's id for the registered stack, or 0 */
};

struct green__stack_cache {
    size_t page;                                 /* the page size */
    size_t n;                                    /* cached stacks */
    struct green__stack free[GREEN__STACK_CACHE];
    unsigned long maps, unmaps;                  /* counters, for tests */
};

void green__stack_cache_init(struct green__stack_cache *c);
void green__stack_cache_fini(struct green__stack_cache *c);

/* Rounds size up to whole pages. */
size_t green__stack_round(const struct green__stack_cache *c, size_t size);

/* Gets a stack of exactly green__stack_round(size) usable bytes, from the
 * cache when it has one.  Returns 0, or -EAGAIN when no mapping could be
 * made (address space, vm.max_map_count or RLIMIT_AS exhausted). */
int green__stack_get(struct green__stack_cache *c, size_t size,
                     struct green__stack *out);

/* Returns a stack to the cache, or unmaps it when the cache is full. */
void green__stack_put(struct green__stack_cache *c, const struct green__stack *s);

/* The guard page of s: [lo - page, lo). */
static inline int green__stack_in_guard(const struct green__stack *s,
                                        size_t page, const void *addr)
{
    const char *a = addr, *lo = s->lo;
    return a < lo && a >= lo - page;
}

#endif
