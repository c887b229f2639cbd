/* kernel/include/kconfig.h: build-time switches. KERNEL_DEBUG (default 1 in the test
 * kernel; `make KCFLAGS_EXTRA=-DKERNEL_DEBUG=0` turns it off) turns on the lock-order
 * checks (the allocator's locks included) and extra assertions; use
 * `if (KERNEL_DEBUG)`. Not the allocator's GOHEAP_DEBUG, which is its runtime
 * debug= knob. */
#ifndef KERNEL_KCONFIG_H
#define KERNEL_KCONFIG_H

#ifndef KERNEL_DEBUG
#define KERNEL_DEBUG 1
#endif

/* 1 in the bench kernel only (KBENCH=1, `make bench-kernel`): bench/kernel/ is linked
 * and the `bench` command-line word runs it. */
#ifndef KERNEL_BENCH
#define KERNEL_BENCH 0
#endif

#endif /* KERNEL_KCONFIG_H */
