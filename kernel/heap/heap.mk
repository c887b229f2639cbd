# kernel/heap/heap.mk: goheap as the kernel heap: the platform (kernel/goheap_platform.c),
# the heap glue, demo and baseline (kernel/heap/), the kernel
# benchmarks (bench/kernel/) and `make lib`. The allocator core is in the kernel link
# through alloc/alloc.mk. The kernel benchmarks are linked only into the bench kernel
# (KBENCH=1, built apart in $(BUILD)/kbench by `make bench-kernel`).
KBENCH ?= 0
# The bench kernel is a release build (KERNEL_DEBUG=0) like the hosted benchmarks' core:
# the debug build checks every lock acquisition's order in gh_lock_slow, ~44 guest
# instructions per lock and unlock (the 1 MiB pair takes the heap lock twice: 676 vs
# 588 on x86_64). KBENCH_DEBUG=1 measures the debug build instead.
KBENCH_DEBUG ?= 0
KCFLAGS += -Ikernel/heap $(if $(filter 1,$(KBENCH)),-DKERNEL_BENCH=1 \
	$(if $(filter -DKERNEL_DEBUG%,$(KCFLAGS_EXTRA)),,-DKERNEL_DEBUG=$(KBENCH_DEBUG)))
KERNEL_SRCS += kernel/goheap_platform.c $(sort $(wildcard kernel/heap/*.c)) \
	$(if $(filter 1,$(KBENCH)),$(sort $(wildcard bench/kernel/*.c))) $(KHEAP_EXTRA_SRCS)

# The heap's test boots (kheap-*) are rows of qemu/boots.tab. The long matrix ones
# have this timeout: 1M operations per CPU.
KHEAP_MATRIX_TIMEOUT ?= 900

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
# Built apart per KBENCH_DEBUG, so that objects of the two builds never mix (the
# objects do not depend on the flags).
KBENCH_DIR := $(BUILD)/kbench$(if $(filter 1,$(KBENCH_DEBUG)),-debug,-rel)
KBENCH_ELF := $(KBENCH_DIR)/$(ARCH)/goheap.elf
kbench-kernel:
	+@$(MAKE) --no-print-directory kernel KBENCH=1 BUILD=$(KBENCH_DIR)
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
	@# Under -icount shift=0 the x86 TSC advances once per ns of virtual time: it runs at
	@# exactly 1 GHz, so the frequency the kernel found at boot (PIT calibration) must be
	@# within 10 ppm of that, or every figure is off by as much (aarch64's CNTFRQ is
	@# stated, not measured, and the counter ticks at exactly that rate).
	@if [ "$(ARCH)" = x86_64 ]; then \
	  hz=$$(sed -n 's/^bench:.* counter \([0-9]*\) Hz read at boot.*/\1/p' $(BUILD)/bench/kernel-icount-$(ARCH)-1.txt); \
	  if [ -z "$$hz" ] || [ $$hz -lt 999990000 ] || [ $$hz -gt 1000010000 ]; then \
	    echo "bench-kernel ICOUNT=1: FAILED: the TSC under icount runs at 1 GHz, the kernel calibrated '$$hz' Hz (more than 10 ppm off: figures not instruction counts)" >&2; exit 1; fi; \
	  echo "bench-kernel ICOUNT=1: calibrated TSC $$hz Hz, within 10 ppm of the 1 GHz icount rate"; \
	fi
else
bench-kernel: deps kbench-kernel
	@mkdir -p $(BUILD)/bench
	@ARCH=$(ARCH) SMP=$(SMP) MEM=$(MEM) CPU=$(CPU) ACCEL=$(ACCEL) APPEND="bench $(APPEND)" \
		qemu/run.sh $(KBENCH_ELF) | tee $(BUILD)/bench/kernel-$(ARCH).txt | grep '^bench:'
endif

# ---- `make bench-kernel-churn ARCH=... [CHURN_SMP="1 2 4"]`: the cross-CPU churn
# benchmark (bench/kernel/kchurn.c: every CPU allocates, hands its objects to the next
# CPU through a ring, frees what it receives; goheap, first fit and ring-only in the
# same boot) under multi-threaded TCG, one boot per SMP value, each running 1, 2, 4 ..
# SMP active CPUs. QEMU runs under nice (the host is shared); the host's load (uptime)
# before and after each boot goes into the log, $(BUILD)/bench/kernel-churn-<arch>-smp<N>.txt,
# and bench/kernel/churn_table.py makes the markdown tables ($(BUILD)/bench/kernel-churn-<arch>.md).
# CHURN_OPS / CHURN_ROUNDS: pairs per CPU and rounds (the kernel's defaults when empty).
# Not part of `make bench` (minutes of wall time on a loaded host).
CHURN_SMP ?= 1 2 4
CHURN_NICE ?= 10
CHURN_TIMEOUT ?= 1200
CHURN_OPS ?=
CHURN_ROUNDS ?=
CHURN_APPEND = bench kbench=churn $(if $(CHURN_OPS),churn_ops=$(CHURN_OPS)) \
	$(if $(CHURN_ROUNDS),churn_rounds=$(CHURN_ROUNDS)) $(APPEND)
.PHONY: bench-kernel-churn
bench-kernel-churn: deps kbench-kernel
	@mkdir -p $(BUILD)/bench
	@for smp in $(CHURN_SMP); do \
	  log=$(BUILD)/bench/kernel-churn-$(ARCH)-smp$$smp.txt; \
	  echo "host: nproc $$(nproc), load before: $$(uptime)" > $$log; \
	  ARCH=$(ARCH) SMP=$$smp MEM=$(MEM) CPU=$(CPU) ACCEL=tcg TCG_THREAD=multi \
	    RUN_TIMEOUT=$(CHURN_TIMEOUT) APPEND="$(strip $(CHURN_APPEND))" \
	    nice -n $(CHURN_NICE) qemu/run.sh $(KBENCH_ELF) >> $$log 2>&1 || \
	    { grep -e '^bench:' -e panic $$log; echo "bench-kernel-churn: SMP=$$smp boot FAILED (log: $$log)" >&2; exit 1; }; \
	  echo "host: load after: $$(uptime)" >> $$log; \
	  echo "== $(ARCH) SMP=$$smp (multi-threaded TCG) =="; \
	  grep -e '^bench: churn' -e '^host:' $$log; \
	done
	@$(PYTHON) bench/kernel/churn_table.py $(foreach n,$(CHURN_SMP),$(BUILD)/bench/kernel-churn-$(ARCH)-smp$(n).txt) \
	  > $(BUILD)/bench/kernel-churn-$(ARCH).md
	@echo "bench-kernel-churn: tables in $(BUILD)/bench/kernel-churn-$(ARCH).md"

# ---- host test: the archive links into a foreign freestanding program --------------
# kernel/heap/libtest/link-test.sh runs `make lib` for both arches and links
# libtest/stub.c (only the platform functions docs/PORTING.md lists) against it.
TEST_HOST_STEPS += lib-link
.PHONY: lib-link
lib-link:
	+@tests/run-step.sh $@ $(RESULTS)/host 300 kernel/heap/libtest/link-test.sh $(BUILD)
