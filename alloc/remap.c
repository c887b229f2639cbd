/* alloc/remap.c: realloc's zero-copy move of a large object: the old object's frames
 * move to the new range through the platform's page tables (goheap_sys_remap: the
 * kernel's PTE move, hosted mremap) instead of being copied; and realloc's counters,
 * bytes copied and bytes moved that way (docs/alloc.md, "realloc"). */
#include "core.h"
#include "profile.h"
#include "sysmem.h"

struct gh_realloc_stats gh_realloc_stats;

/* A last-level page table is one frame of 8-byte entries, each mapping a frame (2 MiB
 * with 4 KiB frames): a move of B bytes needs about B / GH_REMAP_TABLE_SPAN of them. */
#define GH_REMAP_TABLE_SPAN ((size_t)GOHEAP_SYS_FRAME_SIZE * (GOHEAP_SYS_FRAME_SIZE / 8))
/* Upper-level tables and rounding: 64 KiB (16 frames) covers every level above the
 * last for a move within one 512 GiB slot, twice over. */
#define GH_REMAP_PULL_BYTES (64u << 10)

/* The new span d (pages at dst, backed now) becomes the object of `want` bytes,
 * off gh_heap.mapping; counted as a large allocation on c. Pinned on c's CPU (cpu),
 * inside the fork gate. */
static void publish_object(unsigned cpu, struct mcache *c, struct mspan *d, unsigned spc, size_t want,
                           uintptr_t pc) {
    gh_span_init_large(d, d->base, d->npages, want);
    __atomic_store_n(&d->spc, (uint8_t)spc, __ATOMIC_RELAXED);
    d->obj = d->base;
    d->alloc_pc = pc;
    gh_heap_remap_unlist(cpu, d);
    gh_heap_publish(d);
    gh_cache_count(c, &c->large_alloc, 1, 1);
    gh_cache_count(c, &c->large_alloc_bytes, (uint64_t)d->npages << GOHEAP_PAGE_SHIFT, 1);
}

/* The destination's run was counted backed; what backed it (free pages, lazily
 * released ones) goes back to the system first, so that the run is unbacked, as
 * goheap_sys_remap asks. Frames given back == eager releases + reclaims, as for the
 * scavenger: backed pages count as released (scavtrace's total), lazy ones as
 * reclaimed (lazy_reclaimed). Unpinned, no lock held. */
static void unback_run(uintptr_t dst, uintptr_t npages, uintptr_t lazy, uintptr_t unbacked) {
    uintptr_t backed = npages - lazy - unbacked;
    if (backed + lazy == 0)
        return; /* freshly grown or scavenged: nothing there */
    gh_assert_no_locks();
    gh_sys_unmap((void *)dst, npages << GOHEAP_PAGE_SHIFT); /* holes are skipped */
    gh_scav_count_released((uint64_t)backed << GOHEAP_PAGE_SHIFT);
    if (lazy)
        atomic_fetch_add_explicit(&gh_heap.lazy_reclaimed, (uint64_t)lazy << GOHEAP_PAGE_SHIFT,
                                  memory_order_relaxed);
}

void *gh_remap_move(struct mspan *s, size_t want, size_t n, uintptr_t pc, int *nomem) {
    *nomem = 0;
    uintptr_t src = s->base, opages = s->npages, obytes = opages << GOHEAP_PAGE_SHIFT;
    uintptr_t npages = (want >> GOHEAP_PAGE_SHIFT) + ((want & (GOHEAP_PAGE_SIZE - 1)) != 0);
    /* Only a plain object at its span's start (not memalign's offset), growing. */
    if (s->obj != src || npages < opages || want > gh_heap.obj_max)
        return 0;
    /* The destination must be unbacked before the hook runs, and after a failure in
     * the middle its run goes back as released and known zero. A lazy release that
     * the system takes back on its own (GOHEAP_SYS_LAZY_RECLAIM 0: hosted MADV_FREE
     * under madvdontneed=0) leaves the pages mapped with their bytes, so neither
     * holds: no zero-copy move there (the caller copies). */
    if (!GOHEAP_SYS_LAZY_RECLAIM && gh_heap.pages.lazy)
        return 0;
    unsigned spc = s->spc;
    uintptr_t lazy = 0, unbacked = 0;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mspan *d = gh_heap_alloc_span_unmapped(cpu, npages, spc, &lazy, &unbacked);
    goheap_sys_unpin(pin);
    if (!d)
        return 0; /* the copying path, which retries after the last resort */
    uintptr_t dst = d->base;
    unback_run(dst, npages, lazy, unbacked);
    /* The tail beyond the old object's pages: fresh memory, as any allocation gets. */
    int ok = npages == opages || gh_sys_map((void *)(dst + obytes), (npages - opages) << GOHEAP_PAGE_SHIFT) == 0;
    int r = GOHEAP_SYS_REMAP_NOMEM;
    /* Until here a fork child gives d back (listed since its take) and keeps the old
     * object. From the old span's MOVING to the end (d published and s freed, or d
     * given back) no fork copies the heap (the gate, core.h), but while the fallback
     * copies, which may take long, with s in use again and d listed. */
    int gate = gh_fork_gate_enter();
    if (ok) {
        /* The old object stops being in use for the leak scan (which reads only
         * in-use spans, under the unmap gate, and checks the state under its hold)
         * before gh_sys_remap passes the gate: no reader is inside old's pages when
         * they stop being backed, and none enters them after. The scavenger never
         * reads pages in use. A free of it meanwhile (a use after realloc) fails the
         * state check like any double free. */
        atomic_store_explicit(&s->state, GH_SPAN_MOVING, memory_order_release);
        gh_assert_no_locks();
        r = gh_sys_remap((void *)src, (void *)dst, obytes);
        /* Out of frames for the destination's page tables while the heap still maps
         * pages it released lazily: the platform cannot take them back itself (the
         * move runs inside the unmap gate, gh_sys_remap, and a pull would unmap
         * through that gate again, waiting for readers that wait for the move). Here
         * nothing is held: give some back (one table
         * frame maps GH_REMAP_TABLE_SPAN bytes, plus a pull's worth for the upper
         * levels) and try once more. */
        if (r == GOHEAP_SYS_REMAP_NOMEM &&
            atomic_load_explicit(&gh_heap.heap_released_lazy, memory_order_relaxed) &&
            goheap_reclaim_lazy(obytes / GH_REMAP_TABLE_SPAN * GOHEAP_SYS_FRAME_SIZE + GH_REMAP_PULL_BYTES))
            r = gh_sys_remap((void *)src, (void *)dst, obytes);
        if (r != 0)
            atomic_store_explicit(&s->state, GH_SPAN_INUSE, memory_order_release);
    }
    uintptr_t copied = 0;
    if (r == GOHEAP_SYS_REMAP_CANNOT) {
        /* The platform could not move these frames (hosted: an mremap the kernel
         * refused): copy into the run, now backed. */
        gh_fork_gate_exit(gate);
        if (gh_sys_map((void *)dst, obytes) != 0) {
            r = GOHEAP_SYS_REMAP_NOMEM;
        } else {
            uintptr_t old = s->limit - src;
            copied = old < n ? old : n;
            gh_memcpy((void *)dst, (void *)src, copied);
        }
        gate = gh_fork_gate_enter();
    }
    if (r == GOHEAP_SYS_REMAP_NOMEM) {
        /* Out of memory in the middle: NULL, the old block intact (the caller's last
         * resort and retry, api.c realloc_move); the run goes back unbacked (the tail
         * given back first if it was mapped). */
        if (ok && npages > opages)
            gh_sys_unmap((void *)(dst + obytes), (npages - opages) << GOHEAP_PAGE_SHIFT);
        cpu = goheap_sys_pin(&pin);
        gh_heap_free_span_unbacked(cpu, d, 0);
        goheap_sys_unpin(pin);
        gh_fork_gate_exit(gate);
        atomic_fetch_add_explicit(&gh_realloc_stats.remap_nomem, 1, memory_order_relaxed);
        *nomem = 1;
        return 0;
    }
    int sampled = GOHEAP_PROFILE && gh_unlikely(atomic_load_explicit(&s->nsampled, memory_order_relaxed)) &&
                  gh_prof_is_sampled(s, src);
    if (r != 0) {
        /* Copied (above): the old object is freed as usual. */
        atomic_fetch_add_explicit(&gh_realloc_stats.copied, copied, memory_order_relaxed);
        atomic_fetch_add_explicit(&gh_realloc_stats.remap_failed, 1, memory_order_relaxed);
        cpu = goheap_sys_pin(&pin);
        struct mcache *c = gh_mcache_get(cpu);
        publish_object(cpu, c ? c : &gh_emptycache, d, spc, want, pc);
        goheap_sys_unpin(pin);
        if (sampled)
            gh_prof_move(src, dst, want);
        else if (GOHEAP_PROFILE && gh_prof_rate)
            gh_prof_account((void *)dst, want, pc);
        gh_free_pc(src, pc);
        gh_fork_gate_exit(gate);
        return (void *)dst;
    }
    cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    if (!c)
        c = &gh_emptycache;
    publish_object(cpu, c, d, spc, want, pc);
    goheap_sys_unpin(pin);
    /* A sampled object's record moves with it (one sample, not a second one). */
    if (sampled)
        gh_prof_move(src, dst, want);
    else if (GOHEAP_PROFILE && gh_prof_rate)
        gh_prof_account((void *)dst, want, pc);
    cpu = goheap_sys_pin(&pin);
    c = gh_mcache_get(cpu);
    if (!c)
        c = &gh_emptycache;
    gh_cache_count(c, &c->large_free, 1, 1);
    gh_cache_count(c, &c->large_free_bytes, (uint64_t)obytes, 1);
    gh_heap_free_span_unbacked(cpu, s, 1); /* its frames moved: released, zero */
    goheap_sys_unpin(pin);
    gh_fork_gate_exit(gate);
    atomic_fetch_add_explicit(&gh_realloc_stats.remapped, obytes, memory_order_relaxed);
    atomic_fetch_add_explicit(&gh_realloc_stats.remaps, 1, memory_order_relaxed);
    gh_after_slow();
    return (void *)dst;
}
