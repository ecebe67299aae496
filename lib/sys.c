/*
 * The table of the C library's calls that libgreen makes around the hook
 * (lib/sys.h).  It starts with the addresses the linker gives, which are
 * the C library's unless something interposes them.  When libgreen is
 * loaded, each entry that libgreen-hook interposes is replaced with the C
 * library's own definition, so that a hook loaded before libgreen, or
 * preloaded, is passed by.  Other interposers stay in the way, as they
 * mean to: the sanitizers' interceptors (ThreadSanitizer follows fds and
 * the wake-ups through them in read, write and close) and Valgrind's.
 */
#include <dlfcn.h>
#include <string.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <unistd.h>

#define GREEN_SYS_IMPL
#include <stdbool.h>

#include "sys.h"

struct green__sys green__sys = {
    read, write, readv, writev, recv, send, recvfrom, sendto, recvmsg, sendmsg,
    accept4, connect, socket, fcntl, close, poll, epoll_wait, getaddrinfo,
};

#ifdef __GLIBC__
/* Whether the definition at fn is libgreen-hook's. */
static bool hooked(void *fn)
{
    Dl_info info;
    if (!dladdr(fn, &info) || !info.dli_fname)
        return false;
    const char *base = strrchr(info.dli_fname, '/');
    return strncmp(base ? base + 1 : info.dli_fname, "libgreen-hook", 13) == 0;
}

#define LOOK_UP(name) \
    if (hooked(*(void **)&green__sys.name) && (p = dlsym(libc, #name)) != NULL) \
        *(void **)&green__sys.name = p

__attribute__((constructor)) static void look_up_libc(void)
{
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD), *p;
    if (!libc)
        return;  /* linked statically: the addresses are the C library's */
    LOOK_UP(read); LOOK_UP(write); LOOK_UP(readv); LOOK_UP(writev);
    LOOK_UP(recv); LOOK_UP(send); LOOK_UP(recvfrom); LOOK_UP(sendto);
    LOOK_UP(recvmsg); LOOK_UP(sendmsg); LOOK_UP(accept4); LOOK_UP(connect);
    LOOK_UP(socket); LOOK_UP(fcntl); LOOK_UP(close); LOOK_UP(poll);
    LOOK_UP(epoll_wait); LOOK_UP(getaddrinfo);
    dlclose(libc);
}
#endif
