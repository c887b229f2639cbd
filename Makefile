# goheap: one build for both arches (clang + ld.lld cross-compile) and the hosted core.
# Rules for each part of the tree live in per-directory fragments (*/*.mk, */*/*.mk),
# included below, so the parts can grow without editing each other's rules.
#
# Conventions for fragments
#   KERNEL_SRCS           portable kernel-side sources, built for every arch
#   KERNEL_SRCS_<arch>    arch-only sources (.c and .S) for <arch>
#   TEST_HOST_STEPS       phony targets; each runs one host test and leaves
#                         $(RESULTS)/host/<step>.result (see tests/run-host-test.sh)
#   TEST_KERNEL_STEPS_<arch>  phony targets; each boots once and leaves
#                         $(RESULTS)/kernel-<arch>/<step>.result (see qemu/run-test.sh)
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
RESULTS  := $(BUILD)/results

ifeq ($(filter $(ARCH),$(ARCHES)),)
$(error ARCH=$(ARCH) is not supported; use one of: $(ARCHES))
endif

CC      := clang
LD      := ld.lld
AR      := llvm-ar
OBJCOPY := llvm-objcopy
NM      := llvm-nm
HOSTCC  ?= clang
PYTHON  ?= python3

# ---- kernel (freestanding) flags ------------------------------------------------
KCFLAGS_COMMON := -std=gnu11 -ffreestanding -fno-stack-protector -fno-pic -fno-pie \
	-fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-common \
	-nostdlib -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-Iinclude -Ialloc -Ikernel/include -Iarch/$(ARCH)/include
KCFLAGS_x86_64  := --target=x86_64-unknown-none-elf -mcmodel=kernel -mno-red-zone \
	-mgeneral-regs-only -mno-mmx -mno-sse -mno-sse2
KCFLAGS_aarch64 := --target=aarch64-unknown-none-elf -mgeneral-regs-only -mstrict-align
KCFLAGS  := $(KCFLAGS_COMMON) $(KCFLAGS_$(ARCH)) $(KCFLAGS_EXTRA)
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
HOST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-fno-omit-frame-pointer -Iinclude -Ialloc -Ihosted/include -pthread

.PHONY: all run test test-host test-kernel test-matrix bench compdb lib clean deps help
all: help

# Fragments: every part of the tree brings its own rules.
include $(sort $(wildcard */*.mk */*/*.mk))

KERNEL_OBJS = $(patsubst %,$(KBUILD)/%.o,$(basename $(KERNEL_SRCS) $(KERNEL_SRCS_$(ARCH))))

$(KBUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) -MMD -MP -c $< -o $@
$(KBUILD)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(KASFLAGS) -MMD -MP -c $< -o $@
-include $(wildcard $(KBUILD)/*/*.d $(KBUILD)/*/*/*.d $(KBUILD)/*/*/*/*.d)

help:
	@echo "make run [ARCH=x86_64|aarch64] [SMP=n] [MEM=512M]   boot the demo kernel"
	@echo "make test                                         every test, both arches"
	@echo "make test-host | test-kernel ARCH=... | test-matrix | bench | lib | compdb"

# `make test`: host tests, then the kernel suites on both arches; the last line is
# the total over every KTAP leaf test case.
test:
	@rm -rf $(RESULTS)
	@$(MAKE) --no-print-directory test-host NO_SUMMARY=1 || true
	@for a in $(ARCHES); do $(MAKE) --no-print-directory test-kernel ARCH=$$a NO_SUMMARY=1 || true; done
	@$(PYTHON) tests/summarize.py $(RESULTS)

test-host:
	@rm -rf $(RESULTS)/host; mkdir -p $(RESULTS)/host
	@$(MAKE) --no-print-directory -k $(TEST_HOST_STEPS) || true
	@$(PYTHON) tests/summarize.py --expect "$(TEST_HOST_STEPS)" --quiet-if "$(NO_SUMMARY)" $(RESULTS)/host

test-kernel: deps
	@rm -rf $(RESULTS)/kernel-$(ARCH); mkdir -p $(RESULTS)/kernel-$(ARCH)
	@$(MAKE) --no-print-directory -k $(TEST_KERNEL_STEPS_$(ARCH)) || true
	@$(PYTHON) tests/summarize.py --expect "$(TEST_KERNEL_STEPS_$(ARCH))" --quiet-if "$(NO_SUMMARY)" $(RESULTS)/kernel-$(ARCH)

test-matrix: deps
	@rm -rf $(RESULTS)/matrix-$(ARCH); mkdir -p $(RESULTS)/matrix-$(ARCH)
	@$(MAKE) --no-print-directory -k $(TEST_MATRIX_STEPS_$(ARCH)) || true
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
