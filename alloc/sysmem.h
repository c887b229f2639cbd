/* alloc/sysmem.h: the core's only way to reserve, map, unmap and guard memory. In page-table
 * mode these pass through to goheap_sys_reserve/map/unmap; in region mode
 * (goheap_init_region, goheap_add_region) they carve metadata out of the porter's
 * regions and leave the heap pages alone: that memory is always backed. */
#ifndef GOHEAP_SYSMEM_H
#define GOHEAP_SYSMEM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "platform.h"

/* Regions one heap can hold: goheap_init_region's plus 15 goheap_add_region's. A
 * firmware memory map has a handful of usable RAM ranges (QEMU's e820: 2; a typical
 * PC: 3-8), and the table is scanned linearly by the slow paths that look up a
 * pointer outside the first region's window (free, usable_size): 16 compares at most. */
#define GH_MAX_REGIONS 16

/* One region's metadata area, [lo, hi) at its start, handed out from cur upward. */
struct gh_meta_area {
    uintptr_t lo, cur, hi;
    uintptr_t region_lo, region_hi; /* the whole region as given (overlap checks) */
};

/* Region mode's layout. Region 0 is fixed by goheap_init_region before anything is
 * shared:
 *   [meta[0].lo, meta[0].hi) metadata, reserved zeroed by a lock-free bump;
 *   [arena, arena_end) the primary page allocator's arena: the 4 MiB chunks covering
 *   the region (gh_heap_init takes it directly: it may start at address 0).
 * goheap_add_region appends meta[nregions] (caller holds the heap lock and
 * gh_meta.lock) and then publishes nregions (release). Bumps advance cur by
 * compare-and-swap (callers hold the heap lock or gh_meta.lock, not one common
 * lock), newest area first. */
struct gh_region {
    int on;
    unsigned flags;
    unsigned nregions; /* __atomic: published with release after meta[n] is set */
    struct gh_meta_area meta[GH_MAX_REGIONS];
    uintptr_t arena, arena_end;
};
extern struct gh_region gh_region;

/* Whether a may be a heap page: always outside region mode; in region mode, whether a
 * lies in some published region's heap pages [meta.hi, region end rounded down to a
 * page), not in its metadata or in chunk pages no region gave. No lock (bad-free
 * diagnosis: a dead span there is a non-heap pointer, not a freed one). */
int gh_region_heap_page(uintptr_t a);

/* Same contracts as goheap_sys_reserve/map/unmap (alloc/platform.h). A reservation
 * that fails logs what was asked and why. In region mode a reservation is zeroed
 * at once, and map and unmap do nothing. gh_sys_unmap also waits while a reader
 * holds off unmapping (below). */
void *gh_sys_reserve(size_t bytes, size_t align);
int gh_sys_map(void *addr, size_t bytes);
void gh_sys_unmap(void *addr, size_t bytes);
/* goheap_sys_reserve_at as 0 (reserved exactly there) or -1 (taken, or the platform
 * has no GOHEAP_SYS_HAVE_RESERVE_AT, or region mode). */
int gh_sys_reserve_at(void *addr, size_t bytes);
/* goheap_sys_remap (platform.h) through the unmap gate below, as old stops being
 * backed; GOHEAP_SYS_REMAP_CANNOT in region mode or without GOHEAP_SYS_HAVE_REMAP. */
int gh_sys_remap(void *old, void *new, size_t bytes);
/* Whether gh_sys_remap can ever succeed (page-table mode with the hook). */
static inline int gh_sys_can_remap(void) {
#ifdef GOHEAP_SYS_HAVE_REMAP
    return !gh_region.on;
#else
    return 0;
#endif
}
/* goheap_sys_guard/unguard; in region mode guarding always fails (-1), as unmapping
 * leaves the porter's memory backed. */
int gh_sys_guard(void *addr, size_t bytes);
void gh_sys_unguard(void *addr, size_t bytes);

/* Holding off unmapping: a reader of heap memory it does not own (the leak scan,
 * alloc/leak.c) brackets each read with gh_unmap_hold/gh_unmap_release; every unmap of
 * heap memory (scavenger, efence guard pages and quarantine, large-object trims,
 * lazy-release reclaim, realloc's remap) goes through gh_sys_unmap (a guard through
 * gh_sys_guard, a remap through gh_sys_remap),
 * which announces itself in `unmappers` and waits until no hold is taken. Dekker's protocol, both sides with
 * seq_cst fences: a holder that sees unmappers == 0 after taking its hold is covered
 * until it releases (any unmap begun later waits for it); one that sees an unmapper
 * backs off until none is left, so unmaps are never starved by a stream of short
 * holds; a holder that had to back off raises readers_waiting, which new unmaps wait
 * out before announcing, so a stream of unmaps (3 CPUs scavenging) cannot starve it
 * either. Whatever was unmapped before the hold was taken is not in an in-use span any
 * more (pages are freed before they are unmapped), so a holder checks the span's
 * state after taking the hold. A hold must be short, pinned or not, with no lock held
 * and nothing that waits for another CPU inside it. */
struct gh_unmap_gate {
    _Atomic unsigned holds;     /* readers inside gh_unmap_hold..release */
    _Atomic unsigned unmappers; /* gh_sys_unmap calls announced and not finished */
    _Atomic unsigned readers_waiting; /* holders that backed off: new unmaps wait */
};
extern struct gh_unmap_gate gh_unmap_gate;
void gh_unmap_hold(void);
/* In a fork child (goheap_fork_child): the gate's counts back to zero; the holders
 * and unmappers they counted are threads the child does not have. */
void gh_sys_fork_child(void);
static inline void gh_unmap_release(void) {
    atomic_fetch_sub_explicit(&gh_unmap_gate.holds, 1, memory_order_release);
}

#endif /* GOHEAP_SYSMEM_H */
