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

/* Unmap and free the frames (one shootdown for the range). Interrupts enabled, no
 * spinlock held. */
void vm_unmap_free(uintptr_t va, size_t bytes);

/* Reserve `bytes` of virtual space in the kernel scratch range (never reused). */
uintptr_t vm_reserve_scratch(size_t bytes);

/* Map MMIO [pa, pa+bytes) uncached into the scratch range; returns the address. */
void *vm_map_device(uint64_t pa, size_t bytes);

#endif /* KERNEL_VM_H */
