# suture: layer surgery on LLM checkpoints.
#   make            builds libsuture.a, ./suture and the tools
#   make check      runs every test (unit, CLI golden, fixtures)
#   make SANITIZE=address,undefined check   the same under sanitizers
#   make bench      measures speed and memory (tools/bench)
#   make fuzz       runs each fuzzer for FUZZ_SECONDS (clang)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
LIBDIR   ?= $(PREFIX)/lib
INCDIR   ?= $(PREFIX)/include
MANDIR   ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
VERSION  := 0.1.0

CC       ?= cc
PKG_CONFIG ?= pkg-config
# The library's pkg-config packages: the "lib" rows of tools/packages.
PKGS     := $(shell awk '!/^\#/ && $$3 == "lib" { print $$1 }' tools/packages)
OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wvla -Wno-unused-parameter
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

ifdef SANITIZE
BUILD    ?= build-san
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD    ?= build
SANFLAGS :=
endif

CPPFLAGS += -MMD -MP -Iinclude -Isrc -D_GNU_SOURCE -DSUTURE_VERSION='"$(VERSION)"'
ALL_CFLAGS = -std=c11 $(OPT) $(WARN) $(SANFLAGS) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)
LIBS     = $(PKG_LIBS) -lpthread -lm

LIB_SRC  := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC  := $(wildcard src/cli/*.c)
TOOL_SRC := $(wildcard tools/*.c)
TEST_SRC := $(wildcard tests/unit/test_*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TOOL_BIN := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all check unit-tests test-bins demo bench fuzz install uninstall clean deps print-pkgs

ifeq ($(BUILD),build)
ROOT_CLI := suture
endif

all: $(BUILD)/libsuture.a $(BUILD)/suture $(TOOL_BIN) $(ROOT_CLI)

deps:
	tools/install-deps

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libsuture.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/suture: $(CLI_OBJ) $(BUILD)/libsuture.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libsuture.a $(LIBS)

# The CLI at the repository root is the normal (unsanitized) build.
suture: build/suture
	cp build/suture $@

$(BUILD)/tools/%: tools/%.c $(BUILD)/libsuture.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/libsuture.a $(LIBS)

# Unit tests and fuzz targets also reach the CLI's --json builders.
JSON_OUT := $(BUILD)/src/cli/json_out.o

$(BUILD)/tests/%: tests/unit/%.c $(JSON_OUT) $(BUILD)/libsuture.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(CHECK_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(JSON_OUT) $(BUILD)/libsuture.a $(LIBS) $(CHECK_LIBS)

# Each fuzz target with the normal compiler and a main() that feeds it the
# files named on its command line: tests/run replays the corpora with them.
$(BUILD)/fuzz/replay.o: tests/fuzz/replay.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/fuzz/replay.o $(JSON_OUT) $(BUILD)/libsuture.a
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(BUILD)/fuzz/replay.o \
	    $(JSON_OUT) $(BUILD)/libsuture.a $(LIBS)

test-bins: $(BUILD)/suture $(TOOL_BIN) $(TEST_BIN) $(FUZZ_BIN)

print-pkgs:
	@echo $(PKGS)

SUTURE_FIXTURES ?= $(abspath $(CURDIR)/../shared/fixtures)
export SUTURE_FIXTURES

# SUTURE_SANITIZED tells tests to skip cases too heavy under sanitizers.
check: test-bins $(ROOT_CLI)
	@BUILD=$(BUILD) SUTURE_SANITIZED=$(SANITIZE) tests/run

demo: all
	tools/demo

bench: all
	tools/bench

FUZZ_SECONDS ?= 20
fuzz:
	tests/fuzz/run $(FUZZ_SECONDS)

# suture.pc names the folders under PREFIX as ${prefix}/..., so that
# pkg-config --define-prefix can relocate a staged (DESTDIR) install.
PC_LIBDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_INCDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCDIR))

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR)/suture \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(BUILD)/suture $(DESTDIR)$(BINDIR)/suture
	install -m 644 $(BUILD)/libsuture.a $(DESTDIR)$(LIBDIR)/libsuture.a
	install -m 644 include/suture/*.h $(DESTDIR)$(INCDIR)/suture/
	install -m 644 doc/suture.1 $(DESTDIR)$(MANDIR)/man1/suture.1
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(PC_LIBDIR)|; s|@INCDIR@|$(PC_INCDIR)|; s|@VERSION@|$(VERSION)|; s|@PKGS@|$(PKGS)|' \
	    tools/suture.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/suture.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/suture $(DESTDIR)$(LIBDIR)/libsuture.a \
	    $(DESTDIR)$(MANDIR)/man1/suture.1 $(DESTDIR)$(PKGCONFIGDIR)/suture.pc
	rm -rf $(DESTDIR)$(INCDIR)/suture

clean:
	rm -rf build build-* suture

# Header dependencies, written by the compiler (-MMD -MP).
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
