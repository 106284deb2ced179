# fhird - plain Makefile, pkg-config for every dependency.
#
#   make            build build/fhird
#   make deps       install missing Debian packages (no-op when present)
#   make run        deps + build + start on the embedded default with demo data
#   make check      deps + build + every test (unit + integration, incl. the browser test, + tests/security),
#                   then integration + security again on a throwaway PostgreSQL cluster (PG_TESTS=off: SQLite only)
#   make browser-deps  npm ci in tests/browser (fhirclient, puppeteer-core) when missing or the lock changed
#   make asan       the whole suite under ASan + UBSan
#   make fuzz       build the libFuzzer targets in fuzz/
#   make fuzz-smoke build them and run each for 15 s on its corpus (CI)
#   make bench      wrk benchmarks against the real server (and nginx)

PKGS      := libmicrohttpd jansson sqlite3 libpq gnutls nettle librhonabwy libargon2
BUILD     ?= build
CC        ?= cc
SAN       ?=
PYTHON    ?= /usr/bin/python3
# The PostgreSQL pass of `make test` (tests/run.py --pg): also | only | off
PG_TESTS  ?= also

WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wno-unused-parameter
HARDEN    := -fstack-protector-strong -fPIE
ifeq ($(SAN),)
OPT       := -O2 -g -D_FORTIFY_SOURCE=2
else
OPT       := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS    := -std=c17 -D_GNU_SOURCE $(WARN) $(HARDEN) $(OPT) -Isrc -MMD -MP
SANFLAGS  := -fsanitize=address,undefined
LDFLAGS   := -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(if $(SAN),$(SANFLAGS))
LIBS       = $(PKG_LIBS) -lpthread -lm

LIB_SRC   := $(sort $(shell find src -name '*.c' ! -path src/main.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run check test asan fuzz fuzz-smoke bench clean unit-bins gen browser-deps

# The browser test's npm packages (tests/browser/package-lock.json), installed
# into tests/browser/node_modules when it is missing or the lock changed.
# puppeteer-core uses Debian's /usr/bin/chromium: no browser is downloaded,
# and no package's install script runs.
BROWSER_DIR   := tests/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.fhird-installed

all: $(BUILD)/fhird

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/libfhird.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fhird: $(BUILD)/obj/src/main.o $(BUILD)/libfhird.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libfhird.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libfhird.a $(LIBS) -lcmocka

# Each libFuzzer target (fuzz/fuzz_<name>.c) as a unit test that replays
# fuzz/regressions/<name>/ and fuzz/corpus/<name>/ (fuzz/replay.c).
FUZZ_REPLAY := $(patsubst fuzz/fuzz_%.c,$(BUILD)/tests/test_fuzz_%,$(wildcard fuzz/fuzz_*.c))

$(BUILD)/tests/test_fuzz_%: fuzz/fuzz_%.c fuzz/replay.c fuzz/app.c fuzz/app.h $(BUILD)/libfhird.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(PKG_CFLAGS) -Ifuzz -DFUZZ_DIR='"$(CURDIR)/fuzz"' -DFUZZ_NAME='"$*"' \
	  $(LDFLAGS) -o $@ fuzz/replay.c fuzz/app.c $< $(BUILD)/libfhird.a $(LIBS) -lcmocka

unit-bins: $(UNIT_BIN) $(FUZZ_REPLAY)

$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	cd $(BROWSER_DIR) && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts --omit=optional
	@touch $@

browser-deps: $(BROWSER_STAMP)

deps:
	@sh tools/deps.sh

# Run the suite against whatever BUILD holds.
test: $(BUILD)/fhird unit-bins browser-deps
	$(PYTHON) tests/run.py --build $(BUILD) --pg $(PG_TESTS)

check: deps
	$(MAKE) all unit-bins
	$(MAKE) test

asan: deps
	$(MAKE) BUILD=build/asan SAN=1 all unit-bins
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) BUILD=build/asan SAN=1 PG_TESTS=off test

gen:
	$(PYTHON) tools/gen_types.py
	$(PYTHON) tools/gen_search.py

run: deps all
	@sh tools/run-demo.sh $(BUILD)/fhird

fuzz: deps
	$(MAKE) -f fuzz/Makefile

# every fuzz target built and run for a short time on its corpus (CI)
fuzz-smoke: deps
	$(MAKE) -f fuzz/Makefile smoke

bench: deps all
	@sh bench/run.sh $(BUILD)/fhird

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(BUILD)/obj/src/main.d
