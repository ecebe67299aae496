/*
 * SIGQUIT prints the green threads, as Go's runtime and the JVM print their
 * threads: what each is doing, what a parked one waits for.  A program
 * under load that seems stuck can be asked with `kill -QUIT PID` (or
 * Ctrl-\ in its terminal) without stopping it.
 *
 * A signal handler may call only async-signal-safe functions, and
 * green_dump writes with stdio, so the dump is not made in a handler: a
 * green thread waits for the signal with green_signal_wait, which parks it
 * like any other wait, and calls green_dump when it wakes, as ordinary
 * code.  SIGINT or SIGTERM ends the program cleanly.
 *
 *   ./dump_on_sigquit &
 *   kill -QUIT %1      # the list, on stderr
 *   kill -INT %1
 */
#include <green.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

static green_chan_t *jobs;

/* A worker that waits for work that does not come: it shows as parked on
 * the channel. */
static void *worker(void *arg)
{
    (void)arg;
    void *job;
    while (green_chan_recv(jobs, &job) == 0)
        ;
    return NULL;
}

/* A thread that naps: it shows with the time until it wakes. */
static void *napper(void *arg)
{
    (void)arg;
    while (green_sleep(60000) == 0)
        ;
    return NULL;
}

/* Dumps the green threads at each SIGQUIT until cancelled. */
static void *dumper(void *arg)
{
    (void)arg;
    sigset_t quit;
    sigemptyset(&quit);
    sigaddset(&quit, SIGQUIT);
    while (green_signal_wait(&quit) == SIGQUIT) {
        green_dump(stderr);
        fflush(stderr);
    }
    return NULL;
}

static void *await_stop(void *arg)
{
    (void)arg;
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    return (void *)(intptr_t)green_signal_wait(&stop);
}

static void *run(void *arg)
{
    (void)arg;
    jobs = green_chan_new(sizeof(void *), 0);
    if (!jobs) {
        perror("green_chan_new");
        return NULL;
    }
    green_t *threads[] = {
        green_spawn_attr(&(green_attr_t){.name = "worker"}, worker, NULL),
        green_spawn_attr(&(green_attr_t){.name = "napper"}, napper, NULL),
        green_spawn_attr(&(green_attr_t){.name = "dumper"}, dumper, NULL),
    };
    green_t *stop = green_spawn_attr(&(green_attr_t){.name = "stop"}, await_stop, NULL);
    green_yield();  /* all start: from here on the signals are caught */
    printf("ready: kill -QUIT %ld for the list, kill -INT to stop\n", (long)getpid());
    fflush(stdout);

    void *sig = NULL;
    green_join(stop, &sig);
    printf("signal %d: stopping\n", (int)(intptr_t)sig);
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++)
        if (threads[i]) {
            green_cancel(threads[i]);
            green_join(threads[i], NULL);
        }
    green_chan_free(jobs);
    return NULL;
}

int main(void)
{
    if (green_run(run, NULL) < 0) {
        perror("green_run");
        return 1;
    }
    return 0;
}
