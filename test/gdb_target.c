/* The program test/gdb.sh debugs: green threads parked in functions of
 * known names, and main stopped in all_parked for gdb's breakpoint (or,
 * given an argument, dumping core there). */
#include <stdlib.h>
#include <unistd.h>

#include "green.h"

int park_in_sleep(void);
ssize_t park_in_read(void);
void all_parked(void);

static int pipefd[2];

/* Each parks and keeps its frame: the empty asm after the call leaves the
 * compiler no tail call to make of it. */
__attribute__((noinline)) int park_in_sleep(void)
{
    int r = green_sleep(600000);
    __asm__ volatile("" ::: "memory");
    return r;
}

__attribute__((noinline)) ssize_t park_in_read(void)
{
    char c;
    ssize_t r = green_read(pipefd[0], &c, 1);
    __asm__ volatile("" ::: "memory");
    return r;
}

/* With an argument, the program dumps core here, for gdb to read. */
static int dump_core;

__attribute__((noinline)) void all_parked(void)
{
    __asm__ volatile("" ::: "memory");
    if (dump_core)
        abort();
}

static void *sleeper(void *arg)
{
    park_in_sleep();
    return arg;
}

static void *reader(void *arg)
{
    park_in_read();
    return arg;
}

static void *main_thread(void *arg)
{
    (void)arg;
    green_t *s = green_spawn_attr(&(green_attr_t){.name = "sleeper"}, sleeper, NULL);
    green_t *r = green_spawn_attr(&(green_attr_t){.name = "reader"}, reader, NULL);
    green_yield();  /* both park */
    all_parked();
    green_cancel(s);
    green_cancel(r);
    green_join(s, NULL);
    green_join(r, NULL);
    return NULL;
}

int main(int argc, char **argv)
{
    (void)argv;
    dump_core = argc > 1;
    if (pipe(pipefd) < 0)
        return 1;
    return green_run(main_thread, NULL) == 0 ? 0 : 1;
}
