# kernel/heap/heap.mk: goheap as the kernel heap: the platform (kernel/goheap_platform.c),
# the heap glue, demo and baseline (kernel/heap/), the allocator test boots, the kernel
# benchmarks (bench/kernel/) and `make lib`. The allocator core is in the kernel link
# through alloc/alloc.mk. The kernel benchmarks are linked only into the bench kernel
# (KBENCH=1, built apart in $(BUILD)/kbench by `make bench-kernel`).
KBENCH ?= 0
KCFLAGS += -Ikernel/heap $(if $(filter 1,$(KBENCH)),-DKERNEL_BENCH=1)
KERNEL_SRCS += kernel/goheap_platform.c $(sort $(wildcard kernel/heap/*.c)) \
	$(if $(filter 1,$(KBENCH)),$(sort $(wildcard bench/kernel/*.c))) $(KHEAP_EXTRA_SRCS)

# ---- test boots (tests/run-step.sh --boot; the bad-input ones --expect-announced-panic) ----
# KHB_<name>_APPEND / _MEM / _SMP like qemu/qemu.mk's KTB_*, _KVM: appended under
# ACCEL=kvm; SMP and MEM default to qemu.mk's KTEST_SMP / KTEST_MEM ($(SMP), $(MEM)).
KHEAP_BOOTS := api stress oom scav efence efence2 efence3 knobs trace idle
KHB_api_APPEND    := test=heap_api
KHB_stress_APPEND := test=heap_stress
# Under ACCEL=kvm (nested, software hypervisor here) every pin's cli/sti exits: 100k
# operations per CPU took 86 s, so the KVM boot runs 5k (qemu/qemu.mk also drops to
# SMP=2, 128 MiB there).
KHB_stress_KVM    := heap_ops=5000
KHB_oom_APPEND    := test=heap_oom
KHB_oom_MEM       := 64M
KHB_scav_APPEND   := test=heap_scav
KHB_efence_APPEND := test=heap_efence goheap=efence=1
KHB_efence2_APPEND := test=heap_efence goheap=efence=2
KHB_efence3_APPEND := test=heap_efence goheap=efence=3
# ~21 s (the test gives up at 40 s, IDLE_WAIT_S): the goal keeps the peak for two
# 10 s windows before idle CPUs may release.
KHB_idle_APPEND   := test=heap_idle heap_idle=1
# Nested KVM: each shootdown costs milliseconds, so the 1%-paced step releases
# ~128 KiB/s; the 40 s limit then covers about half of the 8 MiB (SMP=2) heap.
KHB_idle_KVM      := heap_idle_pct=25
KHB_trace_APPEND  := test=heap_trace goheap=allocfreetrace=1,scavtrace=1
KHB_knobs_APPEND  := test=heap_knobs,heap_api goheap=guardrate=4,debug=2 goheap=memlimit=256MiB,scavenge=eager,arena=64GiB
# Each bad free (and the bad knobs, a too large arena, and the planted lock-order
# violation) panics, so each is a boot of its own.
KHEAP_BAD_BOOTS := double_free double_free_large interior_free non_heap_free irqs_masked bad_knobs \
	lock_order arena_too_big
# Extra command-line words of a bad boot (two goheap= words: they merge).
KHB_bad_bad_knobs_APPEND := goheap=debug=1 goheap=efence=7,arena=1M
# More than the kernel's 16 TiB heap window: refused at boot, never shrunk.
KHB_bad_arena_too_big_APPEND := goheap=arena=32TiB
# `make test-matrix`: the long stress run (1M operations per CPU), and the heap
# suites on 1 and 8 CPUs and with 8 GiB (the foundation's matrix boots run only the
# foundation suites).
KHEAP_MATRIX_BOOTS := stress_long smp1 smp8 mem8G
KHB_stress_long_APPEND := test=heap_stress heap_ops=1000000
KHB_smp1_APPEND := test=heap_api,heap_stress,heap_scav
KHB_smp1_SMP    := 1
KHB_smp8_APPEND := test=heap_api,heap_stress,heap_scav
KHB_smp8_SMP    := 8
KHB_mem8G_APPEND := test=heap_api,heap_stress,heap_scav
KHB_mem8G_MEM    := 8G
KHEAP_MATRIX_TIMEOUT ?= 900

define kheap_boot_rule
.PHONY: kheap-$(1)
kheap-$(1): kernel
	@$$(KTEST_ENV) SMP="$$(or $$(KHB_$(1)_SMP),$$(KTEST_SMP),$$(SMP))" \
		MEM="$$(or $$(KHB_$(1)_MEM),$$(KTEST_MEM),$$(MEM))" \
		APPEND="$$(KHB_$(1)_APPEND) $$(if $$(filter kvm,$$(ACCEL)),$$(KHB_$(1)_KVM)) $$(APPEND)" \
		tests/run-step.sh $$@ $$(RESULTS)/$(2)-$$(ARCH) $(3) --boot
endef
define kheap_bad_rule
.PHONY: kheap-bad-$(1)
kheap-bad-$(1): kernel
	@$$(KTEST_ENV) SMP="$$(or $$(KTEST_SMP),$$(SMP))" MEM="$$(or $$(KTEST_MEM),$$(MEM))" \
		APPEND="test=selftest_heap_$(1) $$(KHB_bad_$(1)_APPEND) $$(APPEND)" \
		tests/run-step.sh $$@ $$(RESULTS)/kernel-$$(ARCH) $$(KTEST_TIMEOUT) --boot --expect-announced-panic
endef
$(foreach b,$(KHEAP_BOOTS),$(eval $(call kheap_boot_rule,$(b),kernel,$$(KTEST_TIMEOUT))))
$(foreach b,$(KHEAP_MATRIX_BOOTS),$(eval $(call kheap_boot_rule,$(b),matrix,$$(KHEAP_MATRIX_TIMEOUT))))
$(foreach b,$(KHEAP_BAD_BOOTS),$(eval $(call kheap_bad_rule,$(b))))

KHEAP_STEPS := $(addprefix kheap-,$(KHEAP_BOOTS)) $(addprefix kheap-bad-,$(KHEAP_BAD_BOOTS))
KHEAP_MSTEPS := $(addprefix kheap-,$(KHEAP_MATRIX_BOOTS))
TEST_KERNEL_STEPS_x86_64 += $(KHEAP_STEPS)
TEST_KERNEL_STEPS_aarch64 += $(KHEAP_STEPS)
TEST_MATRIX_STEPS_x86_64 += $(KHEAP_MSTEPS)
TEST_MATRIX_STEPS_aarch64 += $(KHEAP_MSTEPS)

# ---- `make lib ARCH=...`: the core as a freestanding archive plus its headers -------
# build/<arch>/libgoheap.a holds the core (alloc/*.c) compiled with this kernel's
# freestanding flags and platform header; build/<arch>/include/ has goheap.h,
# platform.h and this kernel's goheap_platform_impl.h as the example (docs/PORTING.md).
KHEAP_LIB := $(KBUILD)/libgoheap.a
KHEAP_LIB_OBJS := $(patsubst %.c,$(KBUILD)/%.o,$(GOHEAP_CORE_SRCS))
KHEAP_LIB_HDRS := include/goheap.h include/goheap_lockclass.h alloc/platform.h \
	kernel/include/goheap_platform_impl.h

lib: $(KHEAP_LIB)
	@mkdir -p $(KBUILD)/include
	@cp $(KHEAP_LIB_HDRS) $(KBUILD)/include/
	@echo "lib: $(KHEAP_LIB) ($(words $(KHEAP_LIB_OBJS)) objects) and $(KBUILD)/include/"

$(KHEAP_LIB): $(KHEAP_LIB_OBJS)
	@rm -f $@
	$(call say,AR,$@)$(AR) rcs $@ $(KHEAP_LIB_OBJS)

# `make install PREFIX=dir [ARCH=...]`: the archive and the public headers, nothing
# else: dir/lib/libgoheap.a, dir/include/goheap.h and goheap_lockclass.h. The archive
# is tied to this kernel's inline platform half (docs/PORTING.md says how); other
# kernels compile `make amalgamation`'s build/goheap.c instead.
KHEAP_PUBLIC_HDRS := include/goheap.h include/goheap_lockclass.h
.PHONY: install
install: $(KHEAP_LIB)
	@test -n "$(PREFIX)" || { echo "make install: set PREFIX=dir" >&2; exit 2; }
	install -d $(PREFIX)/lib $(PREFIX)/include
	install -m 644 $(KHEAP_LIB) $(PREFIX)/lib/libgoheap.a
	install -m 644 $(KHEAP_PUBLIC_HDRS) $(PREFIX)/include/

# ---- `make bench` (bench-kernel): one boot per arch with `bench` on the command line;
# the report lands in $(BUILD)/bench/kernel-<arch>.txt (summarised in
# bench/kernel/RESULTS.md).
# ICOUNT=1: exact guest instruction counts instead of ns: one CPU, single-threaded TCG
# with -icount shift=0,align=off,sleep=off (1 ns of virtual time = 1 instruction), tick
# off; the boot runs twice and the target fails if any figure differs
# ($(BUILD)/bench/kernel-icount-<arch>-{1,2}.txt).
BENCH_STEPS += bench-kernel
.PHONY: bench-kernel kbench-kernel
KBENCH_ELF := $(BUILD)/kbench/$(ARCH)/goheap.elf
kbench-kernel:
	+@$(MAKE) --no-print-directory kernel KBENCH=1 BUILD=$(BUILD)/kbench
ICOUNT ?= 0
ifeq ($(ICOUNT),1)
bench-kernel: deps kbench-kernel
	@mkdir -p $(BUILD)/bench
	@set -e; for run in 1 2; do \
	  ARCH=$(ARCH) SMP=1 MEM=$(MEM) CPU=$(CPU) ACCEL=tcg TCG_THREAD=single APPEND="bench icount $(APPEND)" \
	    qemu/run.sh $(KBENCH_ELF) -icount shift=0,align=off,sleep=off > $(BUILD)/bench/kernel-icount-$(ARCH)-$$run.txt; \
	done
	@grep '^bench:' $(BUILD)/bench/kernel-icount-$(ARCH)-1.txt
	@if ! cmp -s $(BUILD)/bench/kernel-icount-$(ARCH)-1.txt $(BUILD)/bench/kernel-icount-$(ARCH)-2.txt; then \
	  echo "bench-kernel ICOUNT=1: FAILED: the two icount runs differ:" >&2; \
	  diff $(BUILD)/bench/kernel-icount-$(ARCH)-1.txt $(BUILD)/bench/kernel-icount-$(ARCH)-2.txt >&2; exit 1; fi
	@echo "bench-kernel ICOUNT=1: both runs identical"
else
bench-kernel: deps kbench-kernel
	@mkdir -p $(BUILD)/bench
	@ARCH=$(ARCH) SMP=$(SMP) MEM=$(MEM) CPU=$(CPU) ACCEL=$(ACCEL) APPEND="bench $(APPEND)" \
		qemu/run.sh $(KBENCH_ELF) | tee $(BUILD)/bench/kernel-$(ARCH).txt | grep '^bench:'
endif

# ---- host test: the archive links into a foreign freestanding program --------------
# kernel/heap/libtest/link-test.sh runs `make lib` for both arches and links
# libtest/stub.c (only the platform functions docs/PORTING.md lists) against it.
TEST_HOST_STEPS += lib-link
.PHONY: lib-link
lib-link:
	+@tests/run-step.sh $@ $(RESULTS)/host 300 kernel/heap/libtest/link-test.sh $(BUILD)
