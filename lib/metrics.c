/*
 * green_metrics and green_metrics_process (see metrics.h).
 */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "offload.h"
#include "sched.h"

/* Every scheduler that counts, and what the ended ones counted. */
static struct {
    pthread_mutex_t lock;
    struct green__list live;        /* of green__stats */
    size_t nlive;
    struct green__stats ended;
} registry = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The histogram. */

static unsigned bucket_of(uint64_t v)
{
    if (v < 4)
        return (unsigned)v;
    unsigned e = 63 - (unsigned)__builtin_clzll(v);  /* 2 to 63 */
    return 4 * (e - 1) + (unsigned)((v >> (e - 2)) & 3);
}

/* The largest value bucket b holds. */
static uint64_t bucket_top(unsigned b)
{
    if (b < 4)
        return b;
    unsigned e = b / 4 + 1, sub = b % 4;
    uint64_t lo = (uint64_t)(4 + sub) << (e - 2);
    return lo + ((uint64_t)1 << (e - 2)) - 1;
}

void green__hist_add(struct green__hist *h, uint64_t v)
{
    green__count(&h->bucket[bucket_of(v)]);
    green__count(&h->n);
    if (v > atomic_load_explicit(&h->max, memory_order_relaxed))
        green__gauge(&h->max, v);
}

void green__hist_merge(struct green__hist *to, const struct green__hist *h)
{
    for (unsigned b = 0; b < GREEN__HIST_BUCKETS; b++)
        to->bucket[b] += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
    to->n += atomic_load_explicit(&h->n, memory_order_relaxed);
    uint64_t max = atomic_load_explicit(&h->max, memory_order_relaxed);
    if (max > to->max)
        to->max = max;
}

/* The value below which a share per_mille / 1000 of h's values fall (the
 * top of its bucket, never above the largest seen); 0 when empty.  The
 * counts are summed afresh, not taken from h->n, which another thread may
 * have moved on since the buckets were read. */
static uint64_t hist_at(const struct green__hist *h, unsigned per_mille)
{
    uint64_t n = 0;
    for (unsigned b = 0; b < GREEN__HIST_BUCKETS; b++)
        n += h->bucket[b];
    if (n == 0)
        return 0;
    uint64_t want = (n * per_mille + 999) / 1000, seen = 0;
    unsigned b = 0;
    while ((seen += h->bucket[b]) < want)
        b++;
    uint64_t top = bucket_top(b);
    return top < h->max ? top : h->max;
}

/* Sums. */

static uint64_t load(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void counts_sum(struct green__stats *to, const struct green__stats *st)
{
    to->spawned += load(&st->spawned);
    to->switches += load(&st->switches);
    to->wakeups += load(&st->wakeups);
    for (int k = 0; k < GREEN__WAIT_KINDS; k++)
        to->parks[k] += load(&st->parks[k]);
    to->poller_waits += load(&st->poller_waits);
    to->poller_events += load(&st->poller_events);
    to->timers_armed += load(&st->timers_armed);
    uint64_t deepest = load(&st->stack_deepest);
    if (deepest > to->stack_deepest)
        to->stack_deepest = deepest;  /* the deepest, not a sum */
    green__hist_merge(&to->wake_delay, &st->wake_delay);
}

static void gauges_sum(struct green__gauges *to, const struct green__gauges *g)
{
    to->running += load(&g->running);
    to->runnable += load(&g->runnable);
    to->parked += load(&g->parked);
    to->done += load(&g->done);
    to->timers += load(&g->timers);
    to->fds += load(&g->fds);
}

/* The scheduler's list. */

void green__stats_start(struct green__stats *st)
{
    pthread_mutex_lock(&registry.lock);
    green__list_push(&registry.live, &st->node);
    registry.nlive++;
    pthread_mutex_unlock(&registry.lock);
}

void green__stats_end(struct green__stats *st)
{
    pthread_mutex_lock(&registry.lock);
    green__list_remove(&registry.live, &st->node);
    registry.nlive--;
    counts_sum(&registry.ended, st);
    pthread_mutex_unlock(&registry.lock);
}

void green__stats_after_fork(struct green__stats *mine)
{
    pthread_mutex_init(&registry.lock, NULL);
    registry.live = (struct green__list){NULL, NULL};
    registry.nlive = 0;
    if (mine) {
        green__list_push(&registry.live, &mine->node);
        registry.nlive = 1;
    }
}

/* Filling the caller's struct. */

static void fill_counts(green_metrics_t *m, const struct green__stats *c)
{
    m->spawned = c->spawned;
    m->switches = c->switches;
    m->wakeups = c->wakeups;
    m->parks_io = c->parks[GREEN__WAIT_IO];
    m->parks_sleep = c->parks[GREEN__WAIT_SLEEP];
    m->parks_join = c->parks[GREEN__WAIT_JOIN];
    m->parks_chan = c->parks[GREEN__WAIT_CHAN];
    m->parks_sync = c->parks[GREEN__WAIT_SYNC];
    m->parks_offload = c->parks[GREEN__WAIT_OFFLOAD];
    m->parks_other = c->parks[GREEN__WAIT_OTHER];
    m->wake_delay_samples = c->wake_delay.n;
    m->wake_delay_p50_ns = hist_at(&c->wake_delay, 500);
    m->wake_delay_p99_ns = hist_at(&c->wake_delay, 990);
    m->wake_delay_max_ns = c->wake_delay.max;
    m->poller_waits = c->poller_waits;
    m->poller_events = c->poller_events;
    m->timers_armed = c->timers_armed;
    m->stack_used_max = c->stack_deepest;
}

static void fill_gauges(green_metrics_t *m, const struct green__gauges *g)
{
    m->running = g->running;
    m->runnable = g->runnable;
    m->parked = g->parked;
    m->done = g->done;
    m->timers = g->timers;
    m->fds = g->fds;
}

static void fill_offload(green_metrics_t *m)
{
    struct green__hist wait;
    memset(&wait, 0, sizeof wait);
    green__offload_stats(&m->offload_queued, &wait);
    m->offload_jobs = wait.n;
    m->offload_wait_p50_ns = hist_at(&wait, 500);
    m->offload_wait_p99_ns = hist_at(&wait, 990);
    m->offload_wait_max_ns = wait.max;
}

/* Copies what the caller's struct (not NULL) has room for: 0 or
 * -EINVAL. */
static int hand_over(green_metrics_t *m, const green_metrics_t *full)
{
    size_t first = offsetof(green_metrics_t, running) + sizeof m->running;
    if (m->size < first)
        return -EINVAL;
    size_t n = m->size < sizeof *full ? m->size : sizeof *full;
    memcpy((char *)m + sizeof m->size, (const char *)full + sizeof m->size,
           n - sizeof m->size);
    m->size = n;
    return 0;
}

/* s's states; running: one of its threads runs (the caller's). */
static void gauges_of(const struct green__sched *s, struct green__gauges *g, bool running)
{
    green__gauge(&g->running, running);
    green__gauge(&g->runnable, s->nrunq);
    green__gauge(&g->parked, s->nlive - s->nrunq - running);
    green__gauge(&g->done, s->nthreads - s->nlive);
    green__gauge(&g->timers, s->timers.n);
    green__gauge(&g->fds, s->poller.nowned);
}

/* Adds s's stack memory to m's: s's own thread, or another holding the
 * lock that keeps s's slabs where they are. */
static void stacks_add(green_metrics_t *m, struct green__sched *s, bool own)
{
    size_t reserved, resident;
    if (!own)
        pthread_mutex_lock(&s->stacks.slabs_lock);
    green__stack_usage(&s->stacks, &reserved, &resident);
    if (!own)
        pthread_mutex_unlock(&s->stacks.slabs_lock);
    m->stack_reserved += reserved;
    m->stack_resident += resident;
}

void green__stats_publish(struct green__sched *s)
{
    gauges_of(s, &s->stats.now, false);
}

/* Fills full from the counts and states summed, and gives the caller
 * what its struct has room for: 0, or -1 and errno. */
static int report(green_metrics_t *m, green_metrics_t *full, const struct green__stats *c,
                  const struct green__gauges *g)
{
    fill_counts(full, c);
    fill_gauges(full, g);
    fill_offload(full);
    int err = hand_over(m, full);
    return err ? green__fail(-err) : 0;
}

int green_metrics(green_metrics_t *m)
{
    struct green__sched *s = green__cur;
    if (!m)
        return green__fail(EINVAL);
    if (!s)
        return green__fail(EPERM);
    green_metrics_t full;
    memset(&full, 0, sizeof full);
    struct green__stats c;
    memset(&c, 0, sizeof c);
    counts_sum(&c, &s->stats);
    struct green__gauges g;
    gauges_of(s, &g, true);
    stacks_add(&full, s, true);
    full.schedulers = 1;
    return report(m, &full, &c, &g);
}

/* A scheduler's states: the caller's own now, another's as it last
 * published them. */
static void gauges_add(struct green__gauges *to, const struct green__stats *st)
{
    struct green__sched *me = green__cur;
    if (me && st == &me->stats) {
        struct green__gauges g;
        gauges_of(me, &g, true);
        gauges_sum(to, &g);
    } else {
        gauges_sum(to, &st->now);
    }
}

int green_metrics_process(green_metrics_t *m)
{
    if (!m)
        return green__fail(EINVAL);
    green_metrics_t full;
    memset(&full, 0, sizeof full);
    struct green__stats c;
    memset(&c, 0, sizeof c);
    struct green__gauges g;
    memset(&g, 0, sizeof g);
    pthread_mutex_lock(&registry.lock);
    counts_sum(&c, &registry.ended);
    for (struct green__node *n = registry.live.first; n; n = n->next) {
        struct green__stats *st = green__container_of(n, struct green__stats, node);
        counts_sum(&c, st);
        gauges_add(&g, st);
        struct green__sched *s = green__container_of(st, struct green__sched, stats);
        stacks_add(&full, s, s == green__cur);
    }
    full.schedulers = registry.nlive;
    pthread_mutex_unlock(&registry.lock);
    return report(m, &full, &c, &g);
}
