# qemu/: `make run`, and the kernel test boots for `make test-kernel` and
# `make test-matrix`, listed once for every arch in qemu/boots.tab. Each step boots
# once through tests/run-step.sh --boot.

KTEST_TIMEOUT ?= 60

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
# Without APPEND, the demo boots twice: as it is (eager release), then for 2 s with lazy
# release (goheap=madvdontneed=0), so its closing release phase shows both modes.
# PROFILE=1 adds a third boot, the profile phase (qemu/run-profile.sh): the demo's
# mid-run heap profile over the console, taken out of the log, shown by go tool pprof
# (-top here, -svg into $(KBUILD)/demo-heap.svg; docs/profiling.md).
PROFILE ?= 0
run: deps kernel
	@ARCH=$(ARCH) SMP=$(SMP) MEM=$(MEM) CPU=$(CPU) ACCEL=$(ACCEL) APPEND="$(APPEND)" \
		qemu/run.sh $(KELF)
	@if [ -z "$(APPEND)" ]; then echo; echo "run: the demo again, with lazy release"; \
		ARCH=$(ARCH) SMP=$(SMP) MEM=$(MEM) CPU=$(CPU) ACCEL=$(ACCEL) \
		APPEND="demo_secs=2 goheap=madvdontneed=0,scavtrace=1" qemu/run.sh $(KELF); fi
	@if [ "$(PROFILE)" = 1 ]; then echo; ARCH=$(ARCH) SMP=$(SMP) MEM=$(MEM) CPU=$(CPU) \
		ACCEL=$(ACCEL) qemu/run-profile.sh $(KELF) $(KBUILD); fi

# ---- the boots: one table (qemu/boots.tab) --------------------------------------
# tools/boots.py turns each row into a phony step target and adds it to
# TEST_KERNEL_STEPS_<arch> or TEST_MATRIX_STEPS_<arch>; it also sets KTEST_FOUNDATION.
# Make remakes the generated fragment when the table, the script or the Makefile
# (ARCHES) changes.
KMATRIX_TIMEOUT ?= 180
comma := ,
# Shell: record step $(1) in results dir $(2) as skipped, with reason $(3).
skip_step = mkdir -p $(2); printf '0 0 1\n\# %s\n' "$(3)" > $(2)/$(1).result; echo "$(1): skipped ($(3))"

# Not *.mk: the Makefile includes every */*.mk, build/ too.
BOOTS_MK := $(BUILD)/boots.inc
$(BOOTS_MK): qemu/boots.tab tools/boots.py Makefile
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)$(PYTHON) tools/boots.py qemu/boots.tab $(ARCHES) > $@.tmp && mv $@.tmp $@
include $(BOOTS_MK)
