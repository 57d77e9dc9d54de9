# shoal: a stateless FastCGI tier with sessions in Redis.
#
#   make            build build/shoal (the example shop, app/example)
#   make APP=DIR    build the app in DIR instead, as build/NAME
#   make APP=DIR check   that app, the tier's unit tests, tests/NAME/run
#   make run        install what is missing, build, run the local stack
#   make check      install what is missing, build, run every test
#   make check SANITIZE=1   the same, built with ASan and UBSan into build/san
#   make sanitize-check     the suites that drive C, built with ASan and
#                   UBSan (what CI runs after make check)
#   make install    the tier for apps of their own: libshoal.a, shoal.h,
#                   shoal.pc, shoal(1), the build tools (PREFIX, DESTDIR)
#   make new-app NAME=notes DIR=../notes   start an app that builds against
#                   the installed tier (pkg-config shoal)
#
# Local overrides (CC, extra flags) go in config.mk, which is not committed.

-include config.mk

CC      ?= cc
# The app to build (see below): the example shop unless APP says.
APP     ?= app/example
PKGS    := fcgi hiredis libprotobuf-c libsodium libseccomp libpq
ifeq ($(SANITIZE),1)
BUILD   ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT     ?= -O1
else
BUILD   ?= build
OPT     ?= -O2
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wvla -Wcast-qual -Wundef \
           -Wnull-dereference -Wimplicit-fallthrough
CFLAGS  ?= $(OPT) -g
# Hardening, on by default (tests/hardening/run checks the binary): stack
# canaries, a position-independent executable, relocations read-only once
# everything is bound at start (full RELRO), and glibc's fortified calls.
# They come before CPPFLAGS, CFLAGS and LDFLAGS, which may add to or undo
# them. _FORTIFY_SOURCE needs optimisation, is left alone when CPPFLAGS
# names it, and is not used with the sanitizers: ASan does not intercept
# glibc's __memcpy_chk and the like, so fortified calls would escape it.
HARDEN_CFLAGS   := -fstack-protector-strong -fPIE
HARDEN_LDFLAGS  := -pie -Wl,-z,relro,-z,now
HARDEN_CPPFLAGS := $(if $(SANFLAGS)$(findstring _FORTIFY_SOURCE,$(CPPFLAGS)),,$(if \
           $(filter-out -O0,$(filter -O%,$(CFLAGS))),-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2))
# Generated code is compiled with CFLAGS alone: it gets the flags through it.
override CFLAGS := $(HARDEN_CFLAGS) $(CFLAGS)
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(HARDEN_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) \
           $(SANFLAGS) $(WARN) \
           -Iapp/tier -isystem $(BUILD)/gen -isystem $(BUILD)/gen/$(APP) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
ALL_LDFLAGS := $(HARDEN_LDFLAGS) $(LDFLAGS) $(SANFLAGS)

PROTOS      := $(wildcard proto/*.proto)
PROTO_C     := $(PROTOS:proto/%.proto=$(BUILD)/gen/proto/%.pb-c.c)
PROTO_H     := $(PROTO_C:.c=.h)
PROTO_O     := $(PROTO_C:$(BUILD)/gen/%.c=$(BUILD)/obj/gen/%.o)

TIER_SRC    := $(wildcard app/tier/*.c)
TIER_O      := $(TIER_SRC:%.c=$(BUILD)/obj/%.o)

# The app: its handlers (main.c calls shoal_main), its own .proto for the
# session data, templates/ and static/. The example shop unless APP says.
APP_NAME    := $(notdir $(APP))
BIN         := $(BUILD)/$(if $(filter app/example,$(APP)),shoal,$(APP_NAME))
APP_SRC     := $(wildcard $(APP)/*.c)
APP_O       := $(APP_SRC:%.c=$(BUILD)/obj/%.o)
APP_PROTOS  := $(wildcard $(APP)/*.proto)
APP_PROTO_C := $(APP_PROTOS:$(APP)/%.proto=$(BUILD)/gen/$(APP)/%.pb-c.c)
APP_PROTO_H := $(APP_PROTO_C:.c=.h)
APP_PROTO_O := $(APP_PROTO_C:$(BUILD)/gen/%.c=$(BUILD)/obj/gen/%.o)
TEMPLATES   := $(wildcard $(APP)/templates/*.html)
TEMPLATES_O := $(BUILD)/obj/gen/$(APP)/templates.o
SCRIPTS     := $(wildcard app/tier/lua/*.lua)
SCRIPTS_O   := $(BUILD)/obj/gen/lua.o
# The tier's own pages' templates (sign-in, sign-up): an app's template of
# the same name is used instead.
TIER_TEMPLATES   := $(wildcard app/tier/templates/*.html)
TIER_TEMPLATES_O := $(BUILD)/obj/gen/tier_templates.o
# Schema migrations (app/tier/migrate.h): the tier's in the library, the
# app's from $(APP)/db in the binary, both in number order.
TIER_DB     := $(sort $(wildcard app/tier/db/*.sql))
TIER_DB_O   := $(BUILD)/obj/gen/tier_db.o
APP_DB      := $(sort $(wildcard $(APP)/db/*.sql))
APP_DB_O    := $(if $(APP_DB),$(BUILD)/obj/gen/$(APP)/migrations.o)
LIBTIER     := $(BUILD)/libshoal.a

# Assets, fingerprinted for the CDN origin. Always in build/static, whatever
# the build flavour: the stack serves them from there. Another app's go to
# build/static-NAME (SHOAL_STATIC_DIR for the stack), so that building it
# leaves the shop's alone.
STATIC_SRC  := $(wildcard $(APP)/static/*)
STATIC_OUT  := build/static$(if $(filter app/example,$(APP)),,-$(APP_NAME))

UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

VERSION     := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# shoal(1), from --help (tools/manpage): every binary built on the tier
# prints the same help, so any app's will do.
MANPAGE     := $(BUILD)/shoal.1

.PHONY: all deps run check unit fuzz-regress integration deploy-check \
	resilience soak bench clean db-check
.SECONDARY:

all: $(BIN) $(STATIC_OUT)/manifest $(MANPAGE)

deps:
	@tools/deps

$(BUILD)/gen/proto/%.pb-c.c $(BUILD)/gen/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=. --c_out=$(BUILD)/gen $<

$(BUILD)/gen/$(APP)/%.pb-c.c $(BUILD)/gen/$(APP)/%.pb-c.h: $(APP)/%.proto
	@mkdir -p $(BUILD)/gen/$(APP)
	protoc-c --proto_path=$(APP) --c_out=$(BUILD)/gen/$(APP) $<

$(BUILD)/gen/$(APP)/templates.c: $(TEMPLATES) tools/embed
	@mkdir -p $(dir $@)
	tools/embed shoal.h shoal_template app_templates \
	    $(TEMPLATES) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/tier_templates.c: $(TIER_TEMPLATES) tools/embed
	@mkdir -p $(dir $@)
	tools/embed shoal.h shoal_template tier_templates \
	    $(TIER_TEMPLATES) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/lua.c: $(SCRIPTS) tools/embed
	@mkdir -p $(dir $@)
	tools/embed scripts.h script_source script_sources \
	    $(SCRIPTS) > $@.tmp && mv $@.tmp $@

# An app without a db/ folder gets an empty table.
$(BUILD)/gen/tier_db.c: $(TIER_DB) tools/embed
	@mkdir -p $(dir $@)
	tools/embed migrate.h shoal_migration tier_migrations \
	    $(TIER_DB) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/$(APP)/migrations.c: $(APP_DB) tools/embed $(wildcard $(APP)/db)
	@mkdir -p $(dir $@)
	tools/embed shoal.h shoal_migration app_migrations \
	    $(APP_DB) > $@.tmp && mv $@.tmp $@

$(STATIC_OUT)/manifest: $(STATIC_SRC) tools/fingerprint
	rm -rf $(STATIC_OUT)
	tools/fingerprint $(APP)/static $(STATIC_OUT)

# Generated code is compiled without -Werror: we do not own its warnings.
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c $(PROTO_H) $(APP_PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(CFLAGS) $(SANFLAGS) -I$(BUILD)/gen -Iapp/tier -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(PROTO_H) $(APP_PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DSHOAL_VERSION='"$(VERSION)"' -MMD -MP -c -o $@ $<

$(LIBTIER): $(TIER_O) $(PROTO_O) $(SCRIPTS_O) $(TIER_TEMPLATES_O) $(TIER_DB_O)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(APP_O) $(APP_PROTO_O) $(TEMPLATES_O) $(APP_DB_O) $(LIBTIER)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(MANPAGE): $(BIN) tools/manpage
	tools/manpage $(BIN) > $@.tmp && mv $@.tmp $@

# unit.Sample (tests/unit/sample.proto) stands in for an app's own message
# in the tests of the app data a session carries.
TEST_PROTO_O := $(BUILD)/obj/gen/tests/unit/sample.pb-c.o

$(BUILD)/gen/tests/unit/%.pb-c.c $(BUILD)/gen/tests/unit/%.pb-c.h: tests/unit/%.proto
	@mkdir -p $(BUILD)/gen/tests/unit
	protoc-c --proto_path=tests/unit --c_out=$(BUILD)/gen/tests/unit $<

$(BUILD)/tests/%: tests/unit/%.c $(TEST_PROTO_O) $(LIBTIER)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -isystem $(BUILD)/gen/tests/unit -o $@ $< \
	    $(TEST_PROTO_O) $(LIBTIER) $(ALL_LDFLAGS) $(LDLIBS) -lcmocka

# The request path runs the example app's routes and templates (all of the
# app but its main()).
SHOP_O := $(filter-out %/main.o,$(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard app/example/*.c))) \
          $(BUILD)/obj/gen/app/example/shop.pb-c.o $(BUILD)/obj/gen/app/example/templates.o
$(BUILD)/tests/test_request: tests/unit/test_request.c $(SHOP_O) $(LIBTIER)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -isystem $(BUILD)/gen/app/example -o $@ $< $(SHOP_O) \
	    $(LIBTIER) $(ALL_LDFLAGS) $(LDLIBS) -lcmocka

# The autoscaler keeps 2 to 8 worker servers unless SHOAL_AUTOSCALE says
# otherwise (SHOAL_AUTOSCALE= turns it off); docs/operations.md, "Autoscaling".
run: deps all
	SHOAL_BIN=$${SHOAL_BIN:-$(BIN)} SHOAL_AUTOSCALE=$${SHOAL_AUTOSCALE-2:8} \
	    SHOAL_STATIC_DIR=$${SHOAL_STATIC_DIR:-$(STATIC_OUT)} deploy/local/run

unit: $(UNIT_BIN)
	@tools/run-unit $(UNIT_BIN)

# The example is the default app: naming it builds nothing more.
.PHONY: app-check
app-check: all
	@if $(MAKE) --no-print-directory -q APP=app/example all; then \
	    echo "app-check: make APP=app/example builds what make built"; \
	    echo "1 passed, 0 failed"; \
	else \
	    echo "app-check: make APP=app/example would build something else"; \
	    echo "0 passed, 1 failed"; exit 1; \
	fi

# Every kept fuzz input (seeds and past crashes) replayed against the
# parsers; tests/fuzz/run without -r fuzzes for real (see its README).
fuzz-regress:
	tests/fuzz/run -r -g

# The same suite behind each front and with Redis on TLS only, then the
# security suite. Behind lighttpd the sessions live on a Redis Cluster
# (SHOAL_STATE=cluster: 3 primaries, 3 replicas), and so do the security
# suite's here (sanitize-check runs it on the Sentinel stack).
integration: all
	SHOAL_BIN=$(BUILD)/shoal SHOAL_FRONT=nginx tests/integration/run
	SHOAL_BIN=$(BUILD)/shoal SHOAL_FRONT=lighttpd SHOAL_STATE=cluster tests/integration/run
	SHOAL_BIN=$(BUILD)/shoal SHOAL_REDIS_TLS=1 tests/integration/run
	@SHOAL_STATE=cluster $(MAKE) --no-print-directory security

# The shop in two headless Chromiums: a guest's cart, sign-up, remember me,
# the sessions page, sign-out; no console error, no CSP violation.
# Screenshots of every step in build/e2e/.
.PHONY: e2e
e2e: all
	SHOAL_BIN=$(BUILD)/shoal tests/e2e/run

# Headers, keys, sessions, throttling, expiry, no secrets in Redis or logs.
.PHONY: security
security: all
	SHOAL_BIN=$(BUILD)/shoal tests/security/run

# The database layer against a real PostgreSQL primary, replica and
# PgBouncer: migrations, the schema check at start, connections, grants,
# the 503 while the database is down and the recovery after.
db-check: all
	SHOAL_BIN=$(BUILD)/shoal tests/db/run

# Failover, scaling, the CDN edge, and the manifests of deploy/.
deploy-check: all
	SHOAL_BIN=$(BUILD)/shoal tests/deploy/run

# What users see while workers die, scale and Redis restarts, in figures:
# Redis's own faults on the Sentinel stack (a restart, a stop) and its
# move to a Redis Cluster, everything else on a Redis Cluster, with its own
# (a third of the slots moved, a primary added and removed, a primary
# killed) under the same load.
resilience: all
	SHOAL_BIN=$(BUILD)/shoal tests/resilience/run s4_ s5_ m1_
	SHOAL_BIN=$(BUILD)/shoal SHOAL_STATE=cluster tests/resilience/run
	@$(MAKE) --no-print-directory resilience-db

.PHONY: resilience-db
resilience-db: all
	SHOAL_BIN=$(BUILD)/shoal tests/resilience/db

# The autoscaler's own tests: settings, metrics, the policy on made-up
# samples, the program against /metrics servers of the test's (seconds).
.PHONY: autoscale-unit autoscale-check
autoscale-unit:
	tests/autoscale/unit

# The autoscaler on a real stack: 2 servers grown to 4 or more under a load
# ramp and shrunk back, then again with a server SIGKILLed at the peak;
# build/autoscale/*.png. About 4 minutes: not part of check.
autoscale-check: deps all
	SHOAL_BIN=$(BUILD)/shoal tests/autoscale/run

# The same scenarios, longer and with more users.
soak: deps all
	SOAK=1 SHOAL_BIN=$(BUILD)/shoal tests/resilience/run
	SOAK=1 SHOAL_BIN=$(BUILD)/shoal tests/resilience/db

# make check: the tier and the example shop, every suite. make APP=DIR
# check: that app built, the tier's unit tests, and the app's own suite
# (tests/NAME/run, through the stack).
check: deps
ifeq ($(APP),app/example)
	@$(MAKE) --no-print-directory all unit app-check autoscale-unit
	@$(MAKE) --no-print-directory fuzz-regress
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory db-check
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory deploy-check
	@$(MAKE) --no-print-directory resilience
	@$(MAKE) --no-print-directory hardening
	@$(MAKE) --no-print-directory notes-check
	@$(MAKE) --no-print-directory shop-check
	@$(MAKE) --no-print-directory metrics-check
	@$(MAKE) --no-print-directory monitoring-check
	@$(MAKE) --no-print-directory install-check
	@$(MAKE) --no-print-directory generator-check
	@$(MAKE) --no-print-directory tutorial-check
	@$(MAKE) --no-print-directory containers-check
else
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory APP=app/example unit
	@$(MAKE) --no-print-directory app-suite
endif

# Every suite that drives the tier's and the apps' C through new paths,
# built with AddressSanitizer and UndefinedBehaviorSanitizer (build/san):
# the unit tests, the fuzz corpus, the integration suite behind nginx, the
# security, database and browser suites, the database's failure scenarios,
# the notes, shop and metrics suites. Left to make check alone: the
# integration suite behind lighttpd and over TLS (the same C as behind
# nginx), the deploy tests (configs, manifests and scripts), the Redis-side
# resilience scenarios (their C paths, Redis stopped, restarted and failed
# over, are the integration and security suites' too), the hardening
# checks (of the shipped binary), and the install, generator and tutorial
# checks (builds of the plain library).
.PHONY: sanitize-check
sanitize-check: deps
	@$(MAKE) --no-print-directory SANITIZE=1 all unit
	@$(MAKE) --no-print-directory SANITIZE=1 fuzz-regress
	SHOAL_BIN=build/san/shoal SHOAL_FRONT=nginx tests/integration/run
	@$(MAKE) --no-print-directory SANITIZE=1 security
	@$(MAKE) --no-print-directory SANITIZE=1 db-check
	@$(MAKE) --no-print-directory SANITIZE=1 e2e
	@$(MAKE) --no-print-directory SANITIZE=1 resilience-db
	@$(MAKE) --no-print-directory SANITIZE=1 notes-check
	@$(MAKE) --no-print-directory SANITIZE=1 shop-check
	@$(MAKE) --no-print-directory SANITIZE=1 metrics-check

# The binary's hardening flags (readelf), the sandbox in a serving worker,
# and every unit test program under valgrind memcheck: about 20 s.
.PHONY: hardening check-slow valgrind
hardening: all $(UNIT_BIN)
	SHOAL_BIN=$(BUILD)/shoal tests/hardening/run

# A worker under memcheck over 10,000 requests, and its resident size over
# 100,000 without: a few minutes, not part of check.
check-slow: deps all
	SHOAL_BIN=$(BUILD)/shoal tests/hardening/slow

# Everything under valgrind memcheck: the unit tests and a serving worker.
valgrind: all $(UNIT_BIN)
	SHOAL_BIN=$(BUILD)/shoal tests/hardening/run
	SHOAL_BIN=$(BUILD)/shoal tests/hardening/slow memcheck

# Throughput and cost per request against the peers (../shared/peers);
# see bench/README.md. Takes about 45 minutes; not part of check. Each
# part runs even when one before it missed a bar; the status is then 1.
# shoal runs at the shape docs/scaling.md sizes a host for: one server,
# one process, a thread per core. The second run sets the worker before
# Redis commands were batched (BENCH_BASE_REV, the last commit before it)
# beside the current one at that shape, the one batching is for.
BENCH_BASE_REV ?= 766fe7c
# bench/hashing sets the worker before hashes had threads of their own.
BENCH_HASH_BASE_REV ?= 846e378
BENCH_BATCH_THREADS ?= $(shell nproc)
bench: deps all
	@rc=0; \
	SHOAL_BIN=$(BUILD)/shoal SHOAL_SERVERS=1 SHOAL_PROCS=1 \
	    SHOAL_THREADS=$(BENCH_BATCH_THREADS) bench/run || rc=1; \
	SHOAL_BIN=$(BUILD)/shoal BASE_REV="$${BASE_REV-$(BENCH_BASE_REV)}" \
	    STACKS="shoal shoal-base" WORKLOADS="auth cart cart-own" \
	    SHOAL_SERVERS=1 SHOAL_PROCS=1 \
	    SHOAL_THREADS=$(BENCH_BATCH_THREADS) \
	    CHARTS_DIR=$(BUILD)/bench/batching bench/run || rc=1; \
	SHOAL_BIN=$(BUILD)/shoal BASE_REV="$${BASE_REV-$(BENCH_HASH_BASE_REV)}" \
	    bench/hashing || rc=1; \
	SHOAL_BIN=$(BUILD)/shoal bench/db || rc=1; \
	SHOAL_BIN=$(BUILD)/shoal bench/cluster || rc=1; \
	exit $$rc

# The tier for apps built outside this tree (docs/your-app.md): the
# library, the one header, pkg-config's file, the manual page, and what an
# app's build runs (tools/embed, tools/fingerprint, tools/run-unit) or
# starts an app or a page from (tools/new, tools/skeleton/).
PREFIX      ?= /usr/local
LIBDIR      := $(PREFIX)/lib
INCLUDEDIR  := $(PREFIX)/include
DATADIR     := $(PREFIX)/share
MANDIR      := $(DATADIR)/man
DOCDIR      := $(DATADIR)/doc/shoal
SHAREDIR    := $(DATADIR)/shoal
APP_TOOLS   := embed fingerprint run-unit new
SKEL_FILES  := $(shell cd tools/skeleton 2>/dev/null && find . -type f | sed 's|^\./||' | sort)
SKEL_DIRS   := $(shell cd tools/skeleton 2>/dev/null && find . -mindepth 1 -type d | sed 's|^\./||' | sort -r)

.PHONY: install uninstall install-check
install: $(LIBTIER) $(MANPAGE)
	@case "$(PREFIX)" in /*) ;; *) echo "install: PREFIX must be an absolute path" >&2; exit 2 ;; esac
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/shoal \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SHAREDIR)/tools
	install -m 644 $(LIBTIER) $(DESTDIR)$(LIBDIR)/libshoal.a
	install -m 644 app/tier/shoal.h $(DESTDIR)$(INCLUDEDIR)/shoal/shoal.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    tools/shoal.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/shoal.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/shoal.pc
	install -m 644 $(MANPAGE) $(DESTDIR)$(MANDIR)/man1/shoal.1
	install -m 644 LICENSE $(DESTDIR)$(DOCDIR)/LICENSE
	install -m 755 $(APP_TOOLS:%=tools/%) $(DESTDIR)$(SHAREDIR)/tools
	cd tools/skeleton && for f in $(SKEL_FILES); do \
	    install -D -m 644 "$$f" "$(DESTDIR)$(SHAREDIR)/skeleton/$$f" || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libshoal.a $(DESTDIR)$(INCLUDEDIR)/shoal/shoal.h \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/shoal.pc $(DESTDIR)$(MANDIR)/man1/shoal.1 \
	    $(DESTDIR)$(DOCDIR)/LICENSE $(APP_TOOLS:%=$(DESTDIR)$(SHAREDIR)/tools/%) \
	    $(SKEL_FILES:%=$(DESTDIR)$(SHAREDIR)/skeleton/%)
	@# Our own folders go when empty; the prefix's own stay.
	@for d in $(SKEL_DIRS:%=$(DESTDIR)$(SHAREDIR)/skeleton/%) \
	    $(DESTDIR)$(SHAREDIR)/skeleton $(DESTDIR)$(SHAREDIR)/tools \
	    $(DESTDIR)$(SHAREDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(INCLUDEDIR)/shoal; do \
	    [ ! -d "$$d" ] || rmdir "$$d" 2>/dev/null || true; \
	done

# An app's own suite, tests/NAME/run, given the app's binary and assets.
APP_SUITE   := tests/$(APP_NAME)/run
.PHONY: app-suite
app-suite: all
	@[ -x $(APP_SUITE) ] || { echo "app-suite: $(APP) has no $(APP_SUITE)" >&2; exit 2; }
	SHOAL_BIN=$(BIN) SHOAL_STATIC_DIR=$(STATIC_OUT) $(APP_SUITE)

# The second example app, app/notes, built from the same tier into
# build/notes (its assets into build/static-notes) and tested through the
# stack by tests/notes.
# The shop on the database tier: catalogue, checkout, orders, profile,
# the cache and read-your-writes (tests/shop/run).
.PHONY: shop-check
shop-check: all
	SHOAL_BIN=$(BUILD)/shoal tests/shop/run

# Every worker server's /metrics scraped directly under a bounded load: the
# counts add up to what was sent, a Redis stop shows, the port's limits.
.PHONY: metrics-check
metrics-check: all
	SHOAL_BIN=$(BUILD)/shoal tests/metrics/run

.PHONY: monitoring-check
monitoring-check: all
	SHOAL_BIN=$(BUILD)/shoal tests/monitoring/run

# The images (deploy/docker/Dockerfile), from a Debian 12 base made here
# with mmdebstrap from the host's package sources (build/docker/base.tar),
# tagged with the version and the commit: on the engine DOCKER_HOST names.
.PHONY: images containers-check
images:
	deploy/docker/build

# The images built and the whole compose.yaml brought up on Docker engines
# of the suite's own (root; it says "skipped" where it cannot run), under
# load: scaling, a worker and the Redis primary killed. About 7 minutes.
containers-check: deps
	tests/containers/run

.PHONY: notes-check
notes-check: deps
	@$(MAKE) --no-print-directory APP=app/notes app-suite

# A new app in DIR, from tools/skeleton/app, that builds against the
# installed tier; in it, `make new-page NAME=orders` adds a page.
.PHONY: new-app
new-app:
	@tools/new app "$(NAME)" "$(DIR)"

# An install into a temporary DESTDIR: its file list, pkg-config's answer,
# a program built and linked with it, the manual page through groff, then
# uninstall. The installed tier is always the plain build, even under
# SANITIZE=1: an app's build knows nothing of the sanitizers.
install-check: deps
	@tests/install/run

# make new-app, the new app's make check against the tier installed in a
# temporary prefix, make new-page in it and make check again; what the
# generator refuses.
.PHONY: generator-check
generator-check: deps
	@tests/generator/run

# docs/your-app.md is a tutorial: its shell blocks run, in order, in a
# temporary copy of this tree, and must end with the new app serving.
.PHONY: tutorial-check
tutorial-check: deps
	@tests/tutorial/run

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
