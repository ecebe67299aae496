# What is built from docs/: the examples, and the man pages written from
# docs/api.md (included by the Makefile).

# NO_TLS=1 leaves out the OpenSSL example, for a cross target without an
# OpenSSL of its architecture (riscv64 in Debian 12).  NO_UV=1 and
# NO_GLIB=1 leave out the host loops' examples, uv_echo (libuv) and
# glib_pipe (GLib): by default where pkg-config knows no libuv or GLib,
# and for a compiler that cannot use the build machine's (a cross
# compiler, musl-gcc: test/cross.sh and make test-musl say so).
NO_TLS  ?=
ifeq ($(origin NO_UV),undefined)
NO_UV   := $(shell pkg-config --exists libuv 2>/dev/null || echo 1)
endif
ifeq ($(origin NO_GLIB),undefined)
NO_GLIB := $(shell pkg-config --exists glib-2.0 2>/dev/null || echo 1)
endif
LEFT_OUT = $(if $(NO_TLS),docs/examples/tls_echo.c) $(if $(NO_UV),docs/examples/uv_echo.c) \
           $(if $(NO_GLIB),docs/examples/glib_pipe.c)
EXAMPLES = $(patsubst docs/examples/%.c,$(BUILD)/examples/%,\
             $(filter-out $(LEFT_OUT),$(wildcard docs/examples/*.c)))

.PHONY: examples man trace-picture

examples: $(EXAMPLES)

$(BUILD)/examples/%: docs/examples/%.c $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(STACK_CLASH) $(EXAMPLE_CFLAGS) $(CFLAGS) -o $@ $< $(STATIC) \
	    $(EXAMPLE_LIBS) $(LIBS_PRIVATE) $(LDFLAGS)

# The OpenSSL example links OpenSSL (test/deps.sh installs libssl-dev).
$(BUILD)/examples/tls_echo: EXAMPLE_LIBS = -lssl -lcrypto

# The host loops' examples link libuv and GLib, as pkg-config says
# (test/deps.sh installs libuv1-dev and libglib2.0-dev).
$(BUILD)/examples/uv_echo:   EXAMPLE_CFLAGS = $(shell pkg-config --cflags libuv)
$(BUILD)/examples/uv_echo:   EXAMPLE_LIBS = $(shell pkg-config --libs libuv)
$(BUILD)/examples/glib_pipe: EXAMPLE_CFLAGS = $(shell pkg-config --cflags glib-2.0)
$(BUILD)/examples/glib_pipe: EXAMPLE_LIBS = $(shell pkg-config --libs glib-2.0)

# The man pages, section 3 (docs/man.py).
man: $(BUILD)/man/man3/green_run.3
$(BUILD)/man/man3/green_run.3: docs/api.md docs/man.py
	@rm -rf $(BUILD)/man/man3
	python3 docs/man.py $(BUILD)/man/man3

# docs/integration.md's code: each C block is a file of
# docs/examples/integration/, compiled here (-c: most need a server to
# run; make test-hook-real runs them, test/guide_real.c), and
# test/guide_files.sh checks the guide shows each file as it is.
INTEGRATION_OBJ = $(patsubst docs/examples/%.c,$(BUILD)/examples/%.o,\
                    $(wildcard docs/examples/integration/*.c))
INTEGRATION_PKGS = libpq hiredis libcurl openssl
INTEGRATION_PKG_CFLAGS = $(shell pkg-config --cflags $(INTEGRATION_PKGS) 2>/dev/null)
INTEGRATION_CFLAGS = -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE -Iinclude \
                     $(INTEGRATION_PKG_CFLAGS)

.PHONY: integration-examples
integration-examples: $(INTEGRATION_OBJ)
	sh test/guide_files.sh docs/integration.md docs/examples/integration

$(BUILD)/examples/integration/%.o: docs/examples/integration/%.c include/green.h
	@mkdir -p $(@D)
	$(CC) $(INTEGRATION_CFLAGS) -c -o $@ $<

# docs/trace-cpu_bound.svg: the cpu_bound example run under GREEN_TRACE,
# drawn by bench/trace_svg.py (Python's standard library alone).  A
# timeline of a real run: each make draws it anew.
trace-picture: $(BUILD)/examples/cpu_bound
	GREEN_TRACE=$(BUILD)/trace-cpu_bound.json $(BUILD)/examples/cpu_bound
	python3 bench/trace_svg.py $(BUILD)/trace-cpu_bound.json -o docs/trace-cpu_bound.svg \
	    --title "docs/examples/cpu_bound.c under GREEN_TRACE" \
	    --label "calibration, then the three runs: plain (no ticks for 300 ms), yields, offloaded"
