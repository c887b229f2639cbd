/* kernel/include/vm.h: portable helpers over arch/paging.h: back a virtual range with
 * fresh frames, unmap and free it, and a bump allocator for kernel scratch ranges. */
#ifndef KERNEL_VM_H
#define KERNEL_VM_H

#include <stddef.h>
#include <stdint.h>
#include <arch/paging.h>

/* Map [va, va+bytes) (unmapped so far) with fresh frames, zero-filled when zero.
 * All or nothing: returns 0, or -1 when frames run out, before any entry of the range
 * was made present (its page tables may stay). Never waits for other CPUs, so it may
 * be called with interrupts masked and locks below LOCK_RANK_PAGETABLE held. */
int vm_map_fresh(uintptr_t va, size_t bytes, unsigned map_flags, int zero);

/* arch_map_prepare's loop, the same on both arches: for each 2 MiB region of
 * [va, va+bytes), step(v, &spare) takes the page-table lock once, walks to v's leaf
 * table and installs what is missing from spare; it returns 0 (the table is there),
 * -2 (a large page covers v), or VM_PREPARE_NEED_FRAME when a level is missing and
 * spare is 0: this loop then takes a zeroed frame with the lock dropped and steps
 * again (a frame another CPU made needless is used for the next table, or freed at
 * the end). So the lock is held, with interrupts masked, for one walk and at most one
 * install, never for a frame's allocation or zeroing; 128 tables for 256 MiB were one
 * hold before. Each frame is taken with the lock dropped, so it may be pulled
 * (frame_alloc: where the context allows, as for the frames the map itself takes)
 * unless nopull is FRAME_NOPULL (arch_remap: kernel/include/arch_paging.h says why);
 * out of frames, -1, and the tables installed are kept. */
#define VM_PREPARE_NEED_FRAME (-3)
int vm_prepare_tables(uintptr_t va, size_t bytes, int (*step)(uintptr_t va, uint64_t *spare), unsigned nopull);

/* Unmap and free the frames (one shootdown for the range); returns how many frames
 * were mapped there (holes skipped: arch_unmap). Interrupts enabled, no spinlock held. */
size_t vm_unmap_free(uintptr_t va, size_t bytes);

/* Reserve `bytes` of virtual space in the kernel scratch range (never reused). */
uintptr_t vm_reserve_scratch(size_t bytes);

/* Map MMIO [pa, pa+bytes) uncached into the scratch range; returns the address. */
void *vm_map_device(uint64_t pa, size_t bytes);

#endif /* KERNEL_VM_H */
