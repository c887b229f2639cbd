/* alloc/pagealloc.c: the page allocator's radix tree of summaries over chunk bitmaps:
 * grow, first-fit alloc/free with a search hint, scavenging support, the per-CPU page
 * cache, and lazily mapped metadata. Design and numbers: docs/pagealloc.md. */
#include "pagealloc.h"

#include "pallocbits.h"
#include "platform.h"
#include "sysmem.h"
#include "util.h"

#define PA_NONE (~(uintptr_t)0)
#define FRAME ((uintptr_t)GOHEAP_SYS_FRAME_SIZE)
#define CHUNKS_PER_ROOT ((uintptr_t)1 << (PALLOC_LEVEL_BITS * (PALLOC_LEVELS - 1))) /* 4096 */

/* An entry at level l covers 2^level_log_pages[l] pages. */
static const unsigned level_log_pages[PALLOC_LEVELS] = {21, 18, 15, 12, 9};

/* Level-l entry index of chunk c. */
static inline uintptr_t level_index(uintptr_t c, unsigned l) {
    return c >> (PALLOC_LEVEL_BITS * (PALLOC_LEVELS - 1 - l));
}

/* ---- Messages ------------------------------------------------------------------------
 * "goheap: pagealloc: <what> (0x<a>, 0x<b>)", where `what` names the two values;
 * formatted by the core's gh_fmt (alloc/fmt.c). */
static _Noreturn GH_COLD void pa_panic(const char *what, uint64_t a, uint64_t b) {
    gh_panicf("goheap: pagealloc: %s (0x%lx, 0x%lx)", what, (unsigned long)a, (unsigned long)b);
}

static GH_COLD void pa_log(const char *what, uint64_t a, uint64_t b) {
    gh_logf("goheap: pagealloc: %s (0x%lx, 0x%lx)", what, (unsigned long)a, (unsigned long)b);
}

/* ---- Addresses --------------------------------------------------------------------------- */
static inline uintptr_t page_of(const struct pagealloc *pa, uintptr_t addr) {
    return (addr - pa->base) >> GOHEAP_PAGE_SHIFT;
}
static inline uintptr_t addr_of(const struct pagealloc *pa, uintptr_t page) {
    return pa->base + (page << GOHEAP_PAGE_SHIFT);
}
static inline uintptr_t min_up(uintptr_t a, uintptr_t b) { return a < b ? a : b; }

/* ---- Search hints ----------------------------------------------------------------------------
 * search_addr: every grown page below it is in use. large_addr: every grown page in
 * [the first window's end, large_addr) is in use (pagealloc.h). */
static inline uintptr_t window_end(const struct pagealloc *pa) {
    return addr_of(pa, PALLOC_SMALL_FIRST_PAGES);
}

/* Pages [base, base + npages) became free (or were grown): lower the hints. A run
 * wholly inside the window leaves large_addr alone. */
static inline void hints_lower(struct pagealloc *pa, uintptr_t base, uintptr_t npages) {
    if (base < pa->search_addr)
        pa->search_addr = base;
    uintptr_t wend = window_end(pa);
    if (base < pa->large_addr && base + (npages << GOHEAP_PAGE_SHIFT) > wend)
        pa->large_addr = base > wend ? base : wend;
}

/* A run [page, page + npages) was taken from a search that saw no free page below ff
 * (for search_addr) and lff (for large_addr; PA_NONE: that search did not run):
 * raise the hints, past the run when it began at that first free page. */
static inline void hints_raise(struct pagealloc *pa, uintptr_t page, uintptr_t npages, uintptr_t ff,
                               uintptr_t lff) {
    uintptr_t hint = addr_of(pa, ff == page ? page + npages : ff);
    if (hint > pa->search_addr)
        pa->search_addr = hint;
    if (lff != PA_NONE) {
        hint = addr_of(pa, lff == page ? page + npages : lff);
        if (hint > pa->large_addr)
            pa->large_addr = hint;
    }
}

/* ---- Metadata mapping --------------------------------------------------------------------
 * All metadata lives in one range: [frame bitmap(s)][level 0] .. [level 4][chunk
 * bitmaps][scavenge index]. The frame bitmap and level 0 are mapped at init; the rest
 * frame by frame as grow needs it, so what is committed follows the grown heap.
 * Whole mode reserves the range at init. Placed mode (gh_pagealloc_init_at) reserves
 * nothing but the fixed part: the owner laid the range out in free address space, and
 * each frame is reserved (gh_sys_reserve_at) when it is first mapped, tracked by a
 * second frame bitmap, so the address space taken follows the grown heap too. */
static inline int frame_bit(const uint64_t *bits, uintptr_t f) { return (bits[f / 64] >> (f % 64)) & 1; }
static inline int meta_frame_mapped(const struct pagealloc *pa, uintptr_t f) {
    return frame_bit(pa->meta_mapped_bits, f);
}

static inline int meta_is_mapped(const struct pagealloc *pa, const void *p) {
    return meta_frame_mapped(pa, ((uintptr_t)p - pa->meta_base) / FRAME);
}

/* The end of the run of frames from f (<= last) whose bit in bits equals `on`. */
static uintptr_t frame_run_end(const uint64_t *bits, uintptr_t f, uintptr_t last, int on) {
    while (f <= last && frame_bit(bits, f) == on)
        f++;
    return f;
}

static void frame_bits_set(uint64_t *bits, uintptr_t f, uintptr_t g) {
    for (; f < g; f++)
        bits[f / 64] |= 1ull << (f % 64);
}

/* Placed mode: reserves the unreserved frames of [f, g). Returns 0 or -1. */
static int meta_reserve(struct pagealloc *pa, uintptr_t f, uintptr_t g) {
    while (f < g) {
        if (frame_bit(pa->meta_resv_bits, f)) {
            f++;
            continue;
        }
        uintptr_t e = frame_run_end(pa->meta_resv_bits, f, g - 1, 0);
        if (gh_sys_reserve_at((void *)(pa->meta_base + f * FRAME), (e - f) * FRAME) != 0) {
            pa_log("cannot reserve metadata address space (addr, bytes)", pa->meta_base + f * FRAME,
                   (e - f) * FRAME);
            return -1;
        }
        pa->meta_reserved += (e - f) * FRAME;
        frame_bits_set(pa->meta_resv_bits, f, e);
        f = e;
    }
    return 0;
}

/* Maps (placed mode: reserves, then maps) every unmapped frame of [p, p + len).
 * Returns 0 or -1. */
static int meta_ensure(struct pagealloc *pa, const void *p, uintptr_t len) {
    uintptr_t f = ((uintptr_t)p - pa->meta_base) / FRAME;
    uintptr_t last = ((uintptr_t)p + len - 1 - pa->meta_base) / FRAME;
    while (f <= last) {
        if (meta_frame_mapped(pa, f)) {
            f++;
            continue;
        }
        uintptr_t g = frame_run_end(pa->meta_mapped_bits, f, last, 0);
        if (pa->meta_resv_bits && meta_reserve(pa, f, g) != 0)
            return -1;
        if (gh_sys_map((void *)(pa->meta_base + f * FRAME), (g - f) * FRAME) != 0)
            return -1;
        GH_COUNT_ADD(pa->meta_mapped, (g - f) * FRAME); /* (read by MemStats without the lock) */
        frame_bits_set(pa->meta_mapped_bits, f, g);
        f = g;
    }
    return 0;
}

static inline uintptr_t round_up(uintptr_t x, uintptr_t a) { return (x + a - 1) & ~(a - 1); }

/* The metadata layout for nchunks with nbm frame bitmaps (1: whole mode, 2: placed):
 * offsets of the levels, the chunk bitmaps and the index after the bitmaps (off[]),
 * one bitmap's size (*bm) and the total. */
static uintptr_t meta_layout(uintptr_t nchunks, unsigned nbm, uintptr_t off[PALLOC_LEVELS + 2],
                             uintptr_t *bm) {
    uintptr_t root = (nchunks + CHUNKS_PER_ROOT - 1) / CHUNKS_PER_ROOT, other = 0;
    for (unsigned l = 0; l < PALLOC_LEVELS; l++) {
        off[l] = other;
        other += round_up((root << (PALLOC_LEVEL_BITS * l)) * sizeof(pallocsum_t), FRAME);
    }
    off[PALLOC_LEVELS] = other;
    other += round_up(nchunks * sizeof(struct pallocdata), FRAME);
    off[PALLOC_LEVELS + 1] = other;
    other += round_up(nchunks * sizeof(uint16_t), FRAME);
    /* A frame bitmap covers the bitmaps too: one bit per frame of the range. */
    uintptr_t bm_frames = 1;
    while (bm_frames * FRAME * 8 < other / FRAME + nbm * bm_frames)
        bm_frames++;
    *bm = bm_frames * FRAME;
    return nbm * *bm + other;
}

size_t gh_pagealloc_meta_bytes(size_t bytes) {
    uintptr_t off[PALLOC_LEVELS + 2], bm;
    return meta_layout(gh_align_up(bytes, PALLOC_CHUNK_BYTES) / PALLOC_CHUNK_BYTES, 1, off, &bm);
}

size_t gh_pagealloc_meta_span(size_t bytes) {
    uintptr_t off[PALLOC_LEVELS + 2], bm;
    return meta_layout(gh_align_up(bytes, PALLOC_CHUNK_BYTES) / PALLOC_CHUNK_BYTES, 2, off, &bm);
}

/* Both modes: meta_at == 0 reserves the whole range (whole mode), else the range
 * starts at meta_at and only its fixed part is reserved now (placed mode). */
static int init(struct pagealloc *pa, uintptr_t base, size_t bytes, uintptr_t meta_at) {
    *pa = (struct pagealloc){0};
    if (base % PALLOC_CHUNK_BYTES || bytes % PALLOC_CHUNK_BYTES || bytes == 0 ||
        base + bytes < base || meta_at % FRAME)
        return -1;
    uintptr_t nchunks = bytes / PALLOC_CHUNK_BYTES;
    uintptr_t root = (nchunks + CHUNKS_PER_ROOT - 1) / CHUNKS_PER_ROOT;
    unsigned nbm = meta_at ? 2 : 1;
    uintptr_t off[PALLOC_LEVELS + 2], bm, total = meta_layout(nchunks, nbm, off, &bm);
    /* The bitmaps and the root level, mapped by hand (meta_ensure needs the bitmaps). */
    uintptr_t fixed = nbm * bm + round_up(root * sizeof(pallocsum_t), FRAME);
    void *meta;
    if (meta_at) {
        meta = (void *)meta_at;
        if (meta_at + total < meta_at || gh_sys_reserve_at(meta, fixed) != 0)
            return -1;
        pa->meta_reserved = fixed;
    } else {
        meta = gh_sys_reserve(total, FRAME);
        if (!meta)
            return -1;
        pa->meta_reserved = total;
    }
    pa->meta_base = (uintptr_t)meta;
    pa->meta_span = total;
    if (gh_sys_map(meta, fixed) != 0)
        return -1;
    __atomic_store_n(&pa->meta_mapped, fixed, __ATOMIC_RELAXED);
    pa->meta_mapped_bits = (uint64_t *)meta;
    frame_bits_set(pa->meta_mapped_bits, 0, fixed / FRAME);
    if (meta_at) {
        pa->meta_resv_bits = (uint64_t *)(pa->meta_base + bm);
        frame_bits_set(pa->meta_resv_bits, 0, fixed / FRAME);
    }
    uintptr_t first = pa->meta_base + nbm * bm;
    for (unsigned l = 0; l < PALLOC_LEVELS; l++)
        pa->sum[l] = (pallocsum_t *)(first + off[l]);
    pa->chunks = (struct pallocdata *)(first + off[PALLOC_LEVELS]);
    pa->scav_index = (uint16_t *)(first + off[PALLOC_LEVELS + 1]);
    pa->base = base;
    pa->limit = base + bytes;
    pa->nchunks = nchunks;
    pa->root_entries = (unsigned)root;
    pa->search_addr = pa->limit; /* nothing grown: nothing to find */
    pa->large_addr = pa->limit;
    pa->chunk_lo = nchunks;
    pa->chunk_hi = 0;
    pa->fresh_zero = pa->release_zero = 1;
    return 0;
}

int gh_pagealloc_init(struct pagealloc *pa, uintptr_t base, size_t bytes) { return init(pa, base, bytes, 0); }

int gh_pagealloc_init_at(struct pagealloc *pa, uintptr_t base, size_t bytes, uintptr_t meta_at) {
    return meta_at ? init(pa, base, bytes, meta_at) : -1;
}

/* Loops over each chunk piece [i, i + n) of pages [page, page + npages). */
#define FOR_EACH_PIECE(page, npages, c, i, n)                                                    \
    for (uintptr_t c = (page) >> PALLOC_CHUNK_PAGES_LOG, _p = (page), _end = (page) + (npages); \
         _p < _end; c++, _p = c << PALLOC_CHUNK_PAGES_LOG)                                       \
        for (unsigned i = (unsigned)(_p % PALLOC_CHUNK_PAGES),                                   \
                      n = (unsigned)min_up(PALLOC_CHUNK_PAGES - i, _end - _p),                   \
                      _once = 1;                                                                 \
             _once; _once = 0)

/* ---- Summary updates ------------------------------------------------------------------------
 * Only what changed is re-summarised: the leaf of each touched chunk from the run
 * around the changed pages (gh_pallocbits_summarize_after), then one parent per level
 * from its previous summary and the one child that changed (gh_pallocsum_merge_one;
 * first gh_pallocsum_lone, a mask when that child is the block's only one with a free
 * page, as at every level above a small heap), stopping at the first level whose
 * summary is unchanged. Multi-chunk ranges go chunk
 * by chunk, so the tree is exact for the leaves already updated at every step.
 * debug: each step is compared with the full recomputation. */
#define LEAF (PALLOC_LEVELS - 1)

static void set_leaf(struct pagealloc *pa, uintptr_t c, pallocsum_t s) {
    pallocsum_t old = pa->sum[LEAF][c];
    if (s == old)
        return;
    if (pa->debug && s != gh_pallocbits_summarize(pa->chunks[c].alloc))
        pa_panic("incremental leaf summary differs from the bitmap's (chunk, sum)",
                 pa->base + c * PALLOC_CHUNK_BYTES, s);
    pa->sum[LEAF][c] = s;
    uintptr_t idx = c;
    for (int l = LEAF - 1; l >= 0; l--) {
        uintptr_t p = idx >> PALLOC_LEVEL_BITS;
        const pallocsum_t *child = &pa->sum[l + 1][p << PALLOC_LEVEL_BITS];
        pallocsum_t was = pa->sum[l][p], now;
        if (!gh_pallocsum_lone(child, (unsigned)(idx & 7), &now))
            now = gh_pallocsum_merge_one(was, child, (unsigned)(idx & 7), old, level_log_pages[l + 1]);
        if (pa->debug && now != gh_pallocsum_merge(child, level_log_pages[l + 1]))
            pa_panic("incremental merge differs from the full merge (level, entry)", (uint64_t)l, p);
        if (now == was)
            return;
        pa->sum[l][p] = now;
        old = was;
        idx = p;
    }
}

/* Pages [page, page + npages) were all freed (freed = 1) or all allocated (0). */
static void update_range(struct pagealloc *pa, uintptr_t page, uintptr_t npages, int freed) {
    FOR_EACH_PIECE(page, npages, c, i, n) {
        set_leaf(pa, c, gh_pallocbits_summarize_after(pa->chunks[c].alloc, pa->sum[LEAF][c], i, n, freed));
    }
}

/* Any change inside chunk c. */
static void update_chunk(struct pagealloc *pa, uintptr_t c) {
    set_leaf(pa, c, gh_pallocbits_summarize(pa->chunks[c].alloc));
}

/* ---- Find ------------------------------------------------------------------------------------- */
/* Address-ordered first fit of npages at or above page sidx, walking down the tree
 * from the root, for a sidx below which every page is in use (search_addr's; or
 * large_addr's when no run of npages can use a free page of the window: find_large_run).
 * Returns the page index or PA_NONE (no run). *first_free: a page index such that
 * every page in [sidx, first_free) is in use (the first free page when the walk could
 * tell, else a bound). */
static uintptr_t find(const struct pagealloc *pa, uintptr_t sidx, uintptr_t npages, uintptr_t *first_free) {
    uintptr_t entry = 0; /* the entry chosen at the previous level */
    uintptr_t ff = sidx;
    int refining = 1; /* the walk is still inside the first non-empty region */
    for (unsigned l = 0; l < PALLOC_LEVELS; l++) {
        unsigned logp = level_log_pages[l];
        uintptr_t whole = (uintptr_t)1 << logp;
        uintptr_t blk = l == 0 ? 0 : entry * PALLOC_FANOUT, nent = l == 0 ? pa->root_entries : PALLOC_FANOUT;
        uintptr_t si = sidx >> logp, j = si > blk ? si - blk : 0;
        uintptr_t size = 0, run = 0, first_nz = PA_NONE;
        int descended = 0;
        for (; j < nent; j++) {
            pallocsum_t s = pa->sum[l][blk + j];
            if (s == 0) {
                size = 0;
                continue;
            }
            if (first_nz == PA_NONE) {
                first_nz = blk + j;
                if (refining && (first_nz << logp) > ff)
                    ff = first_nz << logp;
            }
            uintptr_t st = pallocsum_start(s);
            if (size + st >= npages) { /* a run straddling entries, or at this one's start */
                if (size == 0)
                    run = (blk + j) << logp;
                *first_free = ff;
                return run;
            }
            if (pallocsum_max(s) >= npages) {
                entry = blk + j;
                descended = 1;
                break;
            }
            if (size == 0 || st < whole) {
                size = pallocsum_end(s);
                run = ((blk + j + 1) << logp) - size;
            } else {
                size += whole;
            }
        }
        if (!descended) {
            if (l == 0) {
                *first_free = ff;
                return PA_NONE;
            }
            pa_panic("bad summary data: no fit below a summary that promised one (level, npages)", l,
                     npages);
        }
        if (entry != first_nz)
            refining = 0;
    }
    /* entry is a chunk whose max >= npages. */
    uintptr_t from = (sidx >> PALLOC_CHUNK_PAGES_LOG) == entry ? sidx % PALLOC_CHUNK_PAGES : 0;
    unsigned cff;
    unsigned i = gh_pallocbits_find(pa->chunks[entry].alloc, (unsigned)npages, (unsigned)from, &cff);
    if (i == PALLOC_NOT_FOUND)
        pa_panic("bad summary data: chunk has no fit (chunk, npages)", addr_of(pa, entry * PALLOC_CHUNK_PAGES),
                 npages);
    if (refining)
        ff = entry * PALLOC_CHUNK_PAGES + cff;
    *first_free = ff;
    return entry * PALLOC_CHUNK_PAGES + i;
}

/* First fit of npages at or above page sidx (>= the window's end) with the arena's
 * first page-cache window taken as in use (PALLOC_SMALL_FIRST_PAGES, pagealloc.h):
 * that window's bits are set for the search and put back, so the summaries stay exact
 * (debug checks them) and the hints stay lower bounds. Only called when chunk 0 is
 * grown (so its metadata is mapped). */
static uintptr_t find_past_small_first(struct pagealloc *pa, uintptr_t sidx, uintptr_t npages,
                                       uintptr_t *first_free) {
    _Static_assert(PALLOC_SMALL_FIRST_PAGES == 64, "the window is one word of chunk 0's bitmap");
    uint64_t *w = &pa->chunks[0].alloc[0], was = *w;
    *w = ~0ull;
    update_chunk(pa, 0);
    uintptr_t page = find(pa, sidx, npages, first_free);
    *w = was;
    update_chunk(pa, 0);
    return page;
}

/* The fast path of the searches below: the first fit at or above page sidx that lies
 * inside sidx's own chunk, or else (with cross) runs on from that chunk's last free run
 * into the next chunk's first (large runs of a size that does not divide a chunk cross
 * chunk ends often), or PA_NONE when neither is there. *first_free as find's, when
 * found. */
static inline __attribute__((always_inline)) uintptr_t fit_in_chunk(const struct pagealloc *pa, uintptr_t sidx,
                                                                    uintptr_t npages, int cross,
                                                                    uintptr_t *first_free) {
    uintptr_t c = sidx >> PALLOC_CHUNK_PAGES_LOG, idx = sidx % PALLOC_CHUNK_PAGES;
    const pallocsum_t *leaf = &pa->sum[PALLOC_LEVELS - 1][c];
    if (!meta_is_mapped(pa, leaf))
        return PA_NONE;
    const uint64_t *alloc = pa->chunks[c].alloc;
    unsigned cff = PALLOC_NOT_FOUND;
    if (idx + npages <= PALLOC_CHUNK_PAGES && pallocsum_max(*leaf) >= npages) {
        unsigned i = gh_pallocbits_find(alloc, (unsigned)npages, (unsigned)idx, &cff);
        if (i != PALLOC_NOT_FOUND) {
            *first_free = c * PALLOC_CHUNK_PAGES + cff;
            return c * PALLOC_CHUNK_PAGES + i;
        }
    }
    /* No fit from idx inside the chunk: a run across its end starts at its last free
     * run, if that lies at or above sidx and the next chunk's first run completes it. */
    uintptr_t end = pallocsum_end(*leaf), next = c + 1;
    if (!cross || end == 0 || end >= npages || PALLOC_CHUNK_PAGES - end < idx || next >= pa->nchunks ||
        !meta_is_mapped(pa, leaf + 1) || end + pallocsum_start(leaf[1]) < npages)
        return PA_NONE;
    if (cff == PALLOC_NOT_FOUND)
        gh_pallocbits_find(alloc, 1, (unsigned)idx, &cff);
    *first_free = c * PALLOC_CHUNK_PAGES + cff;
    return next * PALLOC_CHUNK_PAGES - end;
}

/* First fit with the fast path: a fit inside search_addr's own chunk. */
static uintptr_t find_fit(const struct pagealloc *pa, uintptr_t npages, uintptr_t *first_free) {
    if (pa->search_addr >= pa->limit)
        return PA_NONE;
    uintptr_t sidx = page_of(pa, pa->search_addr);
    uintptr_t page = fit_in_chunk(pa, sidx, npages, 0, first_free);
    return page != PA_NONE ? page : find(pa, sidx, npages, first_free);
}

/* The first fit of npages (>= PAGECACHE_MAX_ALLOC) starting at or past the first
 * window's end, searched from max(search_addr, large_addr): the fast path in that
 * page's chunk, else the walk from it. Below that page only the window may hold free
 * pages; the walk treats everything below its start as in use, so when a run of
 * npages could use a free page of the window (a free run there that long, or one
 * reaching its last page with the page past it free) the window is hidden for the
 * walk (find_past_small_first). *ff: the bound for search_addr (its own page when the
 * search started above it); *lff: for large_addr. */
static __attribute__((noinline)) uintptr_t find_large_run(struct pagealloc *pa, uintptr_t npages, uintptr_t *ff, uintptr_t *lff) {
    uintptr_t from = pa->search_addr > pa->large_addr ? pa->search_addr : pa->large_addr;
    if (from >= pa->limit)
        return PA_NONE;
    uintptr_t sidx = page_of(pa, from), page = fit_in_chunk(pa, sidx, npages, 1, lff);
    if (page == PA_NONE) {
        /* The walk's bound stops at sidx when it passes chunk 0 with the window's free
         * pages in it: keep sidx's chunk's own too, its first free page at or above sidx
         * (else a large_addr left in chunk 0 past its last free page is never raised,
         * and every large run walks). */
        uintptr_t c = sidx >> PALLOC_CHUNK_PAGES_LOG, cff = sidx;
        unsigned i;
        if (meta_is_mapped(pa, &pa->chunks[c])) {
            gh_pallocbits_find(pa->chunks[c].alloc, 1, (unsigned)(sidx % PALLOC_CHUNK_PAGES), &i);
            cff = c * PALLOC_CHUNK_PAGES + i;
        }
        /* the window's free pages (none when chunk 0 was never grown), and whether its
         * last one runs on into page 64 */
        const uint64_t *w0 = pa->chunks[0].alloc;
        uint64_t wfree = pa->chunk_lo == 0 ? ~w0[0] : 0;
        if ((wfree >> 63 && !(w0[1] & 1)) || (npages <= 64 && bitrange_find64(wfree, (unsigned)npages) < 64))
            page = find_past_small_first(pa, sidx, npages, lff);
        else
            page = find(pa, sidx, npages, lff);
        if (cff > *lff)
            *lff = cff;
    }
    *ff = from == pa->search_addr ? *lff : page_of(pa, pa->search_addr);
    return page;
}

/* find_fit for a run a span takes (alloc_run, gh_pagealloc_alloc_unmapped): with
 * pa->small_first, a run of PAGECACHE_MAX_ALLOC pages or more goes past the first
 * window when it fits there (pagealloc.h), found from large_addr (find_large_run), and
 * takes the plain first fit (in the window, or none) only when it does not. *ff and
 * *lff: the bounds for hints_raise. */
static inline uintptr_t find_fit_placed(struct pagealloc *pa, uintptr_t npages, uintptr_t *ff, uintptr_t *lff) {
    *lff = PA_NONE;
    if (npages >= PAGECACHE_MAX_ALLOC && pa->small_first) {
        uintptr_t page = find_large_run(pa, npages, ff, lff);
        if (page != PA_NONE)
            return page;
        *lff = PA_NONE;
    }
    return find_fit(pa, npages, ff);
}

/* ---- Range state changes ---------------------------------------------------------------------- */
static inline void scav_cursor_raise(struct pagealloc *pa, uintptr_t c) {
    if (c + 1 > pa->scav_chunk)
        pa->scav_chunk = c + 1;
}

/* Scavenged pages [page, page + n) were just mapped: they become free and backed. */
static void mark_backed(struct pagealloc *pa, uintptr_t page, uintptr_t npages) {
    FOR_EACH_PIECE(page, npages, c, i, n) {
        gh_pallocbits_clear(pa->chunks[c].scav, i, n);
        pa->scav_index[c] += (uint16_t)n;
        scav_cursor_raise(pa, c);
    }
    pa->npages_scav -= npages;
}

/* The lazily released pages of the free range [page, page + npages) become free and
 * backed, with no map: they stayed backed. Returns how many. */
static uintptr_t unmark_lazy(struct pagealloc *pa, uintptr_t page, uintptr_t npages) {
    uintptr_t total = 0;
    FOR_EACH_PIECE(page, npages, c, i, n) {
        struct pallocdata *d = &pa->chunks[c];
        for (unsigned j = i; j < i + n;) {
            unsigned w = j / 64, k = j % 64, len = (unsigned)min_up(64 - k, i + n - j);
            uint64_t m = bits_mask(k, len) & d->scav[w] & ~d->zero[w];
            if (m) {
                unsigned cnt = gh_popcount64(m);
                d->scav[w] &= ~m;
                pa->scav_index[c] += (uint16_t)cnt;
                scav_cursor_raise(pa, c);
                total += cnt;
            }
            j += len;
        }
    }
    pa->npages_scav -= total;
    pa->npages_lazy -= total;
    return total;
}

/* Maps the scavenged pages of the free range [page, page + npages) that are not
 * still backed (with pa->lazy, lazily released pages are: scav 1, zero 0), in runs
 * that may cross chunks, a bitmap word at a time. Returns the number mapped, or
 * PA_NONE if a map failed (the runs mapped before stay free and backed). */
static uintptr_t map_scavenged(struct pagealloc *pa, uintptr_t page, uintptr_t npages) {
    uintptr_t total = 0, run = 0, run_len = 0, end = page + npages;
    int any = 0; /* a run reused while still backed (the common case) has no scav bit */
    FOR_EACH_PIECE(page, npages, c, i, n) {
        any |= gh_pallocbits_any_set(pa->chunks[c].scav, i, n);
    }
    if (!any)
        return 0;
    for (uintptr_t p = page; p <= end;) {
        /* scav: the scavenged pages of [p, p + len), len = rest of p's word in range */
        uint64_t scav = 0;
        unsigned len = 1, k = 0;
        if (p < end) {
            k = (unsigned)(p % 64);
            len = (unsigned)min_up(64 - k, end - p);
            const struct pallocdata *d = &pa->chunks[p >> PALLOC_CHUNK_PAGES_LOG];
            unsigned w = (unsigned)(p % PALLOC_CHUNK_PAGES) / 64;
            uint64_t unbacked = pa->lazy ? d->scav[w] & d->zero[w] : d->scav[w];
            scav = (unbacked >> k) & bits_mask(0, len);
        }
        for (unsigned j = 0; j < len;) { /* alternate: unscavenged pages end a run */
            if (scav >> j & 1) {
                uint64_t x = ~scav >> j; /* pages j.. that are scavenged: trailing 1s of scav */
                unsigned n = x ? (unsigned)__builtin_ctzll(x) : 64 - j;
                n = n < len - j ? n : len - j;
                if (run_len == 0)
                    run = p + j;
                run_len += n;
                j += n;
                continue;
            }
            if (run_len) {
                if (gh_sys_map((void *)addr_of(pa, run), run_len << GOHEAP_PAGE_SHIFT) != 0)
                    return PA_NONE;
                mark_backed(pa, run, run_len);
                total += run_len;
                run_len = 0;
            }
            uint64_t y = scav >> j; /* skip the unscavenged pages */
            j = y ? j + (unsigned)__builtin_ctzll(y) : len;
        }
        p += len;
    }
    return total;
}

/* The still-scavenged pages of the free range [page, page + npages) become free and
 * backed in the bookkeeping only, with no map: the caller backs or replaces them
 * itself (gh_pagealloc_alloc_unmapped). Returns how many. */
static uintptr_t unmark_scav(struct pagealloc *pa, uintptr_t page, uintptr_t npages) {
    uintptr_t total = 0;
    FOR_EACH_PIECE(page, npages, c, i, n) {
        unsigned cnt = gh_pallocbits_count(pa->chunks[c].scav, i, n);
        if (cnt) {
            gh_pallocbits_clear(pa->chunks[c].scav, i, n);
            pa->scav_index[c] += (uint16_t)cnt;
            scav_cursor_raise(pa, c);
            total += cnt;
        }
    }
    pa->npages_scav -= total;
    return total;
}

/* Marks free pages [page, page + npages) in use; pa->dirty = how many of them were
 * not known to read zero. Without defer they are all backed; with defer, the
 * scavenged (unbacked) ones keep their scav bit: they are being mapped by the caller
 * (gh_pagealloc_alloc_defer), counted in npages_mapping. Returns how many those are. */
static inline __attribute__((always_inline)) uintptr_t alloc_range(struct pagealloc *pa, uintptr_t page,
                                                                   uintptr_t npages, int defer) {
    uintptr_t zero = 0, tomap = 0;
    FOR_EACH_PIECE(page, npages, c, i, n) {
        struct pallocdata *d = &pa->chunks[c];
        if (pa->debug && (gh_pallocbits_any_set(d->alloc, i, n) || (!defer && gh_pallocbits_any_set(d->scav, i, n))))
            pa_panic("alloc over pages not free and backed (addr, npages)",
                     addr_of(pa, c * PALLOC_CHUNK_PAGES + i), n);
        unsigned sc = defer ? gh_pallocbits_count(d->scav, i, n) : 0; /* (not in the index) */
        zero += gh_pallocbits_take(d, i, n);
        pa->scav_index[c] -= (uint16_t)(n - sc);
        tomap += sc;
    }
    pa->dirty = npages - zero;
    pa->npages_free -= npages;
    pa->npages_scav -= tomap;
    pa->npages_mapping += tomap;
    update_range(pa, page, npages, 0);
    return tomap;
}

/* Checks that [base, base + npages) is page-aligned, inside the arena and in use. */
static uintptr_t check_in_use(const struct pagealloc *pa, uintptr_t base, uintptr_t npages,
                              const char *what) {
    if (npages == 0 || base % GOHEAP_PAGE_SIZE || base < pa->base || base >= pa->limit ||
        npages > (pa->limit - base) >> GOHEAP_PAGE_SHIFT)
        pa_panic(what, base, npages);
    uintptr_t page = page_of(pa, base);
    FOR_EACH_PIECE(page, npages, c, i, n) {
        if (!meta_is_mapped(pa, &pa->chunks[c]) || !gh_pallocbits_all_set(pa->chunks[c].alloc, i, n))
            pa_panic(what, addr_of(pa, c * PALLOC_CHUNK_PAGES + i), n);
    }
    return page;
}

/* ---- Grow, alloc, free -------------------------------------------------------------------------- */
static int chunk_grown(const struct pagealloc *pa, uintptr_t c) {
    if (pa->sum[PALLOC_LEVELS - 1][c] != 0)
        return 1;
    for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++)
        if (pa->chunks[c].alloc[w])
            return 1;
    return 0;
}

int gh_pagealloc_grow(struct pagealloc *pa, uintptr_t base, uintptr_t npages) {
    if (base % PALLOC_CHUNK_BYTES || npages % PALLOC_CHUNK_PAGES || npages == 0 ||
        base < pa->base || base >= pa->limit ||
        npages / PALLOC_CHUNK_PAGES > (pa->limit - base) / PALLOC_CHUNK_BYTES)
        pa_panic("grow: range not chunk-aligned or outside the arena (base, npages)", base, npages);
    uintptr_t c0 = (base - pa->base) / PALLOC_CHUNK_BYTES;
    uintptr_t c1 = c0 + npages / PALLOC_CHUNK_PAGES; /* exclusive */
    /* Summaries: whole blocks of 8 siblings, so merges can read every child. */
    for (unsigned l = 1; l < PALLOC_LEVELS; l++) {
        uintptr_t lo = level_index(c0, l) & ~(uintptr_t)7, hi = level_index(c1 - 1, l) | 7;
        if (meta_ensure(pa, &pa->sum[l][lo], (hi - lo + 1) * sizeof(pallocsum_t)))
            return -1;
    }
    if (meta_ensure(pa, &pa->chunks[c0], (c1 - c0) * sizeof(struct pallocdata)) ||
        meta_ensure(pa, &pa->scav_index[c0], (c1 - c0) * sizeof(uint16_t)))
        return -1;
    for (uintptr_t c = c0; c < c1; c++)
        if (chunk_grown(pa, c))
            pa_panic("grow: chunk already grown (chunk, npages)", pa->base + c * PALLOC_CHUNK_BYTES, npages);
    for (uintptr_t c = c0; c < c1; c++) {
        for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++) {
            pa->chunks[c].alloc[w] = 0;
            pa->chunks[c].scav[w] = ~0ull; /* fresh memory is unbacked */
            pa->chunks[c].zero[w] = pa->fresh_zero ? ~0ull : 0;
        }
        pa->scav_index[c] = 0;
    }
    pa->npages_grown += npages;
    pa->npages_free += npages;
    pa->npages_scav += npages;
    if (c0 < pa->chunk_lo)
        pa->chunk_lo = c0;
    if (c1 > pa->chunk_hi)
        pa->chunk_hi = c1;
    hints_lower(pa, base, npages);
    for (uintptr_t c = c0; c < c1; c++)
        set_leaf(pa, c, pallocsum_pack(PALLOC_CHUNK_PAGES, PALLOC_CHUNK_PAGES, PALLOC_CHUNK_PAGES));
    return 0;
}

uintptr_t gh_pagealloc_alloc(struct pagealloc *pa, uintptr_t npages, uintptr_t *scav, int *err) {
    return gh_pagealloc_alloc_room(pa, npages, 0, scav, err);
}

/* alloc_range for alloc_run and alloc_at: with tomap, the unbacked pages are left
 * being mapped (*tomap of them, returned too); 0 without. */
static inline __attribute__((always_inline)) uintptr_t take_range(struct pagealloc *pa, uintptr_t page,
                                                                  uintptr_t npages, uintptr_t *tomap) {
    if (!tomap) {
        alloc_range(pa, page, npages, 0);
        return 0;
    }
    return *tomap = alloc_range(pa, page, npages, 1);
}

/* gh_pagealloc_alloc_room and gh_pagealloc_alloc_defer: one body; tomap NULL maps
 * the scavenged pages now. */
static inline __attribute__((always_inline)) uintptr_t alloc_run(struct pagealloc *pa, uintptr_t npages,
                                                                 uintptr_t room, uintptr_t *scav, uintptr_t *tomap,
                                                                 int *err) {
    if (npages == 0 || npages + room < npages || npages + room > pa->nchunks * PALLOC_CHUNK_PAGES) {
        if (err)
            *err = PAGEALLOC_NOSPACE;
        return 0;
    }
    /* The first run of npages + room; the first npages of it are taken (the search
     * hint below stays right: ff is the first free page whatever the size asked). */
    uintptr_t ff, lff, page = find_fit_placed(pa, npages + room, &ff, &lff);
    if (page == PA_NONE) {
        if (npages + room == 1)
            pa->search_addr = pa->limit; /* not even one free page: the heap is full */
        if (err)
            *err = PAGEALLOC_NOSPACE;
        return 0;
    }
    uintptr_t mapped = tomap ? 0 : map_scavenged(pa, page, npages);
    if (mapped == PA_NONE) {
        if (err)
            *err = PAGEALLOC_NOMEM;
        return 0;
    }
    pa->lazy_run = pa->lazy && pa->npages_lazy ? unmark_lazy(pa, page, npages) : 0;
    mapped += pa->lazy_run;
    mapped += take_range(pa, page, npages, tomap);
    hints_raise(pa, page, npages, ff, lff);
    if (scav)
        *scav = mapped;
    if (err)
        *err = PAGEALLOC_OK;
    return addr_of(pa, page);
}

uintptr_t gh_pagealloc_alloc_room(struct pagealloc *pa, uintptr_t npages, uintptr_t room, uintptr_t *scav,
                                  int *err) {
    return alloc_run(pa, npages, room, scav, 0, err);
}

uintptr_t gh_pagealloc_alloc_defer(struct pagealloc *pa, uintptr_t npages, uintptr_t room, uintptr_t *scav,
                                   uintptr_t *tomap, int *err) {
    *tomap = 0;
    return alloc_run(pa, npages, room, scav, tomap, err);
}

/* The first run of pages being mapped (alloc 1, scav 1) in [page, end): its first
 * page, or PA_NONE; *n its length within [page, end). A word at a time. */
static uintptr_t mapping_run(const struct pagealloc *pa, uintptr_t page, uintptr_t end, uintptr_t *n) {
    uintptr_t first = PA_NONE, p = page;
    while (p < end) {
        unsigned k = (unsigned)(p % 64), len = (unsigned)min_up(64 - k, end - p);
        const struct pallocdata *d = &pa->chunks[p >> PALLOC_CHUNK_PAGES_LOG];
        unsigned w = (unsigned)(p % PALLOC_CHUNK_PAGES) / 64;
        uint64_t m = ((d->alloc[w] & d->scav[w]) >> k) & bits_mask(0, len);
        if (first == PA_NONE) {
            if (!m) {
                p += len;
                continue;
            }
            unsigned j = (unsigned)__builtin_ctzll(m);
            first = p + j;
            p += j;
            len -= j;
            m >>= j;
        }
        /* the run goes on through the trailing ones of m (m has no bit at or above len) */
        unsigned ones = ~m ? (unsigned)__builtin_ctzll(~m) : 64;
        p += ones;
        if (ones < len)
            break;
    }
    if (first != PA_NONE)
        *n = p - first;
    return first;
}

uintptr_t gh_pagealloc_mapping_next(const struct pagealloc *pa, uintptr_t base, uintptr_t npages,
                                    uintptr_t *n) {
    static const char what[] = "mapping_next of pages not in use (addr, npages)";
    uintptr_t page = check_in_use(pa, base, 1, what);
    if (npages > (pa->limit - base) >> GOHEAP_PAGE_SHIFT)
        pa_panic(what, base, npages);
    uintptr_t first = mapping_run(pa, page, page + npages, n);
    /* In use up to the run found, or through the end: only what was scanned, so that a
     * taker going on from each run's end walks its pages once in all (a run checked
     * whole at every call: a 1 GiB run of alternating pieces, 147 ms of walks). */
    check_in_use(pa, base, first == PA_NONE ? npages : first + *n - page, what);
    return first == PA_NONE ? 0 : addr_of(pa, first);
}

void gh_pagealloc_mapping_done(struct pagealloc *pa, uintptr_t base, uintptr_t npages) {
    uintptr_t page = check_in_use(pa, base, npages, "mapping_done of pages not in use (addr, npages)");
    FOR_EACH_PIECE(page, npages, c, i, n) {
        if (gh_pallocbits_count(pa->chunks[c].scav, i, n) != n)
            pa_panic("mapping_done of pages not being mapped (addr, npages)",
                     addr_of(pa, c * PALLOC_CHUNK_PAGES + i), n);
        gh_pallocbits_clear(pa->chunks[c].scav, i, n);
    }
    pa->npages_mapping -= npages;
}

uintptr_t gh_pagealloc_free_mapping(struct pagealloc *pa, uintptr_t base, uintptr_t npages) {
    uintptr_t page = check_in_use(pa, base, npages, "free_mapping of pages not in use (addr, npages)");
    uintptr_t total = 0;
    FOR_EACH_PIECE(page, npages, c, i, n) {
        struct pallocdata *d = &pa->chunks[c];
        /* Still unbacked: released, and known zero once mapped where a map zero-fills
         * (fresh_zero: page-table mode; lazily released pages were unmarked at the
         * take). Region mode's hold what they held (scav 1, zero 0, as before the take). */
        for (unsigned j = i; pa->fresh_zero && j < i + n;) {
            unsigned k = j % 64, len = (unsigned)min_up(64 - k, i + n - j);
            d->zero[j / 64] |= d->scav[j / 64] & bits_mask(k, len);
            j += len;
        }
        unsigned sc = gh_pallocbits_count(d->scav, i, n);
        gh_pallocbits_clear(d->alloc, i, n);
        pa->scav_index[c] += (uint16_t)(n - sc);
        if (n > sc)
            scav_cursor_raise(pa, c);
        total += sc;
    }
    pa->npages_mapping -= total;
    pa->npages_free += npages;
    pa->npages_scav += total;
    hints_lower(pa, base, npages);
    update_range(pa, page, npages, 1);
    return total;
}

/* gh_pagealloc_alloc_at and gh_pagealloc_alloc_at_defer: one body; tomap NULL maps
 * the scavenged pages now. */
static inline __attribute__((always_inline)) uintptr_t alloc_at(struct pagealloc *pa, uintptr_t base,
                                                                uintptr_t npages, uintptr_t *scav, uintptr_t *tomap,
                                                                int *err) {
    if (err)
        *err = PAGEALLOC_NOSPACE;
    if (npages == 0 || base % GOHEAP_PAGE_SIZE || base < pa->base || base >= pa->limit ||
        npages > (pa->limit - base) >> GOHEAP_PAGE_SHIFT)
        return 0;
    uintptr_t page = page_of(pa, base);
    FOR_EACH_PIECE(page, npages, c, i, n) {
        if (!meta_is_mapped(pa, &pa->chunks[c]) || !meta_is_mapped(pa, &pa->sum[LEAF][c]) ||
            !chunk_grown(pa, c) || gh_pallocbits_any_set(pa->chunks[c].alloc, i, n))
            return 0;
    }
    uintptr_t mapped = tomap ? 0 : map_scavenged(pa, page, npages);
    if (mapped == PA_NONE) {
        if (err)
            *err = PAGEALLOC_NOMEM;
        return 0;
    }
    pa->lazy_run = pa->lazy && pa->npages_lazy ? unmark_lazy(pa, page, npages) : 0;
    mapped += pa->lazy_run;
    /* the hint stays valid: only free pages became used */
    mapped += take_range(pa, page, npages, tomap);
    if (scav)
        *scav = mapped;
    if (err)
        *err = PAGEALLOC_OK;
    return base;
}

uintptr_t gh_pagealloc_alloc_at(struct pagealloc *pa, uintptr_t base, uintptr_t npages, uintptr_t *scav,
                                int *err) {
    return alloc_at(pa, base, npages, scav, 0, err);
}

uintptr_t gh_pagealloc_alloc_at_defer(struct pagealloc *pa, uintptr_t base, uintptr_t npages, uintptr_t *scav,
                                      uintptr_t *tomap, int *err) {
    *tomap = 0;
    return alloc_at(pa, base, npages, scav, tomap, err);
}

uintptr_t gh_pagealloc_alloc_backed(struct pagealloc *pa, uintptr_t base, uintptr_t maxpages) {
    if (maxpages == 0 || base % GOHEAP_PAGE_SIZE || base < pa->base || base >= pa->limit)
        return 0;
    uintptr_t left = (pa->limit - base) >> GOHEAP_PAGE_SHIFT;
    uintptr_t max = maxpages < left ? maxpages : left, page = page_of(pa, base), k = 0, c = PA_NONE;
    while (k < max) {
        uintptr_t p = page + k;
        if (p >> PALLOC_CHUNK_PAGES_LOG != c) { /* a new chunk: grown, its metadata mapped */
            c = p >> PALLOC_CHUNK_PAGES_LOG;
            if (!meta_is_mapped(pa, &pa->chunks[c]) || !meta_is_mapped(pa, &pa->sum[LEAF][c]) ||
                !chunk_grown(pa, c))
                break;
        }
        const struct pallocdata *d = &pa->chunks[c];
        unsigned i = (unsigned)(p % PALLOC_CHUNK_PAGES), w = i / 64, b = i % 64;
        /* in use or released (lazily too: scav set) ends the run */
        uint64_t stop = (d->alloc[w] | d->scav[w]) >> b;
        unsigned run = stop ? (unsigned)__builtin_ctzll(stop) : 64 - b;
        k += run;
        if (run < 64 - b)
            break;
    }
    if (k > max)
        k = max;
    if (k)
        alloc_range(pa, page, k, 0);
    return k;
}

uintptr_t gh_pagealloc_alloc_unmapped(struct pagealloc *pa, uintptr_t npages, uintptr_t *lazy,
                                     uintptr_t *unbacked, int *err) {
    *err = PAGEALLOC_NOSPACE;
    if (npages == 0 || npages > pa->nchunks * PALLOC_CHUNK_PAGES)
        return 0;
    uintptr_t ff, lff, page = find_fit_placed(pa, npages, &ff, &lff);
    if (page == PA_NONE)
        return 0;
    /* Lazily released pages first (scav 1, zero 0: still backed), then the others
     * still marked scavenged: unbacked. The rest were free and backed. */
    *lazy = pa->lazy && pa->npages_lazy ? unmark_lazy(pa, page, npages) : 0;
    *unbacked = unmark_scav(pa, page, npages);
    alloc_range(pa, page, npages, 0);
    hints_raise(pa, page, npages, ff, lff);
    *err = PAGEALLOC_OK;
    return addr_of(pa, page);
}

void gh_pagealloc_free(struct pagealloc *pa, uintptr_t base, uintptr_t npages) {
    uintptr_t page = check_in_use(pa, base, npages, "free of pages not in use (addr, npages)");
    if (npages == 1) { /* free1: one bit, one chunk */
        uintptr_t c = page >> PALLOC_CHUNK_PAGES_LOG;
        unsigned i = (unsigned)(page % PALLOC_CHUNK_PAGES);
        pa->chunks[c].alloc[i / 64] &= ~(1ull << (i % 64));
        pa->scav_index[c]++;
        scav_cursor_raise(pa, c);
    } else {
        FOR_EACH_PIECE(page, npages, c, i, n) {
            gh_pallocbits_clear(pa->chunks[c].alloc, i, n);
            pa->scav_index[c] += (uint16_t)n;
            scav_cursor_raise(pa, c);
        }
    }
    pa->npages_free += npages;
    hints_lower(pa, base, npages);
    update_range(pa, page, npages, 1);
}

/* ---- Scavenging ---------------------------------------------------------------------------------- */
uintptr_t gh_pagealloc_scavenge_take(struct pagealloc *pa, uintptr_t max_pages, uintptr_t *npages) {
    const uintptr_t per_frame = FRAME / sizeof(uint16_t); /* index entries per frame */
    if (max_pages == 0)
        return 0;
    if (max_pages > PALLOC_CHUNK_PAGES)
        max_pages = PALLOC_CHUNK_PAGES;
    while (pa->scav_chunk > pa->chunk_lo) {
        uintptr_t c = pa->scav_chunk - 1;
        if (!meta_is_mapped(pa, &pa->scav_index[c])) { /* a hole never grown */
            pa->scav_chunk = c - c % per_frame;
            continue;
        }
        if (pa->scav_index[c] == 0) {
            pa->scav_chunk = c;
            continue;
        }
        unsigned n, i = gh_pallocbits_find_scavenge(&pa->chunks[c], (unsigned)max_pages, &n);
        if (i == PALLOC_NOT_FOUND)
            pa_panic("scavenge index promised free pages (chunk, count)", pa->base + c * PALLOC_CHUNK_BYTES,
                     pa->scav_index[c]);
        /* In use while it is released: alloc 1, zero 0, as for any allocation. A
         * free page may be known zero while backed (mapped fresh just before a map
         * failure ended its run): done sets zero again only where the release zeroes,
         * so a lazy release leaves it lazy (scav 1, zero 0: backed), never "unbacked". */
        gh_pallocbits_set(pa->chunks[c].alloc, i, n);
        gh_pallocbits_clear(pa->chunks[c].zero, i, n);
        pa->scav_index[c] -= (uint16_t)n;
        pa->npages_free -= n;
        pa->npages_scavenging += n;
        update_range(pa, c * PALLOC_CHUNK_PAGES + i, n, 0);
        *npages = n;
        return addr_of(pa, c * PALLOC_CHUNK_PAGES + i);
    }
    return 0;
}

/* A taken run goes back free and released: zero, known to read zero (unbacked); else
 * dirty, and with pa->lazy still backed (released lazily). */
static void release_done(struct pagealloc *pa, uintptr_t base, uintptr_t npages, int zero,
                         const char *what) {
    uintptr_t page = check_in_use(pa, base, npages, what);
    if (npages > pa->npages_scavenging)
        pa_panic("scavenge_done of more pages than taken (base, npages)", base, npages);
    FOR_EACH_PIECE(page, npages, c, i, n) {
        gh_pallocbits_clear(pa->chunks[c].alloc, i, n);
        gh_pallocbits_set(pa->chunks[c].scav, i, n);
        if (zero)
            gh_pallocbits_set(pa->chunks[c].zero, i, n);
    }
    pa->npages_scavenging -= npages;
    pa->npages_free += npages;
    pa->npages_scav += npages;
    if (pa->lazy && !zero)
        pa->npages_lazy += npages;
    hints_lower(pa, base, npages);
    update_range(pa, page, npages, 1);
}

void gh_pagealloc_scavenge_done(struct pagealloc *pa, uintptr_t base, uintptr_t npages) {
    release_done(pa, base, npages, (int)pa->release_zero, "scavenge_done of pages not taken (addr, npages)");
}

uintptr_t gh_pagealloc_lazy_take(struct pagealloc *pa, uintptr_t max_pages, uintptr_t *npages) {
    if (max_pages == 0 || pa->npages_lazy == 0)
        return 0;
    if (max_pages > PALLOC_CHUNK_PAGES)
        max_pages = PALLOC_CHUNK_PAGES;
    for (uintptr_t c = pa->chunk_hi; c-- > pa->chunk_lo;) {
        if (!meta_is_mapped(pa, &pa->chunks[c]) || !meta_is_mapped(pa, &pa->sum[LEAF][c]) ||
            !chunk_grown(pa, c))
            continue;
        struct pallocdata *d = &pa->chunks[c];
        for (unsigned w = PALLOC_CHUNK_WORDS; w-- > 0;) {
            uint64_t lz = ~d->alloc[w] & d->scav[w] & ~d->zero[w];
            if (!lz)
                continue;
            /* The highest lazy page, then down while the pages stay lazy. */
            unsigned top = w * 64 + 63 - (unsigned)__builtin_clzll(lz), lo = top;
            while (lo > 0 && top - lo + 1 < max_pages) {
                unsigned j = lo - 1;
                if (!((~d->alloc[j / 64] & d->scav[j / 64] & ~d->zero[j / 64]) >> (j % 64) & 1))
                    break;
                lo = j;
            }
            unsigned n = top - lo + 1;
            gh_pallocbits_set(d->alloc, lo, n);
            gh_pallocbits_clear(d->scav, lo, n); /* in use: scav 0, zero 0 */
            pa->npages_free -= n;
            pa->npages_scav -= n;
            pa->npages_lazy -= n;
            pa->npages_scavenging += n;
            update_range(pa, c * PALLOC_CHUNK_PAGES + lo, n, 0);
            *npages = n;
            return addr_of(pa, c * PALLOC_CHUNK_PAGES + lo);
        }
    }
    pa_panic("lazy_take: no lazily released page, counter says (pages, 0)", pa->npages_lazy, 0);
}

void gh_pagealloc_lazy_done(struct pagealloc *pa, uintptr_t base, uintptr_t npages) {
    release_done(pa, base, npages, 1, "lazy_done of pages not taken (addr, npages)");
}

void gh_pagealloc_free_unbacked(struct pagealloc *pa, uintptr_t base, uintptr_t npages) {
    pa->npages_scavenging += npages; /* in use, taken as a scavenge would take it */
    release_done(pa, base, npages, 1, "free_unbacked of pages not in use (addr, npages)");
}

/* ---- Page cache ------------------------------------------------------------------------------------ */
int gh_pagecache_refill(struct pagealloc *pa, struct pagecache *c) {
    if (c->cache != 0)
        pa_panic("gh_pagecache_refill of a non-empty cache (base, bits)", c->base, c->cache);
    uintptr_t ff, page = find_fit(pa, 1, &ff);
    if (page == PA_NONE) {
        pa->search_addr = pa->limit;
        return -1;
    }
    uintptr_t ch = page >> PALLOC_CHUNK_PAGES_LOG;
    unsigned w = (unsigned)(page % PALLOC_CHUNK_PAGES) / 64;
    struct pallocdata *d = &pa->chunks[ch];
    uint64_t cache = ~d->alloc[w], scav = d->scav[w] & cache, zero = d->zero[w] & cache;
    d->alloc[w] = ~0ull;
    d->scav[w] &= ~cache; /* (pages in use being mapped keep theirs) */
    d->zero[w] = 0;
    unsigned nfree = gh_popcount64(cache);
    unsigned nscav = gh_popcount64(scav);
    pa->npages_free -= nfree;
    pa->npages_scav -= nscav;
    pa->scav_index[ch] -= (uint16_t)(nfree - nscav);
    update_chunk(pa, ch);
    uintptr_t wpage = ch * PALLOC_CHUNK_PAGES + w * 64;
    c->base = addr_of(pa, wpage);
    c->cache = cache;
    c->scav = scav;
    c->zero = zero;
    c->lazy = pa->lazy ? scav & ~zero : 0;
    pa->npages_lazy -= gh_popcount64(c->lazy);
    /* page was the first free page at or above the hint: below the window's end,
     * everything is now in use. */
    if (addr_of(pa, wpage + 64) > pa->search_addr)
        pa->search_addr = addr_of(pa, wpage + 64);
    return 0;
}

uintptr_t gh_pagecache_alloc(struct pagecache *c, unsigned npages, uintptr_t *scav, int *err) {
    unsigned i;
    if (npages == 1)
        i = c->cache ? (unsigned)__builtin_ctzll(c->cache) : 64;
    else if (npages >= 1 && npages <= 64)
        i = bitrange_find64(c->cache, npages);
    else
        i = 64;
    if (i >= 64) {
        if (err)
            *err = PAGEALLOC_NOSPACE;
        return 0;
    }
    uint64_t m = bits_mask(i, npages), s = c->scav & m & ~c->lazy; /* lazy ones stay backed */
    unsigned nscav = gh_popcount64(c->scav & m);
    while (s) {
        unsigned lo = (unsigned)__builtin_ctzll(s);
        uint64_t x = s >> lo;
        unsigned len = x == ~0ull ? 64 : (unsigned)__builtin_ctzll(~x);
        uintptr_t a = c->base + ((uintptr_t)lo << GOHEAP_PAGE_SHIFT);
        if (gh_sys_map((void *)a, (uintptr_t)len << GOHEAP_PAGE_SHIFT) != 0) {
            if (err)
                *err = PAGEALLOC_NOMEM;
            return 0;
        }
        c->scav &= ~bits_mask(lo, len);
        s &= ~bits_mask(lo, len);
    }
    c->cache &= ~m;
    c->dirty = npages - gh_popcount64(c->zero & m);
    c->lazy_run = gh_popcount64(c->lazy & m);
    c->scav &= ~m;
    c->lazy &= ~m;
    c->zero &= ~m;
    if (scav)
        *scav = nscav;
    if (err)
        *err = PAGEALLOC_OK;
    return c->base + ((uintptr_t)i << GOHEAP_PAGE_SHIFT);
}

void gh_pagecache_flush(struct pagealloc *pa, struct pagecache *c) {
    if (c->cache == 0) {
        c->base = 0;
        c->scav = 0;
        c->zero = 0;
        c->lazy = 0;
        return;
    }
    uintptr_t page = page_of(pa, c->base);
    uintptr_t ch = page >> PALLOC_CHUNK_PAGES_LOG;
    unsigned w = (unsigned)(page % PALLOC_CHUNK_PAGES) / 64;
    struct pallocdata *d = &pa->chunks[ch];
    if ((d->alloc[w] & c->cache) != c->cache || (c->scav & ~c->cache) || (c->zero & ~c->cache) ||
        (c->lazy & ~c->scav))
        pa_panic("gh_pagecache_flush: cached pages not in use in the tree (base, bits)", c->base, c->cache);
    d->alloc[w] &= ~c->cache;
    d->scav[w] |= c->scav;
    d->zero[w] |= c->zero;
    unsigned nfree = gh_popcount64(c->cache);
    unsigned nscav = gh_popcount64(c->scav);
    pa->npages_free += nfree;
    pa->npages_scav += nscav;
    pa->npages_lazy += gh_popcount64(c->lazy);
    pa->scav_index[ch] += (uint16_t)(nfree - nscav);
    if (nfree > nscav)
        scav_cursor_raise(pa, ch);
    unsigned lo = (unsigned)__builtin_ctzll(c->cache), hi = 63 - (unsigned)__builtin_clzll(c->cache);
    hints_lower(pa, c->base + ((uintptr_t)lo << GOHEAP_PAGE_SHIFT), hi - lo + 1);
    update_chunk(pa, ch);
    c->base = 0;
    c->cache = 0;
    c->scav = 0;
    c->zero = 0;
    c->lazy = 0;
}

/* ---- Queries and validation ----------------------------------------------------------------------- */
int gh_pagealloc_page_in_use(const struct pagealloc *pa, uintptr_t addr) {
    if (addr < pa->base || addr >= pa->limit)
        return 0;
    uintptr_t page = page_of(pa, addr), c = page >> PALLOC_CHUNK_PAGES_LOG;
    if (!meta_is_mapped(pa, &pa->chunks[c]))
        return 0;
    unsigned i = (unsigned)(page % PALLOC_CHUNK_PAGES);
    return (int)((pa->chunks[c].alloc[i / 64] >> (i % 64)) & 1);
}

static unsigned check_fail(unsigned bad, const char *what, uint64_t a, uint64_t b) {
    if (bad < 8)
        pa_log(what, a, b);
    return bad + 1;
}

/* A hint's invariant in one chunk (base cbase): pages from page `from` on that lie
 * below hint are in use. */
static unsigned check_hint(unsigned bad, const struct pallocdata *d, uintptr_t cbase, unsigned from,
                           uintptr_t hint, const char *what) {
    for (unsigned i = from; i < PALLOC_CHUNK_PAGES; i++) {
        uintptr_t a = cbase + ((uintptr_t)i << GOHEAP_PAGE_SHIFT);
        if (a >= hint)
            break;
        if (!((d->alloc[i / 64] >> (i % 64)) & 1))
            return check_fail(bad, what, a, hint);
    }
    return bad;
}

unsigned gh_pagealloc_check(const struct pagealloc *pa) {
    unsigned bad = 0;
    uintptr_t nfree = 0, nscav = 0, ngrown = 0, nlazy = 0, nmapping = 0;
    for (uintptr_t c = pa->chunk_lo; c < pa->chunk_hi; c++) {
        if (!meta_is_mapped(pa, &pa->chunks[c]) || !meta_is_mapped(pa, &pa->scav_index[c]) ||
            !meta_is_mapped(pa, &pa->sum[PALLOC_LEVELS - 1][c]) || !chunk_grown(pa, c))
            continue;
        const struct pallocdata *d = &pa->chunks[c];
        uintptr_t cbase = pa->base + c * PALLOC_CHUNK_BYTES;
        unsigned unscav_free = 0;
        ngrown += PALLOC_CHUNK_PAGES;
        for (unsigned w = 0; w < PALLOC_CHUNK_WORDS; w++) {
            nmapping += gh_popcount64(d->alloc[w] & d->scav[w]); /* in use, being mapped */
            if (d->alloc[w] & d->zero[w])
                bad = check_fail(bad, "check: page both in use and known zero (chunk, word)", cbase, w);
            nfree += gh_popcount64(~d->alloc[w]);
            nscav += gh_popcount64(d->scav[w] & ~d->alloc[w]);
            nlazy += pa->lazy ? gh_popcount64(d->scav[w] & ~d->zero[w] & ~d->alloc[w]) : 0;
            unscav_free += gh_popcount64(~d->alloc[w] & ~d->scav[w]);
        }
        if (pa->sum[PALLOC_LEVELS - 1][c] != gh_pallocbits_summarize(d->alloc))
            bad = check_fail(bad, "check: stale leaf summary (chunk, sum)", cbase, pa->sum[PALLOC_LEVELS - 1][c]);
        if (pa->scav_index[c] != unscav_free)
            bad = check_fail(bad, "check: wrong scavenge index (chunk, index)", cbase, pa->scav_index[c]);
        if (unscav_free && c >= pa->scav_chunk)
            bad = check_fail(bad, "check: scavenge cursor below a candidate (chunk, cursor)", cbase, pa->scav_chunk);
        /* the hints: no free page below search_addr, nor past the window below large_addr */
        bad = check_hint(bad, d, cbase, 0, pa->search_addr, "check: free page below search_addr (page, search_addr)");
        bad = check_hint(bad, d, cbase, c == 0 ? PALLOC_SMALL_FIRST_PAGES : 0, pa->large_addr,
                         "check: free page past the window below large_addr (page, large_addr)");
    }
    /* Interior levels: each entry is the merge of its 8 children. */
    if (pa->chunk_lo < pa->chunk_hi) {
        for (int l = PALLOC_LEVELS - 2; l >= 0; l--) {
            uintptr_t lo = level_index(pa->chunk_lo, (unsigned)l);
            uintptr_t hi = level_index(pa->chunk_hi - 1, (unsigned)l);
            for (uintptr_t p = lo; p <= hi; p++) {
                if (!meta_is_mapped(pa, &pa->sum[l + 1][p * PALLOC_FANOUT]))
                    continue;
                pallocsum_t want = gh_pallocsum_merge(&pa->sum[l + 1][p * PALLOC_FANOUT], level_log_pages[l + 1]);
                if (pa->sum[l][p] != want)
                    bad = check_fail(bad, "check: stale summary (level, entry)", (uint64_t)l, p);
            }
        }
    }
    /* Metadata: meta_mapped counts the mapped frames; placed mode, every mapped frame
     * is reserved and meta_reserved counts the reserved ones. */
    uintptr_t nwords = (pa->meta_span / FRAME + 63) / 64, fm = 0, fr = 0;
    for (uintptr_t w = 0; w < nwords; w++) {
        uint64_t m = pa->meta_mapped_bits[w];
        fm += gh_popcount64(m);
        if (pa->meta_resv_bits) {
            fr += gh_popcount64(pa->meta_resv_bits[w]);
            if (m & ~pa->meta_resv_bits[w])
                bad = check_fail(bad, "check: metadata frame mapped, not reserved (frames from, bits)",
                                 w * 64, m & ~pa->meta_resv_bits[w]);
        }
    }
    if (fm * FRAME != pa->meta_mapped)
        bad = check_fail(bad, "check: metadata mapped (counted, counter)", fm * FRAME, pa->meta_mapped);
    if (pa->meta_resv_bits ? fr * FRAME != pa->meta_reserved : pa->meta_reserved != pa->meta_span)
        bad = check_fail(bad, "check: metadata reserved (counted, counter)",
                         pa->meta_resv_bits ? fr * FRAME : pa->meta_span, pa->meta_reserved);
    if (ngrown != pa->npages_grown)
        bad = check_fail(bad, "check: grown pages (counted, counter)", ngrown, pa->npages_grown);
    if (nfree != pa->npages_free)
        bad = check_fail(bad, "check: free pages (counted, counter)", nfree, pa->npages_free);
    if (nscav != pa->npages_scav)
        bad = check_fail(bad, "check: scavenged pages (counted, counter)", nscav, pa->npages_scav);
    if (nmapping != pa->npages_mapping)
        bad = check_fail(bad, "check: pages in use and scavenged (counted, being mapped)", nmapping,
                         pa->npages_mapping);
    if (nlazy != pa->npages_lazy)
        bad = check_fail(bad, "check: lazily released pages (counted, counter)", nlazy, pa->npages_lazy);
    return bad;
}
