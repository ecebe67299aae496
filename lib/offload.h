/*
 * The offload pool, for libgreen's own blocking calls (green_getaddrinfo),
 * and the OS threads libgreen starts.
 */
#ifndef GREEN_OFFLOAD_H
#define GREEN_OFFLOAD_H

/* green_offload, returning 0 or -errno, and drop(arg) once nobody wants
 * the outcome: when the caller's wait ended (cancellation, deadline)
 * before fn finished, drop runs after fn, on the worker, or at once if fn
 * never started.  On the other outcomes the caller keeps arg.  drop may
 * be NULL. */
int green__offload(void *(*fn)(void *), void *arg, void **result,
                   void (*drop)(void *arg));

/* Starts a detached OS thread running fn(arg) with every signal blocked:
 * libgreen's own threads leave signals to the program's.  0 or -errno. */
int green__os_thread(void *(*fn)(void *), void *arg);

#endif
