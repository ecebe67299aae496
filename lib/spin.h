/*
 * A spin lock for the short critical sections of the objects that green
 * threads of several schedulers of one run share (channels, mutexes,
 * condition variables, semaphores).
 *
 * It is one int, so that the public types that hold one stay statically
 * initialisable, and an uncontended lock is one atomic exchange.  A holder
 * never parks; the longest thing it does is post to another scheduler's
 * inbox, which may write an eventfd.  With more schedulers than CPUs a
 * holder may lose its CPU, so a waiter that has spun a while yields its
 * own.
 */
#ifndef GREEN_SPIN_H
#define GREEN_SPIN_H

#include <sched.h>

static inline void green__spin_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static inline void green__spin_lock(int *l)
{
    unsigned spins = 0;
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
            if (++spins % 64 == 0)
                sched_yield();
            else
                green__spin_pause();
        }
    }
}

static inline void green__spin_unlock(int *l)
{
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

#endif
