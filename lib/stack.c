/*
 * Stacks: slabs, guard pages, free lists.
 *
 * A slab is one mapping cut into n strides of (guard region + stack).  The
 * slab records are malloc'd, outside the mapping, so that releasing a
 * free stack's pages loses nothing.  Slabs are unmapped only when the
 * scheduler ends: their address space costs nothing resident once the
 * stacks in them have given their pages back.
 *
 * This file's write and close go through the routed-call table, around
 * libgreen-hook (routed.h).
 */
#include "stack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#ifndef GREEN_POSIX_ONLY
#include <sys/syscall.h>
#endif

#include "sanitizer.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

#if !defined(MADV_GUARD_INSTALL) && !defined(GREEN_POSIX_ONLY)
#define MADV_GUARD_INSTALL 102  /* Linux 6.13; older headers lack it */
#endif

bool green__stack_force_mprotect;

struct green__slab {
    struct green__slab *prev, *next;
    char *base;
    size_t bytes;
    size_t n;                  /* stacks in it */
    size_t nfree;              /* of them on a free list: counted only when
                                  the address space runs out */
    unsigned vg[];             /* Valgrind's id of each stack registered */
};

/* Whether this kernel can install guard pages without splitting mappings,
 * asked on a page mapped for the purpose.  madvise saying yes is not
 * enough: an emulator such as qemu-user accepts advice it does not act on.
 * A real guard makes the kernel fault on the page, so write(2) from it to
 * a pipe must fail with EFAULT.  The answer is the kernel's, so it is kept
 * for the process; a probe that could not finish (out of fds, say) is
 * asked again by the next scheduler. */
#ifndef GREEN_POSIX_ONLY
static bool have_guard_install(size_t page)
{
    static _Atomic int known;  /* 0: not yet; 1: yes; -1: no */
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k)
        return k > 0;
    void *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    bool ok = false, sure = false;
    int fds[2];
    if (madvise(p, page, MADV_GUARD_INSTALL) < 0) {
        sure = errno == EINVAL;  /* a kernel without it */
    } else if (pipe2(fds, O_CLOEXEC) == 0) {
        ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
        sure = true;
        close(fds[0]);
        close(fds[1]);
    }
    munmap(p, page);
    if (sure)
        atomic_store_explicit(&known, ok ? 1 : -1, memory_order_relaxed);
    return ok;
}
#else
static bool have_guard_install(size_t page)
{
    (void)page;
    return false;  /* POSIX guards with mprotect alone */
}
#endif

void green__stack_cache_init(struct green__stack_cache *c)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *c = (struct green__stack_cache){
        .page = page,
        .guard = (GREEN__GUARD_BYTES + page - 1) & ~(page - 1),
        .mprotect_guards = green__stack_force_mprotect || !have_guard_install(page),
    };
    pthread_mutex_init(&c->slabs_lock, NULL);
}

static __attribute__((noinline)) struct green__stack_class *
class_new(struct green__stack_cache *c, size_t size)
{
    struct green__stack_class *cl = realloc(c->classes, (c->nclasses + 1) * sizeof *cl);
    if (!cl)
        return NULL;
    c->classes = cl;
    cl = &cl[c->nclasses++];
    *cl = (struct green__stack_class){.size = size};
    return cl;
}

/* On the path of every spawn and exit: the lookup stays inline, and most
 * programs have one class. */
static inline struct green__stack_class *class_of(struct green__stack_cache *c, size_t size)
{
    for (size_t i = 0; i < c->nclasses; i++)
        if (c->classes[i].size == size)
            return &c->classes[i];
    return class_new(c, size);
}

static int class_reserve(struct green__stack_class *cl, size_t n)
{
    if (n <= cl->cap)
        return 0;
    size_t cap = cl->cap ? cl->cap * 2 : 64;
    while (cap < n)
        cap *= 2;
    struct green__stack *free_ = realloc(cl->free, cap * sizeof *free_);
    if (!free_)
        return -ENOMEM;
    cl->free = free_;
    cl->cap = cap;
    return 0;
}

#ifndef GREEN_POSIX_ONLY
static int install_guard(const struct green__stack_cache *c, char *addr)
{
    int r = c->mprotect_guards ? mprotect(addr, c->guard, PROT_NONE)
                               : madvise(addr, c->guard, MADV_GUARD_INSTALL);
    return r == 0 ? 0 : -EAGAIN;
}
#else
static int install_guard(const struct green__stack_cache *c, char *addr)
{
    return mprotect(addr, c->guard, PROT_NONE) == 0 ? 0 : -EAGAIN;
}
#endif

/* Installs the guards of n strides from base with one process_madvise
 * call for them all: a madvise per guard costs about 1.3 us here, the
 * vector about 0.8 us a guard, since most of a call's cost is its own.
 * Returns how many it installed, from the first: 0 where the kernel has
 * no process_madvise or does not take this advice through it (before
 * Linux 6.13), and the rest are installed one by one. */
static size_t install_guards_at_once(const struct green__stack_cache *c, char *base,
                                     size_t stride, size_t n)
{
#if defined(SYS_pidfd_open) && defined(SYS_process_madvise) && !defined(GREEN_POSIX_ONLY)
    /* Valgrind 3.19 does not know the calls: spare its warnings. */
    if (c->mprotect_guards || n < 2 || green__vg_running())
        return 0;
    struct iovec *v = malloc(n * sizeof *v);
    if (!v)
        return 0;
    for (size_t i = 0; i < n; i++)
        v[i] = (struct iovec){base + i * stride, c->guard};
    ssize_t done = -1;
    int pidfd = green__fault_errno(GREEN__FAULT_pidfd_open) ? -1
                : (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (pidfd >= 0) {
        if (!green__fault_errno(GREEN__FAULT_process_madvise))
            done = syscall(SYS_process_madvise, pidfd, v, n, MADV_GUARD_INSTALL, 0);
        close(pidfd);
    }
    free(v);
    return done > 0 ? (size_t)done / c->guard : 0;
#else
    (void)c, (void)base, (void)stride, (void)n;
    return 0;
#endif
}

static void slab_unmap(struct green__stack_cache *c, struct green__slab *slab);

/* Marks the slabs whose stacks are all free, takes those stacks off the
 * free lists, and returns how many slabs it marked. */
static size_t take_free_slabs(struct green__stack_cache *c)
{
    for (struct green__slab *sl = c->slabs; sl; sl = sl->next)
        sl->nfree = 0;
    for (size_t k = 0; k < c->nclasses; k++)
        for (size_t i = 0; i < c->classes[k].n; i++)
            c->classes[k].free[i].slab->nfree++;
    size_t marked = 0;
    for (struct green__slab *sl = c->slabs; sl; sl = sl->next)
        marked += sl->nfree == sl->n;
    for (size_t k = 0; k < c->nclasses; k++) {
        struct green__stack_class *cl = &c->classes[k];
        size_t kept = 0, clean = 0;
        for (size_t i = 0; i < cl->n; i++) {
            if (cl->free[i].slab->nfree == cl->free[i].slab->n) {
                cl->total--;
                continue;
            }
            clean += i < cl->clean;
            cl->free[kept++] = cl->free[i];
        }
        cl->n = kept;
        cl->clean = clean;
    }
    return marked;
}

/* Out of address space (a 32-bit process, RLIMIT_AS): unmaps every slab
 * whose stacks are all free, of whatever size, so that a stack of another
 * size can be mapped.  Whether it unmapped any. */
static bool release_free_slabs(struct green__stack_cache *c)
{
    if (take_free_slabs(c) == 0)
        return false;
    for (struct green__slab *sl = c->slabs, *next; sl; sl = next) {
        next = sl->next;
        if (sl->nfree == sl->n)
            slab_unmap(c, sl);
    }
    return true;
}

/* A slab's mapping.  Linux is told that it holds stacks, and to reserve no
 * swap for it (most of it is never touched); POSIX has neither flag. */
#ifndef GREEN_POSIX_ONLY
static char *map_slab(size_t bytes)
{
    return mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
}
#else
static char *map_slab(size_t bytes)
{
    return mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}
#endif

/* Maps a slab of stacks of cl's size and puts all but one on cl's free
 * list; *out gets that one. */
static int slab_new(struct green__stack_cache *c, struct green__stack_class *cl,
                    struct green__stack *out)
{
    size_t stride = cl->size + c->guard;
    size_t n = c->mprotect_guards || stride >= GREEN__SLAB_BYTES / 2 ? 1 : GREEN__SLAB_BYTES / stride;
    if (class_reserve(cl, cl->total + n) < 0)
        return -ENOMEM;
    struct green__slab *slab = malloc(sizeof *slab + n * sizeof slab->vg[0]);
    if (!slab)
        return -ENOMEM;
    char *base = map_slab(n * stride);
    if (base == MAP_FAILED && release_free_slabs(c))
        base = map_slab(n * stride);
    if (base == MAP_FAILED) {
        free(slab);
        return -EAGAIN;
    }
    for (size_t i = install_guards_at_once(c, base, stride, n); i < n; i++) {
        if (install_guard(c, base + i * stride) < 0) {
            munmap(base, n * stride);
            free(slab);
            return -EAGAIN;
        }
    }
    *slab = (struct green__slab){.next = c->slabs, .base = base, .bytes = n * stride, .n = n};
    pthread_mutex_lock(&c->slabs_lock);
    if (c->slabs)
        c->slabs->prev = slab;
    c->slabs = slab;
    pthread_mutex_unlock(&c->slabs_lock);
    c->maps++;
    cl->total += n;
    for (size_t i = 0; i < n; i++) {
        /* Valgrind sees a guard made by madvise as memory like any other:
         * an overflow into it would go unreported, and the leak check of
         * a process that exits with the slab mapped (a child forked in a
         * green thread) would read it word by word, each read a fault
         * (seconds a slab). */
        green__vg_noaccess(base + i * stride, c->guard);
        slab->vg[i] = green__vg_stack_register(base + i * stride + c->guard, cl->size);
    }
    /* Hand out the lowest; the rest wait, the next lowest first out. */
    for (size_t i = n; i-- > 1;)
        cl->free[cl->n++] =
            (struct green__stack){base + i * stride + c->guard, cl->size, slab, false};
    cl->clean = cl->n;  /* never touched: nothing to release */
    *out = (struct green__stack){base + c->guard, cl->size, slab, false};
    return 0;
}

static void slab_unmap(struct green__stack_cache *c, struct green__slab *slab)
{
    pthread_mutex_lock(&c->slabs_lock);
    if (slab->prev)
        slab->prev->next = slab->next;
    else
        c->slabs = slab->next;
    if (slab->next)
        slab->next->prev = slab->prev;
    pthread_mutex_unlock(&c->slabs_lock);
    for (size_t i = 0; i < slab->n; i++)
        green__vg_stack_deregister(slab->vg[i]);
    munmap(slab->base, slab->bytes);
    c->unmaps++;
    free(slab);
}

int green__stack_get(struct green__stack_cache *c, size_t size,
                     struct green__stack *out)
{
    size = (size + c->page - 1) & ~(c->page - 1);
    struct green__stack_class *cl = class_of(c, size);
    if (!cl)
        return -ENOMEM;
    if (cl->n == 0)
        return slab_new(c, cl, out);
    *out = cl->free[--cl->n];
    if (cl->clean > cl->n)
        cl->clean = cl->n;
    green__asan_unpoison(out->lo, size);
    return 0;
}

/* The oldest warm stack of cl gives its memory back. */
static void release_oldest(struct green__stack_cache *c, struct green__stack_class *cl)
{
    struct green__stack *oldest = &cl->free[cl->clean];
    c->releases++;
    if (oldest->slab->n > 1) {
        /* It shares its slab: give back the pages, keep the guard. */
        madvise(oldest->lo, cl->size, MADV_DONTNEED);
        oldest->reused = false;
        cl->clean++;
        return;
    }
    /* A slab of its own: unmap it, mapping entries and all. */
    slab_unmap(c, oldest->slab);
    memmove(oldest, oldest + 1, (cl->n - cl->clean - 1) * sizeof *oldest);
    cl->n--;
    cl->total--;
}

void green__stack_put(struct green__stack_cache *c, const struct green__stack *s)
{
    struct green__stack_class *cl = class_of(c, s->size);
    /* Room for every stack of the class was reserved when its slab was
     * made, so neither lookup nor push can fail here. */
    struct green__stack *f = &cl->free[cl->n++];
    *f = *s;
    f->reused = true;
    if (cl->n - cl->clean > GREEN__STACK_WARM)
        release_oldest(c, cl);
}

/* High-water marks. */

/* How many pages mincore is asked about at once: a slice of 2 MiB with
 * 4 KiB pages, its vector small enough for the smallest green stack. */
#define SLICE_PAGES 512

/* Fills vec[i] for the n pages from the page-aligned from: bit 0 set for
 * a resident page.  Returns 0 or -1.  mincore(2) is Linux's and the BSDs',
 * not POSIX's: the POSIX build never knows. */
#ifndef GREEN_POSIX_ONLY
/* Whether mincore gives one byte for each of our pages, asked once for
 * the process on the page at from.  Under qemu-user with a guest page
 * larger than the host's (QEMU_PAGESIZE=65536, as make test-ppc64le runs)
 * the call reaches the host's mincore, which writes a byte for each host
 * page: sixteen for one of ours, past the end of the vector.  So no slice
 * is asked about before this says yes, into a vector with room for it. */
static bool one_byte_a_page(const char *from, size_t page)
{
    static _Atomic int known;  /* 0: not yet; 1: yes; -1: no */
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k)
        return k > 0;
    unsigned char v[256];
    memset(v, 0xfe, sizeof v);
    if (mincore((void *)from, page, v) < 0)
        return false;  /* asked again next time */
    k = v[1] == 0xfe ? 1 : -1;
    atomic_store_explicit(&known, k, memory_order_relaxed);
    return k > 0;
}

static int resident(const char *from, size_t n, size_t page, unsigned char *vec)
{
    if (green__fault_errno(GREEN__FAULT_mincore) || !one_byte_a_page(from, page))
        return -1;
    return mincore((void *)from, n * page, vec);
}
#else
static int resident(const char *from, size_t n, size_t page, unsigned char *vec)
{
    (void)from, (void)n, (void)page, (void)vec;
    return -1;
}
#endif

bool green__stack_touched(const struct green__stack_cache *c, const void *lo,
                          const void *top, size_t *depth)
{
    unsigned char vec[SLICE_PAGES];
    const char *p = lo, *end = (const char *)((uintptr_t)top & ~(uintptr_t)(c->page - 1));
    while (p < end) {
        size_t n = (size_t)(end - p) / c->page;
        n = n < SLICE_PAGES ? n : SLICE_PAGES;
        if (resident(p, n, c->page, vec) < 0)
            return false;
        for (size_t i = 0; i < n; i++) {
            if (vec[i] & 1) {
                *depth = (size_t)((const char *)top - (p + i * c->page));
                return true;
            }
        }
        p += n * c->page;
    }
    /* Nothing resident below the page the top is in. */
    *depth = (size_t)((const char *)top - end);
    return true;
}

/* The resident pages of [base, base + bytes), or -1 if mincore failed. */
static long count_resident(const struct green__stack_cache *c, const char *base, size_t bytes)
{
    unsigned char vec[SLICE_PAGES];
    long count = 0;
    for (size_t pages = bytes / c->page, at = 0; at < pages;) {
        size_t n = pages - at < SLICE_PAGES ? pages - at : SLICE_PAGES;
        if (resident(base + at * c->page, n, c->page, vec) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            count += vec[i] & 1;
        at += n;
    }
    return count;
}

/* The resident pages of a slab: asked at once, guards and all; where
 * that is refused (qemu-user will not look at a PROT_NONE guard), stack
 * by stack.  -1 if mincore fails even so. */
static long slab_resident(const struct green__stack_cache *c, const struct green__slab *sl)
{
    long count = count_resident(c, sl->base, sl->bytes);
    if (count >= 0)
        return count;
    size_t stride = sl->bytes / sl->n;
    count = 0;
    for (size_t i = 0; i < sl->n; i++) {
        long one = count_resident(c, sl->base + i * stride + c->guard, stride - c->guard);
        if (one < 0)
            return -1;
        count += one;
    }
    return count;
}

void green__stack_usage(const struct green__stack_cache *c, size_t *reserved,
                        size_t *resident_)
{
    size_t r = 0, in = 0;
    bool known = true;
    for (const struct green__slab *sl = c->slabs; sl; sl = sl->next) {
        r += sl->bytes - sl->n * c->guard;
        long pages = known ? slab_resident(c, sl) : -1;
        known = pages >= 0;
        in += known ? (size_t)pages * c->page : 0;
    }
    *reserved = r;
    *resident_ = known ? in : 0;
}

void green__stack_cache_fini(struct green__stack_cache *c)
{
    while (c->slabs)
        slab_unmap(c, c->slabs);
    for (size_t i = 0; i < c->nclasses; i++)
        free(c->classes[i].free);
    free(c->classes);
    c->classes = NULL;
    c->nclasses = 0;
    pthread_mutex_destroy(&c->slabs_lock);
}
