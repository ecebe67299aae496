/*
 * Floors, the costs nothing built on them can beat:
 *
 *   floor switch N      raw glibc swapcontext between two contexts
 *   floor spawn N       raw makecontext, then swapcontext into a context
 *                       that returns at once (through uc_link)
 *   floor pages N       ns to touch the first page of N fresh stacks laid
 *                       out as libgreen's default ones are (one per 320
 *                       KiB): the page fault every new green thread
 *                       takes, with its page tables
 *   floor io N          one byte bounced over a socketpair by a single
 *                       thread making the system calls a green pair makes
 *   floor io-nowait N   the same, reading each byte once it is there
 *   floor http PORT     a hand-written single-threaded epoll server
 *   floor syscall N     ns per getppid(2), the cheapest system call: what
 *                       entering and leaving the kernel costs on this
 *                       machine (page-table isolation makes it dear)
 *   floor fault N       ns per first touch of N fresh contiguous pages:
 *                       a page fault alone, its page tables shared
 *   floor across N      ns per message of a ping-pong between two OS
 *                       threads, each spinning on one shared word: what
 *                       moving a cache line between two CPUs costs, under
 *                       any message between two schedulers
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "../common.h"

static long N;
static ucontext_t main_uc, other_uc;

static void bounce(void)
{
    for (;;)
        swapcontext(&other_uc, &main_uc);
}

static double floor_switch(void)
{
    static char stack[64 * 1024];
    getcontext(&other_uc);
    other_uc.uc_stack.ss_sp = stack;
    other_uc.uc_stack.ss_size = sizeof stack;
    makecontext(&other_uc, bounce, 0);
    double t0 = bench_now_ns();
    for (long i = 0; i < N / 2; i++)
        swapcontext(&main_uc, &other_uc);
    return (bench_now_ns() - t0) / N;
}

static void returns(void)
{
}

/* A thread that returns at once, by hand: makecontext on a warm stack,
 * a swapcontext into it and, as it returns, a setcontext back through
 * uc_link.  Two system calls (the signal mask, each way); what a ucontext
 * spawn, run and join cannot go under. */
static double floor_spawn(void)
{
    static char stack[64 * 1024];
    getcontext(&other_uc);
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++) {
        other_uc.uc_stack.ss_sp = stack;
        other_uc.uc_stack.ss_size = sizeof stack;
        other_uc.uc_link = &main_uc;
        makecontext(&other_uc, returns, 0);
        swapcontext(&main_uc, &other_uc);
    }
    return (bench_now_ns() - t0) / N;
}

/* The default stack (256 KiB) and its guard region (64 KiB). */
enum { STRIDE = 320 * 1024 };

static double floor_pages(void)
{
    char *base = mmap(NULL, (size_t)N * STRIDE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        exit(1);
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        base[(size_t)(i + 1) * STRIDE - 64] = 1;  /* the top, where a thread starts */
    return (bench_now_ns() - t0) / N;
}

static double floor_syscall(void)
{
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        (void)syscall(SYS_getppid);  /* not glibc's getppid: never cached */
    return (bench_now_ns() - t0) / N;
}

static double floor_fault(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *base = mmap(NULL, (size_t)N * page, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        exit(1);
    madvise(base, (size_t)N * page, MADV_NOHUGEPAGE);  /* a fault per page */
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        base[(size_t)i * page] = 1;
    return (bench_now_ns() - t0) / N;
}

static void nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Waits until epoll reports fd readable. */
static void wait_in(int ep, int fd)
{
    struct epoll_event ev;
    while (epoll_wait(ep, &ev, 1, -1) < 1 || ev.data.fd != fd)
        ;
}

/* One byte bounced over a socketpair by a single thread, each end read as
 * soon as its byte is there: four system calls a round trip, no waiting.
 * Nothing that waits for readiness can reach it. */
static double floor_io_nowait(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    char c = 'x';
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++)
        if (write(sv[0], &c, 1) != 1 || read(sv[1], &c, 1) != 1 ||
            write(sv[1], &c, 1) != 1 || read(sv[0], &c, 1) != 1)
            exit(1);
    return (bench_now_ns() - t0) / N / 1000;
}

/* Reads fd, which must have nothing yet (EAGAIN), as a reader that came
 * first finds it. */
static void read_early(int fd)
{
    char c;
    if (read(fd, &c, 1) != -1 || errno != EAGAIN)
        exit(1);
}

/* The system calls a pair of green threads makes for a round trip, in its
 * order, minus the switches: each side reads before its byte has come
 * (EAGAIN), waits in one edge-triggered epoll set holding both ends, then
 * reads.  Eight system calls a round trip: what any program that waits
 * for readiness pays for this exchange. */
static double floor_io(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    nonblocking(sv[0]);
    nonblocking(sv[1]);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    for (int i = 0; i < 2; i++) {
        ev.data.fd = sv[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, sv[i], &ev);
    }
    char c = 'x';
    read_early(sv[1]);  /* the echoing side is parked from the start */
    double t0 = bench_now_ns();
    for (long i = 0; i < N; i++) {
        if (write(sv[0], &c, 1) != 1)
            exit(1);
        read_early(sv[0]);
        wait_in(ep, sv[1]);
        if (read(sv[1], &c, 1) != 1 || write(sv[1], &c, 1) != 1)
            exit(1);
        read_early(sv[1]);
        wait_in(ep, sv[0]);
        if (read(sv[0], &c, 1) != 1)
            exit(1);
    }
    return (bench_now_ns() - t0) / N / 1000;
}

struct conn {
    int fd;
    size_t have;
    char buf[4096];
};

static void floor_http(int port)
{
    int lfd = bench_listen(port);
    nonblocking(lfd);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    c = calloc(1, sizeof *c);
                    c->fd = fd;
                    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                close(c->fd);
                free(c);
                continue;
            }
            int requests = bench_requests(c->buf, c->have + (size_t)r, &c->have);
            for (int k = 0; k < requests; k++)
                if (write(c->fd, BENCH_RESPONSE, sizeof BENCH_RESPONSE - 1) < 0)
                    break;
        }
    }
}

/* across */

static _Alignas(64) atomic_long word;

static void spin_until(long v)
{
    while (atomic_load_explicit(&word, memory_order_acquire) != v)
        ;
}

static void *pong(void *arg)
{
    (void)arg;
    for (long i = 0; i < N / 2; i++) {
        spin_until(2 * i + 1);
        atomic_store_explicit(&word, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static double floor_across(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, pong, NULL) != 0)
        return -1;
    double t0 = bench_now_ns();
    for (long i = 0; i < N / 2; i++) {
        atomic_store_explicit(&word, 2 * i + 1, memory_order_release);
        spin_until(2 * i + 2);
    }
    double ns = (bench_now_ns() - t0) / N;
    pthread_join(t, NULL);
    return ns;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    N = atol(argv[2]);
    if (strcmp(argv[1], "switch") == 0)
        printf("%.3f\n", floor_switch());
    else if (strcmp(argv[1], "pages") == 0)
        printf("%.1f\n", floor_pages());
    else if (strcmp(argv[1], "syscall") == 0)
        printf("%.1f\n", floor_syscall());
    else if (strcmp(argv[1], "fault") == 0)
        printf("%.1f\n", floor_fault());
    else if (strcmp(argv[1], "spawn") == 0)
        printf("%.3f\n", floor_spawn());
    else if (strcmp(argv[1], "io") == 0)
        printf("%.3f\n", floor_io());
    else if (strcmp(argv[1], "io-nowait") == 0)
        printf("%.3f\n", floor_io_nowait());
    else if (strcmp(argv[1], "http") == 0)
        floor_http((int)N);
    else if (strcmp(argv[1], "across") == 0)
        printf("%.3f\n", floor_across());
    else
        return 2;
    return 0;
}
