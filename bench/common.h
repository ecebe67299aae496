/*
 * What the C benchmark programs share: a clock, reading the process's
 * memory, and the fixed HTTP exchange of the http-hello workload.
 */
#ifndef GREEN_BENCH_COMMON_H
#define GREEN_BENCH_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Resident memory plus page tables of this process, in bytes. */
static inline double bench_memory(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0 || strncmp(line, "VmPTE:", 6) == 0)
            kb += atof(line + 6);
    if (f)
        fclose(f);
    return kb * 1024;
}

/* A TCP listener on 127.0.0.1:port with a deep backlog; exits on failure,
 * since a benchmark server without its socket has nothing to do. */
static inline int bench_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 4096) < 0) {
        perror("listen");
        exit(1);
    }
    return fd;
}

/* The answer to every request: 13 bytes of body. */
#define BENCH_RESPONSE                                                       \
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n" \
    "\r\nHello, World!"

/* Counts the complete requests at the start of buf[0..n) (each ends with a
 * blank line) and moves what is left to the front; returns the count and
 * stores the bytes left in *left. */
static inline int bench_requests(char *buf, size_t n, size_t *left)
{
    int count = 0;
    size_t start = 0;
    for (size_t i = 3; i < n; i++)
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
            count++;
            start = i + 1;
        }
    memmove(buf, buf + start, n - start);
    *left = n - start;
    return count;
}

#endif
