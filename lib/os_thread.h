/* The OS threads libgreen starts itself: the offload pool's workers, the
 * signal dispatcher and the stall detector's watchdog. */
#ifndef GREEN_OS_THREAD_H
#define GREEN_OS_THREAD_H

/* Starts a detached OS thread running fn(arg) with every signal blocked:
 * libgreen's own threads leave signals to the program's.  0 or -errno. */
int green__os_thread(void *(*fn)(void *), void *arg);

#endif
