# libgreen: stackful green threads for C.
#
#   make                 static and shared library under build/
#   make test            the Check suites, then the examples as smoke tests
#   make bench           the benchmarks beside the peers (make bench-deps
#                        installs the peers; QUICK=1 for a short run)
#   make examples        docs/examples/*.c
#   make valgrind        the suites under memcheck (VALGRIND_ORIGINS=yes to
#                        have uninitialised values' origins reported)
#   make sanitize        the suites under AddressSanitizer and UBSan
#   make tsan            the cross-thread suites under ThreadSanitizer
#   make test-confined   the suites under a seccomp filter that refuses
#                        io_uring, pidfd_open, process_madvise and
#                        MADV_GUARD_INSTALL, as containers and older kernels do
#   make test-faults     the suites in the test build with fault points
#                        (FAULTS=1), which adds each suite's failure tests
#                        and the fault points' sweep
#   make coverage        line and branch coverage of lib/ by those suites
#   make fuzz            the stream reader's fuzz target for FUZZ_SECONDS (30)
#   make soak            an echo server under normal and hostile clients for
#                        SECONDS (20) under each poller
#   make test-cross TRIPLE=riscv64-linux-gnu
#                        the suites and examples cross-compiled for TRIPLE
#                        and run under qemu-user (test/cross.sh), with Check
#                        built from source where Debian has none for it;
#                        the targets below are the ports CI runs:
#   make test-aarch64    the suites and examples cross-compiled for aarch64,
#                        run under qemu-user
#   make test-s390x      the suites and examples cross-compiled for s390x,
#                        big-endian, run under qemu-user
#   make test-ppc64le    the suites and examples cross-compiled for ppc64le,
#                        run under qemu-user with 64 KiB pages
#   make test-armhf      the suites and examples cross-compiled for 32-bit
#                        ARM, run under qemu-user (SWITCH=fast for the fast
#                        switch)
#   make test-riscv64    the suites and examples cross-compiled for riscv64
#                        (with Check built from source), run under qemu-user
#                        (SWITCH=fast for the fast switch)
#   make test-posix      the suites in the POSIX build (below), under poll,
#                        and test/posix_symbols.sh's proof that it calls
#                        nothing Linux-only
#   make test-musl       the suites and the hook's built with musl-gcc (with
#                        Check built from source), under each poller
#   make install         PREFIX (/usr/local) and DESTDIR are honoured
#
# Build variables: SWITCH=fast for the assembly context switch; FAULTS=1 for
# the test build with fault points; POSIX=1 for the POSIX build, which
# leaves out every Linux-only path (epoll, io_uring, eventfd, pidfd,
# process_madvise, MADV_GUARD_INSTALL, accept4, pipe2, MSG_NOSIGNAL, the
# SOCK_ and MAP_ flags, CPU affinity, glibc's ucontext internals) and
# libgreen-hook, and is what a system other than Linux gets by itself
# (docs/design.md, "Other systems").  Each variant builds under a BUILD of
# its own.
#
# CFLAGS and LDFLAGS are yours: they are appended to what the build needs.
#
# This file holds what every part of the build shares; each part is in the
# folder it builds: lib/lib.mk (the libraries, their installation),
# docs/docs.mk (the examples, the man pages), test/test.mk (the suites and
# the tools that run them), bench/bench.mk (the benchmarks, their peers).

VERSION    = 0.2.0
SOVERSION  = 1

CFLAGS  ?= -O2 -g
ARCH    := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine)))
# The context switch, SWITCH=ucontext or SWITCH=fast; by default ucontext
# where makecontext links, from the C library (glibc) or from libucontext
# (musl, which declares makecontext but has none), else fast where lib/
# has it for ARCH: lib/switch_probe.sh links a probe to say which, and
# what SWITCH_LIBS ucontext then needs.  Its answer is passed down to the
# makes this one runs, which probe again only with another compiler.
ifneq ($(SWITCH_PROBE_CC),$(CC))
SWITCH_PROBE    := $(shell sh lib/switch_probe.sh "$(CC)" $(ARCH) $(LDFLAGS))
SWITCH_PROBE_CC := $(CC)
export SWITCH_PROBE SWITCH_PROBE_CC
endif
SWITCH  ?= $(firstword $(SWITCH_PROBE))
ifeq ($(SWITCH),none)
$(error $(CC) has no makecontext for $(ARCH) (on musl: install libucontext) and lib/ no fast switch)
endif
SWITCH_LIBS = $(if $(filter ucontext,$(SWITCH)),$(wordlist 2,9,$(SWITCH_PROBE)))
# What a program that links libgreen.a links after it (green.pc's
# Libs.private).
LIBS_PRIVATE = $(strip $(SWITCH_LIBS) -pthread)
# FAULTS=1 builds the test build with fault points (lib/fault.h).
FAULTS  ?=
# POSIX=1 builds with poll(2) and POSIX calls alone (GREEN_POSIX_ONLY);
# off Linux it is the only build.
HOST    := $(shell uname -s)
ifneq ($(HOST),Linux)
override POSIX = 1
endif
# Each switch backend builds apart: build/ for ucontext, build/fast/ ...;
# the POSIX build on Linux under posix/, the fault build under faults/ in
# them.  (Another compiler, as musl-gcc, builds apart too when BUILD says
# where: make test-musl does.)
BUILD   ?= build$(if $(and $(POSIX),$(filter Linux,$(HOST))),/posix)$(if \
             $(filter-out ucontext,$(SWITCH)),/$(SWITCH))$(if $(FAULTS),/faults)

WARNINGS = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# Large frames touch their pages in order, so none steps over a guard
# region unseen; where the compiler has it.
STACK_CLASH := $(shell $(CC) -fstack-clash-protection -Werror -c -x c /dev/null \
                 -o /dev/null 2>/dev/null && echo -fstack-clash-protection)
SWITCH_CFLAGS = $(if $(filter fast,$(SWITCH)),-DGREEN_SWITCH_FAST)
FAULT_CFLAGS  = $(if $(FAULTS),-DGREEN_FAULTS)
POSIX_CFLAGS  = $(if $(POSIX),-DGREEN_POSIX_ONLY)
BASE_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARNINGS) -Iinclude -MMD -MP $(SWITCH_CFLAGS) \
              $(FAULT_CFLAGS) $(POSIX_CFLAGS) $(KERNEL_CFLAGS)

# epoll and io_uring are Linux's; in the POSIX build poll(2) is the only
# poller.
ifeq ($(POSIX),)
LINUX   = 1
POLLERS = epoll poll uring
# A compiler that does not find the kernel's headers (Debian's musl-gcc)
# gets them alone on its path, or io_uring compiles to its stub
# (lib/kernel_headers.sh).
KERNEL_CFLAGS := $(shell sh lib/kernel_headers.sh "$(CC)" $(BUILD)/kernel)
else
POLLERS = poll
endif

.DEFAULT_GOAL := all
.PHONY: all clean

include lib/lib.mk docs/docs.mk test/test.mk bench/bench.mk

clean:
	rm -rf build
