/* kernel/include/arch_paging.h: the kernel's virtual layout and the page-table API that
 * every arch implements; included by each arch/<arch>/include/arch/paging.h, which adds
 * what differs (ARCH_BOOT_DIRECT_MAP_END, how invalidation reaches other CPUs). */
#ifndef KERNEL_ARCH_PAGING_H
#define KERNEL_ARCH_PAGING_H

#include <stddef.h>
#include <stdint.h>

#define ARCH_FRAME_SHIFT 12
#define ARCH_FRAME_SIZE  (1ul << ARCH_FRAME_SHIFT)        /* 4 KiB hardware frame */
#define ARCH_LARGE_SHIFT 21
#define ARCH_LARGE_SIZE  (1ul << ARCH_LARGE_SHIFT)        /* 2 MiB page / block */

/* Virtual layout, the same on both arches (48-bit VA; see docs/boot.md for the
 * diagram). Each range begins on a top-level slot (512 GiB: a PML4 entry on x86_64, a
 * level-0 entry of TTBR1 on aarch64) so ranges never share top-level entries. */
#define ARCH_DIRECT_MAP_BASE  0xffff800000000000ul       /* slot 256: all RAM */
#define ARCH_DIRECT_MAP_SIZE  (64ul << 40)                /* 64 TiB (slots 256..383) */
#define ARCH_HEAP_ARENA_BASE  0xffffc00000000000ul       /* slot 384: heap arena, empty at boot */
#define ARCH_HEAP_ARENA_SIZE  (16ul << 40)                /* 16 TiB (slots 384..415) */
#define ARCH_KVMAP_BASE       0xffffe00000000000ul       /* slot 448: kernel scratch maps, MMIO */
#define ARCH_KVMAP_SIZE       (1ul << 40)                 /* 1 TiB (slots 448..449) */
#define ARCH_KERNEL_BASE      0xffffffff80000000ul       /* kernel image: virtual = physical + this */

/* Flags for arch_map_*: readable is implied; no-execute unless ARCH_MAP_EXEC. */
#define ARCH_MAP_WRITE  0x1u
#define ARCH_MAP_EXEC   0x2u
#define ARCH_MAP_DEVICE 0x4u     /* uncached MMIO (x86_64 UC, aarch64 Device-nGnRE) */

/* Direct map: every byte of RAM at ARCH_DIRECT_MAP_BASE + phys. */
static inline void *arch_phys_to_virt(uint64_t pa)
{
    return (void *)(uintptr_t)(ARCH_DIRECT_MAP_BASE + pa);
}

/* Physical address of a direct-map or kernel-image address (no page-table walk). */
static inline uint64_t arch_virt_to_phys(const void *va)
{
    uintptr_t v = (uintptr_t)va;
    return v >= ARCH_KERNEL_BASE ? v - ARCH_KERNEL_BASE : v - ARCH_DIRECT_MAP_BASE;
}

/* Map one 4 KiB frame (or one 2 MiB page: va and pa 2 MiB-aligned) at va. Page-table
 * pages come from the frame allocator, zeroed. Returns 0, -1 when no frame is left
 * for a page table, -2 when va is already mapped. Any CPU, any IRQ state, but not
 * from an interrupt handler; never waits for other CPUs. */
int arch_map_page(uintptr_t va, uint64_t pa, unsigned flags);
int arch_map_large(uintptr_t va, uint64_t pa, unsigned flags);

/* Every page table that 4 KiB entries over [va, va+bytes) need, created now (zeroed
 * frames from the frame allocator), so that arch_map_page over the range cannot then
 * fail for want of one. Returns 0; -1 when no frame is left (the tables added are
 * kept, as always); -2 when a 2 MiB page covers part of the range. Same context as
 * arch_map_page. Each table's frame is taken with the page-table lock dropped, so where
 * the caller may wait (thread context, interrupts on, no spinlock held: the heap's
 * unpinned large maps) the frame allocator pulls lazily released heap pages first,
 * as for the frames vm_map_fresh maps; elsewhere it fails instead (frame.h). */
int arch_map_prepare(uintptr_t va, size_t bytes);

/* Unmap [va, va+bytes) (frame-aligned; 2 MiB pages must be covered whole). Holes are
 * skipped. One synchronous invalidation covers the whole range on every online CPU
 * before anything is released (x86_64: one IPI round; aarch64: broadcast TLBI + DSB
 * ISH + ISB, no IPI); then, with ARCH_UNMAP_FREE, each frame goes back to the frame
 * allocator (single frames 64 per frame-lock hold: frame_free_batch). Returns the 4 KiB
 * frames that were mapped in the range (a 2 MiB page counts 512), counted as their
 * entries are cleared: no second walk. Caller: interrupts enabled, no spinlock held (on x86_64 it waits for
 * other CPUs, and serves shootdowns aimed at itself while it waits; aarch64 keeps the
 * same rule so portable code is correct on both). Page-table pages are kept. There is
 * no local-only form: a CPU may cache any present entry (a speculative walk, a
 * next-page prefetch) without touching the page, so every present entry that is
 * cleared needs every CPU's TLB flushed; code that cannot wait maps only once it
 * cannot fail (vm_map_fresh). */
#define ARCH_UNMAP_FREE  0x1u
size_t arch_unmap(uintptr_t va, size_t bytes, unsigned flags);

/* Move the 4 KiB leaf entries of [old, old+bytes) to [new, new+bytes) (frame-aligned,
 * not overlapping): the frames then back new, old is unmapped, nothing is copied or
 * freed (Linux's mremap on kernel page tables; goheap's realloc, kernel/goheap_platform.c).
 * Every page table new needs is allocated first, so that running out of frames
 * (-1) changes nothing but tables added (they are kept). -2, nothing changed: an old
 * frame not mapped by a 4 KiB entry, or a new one already mapped. 0: moved, and one
 * invalidation round (as arch_unmap's) made every online CPU forget old before the
 * return. Same caller rules as arch_unmap. The destination's tables never pull
 * (FRAME_NOPULL): the heap moves inside its unmap gate, announced as an unmapper
 * (alloc/sysmem.c, gh_sys_remap), and a pull would unmap lazily released pages through
 * that gate again, waiting for readers that wait for this move; out of frames, -1, and
 * the core, holding nothing, reclaims some and tries again (alloc/remap.c). */
int arch_remap(uintptr_t old, uintptr_t new, size_t bytes);

/* Physical address mapped at va: 1 and *pa set when mapped, else 0. */
int arch_translate(uintptr_t va, uint64_t *pa);

/* Invalidate this CPU's TLB entries for [va, va+bytes) (whole TLB for large ranges). */
void arch_tlb_flush_local(uintptr_t va, size_t bytes);

/* Invalidate [va, va+bytes) on every online CPU, synchronously, in one round.
 * Same caller rules as arch_unmap. */
void arch_tlb_shootdown(uintptr_t va, size_t bytes);

/* Shootdowns (invalidations for every CPU: arch_tlb_shootdown and arch_unmap's rounds)
 * since boot, all CPUs together; a test proves with it that something did none. */
unsigned long arch_tlb_shootdowns(void);

#endif /* KERNEL_ARCH_PAGING_H */
