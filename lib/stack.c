/*
 * Stacks: mmap'd, guarded, cached.
 *
 * A stack is one mapping: a guard page made PROT_NONE with mprotect, then
 * the usable bytes.  The guard splits the mapping in two, so every stack
 * costs two entries of vm.max_map_count; when that runs out mmap or
 * mprotect fails and the spawn fails with EAGAIN, the process lives on.
 */
#include "stack.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sanitizer.h"

void green__stack_cache_init(struct green__stack_cache *c)
{
    c->page = (size_t)sysconf(_SC_PAGESIZE);
    c->n = 0;
    c->maps = c->unmaps = 0;
}

size_t green__stack_round(const struct green__stack_cache *c, size_t size)
{
    return (size + c->page - 1) & ~(c->page - 1);
}

static int stack_map(struct green__stack_cache *c, size_t size,
                     struct green__stack *out)
{
    char *map = mmap(NULL, size + c->page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                     -1, 0);
    if (map == MAP_FAILED)
        return -EAGAIN;
    if (mprotect(map, c->page, PROT_NONE) < 0) {
        munmap(map, size + c->page);
        return -EAGAIN;
    }
    out->lo = map + c->page;
    out->size = size;
    out->vg = green__vg_stack_register(out->lo, size);
    c->maps++;
    return 0;
}

static void stack_unmap(struct green__stack_cache *c, const struct green__stack *s)
{
    green__vg_stack_deregister(s->vg);
    munmap((char *)s->lo - c->page, s->size + c->page);
    c->unmaps++;
}

int green__stack_get(struct green__stack_cache *c, size_t size,
                     struct green__stack *out)
{
    size = green__stack_round(c, size);
    /* Search from the most recently freed: its pages are the likeliest to
     * be resident and in cache. */
    for (size_t i = c->n; i-- > 0;) {
        if (c->free[i].size != size)
            continue;
        *out = c->free[i];
        c->free[i] = c->free[--c->n];
        green__asan_unpoison(out->lo, out->size);
        return 0;
    }
    return stack_map(c, size, out);
}

void green__stack_put(struct green__stack_cache *c, const struct green__stack *s)
{
    if (c->n < GREEN__STACK_CACHE)
        c->free[c->n++] = *s;
    else
        stack_unmap(c, s);
}

void green__stack_cache_fini(struct green__stack_cache *c)
{
    while (c->n > 0)
        stack_unmap(c, &c->free[--c->n]);
}
