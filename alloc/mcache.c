/* alloc/mcache.c: per-CPU cache refill and release, and the tiny allocator. */
#include "mcache.h"
#include "core.h"
#include "mcentral.h"
#include "mheap.h"

_Static_assert(GH_REFILLS_PER_BG_POLL % GH_REFILLS_PER_LOOK == 0, "a poll falls on a look");

/* Statically filled: a hosted thread's fast path reads it through its local pointer
 * (goheap_sys_pin_local) even before goheap_init has run. */
struct mcache gh_emptycache = {
    .fe = {[0 ... GH_FAST_CLASSES - 1] = {.wp = &gh_full_word, .s = &gh_emptyspan}},
    .alloc = {[0 ... GH_NUM_SPC - 1] = &gh_emptyspan},
    .cpu = GOHEAP_PIN_FAILED, /* owner of nothing (the hosted remote free reads it) */
};
/* The platform's name for it (platform.h: what pin_local returns for a slot without
 * a cache), so a platform needs no core-internal name. */
extern struct mcache goheap_local_none __attribute__((alias("gh_emptycache")));

static void init_slots(struct mcache *c) {
    for (unsigned i = 0; i < GH_NUM_SPC; i++)
        c->alloc[i] = &gh_emptyspan;
    for (unsigned i = 0; i < GH_FAST_CLASSES; i++)
        c->fe[i] = (struct gh_fastent){.wp = &gh_full_word, .s = &gh_emptyspan};
    gh_memcpy(c->fidx, gh_fastidx, sizeof c->fidx);
}

struct mcache *gh_mcache_create(unsigned cpu) {
    struct mcache *c;
    gh_lock(&gh_meta.lock, cpu);
    c = gh_fixalloc_alloc(&gh_heap.cachealloc);
    gh_unlock(&gh_meta.lock, cpu);
    if (!c)
        return 0;
    init_slots(c);
    c->parked = (struct gh_parked *)((char *)c + GH_MCACHE_HEAD_BYTES);
    c->cpu = cpu;
    c->lock.rank = GOHEAP_LC_MCACHE;
    c->guard_next = gh_knobs.guardrate;
    c->lcache.limit = gh_knobs.scavenge_eager ? 0 : GH_LCACHE_CPU_PAGES;
    gh_prof_cache_init(c, cpu);
    __atomic_store_n(&gh_fast.caches[cpu], c, __ATOMIC_RELEASE);
    goheap_sys_set_local(cpu, c);
    return c;
}

/* Live objects of a parked span, read the way a drainer may while the owner frees
 * into it (free.c: the owner's release stores into freeBits; the remote bits only
 * grow outside c->lock, but for a sampled object's marker, taken off as that object
 * is freed). Only frees change a parked span outside c->lock, so a span
 * seen empty stays empty: no live object is left for anyone to free. A remote bit on
 * a slot that freeBits says is free is a double free, as in the sweep. */
static unsigned parked_live(struct mspan *s) {
    /* A sampled object's marker looks like a pending remote free: nsampled counts
     * them, read before the bitmaps (profile.c, "markers": unmark takes the marker off
     * before the count goes down). */
    unsigned n = gh_span_nmarkers(s);
    for (unsigned w = 0; w < s->nwords; w++) {
        uint64_t f = atomic_load_explicit((_Atomic uint64_t *)&s->freeBits[w], memory_order_acquire);
        uint64_t r = gh_span_rpend(s, w, memory_order_acquire);
        uint64_t v = gh_span_valid(s, w);
        if (r & f & v)
            gh_bad_free("double free", s->base + (uintptr_t)(w * 64 + gh_ctz64(r & f & v)) * s->elemsize, s);
        n += gh_popcount64(~f & ~r & v);
    }
    /* and again after them: a mark (nsampled, then the marker) that lands between the
     * first read and the bitmaps' would otherwise count its object nowhere (a mark on
     * a parked span: it left the marking CPU's cache between the allocation and the
     * mark, profile.c mark_settle). Only compared with 0: counting twice is harmless. */
    return n + gh_span_nmarkers(s);
}

/* Whether parked span s surely holds a live object, from its counts alone: freeBits
 * says tbase - lfree objects are allocated (the tenure's end left tbase at allocated
 * + lfree, and frees and the owner's sweeps keep that sum, mspan.h) and no remote free
 * is pending. Only ever a reason to skip a span, never to give one back: a drainer
 * on another CPU may read an older lfree (the owner's free adds to it before its
 * release store), which makes the span look fuller, so a span is at worst looked at
 * again later. Reads the remoteFree words and two counts where parked_live reads
 * both bitmaps and counts bits (callgrind, pareto 2 threads: the owner's looks
 * ~4,800 -> ~2,500 instructions each). */
static inline int parked_surely_live(const struct mspan *s) {
    uint64_t held = __atomic_load_n(&s->tbase, __ATOMIC_RELAXED) - __atomic_load_n(&s->lfree, __ATOMIC_RELAXED);
    if ((int64_t)held <= 0)
        return 0;
    for (unsigned w = 0; w < s->nwords; w++)
        if (gh_span_rpend(s, w, memory_order_relaxed))
            return 0;
    return 1;
}

/* s leaves c (its owner's cache): its owner's frees not yet counted go to c's
 * nfree_own (mspan.h, statistics). Caller holds c->lock. */
static inline void count_frees(struct mcache *c, struct mspan *s) {
    uint64_t n = gh_span_uncounted_frees(s);
    s->lcounted += n;
    c->nfree_own[s->spc] += n;
}

/* s, owned by c's CPU, goes to mcentral (or home when empty). Caller holds c->lock. */
static void uncache(struct mcache *c, unsigned cpu, struct mspan *s) {
    count_frees(c, s);
    gh_central_uncache_span(cpu, s);
}

/* The owner's sweep of s: remote frees into freeBits, counted in lfree (the tenure's
 * mallocs) and lswept (they are not the owner's frees). Caller holds c->lock. */
static inline unsigned owner_sweep(struct mspan *s, unsigned cpu) {
    unsigned n = gh_span_sweep_remote(s, cpu);
    /* Most refills' sweeps find nothing pending: no write then, so that lswept's
     * line (the slow part) is not fetched for ownership on every refill (cachegrind,
     * rptest at 1 thread: 24.6 K D1 misses on that store, 1.6 a refill). */
    if (n) {
        GH_COUNT_ADD(s->lfree, n);
        s->lswept += n;
    }
    return n;
}

/* Takes the empty spans off c's parked arrays and links them through ->next onto
 * *dead. Caller holds c->lock; c's owner may be freeing into them meanwhile. second:
 * only those found empty at the previous call with second set too (the owner's
 * looks); the others are marked (a parked span only grows emptier: a span once seen
 * empty stays so until it is unparked, and parking resets the mark). */
static void take_empty_parked(struct mcache *c, struct mspan **dead, int second) {
    for (unsigned mw = 0; mw < sizeof c->parkedmask / sizeof c->parkedmask[0]; mw++) {
        for (uint64_t bits = c->parkedmask[mw]; bits; bits &= bits - 1) {
            unsigned spc = mw * 64 + gh_ctz64(bits);
            struct gh_parked *pl = &c->parked[spc];
            if (!pl->n) { /* (emptied since: unparked, uncached, or taken here) */
                c->parkedmask[mw] &= ~(1ull << (spc & 63));
                continue;
            }
            /* the spans that stay, compacted in their order; the cursor stays on its
             * span, or moves to the next one kept */
            unsigned kept = 0, cursor = 0;
            for (unsigned i = 0; i < pl->n; i++) {
                struct mspan *s = pl->s[i];
                int keep = parked_surely_live(s) || parked_live(s) != 0;
                if (!keep && second && !s->emptyseen) {
                    s->emptyseen = 1;
                    keep = 1;
                }
                if (keep) {
                    cursor += i < pl->cursor;
                    pl->s[kept++] = s;
                    continue;
                }
                count_frees(c, s);
                /* Parked -> returned. The owner's fast entries never name a parked
                 * span outside a refill (which holds the lock), so nothing points here
                 * now. */
                atomic_store_explicit(&s->owner, GH_NO_OWNER, memory_order_relaxed);
                atomic_store_explicit(&s->cstate, GH_CS_NONE, memory_order_relaxed);
                s->next = *dead;
                *dead = s;
            }
            pl->n = (uint16_t)kept;
            pl->cursor = (uint16_t)cursor;
        }
    }
}


unsigned gh_mcache_give_back_empty(struct mcache *c, unsigned cpu) {
    struct mspan *dead = 0;
    take_empty_parked(c, &dead, 0);
    return gh_heap_free_spans(cpu, dead);
}

static void release_locked(struct mcache *c, unsigned cpu);

/* c belonged to a thread that is not in this fork child (goheap_fork_child_gone): it
 * goes back whole, as gh_mcache_release_all would give it, with what the thread may
 * have left half done at the fork put right first. Prepare held c->lock, so its
 * parked arrays, page cache and grow window are as a locked section left them; the
 * rest the owner changes without the lock, pinned, and a hosted thread is not held
 * out of its pinned sections by a fork:
 *   - the tiny block is dropped, not retired: a retire caught between its count's add
 *     and the block's reset would be added twice here, and the block freed while its
 *     objects live. Its 16 B stay allocated (its span in use) for good;
 *   - the large span cache's counts are taken from its lists: a put lists its span
 *     (LCACHED already, its free counted) before it counts it in nbin and pages, and
 *     a get unlists it before it counts it out and makes it INUSE (a release store),
 *     so a listed span is a freed one, whatever the counts said. A span a get had
 *     unlisted (its object lost with the thread), or a put had not yet listed, is
 *     LCACHED in no list, counted in use: the child's first goheap_validate gives it
 *     back and settles the counts (stats.c fork_settle_large), a drain cannot (a live
 *     thread's put in flight looks the same);
 *   - current spans: the fast path's malloc takes a slot with one store, and the
 *     tenure's mallocs are counted from freeBits (mspan.h), so a malloc caught at the
 *     fork is either done (its object lost with the thread, live for good) or not
 *     begun; a local free caught between its lfree count and its bit's store
 *     (gh_free_owned_slot) is counted with its object still live, as a remote free
 *     caught between its count and its OR: the child's first goheap_validate takes
 *     such counts back, at most one per cache named gone (stats.c).
 * Caller holds c->lock, pinned on self; returns with it released. */
static void release_gone(struct mcache *c, unsigned self) {
    c->tiny = 0;
    c->tinyoffset = 0;
    c->tinyn = 0;
    gh_mcache_lcache_recount(c);
    release_locked(c, self);
    gh_unlock(&c->lock, self);
}

void gh_mcache_lcache_recount(struct mcache *c) {
    uintptr_t pages = 0;
    for (unsigned n = 1; n <= GH_LCACHE_MAX_PAGES; n++) {
        unsigned k = 0;
        for (struct mspan *s = c->lcache.bin[n]; s; s = s->next)
            k++;
        c->lcache.nbin[n] = (uint8_t)k;
        pages += (uintptr_t)k * n;
    }
    __atomic_store_n(&c->lcache.pages, pages, __ATOMIC_RELAXED);
}

int gh_mcache_lcache_lists(const struct mspan *s) {
    uintptr_t n = s->npages;
    for (unsigned i = 0; i < gh_ncpu && n <= GH_LCACHE_MAX_PAGES; i++) {
        const struct mcache *c = __atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE);
        for (const struct mspan *x = c != &gh_emptycache ? c->lcache.bin[n] : 0; x; x = x->next)
            if (x == s)
                return 1;
    }
    for (unsigned i = 0; i < gh_heap.hcache_n && i < GH_HCACHE_SPANS; i++)
        if (gh_heap.hcache[i] == s)
            return 1;
    return 0;
}

unsigned gh_mcache_drain(struct mcache *c, unsigned self) {
    if (c == &gh_emptycache)
        return 0;
    struct mspan *dead = 0;
    /* Another CPU's cache only if its lock is free: a held lock means its owner is
     * refilling, so it is busy and drains itself (its looks, every GH_REFILLS_PER_LOOK
     * refills); the next pass tries again. Never wait for an owner: pinned (kernel:
     * interrupts masked) behind a vCPU that single-threaded TCG does not run, one
     * drain of an allocating CPU's cache spun 1.9 s, and the pass pacing then put the
     * next pass 99x that later (the kernel's cross-CPU drain was off because of it). */
    if (c->cpu == self)
        gh_lock(&c->lock, self);
    else if (!gh_trylock(&c->lock, self))
        return 0;
    if (gh_unlikely(gh_fork_gone_take(c->cpu))) {
        release_gone(c, self);
        return 0; /* (its spans went to mcentral, or home: not counted) */
    }
    take_empty_parked(c, &dead, 0);
    if (!pagecache_empty(&c->pcache) || c->pcache.gpages) /* (gpages: the grow window) */
        gh_heap_flush_pcache(self, &c->pcache); /* heap lock ranks above c->lock */
    unsigned n = gh_heap_free_spans(self, dead); /* before the unlock: gh_heap_free_spans */
    gh_unlock(&c->lock, self);
    return n;
}

/* Takes the span at index i off pl: the last one moves into its place (shifting the
 * rest down instead cost rptest 47 instructions a refill at 1 thread, with ~14 parked
 * spans a class; callgrind). The sweep's round goes on at i either way. */
static inline void parked_remove(struct gh_parked *pl, unsigned i) {
    pl->s[i] = pl->s[--pl->n];
}
/* The longest unswept parked span's index (pl->n > 0). */
static inline unsigned parked_cursor(const struct gh_parked *pl) { return pl->cursor < pl->n ? pl->cursor : 0; }

/* A parked span's room: its local frees since it was parked, plus the remote ones the
 * owner swept since. Caller holds c->lock. */
static inline uint32_t room(const struct mspan *s) { return (uint16_t)((uint16_t)s->lfree - s->lfree_park); }

/* Refill, caller holds c->lock; the current span (if any) has no word with a free
 * slot. */
static void *refill_locked(struct mcache *c, unsigned cpu, unsigned spc) {
    struct mspan *s = c->alloc[spc];
    struct gh_parked *pl = &c->parked[spc];
    unsigned i;
    if (s != &gh_emptyspan) {
        /* 1. room after sweeping its remote frees */
        unsigned swept = owner_sweep(s, cpu);
        if (swept && gh_span_next_word(s)) {
            gh_mcache_sync_word(c, spc, s);
            goto take;
        }
        /* 2. full: park it (its tenure ends: no word current); it stays ours. Every
         * slot is allocated: the word scan before this refill found no free one,
         * and only this CPU, here, sets freeBits bits (the sweep above freed none,
         * or its word would be current now). */
        gh_span_tenure_end_full(s);
        s->lfree_park = (uint16_t)s->lfree;
        s->emptyseen = 0;
        /* The fast entry keeps naming s (its word is full) until this refill
         * installs the next span: one update per span change, not two. Nothing reads
         * this CPU's entry before then, and a drainer cannot take s before then (we
         * hold c->lock). */
        c->alloc[spc] = &gh_emptyspan;
        pl->s[pl->n++] = s; /* (at most GH_PARK_MAX before: every refill trims) */
        c->parkedmask[spc >> 6] |= 1ull << (spc & 63);
    }
    /* 3. a parked span with enough room. Taking one with a single free slot would
     * bring us back here at the next malloc, so a parked span must have 1/4 of its
     * slots free (at least 1); the frees of the others keep accumulating meanwhile.
     * (1/8: larson 0.74 s, 1/4: 0.54 s, 1/2: 0.58 s; see GH_PARK_MAX. Rechecked with
     * 16 parked spans and the choice below: 1/2 saves instructions, callgrind per
     * pair larson 103 -> 99, pareto 91 -> 87, but larson takes 0.44 s against 0.38 s
     * at scale 0.3 with up to 1 MiB more peak RSS, so 1/4 stays.)
     * room() counts the local frees since parking, plus the remote ones swept. */
    unsigned enough = goheap_class_to_nobjs[spc >> 1] / 4;
    if (enough == 0)
        enough = 1;
    /* First the richest by local frees, without touching remoteFree: a thread that
     * frees its own objects (pareto, glibcthread) finds its span here. (Before the
     * free fast path became one path, a hint naming the parked span freed into last
     * was tried first, saving 7% of larson's D1 misses; with every owner's free
     * writing it, it named the current span, and dropping it changed larson's misses
     * by -0.2%, pareto's by +0.04%: cachegrind, 2 threads, scale 0.05.) After a
     * search that finds none, the next GH_RICH_BACKOFF refills of the class skip it. */
    if (pl->n && pl->rich_skip)
        pl->rich_skip--;
    else if (pl->n) {
        unsigned best = 0;
        uint32_t bestroom = room(pl->s[0]);
        for (i = 1; i < pl->n; i++) {
            uint32_t r = room(pl->s[i]);
            if (r > bestroom) {
                best = i;
                bestroom = r;
            }
        }
        if (bestroom >= enough) {
            i = best;
            s = pl->s[i];
            owner_sweep(s, cpu);
            if (gh_span_next_word(s))
                goto unpark;
        }
        pl->rich_skip = GH_RICH_BACKOFF;
    }
    /* Then remote frees: sweep at most GH_PARK_SWEEP from the cursor on (the longest
     * unswept), moving it past them, so that every parked span is swept within
     * GH_PARK_MAX / GH_PARK_SWEEP refills (amortised; sweeping all of them at every
     * refill cost pareto 6.4 sweeps per locked refill). */
    for (unsigned k = 0; k < GH_PARK_SWEEP && pl->n > 1; k++) {
        i = parked_cursor(pl);
        s = pl->s[i];
        pl->cursor = (uint16_t)(i + 1);
        owner_sweep(s, cpu);
        if (room(s) >= enough && gh_span_next_word(s))
            goto unpark;
    }
    /* 4. none: the longest-unswept parked spans beyond the bound go to mcentral
     * (parked -> partial/full/pending, or returned when empty), and a span comes from
     * there. */
    while (pl->n > GH_PARK_MAX) {
        i = parked_cursor(pl); /* the longest unswept */
        s = pl->s[i];
        parked_remove(pl, i);
        uncache(c, cpu, s);
    }
    s = gh_central_cache_span(c, cpu, spc);
    if (!s) {
        gh_mcache_set(c, spc, &gh_emptyspan);
        return 0;
    }
    gh_mcache_set(c, spc, s);
take:
    return gh_span_take(s);
unpark:
    parked_remove(pl, i); /* parked -> owned: tbase still holds (gh_span_tenure_end) */
    gh_mcache_set(c, spc, s);
    return gh_span_take(s);
}

void *gh_mcache_refill_span(struct mcache *c, unsigned cpu, unsigned spc) {
    goheap_sys_poll(cpu); /* may flush this cache on another CPU's request */
#ifndef GOHEAP_SYS_HAVE_EACH_CPU
    /* Without each_cpu, a flush of every CPU reaches this one here (scavenge.c). */
    if (gh_unlikely(gh_mcache_flush_due(c))) {
        c->flush_seen = atomic_load_explicit(&gh_flush_gen, memory_order_relaxed);
        gh_mcache_release_all(c, cpu);
    }
#endif
    uint32_t nslow = ++c->slowticks;
    int tick = nslow % GH_REFILLS_PER_LOOK == 0;
    /* (The word step, gh_mcache_word_step, found no other word of the current span,
     * or left this refill its look or its flush; a look tries the words again below.) */
    struct mspan *s = c->alloc[spc];
    struct mspan *dead = 0;
    gh_lock(&c->lock, cpu);
    if (gh_unlikely(tick)) {
        take_empty_parked(c, &dead, 1);
        if (nslow % GH_REFILLS_PER_BG_POLL == 0)
            gh_want_work(GH_WORK_BG);
        /* (the spans found empty go back before the unlock: gh_heap_free_spans) */
        gh_heap_free_spans(cpu, dead);
        if (s != &gh_emptyspan && gh_span_next_word(s)) {
            gh_mcache_sync_word(c, spc, s);
            gh_unlock(&c->lock, cpu);
            return gh_span_take(s);
        }
    }
    void *p = refill_locked(c, cpu, spc);
    gh_unlock(&c->lock, cpu);
    return p;
}

/* The large span caches' bytes, and the heap's counters with them counted idle
 * (mheap.h). */
uint64_t gh_heap_lcached_bytes(void) {
    uint64_t pages = 0;
    for (unsigned i = 0; i < gh_ncpu; i++) {
        struct mcache *c = __atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE);
        if (c && c != &gh_emptycache)
            pages += __atomic_load_n(&c->lcache.pages, __ATOMIC_RELAXED) +
                     __atomic_load_n(&c->pcache.gpages, __ATOMIC_RELAXED); /* the grow window (mheap.h) */
    }
    pages += __atomic_load_n(&gh_heap.hcache_pages, __ATOMIC_RELAXED);
    return pages << GOHEAP_PAGE_SHIFT;
}

uint64_t gh_mcache_remote_frees(unsigned spc) {
    uint64_t n = __atomic_load_n(&gh_emptycache.nfree[spc], __ATOMIC_RELAXED);
    for (unsigned i = 0; i < gh_ncpu; i++) {
        struct mcache *c = __atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE);
        if (c && c != &gh_emptycache)
            n += __atomic_load_n(&c->nfree[spc], __ATOMIC_RELAXED);
    }
    return n;
}

uint64_t gh_heap_inuse_bytes(void) {
    uint64_t lc = gh_heap_lcached_bytes(), inuse = atomic_load_explicit(&gh_heap.heap_inuse, memory_order_relaxed);
    return inuse > lc ? inuse - lc : 0;
}

uint64_t gh_heap_free_bytes(void) {
    return atomic_load_explicit(&gh_heap.heap_free, memory_order_relaxed) + gh_heap_lcached_bytes();
}

void gh_mcache_release_all(struct mcache *c, unsigned cpu) {
    if (c == &gh_emptycache)
        return;
    gh_mcache_tiny_retire(c, cpu); /* before the lock: it may free into a parked span */
    gh_lock(&c->lock, cpu);
    release_locked(c, cpu);
    gh_unlock(&c->lock, cpu);
}

/* gh_mcache_release_all past the tiny block: every current and parked span, the page
 * cache, the grow window and the large span cache. Caller holds c->lock, pinned on
 * cpu (c's, or a drainer's own). */
static void release_locked(struct mcache *c, unsigned cpu) {
    for (unsigned spc = 0; spc < GH_NUM_SPC; spc++) {
        struct mspan *s = c->alloc[spc];
        if (s != &gh_emptyspan) {
            gh_mcache_set(c, spc, &gh_emptyspan);
            uncache(c, cpu, s);
        }
    }
    /* the parked spans of the classes parkedmask names (a walk of every class's
     * gh_parked cost an empty flush 136 instructions more than the lists did) */
    for (unsigned mw = 0; mw < sizeof c->parkedmask / sizeof c->parkedmask[0]; mw++) {
        for (uint64_t bits = c->parkedmask[mw]; bits; bits &= bits - 1) {
            struct gh_parked *pl = &c->parked[mw * 64 + gh_ctz64(bits)];
            while (pl->n)
                uncache(c, cpu, pl->s[--pl->n]);
        }
        c->parkedmask[mw] = 0;
    }
    gh_heap_flush_mcache(c, cpu);
}

/* ---- tiny allocator -----------------------------------------------------------------
 * Go's rules for placing an object of `size` < 16 inside the current 16 B block, and
 * a live count per block (mspan.tinycount) so that the block is freed when its last
 * tiny object is (see GH_TINY_BIAS). */

void gh_mcache_tiny_retire(struct mcache *c, unsigned cpu) {
    if (!c->tiny)
        return;
    struct mspan *s = gh_span_of(c->tiny); /* in the window or a cover */
    unsigned idx = (unsigned)((c->tiny - s->base) >> GH_TINY_SHIFT);
    uint8_t delta = (uint8_t)(c->tinyn - GH_TINY_BIAS);
    uint8_t left = atomic_fetch_add_explicit(&s->tinycount[idx], delta, memory_order_acq_rel) + delta;
    uintptr_t block = c->tiny;
    c->tiny = 0;
    c->tinyoffset = 0;
    c->tinyn = 0;
    if (left == 0)
        gh_tiny_block_put(cpu, block, s);
}

void *gh_mcache_tiny_alloc(struct mcache *c, unsigned cpu, size_t size) {
    uintptr_t off = c->tinyoffset;
    if ((size & 7) == 0)
        off = gh_align_up(off, 8);
    else if ((size & 3) == 0)
        off = gh_align_up(off, 4);
    else if ((size & 1) == 0)
        off = gh_align_up(off, 2);
    if (c->tiny && off + size <= GOHEAP_TINY_SIZE) {
        /* Record where the object starts (free's check) and ends (usable_size); only
         * this CPU writes the masks of its current block, others may read them. */
        _Atomic uint32_t *e = c->tinyend;
        uint32_t m = atomic_load_explicit(e, memory_order_relaxed);
        atomic_store_explicit(e, m | (1u << (off + size - 1)) | (1u << (GH_TINY_STARTS + off)), memory_order_relaxed);
        c->tinyoffset = (uint32_t)(off + size);
        c->tinyn++;
        GH_COUNT_ADD(c->tiny_allocs, 1);
        return (void *)(c->tiny + off);
    }
    /* A new 16 B block from the tiny span class. */
    struct mspan *s = c->alloc[GH_TINY_SPC];
    void *b;
    if (gh_span_word_has_free(s)) {
        b = gh_span_take(s);
    } else {
        b = gh_mcache_refill_alloc(c, cpu, GH_TINY_SPC);
        if (!b)
            return 0;
        s = c->alloc[GH_TINY_SPC];
    }
    ((uint64_t *)b)[0] = 0;
    ((uint64_t *)b)[1] = 0;
    unsigned idx = (unsigned)(((uintptr_t)b - s->base) >> GH_TINY_SHIFT);
    GH_COUNT_ADD(c->tiny_allocs, 1);
    atomic_store_explicit(&s->tinyends[idx], (1u << (size - 1)) | (1u << GH_TINY_STARTS), memory_order_relaxed);
    atomic_store_explicit(&s->tinyfreed[idx], 0, memory_order_relaxed); /* a new life */
    if (!c->tiny || size < c->tinyoffset) {
        /* The new block has more room left: it becomes the current one. */
        gh_mcache_tiny_retire(c, cpu);
        atomic_store_explicit(&s->tinycount[idx], GH_TINY_BIAS, memory_order_relaxed);
        c->tiny = (uintptr_t)b;
        c->tinyend = &s->tinyends[idx];
        c->tinyoffset = (uint32_t)size;
        c->tinyn = 1;
    } else {
        atomic_store_explicit(&s->tinycount[idx], 1, memory_order_relaxed);
    }
    return b;
}
