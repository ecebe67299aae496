# make bench: libgreen's programs, then each peer whose package is
# installed (bench-deps installs them all), then bench/run.py (included
# by the Makefile).

BENCH_CFLAGS = $(BASE_CFLAGS) -iquote lib $(CFLAGS)
BENCH_GREEN  = $(BUILD)/bench/green $(BUILD)/bench/loadgen $(BUILD)/bench/floor $(BUILD)/bench/http_raw \
               $(BUILD)/bench/http_hooked

.PHONY: bench bench-peers bench-deps test-bench-setup

$(BUILD)/bench/green $(BUILD)/bench/loadgen $(BUILD)/bench/http_raw: $(BUILD)/bench/%: bench/%.c bench/common.h $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(STATIC) $(LIBS_PRIVATE) $(LDFLAGS)

# The same server with plain calls, through the hook (shared libraries).
$(BUILD)/bench/http_hooked: bench/http_raw.c $(HOOK_SO)
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -DGREEN_BENCH_HOOKED -o $@ bench/http_raw.c $(HOOK_LINK) -pthread $(LDFLAGS)

$(BUILD)/bench/floor: bench/peers/floor.c bench/common.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -pthread $(LDFLAGS)

# A peer that is not installed is left unbuilt; run.py says what to install.
bench-peers: $(BENCH_GREEN) $(BUILD)/examples/http_server
	@$(MAKE) --no-print-directory SWITCH=fast BUILD=$(BUILD)/fast \
	    $(BUILD)/fast/bench/green $(BUILD)/fast/examples/http_server
	@CC="$(CC)" CXX="$(CXX)" CFLAGS="$(BENCH_CFLAGS)" sh bench/peers/build.sh $(BUILD)

# make bench QUICK=1 takes about half a minute instead of about four;
# MILLION=1 adds a million idle green threads; RUNS=N takes each figure's
# median over N runs instead of 3; ONLY=PREFIX runs those workloads alone.
# It does its own set-up, as make test does: as root with apt-get it
# installs the peers and tools (test/deps.sh bench); otherwise it says the
# one command to run and measures what is there, every missing peer or
# tool a row that says "skipped: install PACKAGE".
# GREEN_BENCH_PEERS=DIR adds peers that are not packaged (libdill, neco,
# libaco, ...), which one builds oneself from their sources: each
# executable DIR/NAME is a row NAME in switch, spawn and io-pingpong, run
# as DIR/NAME WORKLOAD N like bench/green (exit 2: "not offered"), and
# DIR/NAME.version its line among the versions.  Nothing here builds them,
# and none of their code is kept here (docs/performance.md).
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
