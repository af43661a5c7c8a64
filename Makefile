# longtask -- one build for everything.
#
#   make            release binaries in build/release/bin
#   make run        the whole service in the foreground (deploy/dev/run.sh)
#   make test       sanitizer build, cmocka unit tests, integration tests on the real stack
#   make bench      benchmarks (bench/), not part of make test
#   make deps       installs missing Debian packages (apt-get as root; prints the line otherwise)
#   make format / make lint / make valgrind

CC      ?= cc
BUILD   ?= build/release
SAN     ?= 0
PKGS    := libpq jansson libcurl libconfig libjwt

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpq -ljansson -lcurl -lconfig -ljwt)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  := -std=c17 -D_GNU_SOURCE -g $(WARN) -Icommon -I$(BUILD)/gen $(PKG_CFLAGS)
LDLIBS  := -lfcgi $(PKG_LIBS) -lcrypto -lm
ifeq ($(SAN),1)
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -O2
endif

COMMON_SRC := $(sort $(wildcard common/*.c))
API_SRC    := $(sort $(wildcard fcgi/*.c))
WORKER_SRC := $(sort $(wildcard worker/*.c))
REAPER_SRC := $(sort $(wildcard reaper/*.c))
SQL_FILES  := $(sort $(wildcard sql/[0-9]*.sql))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
COMMON_OBJ := $(call obj,$(COMMON_SRC)) $(BUILD)/obj/gen/migrations.o
API_OBJ    := $(call obj,$(filter-out fcgi/main.c,$(API_SRC)))
WORKER_OBJ := $(call obj,$(filter-out worker/main.c,$(WORKER_SRC)))
# reaper/ holds two programs: longtask-reaper (main.c) and longtask-admin (admin_main.c).
REAPER_OBJ := $(call obj,$(filter-out reaper/main.c reaper/admin_main.c,$(REAPER_SRC)))
BINS       := $(BUILD)/bin/longtask-api $(BUILD)/bin/longtask-worker $(BUILD)/bin/longtask-reaper \
              $(BUILD)/bin/longtask-admin
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

# Quiet by default: one line per file; make V=1 shows the commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all deps run test unit integration bench format lint valgrind clean
all: $(BINS)

$(BUILD)/gen/migrations.c: $(SQL_FILES) tests/tools/gen-migrations.sh
	@mkdir -p $(dir $@)
	$(Q)sh tests/tools/gen-migrations.sh $@ $(SQL_FILES)

$(BUILD)/obj/gen/migrations.o: $(BUILD)/gen/migrations.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/bin/longtask-api: $(BUILD)/obj/fcgi/main.o $(API_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/longtask-worker: $(BUILD)/obj/worker/main.o $(WORKER_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/longtask-reaper: $(BUILD)/obj/reaper/main.o $(REAPER_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/longtask-admin: $(BUILD)/obj/reaper/admin_main.o $(REAPER_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests link the modules of every program (not their main.o) and cmocka.
$(BUILD)/tests/%: tests/unit/%.c $(API_OBJ) $(WORKER_OBJ) $(REAPER_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -Ifcgi -Iworker -Ireaper $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

deps:
	@sh deploy/dev/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@LONGTASK_BIN=$(CURDIR)/$(BUILD)/bin bash deploy/dev/run.sh

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BINS)
	cd tests/integration && LONGTASK_BIN=$(CURDIR)/$(BUILD)/bin /usr/bin/python3 -m pytest -q -x \
	    -p no:cacheprovider $(PYTEST_ARGS) .

# The test build: ASan + UBSan; leaks and undefined behaviour fail the run.
test: deps
	@$(MAKE) --no-print-directory -j2 SAN=1 BUILD=build/asan all $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))
	@$(MAKE) --no-print-directory SAN=1 BUILD=build/asan unit integration

bench: deps
	@$(MAKE) --no-print-directory all
	@LONGTASK_BIN=$(CURDIR)/$(BUILD)/bin bash bench/run.sh

valgrind: deps
	@$(MAKE) --no-print-directory BUILD=build/valgrind all
	cd tests/integration && LONGTASK_BIN=$(CURDIR)/build/valgrind/bin LONGTASK_VALGRIND=1 \
	    /usr/bin/python3 -m pytest -q -x -p no:cacheprovider -k smoke .

format:
	clang-format -i common/*.[ch] fcgi/*.[ch] worker/*.[ch] reaper/*.[ch] tests/unit/*.c

# ctuuninitvar is off: it reports every out-parameter (a struct the callee fills, the
# house style) as a read of uninitialised memory at the callee's first use of the pointer.
lint:
	clang-format --dry-run --Werror common/*.[ch] fcgi/*.[ch] worker/*.[ch] reaper/*.[ch]
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --suppress=missingIncludeSystem --suppress=ctuuninitvar -Icommon common fcgi worker reaper

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
