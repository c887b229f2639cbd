/* arch/paging.h (x86_64): the shared layout and page-table API (kernel/include/
 * arch_paging.h) plus what is x86_64's own: the boot mapping's reach. Shootdown is an
 * IPI round with invlpg on every online CPU (arch/x86_64/mm.c). */
#ifndef ARCH_PAGING_H
#define ARCH_PAGING_H

#include <arch_paging.h>

/* Physical addresses below this are in the direct map from entry on (boot page tables),
 * before arch_mm_init maps all RAM: the frame allocator puts its bitmap there. */
#define ARCH_BOOT_DIRECT_MAP_END (4ul << 30)

#endif /* ARCH_PAGING_H */
