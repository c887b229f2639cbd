/* alloc/api.c: goheap's public API (every goheap_* entry point) and the malloc/free fast paths.
 *
 * Design overview (details in docs/alloc.md). goheap is Go's allocator with an
 * explicit free. Memory flows through four tiers:
 *
 *   mcache (per CPU)   one span per span class (68 size classes x scan/noscan = 136),
 *                      up to 16 full "parked" spans per class that it still owns, the
 *                      tiny block and a 64-page page cache; no locks.
 *   mcentral (per span class)  partial / full / pending span lists, class lock.
 *   mheap              the arena, its growth in 4 MiB chunks, the page -> span map,
 *                      span structs from fixallocs; heap lock.
 *   pagealloc          radix tree of free-page summaries + per-chunk alloc and
 *                      scavenged bitmaps (docs/pagealloc.md); under the heap lock.
 *
 * A small span keeps freeBits (1 = free, out of line) and remoteFree (frees by
 * other CPUs, one atomic OR each; in the struct's line 0 for spans of up to two
 * words, else out of line). Its owner allocates from one 64-slot word of
 * freeBits at a time, the current word, with find-first-set, and frees into
 * freeBits directly: one bitmap, no private copy.
 *
 * malloc(size):
 *   1-2. Pin and find this CPU's mcache (hosted: one thread-local load of the slot's
 *      cache pointer, gh_emptycache for a thread without a slot; the kernel: one load
 *      of the CPU's cache pointer from its per-CPU record, through GS base /
 *      TPIDR_EL1; a platform without goheap_sys_pin_local: the CPU index, then
 *      gh_fast.caches[cpu]). size <= 1024:
 *      e = the cache's fast entry for size (mcache->fe[fidx[size] / 4]: plain
 *      malloc's class), which mirrors the class's current span s: its word pointer,
 *      wordbase and size, and s itself for a miss (up to 32 KiB: class from a table,
 *      then s = mcache->alloc[spc], whose hot line holds the same three; larger: step
 *      6). Plain malloc never uses the 8-byte-aligned 24 B class, so results of
 *      >= 16 B are 16-byte aligned.
 *   3. fb = *e->wp (s's current word of free bits; zero when there is none). If fb
 *      has a set bit: slot = ctz(fb), clear it, unpin, return wordbase + slot*size. Nothing is counted: the span's mallocs follow from its
 *      bitmap and its free count when its tenure ends (mspan.h).
 *   4. Otherwise (gh_malloc_miss, a tail call still pinned): the word step, inline
 *      there: move to the next word with free slots, next fit (local frees land
 *      there; no lock, no call); else the refill proper (mcache.c, a tail call):
 *      poll the platform, then under the CPU's drain lock take remote frees (sweep);
 *      else park the full span (still owned, so frees into it stay local) and take a
 *      parked span with at least 1/4 of its slots free (the one with the most local
 *      frees; then the remote frees of two more); else hand the front parked spans
 *      beyond 16 to mcentral and get one from there.
 *   5. mcentral (mcentral.c): sweep and take a pending span (full ones that were freed
 *      into), else a partial one, else mheap allocates pages (from the CPU's page
 *      cache without the heap lock when < 16 pages) and a span struct; with no free
 *      run, the CPU's empty parked spans and the empty spans of the pending lists
 *      (and of the partial lists freed into since their last walk) go back first,
 *      and the arena grows only if that was not enough.
 *   6. Large objects get a page-rounded span of their own: up to 256 KiB first from
 *      this CPU's large span cache, a span of the same page count freed here
 *      (gh_malloc_large, on the fast paths' pin: no lock, no span-map write; mcache.h),
 *      else from the heap's large span cache or mheap (alloc.c gh_alloc_large); a
 *      run of >= 16 pages from mheap comes out of the tree unmapped, and its released
 *      or fresh pages are mapped (zeroed) unpinned with no lock held before the span
 *      is published (mheap.h, GH_MAP_UNPINNED_PAGES).
 *   7. Out of memory: unpin, flush every CPU's cache, sweep mcentral, scavenge
 *      everything, retry once (scavenge.c); then NULL, with nothing lost.
 *
 * free(p):
 *   1. page = (p - arena base) / 8 KiB; outside the grown arena: an added region's
 *      cover (region mode, a table scan out of line, arena.h), else not a heap pointer.
 *   2. span = map[page] (gh_deadspan where no span lives), or the cover's.
 *   3. Pin. If span->owner == this CPU (its current span or a parked one): p must be
 *      exactly a slot start (one multiply, rotate and compare: gh_span_index in
 *      mspan.h), its freeBits bit and its remoteFree bit clear (else: interior
 *      pointer, double free, or a sampled object, whose set remoteFree bit is its
 *      marker: its record goes, then the same free; profile.c); set the bit, count
 *      the free and return (gh_free_cached in core.h, inline).
 *   4. Otherwise (free.c gh_free_other, one call from the fast path): owner
 *      elsewhere or none -> check the slot is not free in the owner's bitmap, one
 *      atomic fetch_or on remoteFree (a bit already set means double free), a
 *      re-check if a sweep ran in between; if the span is FULL in
 *      mcentral, the first such freer flips it to PENDING so it is swept and reused
 *      (the handshake in mcentral.h). A large span goes, with the exchange INUSE ->
 *      LCACHED as its double-free test, into this CPU's large span cache (<= 4 spans
 *      of a page count, <= 4 MiB), else the heap's large span cache, else mheap. Tiny
 *      objects decrement their block's live count and free the block at zero.
 *   5. Any inconsistency (double free, non-heap or interior pointer, free into a dead
 *      span) panics through goheap_sys_panic naming address, span and class.
 */
#include "core.h"

unsigned gh_ncpu;
int gh_inited;
uint8_t gh_spc8[GH_NTAB][GH_SPC8_N];
uint8_t gh_spc128[GH_NTAB][GH_SPC128_N];
uint8_t gh_fastspc128[GH_SPC128_N];
/* The one check that the generated tables (sizeclasses.h) and the public API
 * (goheap.h's memstats by_size) agree on the class count. */
_Static_assert(sizeof goheap_class_to_size / sizeof goheap_class_to_size[0] == GOHEAP_NUM_SIZE_CLASSES,
               "size class count");
uint8_t gh_fastidx[GOHEAP_SMALL_SIZE_MAX + 1];

/* The window when nothing else says (platforms set their own: hosted and kernel 1 TiB).
 * 16 GiB here: a platform without reserve_at reserves it whole at init, and valgrind
 * refuses single mappings of 64 GiB and more. */
#ifndef GOHEAP_SYS_DEFAULT_ARENA
#define GOHEAP_SYS_DEFAULT_ARENA (16ull << 30)
#endif

#ifdef GOHEAP_SYS_HAVE_MAP /* knobs come with goheap_init only */
/* The platform-dependent knobs this platform supports (knobs.h). */
static unsigned knob_features(void) {
    unsigned f = 0;
#ifdef GOHEAP_SYS_HAVE_NCPU_KNOB
    f |= GH_KNOB_NEEDS_NCPU;
#endif
#ifdef GOHEAP_SYS_HAVE_BACKGROUND
    f |= GH_KNOB_NEEDS_BGTHREAD;
#endif
#ifdef GOHEAP_SYS_HAVE_PROFILE_DUMP
    f |= GH_KNOB_NEEDS_FILES;
#endif
    return f;
}
#endif

static void build_tables(void) {
    for (unsigned t = 0; t < 4; t++) {
        unsigned noscan = t >> 1, align8 = t & 1;
        for (unsigned i = 0; i < GH_SPC8_N; i++) {
            unsigned cl = i == 0 ? 1 : goheap_size_to_class8[i];
            if (!align8 && cl == 3) /* 24 B: only 8-byte aligned */
                cl = 4;
            gh_spc8[t][i] = (uint8_t)(cl << 1 | noscan);
        }
        for (unsigned i = 0; i < GH_SPC128_N; i++)
            gh_spc128[t][i] = (uint8_t)(goheap_size_to_class128[i] << 1 | noscan);
    }
    for (unsigned i = 0; i < GH_SPC128_N; i++)
        gh_fastspc128[i] = gh_knobs.slowmode ? 0 : gh_spc128[GH_TAB_SCAN][i];
    /* mcache.fidx: 4 * plain malloc's class of each size (an entry of mcache.fe is 32
     * bytes, the fast path's scaled index 8); all zeros in instrumented mode, where
     * entry 0, never installed, sends every malloc to the slow path. */
    for (unsigned i = 0; i <= GOHEAP_SMALL_SIZE_MAX && !gh_knobs.slowmode; i++) {
        unsigned spc = gh_spc8[GH_TAB_SCAN][(i + 7) >> 3];
        if (!gh_mcache_fast_spc(spc))
            gh_panicf("goheap: size class table: plain malloc's span class %u of %u B has no fast entry", spc, i);
        gh_fastidx[i] = (uint8_t)(4 * (spc >> 1));
    }
}

/* The heap once the arena is chosen (both modes). region_lo/hi: region mode's heap
 * pages (0, 0 in page-table mode). Logs why it failed, every time. */
static int init_heap(size_t arena, int exact, int bad_knobs, uintptr_t region_lo,
                     uintptr_t region_hi) {
    /* A limit the program set before the heap was up (hosted: before its first
     * malloc) was overwritten here by the knob's, INT64_MAX without one: it set 32 MiB
     * and read back no limit at all. The program's call wins, as a later one would. */
    if (!atomic_load(&gh_memlimit_api))
        atomic_store(&gh_memlimit, gh_knobs.memlimit);
    gh_prof_init();
    build_tables();
    /* The platform acts on these knobs; the core never reads them back from it. */
    struct goheap_sys_config sys = {
        .ncpu = gh_knobs.ncpu,
        .release = gh_release_lazy() ? GOHEAP_SYS_RELEASE_LAZY : GOHEAP_SYS_RELEASE_NOW,
        .fault_reports = gh_knobs.efence || gh_knobs.guardrate,
        .bgthread = gh_knobs.bgthread,
        .memprofile = gh_knobs.memprofile[0] ? gh_knobs.memprofile : 0,
    };
    goheap_sys_configure(&sys);
    gh_ncpu = goheap_sys_ncpu();
    if (gh_heap_init(arena, exact) != 0) { /* it logged why */
        if (gh_region.on)
            gh_logf("goheap: init_region: the arena covering the region does not fit");
        return GOHEAP_INIT_NOSPACE;
    }
    if (gh_region.on && gh_heap_region_setup(region_lo, region_hi) != 0) {
        gh_logf("goheap: init: region: cannot set up the page allocator's metadata");
        return GOHEAP_INIT_NOSPACE;
    }
    struct mcache **caches = gh_persistentalloc(gh_ncpu * sizeof(void *), 64, 0);
    if (!caches) {
        gh_logf("goheap: init: cannot map %lu bytes of per-CPU tables for %u CPUs",
                (unsigned long)(gh_ncpu * sizeof(void *)), gh_ncpu);
        return GOHEAP_INIT_NOSPACE;
    }
    if (gh_knobs.lockstats) { /* per CPU and lock class (lockrank.h) */
        gh_lockstats = gh_persistentalloc((size_t)gh_ncpu * GOHEAP_LC_COUNT * sizeof(struct gh_lockstat), 64, 0);
        if (!gh_lockstats)
            gh_logf("goheap: init: no memory for lock statistics; lockstats=1 ignored");
    }
    __atomic_store_n(&gh_lock_slow_on, gh_knobs.debug >= 1 || gh_lockstats, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < gh_ncpu; i++)
        caches[i] = &gh_emptycache;
    gh_fast.caches = caches;
    __atomic_store_n(&gh_inited, 1, __ATOMIC_RELEASE);
    return bad_knobs ? GOHEAP_INIT_BADKNOBS : 0;
}

int goheap_init(const struct goheap_config *cfg) {
    if (__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE)) {
        /* Again in page-table mode: nothing to do. After goheap_init_region the heap
         * runs in the porter's region, and a config (arena, knobs) could not apply. */
        if (!gh_region.on)
            return 0;
        gh_logf("goheap: init: the heap already runs in region mode (goheap_init_region); "
                "goheap_init is refused: add memory with goheap_add_region");
        return GOHEAP_INIT_BADREGION;
    }
#ifndef GOHEAP_SYS_HAVE_MAP
    (void)cfg;
    gh_logf("goheap: init: this platform has no goheap_sys_reserve/map/unmap "
            "(GOHEAP_SYS_HAVE_MAP is not defined): use goheap_init_region");
    return GOHEAP_INIT_NOSPACE;
#else
    gh_knobs_defaults(&gh_knobs);
    int bad_knobs = cfg && cfg->knobs ? gh_knobs_parse(&gh_knobs, cfg->knobs, knob_features()) : 0;
    /* The arena= knob is the user's word: it wins over the embedder's default. */
    size_t arena = gh_knobs.arena                ? gh_knobs.arena
                   : cfg && cfg->arena_bytes ? cfg->arena_bytes
                                             : GOHEAP_SYS_DEFAULT_ARENA;
    return init_heap(arena, gh_knobs.arena != 0, bad_knobs, 0, 0);
#endif
}

/* ---- Region mode --------------------------------------------------------------------
 * The region [base, base + len) holds, in order: the metadata, reserved whole at init
 * (region_meta_bytes), then the heap's pages up to the region's end. The page
 * allocator works in 4 MiB-aligned chunks, so its arena is the smallest run of chunks
 * covering the region; the parts outside the heap pages stay allocated forever. */

/* Span structs set aside per heap page (8 KiB). A span struct is 96-320 bytes (by its
 * bitmap size); 64 B per page is one struct per 3-5 pages, i.e. a heap made entirely of
 * 24-40 KiB spans, or of 1-page spans for a third of it. Beyond that, allocations
 * needing a new span return NULL like any out-of-memory (0.8% of the region). */
#define GH_REGION_SPAN_BYTES_PER_PAGE 64u
/* Frame-rounding slack for each separate metadata reservation (span map, page
 * allocator, persistent chunks). */
#define GH_REGION_RESERVATIONS 4u

/* Metadata bytes for a region whose pages span `arena` bytes of whole chunks, of which
 * `cover` bytes get a page allocator and a span map of its own (all of them for the
 * first region; for goheap_add_region, the chunks no page allocator covers yet), with
 * ncpu CPUs' tables (0 for an added region: they exist). */
static size_t region_meta_bytes(size_t arena, size_t cover, unsigned ncpu) {
    size_t frame = GOHEAP_SYS_FRAME_SIZE, pages = arena >> GOHEAP_PAGE_SHIFT;
    size_t spanmap = cover ? gh_align_up((cover >> GOHEAP_PAGE_SHIFT) * sizeof(void *), frame) : 0;
    size_t pameta = cover ? gh_pagealloc_meta_bytes(cover) : 0;
    /* persistentalloc: per-CPU tables, one 16 KiB run per fixalloc (span buckets and
     * mcaches), the mcaches, the span budget; in 256 KiB chunks, each of which may
     * lose up to a run at its end. */
    size_t persist = ncpu * sizeof(void *) + (GH_NBUCKETS + 1) * GH_FIXALLOC_CHUNK +
                     ncpu * gh_align_up(GH_MCACHE_BYTES, GH_CACHELINE) +
                     pages * GH_REGION_SPAN_BYTES_PER_PAGE;
    size_t chunks = (persist + GH_PERSISTENT_CHUNK - GH_FIXALLOC_CHUNK - 1) /
                    (GH_PERSISTENT_CHUNK - GH_FIXALLOC_CHUNK);
    return spanmap + pameta + chunks * GH_PERSISTENT_CHUNK + GH_REGION_RESERVATIONS * frame;
}

/* The covering arena of [lo, hi): whole chunks. */
static size_t cover_bytes(uintptr_t lo, uintptr_t hi) {
    return gh_align_up(hi, PALLOC_CHUNK_BYTES) - gh_align_down(lo, PALLOC_CHUNK_BYTES);
}

size_t goheap_overhead(size_t len) {
    if (len > SIZE_MAX / 2)
        return SIZE_MAX;
    /* Worst alignment: the region straddles one more chunk than its length needs;
     * plus the page rounding at both ends. */
    size_t arena = gh_align_up(len, PALLOC_CHUNK_BYTES) + PALLOC_CHUNK_BYTES;
    return gh_align_up(region_meta_bytes(arena, arena, goheap_sys_ncpu()) + GOHEAP_SYS_FRAME_SIZE,
                       GOHEAP_PAGE_SIZE) + GOHEAP_PAGE_SIZE;
}

int goheap_init_region(void *base, size_t len, unsigned flags) {
    if (__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE)) {
        gh_logf("goheap: init_region: the heap is already initialised; use goheap_add_region");
        return GOHEAP_INIT_BADREGION;
    }
    uintptr_t lo = (uintptr_t)base, hi = lo + len;
    if (!base || flags || hi < lo || len > SIZE_MAX / 2) {
        gh_logf("goheap: init_region: bad region (base 0x%lx, len %lu, flags 0x%x): base non-NULL, "
                "no wrap-around, flags 0",
                (unsigned long)lo, (unsigned long)len, flags);
        return GOHEAP_INIT_BADREGION;
    }
    gh_knobs_defaults(&gh_knobs);
    size_t arena = cover_bytes(lo, hi);
    uintptr_t meta_lo = gh_align_up(lo, GOHEAP_SYS_FRAME_SIZE);
    size_t need = region_meta_bytes(arena, arena, goheap_sys_ncpu());
    uintptr_t heap_lo = gh_align_up(meta_lo + need, GOHEAP_PAGE_SIZE);
    uintptr_t heap_hi = gh_align_down(hi, GOHEAP_PAGE_SIZE);
    if (heap_lo < meta_lo || heap_lo >= heap_hi) {
        gh_logf("goheap: init_region: a %lu-byte region is too small: its metadata takes %lu "
                "bytes and the heap needs at least one 8 KiB page (goheap_overhead(%lu) = %lu)",
                (unsigned long)len, (unsigned long)need, (unsigned long)len,
                (unsigned long)goheap_overhead(len));
        return GOHEAP_INIT_NOSPACE;
    }
    gh_region = (struct gh_region){.on = 1, .nregions = 1,
                                   .arena = gh_align_down(lo, PALLOC_CHUNK_BYTES),
                                   .arena_end = gh_align_down(lo, PALLOC_CHUNK_BYTES) + arena};
    gh_region.meta[0] = (struct gh_meta_area){meta_lo, meta_lo, heap_lo, lo, hi};
    int r = init_heap(arena, 1, 0, heap_lo, heap_hi);
    if (r != 0)
        gh_region.on = 0;
    return r;
}

/* The chunks of [lo, hi) that no page allocator covers yet, as [*cb, *ce) (empty when
 * *ce <= *cb). They are one run: a page allocator strictly inside the region's chunks
 * would cover a chunk wholly inside the region, so an earlier region would overlap
 * it. Returns -1 if one does anyway. Caller holds the heap lock. */
static int new_cover(uintptr_t lo, uintptr_t hi, uintptr_t *cb, uintptr_t *ce) {
    uintptr_t b = gh_align_down(lo, PALLOC_CHUNK_BYTES), e = gh_align_up(hi, PALLOC_CHUNK_BYTES);
    struct pagealloc *pa;
    for (int changed = 1; changed && b < e;) { /* trim the ends by neighbours' chunks */
        changed = 0;
        for (unsigned i = 0; (pa = gh_heap_pages_at(i)) != 0 && b < e; i++) {
            if (b >= pa->base && b < pa->limit)
                b = pa->limit, changed = 1;
            if (e > pa->base && e <= pa->limit)
                e = pa->base, changed = 1;
        }
    }
    for (unsigned i = 0; (pa = gh_heap_pages_at(i)) != 0 && b < e; i++)
        if (b < pa->limit && pa->base < e)
            return -1;
    *cb = b;
    *ce = e;
    return 0;
}

int goheap_add_region(void *base, size_t len, unsigned flags) {
    uintptr_t lo = (uintptr_t)base, hi = lo + len;
    if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE) || !gh_region.on) {
        gh_logf("goheap: add_region: region 0x%lx (%lu bytes): the heap is not in region mode "
                "(call goheap_init_region first; page-table mode grows its own reservation)",
                (unsigned long)lo, (unsigned long)len);
        return GOHEAP_INIT_BADREGION;
    }
    if (!base || flags || hi < lo || len > SIZE_MAX / 2) {
        gh_logf("goheap: add_region: bad region (base 0x%lx, len %lu, flags 0x%x): base non-NULL, "
                "no wrap-around, flags 0",
                (unsigned long)lo, (unsigned long)len, flags);
        return GOHEAP_INIT_BADREGION;
    }
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    /* Both locks: nobody else reserves metadata (sysmem.c) while the new area is set up. */
    gh_lock(&gh_heap.lock, cpu);
    gh_lock(&gh_meta.lock, cpu);
    unsigned n = gh_region.nregions;
    int r = GOHEAP_INIT_BADREGION;
    uintptr_t cb = 0, ce = 0;
    for (unsigned i = 0; i < n; i++)
        if (lo < gh_region.meta[i].region_hi && gh_region.meta[i].region_lo < hi) {
            gh_logf("goheap: add_region: region [0x%lx, 0x%lx) overlaps region %u [0x%lx, 0x%lx)",
                    (unsigned long)lo, (unsigned long)hi, i, (unsigned long)gh_region.meta[i].region_lo,
                    (unsigned long)gh_region.meta[i].region_hi);
            goto out;
        }
    if (n >= GH_MAX_REGIONS) {
        gh_logf("goheap: add_region: region [0x%lx, 0x%lx): the heap holds %u regions already, "
                "the most it can (GH_MAX_REGIONS)", (unsigned long)lo, (unsigned long)hi, n);
        goto out;
    }
    if (new_cover(lo, hi, &cb, &ce) != 0) {
        gh_logf("goheap: add_region: region [0x%lx, 0x%lx) overlaps the chunks of another",
                (unsigned long)lo, (unsigned long)hi);
        goto out;
    }
    /* The same layout as the first region: metadata, then heap pages. */
    size_t need = region_meta_bytes(cover_bytes(lo, hi), ce > cb ? ce - cb : 0, 0);
    uintptr_t meta_lo = gh_align_up(lo, GOHEAP_SYS_FRAME_SIZE);
    uintptr_t heap_lo = gh_align_up(meta_lo + need, GOHEAP_PAGE_SIZE);
    uintptr_t heap_hi = gh_align_down(hi, GOHEAP_PAGE_SIZE);
    if (meta_lo < lo || heap_lo < meta_lo || heap_lo >= heap_hi) {
        gh_logf("goheap: add_region: a %lu-byte region is too small: its metadata takes %lu "
                "bytes and the heap needs at least one 8 KiB page (goheap_overhead(%lu) = %lu)",
                (unsigned long)len, (unsigned long)need, (unsigned long)len,
                (unsigned long)goheap_overhead(len));
        r = GOHEAP_INIT_NOSPACE;
        goto out;
    }
    gh_region.meta[n] = (struct gh_meta_area){meta_lo, meta_lo, heap_lo, lo, hi};
    __atomic_store_n(&gh_region.nregions, n + 1, __ATOMIC_RELEASE);
    if (gh_heap_add_region(heap_lo, heap_hi, ce > cb ? cb : 0, ce > cb ? ce : 0) != 0) {
        /* Nothing joined, and nobody else reserved from the new area (both locks). */
        __atomic_store_n(&gh_region.nregions, n, __ATOMIC_RELEASE);
        r = GOHEAP_INIT_NOSPACE;
        goto out;
    }
    r = 0;
out:
    gh_unlock(&gh_meta.lock, cpu);
    gh_unlock(&gh_heap.lock, cpu);
    goheap_sys_unpin(pin);
    return r;
}

const char *goheap_knobs_error(void) { return gh_knobs_first_error(); }

/* ---- malloc ------------------------------------------------------------------------ */

/* Reached by a tail call from goheap_malloc, so the return address is its caller's.
 * The common case, a small object whose current word ran out, goes straight to the
 * refill; everything else through gh_alloc (large sizes come through
 * gh_malloc_large, below). */
GH_NOINLINE void *gh_malloc_slow(size_t size) {
    if (gh_likely(__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE) && size <= GOHEAP_MAX_SMALL_SIZE &&
                  !gh_knobs.slowmode)) {
        unsigned spc = gh_size_to_spc(size, GH_TAB_SCAN);
        goheap_pin_t pin;
        unsigned cpu = goheap_sys_pin(&pin);
        struct mcache *c = gh_mcache_get(cpu);
        void *p = 0;
        if (GOHEAP_PROFILE && c && gh_unlikely((c->next_sample -= (int64_t)size) < 0)) {
            goheap_sys_unpin(pin);
            return gh_prof_malloc(size, (uintptr_t)__builtin_return_address(0));
        }
        if (c) {
            struct mspan *s = c->alloc[spc];
            if (gh_span_word_has_free(s)) {
                p = gh_span_take(s);
            } else {
                p = gh_mcache_refill_alloc(c, cpu, spc);
            }
        }
        goheap_sys_unpin(pin);
        if (gh_likely(p != 0)) {
            gh_after_slow();
            return p;
        }
    }
    /* (a failed refill was counted above and is counted again in gh_alloc: harmless) */
    return gh_alloc(size, 0, 0, (uintptr_t)__builtin_return_address(0));
}

/* goheap_malloc above the small sizes (a tail call, so the return address is its
 * caller's): a hit in this CPU's large span cache (mcache.h) without gh_malloc_slow's
 * small-object test and without gh_mcache_get's creation test (gh_emptycache's bins
 * are empty: a CPU without a cache misses); a miss, a larger size, slowmode and no
 * heap yet go to gh_alloc. Counted only on a hit (a miss is counted in gh_alloc). A
 * sampled hit is recorded by a tail call, so that the sampler's frame record returns
 * to the caller (profile.h, gh_prof_malloc_large): the hit itself as usual, not the
 * general path gh_prof_malloc takes (kbench ICOUNT=1, 64 KiB hit at the default
 * rate: ~380 -> ~180 instructions a sample). */
GH_NOINLINE void *gh_malloc_large(size_t size) {
    if (gh_likely(size - (GOHEAP_MAX_SMALL_SIZE + 1) < GH_LCACHE_MAX_BYTES - GOHEAP_MAX_SMALL_SIZE &&
                  __atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE) && !gh_knobs.slowmode)) {
        goheap_pin_t pin;
        /* the fast paths' pin: a thread or CPU without a cache gets gh_emptycache
         * (empty bins: a miss) or, where the pin can fail, NULL (nothing to unpin) */
        struct mcache *c = gh_pin_cache_fast(&pin);
        if (GH_PIN_CACHE_MAY_FAIL && gh_unlikely(!c))
            goto miss;
        struct mspan *s = gh_heap_lcache_get(c, (size + GOHEAP_PAGE_SIZE - 1) >> GOHEAP_PAGE_SHIFT);
        if (gh_likely(s != 0)) {
            gh_large_reuse(c, s, size, 16, 0, (uintptr_t)__builtin_return_address(0), 0); /* (c: not gh_emptycache, which caches no span) */
            if (GOHEAP_PROFILE && gh_unlikely(gh_prof_count(c, size))) {
                goheap_sys_unpin(pin);
                return gh_prof_malloc_large(s, (uintptr_t)__builtin_return_address(0));
            }
            goheap_sys_unpin(pin);
            gh_after_slow();
            return (void *)s->obj;
        }
        goheap_sys_unpin(pin);
    }
miss:
    return gh_alloc(size, 0, 0, (uintptr_t)__builtin_return_address(0)); /* a miss is counted there */
}

/* gh_malloc_miss past the word step: the rest of the refill (pinned on pin). */
static GH_NOINLINE void *malloc_refill(size_t size, struct mcache *c, unsigned spc, goheap_pin_t pin) {
    void *p = gh_mcache_refill_span(c, c->cpu, spc);
    goheap_sys_unpin(pin);
    if (gh_unlikely(!p))
        return gh_malloc_slow(size); /* out of memory: the long way, then NULL */
    gh_after_slow();
    return p;
}

/* The fast path's miss on a span it holds (cache empty): the refill straight away,
 * still pinned on the fast path's pin, without gh_malloc_slow's look-ups (the class
 * from the size tables, the pin and the cache again): c is this CPU's cache and s
 * its current span of the class plain malloc uses for size (the fast entries and
 * alloc[] name only a CPU's own current spans outside a refill), so s->spc is that
 * class.
 * No span yet (gh_emptyspan: a new class, a thread without a slot, instrumented
 * mode) and a failed refill go to gh_malloc_slow. callgrind, 2 threads, scale 0.05:
 * ~67 -> ~20 instructions per refill around gh_mcache_refill_alloc (larson one
 * refill per 18 mallocs, pareto per 21, glibcthread per 32). */
GH_NOINLINE void *gh_malloc_miss(size_t size, struct mcache *c, struct mspan *s, goheap_pin_t pin) {
    if (gh_unlikely(s == &gh_emptyspan)) {
        goheap_sys_unpin(pin);
        return gh_malloc_slow(size);
    }
    if (GOHEAP_PROFILE && gh_unlikely((c->next_sample -= (int64_t)size) < 0)) {
        goheap_sys_unpin(pin);
        return gh_prof_malloc(size, (uintptr_t)__builtin_return_address(0));
    }
    /* gh_mcache_refill_alloc's first step, here without a call: another word of s.
     * The refill proper is a tail call, so that the step saves only three registers. */
    void *p = gh_mcache_word_step(c, s);
    if (!p)
        return malloc_refill(size, c, s->spc, pin);
    goheap_sys_unpin(pin);
    return p;
}

/* A real cache's state for the class malloc uses for size: up to
 * GOHEAP_SMALL_SIZE_MAX its fast entry (mcache.h: the current span's word state,
 * mirrored), above it (up to GOHEAP_MAX_SMALL_SIZE) the span itself, by the 128-byte
 * class table, which may be read only once goheap_init has run (a real cache implies
 * it). */
static inline struct gh_fastent *fast_entry(struct mcache *c, size_t size) {
    return (struct gh_fastent *)((char *)c->fe + (size_t)c->fidx[size] * 8);
}
static inline struct mspan *span_by128(struct mcache *c, size_t size) {
    return c->alloc[gh_fastspc128[(size - GOHEAP_SMALL_SIZE_MAX + 127) >> 7]];
}

/* The fast path's last step for cache c (pinned): a slot of the current word *wp of
 * the class's span (*sp: read only on a miss), at *wordbase + slot * *welemsize; else
 * the refill (gh_malloc_miss). The fields come from the fast entry or from the span's
 * hot line, which hold the same three (mcache.h). Inlined into each size branch of
 * goheap_malloc, so that each reads its state with indexed loads (a shared tail would
 * first add c). */
static inline __attribute__((always_inline)) void *malloc_from(struct mcache *c, uint64_t *wp,
                                                              const uintptr_t *wordbase, const uintptr_t *welemsize,
                                                              struct mspan *const *sp, size_t size, goheap_pin_t pin) {
    /* The current word's free bits (freeBits[curword], or zero with no current word):
     * the lowest set bit is the slot, none sends malloc to the refill. */
    uint64_t fb = *wp, i;
    GH_LOWEST_BIT_OR(fb, i, miss);
#if GOHEAP_PROFILE
    /* The profiler's interval (profile.h): one subtract and one branch. Only a real
     * cache gets here (the empty ones hold no free slot). */
    if (gh_unlikely((c->next_sample -= (int64_t)size) < 0)) {
        goheap_sys_unpin(pin);
        return gh_prof_malloc(size, (uintptr_t)__builtin_return_address(0));
    }
#endif
    void *p = gh_word_take(wp, fb, i, *wordbase, *welemsize);
    goheap_sys_unpin(pin);
    return p;
miss:
    return gh_malloc_miss(size, c, *sp, pin); /* a tail call: no frame on the fast path */
}

void *goheap_malloc(size_t size) {
    goheap_pin_t pin;
    if (gh_likely(size <= GOHEAP_SMALL_SIZE_MAX)) {
        struct mcache *c = gh_pin_cache_fast(&pin);
        if (GH_PIN_CACHE_MAY_FAIL && gh_unlikely(!c))
            return gh_malloc_slow(size);
        struct gh_fastent *e = fast_entry(c, size);
        return malloc_from(c, e->wp, &e->wordbase, &e->welemsize, &e->s, size, pin);
    }
    if (size <= GOHEAP_MAX_SMALL_SIZE) {
        struct mcache *c = gh_pin_cache_fast(&pin);
        /* A real cache implies goheap_init happened before (the slot was handed out
         * after it): only then may the table be read. */
        if (gh_unlikely(c == &gh_emptycache) || (GH_PIN_CACHE_MAY_FAIL && gh_unlikely(!c))) {
            if (c)
                goheap_sys_unpin(pin);
            return gh_malloc_slow(size);
        }
        struct mspan *s = span_by128(c, size);
        return malloc_from(c, s->wbits, &s->wordbase, &s->welemsize, &s, size, pin);
    }
    return gh_malloc_large(size);
}

void *goheap_malloc_flags(size_t size, unsigned flags) {
    return gh_alloc(size, flags, 0, (uintptr_t)__builtin_return_address(0));
}

void *goheap_calloc(size_t nmemb, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        goheap_sys_nomem();
        return 0;
    }
    return gh_alloc(total, GOHEAP_ZERO, 0, (uintptr_t)__builtin_return_address(0));
}

void *goheap_aligned_alloc(size_t alignment, size_t size) {
    if (!gh_is_pow2(alignment))
        return 0;
    return gh_alloc(size, 0, alignment, (uintptr_t)__builtin_return_address(0));
}

/* glibc's memalign rules (malloc.c _mid_memalign): an alignment above SIZE_MAX/2+1 is
 * refused; one that is not a power of two is rounded up to one (3 -> 4, 24 -> 32);
 * 0 is plain malloc. */
void *goheap_memalign(size_t alignment, size_t size) {
    uintptr_t pc = (uintptr_t)__builtin_return_address(0);
    if (alignment > SIZE_MAX / 2 + 1)
        return 0;
    if (alignment > 1 && !gh_is_pow2(alignment))
        alignment = (size_t)1 << (64 - gh_clz64(alignment));
    /* (glibc's malloc is 16-byte aligned even for 1 byte; ours only for >= 16 B, so an
     * alignment of 16 is passed on, not dropped.) */
    return gh_alloc(size, 0, alignment > 1 ? alignment : 0, pc);
}

int goheap_posix_memalign(void **out, size_t alignment, size_t size) {
    if (!gh_is_pow2(alignment) || alignment % sizeof(void *))
        return GOHEAP_EINVAL;
    void *p = gh_alloc(size, 0, alignment, (uintptr_t)__builtin_return_address(0));
    if (!p)
        return GOHEAP_ENOMEM;
    *out = p;
    return 0;
}

/* ---- free ---------------------------------------------------------------------------- */

void goheap_free(void *p) {
    uintptr_t a = (uintptr_t)p;
    uintptr_t pg = (a - gh_fast.base) >> GOHEAP_PAGE_SHIFT;
    if (gh_likely(pg < GH_READ_WORD(&gh_fast.npages)) && /* (folded into the compare) */
        gh_likely(gh_free_cached(GH_READ_RACY(gh_fast.spans[pg]), a)))
        return;
    gh_free_slow(a); /* a tail call */
}

/* ---- realloc ----------------------------------------------------------------------------
 * Rarely copies (docs/alloc.md, "realloc"):
 *   - small, n <= usable and n > usable / 2: in place (one compare pair, no class
 *     look-up); n <= usable / 2: moves down (staying would waste over half);
 *   - large: shrinks in place, giving the tail back when it is at least 1/8 of the
 *     span; grows in place when the pages after the span are free;
 *   - a move allocates with a bounded growth margin (realloc_target), so a buffer
 *     grown step by step copies O(log n) times: usable <= max(class(n), 1.25 n) small,
 *     n's pages + 1/8 large (exactly n in instrumented mode, where efence objects
 *     always move); a move growing by half or more to a large size (or to whole
 *     pages that fit the small bound) is placed with free room after it
 *     (GH_ALLOC_ROOM), so the next steps grow in place; a small target comes from the
 *     malloc fast path's cached word when it can (move_alloc_fast). A sampled
 *     object's record moves or resizes with it (profile.c). */

/* What to allocate when an object must move to hold n bytes. */
static GH_NOINLINE size_t realloc_target(size_t n) {
    if (n <= GOHEAP_MAX_SMALL_SIZE) {
        unsigned cl = gh_size_to_spc(n, GH_TAB_SCAN) >> 1;
        size_t bound = n + n / 4;
        /* the largest class within max(class(n), 1.25 n); plain malloc's table never
         * hands out the 24 B class, which no n >= 17 can reach from class(n) = 32 */
        while (cl + 1 < GOHEAP_NUM_SIZE_CLASSES && goheap_class_to_size[cl + 1] <= bound)
            cl++;
        return goheap_class_to_size[cl];
    }
    uintptr_t pages = (n >> GOHEAP_PAGE_SHIFT) + ((n & (GOHEAP_PAGE_SIZE - 1)) != 0);
    uintptr_t want = (pages + pages / 8) << GOHEAP_PAGE_SHIFT;
    return want > n ? want : n; /* (a huge n: the margin overflows; just n) */
}

/* gh_heap_extend_span: 1 when s grew, or when its pages were taken to be mapped
 * unpinned (*tomap = extra: GH_EXTEND_MAP, mheap.h); 0 when not. */
static inline int grow_tree(unsigned cpu, struct pagecache *pc, struct mspan *s, uintptr_t extra, int fill,
                            uintptr_t *tomap) {
    int r = gh_heap_extend_span(cpu, pc, s, extra, fill);
    if (gh_unlikely(r == GH_EXTEND_MAP))
        *tomap = extra;
    return r != 0;
}

/* realloc_large_in_place's growth, out of line (its early returns keep a small
 * frame: most calls of a buffer grown by small steps return there). The CPU's grow
 * window first (no heap lock), then the tree; growing by half or more (a doubled
 * buffer) refills the window (mheap.h, GH_GROW_WINDOW_PAGES). The window is the
 * cache's: its drain lock is held. Pinned on cpu. */
static GH_NOINLINE int realloc_large_grow(struct mcache *c, unsigned cpu, struct mspan *s, uintptr_t a, size_t n,
                                          uintptr_t need, uintptr_t *tomap) {
    uintptr_t have = s->npages, off = a - s->base, old = s->limit - a;
    struct pagecache *pc = c != &gh_emptycache ? &c->pcache : 0;
    int fill = n - old >= old / 2, ok;
    if (pc)
        gh_lock(&c->lock, cpu);
    /* a small size in whole pages (realloc_move's placed span) grows only within
     * the small bound, with no margin */
    if (n <= GOHEAP_MAX_SMALL_SIZE)
        ok = (need << GOHEAP_PAGE_SHIFT) - off <= realloc_target(n) &&
             (gh_heap_extend_window(pc, s, need - have) || grow_tree(cpu, pc, s, need - have, fill, tomap));
    else
        ok = gh_heap_extend_window(pc, s, need + need / 8 - have) || gh_heap_extend_window(pc, s, need - have) ||
             grow_tree(cpu, pc, s, need + need / 8 - have, fill, tomap) ||
             grow_tree(cpu, pc, s, need - have, fill, tomap);
    /* (counted before the unlock: a fork's prepare takes c->lock, and a child must see
     * the growth and its count together) */
    if (ok && !*tomap)
        gh_cache_count(c, &c->large_alloc_bytes, (uint64_t)(s->npages - have) << GOHEAP_PAGE_SHIFT, 1);
    if (pc)
        gh_unlock(&c->lock, cpu);
    return ok;
}

/* A large object resized in place now holds the n bytes asked for: the leak scan reads
 * it, and reports it, by that size (reqsize). Stored before a shrink gives the tail
 * back and after a growth's pages are the span's, so that a scan reading it never
 * reaches past the pages (it reads the object under the unmap hold: alloc/leak.c). */
static inline void large_resized(struct mspan *s, size_t n) {
    __atomic_store_n(&s->reqsize, n, __ATOMIC_RELEASE);
}

/* A large, plain object at a resized to hold n bytes without moving: shrink (tail
 * back when >= 1/8 of the span) or grow into the free pages after it (first with the
 * growth margin, then exactly). Returns 1 when p stays. */
/* The pages large object a of span s needs to hold n bytes. */
static inline uintptr_t large_need(const struct mspan *s, uintptr_t a, size_t n) {
    return (a - s->base + n + GOHEAP_PAGE_SIZE - 1) >> GOHEAP_PAGE_SHIFT;
}
/* Whether large object a (old bytes to its span's end) stays as it is for n bytes: it
 * fits, it is no small object now (n <= 32 KiB and at most half: it moves to its
 * class), and less than 1/8 of its pages would go back. goheap_realloc's inline test
 * and realloc_large_in_place's first one (before, the inline one was old - n < old / 8
 * in bytes, which sent every step of a vector growing into its margin through the
 * call: ~8 of the 152 instructions a call of bench/fastpath's 16 B steps to 64 KiB). */
static inline int large_keeps(const struct mspan *s, uintptr_t a, size_t n, size_t old) {
    return n <= old && (n > GOHEAP_MAX_SMALL_SIZE || n > old / 2) && (s->npages - large_need(s, a, n)) * 8 < s->npages;
}

static GH_NOINLINE int realloc_large_in_place(struct mspan *s, uintptr_t a, size_t n, size_t old) {
    if (n > gh_heap.obj_max)
        return 0;
    if (large_keeps(s, a, n, old)) {
        large_resized(s, n);
        return 1;
    }
    if (n <= old && n <= GOHEAP_MAX_SMALL_SIZE && n <= old / 2)
        return 0; /* a small object now: move to its class */
    uintptr_t need = large_need(s, a, n);
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    if (!c)
        c = &gh_emptycache;
    int ok = 1;
    uintptr_t tomap = 0;
    if (need < s->npages) {
        large_resized(s, n);
        gh_heap_trim_span(cpu, c, s, need); /* (counts the tail freed in c) */
    } else if ((ok = realloc_large_grow(c, cpu, s, a, n, need, &tomap)) != 0) {
        if (gh_unlikely(tomap)) { /* the added pages, mapped with no lock, unpinned, and
                                   * counted in the hold that grows s (mheap.h) */
            goheap_sys_unpin(pin);
            ok = gh_heap_extend_mapped(s);
            goheap_sys_pin(&pin); /* (for the unpin below) */
        }
        if (ok)
            large_resized(s, n);
    }
    goheap_sys_unpin(pin);
    /* A sampled object's record follows its new size (profile.c). */
    if (GOHEAP_PROFILE && ok && gh_unlikely(atomic_load_explicit(&s->nsampled, memory_order_relaxed)))
        gh_prof_move(a, a, n);
    return ok;
}

/* A move's new small object as malloc's fast path takes it: a slot of the cached word
 * of this CPU's current span of got's class, the profiler's interval spent as malloc
 * spends it. 0 (nothing taken) when that needs more: no slot in the word (a word step
 * or a refill), a sample due (so that gh_alloc_raw takes it with realloc's caller), no
 * cache. Without it every move paid gh_alloc_raw's class look-up and second pin:
 * ~150-350 instructions, where the fast path takes ~20. */
static inline void *move_alloc_fast(size_t got) {
    if (got > GOHEAP_MAX_SMALL_SIZE)
        return 0;
    goheap_pin_t pin;
    struct mcache *c = gh_pin_cache_fast(&pin);
    if (GH_PIN_CACHE_MAY_FAIL && gh_unlikely(!c))
        return 0;
    void *p = 0;
    /* (a real cache: goheap_init came first, so the class table may be read) */
    if (gh_likely(c != &gh_emptycache)) {
        uint64_t *wp;
        const uintptr_t *wordbase, *welemsize;
        if (got <= GOHEAP_SMALL_SIZE_MAX) {
            struct gh_fastent *e = fast_entry(c, got);
            wp = e->wp, wordbase = &e->wordbase, welemsize = &e->welemsize;
        } else {
            struct mspan *s = span_by128(c, got);
            wp = s->wbits, wordbase = &s->wordbase, welemsize = &s->welemsize;
        }
        uint64_t fb = *wp;
        if (fb != 0 && (!GOHEAP_PROFILE || c->next_sample >= (int64_t)got)) {
#if GOHEAP_PROFILE
            c->next_sample -= (int64_t)got;
#endif
            p = gh_word_take(wp, fb, gh_ctz64(fb), *wordbase, *welemsize);
        }
    }
    goheap_sys_unpin(pin);
    return p;
}

/* The copy: a new object with the growth margin (exactly n if that fails), the old
 * bytes, the old object freed. Out of line, so that the in-place checks above it
 * run in a small frame. */
static GH_NOINLINE void *realloc_move(void *p, size_t n, size_t old, uintptr_t pc) {
    size_t want = n > old && !gh_knobs.slowmode ? realloc_target(n) : n;
    struct mspan *ps = gh_span_of((uintptr_t)p);
    /* A large object of >= 1 MiB growing: its frames move instead (remap.c). */
    if (old >= GH_REMAP_MIN_BYTES && n > old && ps->spc < 2 && !ps->efence && !gh_knobs.slowmode &&
        gh_sys_can_remap()) {
        int nomem;
        void *q = gh_remap_move(ps, want, n, pc, &nomem);
        if (!q && nomem) {
            /* Out of memory in the middle (the tail's map, the platform's page
             * tables), the old object intact: the last resort and one more try, as
             * every allocation gets (gh_alloc_raw), before NULL. It flushes every
             * CPU's caches and releases every free page: the retry's destination may
             * be memory that needs no map (core-realloc t_realloc_remap_nomem), or its
             * tail may get the frames given back (kheap-remap t_remap_oom_cached). */
            gh_last_resort();
            q = gh_remap_move(ps, want, n, pc, &nomem);
        }
        if (q || nomem) {
            if (!q)
                goheap_sys_nomem();
            return q;
        }
    }
    /* A sampled object's record moves with it (one sample, not a second one). */
    int sampled = GOHEAP_PROFILE && gh_unlikely(atomic_load_explicit(&ps->nsampled, memory_order_relaxed)) &&
                  gh_prof_is_sampled(ps, (uintptr_t)p);
    unsigned flags = sampled || !GOHEAP_PROFILE ? 0 : GH_ALLOC_COUNT; /* what gh_alloc would add */
    /* A pointer-free object stays one (an odd span class: small noscan, tiny, large
     * 1): the leak scan must not start reading its words because it moved. */
    if (ps->spc & 1)
        flags |= GOHEAP_NOSCAN;
    /* ... but a moved block is a fresh malloc, at least 8-byte aligned (goheap.h): a
     * noscan target under GOHEAP_TINY_SIZE asks 16 so that it is not placed by the
     * tiny allocator, which aligns to the size (host-stress: realloc to 2 bytes). */
    size_t malign = (flags & GOHEAP_NOSCAN) ? 16 : 0;
    /* Growing by half or more (a buffer doubled, not appended to): a large span with
     * room after it, when the target is large or a page multiple no bigger than the
     * class target (8, 16 and 32 KiB take whole pages in their classes too), so that
     * the next steps grow in place (GH_REALLOC_ROOM_PAGES). A buffer grown by small
     * steps keeps the margin and the cache-hot spans of the large span caches: placed
     * with room, every such vector of bench/suite realloc landed in memory not
     * touched lately and the run took 5-6% longer (15 alternating runs, 1 and 2
     * threads), for fewer instructions. */
    size_t got = want;
    if (n > old && n - old >= old / 2 && !gh_knobs.slowmode) {
        if (want > GOHEAP_MAX_SMALL_SIZE) {
            flags |= GH_ALLOC_ROOM;
        } else if (gh_align_up(n, GOHEAP_PAGE_SIZE) <= want) { /* (n <= want: no overflow) */
            got = gh_align_up(n, GOHEAP_PAGE_SIZE);
            flags |= GH_ALLOC_ROOM;
        }
    } else if (n > old && old > GOHEAP_MAX_SMALL_SIZE && !gh_knobs.slowmode) {
        /* A large object grown by a small step that did not fit in place: a page of
         * room after it (GH_ALLOC_ROOM_STEP), so that it grows in place from now on
         * instead of moving at every 12.5% (bench/fastpath's 16 B steps to 64 KiB: the
         * moves at 40 and 48 KiB and their copies; 142 -> 110 instructions a call). */
        flags |= GH_ALLOC_ROOM | GH_ALLOC_ROOM_STEP;
    }
    void *q = 0;
    /* (the move's count for the profiler is malloc's: GH_ALLOC_COUNT, or nothing with
     * the profiler compiled out; a sampled object's move counts nothing; a noscan
     * move takes the slow path, which knows the noscan classes) */
    if (flags == (GOHEAP_PROFILE ? GH_ALLOC_COUNT : 0u) && !gh_knobs.slowmode)
        q = move_alloc_fast(got);
    if (!q)
        q = gh_alloc_raw(got, flags, got < GOHEAP_TINY_SIZE ? malign : 0, pc);
    if (!q && got != n) {
        got = n;
        q = gh_alloc_raw(n, flags & ~(GH_ALLOC_ROOM | GH_ALLOC_ROOM_STEP), n < GOHEAP_TINY_SIZE ? malign : 0, pc);
    }
    if (!q)
        return 0; /* the old object is untouched */
    /* Counted before the copy: a locked add after it waits for the copy's stores to
     * drain (perf: most of realloc_move's own cycles in the 16 MiB doubling). */
    atomic_fetch_add_explicit(&gh_realloc_stats.copied, old < n ? old : n, memory_order_relaxed);
    gh_memcpy(q, p, old < n ? old : n);
    if (sampled)
        gh_prof_move((uintptr_t)p, (uintptr_t)q, got);
    /* The old object through free's fast path when nothing needs realloc's caller for
     * a trace (instrumented mode, which allocfreetrace implies, keeps gh_free_pc): a
     * small object of a span this CPU owns is one inline free, not gh_free_pc's
     * look-up, checks and second pin (bench/fastpath doublealloc: the seven moves
     * 16 B -> 4 KiB; the figures in bench/RESULTS.md). */
    if (gh_likely(!gh_knobs.slowmode))
        goheap_free(p);
    else
        gh_free_pc((uintptr_t)p, pc);
    return q;
}

/* goheap_realloc's exits that need its caller's address (the profiler's stack,
 * allocfreetrace): each is reached by a tail call, so its own return address is
 * realloc's caller's, and goheap_realloc needs no frame for the address on its
 * in-place paths (it read it on every call and saved four registers for it: ~11
 * instructions a call, bench/RESULTS.md "realloc without a frame"). */
#define GH_CALLER_PC() ((uintptr_t)__builtin_return_address(0))

/* Everything the inline checks in goheap_realloc do not accept: validation with
 * realloc's messages (gh_usable_size_span), then the same in-place rules. Tail-called
 * by goheap_realloc (GH_CALLER_PC). */
static GH_NOINLINE void *realloc_checked(void *p, size_t n) {
    uintptr_t pc = GH_CALLER_PC();
    struct mspan *s;
    size_t old = gh_usable_size_span((uintptr_t)p, GH_WHO_REALLOC, &s); /* a panic names realloc */
    if (!s->efence && s->spc != GH_TINY_SPC) {
        if (s->spc >= 2 ? n <= old && n > old / 2 : realloc_large_in_place(s, (uintptr_t)p, n, old))
            return p;
    }
    return realloc_move(p, n, old, pc);
}

/* The rest of goheap_realloc's exits, tail-called like realloc_checked. */
static GH_NOINLINE void *realloc_of_null(size_t n) { return gh_alloc(n, 0, 0, GH_CALLER_PC()); }
static GH_NOINLINE void *realloc_to_zero(void *p) { /* glibc's behaviour: free and return NULL */
    gh_free_pc((uintptr_t)p, GH_CALLER_PC());
    /* (NULL through an empty asm: a constant return let clang call this and return
     * the constant itself, and the call kept goheap_realloc's frame) */
    return (void *)(uintptr_t)gh_opaque64(0);
}
static GH_NOINLINE void *realloc_move_tail(void *p, size_t n, size_t old) {
    return realloc_move(p, n, old, GH_CALLER_PC());
}
/* A plain large object that does not stay as it is: in place (shrink, or grow into the
 * free pages after it), else a move. */
static GH_NOINLINE void *realloc_large(struct mspan *s, void *p, size_t n, size_t old) {
    uintptr_t pc = GH_CALLER_PC();
    if (realloc_large_in_place(s, (uintptr_t)p, n, old))
        return p;
    return realloc_move(p, n, old, pc);
}

void *goheap_realloc(void *p, size_t n) {
    if (!p)
        return realloc_of_null(n);
    if (n == 0)
        return realloc_to_zero(p);
    uintptr_t a = (uintptr_t)p;
    /* The common cases checked inline: an object start in a live small or plain large
     * span of the window (what gh_usable_size would accept, with the same usable
     * size); anything else, every bad pointer and a region's covers included, through
     * realloc_checked (gh_span_entry's cover look-up is a call, which would give this
     * function a frame). */
    uintptr_t pg = (a - gh_fast.base) >> GOHEAP_PAGE_SHIFT;
    struct mspan *s = pg < atomic_load_explicit(&gh_fast.npages, memory_order_acquire)
                          ? GH_READ_RACY(gh_fast.spans[pg])
                          : 0;
    if (gh_likely(s && atomic_load_explicit(&s->state, memory_order_acquire) == GH_SPAN_INUSE)) {
        /* (the free's index test: line 0 alone, where limit and divmul would add two
         * more lines of the span to every call; bench/RESULTS.md "realloc in place") */
        if (s->spc >= 2 && s->spc != GH_TINY_SPC && gh_span_index(s, a) < s->nelems) {
            size_t old = s->elemsize;
            if (n <= old && n > old / 2)
                return p;
            return realloc_move_tail(p, n, old);
        }
        if (s->spc < 2 && !s->efence && a == s->obj) {
            size_t old = s->limit - a;
            if (large_keeps(s, a, n, old)) {
                large_resized(s, n);
                return p;
            }
            return realloc_large(s, p, n, old);
        }
    }
    return realloc_checked(p, n);
}

void *goheap_reallocarray(void *p, size_t nmemb, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(nmemb, size, &total)) {
        goheap_sys_nomem();
        return 0;
    }
    return goheap_realloc(p, total);
}

size_t goheap_usable_size(const void *p) {
    return p ? gh_usable_size((uintptr_t)p, GH_WHO_USABLE) : 0; /* glibc: NULL -> 0 */
}

/* ---- cache control ----------------------------------------------------------------------- */

void goheap_flush(void) {
    if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE))
        return;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_mcache_release_all(gh_fast.caches[cpu], cpu);
    gh_heap_hcache_drain(cpu); /* and the heap's large span cache */
    goheap_sys_unpin(pin);
}
