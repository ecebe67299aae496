/*
 * The offload pool, for libgreen's own blocking calls (green_getaddrinfo),
 * and the OS threads libgreen starts.
 */
#ifndef GREEN_OFFLOAD_H
#define GREEN_OFFLOAD_H

/* green_offload, returning 0 or -errno, and drop(arg) once nobody wants
 * the outcome: whenever it fails, drop runs at once if fn never started
 * (the call failed before queueing it, or the wait ended first), and
 * after fn, on the worker, if it was running.  On success the caller keeps
 * arg.  drop may be NULL. */
int green__offload(void *(*fn)(void *), void *arg, void **result,
                   void (*drop)(void *arg));

/* Starts a detached OS thread running fn(arg) with every signal blocked:
 * libgreen's own threads leave signals to the program's.  0 or -errno. */
int green__os_thread(void *(*fn)(void *), void *arg);

#endif
