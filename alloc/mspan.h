/* alloc/mspan.h: the span (Go's mspan): a run of pages holding objects of one span
 * class, or one large object, with its out-of-line allocation and remote-free
 * bitmaps. Also the inline object-index arithmetic shared by malloc and free. */
#ifndef GOHEAP_MSPAN_H
#define GOHEAP_MSPAN_H

#include <stdatomic.h>

#include "knobs.h"
#include "sizeclasses.h"
#include "util.h"

#define GH_NUM_SPC (GOHEAP_NUM_SIZE_CLASSES * 2) /* span classes: class << 1 | noscan */
#define GH_TINY_SPC ((GOHEAP_TINY_SIZE_CLASS << 1) | 1)
#define GH_MAX_WORDS (GOHEAP_MAX_OBJS_PER_SPAN / 64) /* 16 bitmap words */

/* span->state: published last (release) when a span goes live. */
/* GH_SPAN_LCACHED: a freed large span kept whole (pages, span struct, map entries) in
 * a CPU's large span cache (mcache.h) for the next large malloc of the same page
 * count; not in use, so a second free of it is a double free. */
/* GH_SPAN_MOVING: a large object whose frames realloc is moving to another span
 * (alloc/remap.c): its pages stop being backed, so the leak scan, which reads only
 * in-use spans, must not enter it; back to INUSE if the move fails, DEAD once done. */
enum { GH_SPAN_DEAD = 0, GH_SPAN_INUSE = 1, GH_SPAN_EFENCE_FREED = 2, GH_SPAN_LCACHED = 3, GH_SPAN_MOVING = 4 };

/* A small span's life (docs/alloc.md has the same table with the reasons). States:
 * OWNED (a CPU's current span of its class, c->alloc[spc]), PARKED (on c->parked[spc],
 * still owned, no current word), PARTIAL / FULL / PENDING (mcentral's lists, no owner),
 * RETURNED (its pages back in the heap, the struct freed). EMPTY is not a resting
 * state: whoever sweeps a span other than a current one and finds no live object
 * gives it back there and then.
 *
 *   from -> to                       who, holding what
 *   heap -> OWNED                    a refill (cache_span grows): owner, c->lock
 *   PARTIAL/PENDING -> OWNED         a refill (cache_span): owner, c->lock + class lock
 *   OWNED -> PARKED                  a refill, no free word left: owner, c->lock
 *   PARKED -> OWNED                  a refill, >= 1/4 of it free (the richest by
 *                                    frees since parked first): owner, c->lock
 *   PARKED -> PARTIAL/FULL/PENDING   a refill beyond GH_PARK_MAX, or release_all:
 *                                    owner, c->lock (+ class lock to file it)
 *   OWNED -> PARTIAL/FULL/PENDING    release_all (flush): owner, c->lock + class lock;
 *                                    in a fork child, a drainer of a gone cache too
 *   PARKED -> RETURNED               found empty: a drainer (gh_mcache_drain, any CPU),
 *                                    the owner's second look in a row (one every
 *                                    512 refills: home within 1024), or the owner
 *                                    before its heap grows, under c->lock
 *   OWNED/PARKED -> RETURNED         uncached empty (release_all, beyond the bound)
 *   FULL -> PENDING                  the first remote free: the freer's CAS (then the
 *                                    class lock to move it), or the filer's re-check
 *   PARTIAL/PENDING/FULL -> RETURNED a reclaim pass finds it empty (gh_central_reclaim:
 *                                    background step, before the heap grows, memory
 *                                    limit, free_os_memory): anyone, class lock
 *   cache_span refiles spans it finds still full (-> FULL, or PENDING if freed into).
 *
 * span->cstate: where a small span is. Changed under mcentral's lock, except the
 * FULL -> PENDING flip, which a remote freer makes with a CAS (see mcentral.h), and
 * CACHED -> NONE for an empty parked span, under its owner's drain lock. */
enum {
    GH_CS_NONE = 0,    /* large span, or being set up */
    GH_CS_CACHED = 1,  /* in a CPU's mcache; owner says which */
    GH_CS_PARTIAL = 2, /* in mcentral's partial list: has free slots */
    GH_CS_FULL = 3,    /* in mcentral's full list: had none at its last sweep */
    GH_CS_PENDING = 4, /* in mcentral's pending list: full, then freed into */
};

/* span->owner: the CPU whose mcache holds the span, or GH_NO_OWNER. GH_OWNER_SLOW is
 * set on cached spans whose frees must take the slow path even on the owning CPU
 * (tiny blocks, instrumented mode): the fast path compares owner with the CPU index,
 * so the flag makes it miss. */
#define GH_NO_OWNER 0x7fffffffu
#define GH_OWNER_SLOW 0x80000000u

/* A span. Invariants for a small span (spc >= 2) in use. For word w let
 *   free(w) = freeBits[w]               (one bitmap, 1 = free: the owner's mallocs
 *                                         and frees both write it, there is no
 *                                         private copy; stored so, and not as the
 *                                         allocated bits, so that malloc's take is a
 *                                         find-first-set and its test that bit's
 *                                         flag, bench/RESULTS.md "freeBits"),
 *   R(w)    = remoteFree[w]              (frees by other CPUs, not yet swept, 1 =
 *                                         pending: the owner's free tests one bit of
 *                                         freeBits[w] | remoteFree[w]);
 * then
 *   R(w) & free(w) == 0    (the double-free rule: no slot is allocatable while a free
 *                           of it is pending; a slot set in both is a double free)
 *   objects live = sum over w of popcount(~free(w) & valid(w)) - popcount(R(w));
 *   bits at index >= nelems are 0 in freeBits (never free);
 *   while a word is current (curword != GH_NO_WORD): wbits == &freeBits[curword],
 *   wordbase == base + curword * 64 * elemsize; otherwise wbits == &gh_full_word;
 *   limit == base + nelems * elemsize;
 *   rnelems == (tiny || slowmode) ? 0 : nelems (goheap_validate), and 0 once the span
 *   is not in use (gh_span_dead);
 *   every live sampled object's slot is allocated with its R bit set, its marker
 *   (profile.c, "markers"): for a lane's key k, bit k-1 of ~freeBits & R (validated);
 *   such a bit is no pending free, and the sweeps and live counts leave it alone.
 * How each free keeps the rule (docs/alloc.md "Explicit free"): the owner's free tests
 * freeBits | R(w) (the fast path, inline); a remote freer first checks freeBits
 * (a set bit: freed already), then sets its bit of R(w) with an atomic OR (a bit
 * already set is a double free),
 * then, if a sweep ran meanwhile (sweepseq moved), re-checks (gh_span_remote_recheck);
 * a sweep rejects a remote bit on a free slot; a word becomes current only after
 * R(w) & free(w) is found empty.
 * Ownership: while owner != GH_NO_OWNER only that CPU (pinned) writes freeBits,
 * curword, wbits, wordbase and lfree; otherwise only the holder of mcentral[spc].lock.
 * Remote freers and drainers read freeBits: those writes are relaxed atomic stores
 * (plain moves), a free's a release store. A sweep that takes remote bits makes
 * sweepseq odd around it.
 * Statistics (the fast paths count no malloc): while a span is its owner's current
 * span (a tenure: gh_span_tenure_begin .. _end), allocated + lfree grows by one per
 * malloc and by nothing else, where allocated = nelems - popcount(freeBits) (a local
 * free sets a bit and adds 1 to lfree; a sweep by the owner adds what it set to
 * lfree), so the tenure's mallocs are allocated + lfree - tbase; _end adds them to the owner's counter, and
 * readers add them for every current span (stats.c). The owner's frees are not
 * counted per free either: they are lfree - lswept (lswept: what the owner's sweeps
 * added), and lcounted of them are in a CPU's counter already; the rest,
 * gh_span_uncounted_frees, go to the owner's nfree_own when the span leaves its cache
 * (mcache.c), and readers add them for every current and parked span. Remote frees
 * are counted per free, by the freeing CPU.
 * needzero is effectively needzero | (lfree != 0). remoteFree is written by anyone
 * with one atomic OR and taken with an exchange for zero. */
struct mspan {
    /* ---- line 0: read-mostly; what remote freers read (no false sharing with the
     * owner's allocation state in the hot line), and the remoteFree words of small
     * spans (rfin, written by remote freers' ORs). ---- */
    uintptr_t base;         /* first byte of the span; fixalloc link when dead */
    _Atomic uint64_t *remoteFree; /* [nwords], 1 = freed by another CPU, not yet swept
                                   * (R(w); read it with gh_span_rpend): rfin
                                   * below when nwords <= GH_RF_INLINE, else after
                                   * freeBits in bits[] */
    uint32_t elemsize;      /* object size (large: 0, see npages) */
    _Atomic uint32_t owner; /* cpu (| GH_OWNER_SLOW) while cached, else GH_NO_OWNER */
    /* Every free's index test (gh_span_index), the owner's and a remote freer's: the
     * inverse of elemsize's odd part and its rotation, here where both read anyway. */
    uint64_t winv;          /* inverse of elemsize's odd part mod 2^64 */
    /* nelems for a remote freer's index test (free.c gh_free_other), or 0 to send
     * every remote free of the span to the slow path: tiny spans, slowmode, large
     * spans (a struct recycled as a large span since the freer's class test fails it)
     * and spans not in use (gh_span_dead: the remote free tests no state). A span
     * holding a sampled object keeps nelems (its markers send that object's free
     * aside: profile.c). Relaxed stores and loads. */
    _Atomic uint32_t rnelems; /* (32 bits: clang zero-extends a 16-bit atomic load twice) */
    _Atomic uint32_t sweepseq; /* odd while a sweep takes remote bits (gh_span_sweep_remote) */
    uint16_t nelems;        /* object slots */
    uint8_t wshift;         /* trailing zero bits of elemsize */
    uint8_t needzero;       /* 1: free slots may hold old data (see gh_span_needzero) */
    uint8_t spc;            /* span class; 0/1 = large */
    uint8_t nwords;         /* bitmap words: ceil(nelems / 64) */
    _Atomic uint8_t state;  /* GH_SPAN_* */
    _Atomic uint8_t cstate; /* GH_CS_* */
    /* remoteFree of a span of at most GH_RF_INLINE words (every class from 64 B up),
     * in the line the owner's free reads for owner and base anyway: one cache line
     * less on every owner's free and word change (bench/RESULTS.md, "remoteFree in
     * line 0"). A remote freer's OR dirties this line instead of a line of its own;
     * the owner re-read a line written by it either way. */
    _Atomic uint64_t rfin[2];

    /* ---- the rest: slow paths ---- */
    struct mspan *next, *prev; /* list links (protected by the list's owner) */
    void *onlist;              /* the list it is on, or NULL (relaxed atomic stores: a
                                  late freer's wake reads it, gh_central_wake) */
    uint64_t *freeBits;        /* [nwords], 1 = free (0 past nelems) */
    _Atomic uint8_t *tinycount;   /* tiny spans: live tiny objects per 16 B block */
    _Atomic uint32_t *tinyends;   /* tiny spans: bit i = a tiny object ends at byte i,
                                   * bit GH_TINY_STARTS + i = one starts there */
    _Atomic uint16_t *tinyfreed;  /* tiny spans: bit i = the tiny object at byte i was
                                   * freed (reset when the block becomes a tiny block) */
    uintptr_t limit;     /* end of the last object slot (large: base + npages pages) */
    uint32_t npages;     /* pages in the span (efence: including the guard page) */
    uintptr_t reqsize;   /* large/efence: the size asked for */
    uint32_t divmul;     /* goheap_class_to_divmagic[class] (large: 0; gh_span_objindex) */
    uintptr_t obj;       /* large: the object's address (base, or aligned inside) */
    uintptr_t alloc_pc;  /* efence/large: caller of malloc */
    uint64_t *nmalloc_ctr; /* while cached: &owner's mcache->nmalloc[spc] */
    /* The owner's frees (statistics above): the part of lfree that its sweeps added,
     * and how many of lfree - lswept a CPU's nfree_own holds. Written by the owner
     * under its mcache.lock (refill's sweeps; the span leaving the cache), or by a
     * drainer under that lock; equal to lfree - lswept while nobody owns the span
     * (only an owner writes lfree). */
    uint64_t lswept;
    uint64_t lcounted;
    /* Parked: the owner's last look (mcache.c, every GH_REFILLS_PER_LOOK refills) found
     * it empty; the next such look gives it back. Reset when it is parked. Protected
     * by the owner's mcache.lock. */
    uint8_t emptyseen;
    uint64_t tbase;      /* allocated slots + lfree when the tenure began; parked:
                          * that sum at the tenure's end, kept by frees */
    uint8_t bucket;      /* which fixalloc it came from */
    uint8_t efence;      /* large span holding one guarded object: GH_EFENCE_GUARD_ABOVE
                          * (guard page last) or _BELOW (guard page first), else 0 */
    /* Live sampled objects (profile.c). A small span's each carry a marker (R set on
     * an allocated slot), which sends that object's free, and only it, past the fast
     * paths to the record lookup; sweeps and live counts read nsampled to tell
     * markers from pending frees. A large span's free reads it beside obj and efence.
     * Changed under the profile lock, read without it; 16 bits hold it (at most one
     * per object: 1,024 slots, or 8,192 tiny objects in a tiny span). */
    _Atomic uint16_t nsampled;
    /* A deferred map in flight (alloc/mheap.c, map_run; gh_heap.mapping): 0 while s's
     * own run is being mapped before it is published (a large malloc), else the pages
     * being mapped at s's end before s grows over them (realloc's growth in place),
     * or GH_MAPGROW_REMAP for a zero-copy move's destination (mheap.h). Protected by
     * the heap lock, as mapnext below. */
    uint32_t mapgrow;
    /* Which of them (profile.c, "sampled slots"): up to GH_PROF_LANES keys in 16-bit
     * lanes of psamp (0 = empty lane), and npover counts the ones without a lane, so
     * nsampled == lanes in use + npover (small spans; large spans use no lanes). Both
     * changed under the profile lock, read by free without it: a free whose key is in
     * no lane while npover == 0 frees an unsampled object and skips the lock. */
    _Atomic uint64_t psamp;
    _Atomic uint32_t npover;
    /* Large and efence spans (one object, at obj): the sampled object's record in the
     * span itself (profile.c, "large records"), its stack bucket (NULL: not sampled)
     * and its usable size as counted. Set by the sampler before malloc returns, taken
     * by free with a load and a store, neither under the profile lock. */
    struct gh_prof_bucket *_Atomic pbucket;
    _Atomic uint64_t psize;
    /* The next span of gh_heap.mapping (with mapgrow above). */
    struct mspan *mapnext;
    /* ---- the hot line, last: the owner's fast-path state, then the first two
     * bitmap words. malloc touches this line alone for a span of at most two words
     * (every class from 64 B up): wbits points into it. The owner's free touches
     * line 0 and this one (and, in smaller classes, the slot's bitmap word further
     * on). ---- */
    uint64_t *wbits GH_ALIGNED(GH_CACHELINE); /* &freeBits[curword], or &gh_full_word */
    uintptr_t wordbase;     /* address of slot curword * 64 */
    uintptr_t welemsize;    /* elemsize again, so malloc needs no other line (64 bits,
                             * beside wordbase: aarch64 loads both with one ldp) */
    uint32_t curword;       /* bitmap word malloc takes from, or GH_NO_WORD */
    /* The low 16 bits of lfree when the span was parked (owner, c->lock): a parked
     * span takes at most nelems <= 1024 frees, so 16 bits hold its room; beside lfree,
     * so that refill's look at a parked span's room reads this line alone. */
    uint16_t lfree_park;
    /* The word last current (kept when the tenure ends: where the next-fit scan goes
     * on), read and written by every word step: here, where the step reads the words
     * anyway (in the slow part it missed D1 on 0.7 of larson's word steps,
     * cachegrind). */
    uint8_t wlast;
    /* Local frees while owned, plus the remote frees the owner swept (never reset while
     * the span lives: see the statistics above; refill's measure of a parked span's
     * room is lfree - lfree_park). */
    uint64_t lfree;
    uint64_t wnelems;       /* nelems again, 64 bits: free's index test is one compare */
    /* storage, from byte GH_SPAN_BITS_IN_LINE of the hot line: freeBits[nwords]; for
     * spans of more than GH_RF_INLINE words remoteFree[nwords] from the next cache
     * line boundary on (the owner writes freeBits, other CPUs remoteFree; smaller
     * spans use rfin and have no such line); tiny spans: tinyends (32-bit),
     * tinyfreed, tinycount after remoteFree */
    uint64_t bits[];
};
/* Where bits[] starts in the hot line (bytes): two words fit before the line ends. */
#define GH_SPAN_BITS_IN_LINE 48

/* A doubly linked list of spans (through next/prev; s->onlist names the list).
 * Protected by whoever owns the list (mcentral lock, or the owning CPU). */
struct gh_spanlist {
    struct mspan *first, *last;
    uint32_t n;
};
/* Links s into l between prev and next (neighbours in l, or 0 at an end). (Inline, as
 * the three below: a refill parks one span and unparks another, and the calls cost ~10
 * of its instructions; pareto, 2 threads.) */
static inline void gh_list_link(struct gh_spanlist *l, struct mspan *s, struct mspan *prev, struct mspan *next) {
    s->prev = prev;
    s->next = next;
    if (prev)
        prev->next = s;
    else
        l->first = s;
    if (next)
        next->prev = s;
    else
        l->last = s;
    __atomic_store_n(&l->n, l->n + 1, __ATOMIC_RELAXED); /* (n: read without the lock, mcentral.c) */
    /* onlist is read by a late freer's wake under a class lock that may not be this
     * list's (gh_central_wake): relaxed atomic stores, as span_reset's */
    __atomic_store_n(&s->onlist, (void *)l, __ATOMIC_RELAXED);
}
static inline void gh_list_push(struct gh_spanlist *l, struct mspan *s) { gh_list_link(l, s, 0, l->first); }
static inline void gh_list_push_back(struct gh_spanlist *l, struct mspan *s) { gh_list_link(l, s, l->last, 0); }

static inline void gh_list_remove(struct gh_spanlist *l, struct mspan *s) {
    if (s->prev)
        s->prev->next = s->next;
    else
        l->first = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        l->last = s->prev;
    s->next = s->prev = 0;
    __atomic_store_n(&s->onlist, (void *)0, __ATOMIC_RELAXED);
    __atomic_store_n(&l->n, l->n - 1, __ATOMIC_RELAXED);
}


/* curword of a span that is not its owner's current span (parked, in mcentral): malloc
 * takes nothing from it (wbits is &gh_full_word); frees still land in freeBits. */
#define GH_NO_WORD 0xffffffffu

/* Relaxed stores of the words remote freers read (struct mspan): plain moves. */
#define GH_WSET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

/* Small spans whose every free takes the slow path, whoever frees: tiny spans (their
 * blocks' counts) and every span in instrumented mode (slowmode). Owned, they carry
 * GH_OWNER_SLOW; their rnelems is 0. */
static inline int gh_span_always_slow(const struct mspan *s) { return s->spc == GH_TINY_SPC || gh_knobs.slowmode; }

/* rnelems of small span s (struct mspan). */
static inline void gh_span_rnelems_reset(struct mspan *s) {
    atomic_store_explicit(&s->rnelems, gh_span_always_slow(s) ? 0 : s->nelems, memory_order_relaxed);
}

/* s leaves use (given back, cached as pages, trimmed away): rnelems first, so that a
 * remote free that finds s in the span map from now on fails its index test and takes
 * the slow path, which names a free of a span not in use (free.c gh_free_other tests
 * no state), then the state. */
static inline void gh_span_dead(struct mspan *s) {
    atomic_store_explicit(&s->rnelems, 0, memory_order_relaxed);
    atomic_store_explicit(&s->state, GH_SPAN_DEAD, memory_order_relaxed);
}

/* Zero: what wbits names while no word is current, so that malloc's fast path finds
 * no free slot (it is never written: malloc writes only a word with a set bit). */
extern uint64_t gh_full_word;

/* Sentinels: gh_emptyspan fills empty mcache slots (no free slot, no owner);
 * gh_deadspan fills the span map wherever no span is in use (no owner, DEAD). */
extern struct mspan gh_emptyspan, gh_deadspan;

/* Spans with at most this many bitmap words keep remoteFree in the struct (rfin). */
#define GH_RF_INLINE 2
/* Word offset of remoteFree in bits[] for spans of more than GH_RF_INLINE words:
 * after freeBits, on the next cache line boundary (bits[] starts
 * GH_SPAN_BITS_IN_LINE bytes into a line). */
static inline unsigned gh_span_rf_offset(unsigned nwords) {
    unsigned lead = GH_SPAN_BITS_IN_LINE / 8; /* words of the line before bits[0] */
    return ((nwords + lead + 7) & ~7u) - lead;
}
/* Words of bits[] before the tiny arrays: freeBits, then remoteFree where rfin does
 * not hold it. */
static inline unsigned gh_span_bitmap_words(unsigned nwords) {
    return nwords <= GH_RF_INLINE ? nwords : gh_span_rf_offset(nwords) + nwords;
}

/* R(w), the slots of word w with a remote free pending. */
static inline uint64_t gh_span_rpend(const struct mspan *s, unsigned w, memory_order mo) {
    return atomic_load_explicit(&s->remoteFree[w], mo);
}

/* Bits of word w that are valid object slots. */
static inline uint64_t gh_span_valid(const struct mspan *s, unsigned w) {
    unsigned n = s->nelems - w * 64u;
    return n >= 64 ? ~0ull : ((1ull << n) - 1);
}

/* Object index of p (offset off = p - base < the span's bytes: past limit it gives
 * an index >= nelems or -1) with an exactness test
 * that needs no second multiply: for off = k*size + r (r < size) and
 * m = divmul = 2^32/size rounded up, the low 32 bits of off*m are k*e + r*m with
 * e = size*m - 2^32 <= size; they are < m iff r == 0, because k*e <= span bytes and
 * spanbytes * size < 2^32 for every class (max 81920 * 27264). Checked exhaustively
 * in tests/host/test_core_span.c. Returns -1 for an interior pointer. */
static inline int32_t gh_span_objindex(const struct mspan *s, uintptr_t off) {
    uint64_t prod = (uint64_t)off * s->divmul;
    if ((uint32_t)prod >= s->divmul)
        return -1;
    return (int32_t)(prod >> 32);
}

/* Sampled objects a span names (struct mspan psamp, profile.c "sampled slots"): keys
 * in GH_PROF_LANES 16-bit lanes of one word. */
#define GH_PROF_LANES 4
#define GH_LANE_ONES 0x0001000100010001ull /* 1 in every lane */
#define GH_LANE_TOPS 0x8000800080008000ull /* each lane's top bit */
#define GH_LANE_MASK 0xffffull
_Static_assert(GH_PROF_LANES * 16 == 64, "the lanes fill psamp");

/* a's key in small span s: its slot index + 1, or in a tiny span its byte offset + 1
 * (tiny objects share slots); 0 when it has none (a large span, not a slot start, a
 * key over 16 bits). */
static inline unsigned gh_span_sample_key(const struct mspan *s, uintptr_t a) {
    if (s->spc < 2)
        return 0;
    uintptr_t off = a - s->base;
    if (s->spc == GH_TINY_SPC)
        return off < GH_LANE_MASK ? (unsigned)off + 1 : 0;
    int32_t idx = gh_span_objindex(s, off);
    return idx >= 0 && idx < (int32_t)GH_LANE_MASK ? (unsigned)idx + 1 : 0;
}

/* Whether a (in s, nsampled > 0) may be a sampled object; 0: surely not. Without the
 * profile lock (profile.c says why that is safe). A lane equal to the key is a zero
 * lane of x, and the borrow test flags a zero lane exactly when there is one. */
static inline int gh_span_key_may_be_sampled(const struct mspan *s, unsigned key) {
    uint64_t x = atomic_load_explicit(&s->psamp, memory_order_relaxed) ^ (key * GH_LANE_ONES);
    return !key || ((x - GH_LANE_ONES) & ~x & GH_LANE_TOPS) != 0 ||
           atomic_load_explicit(&s->npover, memory_order_relaxed) != 0;
}
static inline int gh_span_may_be_sampled(const struct mspan *s, uintptr_t a) {
    return gh_span_key_may_be_sampled(s, gh_span_sample_key(s, a));
}

/* Frees may have left old data in free slots. */
static inline int gh_span_needzero(const struct mspan *s) { return s->needzero || s->lfree != 0; }

/* Slot index of address a in small span s, or a value >= nelems when a is not exactly
 * a slot start of the span (interior pointers, the tail past the last slot, other
 * spans' pages). With elemsize = q * 2^k (q odd) and winv = q^-1 mod 2^64,
 * f(d) = rotr(d * winv, k) maps d = i * elemsize to i (for i * 2^k < 2^64), and f is a
 * bijection on 64-bit values (an odd multiplier and a rotation both are), so
 * f(a - base) < nelems holds for the nelems slot starts and for nothing else: one
 * compare checks the range and the exactness, with no division. Checked against
 * division for every byte offset of every class's span (core-fastpath) and by
 * gh_span_check (debug >= 2). */
static inline uint64_t gh_span_index(const struct mspan *s, uintptr_t a) {
    return gh_rotr64((uint64_t)(a - s->base) * s->winv, s->wshift);
}

/* The address a with gh_span_index(s, a) == z (any z: the inverse of the same
 * bijection), for the fast path's panics, which get the index and not the address. */
static inline uintptr_t gh_span_index_addr(const struct mspan *s, uint64_t z) {
    unsigned k = s->wshift;
    return s->base + (uintptr_t)(gh_rotl64(z, k) * (uint64_t)(s->welemsize >> k));
}

/* i = the index of the lowest set bit of x, or a jump to label when x is 0: malloc's
 * test and find of a free slot in its word, two instructions where the platform has
 * them (platform.h, goheap_sys_lowest_bit_or), else the C form (a test, a branch and
 * the count). i is only set when it falls through. */
#ifdef GOHEAP_SYS_HAVE_LOWEST_BIT
#define GH_LOWEST_BIT_OR(x, i, label) goheap_sys_lowest_bit_or(x, i, label)
#else
#define GH_LOWEST_BIT_OR(x, i, label)                                                                             \
    do {                                                                                                          \
        if (gh_unlikely((x) == 0))                                                                                \
            goto label;                                                                                           \
        (i) = gh_ctz64(x);                                                                                        \
    } while (0)
#endif
/* Takes slot i (set in fb, the word *wp of free bits) out of a current word whose
 * first slot is at wordbase, slots welemsize apart: its address (x86: btr, imul, add).
 * The one take of malloc's fast path (api.c, with the word state of a fast entry or
 * of a span), realloc's and the refill's. Owner, pinned. */
static inline void *gh_word_take(uint64_t *wp, uint64_t fb, uint64_t i, uintptr_t wordbase, uintptr_t welemsize) {
    GH_WSET(*wp, fb & ~gh_bit_mask(i));
    return (void *)(wordbase + (uintptr_t)i * welemsize);
}
/* Takes the lowest free slot of s's current word, whose bitmap word fb = *wbits has
 * one (fb != 0). Owner, pinned. */
static inline void *gh_span_take_word(struct mspan *s, uint64_t *wp, uint64_t fb) {
    return gh_word_take(wp, fb, gh_ctz64(fb), s->wordbase, s->welemsize);
}
/* Whether the current word has a free slot (none while no word is current). */
static inline int gh_span_word_has_free(const struct mspan *s) { return *s->wbits != 0; }

/* set_word's panic (cold): `both` holds the slots of word w that are free in freeBits
 * and pending in remoteFree. */
_Noreturn void gh_span_word_double_free(const struct mspan *s, unsigned w, uint64_t both);
/* Make word w current. Its free slots are checked against remoteFree first: a slot
 * free in freeBits and pending remotely was freed twice, and must not become
 * allocatable (issue 10's double-free rule). The bits past nelems are clear in
 * freeBits from span init on and nothing sets them (a freer's index test rejects
 * them), so freeBits[w] names valid slots only. Owner. */
static inline void gh_span_set_word(struct mspan *s, unsigned w) {
    uint64_t fr = s->bits[w]; /* freeBits[w] (bits[]: no load of the pointer) */
    uint64_t r = gh_span_rpend(s, w, memory_order_acquire);
    if (gh_unlikely(r & fr))
        gh_span_word_double_free(s, w, r & fr);
    GH_WSET(s->curword, w);
    s->wbits = &s->bits[w];
    s->wordbase = s->base + (uintptr_t)w * 64u * s->elemsize;
    s->wlast = (uint8_t)w;
}
/* Make the next word with a free slot current, after checking its free slots against
 * remoteFree ("double free"). Returns 0 when there is none (a full current word then
 * stays current: the tenure goes on until the span is parked or given up).
 * Next fit: the scan starts after the word last current (wlast) and wraps, so the word
 * taken is the one left longest ago, with the most frees gathered since (under random
 * replacement the lowest word, refilled by the first free into it, yielded 1-2 slots:
 * bench/suite/pareto, 2 threads, 11 objects per refill with lowest-first). Owner (in
 * a tenure). Inline: malloc's word step (mcache.h) is mostly this, and a call cost
 * more than the scan (bench/RESULTS.md, "The word step and the owner's clear"). */
static inline __attribute__((always_inline)) int gh_span_next_word(struct mspan *s) {
    unsigned n = s->nwords, w = s->wlast;
    for (unsigned k = 0; k < n; k++) {
        if (++w == n)
            w = 0;
        if (s->bits[w]) { /* (freeBits[w]: bits[] saves the pointer's load) */
            gh_span_set_word(s, w);
            return 1;
        }
    }
    return 0; /* (a current word stays current, full: the tenure goes on) */
}

/* Set up a fresh small span over [base, base + npages pages) for span class spc.
 * needzero: the memory may hold old data. Bitmaps must be zero on entry. */
void gh_span_init_small(struct mspan *s, uintptr_t base, unsigned spc, int needzero);
#define GH_EFENCE_GUARD_ABOVE 1 /* efence=1, 2, guardrate */
#define GH_EFENCE_GUARD_BELOW 3 /* efence=3 */

/* Large span: one object of reqsize bytes. */
void gh_span_init_large(struct mspan *s, uintptr_t base, uintptr_t npages, uintptr_t reqsize);

/* A tenure (struct mspan, statistics): the span becomes c's current span of its
 * class (_begin: records tbase; the caller then picks a word with gh_span_next_word)
 * or stops being it (_end: the tenure's mallocs go to the owner's counter, and no
 * word is current). Owner, or the holder of the class lock for a span being uncached.
 * _end on a span without a current word does nothing. */
void gh_span_tenure_begin(struct mspan *s);
/* _end leaves tbase at allocated + lfree (allocated = gh_span_alloc_bits). While the
 * span stays parked with its owner, frees keep that sum (a local free sets a bit and
 * adds 1 to lfree; the owner's sweep sets as many bits as it adds), so when the owner
 * takes it back its
 * next tenure begins with that tbase and needs no _begin (no popcount of a span 1/4
 * free or more: larson ~55 instructions per unpark). The validator checks the sum for
 * every parked span. */
void gh_span_tenure_end(struct mspan *s);
/* _end for a span whose every slot is allocated (freeBits all zero: the refill's: a
 * word scan found no free slot and the owner's sweep freed none since): allocated is
 * nelems, no popcount (pareto, 2 threads: ~58 -> ~20 instructions per refill that
 * parks). Checked at debug >= 2. Owner. */
void gh_span_tenure_end_full(struct mspan *s);
/* Allocated slots: nelems - popcount(freeBits) (bits past nelems are clear). */
unsigned gh_span_alloc_bits(const struct mspan *s);
/* Mallocs of the tenure in progress (struct mspan), as a reader on any CPU sees them. */
static inline uint64_t gh_span_tenure_mallocs(const struct mspan *s) {
    return (uint64_t)gh_span_alloc_bits(s) + __atomic_load_n(&s->lfree, __ATOMIC_RELAXED) -
           __atomic_load_n(&s->tbase, __ATOMIC_RELAXED);
}
/* The owner's frees of s not yet in any CPU's counter (struct mspan, statistics), as a
 * reader sees them: exact while the owner is not freeing at the same moment. */
static inline uint64_t gh_span_uncounted_frees(const struct mspan *s) {
    return __atomic_load_n(&s->lfree, __ATOMIC_RELAXED) - s->lswept - s->lcounted;
}
/* The markers in s (profile.c, "markers"): a small span's live sampled objects, each
 * with its remoteFree bit set; none in a tiny span (its lanes hold byte offsets,
 * and every free of its blocks goes slow anyway). seq_cst: the markers' order. */
static inline unsigned gh_span_nmarkers(const struct mspan *s) {
    return s->spc == GH_TINY_SPC ? 0 : atomic_load_explicit(&s->nsampled, memory_order_seq_cst);
}
/* Pending bits beyond the markers: a span with a live sampled object has one set
 * remoteFree bit per such object. */
int gh_span_pending_beyond_markers(const struct mspan *s);
/* Whether a remote free of s is pending (seq_cst loads: mcentral's lost-wake-up
 * handshake pairs them with the freers' ORs), not counting sampled objects'
 * markers; nsampled is read only once a bit is found set. A sampled object freed
 * remotely has its marker taken off before its OR (free.c other_sampled), and its
 * freer then makes the handshake's check of cstate itself. */
static inline int gh_span_remote_pending(const struct mspan *s) {
    for (unsigned w = 0; w < s->nwords; w++)
        if (gh_span_rpend(s, w, memory_order_seq_cst))
            return !gh_span_nmarkers(s) || gh_span_pending_beyond_markers(s);
    return 0;
}
/* gh_span_sweep_remote's body, for a span with something pending. */
unsigned gh_span_sweep_remote_words(struct mspan *s, unsigned cpu);
/* Take R into freeBits (an exchange for zero per remoteFree word; with sampled
 * objects, their markers left: profile.c), sweepseq odd around it. Pinned on cpu
 * (the profile lock may be taken). Panics
 * on a double free or a free of a slot that was never allocated. Returns the number of
 * objects freed. Owner, or the class lock holder; an owner adds the result to lfree.
 * Most spans hold no remote free when swept (pareto: none), so the look comes inline,
 * without the call (callgrind per pair, 1 thread: pareto 59.6 -> 58.5). A remote OR
 * landing just after the look waits for the next sweep, as one landing after a sweep
 * does. */
static inline unsigned gh_span_sweep_remote(struct mspan *s, unsigned cpu) {
    return gh_span_remote_pending(s) ? gh_span_sweep_remote_words(s, cpu) : 0;
}
/* A remote freer of slot (w, bit b), pinned, before its OR: is the slot free in the
 * owner's bitmap? GH_SLOT_FREE is a double free: in a correct program the slot stays
 * allocated there until the OR is swept. *seq gets sweepseq, read first: a sweep that
 * runs between this look and the OR moves it (gh_span_swept_since). */
enum { GH_SLOT_ALLOC = 0, GH_SLOT_FREE = 1 };
static inline int gh_span_slot_view(const struct mspan *s, unsigned w, unsigned b, uint32_t *seq) {
    *seq = atomic_load_explicit(&s->sweepseq, memory_order_seq_cst);
    uint64_t fb = __atomic_load_n(&s->bits[w], __ATOMIC_SEQ_CST); /* == freeBits[w], without its pointer's line */
    return gh_bit64(fb, b) ? GH_SLOT_FREE : GH_SLOT_ALLOC;
}
/* After the OR: whether a sweep ran (or was running) since the view's sweepseq. */
static inline int gh_span_swept_since(const struct mspan *s, uint32_t seq) {
    return (seq & 1) || atomic_load_explicit(&s->sweepseq, memory_order_seq_cst) != seq;
}
/* A remote freer of slot (w, m) of s, after setting it in R(w) (its OR on
 * rw = &remoteFree[w]),
 * when a sweep ran between its check of freeBits and its OR (sweepseq moved): a sweep
 * may have applied an earlier free of the slot, so that this OR now sits on a free
 * slot, which no correct free can cause. Panics "double free" naming a when it finds
 * the slot free with the bit still pending, read stably (no sweep in between: a bit is
 * set in freeBits while R's is set only by a sweep, or by a local free, which
 * checks R). Reads only line 0 and the bitmaps (relaxed atomics): any incarnation of
 * a recycled struct with the same layout (class -> bitmap words) in that state breaks
 * the rule too; one of another layout (another class of the struct's spanalloc
 * bucket: fewer words, remoteFree elsewhere) gets no verdict, since rw and word w may
 * be its zeroed padding there. Not caught: the owner
 * allocating the slot again before the re-check (docs/alloc.md "Explicit free"). */
void gh_span_remote_recheck(const struct mspan *s, _Atomic uint64_t *rw, unsigned w, uint64_t m,
                            uintptr_t a);
/* Live objects of a swept span (pending remote frees count as live). */
unsigned gh_span_count_live(const struct mspan *s);
/* Live objects of a span that may be in use by its owner (pending remote frees count
 * as freed), for stats. */
unsigned gh_span_count_live_any(const struct mspan *s);

/* debug>=2: checks a small span's own invariants (bits past nelems never free, the
 * current word's pointers, the index test, and R(w) & free(w) == 0, which
 * panics with "double free" naming the slot); panics naming the span. Caller owns the
 * span (or holds its class lock). */
void gh_span_check(const struct mspan *s, const char *where);

/* The double-free rule R(w) & free(w) == 0 (struct mspan): the address of the first
 * slot that breaks it, or 0. Exact when the span's owner is quiescent. */
uintptr_t gh_span_double_freed(const struct mspan *s);

/* Panic messages that name the span (used by free and sweep). */
_Noreturn void gh_bad_free(const char *reason, uintptr_t p, const struct mspan *s);

#endif /* GOHEAP_MSPAN_H */
