/*
 * green_dump: one line per green thread, what libtask prints on SIGQUIT.
 * The deadlock detector prints the same.
 */
#include <errno.h>

#include "sched.h"
#include "cores.h"

/* A freed thread is in no list, so it is never dumped. */
static const char *const state_names[] = {
    [GREEN__RUNNABLE] = "runnable", [GREEN__RUNNING] = "running",
    [GREEN__PARKED] = "parked", [GREEN__DONE] = "done",
};

static void dump_one(const green_t *t, FILE *out)
{
    char what[128] = "";
    if (t->state == GREEN__PARKED) {
        what[0] = ':';
        what[1] = ' ';
        t->wait->op->describe(t->wait, what + 2, sizeof what - 2);
    }
    fprintf(out, "  #%llu '%s' %s%s", (unsigned long long)t->id, t->name,
            state_names[t->state], what);
    if (t->state == GREEN__PARKED && t->timer.idx)
        fprintf(out, " (%s in %lld ms)", t->timer_err == ETIMEDOUT ? "deadline" : "wakes",
                (long long)(t->timer.at - green_now()));
    if (t->group)
        fprintf(out, " in group %p", (void *)t->group);
    if (t->cancelled && t->state != GREEN__DONE)
        fputs(t->shield ? " [cancelled, shielded]" : " [cancelled]", out);
    else if (t->shield)
        fputs(" [shielded]", out);
    char stack[96];
    green__stack_describe(t, stack, sizeof stack);
    fputs(stack, out);
    fputc('\n', out);
}

void green__dump(struct green__sched *s, FILE *out)
{
    fprintf(out, "libgreen: %zu green threads (switch %s, poller %s)\n",
            s->nthreads, green__switch_name, s->poller.ops->name);
    for (const struct green__node *n = s->all.first; n; n = n->next)
        dump_one(green__container_of(n, green_t, all), out);
    size_t reserved, resident;
    green__stack_usage(&s->stacks, &reserved, &resident);
    fprintf(out, "  stacks: %zu KiB reserved, ", reserved / 1024);
    if (resident || !reserved)
        fprintf(out, "%zu KiB resident\n", resident / 1024);
    else
        fputs("resident unknown\n", out);
    fflush(out);
}

/* Another scheduler of the run writes its own lines, on its own thread,
 * while the caller waits: nobody reads a scheduler's threads but it. */
struct dumpreq {
    struct green__remote ask;      /* carried out there */
    struct green__remote done;     /* wakes the caller */
    struct green__wait wait;
    struct green__sched *from, *on;
    FILE *out;
};

static void deliver_dump(struct green__remote *r)
{
    struct dumpreq *q = green__container_of(r, struct dumpreq, ask);
    green__dump(q->on, q->out);
    green__inbox_post(&q->from->inbox, &q->done);
}

static void dump_describe(const struct green__wait *w, char *buf, size_t n)
{
    snprintf(buf, n, "green_dump of scheduler %u",
             green__container_of(w, struct dumpreq, wait)->on->index);
}

static const struct green__waitop dump_op = {.unlink = NULL, .describe = dump_describe};

static void dump_there(struct green__sched *s, struct green__sched *on, FILE *out)
{
    struct dumpreq q = {.ask.deliver = deliver_dump, .done.thread = s->current,
                        .wait.op = &dump_op, .from = s, .on = on, .out = out};
    if (!green__inbox_send(&on->inbox, &q.ask)) {
        fputs("libgreen: ended\n", out);
        return;
    }
    (void)green__park_shielded(s, &q.wait);  /* q lives here until done */
}

void green_dump(FILE *out)
{
    struct green__sched *s = green__cur;
    if (!s)
        return;
    out = out ? out : stderr;
    if (!s->cores) {
        green__dump(s, out);
        return;
    }
    for (size_t i = 0; i < s->cores->n; i++) {
        struct green__sched *x = s->cores->scheds[i];
        fprintf(out, "scheduler %zu of %zu:\n", i, s->cores->n);
        if (x == s)
            green__dump(s, out);
        else
            dump_there(s, x, out);
    }
    fflush(out);
}
