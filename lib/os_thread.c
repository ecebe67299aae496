/* The OS threads libgreen starts itself (see os_thread.h). */
#include <pthread.h>
#include <signal.h>

#include "os_thread.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

int green__os_thread(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);  /* the new thread inherits it */
    pthread_t t;
    int err = pthread_create(&t, &attr, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return -err;
}
