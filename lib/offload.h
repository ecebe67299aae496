/*
 * The offload pool, for libgreen's own blocking calls (green_getaddrinfo).
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

#include <stdint.h>

struct green__hist;

/* The pool's jobs waiting for a worker now, and the histogram of their
 * waits for one (added to *wait), for green_metrics. */
void green__offload_stats(uint64_t *queued, struct green__hist *wait);

#endif
