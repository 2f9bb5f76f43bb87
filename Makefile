# memdump: the one build system.
#
#   make            build bin/memdumpd bin/memdump-poller bin/memdump-api bin/memdump-admin
#                   (+ bin/influxctl); C only, no npm needed
#   make web        copy the dashboard's vendored chart.js from node_modules (make deps)
#   make check      install missing packages, build (-Werror), lint, unit tests, ASan+UBSan and
#                   TSan builds, unit + data-folder tests under them, fuzz briefly, integration and
#                   browser tests against real services
#   make demo       the whole stack on loopback from .run/   (make demo-stop stops it)
#   make bench      benchmarks, printed as ratios against a baseline measured in the same run
#   make fuzz       build the libFuzzer targets (clang)
#   make format     clang-format every C file in place
#   make lint       checksrc (C), shellcheck, pyflakes + style (Python), eslint (JS)
#   make tsan       programs and unit tests under ThreadSanitizer (build/tsan)
#
# BUILD and BINDIR may be overridden so several builds can live side by side
# (the sanitizer builds use BUILD=build/asan BINDIR=build/asan/bin, build/tsan likewise).

BUILD   ?= build
BINDIR  ?= bin
CC      ?= cc
CLANG   ?= clang
PYTHON  ?= /usr/bin/python3

# Debian packages the project needs to build, test, demo and bench.
DEB_PKGS := build-essential pkg-config clang libclang-rt-14-dev clang-format \
	libfcgi-dev libvirt-dev libcurl4-openssl-dev libjansson-dev libhiredis-dev \
	libmicrohttpd-dev libssl-dev libcmocka-dev libcrypt-dev \
	redis-server influxdb nginx-light \
	libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 ipxe-qemu \
	python3 python3-pytest python3-requests python3-redis \
	shellcheck pyflakes3 \
	chromium wrk curl ca-certificates

PKG_LIBS := libvirt libcurl jansson hiredis libmicrohttpd libcrypto
PC_CFLAGS = $(shell pkg-config --cflags $(PKG_LIBS) 2>/dev/null)
LIBS_COMMON = $(shell pkg-config --libs libcurl jansson libcrypto 2>/dev/null) -lpthread
LIBS_MEMDUMPD = $(shell pkg-config --libs libvirt libmicrohttpd 2>/dev/null) $(LIBS_COMMON)
LIBS_POLLER = $(shell pkg-config --libs hiredis 2>/dev/null) $(LIBS_COMMON)
LIBS_API = -lfcgi $(shell pkg-config --libs hiredis 2>/dev/null) -lcrypt $(LIBS_COMMON)
LIBS_ADMIN = $(shell pkg-config --libs hiredis 2>/dev/null) -lcrypt $(LIBS_COMMON)
LIBS_ALL = -lfcgi $(shell pkg-config --libs $(PKG_LIBS) 2>/dev/null) -lcrypt -lpthread

CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation -Wvla \
	-Wmissing-prototypes -Wstrict-prototypes
ALL_CPPFLAGS = -D_GNU_SOURCE -Ilib $(PC_CFLAGS) $(CPPFLAGS)
ALL_CFLAGS = $(WARN) $(CFLAGS) -fstack-protector-strong -D_FORTIFY_SOURCE=2 -MMD -MP

LIB_SRC      := $(wildcard lib/*.c)
MEMDUMPD_SRC := $(filter-out memdumpd/main.c,$(wildcard memdumpd/*.c))
POLLER_SRC   := $(filter-out poller/main.c,$(wildcard poller/*.c))
API_SRC      := $(filter-out fcgi/main.c,$(wildcard fcgi/*.c))
ADMIN_SRC    := $(filter-out admin/main.c,$(wildcard admin/*.c))
TESTSUP_SRC  := $(wildcard tests/unit/support/*.c)
UNIT_SRC     := $(wildcard tests/unit/test_*.c)
TOOL_SRC     := $(wildcard tests/tools/*.c)
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_A      := $(BUILD)/libmemdump.a
MEMDUMPD_A := $(BUILD)/libmemdumpd.a
POLLER_A   := $(BUILD)/libpoller.a
API_A      := $(BUILD)/libapi.a
ADMIN_A    := $(BUILD)/libadmin.a
TESTSUP_A  := $(BUILD)/libtestsupport.a
PROGRAMS   := $(BINDIR)/memdumpd $(BINDIR)/memdump-poller $(BINDIR)/memdump-api \
	$(BINDIR)/memdump-admin
TOOLS      := $(patsubst tests/tools/%.c,$(BINDIR)/%,$(TOOL_SRC))
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps check check-build unit asan tsan lint lint-c lint-sh lint-py lint-js format \
	format-check fuzz fuzz-run integration browser web web-note demo demo-stop bench clean
.DEFAULT_GOAL := all

# The C programs only: the dashboard's vendored chart.js is `make web` (needs npm).
all: $(PROGRAMS) $(TOOLS) web-note

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_A): $(call obj,$(LIB_SRC))
$(MEMDUMPD_A): $(call obj,$(MEMDUMPD_SRC))
$(POLLER_A): $(call obj,$(POLLER_SRC))
$(API_A): $(call obj,$(API_SRC))
$(ADMIN_A): $(call obj,$(ADMIN_SRC))
$(TESTSUP_A): $(call obj,$(TESTSUP_SRC))
$(BUILD)/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^ $(if $^,,$(BUILD)/empty.o)

$(BINDIR)/memdumpd: $(call obj,memdumpd/main.c) $(MEMDUMPD_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_MEMDUMPD)
$(BINDIR)/memdump-poller: $(call obj,poller/main.c) $(POLLER_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_POLLER)
$(BINDIR)/memdump-api: $(call obj,fcgi/main.c) $(API_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_API)
$(BINDIR)/memdump-admin: $(call obj,admin/main.c) $(ADMIN_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_ADMIN)
$(BINDIR)/%: $(BUILD)/obj/tests/tools/%.o $(ADMIN_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_ALL)

# Unit tests link every archive; the linker takes only what each test uses.
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTSUP_A) $(MEMDUMPD_A) $(POLLER_A) $(API_A) \
		$(ADMIN_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS_ALL) -lcmocka

# An empty object keeps ar happy while a program folder has no module yet.
$(BUILD)/empty.o:
	@mkdir -p $(dir $@)
	echo 'extern int memdump_empty_unit_;' | $(CC) -x c -c -o $@ -

$(BUILD)/libmemdumpd.a $(BUILD)/libpoller.a $(BUILD)/libapi.a $(BUILD)/libadmin.a \
	$(BUILD)/libtestsupport.a: | $(BUILD)/empty.o

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do \
		echo "== $$t"; MEMDUMP_TEST_DATA=$(CURDIR)/tests/data $$t; done

# ---- packages -------------------------------------------------------------------------
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' \
			|| missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
			--no-install-recommends $$missing; \
	fi
	@command -v npm >/dev/null || { $(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends nodejs npm; }
	@[ -d node_modules/chart.js ] && [ -d node_modules/playwright-core ] && \
		[ -d node_modules/axe-core ] && [ -d node_modules/eslint ] || \
		npm ci --no-audit --no-fund --loglevel=error

# ---- web: vendor libraries copied from npm into htdocs (no CDN) -------------------------
web: htdocs/vendor/chart.umd.min.js
web-note: $(PROGRAMS) $(TOOLS)
	@[ -f htdocs/vendor/chart.umd.min.js ] || echo "note: htdocs/vendor/chart.umd.min.js is \
	missing, the dashboard has no charts until 'make web' (after 'make deps' if node_modules \
	lacks chart.js)"
htdocs/vendor/chart.umd.min.js: package-lock.json
	@mkdir -p htdocs/vendor
	@if [ -f node_modules/chart.js/dist/chart.umd.min.js ]; then \
		cp node_modules/chart.js/dist/chart.umd.min.js $@; \
	elif [ -f node_modules/chart.js/dist/chart.umd.js ]; then \
		cp node_modules/chart.js/dist/chart.umd.js $@; \
	else echo "chart.js missing: run 'make deps'" >&2; exit 1; fi

# ---- quality --------------------------------------------------------------------------
C_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(C_FILES)
format-check:
	clang-format --dry-run -Werror $(C_FILES)
# The rules and their escapes: docs/hacking.md. Known findings: tests/lint/allowlist.txt.
lint: lint-c lint-sh lint-py lint-js
lint-c:
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/lint
	$(PYTHON) tests/lint/checksrc.py
# Every shell script in git: *.sh and files whose first line is a sh/bash shebang.
lint-sh:
	@files=$$(git ls-files | while read -r f; do case "$$f" in *.sh) echo "$$f";; *) \
		[ -f "$$f" ] && head -c 64 "$$f" | head -n 1 | \
		grep -qE '^#!.*[/ ](ba|da)?sh( |$$)' && echo "$$f";; esac; done); \
	echo "shellcheck $$files"; shellcheck $$files
lint-py:
	$(PYTHON) tests/lint/pycheck.py
lint-js:
	@[ -x node_modules/.bin/eslint ] || { echo "eslint missing: run 'make deps'" >&2; exit 1; }
	node_modules/.bin/eslint --max-warnings=0 htdocs/js tests/browser eslint.config.mjs

# ---- sanitizers and fuzzing -----------------------------------------------------------
SAN := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan:
	$(MAKE) BUILD=build/asan BINDIR=build/asan/bin CFLAGS="$(SAN)" LDFLAGS="-fsanitize=address,undefined" \
		$(PROGRAMS:$(BINDIR)/%=build/asan/bin/%) $(TOOLS:$(BINDIR)/%=build/asan/bin/%) unit

# ThreadSanitizer: the unit tests that run threads (queue, stream, spool, http_client)
# are the ones it watches; tests/tsan.supp silences races inside libraries we do not own.
TSAN := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
TSAN_OPTIONS_ALL := suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=1 second_deadlock_stack=1
tsan:
	$(MAKE) BUILD=build/tsan BINDIR=build/tsan/bin CFLAGS="$(TSAN)" LDFLAGS="-fsanitize=thread" \
		$(PROGRAMS:$(BINDIR)/%=build/tsan/bin/%) $(TOOLS:$(BINDIR)/%=build/tsan/bin/%)
	TSAN_OPTIONS="$(TSAN_OPTIONS_ALL)" $(MAKE) BUILD=build/tsan BINDIR=build/tsan/bin \
		CFLAGS="$(TSAN)" LDFLAGS="-fsanitize=thread" unit

FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer-no-link,address,undefined
FUZZ_DIR = $(BUILD)/fuzz
# Fuzz targets call the data-folder render functions (tests/unit/support), so the
# fuzzed path is the tested path.
FUZZ_LIB_OBJ = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(LIB_SRC) $(TESTSUP_SRC) $(API_SRC) $(MEMDUMPD_SRC) \
	$(ADMIN_SRC))
# Parsers fuzzed through their data-case renderer: one driver (tests/fuzz/render.c) built
# once per parser; targets that check more are tests/fuzz/fuzz_*.c.
FUZZ_PARSERS := config_line json_body time influx_lp influx_answer svc_answer route query \
	trigger memdumpd_body memdumpd_range memdumpd_journal redis_url accounts credentials \
	audit_query
FUZZ_RENDER_BINS = $(FUZZ_PARSERS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_OWN_BINS = $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRC))
FUZZ_BINS = $(FUZZ_RENDER_BINS) $(FUZZ_OWN_BINS)
$(FUZZ_DIR)/obj/render_%.o: tests/fuzz/render.c
	@mkdir -p $(dir $@)
	$(CLANG) $(ALL_CPPFLAGS) -std=c11 -Wall -Wextra -Werror $(FUZZ_FLAGS) \
		-DFUZZ_RENDER=caserender_$* -c -o $@ $<
$(FUZZ_RENDER_BINS): $(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/render_%.o $(FUZZ_LIB_OBJ)
	$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS_ALL)
$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(ALL_CPPFLAGS) -std=c11 -Wall -Wextra -Werror $(FUZZ_FLAGS) -c -o $@ $<
$(FUZZ_OWN_BINS): $(FUZZ_DIR)/%: $(FUZZ_DIR)/obj/tests/fuzz/%.o $(FUZZ_LIB_OBJ)
	$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS_ALL)
.PRECIOUS: $(FUZZ_DIR)/obj/%.o
fuzz: $(FUZZ_BINS)
FUZZ_SECONDS ?= 5
fuzz-run: fuzz
	@set -e; for f in $(FUZZ_BINS); do n=$${f#$(FUZZ_DIR)/fuzz_}; \
		c=$(FUZZ_DIR)/corpus/$$n; mkdir -p $$c; \
		for i in tests/data/$$n/*/input; do [ -f "$$i" ] && cp "$$i" "$$c/$$(echo $$i | md5sum | cut -c1-16)"; done; \
		echo "== fuzz $$n ($(FUZZ_SECONDS) s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -artifact_prefix=$(FUZZ_DIR)/ $$c 2>$(FUZZ_DIR)/$$n.log \
			|| { tail -40 $(FUZZ_DIR)/$$n.log; exit 1; }; \
		grep -E '^#[0-9]+.*DONE' $(FUZZ_DIR)/$$n.log || true; done

# ---- the test command -----------------------------------------------------------------
ASAN_BIN := $(CURDIR)/build/asan/bin
integration:
	MEMDUMP_BIN_DIR=$${MEMDUMP_BIN_DIR:-$(CURDIR)/$(BINDIR)} $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration
browser: web
	MEMDUMP_BIN_DIR=$${MEMDUMP_BIN_DIR:-$(CURDIR)/$(BINDIR)} node tests/browser/run.mjs

check: deps
	$(MAKE) check-build
check-build:
	$(MAKE) all web
	$(MAKE) lint format-check
	$(MAKE) unit
	$(MAKE) asan
	$(MAKE) tsan
	$(MAKE) fuzz-run
	$(MAKE) integration MEMDUMP_BIN_DIR=$(ASAN_BIN)
	$(MAKE) browser MEMDUMP_BIN_DIR=$(ASAN_BIN)

# ---- demo and bench -------------------------------------------------------------------
demo: deps
	$(MAKE) all web
	$(PYTHON) tests/harness/stack.py up --run-dir $(CURDIR)/.run
demo-stop:
	$(PYTHON) tests/harness/stack.py down --run-dir $(CURDIR)/.run
bench: deps
	$(MAKE) all
	MEMDUMP_BIN_DIR=$${MEMDUMP_BIN_DIR:-$(CURDIR)/$(BINDIR)} $(PYTHON) tests/bench/bench.py $(BENCH_ARGS)

clean:
	rm -rf build bin htdocs/vendor

-include $(shell find $(BUILD)/obj $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)
