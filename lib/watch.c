/*
 * The stall detector (see watch.h).
 */
#include "watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "os_thread.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* The watchdog, one per process, and the schedulers it watches. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;         /* a scheduler came or went */
    struct green__list watched;     /* of green__watch */
    bool running;
    int64_t tick_ms;                /* the shortest slow_ms / 4, at least 1 */
} dog = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {NULL, NULL}, false, 0};

/* GREEN_SLOW_MS: a positive number of ms, or 0 for off. */
static int64_t slow_ms_wanted(void)
{
    const char *v = getenv("GREEN_SLOW_MS");
    if (!v || !*v)
        return 0;
    char *end;
    errno = 0;
    long long ms = strtoll(v, &end, 10);
    return *end || errno || ms <= 0 ? 0 : (int64_t)ms;
}

/* The report's first line; the seq of the stall it describes. */
static uint_fast64_t report(struct green__watch *w, int64_t ms)
{
    uint64_t words[GREEN__WATCH_NAME_WORDS];
    uint_fast64_t seq, id;
    /* The seqlock's read side: a copy made while no switch wrote.  The
     * acquire loads keep the second look at seq after the copy (no
     * fences: TSan does not follow them). */
    do {
        seq = atomic_load_explicit(&w->seq, memory_order_acquire);
        id = atomic_load_explicit(&w->id, memory_order_acquire);
        for (int i = 0; i < GREEN__WATCH_NAME_WORDS; i++)
            words[i] = atomic_load_explicit(&w->name[i], memory_order_acquire);
    } while ((seq & 1) || seq != atomic_load_explicit(&w->seq, memory_order_acquire));
    char name[GREEN_NAME_MAX];
    memcpy(name, words, sizeof name);
    name[GREEN_NAME_MAX - 1] = '\0';
    fprintf(stderr, "libgreen: green thread #%llu '%s' has run %lld ms without parking "
                    "(GREEN_SLOW_MS=%lld): every other green thread of its OS thread waits\n",
            (unsigned long long)id, name, (long long)ms, (long long)w->slow_ms);
    return seq;
}

/* Under the lock: one look at w. */
static void sample(struct green__watch *w, int64_t now)
{
    uint_fast64_t seq = atomic_load_explicit(&w->seq, memory_order_acquire);
    if (seq != w->seen || atomic_load_explicit(&w->idle, memory_order_relaxed)) {
        w->seen = seq;
        w->since = now;
        w->reported = false;
        return;
    }
    if (!w->reported && now - w->since >= w->slow_ms) {
        green__watch_stack_write(w, report(w, now - w->since));
        w->reported = true;
    }
}

static void *watchdog(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&dog.lock);
    for (;;) {
        if (green__list_empty(&dog.watched)) {
            pthread_cond_wait(&dog.changed, &dog.lock);
            continue;
        }
        int64_t now = green_now();
        for (struct green__node *n = dog.watched.first; n; n = n->next)
            sample(green__container_of(n, struct green__watch, node), now);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long ns = until.tv_nsec + (long)dog.tick_ms * 1000000;
        until.tv_sec += ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&dog.changed, &dog.lock, &until);
    }
    return NULL;
}

/* A child of fork() has no watchdog and watches nothing. */
static void forget_in_child(void)
{
    pthread_mutex_init(&dog.lock, NULL);
    pthread_cond_init(&dog.changed, NULL);
    dog.watched = (struct green__list){NULL, NULL};
    dog.running = false;
}

static void at_fork(void)
{
    pthread_atfork(NULL, NULL, forget_in_child);
}

void green__watch_start(struct green__watch *w, const green_t *first)
{
    w->on = false;
    int64_t ms = slow_ms_wanted();
    if (ms == 0)
        return;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, at_fork);
    w->slow_ms = ms;
    atomic_store_explicit(&w->seq, 0, memory_order_relaxed);
    atomic_store_explicit(&w->idle, false, memory_order_relaxed);
    green__watch_switch(w, first);
    pthread_mutex_lock(&dog.lock);
    if (!dog.running && green__os_thread(watchdog, NULL) == 0)
        dog.running = true;
    if (dog.running) {
        int64_t tick = ms / 4 > 0 ? ms / 4 : 1;
        if (green__list_empty(&dog.watched) || tick < dog.tick_ms)
            dog.tick_ms = tick;
        w->seen = atomic_load_explicit(&w->seq, memory_order_relaxed);
        w->since = green_now();
        w->reported = false;
        green__watch_stack_start(w);
        green__list_push(&dog.watched, &w->node);
        w->on = true;
        pthread_cond_signal(&dog.changed);
    }
    pthread_mutex_unlock(&dog.lock);
}

void green__watch_stop(struct green__watch *w)
{
    if (!w->on)
        return;
    pthread_mutex_lock(&dog.lock);
    green__list_remove(&dog.watched, &w->node);
    pthread_mutex_unlock(&dog.lock);
    w->on = false;
}

void green__watch_switch(struct green__watch *w, const green_t *t)
{
    uint64_t words[GREEN__WATCH_NAME_WORDS];
    memcpy(words, t->name, sizeof words);
    /* The write side: release stores keep the odd seq before the copy and
     * the copy before the even one (plain moves on x86-64). */
    uint_fast64_t seq = atomic_load_explicit(&w->seq, memory_order_relaxed);
    atomic_store_explicit(&w->seq, seq + 1, memory_order_relaxed);  /* odd: writing */
    atomic_store_explicit(&w->id, t->id, memory_order_release);
    for (int i = 0; i < GREEN__WATCH_NAME_WORDS; i++)
        atomic_store_explicit(&w->name[i], words[i], memory_order_release);
    atomic_store_explicit(&w->seq, seq + 2, memory_order_release);
}

void green__watch_idle(struct green__watch *w, bool idle)
{
    atomic_store_explicit(&w->idle, idle, memory_order_relaxed);
    if (!idle) {
        uint_fast64_t seq = atomic_load_explicit(&w->seq, memory_order_relaxed);
        atomic_store_explicit(&w->seq, seq + 2, memory_order_release);
    }
}
