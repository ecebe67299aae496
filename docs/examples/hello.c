/*
 * The asyncio sleep example, in C: three green threads sleep 1, 2 and 3
 * seconds at once, so the program ends after 3 seconds, not 6.
 *
 *   cc hello.c $(pkg-config --cflags --libs green) -o hello
 */
#include <green.h>
#include <stdio.h>

static int64_t start;

static void *sleeper(void *arg)
{
    int seconds = *(int *)arg;
    green_sleep(seconds * 1000);
    printf("slept %d s, %.1f s since start\n", seconds,
           (green_now() - start) / 1000.0);
    return NULL;
}

static void *run(void *unused)
{
    static int seconds[] = {1, 2, 3};
    green_t *t[3];
    (void)unused;
    start = green_now();
    for (int i = 0; i < 3; i++)
        t[i] = green_spawn(sleeper, &seconds[i]);
    for (int i = 0; i < 3; i++)
        green_join(t[i], NULL);
    printf("all done after %.1f s\n", (green_now() - start) / 1000.0);
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
