# pageshadow - build, test and install.
# Overrides go in an optional config.mak (CC, CFLAGS, PREFIX ...).
-include config.mak

CC       ?= cc
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
LIBDIR   ?= $(PREFIX)/lib/pageshadow
MANDIR   ?= $(PREFIX)/share/man
DESTDIR  ?=
BUILD    ?= build

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -Icommon -fPIC -fvisibility=hidden
LDLIBS_SHIM = -ldl -lpthread

COMMON_SRC := $(wildcard common/*.c)
SHIM_SRC   := $(wildcard shim/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
SHIM_OBJ   := $(SHIM_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_CC    ?= clang

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: bench-seccomp FORCE all check fuzz check-unit check-integration check-asan check-exports install uninstall clean bench bench-quick demo

all: $(BUILD)/libpageshadow.so $(BUILD)/libpageshadow-audit.so $(BUILD)/pageshadow-run $(BUILD)/pageshadow $(BUILD)/pageshadow-exec $(BUILD)/ps-probe $(BUILD)/ps-bypass $(BUILD)/ps-maps $(BUILD)/ps-torture \
	$(BUILD)/ps-static $(BUILD)/ps-gowork

$(BUILD)/obj/%.o: %.c $(wildcard common/*.h shim/*.h shim/*.def)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libpageshadow.so: $(SHIM_OBJ) $(COMMON_OBJ) $(BUILD)/shim.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $(SHIM_OBJ) $(COMMON_OBJ) -Wl,--version-script=$(BUILD)/shim.map \
		-Wl,-z,defs -Wl,-z,now $(LDLIBS_SHIM)

# The audit module for ld.so (audit/audit.c): exactly the rtld-audit entry points leave it.
$(BUILD)/libpageshadow-audit.so: audit/audit.c $(COMMON_OBJ) $(wildcard common/*.h)
	@$(if $(Q),echo "  LD      $@")
	$(Q)printf '{ global: la_version; la_objsearch; la_objopen; local: *; };\n' > $(BUILD)/audit.map
	$(Q)$(CC) $(ALL_CFLAGS) -shared -o $@ audit/audit.c $(COMMON_OBJ) -Wl,--version-script=$(BUILD)/audit.map \
		-Wl,-z,defs -Wl,-z,now -lpthread

# The version script is generated from the symbol table: exactly the interposed names leave the library.
$(BUILD)/shim.map: shim/symbols.def
	@mkdir -p $(BUILD)
	$(Q){ echo '{ global:'; sed -n 's/^PS_SYM([^,]*, *\([A-Za-z0-9_]*\),.*/  \1;/p' $<; echo 'local: *; };'; } > $@

# The launcher has the install directory of the library compiled in; rebuild it when LIBDIR changes.
$(BUILD)/libdir.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(LIBDIR)' | cmp -s - $@ || echo '$(LIBDIR)' > $@

$(BUILD)/pageshadow-run: tools/pageshadow-run.c tools/guard.c tools/guard.h tools/runci.c tools/runci.h $(COMMON_OBJ) \
		$(BUILD)/libdir.stamp
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -DPS_LIBDIR='"$(LIBDIR)"' -o $@ tools/pageshadow-run.c tools/guard.c tools/runci.c $(COMMON_OBJ)

TOOL_SRC := tools/pageshadow.c tools/inspect.c tools/ls.c tools/cat.c tools/diff.c tools/export.c \
	tools/commit.c tools/fsck.c tools/reset.c
$(BUILD)/pageshadow: $(TOOL_SRC) tools/pageshadow.h $(COMMON_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(TOOL_SRC) $(COMMON_OBJ)

# What the shim's posix_spawn runs for a target that needs the supervisor; installed beside the library.
$(BUILD)/pageshadow-exec: tools/pageshadow-exec.c
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $<

$(BUILD)/ps-probe: tests/helpers/ps-probe.c tests/helpers/errname.h
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $<

$(BUILD)/ps-bypass: tests/helpers/ps-bypass.c tests/helpers/errname.h
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $<

$(BUILD)/ps-torture: tests/helpers/ps-torture.c
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< -lpthread

# The supervisor's test programs: one linked statically, one in Go (built where Debian's golang-go is installed;
# the tests that need it say "skipped" otherwise).
$(BUILD)/ps-static: tests/helpers/ps-static.c
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -static -pthread -o $@ $<

$(BUILD)/ps-gowork: tests/helpers/ps-gowork.go
	@$(if $(Q),echo "  GO      $@")
	$(Q)if command -v go >/dev/null; then \
		CGO_ENABLED=0 GOCACHE=$(abspath $(BUILD))/gocache GOPATH=$(abspath $(BUILD))/gopath go build -o $@ $<; \
	fi

$(BUILD)/ps-maps: tests/helpers/ps-maps.c tests/helpers/errname.h
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< -pthread

$(BUILD)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(COMMON_OBJ) -lcmocka -lpthread

check: all $(UNIT_BIN) check-exports $(FUZZ_BIN)
	$(Q)tests/run-all $(BUILD)

# The fuzz targets (libFuzzer, clang) over the whole engine, with ASan+UBSan; check runs them briefly (tests/fuzz/run).
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(COMMON_SRC) $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) -std=gnu11 $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-D_GNU_SOURCE -Icommon -o $@ $< $(COMMON_SRC) -lpthread

fuzz: $(FUZZ_BIN)
	$(Q)tests/fuzz/run $(FUZZ_BIN)

check-unit: $(UNIT_BIN)
	$(Q)tests/run-all --unit-only $(BUILD)

check-integration: all
	$(Q)tests/run-all --integration-only $(BUILD)

# Unit tests once more under ASan+UBSan, in their own build tree.
check-asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" check-unit-asan

check-unit-asan: $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
	$(Q)tests/run-all --unit-only $(BUILD)

check-exports: $(BUILD)/libpageshadow.so
	$(Q)tests/check-exports $(BUILD)/libpageshadow.so shim/symbols.def

# Benchmarks (never part of check): the full one (~5-10 min, docs/PERFORMANCE.md) and a seconds-long smoke test for CI.
bench: all $(BUILD)/bench-driver $(BUILD)/bench-driver-static
	$(Q)bench/run $(BUILD)

bench-quick: all $(BUILD)/bench-driver $(BUILD)/bench-driver-static
	$(Q)bench/run --quick $(BUILD)

# The same driver linked statically: the supervisor's figures (bench/run).
$(BUILD)/bench-driver-static: bench/driver.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -static -o $@ $<

$(BUILD)/bench-driver: bench/driver.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $<

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)
	install -m 0755 $(BUILD)/pageshadow-run $(BUILD)/pageshadow $(DESTDIR)$(BINDIR)/
	install -m 0755 $(BUILD)/libpageshadow.so $(BUILD)/libpageshadow-audit.so $(BUILD)/pageshadow-exec $(DESTDIR)$(LIBDIR)/
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 0644 man/pageshadow.1 man/pageshadow-run.1 $(DESTDIR)$(MANDIR)/man1/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pageshadow-run $(DESTDIR)$(BINDIR)/pageshadow $(DESTDIR)$(LIBDIR)/libpageshadow.so \
		$(DESTDIR)$(LIBDIR)/libpageshadow-audit.so $(DESTDIR)$(LIBDIR)/pageshadow-exec $(DESTDIR)$(MANDIR)/man1/pageshadow.1 \
		$(DESTDIR)$(MANDIR)/man1/pageshadow-run.1

clean:
	rm -rf build

demo: all
	$(Q)tools/demo.sh $(BUILD)

FORCE:

# What an in-process seccomp trap would cost (the measurement behind the no-bypass design).
bench-seccomp: $(BUILD)/seccomp-cost
	$(BUILD)/seccomp-cost

$(BUILD)/seccomp-cost: bench/seccomp-cost.c
	@mkdir -p $(BUILD)
	$(Q)$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -o $@ $<
