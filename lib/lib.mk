# The libraries, libgreen and libgreen-hook, and their installation
# (included by the Makefile, which sets BUILD, SWITCH, FAULTS and the
# flags every part shares).

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

# Every lib/*.c is a part of libgreen, but those the build chooses among
# (the switch backends, the test build's fault points), the pollers and
# the ring path only Linux has, which the POSIX build leaves out, and the
# POSIX build's own (libgreen-hook's are in lib/hook/): a new part is a
# new file, and no list here needs it.
LINUX_SRC = lib/poller_epoll.c lib/poller_uring.c lib/ring.c lib/engine_ring.c
POSIX_SRC = lib/fd_flags.c
LIB_SRC = $(filter-out lib/switch_%.c lib/fault.c $(if $(LINUX),$(POSIX_SRC),$(LINUX_SRC)), \
            $(wildcard lib/*.c)) \
          lib/switch_$(SWITCH).c $(if $(filter fast,$(SWITCH)),lib/switch_fast_$(ARCH).S) \
          $(if $(FAULTS),lib/fault.c)
LIB_OBJ = $(patsubst %.S,$(BUILD)/%.o,$(LIB_SRC:%.c=$(BUILD)/%.o))
POLLER_CFLAGS = $(if $(LINUX),-DGREEN_HAVE_EPOLL)
LIB_CFLAGS  = $(BASE_CFLAGS) -fPIC -fvisibility=hidden $(POLLER_CFLAGS) $(STACK_CLASH)

STATIC = $(BUILD)/libgreen.a
SHARED = $(BUILD)/libgreen.so.$(VERSION)
# libgreen-hook: the blocking calls interposed (docs/hooks.md); opt-in,
# and built apart from libgreen, on its public API.  A program links it
# with --no-as-needed: its own code may call none of the hook's names.
HOOK_SRC = $(wildcard lib/hook/*.c)
HOOK_OBJ = $(HOOK_SRC:%.c=$(BUILD)/%.o)
HOOK_CFLAGS = $(BASE_CFLAGS) -fPIC -fvisibility=hidden $(STACK_CLASH)
HOOK_SO  = $(BUILD)/libgreen-hook.so.$(VERSION)
HOOK_LINK = -L$(BUILD) -Wl,--push-state,--no-as-needed -lgreen-hook -Wl,--pop-state -lgreen \
            -Wl,-rpath,$(abspath $(BUILD))
# The hook interposes the C library's calls as glibc and the ELF dynamic
# linker have them (accept4, dup3, epoll_wait, RWF_NOWAIT, dlsym's
# RTLD_NEXT): the POSIX build has none.
HOOK = $(if $(LINUX),$(HOOK_SO))

.PHONY: install install-hook uninstall

all: $(STATIC) $(SHARED) $(HOOK)

$(BUILD)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) $(CFLAGS) -c -o $@ $<

# The hook has the public header alone on its include path: it is built
# on the public API (of libgreen's own files it includes only lib/routed.h,
# by its path, which includes nothing).
$(BUILD)/lib/hook/%.o: lib/hook/%.c
	@mkdir -p $(@D)
	$(CC) $(HOOK_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/lib/%.o: lib/%.S
	@mkdir -p $(@D)
	$(CC) $(SWITCH_CFLAGS) $(CFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libgreen.so.$(SOVERSION) -o $@ $^ $(LIBS_PRIVATE) $(LDFLAGS)
	ln -sf libgreen.so.$(VERSION) $(BUILD)/libgreen.so.$(SOVERSION)
	ln -sf libgreen.so.$(VERSION) $(BUILD)/libgreen.so

$(HOOK_SO): $(HOOK_OBJ) $(SHARED)
	$(CC) -shared -Wl,-soname,libgreen-hook.so.$(SOVERSION) -o $@ $(HOOK_OBJ) \
	    -L$(BUILD) -lgreen -pthread $(LDFLAGS)
	ln -sf libgreen-hook.so.$(VERSION) $(BUILD)/libgreen-hook.so.$(SOVERSION)
	ln -sf libgreen-hook.so.$(VERSION) $(BUILD)/libgreen-hook.so

# A template of lib/ filled in for the installed tree.
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
            -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
            -e 's|@SOVERSION@|$(SOVERSION)|g' -e 's|@MAJOR@|$(firstword $(subst ., ,$(VERSION)))|g' \
            -e 's|@LIBS_PRIVATE@|$(LIBS_PRIVATE)|g' -e 's|@SWITCH_LIBS@|$(SWITCH_LIBS)|g'

install: all man $(if $(HOOK),install-hook)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PCDIR)
	install -m 644 include/green.h $(DESTDIR)$(INCLUDEDIR)/green.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libgreen.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/libgreen.so.$(VERSION)
	ln -sf libgreen.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgreen.so.$(SOVERSION)
	ln -sf libgreen.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgreen.so
	$(SUBST) lib/green.pc.in > $(DESTDIR)$(PCDIR)/green.pc
	install -d $(DESTDIR)$(MANDIR)/man3
	install -m 644 $(BUILD)/man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -d $(DESTDIR)$(CMAKEDIR)
	$(SUBST) lib/greenConfig.cmake.in > $(DESTDIR)$(CMAKEDIR)/greenConfig.cmake
	$(SUBST) lib/greenConfigVersion.cmake.in > $(DESTDIR)$(CMAKEDIR)/greenConfigVersion.cmake
	install -d $(DESTDIR)$(DATADIR)/libgreen $(DESTDIR)$(GDB_AUTOLOAD)
	install -m 644 lib/green-gdb.py $(DESTDIR)$(DATADIR)/libgreen/green-gdb.py
	install -m 644 lib/green-gdb.py $(DESTDIR)$(GDB_AUTOLOAD)/libgreen.so.$(VERSION)-gdb.py

install-hook: $(HOOK_SO)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PCDIR)
	install -m 755 $(HOOK_SO) $(DESTDIR)$(LIBDIR)/libgreen-hook.so.$(VERSION)
	ln -sf libgreen-hook.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgreen-hook.so.$(SOVERSION)
	ln -sf libgreen-hook.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libgreen-hook.so
	$(SUBST) lib/green-hook.pc.in > $(DESTDIR)$(PCDIR)/green-hook.pc

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

-include $(LIB_OBJ:.o=.d) $(HOOK_OBJ:.o=.d)
