/*
 * A run of several schedulers (see cores.h): starting them on their OS
 * threads, placing threads, the deadlock rule, and the end.
 */
#include "cores.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

/* More schedulers than this is a mistake, not a machine. */
enum { MAX_SCHEDULERS = 1024 };

/* Starting. */

int green__cores_ready(struct green__cores *c, struct green__sched *s, int err)
{
    pthread_mutex_lock(&c->lock);
    if (s) {
        c->scheds[s->index] = s;
        if (s->index == 0)
            c->first_wake.thread = s->root;
    }
    if (err < 0 && c->start_err == 0)
        c->start_err = err;
    c->started++;
    pthread_cond_broadcast(&c->changed);
    while (c->started < c->n)
        pthread_cond_wait(&c->changed, &c->lock);
    err = c->start_err;
    pthread_mutex_unlock(&c->lock);
    return err;
}

/* Schedulers that could not be started count as started, failed. */
static void start_failed(struct green__cores *c, size_t count, int err)
{
    pthread_mutex_lock(&c->lock);
    if (c->start_err == 0)
        c->start_err = err;
    c->started += count;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

/* The CPUs the process may run on (at least 1 counted), how many they
 * are, pinning the calling thread to the i-th of them (round robin), and
 * giving it all of them back.  POSIX has no affinity: there the count is
 * of the CPUs online, and a pin does nothing. */
#ifndef GREEN_POSIX_ONLY
static size_t allowed_cpus(green__cpus_t *set)
{
    CPU_ZERO(set);
    if (sched_getaffinity(0, sizeof *set, set) < 0)
        return 1;  /* GCOVR_EXCL_LINE: asking about ourselves cannot fail */
    size_t n = (size_t)CPU_COUNT(set);
    return n ? n : 1;
}

static size_t cpu_count(const green__cpus_t *set)
{
    return (size_t)CPU_COUNT(set);
}

/* set was read before any of the run's threads was pinned. */
static void pin(const green__cpus_t *set, size_t i)
{
    cpu_set_t one;
    size_t n = (size_t)CPU_COUNT(set), k = n ? i % n : 0;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, set) && k-- == 0) {
            CPU_SET(cpu, &one);
            break;
        }
    /* A failure leaves the scheduler where the kernel puts it. */
    (void)pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

static void unpin(const green__cpus_t *set)
{
    (void)pthread_setaffinity_np(pthread_self(), sizeof *set, set);
}
#else
static size_t allowed_cpus(green__cpus_t *set)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    set->count = n > 0 ? (size_t)n : 1;
    return set->count;
}

static size_t cpu_count(const green__cpus_t *set)
{
    return set->count;
}

static void pin(const green__cpus_t *set, size_t i)
{
    (void)set, (void)i;
}

static void unpin(const green__cpus_t *set)
{
    (void)set;
}
#endif

struct seat {
    struct green__cores *c;
    unsigned index;
};

static void *sched_thread(void *arg)
{
    struct seat *seat = arg;
    if (seat->c->pin)
        pin(&seat->c->cpus, seat->index);
    /* Its result is the first's: a deadlock or a failed start is the
     * run's. */
    (void)green__run_sched(seat->c, seat->index, NULL, NULL);
    return NULL;
}

/* Starts schedulers 1 to n - 1; those that cannot be started count as
 * failed.  How many OS threads there are to join. */
static size_t start_others(struct green__cores *c, struct seat *seats)
{
    for (size_t i = 1; i < c->n; i++) {
        seats[i] = (struct seat){c, (unsigned)i};
        int err = pthread_create(&c->threads[i], NULL, sched_thread, &seats[i]);
        if (err) {
            start_failed(c, c->n - i, -err);
            return i - 1;
        }
    }
    return c->n - 1;
}

static struct green__cores *cores_new(size_t n, bool pinned, const green__cpus_t *cpus)
{
    struct green__cores *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->scheds = calloc(n, sizeof *c->scheds);
    c->threads = calloc(n, sizeof *c->threads);
    if (!c->scheds || !c->threads || green__shared_fds_init(c) < 0) {
        free(c->scheds);
        free(c->threads);
        free(c);
        return NULL;
    }
    c->n = n;
    c->pin = pinned;
    c->cpus = *cpus;
    c->pid = getpid();
    c->spin = n <= cpu_count(cpus);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
    return c;
}

static void cores_free(struct green__cores *c)
{
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->changed);
    green__shared_fds_fini(c);
    free(c->scheds);
    free(c->threads);
    free(c);
}

static int run_several(size_t n, bool pinned, const green__cpus_t *cpus, void *(*main)(void *),
                       void *arg)
{
    struct green__cores *c = cores_new(n, pinned, cpus);
    struct seat *seats = calloc(n, sizeof *seats);
    if (!c || !seats) {
        free(seats);
        if (c)
            cores_free(c);
        return -ENOMEM;
    }
    size_t threads = start_others(c, seats);
    int err = green__run_sched(c, 0, main, arg);
    /* In a child forked meanwhile, the other OS threads are not there. */
    for (size_t i = 1; i <= threads && getpid() == c->pid; i++)
        pthread_join(c->threads[i], NULL);
    cores_free(c);
    free(seats);
    return err;
}

int green__cores_run(const green_run_attr_t *attr, void *(*main)(void *), void *arg)
{
    green__cpus_t cpus;
    size_t ncpus = allowed_cpus(&cpus);
    size_t n = attr && attr->schedulers ? attr->schedulers : ncpus;
    bool pinned = attr && attr->pin;
    if (n > MAX_SCHEDULERS)
        return -EINVAL;
    if (pinned)
        pin(&cpus, 0);
    int err = n == 1 ? green__run_sched(NULL, 0, main, arg)
                     : run_several(n, pinned, &cpus, main, arg);
    if (pinned)  /* the caller's mask again */
        unpin(&cpus);
    return err;
}

int green_run_attr(const green_run_attr_t *attr, void *(*main)(void *), void *arg)
{
    if (!main)
        return green__fail(EINVAL);
    if (green__cur || green__loop_here())
        return green__fail(EPERM);
    int caller_errno = errno;
    int err = green__cores_run(attr, main, arg);
    if (err < 0)
        return green__fail(-err);
    errno = caller_errno;
    return 0;
}

int green_sched_index(void)
{
    struct green__sched *s = green__cur;
    return s ? (int)s->index : green__fail(EPERM);
}

int green_sched_count(void)
{
    struct green__sched *s = green__cur;
    return !s ? green__fail(EPERM) : s->cores ? (int)s->cores->n : 1;
}

/* Placing. */

struct green__sched *green__cores_pick(struct green__sched *s)
{
    struct green__cores *c = s->cores;
    struct green__sched *a = c->scheds[green__random(s) % c->n];
    struct green__sched *b = c->scheds[green__random(s) % c->n];
    size_t la = atomic_load_explicit(&a->load, memory_order_relaxed);
    size_t lb = atomic_load_explicit(&b->load, memory_order_relaxed);
    return lb < la ? b : a;
}

/* Waiting for the others. */

/* How long an idle scheduler looks at its inbox before it sleeps: about
 * what waking a sleeping OS thread costs, twice over. */
enum { SPIN_NS = 50 * 1000 };

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

bool green__cores_spin(struct green__sched *s)
{
    if (!s->cores->spin)
        return false;
    int64_t start = green__now_ns(), now = start;
    do {
        for (int i = 0; i < 64; i++) {
            if (green__inbox_pending(&s->inbox))
                return true;
            cpu_relax();
        }
        now = green__now_ns();
        /* Past the first part, on a loaded machine the scheduler that is
         * to answer may be waiting for this CPU. */
        if (now - start > SPIN_NS / 4)
            sched_yield();
    } while (now - start < SPIN_NS);
    return false;
}

/* Deadlock. */

/* Every scheduler is idle or ended, so none touches its threads: each
 * inbox's lock, which its scheduler took last when it went idle, makes
 * what it wrote visible here. */
static void report(struct green__cores *c)
{
    fprintf(stderr, "libgreen: deadlock: every green thread of every scheduler is parked "
                    "and no fd or timer can wake one\n");
    for (size_t i = 0; i < c->n; i++) {
        struct green__sched *x = c->scheds[i];
        pthread_mutex_lock(&x->inbox.lock);
        if (!x->inbox.closed) {
            fprintf(stderr, " scheduler %zu:\n", i);
            green__dump(x, stderr);
        }
        pthread_mutex_unlock(&x->inbox.lock);
    }
}

void green__cores_deliver_deadlock(struct green__remote *r)
{
    struct green__sched *s = green__container_of(r, struct green__sched, deadlock_msg);
    (void)green__deadlock(s, true);
}

bool green__cores_idle(struct green__sched *s)
{
    struct green__cores *c = s->cores;
    if (green__inbox_idle(&s->inbox) != c->n)
        return false;
    atomic_store(&c->deadlocked, true);
    report(c);
    for (size_t i = 0; i < c->n; i++)
        if (c->scheds[i] != s)
            (void)green__inbox_send(&c->scheds[i]->inbox, &c->scheds[i]->deadlock_msg);
    green__inbox_busy(&s->inbox);
    (void)green__deadlock(s, true);
    return true;
}

/* The end. */

void green__cores_end_others(struct green__sched *s)
{
    struct green__cores *c = s->cores;
    for (size_t i = 1; i < c->n; i++)
        (void)green__inbox_send(&c->scheds[i]->inbox, &c->scheds[i]->end_msg);
}

static void ending_describe(const struct green__wait *w, char *buf, size_t n)
{
    const struct green__cores *c = w->thread->sched->cores;
    snprintf(buf, n, "main returned; waiting for %zu schedulers to end",
             c->n - 1 - atomic_load(&c->ended));
}

static const struct green__waitop ending_op = {.unlink = NULL, .describe = ending_describe};

bool green__cores_end(struct green__sched *s)
{
    struct green__cores *c = s->cores;
    if (s->index == 0 && atomic_load(&c->ended) < c->n - 1) {
        struct green__wait w = {.op = &ending_op};
        (void)green__park_shielded(s, &w);  /* until the last one posts first_wake */
        return false;
    }
    if (!green__inbox_close(&s->inbox)) {
        green__inbox_drain(&s->inbox);  /* a late request: carry it out first */
        return false;
    }
    if (s->index == 0) {
        pthread_mutex_lock(&c->lock);
        c->all_ended = true;
        pthread_cond_broadcast(&c->changed);
        pthread_mutex_unlock(&c->lock);
        return true;
    }
    if (atomic_fetch_add(&c->ended, 1) + 1 == c->n - 1)
        green__inbox_post(&c->scheds[0]->inbox, &c->first_wake);
    atomic_fetch_add(&c->idle, 1);  /* after the post: an ended scheduler wakes nobody */
    return true;
}

void green__cores_wait_all_ended(struct green__cores *c)
{
    pthread_mutex_lock(&c->lock);
    while (!c->all_ended)
        pthread_cond_wait(&c->changed, &c->lock);
    pthread_mutex_unlock(&c->lock);
}
