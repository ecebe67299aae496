/*
 * The client of the idle-connections workload, for any peer's http-hello
 * server: opens IDLE keep-alive connections that send nothing, then
 * BUSY connections that send requests one after another for SECONDS, and
 * prints the busy ones' requests per second.
 *
 *   loadgen PORT IDLE BUSY SECONDS
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "green.h"

static struct sockaddr_in addr;
static green_sem_t connecting = GREEN_SEM_INIT(256);  /* spares the backlog */
static int nidle, nbusy, *fds;
static double seconds, until;
static long requests;

static void *dial(void *arg)
{
    long i = (long)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    green_sem_acquire(&connecting);
    if (green_connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        exit(3);
    green_sem_release(&connecting);
    fds[i] = fd;
    return NULL;
}

static void *busy(void *arg)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    const size_t len = sizeof BENCH_RESPONSE - 1;
    int fd = fds[(long)arg];
    char buf[256];
    while (bench_now_ns() < until) {
        if (green_write(fd, req, sizeof req - 1) < 0)
            exit(4);
        if (green_recv(fd, buf, len, MSG_WAITALL) != (ssize_t)len)
            exit(5);
        requests++;
    }
    return NULL;
}

static void *run(void *arg)
{
    (void)arg;
    green_group_t *g = green_group_new();
    for (long i = 0; i < nidle + nbusy; i++)
        green_detach(green_group_spawn_attr(g, &(green_attr_t){.stack_size = 32768}, dial, (void *)i));
    green_group_wait(g);
    double t0 = bench_now_ns();
    until = t0 + seconds * 1e9;
    for (long i = nidle; i < nidle + nbusy; i++)
        green_detach(green_group_spawn(g, busy, (void *)i));
    green_group_wait(g);
    printf("%.1f\n", requests / ((bench_now_ns() - t0) / 1e9));
    for (int i = 0; i < nidle + nbusy; i++)
        green_close(fds[i]);
    green_group_free(g);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: loadgen PORT IDLE BUSY SECONDS\n");
        return 2;
    }
    addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    nidle = atoi(argv[2]);
    nbusy = atoi(argv[3]);
    seconds = atof(argv[4]);
    fds = calloc((size_t)(nidle + nbusy), sizeof *fds);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    return green_run(run, NULL) < 0;
}
