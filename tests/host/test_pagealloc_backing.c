/* tests/host/test_pagealloc_backing.c: how the page allocator (alloc/pagealloc.c)
 * backs pages and its own metadata: a failed map leaves nothing allocated, metadata
 * committed (placed mode: reserved) in proportion to the grown heap, the per-page
 * zero state, and lazy release. Allocation itself: test_pagealloc.c. */
#include "pagealloc_fx.h"

/* ---- map failures ----------------------------------------------------------------------------------------- */
static void t_map_failure(void) {
    struct fx f;
    uintptr_t sc;
    int err;
    KT_CHECK(fx_init(&f, 4) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, 4 * CPAGES) == 0, "");
    /* pages 0..9 backed and in use, 10..19 free backed, 20.. fresh; a 30-page
     * alloc at 10 maps 20..39 in one call: fail it */
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 20, &sc, NULL) == f.arena, "");
    gh_pagealloc_free(&f.pa, pg(&f, 10), 10);
    gh_pagealloc_free(&f.pa, pg(&f, 5), 1);
    tp_fail_maps_after = 0;
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 30, &sc, &err) == 0 && err == PAGEALLOC_NOMEM, "err %d", err);
    tp_fail_maps_after = -1;
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    KT_CHECK(f.pa.npages_free == 4 * CPAGES - 9, "nothing allocated");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 30, &sc, &err) == pg(&f, 10) && sc == 20, "retry works");
    /* growth whose metadata cannot be mapped */
    struct fx g;
    KT_CHECK(fx_init(&g, 4096) == 0, "");
    tp_fail_maps_after = 0;
    KT_CHECK(gh_pagealloc_grow(&g.pa, g.arena, CPAGES) == -1, "");
    tp_fail_maps_after = -1;
    KT_CHECK(g.pa.npages_grown == 0 && g.pa.search_addr == g.pa.limit, "");
    KT_CHECK(gh_pagealloc_grow(&g.pa, g.arena, CPAGES) == 0, "");
    KT_CHECK(gh_pagealloc_check(&g.pa) == 0, "");
}

/* ---- a run handed out unmapped (gh_pagealloc_alloc_defer) --------------------------------------------- */
/* 0..9 in use, 10..19 free and backed, CPAGES-2..CPAGES+1 free and backed, the rest
 * fresh: the 2*CPAGES-page run from 10 has two pieces to map, the second across a
 * chunk boundary. */
static void defer_layout(struct fx *f) {
    uintptr_t sc;
    int err;
    KT_CHECK(fx_init(f, 4) == 0, "");
    KT_CHECK(gh_pagealloc_grow(&f->pa, f->arena, 4 * CPAGES) == 0, "");
    KT_CHECK(gh_pagealloc_alloc(&f->pa, 20, &sc, NULL) == f->arena, "");
    gh_pagealloc_free(&f->pa, pg(f, 10), 10);
    KT_CHECK(gh_pagealloc_alloc_at(&f->pa, pg(f, CPAGES - 2), 4, &sc, &err) == pg(f, CPAGES - 2), "");
    gh_pagealloc_free(&f->pa, pg(f, CPAGES - 2), 4);
}

static uintptr_t defer_take(struct fx *f, uintptr_t *tomap) {
    uintptr_t sc, base;
    int err;
    base = gh_pagealloc_alloc_defer(&f->pa, 2 * CPAGES, 0, &sc, tomap, &err);
    KT_CHECK(base == pg(f, 10) && err == PAGEALLOC_OK, "base page %ld err %d", page_no(f, base), err);
    KT_CHECK(*tomap == 2 * CPAGES - 14 && sc == *tomap, "tomap %lu scav %lu", (unsigned long)*tomap,
             (unsigned long)sc);
    KT_CHECK(f->pa.npages_mapping == *tomap && gh_pagealloc_check(&f->pa) == 0, "");
    KT_CHECK(page_alloc_bit(f, 20) && page_scav_bit(f, 20) && !page_scav_bit(f, CPAGES - 1), "");
    return base;
}

/* The taker maps the pieces one at a time; the strict platform sees no map of a backed
 * page. A page-cache refill of the word the run ends in, meanwhile, leaves the run's
 * pages still to map as they were. */
static void t_defer_map(void) {
    struct fx f;
    struct pagecache c = {0};
    uintptr_t tomap, n, a, mapped = 0, pieces = 0;
    unsigned long errors = tp_errors;
    defer_layout(&f);
    uintptr_t base = defer_take(&f, &tomap);
    KT_CHECK(gh_pagecache_refill(&f.pa, &c) == 0 && c.base == pg(&f, (10 + 2 * CPAGES) & ~(uintptr_t)63), "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "a refill beside the run keeps its pages to map");
    gh_pagecache_flush(&f.pa, &c);
    while ((a = gh_pagealloc_mapping_next(&f.pa, base, 2 * CPAGES, &n)) != 0) {
        KT_CHECK(pieces != 0 || (a == pg(&f, 20) && n == CPAGES - 22), "first piece %ld +%lu", page_no(&f, a),
                 (unsigned long)n);
        KT_CHECK(pieces != 1 || (a == pg(&f, CPAGES + 2) && n == CPAGES + 8), "second piece %ld +%lu",
                 page_no(&f, a), (unsigned long)n);
        KT_CHECK(goheap_sys_map((void *)a, n * PAGE) == 0, "");
        gh_pagealloc_mapping_done(&f.pa, a, n);
        mapped += n;
        pieces++;
    }
    KT_CHECK(pieces == 2 && mapped == tomap && f.pa.npages_mapping == 0, "%lu pieces, %lu pages",
             (unsigned long)pieces, (unsigned long)mapped);
    KT_CHECK(tp_errors == errors && tp_backed_in(base, 2 * CPAGES * PAGE) == 2 * CPAGES * PAGE, "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    gh_pagealloc_free(&f.pa, base, 2 * CPAGES);
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
}

/* A map fails after the first piece: the run goes back with the pages still to map
 * released and known zero, the rest free and backed; allocated again the ordinary
 * way, only the released ones are mapped. */
static void t_defer_fail(void) {
    struct fx f;
    uintptr_t tomap, n, sc, scav0;
    unsigned long errors = tp_errors;
    defer_layout(&f);
    scav0 = f.pa.npages_scav;
    uintptr_t base = defer_take(&f, &tomap);
    uintptr_t a = gh_pagealloc_mapping_next(&f.pa, base, 2 * CPAGES, &n);
    KT_CHECK(a && goheap_sys_map((void *)a, n * PAGE) == 0, "");
    gh_pagealloc_mapping_done(&f.pa, a, n);
    KT_CHECK(gh_pagealloc_free_mapping(&f.pa, base, 2 * CPAGES) == tomap - n, "");
    KT_CHECK(f.pa.npages_mapping == 0 && f.pa.npages_scav == scav0 - n && gh_pagealloc_check(&f.pa) == 0,
             "scav %lu, was %lu", (unsigned long)f.pa.npages_scav, (unsigned long)scav0);
    KT_CHECK(page_scav_bit(&f, CPAGES + 2) && !page_scav_bit(&f, 20) && !page_alloc_bit(&f, CPAGES + 2), "");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 2 * CPAGES, &sc, NULL) == base && sc == tomap - n, "scav %lu",
             (unsigned long)sc);
    KT_CHECK(tp_errors == errors, "%lu maps of backed pages", tp_errors - errors);
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
}

/* ---- metadata committed (and placed: reserved) in proportion to the grown heap ---------------------- */
/* A free range of `bytes` of address space for placed metadata (found, then let go). */
static uintptr_t free_range(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    munmap(p, bytes);
    return (uintptr_t)p;
}

/* The metadata a 1 TiB arena commits as it grows, in whole mode (reserved at init) and
 * in placed mode (each frame reserved when mapped: reserved == mapped). */
static void metadata_proportional(int placed) {
    struct fx f;
    uintptr_t sc;
    const size_t tib = (size_t)1 << 40, gib = (size_t)1 << 30;
    const char *mode = placed ? "placed" : "whole";
    if (placed) {
        memset(&f, 0, sizeof f);
        f.bytes = tib;
        f.arena = (uintptr_t)goheap_sys_reserve(f.bytes, CHUNK);
        uintptr_t at = free_range(gh_pagealloc_meta_span(tib));
        KT_CHECK(f.arena && at && gh_pagealloc_init_at(&f.pa, f.arena, f.bytes, at) == 0, "placed init");
        KT_CHECK(f.pa.meta_base == at && f.pa.meta_span == gh_pagealloc_meta_span(tib), "");
        KT_CHECK(gh_pagealloc_init_at(&(struct pagealloc){0}, f.arena, f.bytes, 0) == -1, "no place");
        f.pa.debug = 1;
    } else {
        KT_CHECK(fx_init(&f, tib / CHUNK) == 0, "1 TiB arena");
    }
    size_t at_init = f.pa.meta_mapped;
    printf("    # %s, 1 TiB arena: metadata spans %zu KiB, reserved at init %zu KiB, mapped %zu KiB\n", mode,
           f.pa.meta_span >> 10, f.pa.meta_reserved >> 10, at_init >> 10);
    /* spans: summaries ~2.3 MiB + chunk bitmaps (alloc, scav, zero) 48 MiB + index
     * 512 KiB */
    KT_CHECK(f.pa.meta_span < 52u << 20, "%zu", f.pa.meta_span);
    KT_CHECK(f.pa.meta_reserved == (placed ? at_init : f.pa.meta_span), "%zu", f.pa.meta_reserved);
    KT_CHECK(at_init <= (placed ? 3 : 2) * 4096u, "init maps only the frame bitmap(s) and the root: %zu",
             at_init);
    KT_CHECK(tp_backed_in(f.pa.meta_base, f.pa.meta_span) == at_init, "");
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, gib / PAGE) == 0, "");
    size_t one = f.pa.meta_mapped;
    printf("    # after growing 1 GiB: %zu KiB mapped, %zu KiB reserved\n", one >> 10, f.pa.meta_reserved >> 10);
    /* 1 GiB = 256 chunks: 48 KiB of bitmaps, 2 KiB of leaves, 512 B of index, a frame
     * per upper level, plus the init frames: 19 frames (20 placed) */
    KT_CHECK(one <= 84 * 1024, "%zu", one);
    for (int i = 1; i < 16; i++)
        KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena + i * gib, gib / PAGE) == 0, "");
    size_t sixteen = f.pa.meta_mapped;
    printf("    # after growing 16 GiB: %zu KiB mapped (%.4f%% of the heap), %zu KiB reserved\n", sixteen >> 10,
           100.0 * (double)sixteen / (double)(16 * gib), f.pa.meta_reserved >> 10);
    KT_CHECK(sixteen - one <= 15 * 52 * 1024, "each GiB costs ~51 KiB: %zu", sixteen - one);
    KT_CHECK(tp_backed_in(f.pa.meta_base, f.pa.meta_span) == sixteen, "");
    /* a grow at the far end maps only its own metadata */
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena + tib - CHUNK, CPAGES) == 0, "");
    size_t far = f.pa.meta_mapped - sixteen;
    KT_CHECK(far <= 6 * 4096, "far grow mapped %zu", far);
    KT_CHECK(f.pa.meta_reserved == (placed ? f.pa.meta_mapped : f.pa.meta_span), "%zu", f.pa.meta_reserved);
    /* the tree works across the 1008 GiB hole */
    uintptr_t a = gh_pagealloc_alloc(&f.pa, 16 * gib / PAGE, &sc, NULL);
    KT_CHECK(a == f.arena && sc == 16 * gib / PAGE, "");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 2, &sc, NULL) == f.arena + tib - CHUNK, "");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, CPAGES, &sc, NULL) == 0, "");
    gh_pagealloc_free(&f.pa, a, 16 * gib / PAGE);
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    KT_CHECK(f.pa.meta_mapped == sixteen + far, "alloc/free map no metadata");
}

static void t_metadata_proportional(void) { metadata_proportional(0); }

static void t_metadata_placed(void) {
    size_t before = tp_reserved_at_bytes;
    metadata_proportional(1);
    printf("    # reserve_at: %lu calls in all\n", tp_reserve_at_calls);
    KT_CHECK(tp_reserved_at_bytes - before < 1u << 20, "placed mode reserved %zu", tp_reserved_at_bytes - before);
}

/* Placed mode when a metadata frame's address is taken, or its map fails: the grow
 * fails with nothing changed; once the address is free again (or maps work) the same
 * grow succeeds, reserving each frame once. */
static void t_metadata_placed_failures(void) {
    struct fx f;
    uintptr_t sc;
    memset(&f, 0, sizeof f);
    f.bytes = 64 * CHUNK;
    f.arena = (uintptr_t)goheap_sys_reserve(f.bytes, CHUNK);
    uintptr_t at = free_range(gh_pagealloc_meta_span(f.bytes));
    KT_CHECK(f.arena && at && gh_pagealloc_init_at(&f.pa, f.arena, f.bytes, at) == 0, "");
    f.pa.debug = 1;
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, CPAGES) == 0, "");
    /* Take the frame the chunk bitmaps of chunk 40 live in. */
    uintptr_t fr = (uintptr_t)&f.pa.chunks[40] & ~(uintptr_t)4095;
    KT_CHECK(mmap((void *)fr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) ==
                 (void *)fr, "take 0x%lx", (unsigned long)fr);
    size_t mapped = f.pa.meta_mapped, resv = f.pa.meta_reserved;
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena + 40 * CHUNK, CPAGES) == -1, "grow over a taken frame");
    KT_CHECK(strstr(tp_last_log, "cannot reserve metadata address space") != NULL, "%s", tp_last_log);
    KT_CHECK(f.pa.npages_grown == CPAGES, "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    munmap((void *)fr, 4096);
    /* A map failure after the reservation: the frame stays reserved, not mapped. */
    tp_fail_maps_after = 0;
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena + 40 * CHUNK, CPAGES) == -1, "grow with maps failing");
    tp_fail_maps_after = -1;
    KT_CHECK(f.pa.meta_reserved > resv && f.pa.meta_mapped >= mapped, "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    unsigned long errs = tp_errors;
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena + 40 * CHUNK, CPAGES) == 0, "grow once all is well");
    KT_CHECK(tp_errors == errs, "no frame reserved twice");
    KT_CHECK(f.pa.meta_reserved == f.pa.meta_mapped, "%zu %zu", f.pa.meta_reserved, f.pa.meta_mapped);
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 2 * CPAGES, &sc, NULL) == 0, "two chunks apart: no run of 1024");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, CPAGES, &sc, NULL) == f.arena, "");
    KT_CHECK(gh_pagealloc_alloc(&f.pa, CPAGES, &sc, NULL) == f.arena + 40 * CHUNK, "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
}

/* The per-page known-zero state: fresh pages are zero when fresh_zero; freed pages
 * are dirty; released pages are zero only when release_zero; a page cache carries
 * the zero bits of its window and gives them back on flush. */
static void t_zero_state(void) {
    for (unsigned mode = 0; mode < 2; mode++) { /* 0: region-like, 1: page-table mode */
        struct fx f;
        struct pagecache c = {0};
        uintptr_t sc;
        int err;
        KT_CHECK(fx_init(&f, 2) == 0, "");
        f.pa.fresh_zero = f.pa.release_zero = mode;
        KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, 2 * CPAGES) == 0, "");
        uintptr_t a = gh_pagealloc_alloc(&f.pa, 100, &sc, NULL);
        KT_CHECK(a == f.arena && sc == 100, "");
        KT_CHECK(f.pa.dirty == (mode ? 0 : 100), "fresh run: dirty %lu", (unsigned long)f.pa.dirty);
        gh_pagealloc_free(&f.pa, a + 10 * PAGE, 20); /* pages 10..29 free, dirty */
        KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
        KT_CHECK(gh_pagealloc_alloc(&f.pa, 5, &sc, NULL) == a + 10 * PAGE && sc == 0, "");
        KT_CHECK(f.pa.dirty == 5, "reused pages are dirty: %lu", (unsigned long)f.pa.dirty);
        /* 15..29 dirty, 100.. fresh: a run across both is dirty in part */
        gh_pagealloc_free(&f.pa, a + 30 * PAGE, 70); /* 15..99 dirty, then fresh */
        KT_CHECK(gh_pagealloc_alloc(&f.pa, 95, &sc, NULL) == a + 15 * PAGE && sc == 10, "");
        KT_CHECK(f.pa.dirty == (mode ? 85 : 95), "mixed run: dirty %lu", (unsigned long)f.pa.dirty);
        gh_pagealloc_free(&f.pa, a + 15 * PAGE, 95);
        /* release everything free: zero again only when release zeroes */
        KT_CHECK(scavenge_all(&f.pa) > 0, "");
        KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
        KT_CHECK(gh_pagealloc_alloc(&f.pa, 95, &sc, NULL) == a + 15 * PAGE && sc == 95, "");
        KT_CHECK(f.pa.dirty == (mode ? 0 : 95), "released run: dirty %lu", (unsigned long)f.pa.dirty);
        gh_pagealloc_free(&f.pa, a + 15 * PAGE, 95);
        KT_CHECK(scavenge_all(&f.pa) > 0, "");
        /* the page cache: window 0 holds 15..63 (0..14 still in use) */
        KT_CHECK(gh_pagecache_refill(&f.pa, &c) == 0 && c.base == f.arena, "");
        KT_CHECK(c.zero == (mode ? c.cache : 0), "cache zero %#llx", (unsigned long long)c.zero);
        uintptr_t ca = gh_pagecache_alloc(&c, 3, &sc, &err);
        KT_CHECK(ca == a + 15 * PAGE, "page %ld err %d", page_no(&f, ca), err);
        KT_CHECK(c.dirty == (mode ? 0u : 3u), "cache run: dirty %u", c.dirty);
        gh_pagecache_flush(&f.pa, &c);
        KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
        KT_CHECK(gh_pagealloc_alloc(&f.pa, 51, &sc, NULL) == a + 18 * PAGE, "");
        KT_CHECK(f.pa.dirty == (mode ? 0 : 51), "flushed zero bits kept: dirty %lu",
                 (unsigned long)f.pa.dirty);
        KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    }
}

/* Lazy release (pa->lazy): released pages stay backed. Reusing them maps nothing
 * (the test platform counts maps and flags a map of backed frames) and they are
 * dirty; the page cache carries them as lazy; lazy_take hands the highest run to a
 * reclaimer, whose unmap then lazy_done leaves them released and zero (mapped again
 * when reused); the counters agree with the bitmaps throughout. */
static void lazy_release_all(struct pagealloc *pa) { /* the kernel's lazy scavenge: no unmap */
    for (uintptr_t n, b; (b = gh_pagealloc_scavenge_take(pa, 1000, &n));)
        gh_pagealloc_scavenge_done(pa, b, n);
}

static void t_lazy(void) {
    struct fx f;
    struct pagecache c = {0};
    uintptr_t sc, n;
    int err;
    KT_CHECK(fx_init(&f, 2) == 0, "");
    f.pa.lazy = 1;
    f.pa.release_zero = 0;
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, 2 * CPAGES) == 0, "");
    uintptr_t a = gh_pagealloc_alloc(&f.pa, 200, &sc, NULL);
    KT_CHECK(a == f.arena && sc == 200 && f.pa.dirty == 0 && f.pa.lazy_run == 0, "");
    gh_pagealloc_free(&f.pa, a + 100 * PAGE, 100);
    lazy_release_all(&f.pa);
    KT_CHECK(f.pa.npages_lazy == 100 && gh_pagealloc_check(&f.pa) == 0, "lazy %lu",
             (unsigned long)f.pa.npages_lazy);
    /* reuse 60 of them plus 20 fresh pages: only the fresh ones are mapped */
    unsigned long maps = tp_map_calls;
    size_t backed = tp_backed_bytes;
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 80, &sc, NULL) == a + 100 * PAGE, "");
    KT_CHECK(sc == 80 && f.pa.lazy_run == 80, "scav %lu lazy %lu", (unsigned long)sc,
             (unsigned long)f.pa.lazy_run);
    KT_CHECK(f.pa.dirty == 80 && tp_map_calls == maps && tp_backed_bytes == backed,
             "dirty %lu, %lu maps", (unsigned long)f.pa.dirty, tp_map_calls - maps);
    KT_CHECK(f.pa.npages_lazy == 20 && gh_pagealloc_check(&f.pa) == 0, "");
    uintptr_t b = gh_pagealloc_alloc(&f.pa, 40, &sc, NULL); /* 20 lazy + 20 fresh */
    KT_CHECK(b == a + 180 * PAGE && sc == 40 && f.pa.lazy_run == 20 && f.pa.dirty == 20, "");
    KT_CHECK(tp_map_calls == maps + 1 && tp_backed_bytes == backed + 20 * PAGE && tp_errors == 0, "");
    gh_pagealloc_free(&f.pa, a, 220);
    lazy_release_all(&f.pa);
    KT_CHECK(f.pa.npages_lazy == 220 && gh_pagealloc_check(&f.pa) == 0, "");
    /* a page cache takes window 0 (pages 0..63) with its lazy bits, and gives them back */
    KT_CHECK(gh_pagecache_refill(&f.pa, &c) == 0 && c.lazy == ~0ull && c.zero == 0, "");
    KT_CHECK(f.pa.npages_lazy == 220 - 64 && gh_pagealloc_check(&f.pa) == 0, "");
    maps = tp_map_calls;
    KT_CHECK(gh_pagecache_alloc(&c, 4, &sc, &err) == a && sc == 4 && c.lazy_run == 4 && c.dirty == 4, "");
    KT_CHECK(tp_map_calls == maps && c.lazy == ~0ull << 4 && c.scav == c.lazy, "");
    gh_pagecache_flush(&f.pa, &c);
    KT_CHECK(f.pa.npages_lazy == 216 && gh_pagealloc_check(&f.pa) == 0, "");
    /* reclaim: the highest lazy run first, at most max pages, then free as zero */
    uintptr_t r = gh_pagealloc_lazy_take(&f.pa, 16, &n);
    KT_CHECK(r == a + 204 * PAGE && n == 16, "took page %ld x %lu", page_no(&f, r), (unsigned long)n);
    KT_CHECK(page_alloc_bit(&f, 204) && !page_scav_bit(&f, 204) && f.pa.npages_scavenging == 16, "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    goheap_sys_unmap((void *)r, n * PAGE);
    gh_pagealloc_lazy_done(&f.pa, r, n);
    KT_CHECK(f.pa.npages_lazy == 200 && f.pa.npages_scavenging == 0 && gh_pagealloc_check(&f.pa) == 0, "");
    uintptr_t total = 16;
    while ((r = gh_pagealloc_lazy_take(&f.pa, 1000, &n))) {
        goheap_sys_unmap((void *)r, n * PAGE);
        gh_pagealloc_lazy_done(&f.pa, r, n);
        total += n;
    }
    KT_CHECK(total == 216 && f.pa.npages_lazy == 0 && tp_errors == 0, "reclaimed %lu", (unsigned long)total);
    /* reclaimed pages are unbacked and zero: reuse maps them and needs no zeroing */
    maps = tp_map_calls;
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 60, &sc, NULL) == a + 4 * PAGE && sc == 60, "");
    KT_CHECK(f.pa.dirty == 0 && f.pa.lazy_run == 0 && tp_map_calls > maps && tp_errors == 0, "");
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
}

/* A map failure in the middle of a run leaves the pages mapped before it free, backed
 * and known zero (fresh). A lazy release of them (no unmap) must not leave them
 * looking unbacked (scav 1, zero 1): they were counted lazily released but not seen
 * as lazy (gh_pagealloc_check: lazily released pages), and their reuse mapped them
 * again over the frames they still had (the test platform's double map; the kernel
 * maps over a live mapping, and its npages_lazy ran ahead of the bitmaps until
 * lazy_take panicked). The page cache's failed map leaves them the same way. */
static void t_lazy_after_map_failure(void) {
    struct fx f;
    struct pagecache c = {0};
    uintptr_t sc;
    int err;
    KT_CHECK(fx_init(&f, 2) == 0, "");
    f.pa.fresh_zero = 1; /* page-table mode with madvdontneed=0 */
    f.pa.lazy = 1;
    f.pa.release_zero = 0;
    KT_CHECK(gh_pagealloc_grow(&f.pa, f.arena, 2 * CPAGES) == 0, "");
    /* page 0 released and zero (its frames gone), page 1 free and backed, 2.. fresh */
    uintptr_t a = gh_pagealloc_alloc(&f.pa, 2, &sc, NULL);
    KT_CHECK(a == f.arena && sc == 2, "");
    gh_pagealloc_free(&f.pa, pg(&f, 1), 1);
    goheap_sys_unmap((void *)a, PAGE);
    gh_pagealloc_free_unbacked(&f.pa, a, 1);
    /* 10 pages at 0: page 0 is mapped, then the map of 2..9 fails */
    unsigned long errors = tp_errors;
    tp_fail_maps_after = 1;
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 10, &sc, &err) == 0 && err == PAGEALLOC_NOMEM, "err %d", err);
    tp_fail_maps_after = -1;
    KT_CHECK(!page_scav_bit(&f, 0) && tp_backed_in(a, PAGE) == PAGE && gh_pagealloc_check(&f.pa) == 0, "");
    lazy_release_all(&f.pa); /* pages 0 and 1: released lazily, still backed */
    KT_CHECK(page_scav_bit(&f, 0) && tp_backed_in(a, 2 * PAGE) == 2 * PAGE, "");
    KT_CHECK(f.pa.npages_lazy == 2 && gh_pagealloc_check(&f.pa) == 0, "lazy %lu",
             (unsigned long)f.pa.npages_lazy);
    KT_CHECK(gh_pagealloc_alloc(&f.pa, 10, &sc, &err) == a && sc == 10, "");
    KT_CHECK(f.pa.lazy_run == 2 && f.pa.dirty == 2 && f.pa.npages_lazy == 0, "lazy_run %lu dirty %lu",
             (unsigned long)f.pa.lazy_run, (unsigned long)f.pa.dirty);
    KT_CHECK(tp_errors == errors, "%lu maps of backed pages", tp_errors - errors);
    KT_CHECK(gh_pagealloc_check(&f.pa) == 0, "");
    /* the same through a page cache: a 3-page allocation from a fresh window whose
     * page 1 is backed maps page 0, then the map of page 2 fails */
    struct fx g;
    KT_CHECK(fx_init(&g, 1) == 0, "");
    g.pa.fresh_zero = 1;
    g.pa.lazy = 1;
    g.pa.release_zero = 0;
    KT_CHECK(gh_pagealloc_grow(&g.pa, g.arena, CPAGES) == 0, "");
    uintptr_t b = gh_pagealloc_alloc(&g.pa, 2, &sc, NULL);
    gh_pagealloc_free(&g.pa, pg(&g, 1), 1);
    goheap_sys_unmap((void *)b, PAGE);
    gh_pagealloc_free_unbacked(&g.pa, b, 1);
    KT_CHECK(gh_pagecache_refill(&g.pa, &c) == 0 && c.base == b && c.scav == ~2ull, "");
    tp_fail_maps_after = 1;
    KT_CHECK(gh_pagecache_alloc(&c, 3, &sc, &err) == 0 && err == PAGEALLOC_NOMEM, "err %d", err);
    tp_fail_maps_after = -1;
    gh_pagecache_flush(&g.pa, &c);
    KT_CHECK(tp_backed_in(b, 2 * PAGE) == 2 * PAGE && gh_pagealloc_check(&g.pa) == 0, "");
    lazy_release_all(&g.pa);
    KT_CHECK(g.pa.npages_lazy == 2 && gh_pagealloc_check(&g.pa) == 0, "after the lazy release: lazy %lu",
             (unsigned long)g.pa.npages_lazy);
    errors = tp_errors;
    KT_CHECK(gh_pagealloc_alloc(&g.pa, 3, &sc, &err) == b && g.pa.lazy_run == 2 && g.pa.dirty == 2, "");
    KT_CHECK(tp_errors == errors, "%lu maps of backed pages", tp_errors - errors);
    KT_CHECK(gh_pagealloc_check(&g.pa) == 0, "");
}

static const struct kt_case suite_cases[] = {
    KT_CASE(t_map_failure),
    KT_CASE(t_zero_state),
    KT_CASE(t_lazy),
    KT_CASE(t_lazy_after_map_failure),
    KT_CASE(t_defer_map),
    KT_CASE(t_defer_fail),
    KT_CASE(t_metadata_proportional),
    KT_CASE(t_metadata_placed),
    KT_CASE(t_metadata_placed_failures),
};

int main(void) {
    kt_begin("pagealloc_backing", KT_NCASES(suite_cases));
    return kt_run_cases(suite_cases, KT_NCASES(suite_cases), 0);
}
