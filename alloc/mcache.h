/* alloc/mcache.h: the per-CPU cache (Go's mcache): one span per span class, the tiny
 * block, the CPU's page cache and its statistics counters. Its CPU touches it pinned;
 * other CPUs drain it (empty parked spans, the page cache) under its drain lock, and
 * goheap_sys_each_cpu runs full flushes on a CPU's behalf when it is not pinned.
 *
 * The drain lock (mcache.lock, rank GH_RANK_CACHE, below every other lock) is the one
 * mechanism by which anybody takes memory out of a per-CPU cache without the owner's
 * cooperation (an idle thread blocked in epoll_wait never runs queued work):
 *   - the owner holds it around everything that changes its parked arrays or its page
 *     cache (refill, release_all, the large path's page-cache use); its frees into a
 *     parked span do not take it: they write freeBits with a release store, which
 *     the drainer reads with acquire loads (free.c, parked_live in mcache.c);
 *   - a drainer (gh_mcache_drain, any CPU, pinned on its own slot) holds it to find
 *     the parked spans with no live object, take them and the page cache. Only frees
 *     change a parked span outside the lock, so one seen empty stays empty. It takes
 *     another CPU's lock only if it is free (trylock): it never waits for an owner.
 * The owner's fast paths never take it: they touch only the current span of each
 * class (alloc[spc]), which drains never touch (the exemption that keeps a one-object
 * malloc/free loop from retiring a span at every free). A per-CPU cache added later
 * (the large-span cache) lives in this struct, is changed by its owner under this
 * lock, and is emptied by gh_mcache_drain. */
#ifndef GOHEAP_MCACHE_H
#define GOHEAP_MCACHE_H

#include "knobs.h"
#include "lockrank.h"
#include "mheap.h"
#include "mspan.h"
#include "pagealloc.h"
#include "work.h"

/* Tiny blocks: count = live tiny objects in the block, plus GH_TINY_BIAS while the
 * block is some CPU's current tiny block (so frees racing with allocation can never
 * drive it to zero). 64 > 16, the most objects a 16 B block can hold. */
#define GH_TINY_BIAS 64u
/* Tiny blocks are GOHEAP_TINY_SIZE (16) bytes: block index = offset >> GH_TINY_SHIFT. */
#define GH_TINY_SHIFT 4
_Static_assert(1u << GH_TINY_SHIFT == GOHEAP_TINY_SIZE, "tiny block size");
/* mspan.tinyends holds two 16-bit masks per block: the bytes where a tiny object ends
 * (low half: usable_size, realloc's copy) and those where one starts (from this bit
 * on: free and realloc refuse any other byte of a live block). */
#define GH_TINY_STARTS 16

/* Full spans a CPU keeps owning ("parked") per span class, so that frees into them
 * stay local (no atomics) and their free slots are reused without mcentral. Like a
 * mimalloc thread's full-page queue, but bounded: 16 spans per class keep a working
 * set of a few thousand small objects per class local; beyond that the longest
 * unswept (at the sweep cursor, struct gh_parked) goes to mcentral. Measured
 * (bench/suite, 2 threads, scale 0.3), when every refill swept every parked span: larson 0.76 s with 4 and a 1/4
 * threshold, 0.54 s with 8, 0.63 s with 16; pareto 0.32 -> 0.25 s. With the bounded
 * sweep (GH_PARK_SWEEP) 16 pays: callgrind instructions per pair, 2 threads, scale
 * 0.05, 8 -> 16: larson 113 -> 104, pareto 99 -> 91, rptest 165 -> 148 (pareto's
 * 32 B class alone holds ~2000 live objects, 8 spans of 256, which 8 parked spans
 * could not keep local); peak RSS within run-to-run spread (larson 5.4-6.0 -> 5.7-6.4
 * MiB, pareto 4.0-4.5 -> 3.9-4.4). */
#define GH_PARK_MAX 16

/* Refills of a class that skip the search for the richest parked span after a search
 * found none with enough room (they go on to the sweep of the spans at the cursor,
 * which finds local frees too). Where the frees are remote the search always fails
 * (room counts swept frees only) and read all 16 parked spans for nothing. callgrind
 * per pair, scale 0.05, 0 / 1 / 3 / 7: rptest 2 threads 181.9 / 177.6 / 173.3 /
 * 171.7, pareto 2 threads 55.0 / 54.9 / 54.4 / 54.3, larson 2 threads 57.5 / 57.3 /
 * 57.3 / 57.5; 1 thread: rptest 69.6 / 69.3 / 69.1 / 68.6, pareto 55.3 / 55.5 / 54.5
 * / 54.7, glibcthread 52.1 / 52.1 / 52.0 / 52.2. 3: pareto in one process x0.971,
 * the kernel's cross-CPU churn at 2 CPUs 182.7 -> 181.0 instructions a pair. */
#define GH_RICH_BACKOFF 3

/* A CPU's parked spans of one class (owner == that CPU, curword == GH_NO_WORD), in an
 * array rather than a list through the spans: refill's look for the richest reads
 * each parked span's hot line alone, and the loads are independent (the list's walk
 * read each span's link line too, one span after the other: half of refill's time in
 * rptest at 1 thread, perf, and 59 K of its D1 misses, cachegrind).
 * One more slot than GH_PARK_MAX: a refill parks its full span before it trims.
 * Refill sweeps the remote frees of GH_PARK_SWEEP spans from the cursor on, and
 * moves it past them, so the span at the cursor is the longest unswept: a cursor,
 * not a rotation of the array, which cost rptest +4.6% instructions a pair at 2
 * threads (callgrind, scale 0.05: 184 -> 192). */
struct gh_parked {
    uint16_t n;
    uint16_t cursor; /* where the next sweep starts (< n, or taken as 0) */
    uint8_t rich_skip; /* refills left before the next search for the richest (GH_RICH_BACKOFF) */
    struct mspan *s[GH_PARK_MAX + 1];
};

/* Every 1024th refill of a CPU (at least ~1.3 K allocations, typically 64 K; a large
 * allocation from the heap counts as a refill) polls the paced background step, which
 * returns at once unless its 1% duty cycle allows work. */
#define GH_REFILLS_PER_BG_POLL 1024
/* Every 512th refill the owner looks at its parked spans and gives back the ones that
 * were empty at the previous look too (an amortised bound on how long an emptied span
 * stays here while its CPU is busy: home within 2 looks, 1024 refills, issue 10's
 * bound). One look (every 1024, giving back whatever was empty) returned the spans
 * that a CPU whose objects are all freed by another CPU refills from next, and set
 * them up again: the kernel's cross-CPU churn (bench/kernel/RESULTS.md, x86_64, SMP=2,
 * single-threaded TCG) took the heap lock 7.1 and the span-struct (meta) lock 12.4
 * times per 1000 pairs, with two looks 1.4 and 2.5 (guest instructions per pair
 * 285 -> 279). An empty span the owner takes back within 512 refills now stays. */
#define GH_REFILLS_PER_LOOK 512
/* Parked spans a refill sweeps for remote frees when none has enough local frees
 * (mcache.c); the others wait their turn (each swept span goes to the back), so all
 * are swept within GH_PARK_MAX / 2 refills. Sweeping every parked span at every
 * refill cost pareto 6.4 sweeps of ~57 instructions per locked refill (callgrind) and
 * grows with GH_PARK_MAX; 2 keeps larson (remote frees into parked spans) at its
 * former 1.8 sweeps per refill. */
#define GH_PARK_SWEEP 2

/* Per-CPU cache of free large spans (mcache.lcache), by page count. A large object of
 * at most GH_LCACHE_MAX_PAGES pages (256 KiB, TCMalloc's bound for its per-CPU
 * caches) freed on a CPU is kept whole (pages backed, span struct, span-map entries),
 * and the next large malloc of the same page count on that CPU takes it back without
 * the heap lock and without writing the span map. At most GH_LCACHE_CPU_PAGES pages
 * (4 MiB, 16 such objects of 256 KiB) and GH_LCACHE_BIN_SPANS spans of one page
 * count per CPU: a free that would go beyond goes to the heap's large span cache (mheap.h, GH_HCACHE_*), like a larger span. The bytes count as free (HeapIdle) and against the memory limit; the
 * cache is drained by gh_mcache_release_all (goheap_flush, the last resort,
 * goheap_free_os_memory: gh_heap_flush_mcache, spans inside the page cache's window
 * through the window), before the memory limit's release and by the background
 * scavenger. Measured (callgrind, LD_PRELOAD): a 64 KiB pair 1,731 instructions
 * through the page heap, 186 from this cache. */
#define GH_LCACHE_MAX_PAGES 32
#define GH_LCACHE_CPU_PAGES 512
/* At most GH_LCACHE_BIN_SPANS spans of one page count per CPU (a fuller bin sends
 * the free on, as the byte bound does). Without it a bin fills by chance: realloc's
 * vectors free and allocate 5-10 page spans in equal numbers over their lives, but
 * the bins' counts drift, so the cache filled up to its 512 pages with spans of
 * counts nobody was asking for at that moment while the page heap grew for the
 * others. bench/suite realloc (LD_PRELOAD, scale 1, median VmHWM of 11 interleaved
 * runs, 1 / 2 threads): no bound 15.0 / 26.4 MiB, 8 spans 13.6 / 23.3, 4 spans
 * 13.4 / 22.9, 2 spans 13.4 / 22.4, no cache at all 13.1 / 22.5; callgrind, 1
 * thread, scale 0.2: 225.8 M instructions -> 221.5 M with 4 (2: 220.6 M, 8: 223.2 M).
 * 4 keeps a few objects of one size cycling through the cache (a loop that frees a
 * handful of buffers and allocates them again) at the cost of 2 at the most. */
#define GH_LCACHE_BIN_SPANS 4
#define GH_LCACHE_MAX_BYTES ((uintptr_t)GH_LCACHE_MAX_PAGES << GOHEAP_PAGE_SHIFT)

struct gh_lcache {
    struct mspan *bin[GH_LCACHE_MAX_PAGES + 1]; /* spans of n pages, linked by next */
    /* Pages cached, <= limit. Written only on the owner's CPU (pinned, or through
     * goheap_sys_each_cpu), read by gh_heap_lcached_bytes on any. */
    uintptr_t pages;
    /* GH_LCACHE_CPU_PAGES; 0 in gh_emptycache and with scavenge=eager (freed pages go
     * back to the platform at once): one bound for the put to test. Set at creation. */
    uintptr_t limit;
    uint8_t nbin[GH_LCACHE_MAX_PAGES + 1]; /* spans in bin[n], <= GH_LCACHE_BIN_SPANS */
};

/* Size classes with a fast entry (mcache.fe): 0 (never installed: the entry every size
 * names in instrumented mode) to 32, the class of GOHEAP_SMALL_SIZE_MAX (1024 B;
 * checked at goheap_init). */
#define GH_FAST_CLASSES 33

/* malloc's fast path state for one size class up to GOHEAP_SMALL_SIZE_MAX: a mirror of
 * c->alloc[class << 1] (plain malloc's span class) and of that span's word state, so
 * that malloc reads the cache, the word and nothing else (the span struct only on a
 * miss). 32 bytes: mcache.fidx holds 4 * class, and the fast path finds the entry at
 * fe + fidx[size] * 8 (one scaled index). Written only by gh_mcache_set (the span)
 * and gh_mcache_sync_word (its word changed while it stays current); the validator
 * checks the mirror. */
struct gh_fastent {
    uint64_t *wp;        /* == s->wbits: the current word (&gh_full_word: none) */
    uintptr_t wordbase;  /* == s->wordbase */
    uintptr_t welemsize; /* == s->welemsize */
    struct mspan *s;     /* == alloc[class << 1] */
};
_Static_assert(sizeof(struct gh_fastent) == 32, "fidx holds 4 * class: entries of 32 bytes");

struct mcache {
    /* malloc's fast path for size <= 1024: fe[fidx[size] / 4] mirrors alloc[the span
     * class plain malloc uses for size] (below). Before these, direct[(size + 7) / 8]
     * named the span, and malloc read its word pointer, base and size from it: the
     * entry takes the rounding of the size (two instructions) and the span's load off
     * the pair (bench/RESULTS.md, "malloc's fast entries"). fidx is the same in every
     * real cache (gh_fastidx, all zeros in instrumented mode and in gh_emptycache, whose
     * entries all name no word). */
    struct gh_fastent fe[GH_FAST_CLASSES] GH_ALIGNED(GH_CACHELINE);
    /* The profiler (profile.h): bytes this CPU may still allocate before the next
     * sampled allocation; malloc's fast path subtracts each size and samples when it
     * goes negative. INT64_MAX: off. */
    int64_t next_sample;
    uint8_t fidx[GOHEAP_SMALL_SIZE_MAX + 1];
    struct mspan *alloc[GH_NUM_SPC]; /* gh_emptyspan when none */
    /* Bit spc: parked[spc] may be non-empty (set when a span is parked, cleared by the
     * looks when they find the array empty and by release_all), so that a look (and
     * release_all) visits only those classes (pareto: ~1,100 of a look's ~2,500
     * instructions went to the 136 lists). Protected by lock. */
    uint64_t parkedmask[(GH_NUM_SPC + 63) / 64];
    /* Statistics, written only by this CPU, summed on read (stats.c). */
    uint64_t nmalloc[GH_NUM_SPC]; /* small objects (and tiny blocks) handed out */
    uint64_t nfree[GH_NUM_SPC];   /* small objects this CPU freed remotely */
    /* Small objects freed by their owner in spans that have left this cache: each
     * span's uncounted frees (mspan.h, statistics) as it leaves. Protected by lock (the
     * owner's refill and flush, or a drainer), summed on read. */
    uint64_t nfree_own[GH_NUM_SPC];
    uint64_t tiny_allocs;         /* tiny objects placed in blocks */
    /* Not each count beside its bytes: clang's SLP vectorizer joined such pairs into
     * one 128-bit add, 8 instructions for what scalar adds do in 4. */
    uint64_t large_alloc, large_free, large_alloc_bytes, large_free_bytes;

    /* The tiny allocator (GOHEAP_NOSCAN, size < 16). */
    uintptr_t tiny;       /* current 16 B block, or 0 */
    uint32_t tinyoffset;  /* bytes of it used */
    uint32_t tinyn;       /* tiny objects placed in it so far */
    _Atomic uint32_t *tinyend; /* its ends and starts masks (mspan.tinyends) */

    struct pagecache pcache; /* protected by lock */
    struct gh_lcache lcache; /* free large spans (GH_SPAN_LCACHED) */
    /* The drain lock (see the top of this file). Protects parked[] and pcache; not
     * taken on the fast paths nor by frees. */
    struct gh_mutex lock;
    unsigned cpu;
    uint32_t flush_seen;  /* no each_cpu: the gh_flush_gen this cache last flushed at */
    uint32_t slowticks;   /* slow paths taken; paces opportunistic scavenging */
    uint64_t guard_next;  /* guardrate: allocations left until the next sampled one */
    uint64_t prof_rng;    /* the profiler's random state (sampling intervals) */
    /* A remote free's wake in flight (gh_central_wake): the span this CPU flips FULL ->
     * PENDING, from before the flip until it is on the pending list; written by this
     * CPU, pinned, with no lock. A fork child moves it there (gh_central_fork_child). */
    struct mspan *waking;
    /* Parked spans (struct gh_parked [GH_NUM_SPC]), protected by lock: 19 KiB right
     * after the cache in the same fixalloc object (GH_MCACHE_BYTES), which a CPU
     * touches only for the classes it parks spans of (a fresh cache is not cleared:
     * fixalloc's new chunks are zero). NULL in gh_emptycache, which parks nothing: a
     * pointer, not an array, so that the empty cache, statically filled, is 6 KiB of
     * the image's data instead of 25 (every process maps that data). */
    struct gh_parked *parked;
};

/* One cache and its parked arrays, as gh_mcache_create allocates them. */
#define GH_MCACHE_HEAD_BYTES gh_align_up(sizeof(struct mcache), GH_CACHELINE)
#define GH_MCACHE_BYTES (GH_MCACHE_HEAD_BYTES + GH_NUM_SPC * sizeof(struct gh_parked))

/* Whether s is one of c's parked spans of class spc (the validator, tests). Caller
 * holds c->lock, or c's CPU is idle. */
static inline int gh_mcache_parks(const struct mcache *c, unsigned spc, const struct mspan *s) {
    for (unsigned i = 0; i < c->parked[spc].n; i++)
        if (c->parked[spc].s[i] == s)
            return 1;
    return 0;
}

extern struct mcache gh_emptycache; /* every slot starts here: nothing cached (its span pointers are never written) */

/* Adds n to *ctr, one of c's statistics counters. A CPU's own cache has one writer,
 * its CPU (GH_COUNT_ADD's plain add); gh_emptycache has as many as there are CPUs
 * without a cache of their own (out of memory for one), which count there at the same
 * time: an atomic add there, or their counts were lost (MemStats Frees short of the
 * frees made, the validator's class recount failing: core-large t_nocache_counts).
 * may_share (a constant at every call): whether c may be gh_emptycache; 0 keeps the
 * plain add with no test, for the paths that count only in a CPU's own cache (the
 * fast paths, the large span cache's take and put). */
static inline __attribute__((always_inline)) void gh_cache_count(const struct mcache *c, uint64_t *ctr, uint64_t n,
                                                                 int may_share) {
    if (may_share && gh_unlikely(c == &gh_emptycache))
        __atomic_fetch_add(ctr, n, __ATOMIC_RELAXED);
    else
        GH_COUNT_ADD(*ctr, n);
}

/* This CPU's real cache (created on first use). Pinned. NULL when out of memory. */
struct mcache *gh_mcache_create(unsigned cpu);
static inline struct mcache *gh_mcache_get(unsigned cpu) {
    struct mcache *c = gh_fast.caches[cpu];
    return gh_likely(c != &gh_emptycache) ? c : gh_mcache_create(cpu);
}
/* Whether span class spc has a fast entry (plain malloc's class up to 1024 B). */
static inline int gh_mcache_fast_spc(unsigned spc) { return spc < 2 * GH_FAST_CLASSES && !(spc & 1); }

/* The fast entry's word state after s's word changed while s stays c's current span
 * of class spc (a word step, a refill that found another word of it). Pinned on c's
 * CPU. */
static inline void gh_mcache_sync_word(struct mcache *c, unsigned spc, const struct mspan *s) {
    if (gh_mcache_fast_spc(spc)) {
        struct gh_fastent *e = &c->fe[spc >> 1];
        e->wp = s->wbits;
        e->wordbase = s->wordbase;
    }
}

/* Take one object from a span whose current word has a free slot. */
static inline void *gh_span_take(struct mspan *s) { return gh_span_take_word(s, s->wbits, *s->wbits); }

#ifndef GOHEAP_SYS_HAVE_EACH_CPU
/* Bumped by gh_flush_all_cpus when the platform has no each_cpu: every CPU flushes its
 * own cache at its next refill. */
extern _Atomic uint32_t gh_flush_gen;
#endif

/* gh_mcache_refill_alloc past its first step: the refill proper. It polls the
 * platform (a flush another CPU asked for may run here), counts the refill, and takes
 * c->lock for a parked span, one from mcentral or a new one (and, every
 * GH_REFILLS_PER_LOOK refills, to give back parked spans found empty twice). Pinned.
 * NULL: OOM. */
void *gh_mcache_refill_span(struct mcache *c, unsigned cpu, unsigned spc);
/* Whether a flush of every CPU waits for this one (without each_cpu it reaches a CPU
 * at its next refill: scavenge.c). */
static inline int gh_mcache_flush_due(const struct mcache *c) {
#ifndef GOHEAP_SYS_HAVE_EACH_CPU
    return c->flush_seen != atomic_load_explicit(&gh_flush_gen, memory_order_relaxed);
#else
    (void)c;
    return 0;
#endif
}
/* Allocates one object of span class spc when the current span's word is full.
 * Pinned. NULL: OOM.
 * 1. The word step: another word of the current span with a free slot (freed locally
 *    since), without c->lock (which guards only the parked arrays and the page cache;
 *    the current span is this CPU's alone, drains never touch it, as on the fast path)
 *    and without the poll: malloc moving on within its span. It still counts in
 *    slowticks, and every GH_REFILLS_PER_LOOK-th count takes the refill proper, so
 *    looks, background polls and platform polls come at least as often as before the
 *    step was split off (a fork child's background thread, t_fork_and_knob, comes
 *    back within 100 K mallocs of 48 B). Most misses end here (2 threads, scale 0.05:
 *    larson 52 K of 75 K, pareto 22 K of 27 K, glibcthread 24 K of 25 K); malloc's
 *    miss does it inline (gh_malloc_miss) at ~40 instructions, where the call
 *    through refill's entry cost ~130 (bench/RESULTS.md, "The word step and the
 *    owner's clear").
 * 2. Else the refill proper: gh_mcache_refill_span. */
static inline __attribute__((always_inline)) void *gh_mcache_word_step(struct mcache *c, struct mspan *s) {
    uint32_t nslow = c->slowticks + 1;
    /* (a one-word span's only word is the one malloc found full; gh_emptyspan has none) */
    unsigned n = s->nwords;
    if (n < 2 || gh_unlikely(nslow % GH_REFILLS_PER_LOOK == 0) || gh_unlikely(gh_mcache_flush_due(c)))
        return 0;
    /* gh_span_next_word without its last probe (the current word, wlast, is the one
     * malloc found full), taking the slot inside the loop with the word just read: a
     * shared exit made clang keep a found flag and re-read wbits and the word
     * (callgrind, pareto 2 threads: ~74 -> ~64 instructions per word step). */
    unsigned w = s->wlast;
    for (unsigned k = 1; k < n; k++) {
        if (++w == n)
            w = 0;
        uint64_t fb = s->bits[w]; /* freeBits[w] */
        if (fb) {
            gh_span_set_word(s, w);
            gh_mcache_sync_word(c, s->spc, s);
            c->slowticks = nslow;
            return gh_span_take_word(s, &s->bits[w], fb);
        }
    }
    return 0;
}
static inline __attribute__((always_inline)) void *gh_mcache_refill_alloc(struct mcache *c, unsigned cpu,
                                                                         unsigned spc) {
    void *p = gh_mcache_word_step(c, c->alloc[spc]);
    return p ? p : gh_mcache_refill_span(c, cpu, spc);
}
/* Gives every cached span and the tiny block back (and the page cache and the large
 * span cache). Pinned on c's CPU, c->lock not held. */
void gh_mcache_release_all(struct mcache *c, unsigned cpu);
/* Drains c (any CPU's cache) without its owner: gives its parked spans that hold no
 * live object back to the heap, and flushes its page cache. The owner's current spans
 * stay; but a cache named gone in a fork child (goheap_fork_child_gone) goes back
 * whole, once. Caller: pinned on `self` (any slot), holds no lock.
 * Returns the number of spans given back: 0 at once for another slot's cache whose
 * drain lock is held (its owner is refilling). */
unsigned gh_mcache_drain(struct mcache *c, unsigned self);
/* Gives c's parked spans that hold no live object back to the heap, at once (no
 * second look): before the heap grows (gh_central_reclaim_before_grow). Pinned on c's
 * CPU; caller holds c->lock. Returns the number of spans given back. */
unsigned gh_mcache_give_back_empty(struct mcache *c, unsigned cpu);
/* A fork child's view of the large span caches, whose owners the fork may have copied
 * in a put or get (mcache.c release_gone): recount, c's nbin and pages from its lists
 * (caller holds c->lock, or the process is quiescent); lists, whether any CPU's large
 * span cache or the heap's lists s (read without the locks: for goheap_validate, whose
 * caller keeps the heap quiescent). */
void gh_mcache_lcache_recount(struct mcache *c);
int gh_mcache_lcache_lists(const struct mspan *s);
/* Remote frees of span class spc counted so far by every CPU (and by threads without
 * a cache): each freer counts its free before the OR that puts it in the span
 * (free.c). Relaxed reads, any context. */
uint64_t gh_mcache_remote_frees(unsigned spc);
/* Tiny allocation. Pinned. */
void *gh_mcache_tiny_alloc(struct mcache *c, unsigned cpu, size_t size);
/* Retire the current tiny block (hand the bias back). Pinned. */
void gh_mcache_tiny_retire(struct mcache *c, unsigned cpu);
/* Frees a whole 16 B tiny block (its last object is gone) like a small object (free.c). */
void gh_tiny_block_put(unsigned cpu, uintptr_t block, struct mspan *s);

/* Every real cache's mcache.fidx: 4 * plain malloc's class of each size up to
 * GOHEAP_SMALL_SIZE_MAX (all zeros in instrumented mode); set up by goheap_init. */
extern uint8_t gh_fastidx[GOHEAP_SMALL_SIZE_MAX + 1];

/* Installs s as c's span of class spc. Pinned on c's CPU. */
static inline void gh_mcache_set(struct mcache *c, unsigned spc, struct mspan *s) {
    c->alloc[spc] = s;
    if (gh_mcache_fast_spc(spc)) {
        struct gh_fastent *e = &c->fe[spc >> 1];
        e->wp = s->wbits;
        e->wordbase = s->wordbase;
        e->welemsize = s->welemsize;
        e->s = s;
    }
}


/* gh_heap_lcache_fits, _put and _get (described in mheap.h with drain). fits also
 * gives the cache's page count with n more (*pages), and put takes it and n back:
 * read before the free's exchange, which the compiler may not read across (a seq_cst
 * read-modify-write), they are not read again after it (64 KiB pair: kernel ICOUNT
 * 161.0 -> 159.0 on x86_64, 195.5 -> 190.5 on aarch64; hosted callgrind 118 -> 116). */
static inline int gh_heap_lcache_fits(const struct mcache *c, uintptr_t n, uintptr_t *pages) {
    *pages = c->lcache.pages + n;
    return n <= GH_LCACHE_MAX_PAGES && *pages <= c->lcache.limit && c->lcache.nbin[n] != GH_LCACHE_BIN_SPANS;
}

static inline void gh_heap_lcache_put(struct mcache *c, struct mspan *s, uintptr_t n, uintptr_t pages) {
    s->next = c->lcache.bin[n];
    c->lcache.bin[n] = s;
    c->lcache.nbin[n]++;
    /* In use -> idle: counted by lcache.pages alone (gh_heap.heap_inuse still holds
     * the bytes, see mheap.h), stored atomically for the readers on other CPUs. */
    __atomic_store_n(&c->lcache.pages, pages, __ATOMIC_RELAXED);
}

static inline struct mspan *gh_heap_lcache_get(struct mcache *c, uintptr_t npages) {
    struct mspan *s = c->lcache.bin[npages];
    if (!s)
        return 0;
    c->lcache.bin[npages] = s->next;
    c->lcache.nbin[npages]--;
    __atomic_store_n(&c->lcache.pages, c->lcache.pages - npages, __ATOMIC_RELAXED); /* idle -> in use */
    return s;
}

/* A large span just taken from c's large span cache (same page count) becomes the
 * object of `size` bytes: pages, struct and span map are as they were, only the
 * object's own fields change, and it is counted. spc: 0, or 1 for GOHEAP_NOSCAN (the
 * span keeps the class of the object freed into the cache, which a plain malloc must
 * not inherit: the leak scan would skip its contents). Pinned on c's CPU (in a heap-lock hold for a span of the heap's cache:
 * gh_heap_hcache_get). */
static inline void gh_large_reuse(struct mcache *c, struct mspan *s, size_t size, size_t align, unsigned spc,
                                  uintptr_t pc, int may_share) {
    __atomic_store_n(&s->spc, (uint8_t)spc, __ATOMIC_RELAXED);
    s->reqsize = size;
    s->obj = gh_align_up(s->base, align);
    s->alloc_pc = pc;
    atomic_store_explicit(&s->state, GH_SPAN_INUSE, memory_order_release);
    gh_cache_count(c, &c->large_alloc, 1, may_share);
    gh_cache_count(c, &c->large_alloc_bytes, (uint64_t)s->npages << GOHEAP_PAGE_SHIFT, may_share);
}

/* The free of a live large span of n pages (s->npages, read by the caller before: the
 * compiler reads nothing again across the exchange): in use -> LCACHED (the exchange
 * that catches a second free), counted freed in c's statistics. Every large free
 * makes it: into c's large span cache (pinned on c's CPU, no lock), the heap's
 * (gh_heap_hcache_put: in its heap-lock hold) or c's grow window (under c->lock); a
 * fork's prepare takes both locks, so a fork child sees those two whole or not begun.
 * 0 if s was not in use (left as it was: the caller diagnoses). */
static inline __attribute__((always_inline)) int gh_large_freed(struct mcache *c, struct mspan *s, uintptr_t n,
                                                                int may_share) {
    uint8_t inuse = GH_SPAN_INUSE;
    if (gh_unlikely(!atomic_compare_exchange_strong(&s->state, &inuse, GH_SPAN_LCACHED)))
        return 0;
    gh_cache_count(c, &c->large_free, 1, may_share);
    gh_cache_count(c, &c->large_free_bytes, (uint64_t)n << GOHEAP_PAGE_SHIFT, may_share);
    return 1;
}

/* gh_heap_hcache_put and _get (described in mheap.h): each one heap-lock hold, the
 * exchange and count (gh_large_freed) or gh_large_reuse with the listing or unlisting
 * in it. Inline, around out-of-line rare parts (put_big, evict_locked) and get's
 * one-argument unlisting, so that the free keeps no frame of its own and the object's
 * fields stay in the caller's registers: out of line, get took seven arguments and
 * saved four registers, and put returned to a caller that then unpinned (callgrind,
 * LD_PRELOAD, memprofilerate=0, 1 MiB solo pair: 371 -> 357 for get, then 357 -> 342 for put;
 * 345 before ad0c7a5 and 90baa53 moved both into their holds). */
static inline __attribute__((always_inline)) int gh_heap_hcache_put(unsigned cpu, struct mcache *c,
                                                                    struct mspan *s, int may_share) {
    uintptr_t n = s->npages;
    if (gh_unlikely(n > GH_HCACHE_PAGES || gh_knobs.scavenge_eager))
        return gh_heap_hcache_put_big(cpu, c, s);
    gh_lock(&gh_heap.lock, cpu);
    if (gh_unlikely(!gh_large_freed(c, s, n, may_share))) {
        gh_unlock(&gh_heap.lock, cpu);
        return 0;
    }
    if (gh_unlikely(gh_heap.hcache_n == GH_HCACHE_SPANS || gh_heap.hcache_pages + n > GH_HCACHE_PAGES))
        gh_heap_hcache_evict_locked(cpu, n); /* the oldest, in the same hold */
    unsigned i = gh_heap.hcache_n;
    uintptr_t pages = gh_heap.hcache_pages + n;
    gh_heap.hcache[i] = s;
    __atomic_store_n(&gh_heap.hcache_n, i + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&gh_heap.hcache_pages, pages, __ATOMIC_RELAXED);
    gh_bg_ask_if((uint64_t)pages << GOHEAP_PAGE_SHIFT);
    gh_unlock(&gh_heap.lock, cpu);
    return 1;
}

static inline __attribute__((always_inline)) struct mspan *gh_heap_hcache_get(unsigned cpu, struct mcache *c,
                                                                              uintptr_t npages, size_t size,
                                                                              size_t align, unsigned spc,
                                                                              uintptr_t pc, int may_share) {
    if (!__atomic_load_n(&gh_heap.hcache_n, __ATOMIC_RELAXED))
        return 0;
    gh_lock(&gh_heap.lock, cpu);
    struct mspan *s = gh_heap_hcache_take_locked(npages);
    if (s)
        gh_large_reuse(c, s, size, align, spc, pc, may_share); /* in the hold (mheap.h) */
    gh_unlock(&gh_heap.lock, cpu);
    return s; /* in heap_inuse all along: no counter moves (mheap.h) */
}

#endif /* GOHEAP_MCACHE_H */
