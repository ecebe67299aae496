/* Helpers shared by the test suites. */
#ifndef GREEN_TEST_UTIL_H
#define GREEN_TEST_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "green.h"

/* Every suite, from the one list in suites.h. */
#define GREEN_SUITE(name, ...) Suite *name##_suite(void);
#include "suites.h"
#undef GREEN_SUITE

/* Runs fn as green_run's main and checks that green_run returned 0. */
void run_green(void *(*fn)(void *), void *arg);

/* A Check test whose body runs as green_run's main:
 *     GREEN_TEST(name) { ...; return NULL; }      (the body sees `arg`) */
#define GREEN_TEST(name)                    \
    static void *name##_main(void *arg);    \
    START_TEST(name)                        \
    {                                       \
        run_green(name##_main, NULL);       \
    }                                       \
    END_TEST                                \
    static void *name##_main(void *arg)

/* Runs fn as main on n schedulers (green_run_attr) and checks that the
 * run returned 0. */
void run_on(unsigned n, void *(*fn)(void *), void *arg);

/* A Check test whose body runs as main of a run of n schedulers. */
#define CORES_TEST(name, n)                 \
    static void *name##_main(void *arg);    \
    START_TEST(name)                        \
    {                                       \
        run_on(n, name##_main, NULL);       \
    }                                       \
    END_TEST                                \
    static void *name##_main(void *arg)

/* Spawns fn on scheduler index of the run, checking that it could. */
green_t *spawn_on(int index, void *(*fn)(void *), void *arg);

/* Adds a test of a failure path that only the test build with fault
 * points reaches (make test-faults; lib/fault.h), where the test is
 * compiled (under #ifdef GREEN_FAULTS); in the ordinary build it adds
 * nothing.  Each suite keeps such tests in a case named "faults", so
 * CK_RUN_CASE=faults runs them all. */
#ifdef GREEN_FAULTS
#define add_fault_test(tc, test) tcase_add_test(tc, test)
#define add_fault_loop_test(tc, test, start, end) tcase_add_loop_test(tc, test, start, end)
#else
#define add_fault_test(tc, test) ((void)(tc))
#define add_fault_loop_test(tc, test, start, end) ((void)(tc))
#endif

/* Whether the tests run under Valgrind or AddressSanitizer, which some
 * tests cannot share the process with. */
bool under_valgrind(void);
bool under_asan(void);

/* The bytes malloc has handed out and not had back, in *bytes, where the
 * C library says (glibc's mallinfo2): whether it did (musl's does not). */
bool heap_in_use(size_t *bytes);

/* Gives the heap's free memory back to the system where the C library
 * keeps it until asked (glibc's malloc_trim); musl's gives it back as it
 * is freed. */
void trim_heap(void);

/* Ends a child the test forked, as _exit does; a coverage build writes
 * the child's counts first. */
_Noreturn void exit_child(int code);

/* fork(), but in a coverage build the child keeps the counts of the fork
 * handlers (pthread_atfork) that ran in it. */
pid_t fork_counted(void);

/* Reads n bytes from a blocking fd, or up to end of file or an error. */
ssize_t read_blocking(int fd, void *buf, size_t n);

/* Whether the tests run under qemu-user (make test-aarch64 says so), whose
 * fork() in a process with other threads fails its own assertions. */
bool under_qemu(void);

/* Whether this process may make an io_uring: not under qemu-user, nor
 * in a container whose seccomp profile refuses it (make test-confined),
 * nor on a kernel without it.  Where it may not, the uring backend falls
 * back and its own tests have nothing to check. */
bool kernel_has_uring(void);

/* Whether the tests run under ThreadSanitizer, which cannot start threads
 * in the child of a fork made while threads ran. */
bool under_tsan(void);

/* A green thread's body: reads a byte from fd_err[0] and stores the
 * errno it failed with, or 0, in fd_err[1]. */
void *read_err(void *arg);

/* A green thread's body: echoes what comes on fd (passed as intptr_t)
 * until end of file or an error, then closes it. */
void *echo_fd(void *arg);

/* Parks the running green thread on nothing: only a wake-up from outside
 * (cancellation) ends it.  Returns what green__park returned. */
int park_forever(void);

/* Everything written to f, which it closes (malloc'd). */
char *file_text(FILE *f);

/* Redirects stderr into a temporary file until stderr_end, which returns
 * what was written (malloc'd), less ASan's warning about switching. */
void stderr_begin(void);
char *stderr_end(void);

/* What green_dump writes now (malloc'd). */
char *dump_text(void);

/* Yields until green_dump shows what at least n times (threads on other
 * schedulers, or not yet parked, get there meanwhile); the dump that did
 * (malloc'd).  The test's timeout bounds it. */
char *dump_until(const char *what, int n);

/* Runs main (with green_run, or on that many schedulers) and checks that
 * the run failed with EDEADLK; what it wrote to stderr (malloc'd). */
char *run_deadlocked(unsigned schedulers, void *(*main)(void *));

/* A socket pair and a pipe, failing the test if they cannot be made. */
void make_socketpair(int sv[2]);
void make_pipe(int fds[2]);

/* A TCP listener on 127.0.0.1 at an ephemeral port; *port gets it. */
int tcp_listener(unsigned short *port);

/* Whether the kernel may read the byte at addr: a write(2) from it to the
 * pipe pfd fails with EFAULT, without a signal, when it is a guard page. */
bool kernel_can_read(int pfd[2], const void *addr);

/* A connected TCP pair on 127.0.0.1 made by libgreen (green_tcp_listen,
 * green_tcp_connect, green_accept), inside green_run: the connecting end,
 * and the accepted one in *accepted. */
int tcp_pair(int *accepted);

/* Records in one regular file, written and read through one fd by a pool
 * of green threads (test/io.c, the soak): FILE_RECORDS records of FILE_RECORD bytes,
 * each holding its own number in every word, so that a record read twice,
 * written over another or cut short shows. */
enum { FILE_RECORDS = 256, FILE_RECORD = 64 * 1024, FILE_POOL = 8 };

struct shared_file {
    int fd;
    unsigned next;                /* the next record to write */
    unsigned char seen[FILE_RECORDS];  /* how often each record was read */
    int bad;                      /* reads that were short or mixed */
};

/* A temporary file opened for reading and writing, unlinked; with
 * O_DIRECT when direct and the file system takes it. */
int temp_file(bool direct);

/* A file of the records in order, synced and dropped from the page cache,
 * opened read-only (with O_DIRECT when direct and the file system takes
 * it), so that its reads are slow enough to be in flight together. */
int uncached_records(bool direct);

/* FILE_POOL green threads write every record through f->fd, each whole. */
void pool_write(struct shared_file *f);

/* FILE_POOL green threads read f->fd to its end, counting in f->seen. */
void pool_read(struct shared_file *f);

/* Counts the records f->fd holds into f->seen, with pread. */
void count_records(struct shared_file *f);

/* Every record seen exactly once, and no read bad. */
void check_each_once(const struct shared_file *f);

#endif
