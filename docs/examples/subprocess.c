/*
 * Runs a command, reads its output as it comes, and waits for it to end:
 * asyncio.create_subprocess_exec, in C.  While the child runs, another
 * green thread goes on ticking, to show that nothing else is held up.
 *
 *   cc subprocess.c $(pkg-config --cflags --libs green) -o subprocess
 *   ./subprocess [command [args...]]
 *        (default: sh -c 'echo one; sleep 0.2; echo two; exit 3')
 */
#include <errno.h>
#include <green.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int ticks;

static void *ticker(void *arg)
{
    (void)arg;
    while (green_sleep(50) == 0)
        ticks++;
    return NULL;  /* cancelled */
}

/* Starts argv with its stdout on a pipe; *out gets the pipe's read end. */
static pid_t start(char **argv, int *out)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, p[0]);
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (err) {
        close(p[0]);
        errno = err;
        return -1;
    }
    *out = p[0];
    return pid;
}

static int failed;

static void *run(void *arg)
{
    char **argv = arg;
    green_t *t = green_spawn(ticker, NULL);
    int out;
    pid_t pid = start(argv, &out);
    if (pid < 0) {
        perror(argv[0]);
        failed = 1;
    } else {
        char buf[4096];
        ssize_t n;
        while ((n = green_read(out, buf, sizeof buf)) > 0)
            printf("child says: %.*s", (int)n, buf);
        green_close(out);
        int st;
        if (green_waitpid(pid, &st, 0) == pid) {
            if (WIFEXITED(st))
                printf("child %d exited with status %d\n", (int)pid, WEXITSTATUS(st));
            else if (WIFSIGNALED(st))
                printf("child %d killed by signal %d\n", (int)pid, WTERMSIG(st));
        } else {
            perror("green_waitpid");
            failed = 1;
        }
    }
    green_cancel(t);
    green_join(t, NULL);
    printf("the ticker ticked %s meanwhile\n", ticks > 0 ? "on" : "not at all");
    return NULL;
}

int main(int argc, char **argv)
{
    static char *dflt[] = {"sh", "-c", "echo one; sleep 0.2; echo two; exit 3", NULL};
    if (green_run(run, argc > 1 ? argv + 1 : dflt) < 0) {
        perror("green_run");
        return 1;
    }
    return failed;
}
