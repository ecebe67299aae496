/* Runs a command as a container or an older kernel would: a seccomp filter
 * refuses io_uring, pidfd_open and process_madvise with EPERM (what
 * Docker's default profile answers), and madvise(MADV_GUARD_INSTALL) with
 * EINVAL (what a kernel before 6.13 answers).  libgreen must fall back on
 * each, and the suites must pass here: make test-confined.
 *   build/test/confined COMMAND [ARG...]
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "confined: add this architecture's AUDIT_ARCH"
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* The low 32 bits of argument i (the filter sees 32-bit words). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#else
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#endif

#define LOAD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define IF_EQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))

static struct sock_filter filter[] = {
    LOAD(offsetof(struct seccomp_data, arch)),
    IF_EQ(ARCH, 1, 0),
    RET(SECCOMP_RET_KILL_PROCESS),
    LOAD(offsetof(struct seccomp_data, nr)),
    IF_EQ(__NR_io_uring_setup, 6, 0),
    IF_EQ(__NR_io_uring_enter, 5, 0),
    IF_EQ(__NR_io_uring_register, 4, 0),
    IF_EQ(__NR_pidfd_open, 3, 0),
    IF_EQ(__NR_process_madvise, 2, 0),
    IF_EQ(__NR_madvise, 2, 0),
    RET(SECCOMP_RET_ALLOW),
    RET(SECCOMP_RET_ERRNO | EPERM),
    LOAD(ARG_LO(2)),
    IF_EQ(MADV_GUARD_INSTALL, 0, 1),
    RET(SECCOMP_RET_ERRNO | EINVAL),
    RET(SECCOMP_RET_ALLOW),
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: confined COMMAND [ARG...]\n");
        return 2;
    }
    struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
        fprintf(stderr, "confined: cannot install the filter: %s\n", strerror(errno));
        return 2;
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "confined: %s: %s\n", argv[1], strerror(errno));
    return 127;
}
