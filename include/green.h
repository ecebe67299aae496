/*
 * libgreen: stackful green threads for C.
 *
 * One green thread per connection, calls shaped like read(2) and write(2)
 * that park the green thread instead of blocking the process, and a
 * scheduler per OS thread that runs them.  Every call that can fail returns
 * -1 (or NULL) and sets errno; docs/api.md lists each errno.
 */
#ifndef GREEN_H
#define GREEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define GREEN_API __attribute__((visibility("default")))
#else
#define GREEN_API
#endif

#define GREEN_VERSION_MAJOR 0
#define GREEN_VERSION_MINOR 1
#define GREEN_VERSION_PATCH 0

/* A green thread.  The handle stays valid until the thread is joined, or,
 * for a detached thread, until it returns; every handle becomes invalid
 * when green_run returns. */
typedef struct green green_t;

/* Attributes for green_spawn_attr.  Zero-initialise it and set only what
 * you need: a zero field means the default, and fields added later will
 * keep that rule. */
typedef struct green_attr {
    size_t stack_size;  /* usable stack in bytes; 0 means GREEN_STACK_DEFAULT */
    const char *name;   /* copied; at most GREEN_NAME_MAX - 1 bytes; NULL = "" */
} green_attr_t;

#define GREEN_STACK_DEFAULT ((size_t)256 * 1024)
#define GREEN_STACK_MIN ((size_t)16 * 1024)
#define GREEN_STACK_MAX ((size_t)1024 * 1024 * 1024)
#define GREEN_NAME_MAX 32

/* Events for green_wait. */
#define GREEN_IN 0x1
#define GREEN_OUT 0x2

/* "No deadline", for green_deadline. */
#define GREEN_NEVER ((int64_t)-1)

/* Running green threads. */
GREEN_API int green_run(void *(*main)(void *), void *arg);
GREEN_API green_t *green_spawn(void *(*fn)(void *), void *arg);
GREEN_API green_t *green_spawn_attr(const green_attr_t *attr,
                                    void *(*fn)(void *), void *arg);
GREEN_API int green_join(green_t *t, void **result);
GREEN_API int green_detach(green_t *t);
GREEN_API int green_cancel(green_t *t);
GREEN_API void green_yield(void);
GREEN_API green_t *green_self(void);
GREEN_API const char *green_name(const green_t *t);
GREEN_API uint64_t green_id(const green_t *t);

/* Time: milliseconds on the monotonic clock. */
GREEN_API int64_t green_now(void);
GREEN_API int green_sleep(int64_t ms);
GREEN_API int64_t green_deadline(int64_t at);

/* I/O with the POSIX signatures; they park the calling green thread
 * instead of blocking the OS thread. */
GREEN_API ssize_t green_read(int fd, void *buf, size_t n);
GREEN_API ssize_t green_write(int fd, const void *buf, size_t n);
GREEN_API ssize_t green_readv(int fd, const struct iovec *iov, int iovcnt);
GREEN_API ssize_t green_writev(int fd, const struct iovec *iov, int iovcnt);
GREEN_API ssize_t green_recv(int fd, void *buf, size_t n, int flags);
GREEN_API ssize_t green_send(int fd, const void *buf, size_t n, int flags);
GREEN_API ssize_t green_recvfrom(int fd, void *buf, size_t n, int flags,
                                 struct sockaddr *addr, socklen_t *addrlen);
GREEN_API ssize_t green_sendto(int fd, const void *buf, size_t n, int flags,
                               const struct sockaddr *addr, socklen_t addrlen);
GREEN_API int green_accept(int fd, struct sockaddr *addr, socklen_t *addrlen);
GREEN_API int green_connect(int fd, const struct sockaddr *addr,
                            socklen_t addrlen);
GREEN_API int green_wait(int fd, int events);
GREEN_API int green_close(int fd);

/* Diagnostics. */
GREEN_API void green_dump(FILE *out);

#ifdef __cplusplus
}
#endif

#endif /* GREEN_H */
