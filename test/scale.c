/* Scale: timers with many sleepers, and C10K. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sched.h"
#include "util.h"

/* Many sleepers with random durations wake in the order of their
 * deadlines. */

enum { SLEEPERS = 10000 };

struct sleeper {
    int64_t due;      /* when it asked to wake */
    int64_t woke;
};

static struct sleeper sleepers[SLEEPERS];
static int woken[SLEEPERS], nwoken;

static void *sleep_random(void *arg)
{
    struct sleeper *me = arg;
    int64_t ms = 1 + rand() % 300;  /* 0 would be a yield, not a timer */
    green_sleep(ms);
    me->woke = green_now();
    me->due = green_self()->timer.at;  /* the time the sleep was queued for */
    woken[nwoken++] = (int)(me - sleepers);
    return NULL;
}

GREEN_TEST(timers_many_sleepers)
{
    (void)arg;
    int n = under_valgrind() ? 1000 : SLEEPERS;
    green_t **t = malloc((size_t)n * sizeof *t);
    green_attr_t attr = {.stack_size = GREEN_STACK_MIN};
    srand(7);
    for (int i = 0; i < n; i++)
        t[i] = green_spawn_attr(&attr, sleep_random, &sleepers[i]);
    ck_assert_int_eq(green_gather(t, (size_t)n, NULL), 0);
    ck_assert_int_eq(nwoken, n);
    int64_t late = 0;
    for (int k = 0; k < n; k++) {
        struct sleeper *s = &sleepers[woken[k]];
        ck_assert_int_ge(s->woke, s->due);  /* never early */
        if (k > 0)
            ck_assert_int_le(sleepers[woken[k - 1]].due, s->due);  /* in order */
        if (s->woke - s->due > late)
            late = s->woke - s->due;
    }
    /* A sanity bound, not a benchmark: make bench measures lateness. */
    ck_assert_int_lt(late, 5000);
    free(t);
    return NULL;
}

/* C10K: a green thread per connection in a server process, a green thread
 * per connection in a client process, all connections open at once, each
 * echoing its own bytes. */

enum { CONNS = 10000, MSG = 64 };

static int nconns;

static void raise_nofile(int need)
{
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    ck_assert_msg(rl.rlim_cur >= (rlim_t)need, "RLIMIT_NOFILE hard limit %lu < %d",
                  (unsigned long)rl.rlim_max, need);
}

static void *server(void *arg)
{
    int lfd = *(int *)arg;
    green_group_t *g = green_group_new();
    for (int i = 0; i < nconns; i++) {
        int fd = green_accept(lfd, NULL, NULL);
        if (fd < 0)
            exit_child(10);
        green_t *t = green_group_spawn_attr(g, &(green_attr_t){.stack_size = 32 * 1024},
                                            echo_fd, (void *)(intptr_t)fd);
        if (!t)
            exit_child(11);
        green_detach(t);
    }
    green_group_wait(g);  /* every client has hung up */
    green_group_free(g);
    return NULL;
}

struct clients {
    struct sockaddr_in addr;
    green_sem_t connecting;     /* keeps the listener's backlog from overflowing */
    green_mutex_t m;
    green_cond_t all_echoed;
    int echoed, failed;
};

static void *client(void *arg)
{
    struct clients *c = arg;
    static int next;
    int id = next++;
    char out[MSG], in[MSG];
    for (int i = 0; i < MSG; i++)
        out[i] = (char)(id * 7 + i);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    green_sem_acquire(&c->connecting);
    int r = green_connect(fd, (struct sockaddr *)&c->addr, sizeof c->addr);
    green_sem_release(&c->connecting);
    size_t got = 0;
    if (r == 0 && green_write(fd, out, MSG) == MSG)
        while (got < MSG) {
            ssize_t n = green_read(fd, in + got, MSG - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    green_mutex_lock(&c->m);
    if (got != MSG || memcmp(in, out, MSG) != 0)
        c->failed++;
    /* Stay connected until every connection has echoed: all open at once. */
    if (++c->echoed == nconns)
        green_cond_broadcast(&c->all_echoed);
    while (c->echoed < nconns)
        green_cond_wait(&c->all_echoed, &c->m);
    green_mutex_unlock(&c->m);
    green_close(fd);
    return NULL;
}

static void *clients_main(void *arg)
{
    struct clients *c = arg;
    green_group_t *g = green_group_new();
    green_attr_t attr = {.stack_size = 32 * 1024};
    for (int i = 0; i < nconns; i++) {
        green_t *t = green_group_spawn_attr(g, &attr, client, c);
        ck_assert_ptr_nonnull(t);
        green_detach(t);
    }
    ck_assert_int_eq(green_group_wait(g), 0);
    green_group_free(g);
    return NULL;
}

START_TEST(c10k_echo)
{
    nconns = under_valgrind() ? 500 : CONNS;
    raise_nofile(nconns + 64);
    unsigned short port;
    int lfd = tcp_listener(&port);
    listen(lfd, 4096);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        exit_child(green_run(server, &lfd) == 0 ? 0 : 12);
    close(lfd);
    static struct clients c;
    c.addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    green_sem_init(&c.connecting, 256);
    green_mutex_init(&c.m);
    green_cond_init(&c.all_echoed);
    run_green(clients_main, &c);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server status %#x", status);
    ck_assert_int_eq(c.echoed, nconns);
    ck_assert_int_eq(c.failed, 0);
}
END_TEST

Suite *scale_suite(void)
{
    Suite *s = suite_create("scale");
    TCase *tc = tcase_create("scale");
    tcase_add_test(tc, timers_many_sleepers);
    tcase_add_test(tc, c10k_echo);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
