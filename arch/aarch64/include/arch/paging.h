/* arch/paging.h (aarch64): the kernel's virtual layout (the same as x86_64) and
 * page-table operations on the one kernel address space (TTBR1, shared by every CPU):
 * map/unmap 4 KiB frames and 2 MiB blocks, translate, and broadcast TLB invalidation. */
#ifndef ARCH_PAGING_H
#define ARCH_PAGING_H

#include <stddef.h>
#include <stdint.h>

#define ARCH_FRAME_SHIFT 12
#define ARCH_FRAME_SIZE  (1ul << ARCH_FRAME_SHIFT)        /* 4 KiB granule */
#define ARCH_LARGE_SHIFT 21
#define ARCH_LARGE_SIZE  (1ul << ARCH_LARGE_SHIFT)        /* 2 MiB block (level 2) */

/* Virtual layout: 48-bit VA, TTBR1 covers the top 256 TiB. The constants equal
 * x86_64's; each range starts on a level-0 slot (512 GiB), like a PML4 slot there.
 * See docs/aarch64.md. */
#define ARCH_DIRECT_MAP_BASE  0xffff800000000000ul       /* L0 256: all RAM + MMIO 0..1 GiB */
#define ARCH_DIRECT_MAP_SIZE  (64ul << 40)
#define ARCH_HEAP_ARENA_BASE  0xffffc00000000000ul       /* L0 384: heap arena, empty at boot */
#define ARCH_HEAP_ARENA_SIZE  (16ul << 40)
#define ARCH_KVMAP_BASE       0xffffe00000000000ul       /* L0 448: kernel scratch maps, MMIO */
#define ARCH_KVMAP_SIZE       (1ul << 40)
#define ARCH_KERNEL_BASE      0xffffffff80000000ul       /* image: virtual = physical + this */

/* Physical addresses below this are in the direct map before arch_mm_init: here that
 * is all RAM, which arch_early_init maps from the DTB's memory nodes. */
#define ARCH_BOOT_DIRECT_MAP_END ARCH_DIRECT_MAP_SIZE

#define ARCH_MAP_WRITE  0x1u
#define ARCH_MAP_EXEC   0x2u
#define ARCH_MAP_DEVICE 0x4u     /* Device-nGnRE (MMIO) */

static inline void *arch_phys_to_virt(uint64_t pa)
{
    return (void *)(uintptr_t)(ARCH_DIRECT_MAP_BASE + pa);
}

static inline uint64_t arch_virt_to_phys(const void *va)
{
    uintptr_t v = (uintptr_t)va;
    return v >= ARCH_KERNEL_BASE ? v - ARCH_KERNEL_BASE : v - ARCH_DIRECT_MAP_BASE;
}

/* Same contracts as on x86_64 (see arch/x86_64/include/arch/paging.h). */
int arch_map_page(uintptr_t va, uint64_t pa, unsigned flags);
int arch_map_large(uintptr_t va, uint64_t pa, unsigned flags);

/* Unmap [va, va+bytes) (frame-aligned; 2 MiB blocks must be covered whole; holes are
 * skipped): clear the entries, invalidate the range on every CPU with broadcast TLBI
 * (per page, or VMALLE1IS above 512 pages) + DSB ISH + ISB, then, with
 * ARCH_UNMAP_FREE, free the frames. No IPI: the DSB ISH completes the invalidation on
 * every CPU of the inner shareable domain, so unlike x86_64 this never waits for other
 * CPUs' interrupts. The caller rules stay those of x86_64 (interrupts enabled, no
 * spinlock held) so portable code is correct on both. ARCH_UNMAP_LOCAL: no other CPU
 * can have touched the range; only this CPU's TLB is invalidated. */
#define ARCH_UNMAP_FREE  0x1u
#define ARCH_UNMAP_LOCAL 0x2u
void arch_unmap(uintptr_t va, size_t bytes, unsigned flags);

int arch_translate(uintptr_t va, uint64_t *pa);
void arch_tlb_flush_local(uintptr_t va, size_t bytes);
void arch_tlb_shootdown(uintptr_t va, size_t bytes);

#endif /* ARCH_PAGING_H */
