# goheap: one build for both arches (clang + ld.lld cross-compile) and the hosted core.
# Rules for each part of the tree live in per-directory fragments (*/*.mk, */*/*.mk),
# included below, so the parts can grow without editing each other's rules.
#
# Conventions for fragments
#   KERNEL_SRCS           portable kernel-side sources, built for every arch
#   KERNEL_SRCS_<arch>    arch-only sources (.c and .S) for <arch>
#   TEST_HOST_STEPS       phony targets; each runs one host test and leaves
#                         $(RESULTS)/host/<step>.result (see tests/run-step.sh)
#   TEST_KERNEL_STEPS_<arch>  phony targets; each boots once and leaves
#                         $(RESULTS)/kernel-<arch>/<step>.result (see tests/run-step.sh);
#                         the boots are rows of qemu/boots.tab, which fills both lists
#   TEST_MATRIX_STEPS_<arch>  the wider configurations run by `make test-matrix`
#   BENCH_STEPS           phony targets run by `make bench`

ARCH  ?= x86_64
SMP   ?= 4
MEM   ?= 512M
ACCEL ?= tcg
ifeq ($(ARCH),aarch64)
CPU   ?= cortex-a72
else
CPU   ?= qemu64
endif
BUILD ?= build
APPEND ?=

ARCHES   := x86_64 aarch64
KBUILD   := $(BUILD)/$(ARCH)
HBUILD   := $(BUILD)/host
# The compile commands the objects under KBUILD / HBUILD were built with (below,
# "Objects follow their compile command").
KFLAGS_RECORD := $(KBUILD)/.flags
HFLAGS_RECORD := $(HBUILD)/.flags
RESULTS  := $(BUILD)/results

ifeq ($(filter $(ARCH),$(ARCHES)),)
$(error ARCH=$(ARCH) is not supported; use one of: $(ARCHES))
endif

# ---- toolchain -------------------------------------------------------------------
# CC, AR, LD and CROSS_COMPILE are honoured, from the command line or the environment:
#   make lib                                 clang (--target picks the arch) + llvm-ar
#   make lib CC=gcc ARCH=aarch64             aarch64-linux-gnu-gcc (CROSS_COMPILE is
#                                            aarch64-linux-gnu- by default off aarch64)
#   make kernel CC=gcc LD=ld.lld             the kernel with gcc, linked by ld.lld
# With gcc, CC is prefixed with CROSS_COMPILE (as in Linux); clang needs no prefix.
# HOSTCC (default clang) builds the hosted library, tests and benchmarks.
ifeq ($(origin CC),default)
CC := clang
endif
ifeq ($(origin AR),default)
AR := llvm-ar
endif
ifeq ($(origin LD),default)
LD := ld.lld
endif
OBJCOPY ?= llvm-objcopy
NM      ?= llvm-nm
HOSTCC  ?= clang
PYTHON  ?= python3
CC_IS_CLANG := $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null | head -n 1)),1)
HOST_ARCH := $(shell uname -m)
ifneq ($(CC_IS_CLANG),1)
ifneq ($(ARCH),$(HOST_ARCH))
CROSS_COMPILE_aarch64 := aarch64-linux-gnu-
CROSS_COMPILE_x86_64 := x86_64-linux-gnu-
CROSS_COMPILE ?= $(CROSS_COMPILE_$(ARCH))
endif
endif
KCC := $(if $(CC_IS_CLANG),$(CC),$(CROSS_COMPILE)$(CC))

# ---- quiet build ------------------------------------------------------------------
# One short line per step ("  CC      alloc/mheap.c [x86_64]"); V=1 prints every
# command in full instead. Use as the start of a recipe line: $(call say,TAG,WHAT)cmd
V ?= 0
ifeq ($(V),1)
say =
Q :=
else
say = @printf '  %-8s %s\n' '$(1)' '$(2)';
Q := @
endif

# ---- kernel (freestanding) flags ------------------------------------------------
# Frame pointers: kept in the kernel (its panic backtrace walks them) and in host test
# and benchmark code (sanitizer and profiler stacks); only the hosted library's own
# objects omit them (hosted/hosted.mk: its malloc/free fast paths need no frame set-up).
KCFLAGS_COMMON := -std=gnu11 -ffreestanding -fno-stack-protector -fno-pic -fno-pie \
	-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-common \
	-nostdlib -O2 -g -Wall -Wextra -Werror \
	-Iinclude -Ialloc -Ikernel/include -Iarch/$(ARCH)/include -Itests
# clang cross-compiles with --target; a gcc is built for one target already.
KCFLAGS_TARGET_x86_64  := $(if $(CC_IS_CLANG),--target=x86_64-unknown-none-elf)
KCFLAGS_TARGET_aarch64 := $(if $(CC_IS_CLANG),--target=aarch64-unknown-none-elf)
KCFLAGS_x86_64  := $(KCFLAGS_TARGET_x86_64) -mcmodel=kernel -mno-red-zone \
	-mgeneral-regs-only -mno-mmx -mno-sse -mno-sse2
# gcc's aarch64 default -moutline-atomics calls libgcc helpers (__aarch64_cas4_acq_rel):
# inline LSE or LL/SC as clang does instead, so the core needs no runtime library.
KCFLAGS_aarch64 := $(KCFLAGS_TARGET_aarch64) -mgeneral-regs-only -mstrict-align \
	$(if $(CC_IS_CLANG),,-mno-outline-atomics)
KCFLAGS  := $(KCFLAGS_COMMON) $(KCFLAGS_$(ARCH)) $(KCFLAGS_EXTRA)
# The allocator's own objects (alloc/alloc.mk) omit the frame of a leaf function: the
# rest of the kernel keeps every frame for its panic backtraces, but goheap_malloc and
# goheap_free only tail-call off their fast paths, so their frame was three
# instructions on each call (their slow paths and diagnoses, tail-called, have frames
# of their own that link to the caller's; only a fault inside such a leaf loses its
# caller's frame from the backtrace). The hosted library omits every frame pointer of
# its own objects.
KCFLAGS_ALLOC := -momit-leaf-frame-pointer
KASFLAGS := $(KCFLAGS) -D__ASSEMBLY__
KLDFLAGS := -nostdlib -static --no-dynamic-linker -z max-page-size=4096

KERNEL_SRCS :=
KERNEL_SRCS_x86_64 :=
KERNEL_SRCS_aarch64 :=
TEST_HOST_STEPS :=
TEST_KERNEL_STEPS_x86_64 :=
TEST_KERNEL_STEPS_aarch64 :=
TEST_MATRIX_STEPS_x86_64 :=
TEST_MATRIX_STEPS_aarch64 :=
BENCH_STEPS :=

# ---- host (hosted core, tests, benchmarks) flags -----------------------------------
# GOHEAP_PROFILE=0 compiles the heap profiler out of the hosted core (alloc/profile.h:
# no sampling counter on malloc's fast path; memprofilerate= is then off), for the
# benchmarks' compiled-out figures (bench/RESULTS.md, "Heap profiler"). Changing it
# rebuilds the objects (the flags record below); give it its own BUILD=, e.g.
# BUILD=build/noprof, to keep both builds.
# The core's tests expect the profiler in.
GOHEAP_PROFILE ?= 1
# HOST_CFLAGS_LIB: everything but the frame-pointer choice (see the kernel flags).
HOST_CFLAGS_LIB := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-Iinclude -Ialloc -Ihosted/include -pthread \
	$(if $(filter 0,$(GOHEAP_PROFILE)),-DGOHEAP_PROFILE=0)
HOST_CFLAGS := $(HOST_CFLAGS_LIB) -fno-omit-frame-pointer

.PHONY: all run test test-host test-kernel test-matrix bench compdb lib clean deps help kernel host-lib
all: help

# Fragments: every part of the tree brings its own rules.
include $(sort $(wildcard */*.mk */*/*.mk))

KERNEL_OBJS = $(patsubst %,$(KBUILD)/%.o,$(basename $(KERNEL_SRCS) $(KERNEL_SRCS_$(ARCH))))

# The compiler itself, installed like QEMU when it is a missing Debian package.
.PHONY: cc-deps
cc-deps:
	@tools/ensure-cc.sh $(firstword $(KCC))

# Objects follow their compile command: each build directory records the command its
# objects were compiled with (make compares file times, not commands), rewritten while
# the makefile is read whenever it changes, so that CC=, HOSTCC=, CROSS_COMPILE=,
# GOHEAP_PROFILE= or a flag that changes rebuilds every object compiled under it,
# instead of linking old objects with new ones. The record has a rule too: make lists a
# directory once, and one that existed before the record was written there (lib-link's
# build/<arch>/libtest) keeps listing it as absent; the rule writes the same text.
# (gh_flags_record: the record's path, and the name of the variable with the command.)
KFLAGS_NOW = $(KCC) $(KCFLAGS) | $(KASFLAGS) | $(KCFLAGS_ALLOC)
HFLAGS_NOW = $(HOSTCC) $(HOST_CFLAGS) $(GOHEAP_HOST_CFLAGS) | $(H4_CORE_CFLAGS) | $(H4_ASAN) | $(H4_TSAN) | $(H4_FUZZ)
define gh_flags_record
ifneq ($$(file < $(1)),$$($(2)))
$$(shell mkdir -p $$(dir $(1)))
$$(file > $(1),$$($(2)))
endif
$(1):
	$$(shell mkdir -p $$(dir $$@))$$(file > $$@,$$($(2)))
endef
$(eval $(call gh_flags_record,$(KFLAGS_RECORD),KFLAGS_NOW))
$(eval $(call gh_flags_record,$(HFLAGS_RECORD),HFLAGS_NOW))

$(KBUILD)/%.o: %.c $(KFLAGS_RECORD) | cc-deps
	@mkdir -p $(dir $@)
	$(call say,CC,$< [$(ARCH)])$(KCC) $(KCFLAGS) -MMD -MP -c $< -o $@
$(KBUILD)/%.o: %.S $(KFLAGS_RECORD) | cc-deps
	@mkdir -p $(dir $@)
	$(call say,AS,$< [$(ARCH)])$(KCC) $(KASFLAGS) -MMD -MP -c $< -o $@
-include $(wildcard $(KBUILD)/*/*.d $(KBUILD)/*/*/*.d $(KBUILD)/*/*/*/*.d)

help:
	@echo "Build"
	@echo "  make kernel [ARCH=x86_64|aarch64]       the demo/test kernel (build/<arch>/goheap.elf)"
	@echo "  make lib [ARCH=...]                     the core as a freestanding archive + headers"
	@echo "  make host-lib                           build/host/libgoheap.a and libgoheap.so (LD_PRELOAD)"
	@echo "  make compdb                             compile_commands.json for both arches"
	@echo "  make sizeclasses                        regenerate alloc/sizeclasses.h"
	@echo "  make clean | deps | cc-deps             remove build/; install QEMU; install the compiler"
	@echo "Run"
	@echo "  make run [ARCH=...] [SMP=n] [MEM=512M] [APPEND='...']   boot the demo kernel"
	@echo "  make run PROFILE=1                      ... then its heap profile in pprof (-top, -svg)"
	@echo "Test"
	@echo "  make test [SMP=n]                       every test, both arches (CI: .ci/run)"
	@echo "  make test-host                          host tests: $(words $(TEST_HOST_STEPS)) steps"
	@echo "  make test-kernel ARCH=...               kernel boots: $(words $(TEST_KERNEL_STEPS_$(ARCH))) steps on $(ARCH)"
	@echo "  make test-matrix ARCH=...               wider configurations: $(words $(TEST_MATRIX_STEPS_$(ARCH))) steps"
	@echo "  make <step>                             one step, e.g. core-fork, host-api, lib-link,"
	@echo "                                          ktest-smp, kheap-api, kheap-bad-lock_order"
	@echo "                                          (lists: make list-steps)"
	@echo "Benchmarks"
	@echo "  make bench                              $(BENCH_STEPS)"
	@echo "  make bench-fastpath | bench-suite | bench-kernel | bench-report"
	@echo "  make bench-scaling | bench-pairs                  threads 1..2x nproc; callgrind per pair in the workloads"
	@echo "  make bench-inproc                       time side by side in one process (ratios to mimalloc)"
	@echo "  make bench-kernel-churn ARCH=... [CHURN_SMP=\"1 2 4\"]  kernel cross-CPU churn, multi-threaded TCG"
	@echo "Options"
	@echo "  CC=gcc|clang AR= LD= CROSS_COMPILE=     toolchain (gcc for aarch64: aarch64-linux-gnu-)"
	@echo "  HOSTCC=                                 compiler for the host library, tests, benchmarks"
	@echo "  V=1                                     print full commands   ACCEL=kvm   CPU=   BUILD=dir"

.PHONY: list-steps
list-steps:
	@echo "host: $(TEST_HOST_STEPS)"
	@echo "bench: $(BENCH_STEPS)"
	@for a in $(ARCHES); do $(MAKE) --no-print-directory -s list-steps-arch ARCH=$$a; done
.PHONY: list-steps-arch
list-steps-arch:
	@echo "kernel-$(ARCH): $(TEST_KERNEL_STEPS_$(ARCH))"
	@echo "matrix-$(ARCH): $(TEST_MATRIX_STEPS_$(ARCH))"

# `make test`: host tests, then the kernel suites on both arches; the last line is
# the total over every KTAP leaf test case.
test:
	@rm -rf $(RESULTS)
	+@$(MAKE) --no-print-directory test-host NO_SUMMARY=1 || true
	+@for a in $(ARCHES); do $(MAKE) --no-print-directory test-kernel ARCH=$$a NO_SUMMARY=1 || true; done
	@$(PYTHON) tests/summarize.py $(RESULTS)

test-host:
	@rm -rf $(RESULTS)/host; mkdir -p $(RESULTS)/host
	+@$(MAKE) --no-print-directory -k $(TEST_HOST_STEPS) || true
	@$(PYTHON) tests/summarize.py --expect "$(TEST_HOST_STEPS)" --quiet-if "$(NO_SUMMARY)" $(RESULTS)/host

test-kernel: deps
	@rm -rf $(RESULTS)/kernel-$(ARCH); mkdir -p $(RESULTS)/kernel-$(ARCH)
	+@$(MAKE) --no-print-directory -k $(TEST_KERNEL_STEPS_$(ARCH)) || true
	@$(PYTHON) tests/summarize.py --expect "$(TEST_KERNEL_STEPS_$(ARCH))" --quiet-if "$(NO_SUMMARY)" $(RESULTS)/kernel-$(ARCH)

test-matrix: deps
	@rm -rf $(RESULTS)/matrix-$(ARCH); mkdir -p $(RESULTS)/matrix-$(ARCH)
	+@$(MAKE) --no-print-directory -k $(TEST_MATRIX_STEPS_$(ARCH)) || true
	@$(PYTHON) tests/summarize.py --expect "$(TEST_MATRIX_STEPS_$(ARCH))" $(RESULTS)/matrix-$(ARCH)

bench: $(BENCH_STEPS)

# Install QEMU (and anything else the boots need) when missing.
deps:
	@qemu/ensure-deps.sh $(ARCH)

compdb:
	@$(PYTHON) tools/compdb.py $(ARCHES) > compile_commands.json
	@echo "wrote compile_commands.json"

clean:
	rm -rf $(BUILD)
