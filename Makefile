# libgreen: stackful green threads for C.
#
#   make                 static and shared library under build/
#   make test            the Check suites, then the examples as smoke tests
#   make bench           the benchmarks beside the peers (make bench-deps
#                        installs the peers; QUICK=1 for a short run)
#   make examples        docs/examples/*.c
#   make valgrind        the suites under memcheck
#   make sanitize        the suites under AddressSanitizer and UBSan
#   make tsan            the cross-thread suites under ThreadSanitizer
#   make test-faults     the suites in the test build with fault points
#                        (FAULTS=1), which adds the fault suite
#   make coverage        line and branch coverage of lib/ by those suites
#   make fuzz            the stream reader's fuzz target for FUZZ_SECONDS (30)
#   make soak            an echo server under normal and hostile clients for
#                        SECONDS (20) under each poller
#   make test-aarch64    the suites and examples cross-compiled for aarch64,
#                        run under qemu-user
#   make install         PREFIX (/usr/local) and DESTDIR are honoured
#
# CFLAGS and LDFLAGS are yours: they are appended to what the build needs.

VERSION    = 0.2.0
SOVERSION  = 0

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PCDIR      ?= $(LIBDIR)/pkgconfig
CMAKEDIR   ?= $(LIBDIR)/cmake/green
MANDIR     ?= $(DATADIR)/man
DATADIR    ?= $(PREFIX)/share
# gdb loads a library's script from here by itself (for PREFIX=/usr; else
# see docs/api.md, "From a debugger").
GDB_AUTOLOAD = $(DATADIR)/gdb/auto-load$(LIBDIR)

CFLAGS  ?= -O2 -g
SWITCH  ?= ucontext
# FAULTS=1 builds the test build with fault points (lib/fault.h).
FAULTS  ?=
# Each switch backend builds apart: build/ for ucontext, build/fast/ ...;
# the fault build under faults/ in it.
BUILD   ?= build$(if $(filter-out ucontext,$(SWITCH)),/$(SWITCH))$(if $(FAULTS),/faults)
ARCH    := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine)))

WARNINGS = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# Large frames touch their pages in order, so none steps over a guard
# region unseen; where the compiler has it.
STACK_CLASH := $(shell $(CC) -fstack-clash-protection -Werror -c -x c /dev/null \
                 -o /dev/null 2>/dev/null && echo -fstack-clash-protection)
SWITCH_CFLAGS = $(if $(filter fast,$(SWITCH)),-DGREEN_SWITCH_FAST)
FAULT_CFLAGS  = $(if $(FAULTS),-DGREEN_FAULTS)
BASE_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARNINGS) -Iinclude -MMD -MP $(SWITCH_CFLAGS) $(FAULT_CFLAGS)
LIB_CFLAGS  = $(BASE_CFLAGS) -fPIC -fvisibility=hidden $(POLLER_CFLAGS) $(STACK_CLASH)

LIB_SRC = lib/sched.c lib/stack.c lib/timer.c lib/sleep.c lib/io.c \
          lib/poller.c lib/poller_poll.c lib/overflow.c lib/dump.c \
          lib/group.c lib/chan.c lib/sync.c lib/inbox.c lib/offload.c \
          lib/net.c lib/proc.c lib/signal.c lib/queue.c lib/watch.c lib/os_thread.c lib/stream.c lib/race.c lib/sys.c lib/version.c \
          lib/switch_$(SWITCH).c $(if $(filter fast,$(SWITCH)),lib/switch_fast_$(ARCH).S) \
          $(if $(FAULTS),lib/fault.c)
# epoll and io_uring are Linux's; elsewhere poll(2) is the only poller.
ifeq ($(shell uname -s),Linux)
LIB_SRC += lib/poller_epoll.c lib/poller_uring.c
POLLER_CFLAGS = -DGREEN_HAVE_EPOLL
POLLERS = epoll poll uring
else
POLLERS = poll
endif
LIB_OBJ = $(patsubst %.S,$(BUILD)/%.o,$(LIB_SRC:%.c=$(BUILD)/%.o))

# One suite per part of lib/, listed once in test/suites.h; those marked
# `threads` there cross OS threads, and make tsan runs them.
SUITES      = $(shell sed -n 's/^GREEN_SUITE.\([a-z0-9_]*\).*/\1/p' test/suites.h)
TSAN_SUITES = $(shell sed -n 's/^GREEN_SUITE.\([a-z0-9_]*\), *threads.*/\1/p' test/suites.h)
TEST_SRC = test/main.c test/util.c $(SUITES:%=test/%.c)
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)

EXAMPLES = $(patsubst docs/examples/%.c,$(BUILD)/examples/%,$(wildcard docs/examples/*.c))

STATIC = $(BUILD)/libgreen.a
SHARED = $(BUILD)/libgreen.so.$(VERSION)
# libgreen-hook: the blocking calls interposed (docs/hooks.md); opt-in,
# and built apart from libgreen, on its public API.  A program links it
# with --no-as-needed: its own code may call none of the hook's names.
HOOK_SRC = lib/hook.c lib/hook_wait.c lib/hook_pipe.c
HOOK_OBJ = $(HOOK_SRC:%.c=$(BUILD)/%.o)
HOOK_SO  = $(BUILD)/libgreen-hook.so.$(VERSION)
HOOK_LINK = -L$(BUILD) -Wl,--push-state,--no-as-needed -lgreen-hook -Wl,--pop-state -lgreen \
            -Wl,-rpath,$(abspath $(BUILD))

# Check's flags are looked up when used, after test/deps.sh has run.
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS   = $(shell pkg-config --libs check)

.PHONY: all test bench bench-peers bench-deps examples install uninstall clean \
        valgrind sanitize tsan deps test-run test-hook test-hook-real test-bench-setup man test-aarch64 test-faults coverage soak fuzz

all: $(STATIC) $(SHARED) $(HOOK_SO)

$(BUILD)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/lib/%.o: lib/%.S
	@mkdir -p $(@D)
	$(CC) $(SWITCH_CFLAGS) $(CFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libgreen.so.$(SOVERSION) -o $@ $^ -pthread $(LDFLAGS)
	ln -sf libgreen.so.$(VERSION) $(BUILD)/libgreen.so.$(SOVERSION)
	ln -sf libgreen.so.$(VERSION) $(BUILD)/libgreen.so

$(HOOK_SO): $(HOOK_OBJ) $(SHARED)
	$(CC) -shared -Wl,-soname,libgreen-hook.so.$(SOVERSION) -o $@ $(HOOK_OBJ) \
	    -L$(BUILD) -lgreen -pthread $(LDFLAGS)
	ln -sf libgreen-hook.so.$(VERSION) $(BUILD)/libgreen-hook.so.$(SOVERSION)
	ln -sf libgreen-hook.so.$(VERSION) $(BUILD)/libgreen-hook.so

# Tests link the static library, so they can reach internal counters.
$(BUILD)/test/%.o: test/%.c
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) -iquote lib $(CHECK_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/test/run: $(TEST_OBJ) $(STATIC)
	$(CC) -o $@ $^ $(CHECK_LIBS) -pthread $(LDFLAGS)

# The hook's suite links the shared libraries, as a program that opts in.
$(BUILD)/test/hook: test/hook.c test/public.h $(HOOK_SO)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -o $@ test/hook.c $(HOOK_LINK) \
	    $(CHECK_LIBS) -pthread $(LDFLAGS)

# The program the gdb extension's test debugs.
$(BUILD)/test/gdb_target: $(BUILD)/test/gdb_target.o $(STATIC)
	$(CC) -o $@ $^ -pthread $(LDFLAGS)

$(BUILD)/examples/%: docs/examples/%.c $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(STACK_CLASH) $(CFLAGS) -o $@ $< $(STATIC) $(EXAMPLE_LIBS) -pthread $(LDFLAGS)

# The OpenSSL example links OpenSSL (test/deps.sh installs libssl-dev).
$(BUILD)/examples/tls_echo: EXAMPLE_LIBS = -lssl -lcrypto

examples: $(EXAMPLES)

deps:
	@sh test/deps.sh check

# CK_TIMEOUT_MULTIPLIER stretches Check's per-test timeout under tools.
test: deps
	@$(MAKE) --no-print-directory test-run $(BUILD)/test/gdb_target
	sh test/symbols.sh $(SHARED)
	sh test/header.sh
	@$(MAKE) --no-print-directory man
	sh test/man.sh $(BUILD)/man/man3
	@$(MAKE) --no-print-directory test-hook test-bench-setup
	@for p in $(POLLERS); do echo "--- gdb, GREEN_POLLER=$$p"; \
	    GREEN_POLLER=$$p sh test/gdb.sh $(BUILD)/test/gdb_target || exit 1; done
	bash test/examples.sh $(BUILD)/examples
	CC="$(CC)" sh test/install.sh $(BUILD)

# The whole suite runs once under each poller backend.
test-run: $(BUILD)/test/run $(SHARED) $(EXAMPLES)
	@for p in $(POLLERS); do echo "--- GREEN_POLLER=$$p"; \
	    GREEN_POLLER=$$p $(BUILD)/test/run || exit 1; done

# libgreen-hook's suite, a runner of its own, under each poller.
test-hook: $(BUILD)/test/hook
	@for p in $(POLLERS); do echo "--- hook, GREEN_POLLER=$$p"; \
	    GREEN_POLLER=$$p $(BUILD)/test/hook || exit 1; done

# libgreen-hook with the real hiredis, libpq and libcurl against real
# servers (test/hook_real.sh starts and stops them), with the hook and
# without it.
HOOK_REAL_LIBS = $(shell pkg-config --cflags --libs hiredis libpq libcurl 2>/dev/null)
$(BUILD)/test/hook_real: test/hook_real.c test/public.h $(HOOK_SO)
	$(CC) $(BASE_CFLAGS) $(CHECK_CFLAGS) $(CFLAGS) -o $@ test/hook_real.c $(HOOK_LINK) \
	    $(HOOK_REAL_LIBS) $(CHECK_LIBS) -pthread $(LDFLAGS)
$(BUILD)/test/hook_real_plain: test/hook_real.c test/public.h $(SHARED)
	$(CC) $(BASE_CFLAGS) -DGREEN_NO_HOOK $(CHECK_CFLAGS) $(CFLAGS) -o $@ test/hook_real.c -L$(BUILD) \
	    -lgreen -Wl,-rpath,$(abspath $(BUILD)) $(HOOK_REAL_LIBS) $(CHECK_LIBS) -pthread $(LDFLAGS)

test-hook-real: deps
	@sh test/deps.sh hook
	@$(MAKE) --no-print-directory $(BUILD)/test/hook_real $(BUILD)/test/hook_real_plain
	bash test/hook_real.sh $(BUILD) $(POLLERS)

# The fault build: every call libgreen makes that can fail goes through a
# fault point (lib/fault.h), and test/fault.c makes them fail.
test-faults: deps
	@$(MAKE) --no-print-directory FAULTS=1 test-run

# The soak, its own runner: long by design, so not one of suites.h.
SECONDS ?= 20
$(BUILD)/test/soak: $(BUILD)/test/soak.o $(BUILD)/test/util.o $(STATIC)
	$(CC) -o $@ $^ $(CHECK_LIBS) -pthread $(LDFLAGS)

soak: deps
	@$(MAKE) --no-print-directory $(BUILD)/test/soak
	@for p in $(POLLERS); do echo "--- soak, GREEN_POLLER=$$p"; \
	    GREEN_POLLER=$$p GREEN_SOAK_SECONDS=$(SECONDS) $(BUILD)/test/soak || exit 1; done

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
	@echo "--- lines"
	@gcovr -r . --filter lib/ --exclude lib/fault.c --object-directory $(COVERAGE_BUILD) | sed -n '/^File/,$$p'
	@echo "--- branches"
	@gcovr -r . --filter lib/ --exclude lib/fault.c --object-directory $(COVERAGE_BUILD) --branches \
	    --exclude-unreachable-branches | sed -n '/^File/,$$p'
	@gcovr -r . --filter lib/ --exclude lib/fault.c --object-directory $(COVERAGE_BUILD) \
	    --exclude-unreachable-branches --fail-under-line $(COVERAGE_LINES) \
	    --fail-under-branch $(COVERAGE_BRANCHES) >/dev/null || \
	    { echo "coverage is under the bar: $(COVERAGE_LINES)% of lines, $(COVERAGE_BRANCHES)% of branches"; exit 1; }

# make fuzz: the stream reader's fuzz target (test/fuzz_stream.c) for
# FUZZ_SECONDS, built with clang's libFuzzer, ASan and UBSan; where
# libFuzzer is missing, with a driver of random inputs instead.
FUZZ_BUILD   = build/fuzz
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS  = $(BASE_CFLAGS) $(POLLER_CFLAGS) -iquote lib -O1 -g -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz:
	@mkdir -p $(FUZZ_BUILD)/corpus
	@if clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $(FUZZ_BUILD)/fuzz_stream \
	        test/fuzz_stream.c $(LIB_SRC) -pthread 2>$(FUZZ_BUILD)/build.log; then \
	    $(FUZZ_BUILD)/fuzz_stream -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=$(FUZZ_BUILD)/ \
	        $(FUZZ_BUILD)/corpus >$(FUZZ_BUILD)/fuzz.log 2>&1; rc=$$?; \
	    if [ $$rc = 0 ]; then grep -E "DONE|^Done" $(FUZZ_BUILD)/fuzz.log; \
	    else tail -40 $(FUZZ_BUILD)/fuzz.log; exit 1; fi; \
	else echo "fuzz: no libFuzzer here (Debian's libclang-rt-14-dev): random inputs instead"; \
	    clang $(FUZZ_CFLAGS) -DGREEN_FUZZ_DRIVER -o $(FUZZ_BUILD)/fuzz_driver \
	        test/fuzz_stream.c $(LIB_SRC) -pthread && $(FUZZ_BUILD)/fuzz_driver $(FUZZ_SECONDS); fi

VALGRIND = valgrind --quiet --error-exitcode=99 --leak-check=full \
           --suppressions=test/valgrind.supp \
           --errors-for-leak-kinds=definite,indirect \
           --show-leak-kinds=definite,indirect --track-origins=yes

valgrind: deps
	@sh test/deps.sh valgrind
	@$(MAKE) --no-print-directory $(BUILD)/test/run $(BUILD)/test/hook
	@CK_TIMEOUT_MULTIPLIER=10 sh test/each_poller.sh "$(POLLERS)" $(VALGRIND) $(BUILD)/test/run
	@CK_TIMEOUT_MULTIPLIER=10 sh test/each_poller.sh "$(POLLERS)" $(VALGRIND) $(BUILD)/test/hook

SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=all

sanitize: deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/sanitize \
	    CFLAGS="$(SAN_FLAGS) $(CFLAGS)" LDFLAGS="-fsanitize=address,undefined $(LDFLAGS)" \
	    $(BUILD)/sanitize/test/run
	@# ASan warns once per process that it does not fully support
	@# swapcontext; libgreen calls its fiber hooks, so that line is dropped.
	@for p in $(POLLERS); do echo "--- GREEN_POLLER=$$p"; \
	    (GREEN_POLLER=$$p CK_TIMEOUT_MULTIPLIER=4 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/sanitize/test/run 2>&1; \
	    echo $$? > $(BUILD)/sanitize/status) | grep -v "fully support makecontext/swapcontext"; \
	    [ "$$(cat $(BUILD)/sanitize/status)" = 0 ] || exit 1; done

# Every suite that crosses OS threads (marked `threads` in test/suites.h)
# under ThreadSanitizer, which follows each green thread as a fiber, under
# each poller.
tsan: deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/tsan \
	    CFLAGS="-O1 -g -fsanitize=thread $(CFLAGS)" LDFLAGS="-fsanitize=thread $(LDFLAGS)" \
	    $(BUILD)/tsan/test/run
	@for p in $(POLLERS); do for s in $(TSAN_SUITES); do echo "--- tsan: $$s, GREEN_POLLER=$$p"; \
	    GREEN_POLLER=$$p TSAN_OPTIONS=halt_on_error=1:exitcode=66 CK_RUN_SUITE=$$s \
	    CK_TIMEOUT_MULTIPLIER=4 $(BUILD)/tsan/test/run || exit 1; done; done

# aarch64: the library, the Check suite and the examples cross-compiled
# and run under qemu-user, with the switch backend SWITCH names.  The
# arm64 libc, not the cross toolchain's, runs them: a dynamically linked
# child of fork() never runs under qemu with the toolchain's copy.
AARCH64_BUILD = build/aarch64-$(SWITCH)
AARCH64_PC    = PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig pkg-config
AARCH64_RUN   = QEMU_LD_PREFIX=/ RUNNER=qemu-aarch64
test-aarch64:
	@sh test/deps.sh aarch64
	@$(MAKE) --no-print-directory CC=aarch64-linux-gnu-gcc BUILD=$(AARCH64_BUILD) \
	    CHECK_CFLAGS="$$($(AARCH64_PC) --cflags check)" \
	    CHECK_LIBS="$$($(AARCH64_PC) --libs check)" \
	    $(AARCH64_BUILD)/test/run examples
	@# qemu-user has no io_uring: uring would be epoll again.
	@for p in $(filter-out uring,$(POLLERS)); do echo "--- qemu-aarch64 GREEN_POLLER=$$p"; \
	    GREEN_POLLER=$$p CK_TIMEOUT_MULTIPLIER=10 QEMU_LD_PREFIX=/ GREEN_TEST_QEMU=1 \
	    qemu-aarch64 $(AARCH64_BUILD)/test/run || exit 1; done
	$(AARCH64_RUN) bash test/examples.sh $(AARCH64_BUILD)/examples

# make bench: libgreen's programs, then each peer whose package is
# installed (bench-deps installs them all), then bench/run.py.
BENCH_CFLAGS = $(BASE_CFLAGS) -iquote lib $(CFLAGS)
BENCH_GREEN  = $(BUILD)/bench/green $(BUILD)/bench/loadgen $(BUILD)/bench/floor $(BUILD)/bench/http_raw \
               $(BUILD)/bench/http_hooked

$(BUILD)/bench/green $(BUILD)/bench/loadgen $(BUILD)/bench/http_raw: $(BUILD)/bench/%: bench/%.c bench/common.h $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(STATIC) -pthread $(LDFLAGS)

# The same server with plain calls, through the hook (shared libraries).
$(BUILD)/bench/http_hooked: bench/http_raw.c $(HOOK_SO)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -DGREEN_BENCH_HOOKED -o $@ bench/http_raw.c $(HOOK_LINK) -pthread $(LDFLAGS)

$(BUILD)/bench/floor: bench/peers/floor.c bench/common.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(LDFLAGS)

# A peer that is not installed is left unbuilt; run.py says what to install.
bench-peers: $(BENCH_GREEN) $(BUILD)/examples/http_server
	@$(MAKE) --no-print-directory SWITCH=fast BUILD=$(BUILD)/fast \
	    $(BUILD)/fast/bench/green $(BUILD)/fast/examples/http_server
	@mkdir -p $(BUILD)/bench
	@try() { out=$$1; shift; "$$@" 2>/dev/null || rm -f $$out; }; \
	try $(BUILD)/bench/st $(CC) $(BENCH_CFLAGS) -o $(BUILD)/bench/st bench/peers/st.c -L/usr/lib -lst; \
	try $(BUILD)/bench/pth $(CC) $(BENCH_CFLAGS) -o $(BUILD)/bench/pth bench/peers/pth.c -lpth; \
	try $(BUILD)/bench/uv $(CC) $(BENCH_CFLAGS) -o $(BUILD)/bench/uv bench/peers/uv.c -luv; \
	try $(BUILD)/bench/sjlj $(CC) $(BENCH_CFLAGS) -U_FORTIFY_SOURCE -o $(BUILD)/bench/sjlj bench/peers/sjlj.c; \
	try $(BUILD)/bench/fcontext $(CXX) -O2 -o $(BUILD)/bench/fcontext bench/peers/fcontext.cpp -lboost_context; \
	if command -v go >/dev/null 2>&1; then (cd bench/peers/go && \
	    try $(abspath $(BUILD))/bench/go-bench env GOCACHE=$(abspath $(BUILD))/gocache GO111MODULE=off \
	    go build -o $(abspath $(BUILD))/bench/go-bench main.go); fi; true

# make bench QUICK=1 takes about half a minute instead of about four;
# MILLION=1 adds a million idle green threads; RUNS=N takes each figure's
# median over N runs instead of 3; ONLY=PREFIX runs those workloads alone.
# It does its own set-up, as make test does: as root with apt-get it
# installs the peers and tools (test/deps.sh bench); otherwise it says the
# one command to run and measures what is there, every missing peer or
# tool a row that says "skipped: install PACKAGE".
bench:
	@sh test/deps.sh bench
	@$(MAKE) --no-print-directory bench-peers
	python3 bench/run.py $(BUILD) $(if $(QUICK),--quick) $(if $(MILLION),--million) \
	    $(if $(ONLY),--only=$(ONLY)) $(if $(RUNS),--runs=$(RUNS))

# The set-up alone (kept for those who ran it before: make bench does it).
bench-deps:
	@sh test/deps.sh bench

# make bench's handling of what is missing: with wrk and gnuplot out of
# PATH, the http rows say "skipped: install wrk" and nothing fails.
test-bench-setup: $(BENCH_GREEN) $(BUILD)/examples/http_server
	sh test/bench_setup.sh $(BUILD)

# The man pages, section 3, written from docs/api.md (docs/man.py).
man: $(BUILD)/man/man3/green_run.3
$(BUILD)/man/man3/green_run.3: docs/api.md docs/man.py
	@rm -rf $(BUILD)/man/man3
	python3 docs/man.py $(BUILD)/man/man3

install: all man
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PCDIR)
	install -m 644 include/green.h $(DESTDIR)$(INCLUDEDIR)/green.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libgreen.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/libgreen.so.$(VERSION)
	ln -sf libgreen.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgreen.so.$(SOVERSION)
	ln -sf libgreen.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgreen.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    lib/green.pc.in > $(DESTDIR)$(PCDIR)/green.pc
	install -m 755 $(HOOK_SO) $(DESTDIR)$(LIBDIR)/libgreen-hook.so.$(VERSION)
	ln -sf libgreen-hook.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgreen-hook.so.$(SOVERSION)
	ln -sf libgreen-hook.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgreen-hook.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    lib/green-hook.pc.in > $(DESTDIR)$(PCDIR)/green-hook.pc
	install -d $(DESTDIR)$(MANDIR)/man3
	install -m 644 $(BUILD)/man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -d $(DESTDIR)$(CMAKEDIR)
	for f in greenConfig greenConfigVersion; do \
	    sed -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	        -e 's|@VERSION@|$(VERSION)|g' -e 's|@SOVERSION@|$(SOVERSION)|g' \
	        -e 's|@MAJOR@|$(firstword $(subst ., ,$(VERSION)))|g' \
	        lib/$$f.cmake.in > $(DESTDIR)$(CMAKEDIR)/$$f.cmake || exit 1; done
	install -d $(DESTDIR)$(DATADIR)/libgreen $(DESTDIR)$(GDB_AUTOLOAD)
	install -m 644 lib/green-gdb.py $(DESTDIR)$(DATADIR)/libgreen/green-gdb.py
	install -m 644 lib/green-gdb.py $(DESTDIR)$(GDB_AUTOLOAD)/libgreen.so.$(VERSION)-gdb.py

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/green.h $(DESTDIR)$(LIBDIR)/libgreen.a \
	      $(DESTDIR)$(LIBDIR)/libgreen.so.$(VERSION) \
	      $(DESTDIR)$(LIBDIR)/libgreen.so.$(SOVERSION) \
	      $(DESTDIR)$(LIBDIR)/libgreen.so $(DESTDIR)$(PCDIR)/green.pc \
	      $(DESTDIR)$(LIBDIR)/libgreen-hook.so.$(VERSION) \
	      $(DESTDIR)$(LIBDIR)/libgreen-hook.so.$(SOVERSION) \
	      $(DESTDIR)$(LIBDIR)/libgreen-hook.so $(DESTDIR)$(PCDIR)/green-hook.pc \
	      $(DESTDIR)$(CMAKEDIR)/greenConfig.cmake $(DESTDIR)$(CMAKEDIR)/greenConfigVersion.cmake \
	      $(DESTDIR)$(MANDIR)/man3/green_*.3 \
	      $(DESTDIR)$(DATADIR)/libgreen/green-gdb.py \
	      $(DESTDIR)$(GDB_AUTOLOAD)/libgreen.so.$(VERSION)-gdb.py

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/test/soak.d $(HOOK_OBJ:.o=.d)
