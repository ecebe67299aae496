/*
 * The offload pool: worker OS threads that run blocking calls for green
 * threads (green_offload, like asyncio.to_thread).
 *
 * One pool per process, shared by every scheduler.  Workers start lazily,
 * one whenever a job finds none idle and the pool is below its size, and
 * an idle worker leaves after IDLE_EXIT_S, so a program that stops
 * offloading stops holding threads.  A job carries the green thread that
 * waits for it and that thread's inbox: the worker posts there, and the
 * scheduler wakes the thread.
 *
 * A waiter whose wait ends first (cancellation, its deadline) marks the
 * job abandoned under the pool's lock; the worker then runs fn to the end
 * all the same and frees the job itself.  The lock orders the two, so the
 * worker never touches a scheduler whose waiter has gone.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "offload.h"
#include "os_thread.h"
#include "sched.h"
#include "fault.h"  /* last: in a test build it turns calls into fault points */

enum { IDLE_EXIT_S = 10, POOL_MAX = 1024 };

struct job {
    void *(*fn)(void *);
    void *arg;
    void *result;
    void (*drop)(void *arg);      /* see offload.h */
    struct green__node node;      /* in the pool's queue */
    struct green__inbox *inbox;   /* the waiter's scheduler's */
    struct green__remote remote;
    bool started, done, abandoned; /* under the pool's lock */
    int64_t queued_ns;            /* when it was queued */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct green__list queue;     /* of job, oldest first */
    size_t size;                  /* at most this many workers; 0: default */
    size_t workers, idle, queued;
    struct green__hist wait;      /* jobs' waits for a worker, in ns */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER};

/* asyncio's default: enough for blocking calls beside the cores. */
static size_t default_size(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n = (cpus > 0 ? (size_t)cpus : 1) + 4;
    return n < 32 ? n : 32;
}

static size_t pool_size(void)
{
    return pool.size ? pool.size : default_size();
}

/* Under the lock: the next job, or NULL once idle too long. */
static struct job *next_job(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += IDLE_EXIT_S;
    pool.idle++;
    while (green__list_empty(&pool.queue)) {
        if (pthread_cond_timedwait(&pool.work, &pool.lock, &until) == ETIMEDOUT &&
            green__list_empty(&pool.queue)) {
            pool.idle--;
            return NULL;
        }
    }
    pool.idle--;
    pool.queued--;
    struct job *j = green__container_of(pool.queue.first, struct job, node);
    green__list_remove(&pool.queue, &j->node);
    j->started = true;
    green__hist_add(&pool.wait, (uint64_t)(green__now_ns() - j->queued_ns));
    return j;
}

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&pool.lock);
    struct job *j;
    /* A pool made smaller loses its extra workers as they finish a job. */
    while (pool.workers <= pool_size() && (j = next_job()) != NULL) {
        pthread_mutex_unlock(&pool.lock);
        j->result = j->fn(j->arg);
        pthread_mutex_lock(&pool.lock);
        j->done = true;
        if (j->abandoned) {
            if (j->drop)
                j->drop(j->arg);
            free(j);
        }
        else
            green__inbox_post(j->inbox, &j->remote);
    }
    pool.workers--;
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

/* Under the lock: queues j, and starts a worker for it unless an idle one
 * will take it.  0, or -errno when no worker exists to run it. */
static int submit(struct job *j)
{
    if (pool.queued >= pool.idle && pool.workers < pool_size()) {
        int err = green__os_thread(worker, NULL);
        if (err == 0)
            pool.workers++;
        else if (pool.workers == 0)
            return -EAGAIN;
    }
    j->queued_ns = green__now_ns();
    green__list_push(&pool.queue, &j->node);
    pool.queued++;
    pthread_cond_signal(&pool.work);
    return 0;
}

/* A child of fork() has none of the workers: it starts afresh, without
 * the parent's jobs, whose waiters are not in it. */
static void forget_in_child(void)
{
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.work, NULL);
    pool.queue = (struct green__list){NULL, NULL};
    pool.workers = pool.idle = pool.queued = 0;
}

static void prepare_fork(void)
{
    pthread_mutex_lock(&pool.lock);
}

static void after_fork(void)
{
    pthread_mutex_unlock(&pool.lock);
}

static void at_fork(void)
{
    pthread_atfork(prepare_fork, after_fork, forget_in_child);
}

/* A caller's wait for its job. */
struct jobwait {
    struct green__wait wait;
    struct job *job;
    bool abandoned;               /* the wait ended before the worker's post */
};

/* The wait ends before the worker's post (cancellation, the deadline):
 * a job not yet started is dropped, a running one left to its worker. */
static void job_unlink(struct green__wait *w)
{
    struct jobwait *jw = green__container_of(w, struct jobwait, wait);
    struct job *j = jw->job;
    pthread_mutex_lock(&pool.lock);
    bool done = j->done;
    if (!j->started) {
        green__list_remove(&pool.queue, &j->node);
        pool.queued--;
        if (j->drop)
            j->drop(j->arg);
        free(j);
    } else if (!done) {
        j->abandoned = true;   /* the worker frees it */
    }
    pthread_mutex_unlock(&pool.lock);
    if (done)
        green__inbox_unpost(j->inbox, &j->remote);
    else
        jw->abandoned = true;
}

static void job_describe(const struct green__wait *w, char *buf, size_t n)
{
    const struct job *j = green__container_of(w, struct jobwait, wait)->job;
    snprintf(buf, n, "offload %p(%p)", (void *)(uintptr_t)j->fn, j->arg);
}

static const struct green__waitop job_op = {
    .unlink = job_unlink,
    .describe = job_describe,
    .forgotten_after_fork = true,
    .kind = GREEN__WAIT_OFFLOAD,
};

/* Queues fn(arg) for a worker, for the running thread to wait for: the
 * job, or NULL and -errno in *err. */
static struct job *queue_job(struct green__sched *s, void *(*fn)(void *), void *arg,
                             void (*drop)(void *arg), int *err)
{
    green_t *self = s->current;
    *err = green__cancel_due(self) ? green__cancelled(s)
         : self->deadline >= 0 && self->deadline <= green_now() ? -ETIMEDOUT
         : green__inbox_open(s);
    if (*err < 0)
        return NULL;
    struct job *j = malloc(sizeof *j);
    if (!j) {
        *err = -ENOMEM;
        return NULL;
    }
    *j = (struct job){.fn = fn, .arg = arg, .drop = drop, .inbox = &s->inbox,
                      .remote.thread = self};
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, at_fork);
    pthread_mutex_lock(&pool.lock);
    *err = submit(j);
    pthread_mutex_unlock(&pool.lock);
    if (*err < 0) {
        free(j);
        return NULL;
    }
    return j;
}

int green__offload(void *(*fn)(void *), void *arg, void **result, void (*drop)(void *arg))
{
    struct green__sched *s = green__cur;
    if (!fn)
        return -EINVAL;
    if (!s) {  /* no green thread to park: run it here */
        void *r = fn(arg);
        if (result)
            *result = r;
        return 0;
    }
    int err;
    struct job *j = queue_job(s, fn, arg, drop, &err);
    if (!j) {
        if (drop)
            drop(arg);  /* fn never started: nobody wants arg */
        return err;
    }
    struct jobwait jw = {.wait.op = &job_op, .job = j};
    err = green__inbox_park(s, &jw.wait);
    /* A call that finished as the wait ended counts as done: its result
     * may own memory that only the caller can free. */
    if (err < 0 && jw.abandoned)
        return err;
    if (result)
        *result = j->result;
    free(j);
    return 0;
}

int green_offload(void *(*fn)(void *), void *arg, void **result)
{
    int err = green__offload(fn, arg, result, NULL);
    return err < 0 ? green__fail(-err) : 0;
}

void green__offload_stats(uint64_t *queued, struct green__hist *wait)
{
    pthread_mutex_lock(&pool.lock);
    *queued = pool.queued;
    green__hist_merge(wait, &pool.wait);
    pthread_mutex_unlock(&pool.lock);
}

int green_offload_threads(size_t n)
{
    if (n > POOL_MAX)
        return green__fail(EINVAL);
    pthread_mutex_lock(&pool.lock);
    pool.size = n;  /* 0: back to the default; workers above n leave as they idle */
    pthread_mutex_unlock(&pool.lock);
    return 0;
}
