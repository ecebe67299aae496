# The Check suites and the tools that run them: make test and its pieces,
# the hook's suites, the host loops' suites, the fault build and its
# coverage, Valgrind and the sanitizers, the fuzz target, the soak, and
# the suites on other architectures under qemu-user (included by the
# Makefile).  What a run needs of the distribution, test/deps.sh installs.

# One suite per part of lib/, listed once in test/suites.h; those marked
# `threads` there cross OS threads, and make tsan runs them.
SUITES      = $(shell sed -n 's/^GREEN_SUITE.\([a-z0-9_]*\).*/\1/p' test/suites.h)
TSAN_SUITES = $(shell sed -n 's/^GREEN_SUITE.\([a-z0-9_]*\), *threads.*/\1/p' test/suites.h)
TEST_SRC = test/main.c test/util.c $(SUITES:%=test/%.c)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)

# Check's flags are looked up when used, after test/deps.sh has run.
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)

.PHONY: deps test test-run test-confined test-hook test-host-loops test-hook-real test-faults \
        test-posix \
        posix-symbols coverage soak fuzz \
        valgrind sanitize tsan test-cross test-aarch64 test-s390x test-ppc64le test-armhf \
        test-riscv64 test-musl

# Tests link the static library, so they can reach internal counters.
# -rdynamic: a stall's stack names the suites' own functions (test/watch.c
# looks for one), as backtrace_symbols_fd finds only exported names.
# -z now: every symbol is bound at start, so the dynamic linker's resolver
# never runs in a test, on a green stack or in a signal handler.  Under
# Valgrind it once did, in the watch suite (CI, session 17): the
# resolver's own save area on the main stack was reported as an invalid
# write; it did not come back in 20 further runs.
$(BUILD)/test/%.o: test/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -iquote lib $(CHECK_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/test/run: $(TEST_OBJ) $(STATIC)
	$(CC) -rdynamic -Wl,-z,now -o $@ $^ $(CHECK_LIBS) $(LIBS_PRIVATE) $(LDFLAGS)

# The hook's suite links the shared libraries, as a program that opts in.
$(BUILD)/test/hook: test/hook.c test/public.h $(HOOK_SO)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -o $@ test/hook.c $(HOOK_LINK) \
	    $(CHECK_LIBS) -pthread $(LDFLAGS)

# The host loops' suites: green_loop_* driven by libuv's loop and by
# GLib's main loop, beside their own handles and sources.  Runners of
# their own, on the public API only, that link the host's library as
# pkg-config says (test/deps.sh installs libuv1-dev and libglib2.0-dev).
HOST_LOOPS = $(BUILD)/test/host_uv $(BUILD)/test/host_glib
$(BUILD)/test/host_uv:   HOST_PKG = libuv
$(BUILD)/test/host_glib: HOST_PKG = glib-2.0
$(HOST_LOOPS): $(BUILD)/test/%: test/%.c test/public.h $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CHECK_CFLAGS) $(shell pkg-config --cflags $(HOST_PKG)) $(CFLAGS) \
	    -o $@ $< $(STATIC) $(shell pkg-config --libs $(HOST_PKG)) $(CHECK_LIBS) \
	    $(LIBS_PRIVATE) $(LDFLAGS)

# The program the gdb extension's test debugs.
$(BUILD)/test/gdb_target: $(BUILD)/test/gdb_target.o $(STATIC)
	$(CC) -o $@ $^ $(LIBS_PRIVATE) $(LDFLAGS)

deps:
	@sh test/deps.sh check

# CK_TIMEOUT_MULTIPLIER stretches Check's per-test timeout under tools.
# test/snippets.sh compiles every C snippet of the guides, and runs those
# with a main, so that they cannot rot.
test: deps
	@$(MAKE) --no-print-directory test-run $(BUILD)/test/gdb_target
	sh test/symbols.sh $(SHARED)
	sh test/header.sh
	@$(MAKE) --no-print-directory integration-examples
	@$(MAKE) --no-print-directory man
	sh test/man.sh $(BUILD)/man/man3
	@$(MAKE) --no-print-directory test-hook test-host-loops test-bench-setup
	sh test/each_poller.sh "$(POLLERS)" sh test/gdb.sh $(BUILD)/test/gdb_target
	bash test/examples.sh $(BUILD)/examples
	CC="$(CC)" LIBS="$(LIBS_PRIVATE)" sh test/snippets.sh $(BUILD) docs/asyncio.md
	CC="$(CC)" sh test/install.sh $(BUILD)
	bash test/apt_wait.sh

# The whole suite runs once under each poller backend.
test-run: $(BUILD)/test/run $(SHARED) $(EXAMPLES)
	@sh test/each_poller.sh "$(POLLERS)" $(BUILD)/test/run

# The host loops' suites, each under each poller.
test-host-loops: $(HOST_LOOPS)
	@for t in $(HOST_LOOPS); do sh test/each_poller.sh "$(POLLERS)" $$t || exit 1; done

# The suites as a container or an older kernel runs them: no io_uring, no
# pidfd_open, no process_madvise, no MADV_GUARD_INSTALL (test/confined.c).
$(BUILD)/test/confined: test/confined.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS)

test-confined: deps $(BUILD)/test/run $(BUILD)/test/hook $(BUILD)/test/confined
	@sh test/each_poller.sh "$(POLLERS)" $(BUILD)/test/confined $(BUILD)/test/run
	@sh test/each_poller.sh "$(POLLERS)" $(BUILD)/test/confined $(BUILD)/test/hook

# libgreen-hook's suite, a runner of its own, under each poller.
test-hook: $(BUILD)/test/hook
	@sh test/each_poller.sh "$(POLLERS)" $(BUILD)/test/hook

# libgreen-hook with the real hiredis, libpq and libcurl against real
# servers (test/hook_real.sh starts and stops them), with the hook and
# without it.
HOOK_REAL_LIBS = $(shell pkg-config --cflags --libs hiredis libpq libcurl 2>/dev/null)
$(BUILD)/test/hook_real: test/hook_real.c test/public.h $(HOOK_SO)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -o $@ test/hook_real.c $(HOOK_LINK) \
	    $(HOOK_REAL_LIBS) $(CHECK_LIBS) -pthread $(LDFLAGS)
$(BUILD)/test/hook_real_plain: test/hook_real.c test/public.h $(SHARED)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -DGREEN_NO_HOOK $(CHECK_CFLAGS) $(CFLAGS) -o $@ test/hook_real.c -L$(BUILD) \
	    -lgreen -Wl,-rpath,$(abspath $(BUILD)) $(HOOK_REAL_LIBS) $(CHECK_LIBS) -pthread $(LDFLAGS)

# docs/integration.md's functions against the same servers, an HTTP server
# and a TLS peer (test/guide_real.c), linked from the objects make
# integration-examples compiles.
INTEGRATION_LIBS = $(shell pkg-config --libs $(INTEGRATION_PKGS) 2>/dev/null)
$(BUILD)/test/guide_real: test/guide_real.c test/public.h $(INTEGRATION_OBJ) $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(INTEGRATION_PKG_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -o $@ \
	    test/guide_real.c $(INTEGRATION_OBJ) $(STATIC) $(INTEGRATION_LIBS) $(CHECK_LIBS) \
	    $(LIBS_PRIVATE) $(LDFLAGS)

test-hook-real: deps
	@sh test/deps.sh hook
	@$(MAKE) --no-print-directory $(BUILD)/test/hook_real $(BUILD)/test/hook_real_plain \
	    $(BUILD)/test/guide_real
	bash test/hook_real.sh $(BUILD) $(POLLERS)

# The POSIX build (POSIX=1): every suite under poll, its only poller, then
# the proof that it calls nothing and uses nothing only Linux has
# (test/posix_symbols.sh).
test-posix: deps
	@$(MAKE) --no-print-directory POSIX=1 test-run posix-symbols

posix-symbols: $(STATIC)
	CC="$(CC)" sh test/posix_symbols.sh $(BUILD)

# The fault build: every call libgreen makes that can fail goes through a
# fault point (lib/fault.h), and the suites make them fail.
test-faults: deps
	@$(MAKE) --no-print-directory FAULTS=1 test-run

# The soak, its own runner: long by design, so not one of suites.h.
SECONDS ?= 20
$(BUILD)/test/soak: $(BUILD)/test/soak.o $(BUILD)/test/util.o $(STATIC)
	$(CC) -o $@ $^ $(CHECK_LIBS) $(LIBS_PRIVATE) $(LDFLAGS)

soak: deps
	@$(MAKE) --no-print-directory $(BUILD)/test/soak
	@GREEN_SOAK_SECONDS=$(SECONDS) sh test/each_poller.sh "$(POLLERS)" $(BUILD)/test/soak

# Coverage: the fault build with gcov, every suite under each poller, then
# gcovr's line and branch tables for lib/; it fails under the bar.
COVERAGE_BUILD = build/coverage
COVERAGE_LINES = 98
COVERAGE_BRANCHES = 92
coverage: deps
	@sh test/deps.sh coverage
	@rm -rf $(COVERAGE_BUILD)
	@$(MAKE) --no-print-directory FAULTS=1 BUILD=$(COVERAGE_BUILD) \
	    CFLAGS="-O0 -g --coverage -fprofile-update=atomic -DGREEN_COVERAGE" LDFLAGS="--coverage" test-run
	@sh test/coverage.sh $(COVERAGE_BUILD) $(COVERAGE_LINES) $(COVERAGE_BRANCHES)

# make fuzz: the stream reader's fuzz target (test/fuzz_stream.c) for
# FUZZ_SECONDS, linked with the library the rules above build, in a
# variant of its own: clang, ASan and UBSan, and libFuzzer's coverage
# where clang has libFuzzer (Debian's libclang-rt-14-dev); where it has
# not (FUZZ_ENGINE=driver), the target's own main feeds random inputs.
FUZZ_BUILD   = build/fuzz
FUZZ_SECONDS ?= 30
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=all
ifneq ($(filter fuzz,$(MAKECMDGOALS)),)
ifndef FUZZ_ENGINE
FUZZ_ENGINE := $(shell printf 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' | \
                 clang -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null && echo libfuzzer || echo driver)
endif
endif
FUZZ_CFLAGS_libfuzzer = -fsanitize=fuzzer-no-link
FUZZ_CFLAGS_driver    = -DGREEN_FUZZ_DRIVER
FUZZ_LINK_libfuzzer   = -fsanitize=fuzzer

$(BUILD)/test/fuzz_stream: $(BUILD)/test/fuzz_stream.o $(STATIC)
	$(CC) -o $@ $^ $(FUZZ_LINK_$(FUZZ_ENGINE)) $(LIBS_PRIVATE) $(LDFLAGS)

# Each engine builds apart, its flags being another's.
fuzz:
	@sh test/deps.sh fuzz
	@$(MAKE) --no-print-directory CC=clang BUILD=$(FUZZ_BUILD)/$(FUZZ_ENGINE) FUZZ_ENGINE=$(FUZZ_ENGINE) \
	    CFLAGS="-O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) $(FUZZ_CFLAGS_$(FUZZ_ENGINE))" \
	    LDFLAGS="$(FUZZ_SAN)" $(FUZZ_BUILD)/$(FUZZ_ENGINE)/test/fuzz_stream
	@sh test/fuzz.sh $(FUZZ_ENGINE) $(FUZZ_BUILD)/$(FUZZ_ENGINE) $(FUZZ_SECONDS)

# Memcheck finds the same errors with or without --track-origins; with it,
# a report of an uninitialised value also says where the value came from,
# but every mapping costs memcheck a pass over its origins: each
# scheduler's 16 MiB slab of stacks made every test that runs green_run
# three to four times slower, the suite 220 s instead of 60 s a poller.
# When a report needs the origin: make valgrind VALGRIND_ORIGINS=yes.
VALGRIND_ORIGINS ?= no
VALGRIND = valgrind --quiet --error-exitcode=99 --leak-check=full \
           --suppressions=test/valgrind.supp \
           --errors-for-leak-kinds=definite,indirect \
           --show-leak-kinds=definite,indirect --track-origins=$(VALGRIND_ORIGINS)

valgrind: deps
	@sh test/deps.sh valgrind
	@$(MAKE) --no-print-directory $(BUILD)/test/run $(BUILD)/test/hook $(HOST_LOOPS)
	@CK_TIMEOUT_MULTIPLIER=10 sh test/each_poller.sh "$(POLLERS)" $(VALGRIND) $(BUILD)/test/run
	@CK_TIMEOUT_MULTIPLIER=10 sh test/each_poller.sh "$(POLLERS)" $(VALGRIND) $(BUILD)/test/hook
	@for t in $(HOST_LOOPS); do \
	    CK_TIMEOUT_MULTIPLIER=10 sh test/each_poller.sh "$(POLLERS)" $(VALGRIND) $$t || exit 1; done

SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=all

sanitize: deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/sanitize \
	    CFLAGS="$(SAN_FLAGS) $(CFLAGS)" LDFLAGS="-fsanitize=address,undefined $(LDFLAGS)" \
	    $(BUILD)/sanitize/test/run
	@sh test/each_poller.sh "$(POLLERS)" sh test/sanitize.sh $(BUILD)/sanitize/test/run

# The suites that cross OS threads under ThreadSanitizer, which follows
# each green thread as a fiber, under each poller.
tsan: deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/tsan \
	    CFLAGS="-O1 -g -fsanitize=thread $(CFLAGS)" LDFLAGS="-fsanitize=thread $(LDFLAGS)" \
	    $(BUILD)/tsan/test/run
	@TSAN_OPTIONS=halt_on_error=1:exitcode=66 CK_TIMEOUT_MULTIPLIER=4 sh test/each_poller.sh "$(POLLERS)" \
	    sh test/each_suite.sh "$(TSAN_SUITES)" $(BUILD)/tsan/test/run

# Another architecture: the library, every suite and the examples
# cross-compiled for TRIPLE and run under qemu-user (test/cross.sh says
# how), with the switch SWITCH names, under CROSS_POLLERS: epoll, since
# qemu-user has no io_uring (uring would be epoll again), and poll holds
# no state a port could break.
#   make test-cross TRIPLE=riscv64-linux-gnu [SWITCH=fast]
# The targets below are the ports CI runs, each for what it alone shows.
CROSS_POLLERS ?= epoll
test-cross:
	@test -n "$(TRIPLE)" || { echo "make test-cross: say TRIPLE=, e.g. TRIPLE=riscv64-linux-gnu" >&2; exit 2; }
	@sh test/cross.sh $(TRIPLE) $(SWITCH) "$(CROSS_POLLERS)"
CROSS_TO = @$(MAKE) --no-print-directory test-cross TRIPLE=$(1)

# aarch64: the second fast switch.
test-aarch64:
	$(call CROSS_TO,aarch64-linux-gnu)

# riscv64: the third fast switch; Check built from source (Debian 12 has
# none for riscv64), tls_echo left out (no OpenSSL either).
test-riscv64:
	$(call CROSS_TO,riscv64-linux-gnu)

# armhf, 32 bits: a 32-bit address space, 32-bit longs and pointers, and
# the fourth fast switch.
test-armhf:
	$(call CROSS_TO,arm-linux-gnueabihf)

# s390x, big-endian: what a little-endian machine cannot show (the ring's
# poll mask, whose 16-bit halves io_uring swaps on a big-endian machine;
# any byte order a test or the library assumes).  ucontext: there is no
# fast switch for s390x.  Without tls_echo: Debian 12 has no s390x
# OpenSSL that installs beside amd64's.
test-s390x:
	$(call CROSS_TO,s390x-linux-gnu) SWITCH=ucontext

# ppc64le with 64 KiB pages, as RHEL's kernels have them (qemu-user's
# QEMU_PAGESIZE): what a page larger than 4 KiB changes (the smallest
# stack is one page, guards are whole pages).
test-ppc64le:
	$(call CROSS_TO,powerpc64le-linux-gnu) SWITCH=ucontext QEMU_PAGESIZE=65536

# musl, the C library of Alpine, with Debian's musl-gcc: every suite and
# the hook's, under each poller, and the examples.  The build chooses the switch by itself
# (musl has no makecontext: the fast switch, or libucontext's where it is
# installed, as on Alpine; Debian 12 has none) and puts the kernel's
# headers on musl-gcc's path, so uring is the real ring
# (lib/switch_probe.sh, lib/kernel_headers.sh).  Debian has no musl
# Check, so test/check_source.sh builds it, and no musl OpenSSL, libuv
# or GLib: the examples leave tls_echo, uv_echo and glib_pipe out.
MUSL_BUILD = build/musl
MUSL_CHECK = build/check-musl
test-musl:
	@sh test/deps.sh musl
	@sh test/check_source.sh $(ARCH)-linux-musl musl-gcc $(MUSL_CHECK)
	@$(MAKE) --no-print-directory CC=musl-gcc BUILD=$(MUSL_BUILD) \
	    CHECK_CFLAGS="-I$(MUSL_CHECK)/include" CHECK_LIBS="$(MUSL_CHECK)/lib/libcheck.a -lm" \
	    NO_TLS=1 NO_UV=1 NO_GLIB=1 $(MUSL_BUILD)/test/run $(MUSL_BUILD)/test/hook examples
	@sh test/each_poller.sh "$(POLLERS)" $(MUSL_BUILD)/test/run
	@sh test/each_poller.sh "$(POLLERS)" $(MUSL_BUILD)/test/hook
	bash test/examples.sh $(MUSL_BUILD)/examples

-include $(TEST_OBJ:.o=.d) $(HOST_LOOPS:=.d) $(BUILD)/test/soak.d $(BUILD)/test/gdb_target.d $(BUILD)/test/fuzz_stream.d
