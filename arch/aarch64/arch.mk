# arch/aarch64/arch.mk: the aarch64 port's sources (QEMU virt, PSCI, GIC) and its extra
# test boots: EL2 entry, CPU models with and without LSE, GICv3, the raw Image boot.

# The shared boot list (qemu/qemu.mk) runs here too.
KERNEL_SRCS_aarch64 += boot/aarch64/entry.S arch/aarch64/vectors.S arch/aarch64/catch.S \
	arch/aarch64/early.c arch/aarch64/fdt.c arch/aarch64/mm.c arch/aarch64/console.c \
	arch/aarch64/exit.c arch/aarch64/timer.c arch/aarch64/trap.c arch/aarch64/gic.c \
	arch/aarch64/smp.c arch/aarch64/ktest_arch.c

# A kernel stack overflow is reported, not a fault loop (arch/aarch64/vectors.S).
KTEST_BOOTS_aarch64 := stackoverflow
KTB_stackoverflow_APPEND := test=selftest_stackoverflow
KTB_stackoverflow_PANIC := kernel stack overflow

# QEMU virt numbers CPUs' MPIDR Aff0 = 0..7 whatever -smp's topology says, so the
# "sparse" boot checks dense ids there.
KTB_sparse_APPEND_aarch64 := test=percpu,smp expect_ncpus=6 expect_hwids=0,1,2,3,4,5

# a64 boots: name:CPU:SMP:MEM:EL2:TCG_THREAD:GIC:extra command line word ("-" = none, or
# the default: GICv2 up to 8 CPUs, GICv3 above). Each runs KTEST_FOUNDATION, the foundation
# suites and the arch suite, unless the extra word is a test= of its own (the first
# test= on the command line wins). The heap suites have boots of their own (kernel/heap/heap.mk, run on both arches): they fill the heap arena, which
# the paging and fault suites expect empty, so they do not share a boot with them.
# TCG_THREAD=multi (one host thread per vCPU) is slow here (see qemu/aarch64.sh), so
# only the matrix uses it, with 2 and 4 CPUs.
A64_BOOTS := el2:cortex-a72:4:512M:1:single:-:- a53:cortex-a53:4:512M:0:single:-:- \
	gicv3:cortex-a72:4:512M:0:single:3:-
# smp20: GICv3; QEMU virt puts 16 CPUs in a cluster, so CPUs 16-19 have MPIDR Aff1 = 1.
A64_MATRIX := el2-smp8:cortex-a72:8:512M:1:single:-:- el2-max:max:4:512M:1:single:-:- \
	a53:cortex-a53:4:512M:0:single:-:- a53-smp8:cortex-a53:8:512M:0:single:-:- \
	max:max:4:512M:0:single:-:- max-nolse:max:4:512M:0:single:-:nolse \
	max-smp8:max:8:512M:0:single:-:- mem4G:cortex-a72:4:4G:0:single:-:- \
	mttcg-smp2:cortex-a72:2:512M:0:multi:-:- mttcg-max:max:4:512M:0:multi:-:- \
	gicv3-el2-max:max:8:512M:1:single:3:- \
	smp20:cortex-a72:20:512M:0:single:3:expect_hwids=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,256,257,258,259 \
	heap-max:max:4:512M:0:single:-:test=heap_api,heap_scav \
	heap-el2-a53:cortex-a53:4:512M:1:single:-:test=heap_api,heap_scav
a64f = $(word $(2),$(subst :, ,$(1)))

# $(1) = step prefix, $(2) = results subdir, $(3) = spec, $(4) = timeout variable
define a64_boot_rule
.PHONY: $(1)-a64-$(call a64f,$(3),1)
$(1)-a64-$(call a64f,$(3),1): kernel
	@ARCH=aarch64 KERNEL=$$(KELF) ACCEL=$$(ACCEL) CPU=$(call a64f,$(3),2) \
		SMP=$(call a64f,$(3),3) MEM=$(call a64f,$(3),4) EL2=$(call a64f,$(3),5) \
		TCG_THREAD=$(call a64f,$(3),6) GIC=$(filter-out -,$(call a64f,$(3),7)) \
		APPEND="$(filter-out -,$(call a64f,$(3),8)) test=$(KTEST_FOUNDATION) expect_ncpus=$(call a64f,$(3),3) $$(APPEND)" \
		tests/run-step.sh $$@ $$(RESULTS)/$(2)-aarch64 $$($(4)) --boot
endef
$(foreach b,$(A64_BOOTS),$(eval $(call a64_boot_rule,ktest,kernel,$(b),KTEST_TIMEOUT)))
$(foreach b,$(A64_MATRIX),$(eval $(call a64_boot_rule,kmatrix,matrix,$(b),KMATRIX_TIMEOUT)))

# The same kernel as a raw arm64 Image (header in boot/aarch64/entry.S): QEMU boots it
# the Linux way, with the DTB address in x0 and no DTB at the start of RAM.
A64_IMAGE := $(KBUILD)/goheap.img
$(A64_IMAGE): $(KBUILD)/goheap.elf
	$(call say,OBJCOPY,$@)$(OBJCOPY) -O binary $< $@
.PHONY: ktest-a64-image
ktest-a64-image: kernel $(A64_IMAGE)
	@ARCH=aarch64 KERNEL=$(A64_IMAGE) ACCEL=$(ACCEL) CPU=cortex-a72 SMP=4 MEM=512M \
		APPEND="test=$(KTEST_FOUNDATION) expect_ncpus=4 expect_dtb=x0 $(APPEND)" \
		tests/run-step.sh $@ $(RESULTS)/kernel-aarch64 $(KTEST_TIMEOUT) --boot

TEST_KERNEL_STEPS_aarch64 += $(foreach b,$(A64_BOOTS),ktest-a64-$(call a64f,$(b),1)) ktest-a64-image
TEST_MATRIX_STEPS_aarch64 += $(foreach b,$(A64_MATRIX),kmatrix-a64-$(call a64f,$(b),1))
