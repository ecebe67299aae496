/*
 * The scheduler: one per OS thread that calls green_run.
 *
 * A green thread is RUNNING, RUNNABLE (on the run queue), PARKED (waiting
 * on something that will green__wake it) or DONE (returned, waiting to be
 * joined or reaped).  Parking is the one way to wait: the parker links
 * itself into whatever queue it waits on, then calls green__park with a
 * waitop that knows how to unlink it again.  Every wake-up, whether the
 * thing happened, the deadline passed or the thread was cancelled, goes
 * through green__wake, which undoes every registration.
 */
#ifndef GREEN_SCHED_H
#define GREEN_SCHED_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "green.h"
#include "fail.h"
#include "list.h"
#include "metrics.h"
#include "inbox.h"
#include "overflow.h"
#include "watch.h"
#include "poller.h"
#include "run.h"
#include "wait.h"
#include "stack.h"
#include "switch.h"
#include "timer.h"
#include "trace.h"

enum green__state {
    GREEN__RUNNABLE,
    GREEN__RUNNING,
    GREEN__PARKED,
    GREEN__DONE,
    GREEN__FREED,   /* joined or reaped: its stack is back in the cache */
};

/* What green_t's exit_hook is told. */
enum green__exit {
    GREEN__EXIT_DONE,   /* fn returned */
    GREEN__EXIT_FREED,  /* joined or reaped */
};

struct green {
    struct green__sched *sched;     /* the scheduler that owns it */
    struct green__stack stack;      /* this struct lives at the top of it */
    void *(*fn)(void *);
    void *arg;
    void *result;                   /* what fn returned, once DONE */
    uint64_t id;                    /* 1 for main, then counting up */
    enum green__state state;
    bool detached;                  /* reaped when it finishes */
    bool cancelled;                 /* every blocking call fails with ECANCELED */
    bool shield;                    /* green_shield: cancellation held back */
    bool stack_named;               /* named for coming near its stack's end */
    /* Seen by other schedulers of the run (lib/across.c), under the
     * owner's handles lock: */
    bool ended;                     /* fn returned: result is set */
    bool shared;                    /* xs is made */
    int gai_error;                  /* green_gai_error's answer */
    int64_t deadline;               /* for every blocking call; -1 for none */

    /* The current wait, on this thread's stack; valid while PARKED. */
    struct green__wait *wait;
    bool shielded;                  /* the wait is not ended by cancellation */
    int wake_err;                   /* what green__park returns: 0 or an errno */
    int timer_err;                  /* wake_err to give when the timer fires */
    struct green__timer timer;      /* queued while a timed wait is parked */

    green_t *joiner;                /* has claimed this one for a join */
    /* Told when the thread finishes and when it is freed: the one way the
     * scheduler calls up into a feature (groups set it). */
    void (*exit_hook)(green_t *t, enum green__exit how);
    struct green_group *group;      /* the group it was spawned into, or NULL */
    struct green__node group_node;  /* in the group's members */
    green_t *next;                  /* run queue, or the list of zombies */
    struct green__node all;         /* in the scheduler's list of threads */
    void *asan_fake;                /* ASan's fake stack while switched out */
    void *tsan_fiber;               /* TSan's fiber for it; NULL without TSan */
    int64_t woken_ns;               /* when a timed wake-up made it runnable
                                       (lib/metrics.h), or 0 */
    /* The lowest its stack pointer was when it parked or yielded, as
     * ~sp, so that 0 (spawn zeroes it) is above any (lib/stackuse.c): its
     * own depth, whoever had the stack before it. */
    uintptr_t sp_low_not;

    /* Not zeroed at spawn, which sets each: a ucontext is a kilobyte. */
    struct green__ctx ctx;          /* the saved context while not running */
    char name[GREEN_NAME_MAX];
    struct green__shared *xs;       /* once shared (lib/across.c) */
    struct green__locals *locals;   /* its green-local values, or NULL
                                       (lib/local.c) */
    /* A group member's (lib/group.c), set when it joins the group: */
    struct green__node done_node;   /* in its finished members not yet
                                       handed out (green_group_next) */
    bool in_done;                   /* on that list */
    bool group_failed;              /* it called green_group_fail */
};

struct green__sched {
    /* What the switch path reads, together. */
    green_t *current;               /* the running green thread */
    green_t *runq_head, *runq_tail; /* RUNNABLE threads, FIFO */
    size_t nrunq;
    unsigned since_poll;            /* dispatches since the poller last ran */
    unsigned round;                 /* dispatches between polls when busy:
                                       the run queue's length, at most 64 */
    unsigned budget;                /* blocking-looking calls budget_owner
                                       may make before one yields first */
    unsigned budget_max;            /* GREEN_BUDGET, or UINT_MAX for off */
    const green_t *budget_owner;    /* the thread that made the last one */
    struct green__cores *cores;     /* a run of several schedulers
                                       (lib/cores.c), or NULL alone */
    struct green__trace *trace;     /* GREEN_TRACE's ring, or NULL: off */
    green_t *zombies;               /* detached, DONE, stacks to free */
    int *errno_at;                  /* this OS thread's errno */
    uint64_t next_id;
    uint64_t id_step;               /* ids are unique across a run */

    green_t *root;                  /* runs green_run's main */
    struct green__list all;         /* every thread not yet FREED */
    size_t nthreads;                /* threads in all */
    size_t nlive;                   /* threads not yet DONE */
    size_t reserved;                /* threads the timers and poller have room for */

    /* Waiting. */
    struct green__timers timers;
    struct green__poller poller;
    struct green__inbox inbox;      /* wake-ups from other OS threads */

    struct green__stack_cache stacks;
    struct green__overflow overflow;
    struct green__watch watch;      /* the stall detector's view of it */
    struct green__stats stats;      /* what green_metrics reports */

    struct green__main main;        /* green_run's context (lib/run.c's) */
    struct green__ctx ctx_template; /* what every new thread's context starts as */

    uint64_t rng;                   /* xorshift state, for green_select */
    bool shutdown;                  /* main returned: new threads start cancelled */
    bool deadlocked;                /* green_run will fail with EDEADLK */
    /* Driven by a host loop (lib/loop.c): with nothing to run, a thread
     * hands the OS thread back to the host instead of waiting. */
    bool hosted;
    green_t *host_waiter;           /* the thread that handed it back */
    bool host_blind;                /* the poller's fd could not be armed */

    /* In a run of several schedulers. */
    unsigned index;                 /* this one's, in the run; 0 alone */
    pthread_mutex_t handles;        /* its threads' handles, as others see them */
    atomic_size_t load;             /* live threads, for GREEN_PLACE_ANY */
    struct green__remote end_msg;   /* main returned: end */
    struct green__remote deadlock_msg;
};

/* In a run of several schedulers, another scheduler may join, detach or
 * cancel s's threads: their joiner, detached and ended fields change
 * under this lock.  Alone, nothing does, and it is no lock at all. */
static inline void green__lock_handles(struct green__sched *s)
{
    if (s->cores)
        pthread_mutex_lock(&s->handles);
}

static inline void green__unlock_handles(struct green__sched *s)
{
    if (s->cores)
        pthread_mutex_unlock(&s->handles);
}

/* Whether t's blocking calls are to fail with ECANCELED: it is cancelled
 * and no green_shield holds that back. */
static inline bool green__cancel_due(const green_t *t)
{
    return t->cancelled && !t->shield;
}

/* Whether s is traced (GREEN_TRACE, lib/trace.h): the one test each
 * hook costs when it is not. */
#define green__tracing(s) __builtin_expect((s)->trace != NULL, 0)

/* The scheduler of this OS thread, or NULL outside green_run. */
extern __thread struct green__sched *green__cur
    __attribute__((tls_model("initial-exec")));

/* The running thread is cancelled: its blocking call fails with
 * ECANCELED, but lets the other threads run first, as green_yield does, so
 * that a loop that ignores the error (or sleeps again at once) cannot
 * starve them, nor the report of threads that will not end.  Returns
 * -ECANCELED. */
int green__cancelled(struct green__sched *s);

/* Parks the running thread on w until green__wake.  The caller has set
 * w->op and linked w into what it waits on; park sets w->thread.  until
 * (-1: never) arms the timer, which wakes the thread with timer_err.  When
 * the thread is cancelled, or until is a deadline (timer_err set) that has
 * passed, it unlinks w at once and does not park.  Returns 0 or -errno. */
int green__park(struct green__sched *s, struct green__wait *w, int64_t until,
                int timer_err);

/* Parks on w, deaf to the deadline and to cancellation: for cleanup that
 * must not be cut short.  Returns what the waker gave. */
int green__park_shielded(struct green__sched *s, struct green__wait *w);

/* Parks on w deaf to cancellation, as green__park_shielded does, but with
 * until and timer_err as for green__park: the root's wait for the others
 * at shutdown, which names them if they take long. */
int green__park_shielded_until(struct green__sched *s, struct green__wait *w, int64_t until,
                               int timer_err);

/* Ends t's wait, if it is parked: unlinks it, disarms its timer and makes
 * it runnable; its green__park returns -err. */
void green__wake(green_t *t, int err);

/* A blocking-looking call is about to run: the fairness budget.  A
 * thread whose calls never park (its socket always has data) would keep
 * every other thread of its OS thread waiting; after budget_max calls of
 * one thread with no other thread's call between them, the next yields
 * first.  Counted here, on the way into a call, and not at every switch:
 * the switch path stays as it was. */
void green__budget_spent(struct green__sched *s);

static inline void green__budget_take(struct green__sched *s)
{
    if (s->budget_owner != s->current) {
        s->budget_owner = s->current;
        s->budget = s->budget_max;
    }
    if (--s->budget == 0)
        green__budget_spent(s);
}

/* Cancels t, waking it with ECANCELED if its wait allows. */
void green__cancel(green_t *t);

/* Joins t, checked and claimed by the caller (green__claim), which keeps
 * the claim if the join fails.  A shielded join ignores the deadline and
 * cancellation, for cleanup that must not be cut short. */
int green__join(struct green__sched *s, green_t *t, void **result, bool shielded);

/* A random number, for fair choices. */
uint64_t green__random(struct green__sched *s);

/* Whether t is a live handle of s's that may be joined by the running
 * thread: 0, -EPERM, -EINVAL or -EDEADLK. */
int green__check_join(const struct green__sched *s, const green_t *t);

/* Claims t for a join by the running thread, so that no other join or
 * detach may take it (green_gather claims all its threads first). */
void green__claim(struct green__sched *s, green_t *t);

/* green_spawn_attr on scheduler s, never eager (its place is not looked
 * at): the thread, or NULL and -errno in *err. */
green_t *green__spawn(struct green__sched *s, const green_attr_t *attr,
                      void *(*fn)(void *), void *arg, int *err);

/* The same, eager if attr says so, with link(t, ctx) called on the new
 * thread before it can run (a group links its member), spawned by parent
 * (NULL for none), whose inherited green-local values it starts with. */
green_t *green__spawn_then(struct green__sched *s, const green_t *parent,
                           const green_attr_t *attr, void *(*fn)(void *), void *arg,
                           void (*link)(green_t *t, void *ctx), void *ctx, int *err);

/* The same, on the scheduler attr places it on (in a run, maybe another:
 * link then runs there, while s's thread waits). */
green_t *green__spawn_placed(struct green__sched *s, const green_attr_t *attr,
                             void *(*fn)(void *), void *arg,
                             void (*link)(green_t *t, void *ctx), void *ctx, int *err);

/* For a path written once for a scheduler alone and for a run of
 * several: each caller passes a constant `shared`, and the compiler makes
 * one copy of each, so that a scheduler alone pays nothing for the run's
 * locks. */
#ifndef GREEN_COVERAGE
#define GREEN__SPECIALISED static inline __attribute__((always_inline))
#else
/* make coverage counts each branch once, as the source has it: one copy,
 * `shared` a plain argument. */
#define GREEN__SPECIALISED static inline
#endif

/* Whether s is one of a run of several schedulers: the rare case, which
 * the paths of a scheduler alone are laid out around. */
static inline bool green__in_run(const struct green__sched *s)
{
    return __builtin_expect(s->cores != NULL, 0);
}

/* What an object in use is bound to: the scheduler, or in a run of
 * several, the run, from whose every scheduler it may be used. */
static inline void *green__user(struct green__sched *s)
{
    return s->cores ? (void *)s->cores : (void *)s;
}

/* Binds a synchronisation object to its user (above).  *owner is the
 * object's scheduler, or run, while it is in use (held or waited on); a
 * scheduler outside it touching it meanwhile gets -EXDEV.  Objects are
 * free to move to another OS thread when idle. */
static inline int green__bind(void **owner, struct green__sched *s)
{
    if (!s)
        return -EPERM;
    void *me = green__user(s);
    if (*owner && *owner != me)
        return -EXDEV;
    *owner = me;
    return 0;
}

/* For green_run (lib/run.c). */

/* Saves the running context in from and resumes to, whose stack is
 * [lo, lo + size) and whose TSan fiber is fiber, telling the sanitizers.
 * *fake keeps the running context's ASan fake stack while it is switched
 * out; fake is NULL when it leaves for good, so that ASan frees it. */
void green__jump(struct green__ctx *from, void **fake, struct green__ctx *to,
                 const void *lo, size_t size, void *fiber);

/* Takes the first thread off the run queue (the root) and switches to it
 * from a context that is no green thread's, green_run's: from and fake as
 * for green__jump. */
void green__enter(struct green__sched *s, struct green__ctx *from, void **fake);

/* From green_loop_run's context (lib/loop.c): switches to the thread
 * that handed the OS thread back to the host, or else to the first
 * runnable one, until one hands it back again; false when there is none.
 * from and fake as for green__jump. */
bool green__resume(struct green__sched *s, struct green__ctx *from, void **fake);

/* Frees t, which has finished: its stack goes back to the cache. */
void green__thread_free(struct green__sched *s, green_t *t);

/* Queues t, which has finished, to be freed after the next switch, on
 * another stack than its own. */
void green__thread_bury(green_t *t);

/* Frees detached threads that finished.  Called only on another stack
 * than theirs: a thread cannot free the stack it runs on. */
void green__reap(struct green__sched *s);

/* Writes one line per green thread to out. */
void green__dump(struct green__sched *s, FILE *out);

/* For a run of several schedulers. */

/* Every thread but the root is cancelled, and so is every thread spawned
 * from now on (lib/run.c). */
void green__run_cancel_others(struct green__sched *s);

/* Runs a scheduler on the calling OS thread until main (on the first of
 * a run, or alone) or the end of the run: 0 or -errno.  c is the run of
 * several schedulers, or NULL (green_run); index is s's in it. */
int green__run_sched(struct green__cores *c, unsigned index, void *(*main)(void *), void *arg);

/* Every thread is parked and nothing can wake one: reports it unless
 * quiet, and cancels them; false when nothing woke (only a root's wait
 * for the end is left). */
bool green__deadlock(struct green__sched *s, bool quiet);

/* t's handle is used on another scheduler of its run (lib/across.c):
 * join, detach and cancel; -errno or 0. */
int green__across_join(struct green__sched *s, green_t *t, void **result);
/* The join in two steps, for green_gather: claims t for the running
 * thread (-EINVAL, -ENOMEM), or gives the claim up; waits for t, claimed,
 * to finish and takes its result (the claim is kept when the wait is cut
 * short). */
int green__across_claim(struct green__sched *s, green_t *t);
void green__across_unclaim(green_t *t);
int green__across_await(struct green__sched *s, green_t *t, void **result, bool shielded);

/* In a run (lib/shared_fds.c): s's poller joins the run's table of fd
 * users; before s closes or releases fd, every other scheduler that knows
 * it forgets it (its waiters there fail with EBADF). */
void green__shared_fds_join(struct green__sched *s);
void green__shared_fds_forget(struct green__sched *s, int fd);

/* Checks t, of s, for a join and claims it for the running thread, in one
 * step under s's handles lock: 0, -EPERM, -EINVAL, -EDEADLK. */
int green__check_and_claim(struct green__sched *s, green_t *t);

/* Whether t lives on another scheduler of s's run. */
bool green__elsewhere(const struct green__sched *s, const green_t *t);
int green__across_detach(green_t *t);
int green__across_cancel(green_t *t);

/* Spawns on scheduler `on` of s's run, from s: as green__spawn_then. */
green_t *green__across_spawn(struct green__sched *s, struct green__sched *on,
                             const green_attr_t *attr, void *(*fn)(void *), void *arg,
                             void (*link)(green_t *t, void *ctx), void *ctx, int *err);

/* The record a thread's handle needs on other schedulers, made ahead so
 * that using the handle there cannot fail (a group's members): NULL when
 * there is no memory.  green__across_adopt gives it to a new thread
 * (before it runs); green__across_unmade frees one never given. */
struct green__shared *green__across_make(void);
void green__across_adopt(green_t *t, struct green__shared *xs);
void green__across_unmade(struct green__shared *xs);

/* On t's own scheduler, under its handles lock: t has finished; tells
 * its joiner if that is on another scheduler and waits there, and
 * returns whether it did. */
bool green__across_exit(green_t *t);

/* On t's own scheduler, which takes the handles lock: t is being freed;
 * its requests still posted are taken back. */
void green__across_free(green_t *t);

#endif
