# arch/aarch64/arch.mk: the aarch64 port's sources (QEMU virt, PSCI, GIC) and the raw
# Image its Image boot loads; its test boots (EL2, CPU models with and without LSE,
# GICv3, the Image) are rows of qemu/boots.tab.

KERNEL_SRCS_aarch64 += boot/aarch64/entry.S arch/aarch64/vectors.S arch/aarch64/catch.S \
	arch/aarch64/early.c arch/aarch64/fdt.c arch/aarch64/mm.c arch/aarch64/console.c \
	arch/aarch64/exit.c arch/aarch64/timer.c arch/aarch64/trap.c arch/aarch64/gic.c \
	arch/aarch64/smp.c arch/aarch64/ktest_arch.c

# The same kernel as a raw arm64 Image (header in boot/aarch64/entry.S), for the
# ktest-a64-image boot: QEMU boots it the Linux way, with the DTB address in x0 and no
# DTB at the start of RAM.
A64_IMAGE := $(KBUILD)/goheap.img
$(A64_IMAGE): $(KBUILD)/goheap.elf
	$(call say,OBJCOPY,$@)$(OBJCOPY) -O binary $< $@
