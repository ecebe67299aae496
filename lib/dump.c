/*
 * green_dump: one line per green thread, what libtask prints on SIGQUIT.
 * The deadlock detector prints the same.
 */
#include <errno.h>

#include "sched.h"

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
    fputc('\n', out);
}

void green__dump(struct green__sched *s, FILE *out)
{
    fprintf(out, "libgreen: %zu green threads (switch %s, poller %s)\n",
            s->nthreads, green__switch_name, s->poller.ops->name);
    for (const struct green__node *n = s->all.first; n; n = n->next)
        dump_one(green__container_of(n, green_t, all), out);
    fflush(out);
}

void green_dump(FILE *out)
{
    struct green__sched *s = green__cur;
    if (s)
        green__dump(s, out ? out : stderr);
}
