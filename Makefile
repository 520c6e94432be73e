# Makefile for TerraCodec: libtec, the tec CLI and the tests (GNU make).
#
# Run ./configure first; it writes config.mak.  Run make from the source
# tree.  Every source is found by wildcard, so adding a file needs no edit
# here:
#   libavcodec-tec/src/*.c        the library (libtec.a, libtec.so)
#   tools/tec.c                   the CLI's main()
#   tools/bench_*.c               benchmarks, one program each
#   tools/*.c (the rest)          the CLI's commands (cmd_*.c) and helpers (cli_parse.c,
#                                 npy.c, ...), also linked by tests and fuzzers
#   fate-tests/unit/test_*.c      unit tests, one program each
#   fate-tests/*.py, *.sh         end-to-end tests
#   fate-tests/ffmpeg/*.py        tests that need the FFmpeg build (check-ffmpeg)
#   fate-tests/fuzz/fuzz_*.c      libFuzzer targets

# Goals that make sense before ./configure has run.
NOCONFIG_GOALS := deps demo clean distclean help
ifeq ($(wildcard config.mak),)
ifneq ($(filter-out $(NOCONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
$(error config.mak not found: run ./configure first ('make deps' installs what it needs))
endif
else
include config.mak
endif

# The version comes from the public header, the one place it is written.
tec_version = $(shell sed -n 's/.*define TEC_VERSION_$(1)  *\([0-9][0-9]*\).*/\1/p' libavcodec-tec/include/tec/tec.h)
VERSION_MAJOR := $(call tec_version,MAJOR)
VERSION := $(VERSION_MAJOR).$(call tec_version,MINOR).$(call tec_version,PATCH)
# The soname follows the API's major version (doc/design.md, libtec as a library).
API_MAJOR := $(shell sed -n 's/.*define TEC_API_VERSION_MAJOR  *\([0-9][0-9]*\).*/\1/p' libavcodec-tec/include/tec/tec.h)
SONAME := libtec.so.$(API_MAJOR)

# Install layout; all of it follows PREFIX (and DESTDIR for staging),
# LIBDIR unless ./configure --libdir set it.
BINDIR = $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR = $(PREFIX)/include
DATADIR = $(PREFIX)/share
WEIGHTSDIR = $(DATADIR)/tec/weights
DOCDIR = $(DATADIR)/doc/tec
# The Python package (python/terracodec), where Debian's python3 looks
# under PREFIX: lib/python3.X/dist-packages.
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR = $(PREFIX)/lib/python$(PYTHON_VERSION)/dist-packages

# Build directory.  check-asan reruns this Makefile with B=build-asan SAN=asan.
B = build
SAN =
ifeq ($(SAN),asan)
SAN_CFLAGS = -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SAN_LDFLAGS = -fsanitize=address,undefined
TEC_BIN = $(B)/tec
else
TEC_BIN = tools/tec
endif

# The library finds weights in the install tree only (after the caller's
# directory and $TEC_WEIGHTS); tools/tec finds the source tree's weights/
# itself when it runs from the tree.
TEC_CPPFLAGS = -Ilibavcodec-tec/include -Ilibavcodec-tec/src \
    -DTEC_WEIGHTS_INSTALL_DIR=\"$(WEIGHTSDIR)\"
ALL_CFLAGS = $(CFLAGS) $(SAN_CFLAGS) -fPIC $(TEC_CPPFLAGS) $(CPPFLAGS)
# libtec.so exports what tec.h marks TEC_API, nothing else.
LIB_CFLAGS = -fvisibility=hidden
ALL_LIBS = $(LDFLAGS) $(SAN_LDFLAGS) $(LIBS)
# GDAL (configure's TOOLS_*): the tec tool's helpers and what links them,
# never libtec.
TOOLS_CPPFLAGS ?=
TOOLS_LIBS ?=

LIB_SRCS := $(wildcard libavcodec-tec/src/*.c)
LIB_OBJS := $(LIB_SRCS:libavcodec-tec/src/%.c=$(B)/src/%.o)
HELPER_SRCS := $(filter-out tools/tec.c tools/bench_%.c,$(wildcard tools/*.c))
HELPER_OBJS := $(HELPER_SRCS:tools/%.c=$(B)/tools/%.o)
TEST_SRCS := $(wildcard fate-tests/unit/test_*.c)
TESTS := $(TEST_SRCS:fate-tests/unit/%.c=$(B)/tests/%)
BENCH_SRCS := $(wildcard tools/bench_*.c)
BENCHES := $(BENCH_SRCS:tools/%.c=$(B)/%)
PY_TESTS := $(wildcard fate-tests/*.py)
SH_TESTS := $(wildcard fate-tests/*.sh)
FFMPEG_PY_TESTS := $(wildcard fate-tests/ffmpeg/*.py)

# tools/tec is built once tools/tec.c exists.
PROGS := $(if $(wildcard tools/tec.c),$(TEC_BIN))

LIBS_OUT := $(B)/libtec.a $(B)/libtec.so.$(VERSION) $(B)/$(SONAME) $(B)/libtec.so

# Short build lines ("CC build/src/rans.o"); make V=1 shows the commands.
ifeq ($(V),1)
Q =
msg = @:
else
Q = @
msg = @printf '  %-6s %s\n'
endif

.PHONY: all check check-asan check-fuzz tests asan-build fuzz-build bench \
        install uninstall deps demo demo-run clean distclean help ffmpeg check-ffmpeg FORCE
.DELETE_ON_ERROR:

all: $(LIBS_OUT) $(B)/tec.pc $(PROGS)

# ---------------------------------------------------------------- building

# Objects are rebuilt when the compiler or the flags change (PREFIX is in
# them through TEC_WEIGHTS_INSTALL_DIR): the stamp's date moves only when its
# text does.
$(B)/flags.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CFLAGS) $(LIB_CFLAGS) $(ALL_LIBS) $(TOOLS_CPPFLAGS) $(TOOLS_LIBS)' > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

$(B)/src/%.o: libavcodec-tec/src/%.c $(B)/flags.stamp
	@mkdir -p $(@D)
	$(msg) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(B)/tools/%.o: tools/%.c $(B)/flags.stamp
	@mkdir -p $(@D)
	$(msg) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) $(TOOLS_CPPFLAGS) -MMD -MP -c $< -o $@

# The archives are written anew so that a deleted source leaves no member.
$(B)/libtec.a: $(LIB_OBJS)
	@rm -f $@
	$(msg) AR $@
	$(Q)$(AR) rcs $@ $^

$(B)/libtectools.a: $(HELPER_OBJS)
	@rm -f $@
	$(msg) AR $@
	$(Q)$(AR) rcs $@ $^

# --no-undefined: a missing symbol fails here, not when an application loads
# the library.
$(B)/libtec.so.$(VERSION): $(LIB_OBJS)
	$(msg) LD $@
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -o $@ $^ $(ALL_LIBS)

$(B)/$(SONAME) $(B)/libtec.so: $(B)/libtec.so.$(VERSION)
	$(Q)ln -sf $(notdir $<) $@

# Paths under PREFIX are written as ${prefix}/..., so that pkg-config
# --define-prefix can relocate the installed tree.
under-prefix = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))
# Dependencies with a .pc of their own go to Requires.private (configure
# says which); the others to Libs.private.
PC_REQUIRES_PRIVATE ?=
PC_LIBS_PRIVATE ?= $(LIBS)
$(B)/tec.pc: libavcodec-tec/tec.pc.in $(B)/flags.stamp config.mak
	$(msg) GEN $@
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(call under-prefix,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(call under-prefix,$(INCLUDEDIR))|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@REQUIRES_PRIVATE@|$(PC_REQUIRES_PRIVATE)|' \
	    -e 's|@LIBS_PRIVATE@|$(PC_LIBS_PRIVATE)|' $< > $@

# The CLI links libtec statically, so it runs from the build tree as it is.
$(TEC_BIN): $(B)/tools/tec.o $(B)/libtectools.a $(B)/libtec.a
	$(msg) LD $@
	$(Q)$(CC) $(CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(ALL_LIBS) $(TOOLS_LIBS)

$(B)/bench_%: $(B)/tools/bench_%.o $(B)/libtectools.a $(B)/libtec.a
	$(msg) LD $@
	$(Q)$(CC) $(CFLAGS) $(SAN_CFLAGS) -o $@ $^ $(ALL_LIBS) $(TOOLS_LIBS)

# A unit test is one file: compile and link in one step.  Tests may include
# the tools' helper headers (npy.h) as well as the library's internal ones.
$(B)/tests/%: fate-tests/unit/%.c $(B)/libtectools.a $(B)/libtec.a $(B)/flags.stamp
	@mkdir -p $(@D)
	$(msg) CCLD $@
	$(Q)$(CC) $(ALL_CFLAGS) -Ifate-tests/unit -Itools -MMD -MP -MF $@.d $< -o $@ \
	    $(B)/libtectools.a $(B)/libtec.a $(ALL_LIBS) $(TOOLS_LIBS)

tests: $(TESTS)

# Keep the benchmark objects (make would delete them as intermediates).
.SECONDARY: $(BENCH_SRCS:tools/%.c=$(B)/tools/%.o)

-include $(LIB_OBJS:.o=.d) $(HELPER_OBJS:.o=.d) $(B)/tools/tec.d \
         $(BENCH_SRCS:tools/%.c=$(B)/tools/%.d) $(TESTS:=.d)

# ---------------------------------------------------------------- tests

# tools/run-tests.sh runs the tests, appends one PASS/FAIL line per test to
# RESULTS and never fails itself; 'summary' prints the closing line and fails
# when any test failed.  check runs every pass and then sums up once; each
# check-* target run alone sums up its own pass (NESTED unset).
RESULTS = build/check-results.txt
RUNNER = bash tools/run-tests.sh
# Seconds one test may run before it counts as hung.
TEST_TIMEOUT = 600
TEST_ENV = TEC='$(CURDIR)/$(TEC_BIN)' TEC_WEIGHTS='$(CURDIR)/weights' BUILD='$(B)' \
           PYTHON='$(PYTHON)' TEST_LOGS='$(B)/check-logs' TEST_TIMEOUT=$(TEST_TIMEOUT)
start-results = mkdir -p $(dir $(RESULTS)); $(if $(NESTED),:,rm -f $(RESULTS))
end-results = $(if $(NESTED),:,$(RUNNER) summary $(RESULTS))

check: all
	@mkdir -p $(dir $(RESULTS)); rm -f $(RESULTS)
	@# A test that does not compile is reported as failed by the runner; the
	@# old binaries go first, so that none from an earlier build runs instead.
	@rm -f $(TESTS)
	-@$(MAKE) --no-print-directory -k tests
	@$(TEST_ENV) $(RUNNER) run $(RESULTS) unit $(TESTS)
	@$(TEST_ENV) $(RUNNER) run $(RESULTS) py $(PY_TESTS)
	@$(TEST_ENV) $(RUNNER) run $(RESULTS) sh $(SH_TESTS)
	@$(MAKE) --no-print-directory check-asan NESTED=1
	@$(MAKE) --no-print-directory check-fuzz NESTED=1
	@$(MAKE) --no-print-directory check-ffmpeg NESTED=1
	@$(RUNNER) summary $(RESULTS)

# FFmpeg with libtec (doc/ffmpeg.md): Debian's source package, our files
# registered into it, a lean build in build/ffmpeg/.
ffmpeg: all
	bash tools/ffmpeg-build.sh $(if $(FFMPEG_SOURCE),--ffmpeg-source '$(FFMPEG_SOURCE)')

# FATE tests, their listing in make fate-list, the demuxer fuzz loop, and
# the tests that use this FFmpeg (every codec of tec compare for real).  A
# failed FFmpeg build counts as a failed test.
check-ffmpeg:
	@mkdir -p $(B)/check-logs
	@if $(MAKE) --no-print-directory ffmpeg > $(B)/check-logs/ffmpeg-build.log 2>&1; then \
	    $(TEST_ENV) $(RUNNER) run $(RESULTS) sh libavcodec-tec/ffmpeg/check.sh; \
	    $(TEST_ENV) $(RUNNER) run $(RESULTS) py $(FFMPEG_PY_TESTS); \
	else \
	    echo "FAIL ffmpeg build" >> $(RESULTS); tail -n 30 $(B)/check-logs/ffmpeg-build.log; \
	fi

# Unit tests and shell tests again, everything built with ASan and UBSan.
check-asan:
ifeq ($(HAVE_ASAN),yes)
	@$(start-results)
	@rm -f build-asan/tec $(TEST_SRCS:fate-tests/unit/%.c=build-asan/tests/%)
	-@$(MAKE) --no-print-directory -k asan-build B=build-asan SAN=asan
	@$(MAKE) --no-print-directory asan-run B=build-asan SAN=asan
	@$(end-results)
else
	@echo "check-asan: skipped: $(CC) cannot build with -fsanitize=address,undefined"
endif

asan-build: $(B)/libtec.a $(TESTS) $(PROGS)

.PHONY: asan-run
asan-run:
	@echo "== ASan/UBSan pass ($(B)/)"
	@$(TEST_ENV) UBSAN_OPTIONS=print_stacktrace=1 \
	    $(RUNNER) run $(RESULTS) asan-unit $(TESTS)
	@$(TEST_ENV) UBSAN_OPTIONS=print_stacktrace=1 \
	    $(RUNNER) run $(RESULTS) asan-sh $(SH_TESTS)

# ---------------------------------------------------------------- fuzzing

# The fuzzers are built with clang under build-fuzz/: the library and the
# tools helpers go into one archive, each fuzz_*.c links what it uses.
FZ := build-fuzz
FUZZ_SRCS := $(wildcard fate-tests/fuzz/fuzz_*.c)
FUZZERS := $(FUZZ_SRCS:fate-tests/fuzz/%.c=$(FZ)/%)
FUZZ_OBJS := $(LIB_SRCS:libavcodec-tec/src/%.c=$(FZ)/src/%.o) \
             $(HELPER_SRCS:tools/%.c=$(FZ)/tools/%.o)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=c11 -g -O1 -fno-omit-frame-pointer -ffp-contract=off \
    -fsanitize=fuzzer-no-link $(FUZZ_SAN) $(TEC_CPPFLAGS) $(CPPFLAGS)
FUZZ_RUNS = 20000
FUZZ_MAX_TIME = 60
FUZZ_SEED = 1

$(FZ)/flags.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(FUZZ_CC) $(FUZZ_CFLAGS) $(ALL_LIBS)' > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi

$(FZ)/src/%.o: libavcodec-tec/src/%.c $(FZ)/flags.stamp
	@mkdir -p $(@D)
	$(msg) CC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FZ)/tools/%.o: tools/%.c $(FZ)/flags.stamp
	@mkdir -p $(@D)
	$(msg) CC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FZ)/libtec.a: $(FUZZ_OBJS)
	@rm -f $@
	$(msg) AR $@
	$(Q)$(AR) rcs $@ $^

$(FZ)/fuzz_%: fate-tests/fuzz/fuzz_%.c $(FZ)/libtec.a
	$(msg) CCLD $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -Ifate-tests/fuzz -Itools -fsanitize=fuzzer -MMD -MP -MF $@.d $< -o $@ \
	    $(FZ)/libtec.a $(LDFLAGS) $(LIBS)

fuzz-build: $(FUZZERS)

-include $(FUZZ_OBJS:.o=.d) $(FUZZERS:=.d)

check-fuzz:
ifeq ($(HAVE_CLANG_FUZZER),yes)
	@$(start-results)
	@rm -f $(FUZZERS)
	-@$(MAKE) --no-print-directory -k fuzz-build
	@echo "== fuzzing: -runs=$(FUZZ_RUNS), at most $(FUZZ_MAX_TIME) s each"
	@FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_MAX_TIME=$(FUZZ_MAX_TIME) FUZZ_SEED=$(FUZZ_SEED) \
	    TEST_LOGS=$(FZ)/logs FUZZ_WORK=$(FZ) $(RUNNER) run $(RESULTS) fuzz $(FUZZERS)
	@$(end-results)
else
	@echo "check-fuzz: skipped: no clang with libFuzzer (apt-get install clang libclang-rt-dev, then ./configure)"
endif

# ---------------------------------------------------------------- benchmarks

# The comparison runs every baseline, the video ones through build/ffmpeg.
bench: all $(BENCHES)
	@$(MAKE) --no-print-directory ffmpeg
	PYTHON=$(PYTHON) bash tools/bench.sh

# ---------------------------------------------------------------- install

install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/tec \
	    $(DESTDIR)$(WEIGHTSDIR) $(DESTDIR)$(DOCDIR)
	install -m 644 $(B)/libtec.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(B)/libtec.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libtec.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtec.so
	install -m 644 libavcodec-tec/include/tec/tec.h $(DESTDIR)$(INCLUDEDIR)/tec/
	install -m 644 $(B)/tec.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
ifneq ($(PROGS),)
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(PROGS) $(DESTDIR)$(BINDIR)/
endif
ifneq ($(wildcard weights/*.tecw weights/*.md),)
	install -m 644 $(wildcard weights/*.tecw weights/*.md) $(DESTDIR)$(WEIGHTSDIR)/
endif
	install -m 644 README.md $(wildcard doc/*.md) $(DESTDIR)$(DOCDIR)/
ifneq ($(PYTHON_VERSION),)
	sh python/install.sh '$(DESTDIR)$(PYTHONDIR)' '$(LIBDIR)' '$(VERSION)'
endif

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libtec.a $(DESTDIR)$(LIBDIR)/libtec.so \
	    $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libtec.so.$(VERSION) \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/tec.pc $(DESTDIR)$(BINDIR)/tec
	rm -rf $(DESTDIR)$(INCLUDEDIR)/tec $(DESTDIR)$(DATADIR)/tec $(DESTDIR)$(DOCDIR)
	rm -rf $(DESTDIR)$(PYTHONDIR)/terracodec $(DESTDIR)$(PYTHONDIR)/terracodec-*.dist-info

# ---------------------------------------------------------------- set-up

# Debian packages for building and testing, listed in tools/deps.txt.
deps:
	@sh tools/deps.sh tools/deps.txt

# Everything from a fresh clone: dependencies, configure, build, demo.
demo: deps
	@test -f config.mak || ./configure
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory demo-run

demo-run:
	@if [ -f tools/demo.py ]; then $(PYTHON) tools/demo.py; \
	 else echo "demo: tools/demo.py is not written yet (the library and tools/tec are built)"; fi

clean:
	rm -rf build build-asan $(FZ) tools/tec

distclean: clean
	rm -f config.mak config.log

help:
	@echo "make [all]         build/libtec.a, build/libtec.so, build/tec.pc, tools/tec"
	@echo "make check         unit, Python and shell tests, then check-asan and check-fuzz"
	@echo "                   (TEST_TIMEOUT=$(TEST_TIMEOUT) s per test, FUZZ_MAX_TIME=$(FUZZ_MAX_TIME) s per fuzzer)"
	@echo "make check-asan    unit and shell tests built with ASan/UBSan (build-asan/)"
	@echo "make check-fuzz    libFuzzer targets, FUZZ_RUNS=$(FUZZ_RUNS) runs each (build-fuzz/)"
	@echo "make bench         benchmarks (tools/bench_*.c)"
	@echo "make install       to DESTDIR/PREFIX; make uninstall"
	@echo "make deps          install the Debian packages of tools/deps.txt (as root)"
	@echo "make demo          set up, build and run the demo"
	@echo "make clean | distclean"
