# arch/aarch64/arch.mk: the aarch64 port's sources and test steps (QEMU virt, PSCI, GICv2).
KERNEL_SRCS_aarch64 += boot/aarch64/entry.S arch/aarch64/vectors.S arch/aarch64/catch.S \
	arch/aarch64/early.c arch/aarch64/fdt.c arch/aarch64/mmu.c arch/aarch64/pl011.c \
	arch/aarch64/exit.c arch/aarch64/timer.c arch/aarch64/trap.c arch/aarch64/gic.c \
	arch/aarch64/psci_smp.c arch/aarch64/ktest_aarch64.c
