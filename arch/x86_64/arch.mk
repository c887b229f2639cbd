# arch/x86_64: arch-only kernel sources (boot, linker script and the arch layer).
KERNEL_SRCS_x86_64 += boot/x86_64/boot.S \
	arch/x86_64/console.c arch/x86_64/exit.c arch/x86_64/cpu.c arch/x86_64/vectors.S \
	arch/x86_64/catch.S arch/x86_64/trap.c arch/x86_64/early.c arch/x86_64/acpi.c \
	arch/x86_64/mm.c arch/x86_64/trampoline.S arch/x86_64/smp.c arch/x86_64/timer.c \
	arch/x86_64/ktest_arch.c
