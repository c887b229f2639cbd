/* alloc/sysmem.c: reserve/map/unmap for the core in both modes (see sysmem.h). */
#include "sysmem.h"

#include "pallocdefs.h"
#include "util.h"

struct gh_region gh_region;

/* Lock-free bump: callers may hold the heap lock or gh_meta.lock, not one lock. */
static void *bump(uintptr_t *cur, uintptr_t hi, size_t bytes, size_t align) {
    uintptr_t old = __atomic_load_n(cur, __ATOMIC_RELAXED), p;
    do {
        p = gh_align_up(old, align);
        if (p < old || p > hi || bytes > hi - p)
            return 0;
    } while (!__atomic_compare_exchange_n(cur, &old, p + bytes, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return (void *)p;
}

void *gh_sys_reserve(size_t bytes, size_t align) {
    if (gh_region.on) {
        /* Newest region first: goheap_add_region sized its area for the metadata of
         * its own pages (its page allocator, span map and span structs). Zeroed here,
         * because region mode never maps: metadata must read zero when first used,
         * and nothing writes it before. */
        unsigned n = __atomic_load_n(&gh_region.nregions, __ATOMIC_ACQUIRE);
        uintptr_t left = 0, total = 0;
        for (unsigned i = n; i-- > 0;) {
            struct gh_meta_area *m = &gh_region.meta[i];
            void *p = bump(&m->cur, m->hi, bytes, align);
            if (p) {
                gh_memclr(p, bytes);
                return p;
            }
            left += m->hi - __atomic_load_n(&m->cur, __ATOMIC_RELAXED);
            total += m->hi - m->lo;
        }
        /* Once per number of regions: when the span budget is spent, every malloc
         * that needs a new span comes here, and a line each (tens of thousands on a
         * serial console) would make out-of-memory slow as well as loud. A region
         * added later brings room of its own, so running out again is news. */
        static unsigned said_for;
        if (__atomic_exchange_n(&said_for, n, __ATOMIC_RELAXED) != n)
            gh_logf("goheap: region: no room for %lu more bytes of metadata (aligned %lu): "
                    "%lu bytes left of the %lu set aside in %u regions (see goheap_overhead; "
                    "said once until a region is added)",
                    (unsigned long)bytes, (unsigned long)align, (unsigned long)left,
                    (unsigned long)total, n);
        return 0;
    }
#ifdef GOHEAP_SYS_HAVE_MAP
    return goheap_sys_reserve(bytes, align);
#else
    gh_logf("goheap: no address-space hooks (GOHEAP_SYS_HAVE_MAP is not defined): "
            "use goheap_init_region");
    return 0;
#endif
}

int gh_sys_map(void *addr, size_t bytes) {
    /* Region mode: heap pages are always backed (the page allocator knows whether
     * they read zero) and metadata was zeroed when reserved. Clearing here instead
     * would also clear the heap pages the region's layout allocates over its own
     * metadata area when the region starts on a chunk boundary. */
    if (gh_region.on)
        return 0;
#ifdef GOHEAP_SYS_HAVE_MAP
    return goheap_sys_map(addr, bytes);
#else
    (void)addr;
    (void)bytes;
    return -1;
#endif
}

int gh_sys_reserve_at(void *addr, size_t bytes) {
#ifdef GOHEAP_SYS_HAVE_RESERVE_AT
    if (!gh_region.on)
        return goheap_sys_reserve_at(addr, bytes) == addr ? 0 : -1;
#endif
    (void)addr;
    (void)bytes;
    return -1;
}

struct gh_unmap_gate gh_unmap_gate;

void gh_unmap_hold(void) {
    for (int waiting = 0;;) {
        atomic_fetch_add_explicit(&gh_unmap_gate.holds, 1, memory_order_seq_cst);
        atomic_thread_fence(memory_order_seq_cst);
        if (gh_likely(!atomic_load_explicit(&gh_unmap_gate.unmappers, memory_order_seq_cst))) {
            if (waiting)
                atomic_fetch_sub_explicit(&gh_unmap_gate.readers_waiting, 1, memory_order_release);
            return;
        }
        /* An unmap is announced: let it go first (it waits for holds == 0), and keep
         * new ones from announcing meanwhile. */
        atomic_fetch_sub_explicit(&gh_unmap_gate.holds, 1, memory_order_release);
        if (!waiting++)
            atomic_fetch_add_explicit(&gh_unmap_gate.readers_waiting, 1, memory_order_seq_cst);
        while (atomic_load_explicit(&gh_unmap_gate.unmappers, memory_order_relaxed))
            goheap_sys_relax();
    }
}

/* An unmapper (or guarder) passes the gate (sysmem.h): let a reader that backed off
 * go first, announce, then wait for the holds; gate_leave when done. */
static void gate_enter(void) {
    while (atomic_load_explicit(&gh_unmap_gate.readers_waiting, memory_order_relaxed))
        goheap_sys_relax();
    atomic_fetch_add_explicit(&gh_unmap_gate.unmappers, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    while (atomic_load_explicit(&gh_unmap_gate.holds, memory_order_seq_cst))
        goheap_sys_relax();
}
static void gate_leave(void) {
    atomic_fetch_sub_explicit(&gh_unmap_gate.unmappers, 1, memory_order_release);
}

void gh_sys_fork_child(void) {
    atomic_store_explicit(&gh_unmap_gate.holds, 0, memory_order_relaxed);
    atomic_store_explicit(&gh_unmap_gate.unmappers, 0, memory_order_relaxed);
    atomic_store_explicit(&gh_unmap_gate.readers_waiting, 0, memory_order_relaxed);
}

void gh_sys_unmap(void *addr, size_t bytes) {
    if (gh_region.on)
        return; /* released pages stay backed; the page allocator marks them dirty */
#ifdef GOHEAP_SYS_HAVE_MAP
    gate_enter();
    goheap_sys_unmap(addr, bytes);
    gate_leave();
#else
    (void)addr;
    (void)bytes;
#endif
}

int gh_sys_remap(void *old, void *new, size_t bytes) {
#ifdef GOHEAP_SYS_HAVE_REMAP
    if (!gh_region.on) {
        gate_enter(); /* old stops being backed, like an unmap */
        int r = goheap_sys_remap(old, new, bytes);
        gate_leave();
        return r;
    }
#endif
    (void)old;
    (void)new;
    (void)bytes;
    return GOHEAP_SYS_REMAP_CANNOT;
}

int gh_sys_guard(void *addr, size_t bytes) {
    if (gh_region.on)
        return -1;
    gate_enter(); /* guarded pages fault like unmapped ones */
    int r = goheap_sys_guard(addr, bytes);
    gate_leave();
    return r;
}

void gh_sys_unguard(void *addr, size_t bytes) {
    if (!gh_region.on)
        goheap_sys_unguard(addr, bytes);
}

int gh_region_heap_page(uintptr_t a) {
    if (!gh_region.on)
        return 1;
    unsigned n = __atomic_load_n(&gh_region.nregions, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (a >= gh_region.meta[i].hi && a < gh_align_down(gh_region.meta[i].region_hi, GOHEAP_PAGE_SIZE))
            return 1;
    return 0;
}
