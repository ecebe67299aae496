/*
 * The table of the C library's calls that libgreen makes around the hook
 * (lib/sys.h; lib/routed.h lists them).  It starts with the addresses the
 * linker gives, which are the C library's unless something interposes
 * them.  When libgreen is loaded, each entry that libgreen-hook
 * interposes is replaced with the C library's own definition, so that a
 * hook loaded before libgreen, or preloaded, is passed by.  Other
 * interposers stay in the way, as they mean to: the sanitizers'
 * interceptors (ThreadSanitizer follows fds and the wake-ups through them
 * in read, write and close) and Valgrind's.
 */
#include <dlfcn.h>
#include <string.h>
#ifndef GREEN_POSIX_ONLY
#include <sys/epoll.h>  /* for epoll_wait, which the POSIX build has not */
#endif
#include <fcntl.h>
#include <unistd.h>

#define GREEN_SYS_IMPL
#include <stdbool.h>

#include "sys.h"

/* Each entry starts as the linker's address of the call. */
#define GREEN__SYS_START(reach, point, ret, name, params, args) \
    GREEN__IN_TABLE_##reach(.name = name,)
struct green__sys green__sys = {GREEN__ROUTED(GREEN__SYS_START)};

/* The table's entries by name, for the look-up. */
#define GREEN__SYS_NAMED(reach, point, ret, name, params, args) \
    GREEN__IN_TABLE_##reach({#name, (void **)&green__sys.name},)
static const struct {
    const char *name;
    void **slot;
} entries[] = {GREEN__ROUTED(GREEN__SYS_NAMED)};

/* Whether the definition at fn is in a shared object whose file name
 * starts with prefix. */
static bool defined_in(void *fn, const char *prefix)
{
    Dl_info info;
    if (!dladdr(fn, &info) || !info.dli_fname)
        return false;
    const char *base = strrchr(info.dli_fname, '/');
    return strncmp(base ? base + 1 : info.dli_fname, prefix, strlen(prefix)) == 0;
}

/* A handle of the C library, or NULL where libgreen is linked statically
 * with it.  It is found by what it defines, not by its name, which every
 * C library spells its own way (glibc's libc.so.6; musl's is the dynamic
 * linker, /lib/ld-musl-x86_64.so.1).  dladdr is asked where dladdr itself
 * is: in the C library (in libdl.so.2 before glibc 2.34, which depends on
 * it), and neither the hook nor ASan, TSan or Valgrind interpose it.
 * Through that object's handle, dlsym searches the object and what it
 * depends on, in which no hook is.  RTLD_NEXT would not do: it searches
 * what was loaded after the caller, which is the hook when a program
 * links libgreen before it, and everything after the program when
 * libgreen is linked into it statically. */
static void *open_libc(void)
{
    Dl_info info;
    if (!dladdr((void *)dladdr, &info) || !info.dli_fname)
        return NULL;
    return dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
}

size_t green__sys_pass_by(const char *prefix)
{
    void *libc = open_libc(), *p;
    if (!libc)
        return 0;  /* linked statically: the addresses are the C library's */
    size_t passed = 0;
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        if (defined_in(*entries[i].slot, prefix) && (p = dlsym(libc, entries[i].name))) {
            *entries[i].slot = p;
            passed++;
        }
    dlclose(libc);
    return passed;
}

__attribute__((constructor)) static void pass_by_the_hook(void)
{
    (void)green__sys_pass_by("libgreen-hook");
}
