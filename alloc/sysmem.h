/* alloc/sysmem.h: the core's only way to reserve, map, unmap and guard memory. In page-table
 * mode these pass through to goheap_sys_reserve/map/unmap; in region mode
 * (goheap_init_region) they carve metadata out of the porter's region and leave the
 * heap pages alone: that memory is always backed. */
#ifndef GOHEAP_SYSMEM_H
#define GOHEAP_SYSMEM_H

#include <stddef.h>
#include <stdint.h>

#include "platform.h"

/* Region mode's layout, fixed by goheap_init_region before anything is shared:
 *   [meta_lo, meta_hi) metadata, handed out from meta_cur upward, zeroed when mapped;
 *   [arena, arena_end) the page allocator's arena: the 4 MiB chunks covering the
 *   region (gh_heap_init takes it directly: it may start at address 0).
 * meta_cur advances by compare-and-swap (callers hold the heap lock or gh_meta.lock,
 * not one common lock). */
struct gh_region {
    int on;
    unsigned flags;
    uintptr_t meta_lo, meta_cur, meta_hi;
    uintptr_t arena, arena_end;
};
extern struct gh_region gh_region;

/* Same contracts as goheap_sys_reserve/map/unmap (alloc/platform.h). A reservation
 * that fails logs what was asked and why. */
void *gh_sys_reserve(size_t bytes, size_t align);
int gh_sys_map(void *addr, size_t bytes);
void gh_sys_unmap(void *addr, size_t bytes);
/* goheap_sys_guard/unguard; in region mode guarding always fails (-1), as unmapping
 * leaves the porter's memory backed. */
int gh_sys_guard(void *addr, size_t bytes);
void gh_sys_unguard(void *addr, size_t bytes);

#endif /* GOHEAP_SYSMEM_H */
