/* arch/paging.h (aarch64): the shared layout and page-table API (kernel/include/
 * arch_paging.h) on the one kernel address space (TTBR1), plus what is aarch64's own.
 * Unmap invalidates with broadcast TLBI (per page, or VMALLE1IS above 512 pages) +
 * DSB ISH + ISB: the DSB completes it on every CPU of the inner shareable domain, so
 * unlike x86_64 it never waits for other CPUs' interrupts (docs/aarch64.md). */
#ifndef ARCH_PAGING_H
#define ARCH_PAGING_H

#include <arch_paging.h>

/* Physical addresses below this are in the direct map before arch_mm_init: here that
 * is all RAM, which arch_early_init maps from the DTB's memory nodes. */
#define ARCH_BOOT_DIRECT_MAP_END ARCH_DIRECT_MAP_SIZE

#endif /* ARCH_PAGING_H */
