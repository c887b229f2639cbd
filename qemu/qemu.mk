# qemu/: `make run`, and the kernel test boots for `make test-kernel` and
# `make test-matrix`. Boot configurations are listed once and applied to every arch.
# Each step boots once through tests/run-step.sh --boot.

KTEST_TIMEOUT ?= 60
KTEST_ENV = ARCH=$(ARCH) KERNEL=$(KELF) CPU=$(CPU) ACCEL=$(ACCEL)

# Defaults for the test boots: $(SMP) and $(MEM). Under ACCEL=kvm, unless SMP/MEM were
# given explicitly, use 2 CPUs and 128 MiB: KVM on this kind of host is itself nested
# in a software hypervisor (no vmx), so guest code runs far slower than under TCG and
# every vCPU beyond the 2 host cores waits for host scheduling at each lock handoff
# (SMP=4 MEM=512M took minutes for the frame suite; SMP=2 MEM=128M takes seconds).
KTEST_SMP := $(SMP)
KTEST_MEM := $(MEM)
ifeq ($(ACCEL),kvm)
ifeq ($(origin SMP),file)
KTEST_SMP := 2
endif
ifeq ($(origin MEM),file)
KTEST_MEM := 128M
endif
KTEST_TIMEOUT := 120
endif

.PHONY: run
run: deps kernel
	@ARCH=$(ARCH) SMP=$(SMP) MEM=$(MEM) CPU=$(CPU) ACCEL=$(ACCEL) APPEND="$(APPEND)" \
		qemu/run.sh $(KELF)

# ---- boot configurations ---------------------------------------------------------
# KTB_<name>_APPEND  kernel command line (test=<suite prefixes>, expect_* checks)
# KTB_<name>_SMP     -smp value (default: $(SMP), i.e. 4)
# KTB_<name>_MEM     -m value (default: $(MEM))
# KTB_<name>_PANIC   the boot passes only if exactly this panic message appears
# KTB_<name>_MINCPUS the boot is skipped, with the reason, when SMP gives fewer CPUs
# Any of them may be overridden per arch as KTB_<name>_<FIELD>_<arch>.
KTEST_BOOTS := frame paging spinlock percpu smp misc sparse \
	panic lockorder recursion pagefault maskedwait irqframe

KTB_frame_APPEND    := test=frame
KTB_paging_APPEND   := test=paging
KTB_spinlock_APPEND := test=spinlock
KTB_percpu_APPEND   := test=percpu expect_ncpus=4
KTB_percpu_SMP      := 4
KTB_smp_APPEND      := test=smp
KTB_misc_APPEND     := test=printk,cmdline,fault,ksyms,arch_
KTB_sparse_SMP      := 6,sockets=2,cores=3
KTB_sparse_APPEND   := test=percpu,smp expect_ncpus=6 expect_hwids=0,1,2,4,5,6
KTB_panic_APPEND    := test=selftest_panic
KTB_panic_PANIC     := ktest: deliberate panic (selftest_panic)
KTB_lockorder_APPEND := test=selftest_lockorder
KTB_lockorder_PANIC := lock order violation: taking 'selftest-low' (class test) while holding 'selftest-high' (class test-inner)
KTB_recursion_APPEND := test=selftest_recursion
KTB_recursion_PANIC := recursive lock: cpu 0 already holds 'selftest-rec' (class test)
KTB_pagefault_APPEND := test=selftest_pagefault
KTB_pagefault_PANIC := page fault at 0xffffc00000000008: not-present write, kernel
KTB_maskedwait_APPEND := test=selftest_masked_wait
KTB_maskedwait_PANIC := smp call from cpu 0 with interrupts masked (would wait for acks masked)
# the call must target another CPU
KTB_maskedwait_MINCPUS := 2
KTB_irqframe_APPEND := test=selftest_frame_in_irq
KTB_irqframe_PANIC  := frame_alloc called from an interrupt handler on cpu 1
# CPU 1 takes the interrupt
KTB_irqframe_MINCPUS := 2

# x86_64-only boots.
KTEST_BOOTS_x86_64 := doublefault
KTB_doublefault_APPEND := test=selftest_doublefault
KTB_doublefault_PANIC := double fault

ktb = $(or $(KTB_$(1)_$(2)_$(ARCH)),$(KTB_$(1)_$(2)))
comma := ,
# Shell: record step $(1) in results dir $(2) as skipped, with reason $(3).
skip_step = mkdir -p $(2); printf '0 0 1\n\# %s\n' "$(3)" > $(2)/$(1).result; echo "$(1): skipped ($(3))"

define ktest_boot_rule
.PHONY: ktest-$(1)
ktest-$(1): kernel
	@smp="$$(or $$(call ktb,$(1),SMP),$$(KTEST_SMP))"; min="$$(call ktb,$(1),MINCPUS)"; \
	if [ -n "$$$$min" ] && [ "$$$${smp%%,*}" -lt "$$$$min" ]; then \
		$$(call skip_step,$$@,$$(RESULTS)/kernel-$$(ARCH),needs $$$$min CPUs$$(comma) SMP=$$$$smp); \
	else $$(KTEST_ENV) SMP="$$$$smp" MEM="$$(or $$(call ktb,$(1),MEM),$$(KTEST_MEM))" \
		APPEND="$$(call ktb,$(1),APPEND) $$(APPEND)" \
		tests/run-step.sh $$@ $$(RESULTS)/kernel-$$(ARCH) $$(KTEST_TIMEOUT) --boot \
		$$(if $$(call ktb,$(1),PANIC),--expect-panic "$$(call ktb,$(1),PANIC)"); fi
endef
$(foreach b,$(KTEST_BOOTS) $(KTEST_BOOTS_x86_64) $(KTEST_BOOTS_aarch64),\
	$(eval $(call ktest_boot_rule,$(b))))

TEST_KERNEL_STEPS_x86_64 += $(addprefix ktest-,$(KTEST_BOOTS) $(KTEST_BOOTS_x86_64))
TEST_KERNEL_STEPS_aarch64 += $(addprefix ktest-,$(KTEST_BOOTS) $(KTEST_BOOTS_aarch64))

# ---- the matrix: the foundation suites, wider configurations ------------------------
# The heap suites have boots of their own (kernel/heap/heap.mk): they map the heap
# arena, which the paging and fault suites expect empty.
# name:SMP:MEM (SMP "6s" = the sparse-id topology)
KMATRIX := smp1:1:512M smp2:2:512M smp4:4:512M smp8:8:512M \
	mem64M:4:64M mem512M:4:512M mem8G:4:8G sparse:6s:512M
kmx_name = $(word 1,$(subst :, ,$(1)))
kmx_smp  = $(patsubst 6s,6$(comma)sockets=2$(comma)cores=3,$(word 2,$(subst :, ,$(1))))
kmx_mem  = $(word 3,$(subst :, ,$(1)))

define kmatrix_rule
.PHONY: kmatrix-$(call kmx_name,$(1))
kmatrix-$(call kmx_name,$(1)): kernel
	@$$(KTEST_ENV) SMP="$(call kmx_smp,$(1))" MEM="$(call kmx_mem,$(1))" \
		APPEND="test=$(KTEST_FOUNDATION) expect_ncpus=$(firstword $(subst $(comma), ,$(call kmx_smp,$(1)))) $$(APPEND)" \
		tests/run-step.sh $$@ $$(RESULTS)/matrix-$$(ARCH) $$(KMATRIX_TIMEOUT) --boot 
endef
KMATRIX_TIMEOUT ?= 180
$(foreach m,$(KMATRIX),$(eval $(call kmatrix_rule,$(m))))

# True parallelism: multi-threaded TCG (one host thread per vCPU), 2 CPUs for 2 cores.
.PHONY: kmatrix-mttcg
kmatrix-mttcg: kernel
	@$(KTEST_ENV) TCG_THREAD=multi SMP=2 MEM=512M \
		APPEND="test=$(KTEST_FOUNDATION) expect_ncpus=2 $(APPEND)" \
		tests/run-step.sh $@ $(RESULTS)/matrix-$(ARCH) $(KMATRIX_TIMEOUT) --boot

# Under KVM where /dev/kvm is usable; elsewhere the step records itself as skipped.
.PHONY: kmatrix-kvm
kmatrix-kvm: kernel
	@if qemu/kvm-usable.sh; then \
		$(KTEST_ENV) ACCEL=kvm SMP=2 MEM=128M \
		APPEND="test=$(KTEST_FOUNDATION) expect_ncpus=2 $(APPEND)" \
		tests/run-step.sh $@ $(RESULTS)/matrix-$(ARCH) $(KMATRIX_TIMEOUT) --boot; \
	else $(call skip_step,$@,$(RESULTS)/matrix-$(ARCH),/dev/kvm unusable: KVM boot skipped); fi

KMATRIX_STEPS := $(addprefix kmatrix-,$(foreach m,$(KMATRIX),$(call kmx_name,$(m))))
TEST_MATRIX_STEPS_x86_64 += $(KMATRIX_STEPS) kmatrix-mttcg kmatrix-kvm
TEST_MATRIX_STEPS_aarch64 += $(KMATRIX_STEPS)
