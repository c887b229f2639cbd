/* alloc/profile.c: the sampling heap profiler (docs/profiling.md): exponential sampling
 * intervals per CPU cache, frame-pointer stacks into buckets, sampled-object records
 * that free finds through the span, and the markers that keep sampled slots out of the
 * sweeps (the text profile is written by profile_text.c). */
#include "profile.h"
#include "core.h"

uint64_t gh_prof_rate = GH_PROF_DEFAULT_RATE;
_Atomic uint64_t gh_prof_nlarge;

/* A live sampled object. */
struct gh_prof_rec {
    struct gh_prof_rec *next; /* hash chain, or the free list */
    uintptr_t addr;
    struct gh_prof_bucket *b;
    uint64_t size;
};

/* Hash table sizes: start small, double when the load passes 2 per head. The old
 * head array is persistent memory and stays lost: at most as much again as the live
 * table. 64 heads (512 B) each: the heads are touched at random (records are hashed
 * by address), so every page of a table is resident as soon as a few dozen samples
 * have come and gone. With 1024 / 2048 heads (8 + 16 KiB) that was 24 KiB of every
 * process that samples at all (a churn loop of 8-256 B objects on one thread: the
 * persistent metadata's resident pages 96 -> 80 KiB with 64 heads);
 * a table reaches 2048 heads again after five doublings (4096 live sampled objects,
 * ~2 GiB live at the default rate), each a rehash under the profile lock. */
#define PROF_BTAB_BITS0 6 /* buckets: 64 heads, 512 B */
#define PROF_RTAB_BITS0 6 /* records: 64 heads, 512 B */
#define PROF_MAX_BITS 26   /* 64 Mi heads (512 MiB): beyond that, chains just grow */
/* Records are carved from persistent memory this many at a time (4 KiB). */
#define PROF_REC_BATCH 128
/* Bucket hints by innermost frame: 64 (512 B). A program's hot allocation sites are
 * few; a collision costs only the locked look-up it would have made anyway. */
#define PROF_HINT_BITS 6

static struct {
    struct gh_mutex lock;
    /* protected by lock */
    struct gh_prof_bucket **btab;
    unsigned bbits;
    uint64_t nbuckets;
    struct gh_prof_rec **rtab;
    unsigned rbits;
    uint64_t nrecs;
    struct gh_prof_rec *freerecs;
    uint64_t dropped; /* samples lost for lack of metadata memory */
    /* release-published head of every bucket (the writer reads it without the lock) */
    struct gh_prof_bucket *_Atomic all;
    /* The bucket last found or made for a stack whose innermost frame hashes here
     * (hint_slot): a sample whose stack is the hint's takes no lock and no hash.
     * Written under lock, read without it (buckets are never freed). */
    struct gh_prof_bucket *_Atomic hint[1u << PROF_HINT_BITS];
} prof = {.lock = {.rank = GOHEAP_LC_PROFILE}};

void gh_prof_init(void) {
    gh_prof_rate = GOHEAP_PROFILE ? gh_knobs.memprofilerate : 0;
}

/* ---- sampling intervals ---------------------------------------------------------- */

/* log2(1 + i/64) * 2^24, rounded, i = 0..64:
 *   python3 -c 'import math; print([round(math.log2(1 + i/64) * 2**24) for i in range(65)])' */
const uint32_t gh_prof_log2_tab[65] = {
    0, 375270, 744810, 1108793, 1467383, 1820738, 2169009, 2512340,
    2850868, 3184728, 3514044, 3838941, 4159533, 4475935, 4788255, 5096595,
    5401057, 5701737, 5998727, 6292118, 6581994, 6868440, 7151536, 7431359,
    7707984, 7981483, 8251926, 8519380, 8783912, 9045584, 9304457, 9560591,
    9814042, 10064867, 10313120, 10558852, 10802114, 11042956, 11281425, 11517568,
    11751428, 11983051, 12212479, 12439752, 12664911, 12887994, 13109041, 13328087,
    13545168, 13760320, 13973576, 14184969, 14394532, 14602297, 14808293, 15012551,
    15215099, 15415967, 15615181, 15812769, 16008758, 16203172, 16396036, 16587377,
    16777216,
};

void gh_prof_cache_init(struct mcache *c, unsigned cpu) {
    /* Any non-zero seed differing per cache: address, CPU and the clock. */
    uint64_t seed = (uint64_t)(uintptr_t)c ^ ((uint64_t)cpu << 40) ^ goheap_sys_nanotime() ^
                    0x9e3779b97f4a7c15ull;
    c->prof_rng = seed ? seed : 1;
    c->next_sample = gh_prof_rate ? (int64_t)gh_prof_interval(gh_prof_rate, &c->prof_rng) : INT64_MAX;
}

/* ---- stacks ---------------------------------------------------------------------- */

/* The stack at the allocation: pcs[0] = pc (the caller of the public entry point),
 * then the return addresses of the frame records above the one that returns to pc.
 * Frame records (both arches): [fp] = the caller's fp, [fp + 8] = the return address.
 * The walk follows only aligned records inside the platform's bounds of this thread's
 * stack, each strictly above the last, so a program built without frame pointers
 * (rbp holds data) ends the walk early instead of faulting. If no record returns to
 * pc (an entry point without a frame in the chain), the stack is pc alone. fp: the
 * frame the search starts at, the caller's own (its record is checked like any
 * other): starting there rather than in the sampler skips the sampler's records.
 * Two loops, so that each step tests only what it needs: the allocator's own records
 * up to the one returning to pc, then the caller's. A record at fp is readable when
 * lo <= fp <= top (top = hi - one record) and fp is aligned; the first is checked
 * against lo, every later one is above its predecessor, which was at least lo. */
#define REC_WORDS 2 /* a frame record: saved fp, return address */
#define FP_ALIGN_MASK (sizeof(uintptr_t) - 1)
/* Records searched for the one returning to pc: the allocator's own frames between
 * the frame handed over and the public entry point (none on the large path, whose
 * frame handed over is gh_alloc_raw's; 2 from gh_prof_account). */
#define PROF_FIND_STEPS 16
static inline int rec_next_ok(uintptr_t prev, uintptr_t next, uintptr_t top) {
    return next > prev && next <= top && !(next & FP_ALIGN_MASK);
}

/* This thread's stack [*lo, *hi) from the platform, 0 when it gives none. lo is the
 * platform's (at or below the caller's frame), not the address of a local: aarch64
 * frames keep their locals above the frame record, so &lo > fp there. */
static inline __attribute__((always_inline)) int stack_bounds(uintptr_t *lo, uintptr_t *hi) {
#ifdef GOHEAP_SYS_HAVE_STACK_BOUNDS
    return goheap_sys_stack_bounds(lo, hi);
#else
    (void)lo, (void)hi;
    return 0;
#endif
}

/* The search, in the stack [lo, hi) (the bounds' call returned `have`): 1 and *fpp
 * the record returning to pc, *topp the highest readable record; 0 when there is none
 * (the stack is pc alone). */
static inline __attribute__((always_inline)) int walk_find(uintptr_t pc, int have, uintptr_t lo, uintptr_t hi,
                                                           uintptr_t *fpp, uintptr_t *topp) {
    if (!have)
        return 0;
    uintptr_t top = hi - REC_WORDS * sizeof(uintptr_t), fp = *fpp;
    if (hi < lo + REC_WORDS * sizeof(uintptr_t) || fp < lo || fp > top || (fp & FP_ALIGN_MASK))
        return 0;
    for (unsigned steps = 0; ((const uintptr_t *)fp)[1] != pc; steps++) {
        uintptr_t next = ((const uintptr_t *)fp)[0];
        if (steps == PROF_FIND_STEPS || !rec_next_ok(fp, next, top))
            return 0;
        fp = next;
    }
    *fpp = fp;
    *topp = top;
    return 1;
}

/* One step up from the record at *fpp: the next record's return address, or 0 where
 * the walk ends (no readable record above, or a zero return address). */
static inline __attribute__((always_inline)) uintptr_t walk_next(uintptr_t *fpp, uintptr_t top) {
    uintptr_t fp = *fpp, next = ((const uintptr_t *)fp)[0];
    if (!rec_next_ok(fp, next, top))
        return 0;
    *fpp = next;
    return ((const uintptr_t *)next)[1];
}

static GH_NOINLINE unsigned capture(uintptr_t pc, uintptr_t fp, uintptr_t *pcs) {
    pcs[0] = pc;
    uintptr_t lo, hi, top, ret;
    unsigned n = 1;
    int have = stack_bounds(&lo, &hi);
    if (walk_find(pc, have, lo, hi, &fp, &top))
        while (n < GH_PROF_MAX_DEPTH && (ret = walk_next(&fp, top)) != 0)
            pcs[n++] = ret;
    return n;
}

/* Whether capture(pc, fp) would record b's stack: the same walk (have, lo, hi: as
 * stack_bounds gave them), compared frame by frame as it goes, nothing stored. */
static inline __attribute__((always_inline)) int stack_is(const struct gh_prof_bucket *b, uintptr_t pc,
                                                          uintptr_t fp, int have, uintptr_t lo, uintptr_t hi) {
    uintptr_t top;
    unsigned n = b->nstk;
    if (b->stk[0] != pc)
        return 0;
    if (!walk_find(pc, have, lo, hi, &fp, &top))
        return n == 1;
    /* Frames 1 .. n-1 as the bucket has them (never 0: a zero return address ends
     * capture's walk, so comparing with one covers that end), then the walk's end. */
    for (unsigned i = 1; i < n; i++)
        if (walk_next(&fp, top) != b->stk[i])
            return 0;
    return n == GH_PROF_MAX_DEPTH || walk_next(&fp, top) == 0;
}

/* stack_is for a frame record fp of this thread that returns to pc (the large
 * sampler's own, tail-called: then it is this very frame's, found without the search
 * and inside the stack without a test), hi as stack_bounds gave it. The records above
 * get the walk's range tests; their alignment is tested once, at the end: the range
 * alone keeps every read inside the stack, and a misaligned record, where capture
 * would have ended its walk, means a stack other than b's. 1 when capture(pc, fp)
 * would record b's stack. (callgrind, 256 KiB pair at the default rate, bench's
 * three-frame stack: ~45 -> ~30 instructions a sample.) */
static inline __attribute__((always_inline)) int stack_is_own(const struct gh_prof_bucket *b, uintptr_t fp,
                                                              uintptr_t hi) {
    uintptr_t top = hi - REC_WORDS * sizeof(uintptr_t), acc = 0;
    unsigned n = b->nstk;
    for (unsigned i = 1; i < n; i++) {
        uintptr_t next = ((const uintptr_t *)fp)[0];
        if (next <= fp || next > top || ((const uintptr_t *)next)[1] != b->stk[i])
            return 0;
        acc |= next;
        fp = next;
    }
    return !(acc & FP_ALIGN_MASK) && (n == GH_PROF_MAX_DEPTH || walk_next(&fp, top) == 0);
}

/* ---- buckets and records (caller holds prof.lock) --------------------------------- */

static uint64_t stack_hash(const uintptr_t *pcs, unsigned n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the words */
    for (unsigned i = 0; i < n; i++) {
        h ^= pcs[i];
        h *= 0x100000001b3ull;
    }
    return h ^ n;
}

static unsigned slot_of(uint64_t h, unsigned bits) {
    return (unsigned)((h * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

static void *meta_alloc(unsigned cpu, size_t size) {
    gh_lock(&gh_meta.lock, cpu);
    void *p = gh_persistentalloc(size, 8, 0); /* counted in other_sys */
    gh_unlock(&gh_meta.lock, cpu);
    return p;
}

/* Doubles a chained table (heads only). */
static void **grow_table(unsigned cpu, void **tab, unsigned *bits, size_t next_off,
                         uint64_t (*key)(const void *)) {
    unsigned nb = *bits + 1;
    void **nt = meta_alloc(cpu, sizeof(void *) << nb);
    if (!nt)
        return tab; /* chains just get longer */
    for (size_t i = 0; i < ((size_t)1 << *bits); i++) {
        void *e = tab[i];
        while (e) {
            void *nx = *(void **)((char *)e + next_off);
            unsigned j = slot_of(key(e), nb);
            *(void **)((char *)e + next_off) = nt[j];
            nt[j] = e;
            e = nx;
        }
    }
    *bits = nb;
    return nt;
}

static uint64_t bucket_key(const void *e) { return ((const struct gh_prof_bucket *)e)->hash; }
static uint64_t rec_key(const void *e) { return ((const struct gh_prof_rec *)e)->addr >> 4; }

static int tables_ready(unsigned cpu) {
    if (gh_likely(prof.btab != 0))
        return 1;
    prof.btab = meta_alloc(cpu, sizeof(void *) << PROF_BTAB_BITS0);
    prof.rtab = meta_alloc(cpu, sizeof(void *) << PROF_RTAB_BITS0);
    if (!prof.btab || !prof.rtab) {
        prof.btab = 0;
        return 0;
    }
    prof.bbits = PROF_BTAB_BITS0;
    prof.rbits = PROF_RTAB_BITS0;
    return 1;
}

/* A word loop, not memcmp: the core's platform contract brings only memset, memcpy and
 * memmove (docs/PORTING.md), and __builtin_memcmp becomes a call to memcmp. */
static int same_stack(const uintptr_t *a, const uintptr_t *b, unsigned n) {
    for (unsigned i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static struct gh_prof_bucket *bucket_get(unsigned cpu, const uintptr_t *pcs, unsigned n) {
    uint64_t h = stack_hash(pcs, n);
    for (struct gh_prof_bucket *b = prof.btab[slot_of(h, prof.bbits)]; b; b = b->next)
        if (b->hash == h && b->nstk == n && same_stack(b->stk, pcs, n))
            return b;
    struct gh_prof_bucket *b = meta_alloc(cpu, sizeof *b + n * sizeof(uintptr_t));
    if (!b)
        return 0;
    b->hash = h;
    b->nstk = n;
    gh_memcpy(b->stk, pcs, n * sizeof(uintptr_t));
    if (prof.nbuckets >= (2ull << prof.bbits) && prof.bbits < PROF_MAX_BITS)
        prof.btab = (struct gh_prof_bucket **)grow_table(cpu, (void **)prof.btab, &prof.bbits,
                                                          offsetof(struct gh_prof_bucket, next), bucket_key);
    unsigned i = slot_of(h, prof.bbits);
    b->next = prof.btab[i];
    prof.btab[i] = b;
    prof.nbuckets++;
    b->allnext = atomic_load_explicit(&prof.all, memory_order_relaxed);
    atomic_store_explicit(&prof.all, b, memory_order_release); /* the writer's view */
    return b;
}

/* ---- bucket hints (read without the lock) ------------------------------------------
 * A sample looks its stack up first in a small table by innermost frame, holding the
 * bucket last found there: a hit compares the stack word by word (no hash) and takes
 * no lock; a miss takes the lock, hashes and searches (bucket_get) and leaves the
 * bucket as the slot's hint. Hints are published with release after the bucket is
 * complete, and buckets are never freed, so a stale hint is only a miss. */
/* The caller's address bits 2-7 (return addresses are 4-byte aligned on aarch64): one
 * or two instructions, where a multiplicative hash builds a 64-bit constant (four on
 * aarch64). Sites 256 bytes apart share a slot; while they alternate, their samples
 * take the locked look-up. */
static unsigned hint_slot(uintptr_t pc) {
    return (unsigned)(pc >> 2) & ((1u << PROF_HINT_BITS) - 1);
}

static struct gh_prof_bucket *bucket_hint(const uintptr_t *pcs, unsigned n) {
    struct gh_prof_bucket *b = atomic_load_explicit(&prof.hint[hint_slot(pcs[0])], memory_order_acquire);
    return b && b->nstk == n && same_stack(b->stk, pcs, n) ? b : 0;
}

/* Caller holds prof.lock. */
static struct gh_prof_bucket *bucket_lookup(unsigned cpu, const uintptr_t *pcs, unsigned n) {
    struct gh_prof_bucket *b = tables_ready(cpu) ? bucket_get(cpu, pcs, n) : 0;
    if (b)
        atomic_store_explicit(&prof.hint[hint_slot(pcs[0])], b, memory_order_release);
    return b;
}

static struct gh_prof_rec **rec_slot(uintptr_t a) {
    struct gh_prof_rec **pp = &prof.rtab[slot_of(a >> 4, prof.rbits)];
    while (*pp && (*pp)->addr != a)
        pp = &(*pp)->next;
    return pp;
}

/* Takes a's record out of the table, or returns NULL. */
static struct gh_prof_rec *rec_unlink(uintptr_t a) {
    struct gh_prof_rec **pp = prof.btab ? rec_slot(a) : 0;
    struct gh_prof_rec *r = pp ? *pp : 0;
    if (r)
        *pp = r->next;
    return r;
}

static struct gh_prof_rec *rec_new(unsigned cpu) {
    if (!prof.freerecs) {
        struct gh_prof_rec *r = meta_alloc(cpu, PROF_REC_BATCH * sizeof *r);
        if (!r)
            return 0;
        for (unsigned i = 0; i < PROF_REC_BATCH; i++) {
            r[i].next = prof.freerecs;
            prof.freerecs = &r[i];
        }
    }
    struct gh_prof_rec *r = prof.freerecs;
    prof.freerecs = r->next;
    return r;
}

/* A bucket's counts change under the lock (small records) and without it (large
 * records): atomic adds. */
static void count(uint64_t *field, uint64_t delta) {
    __atomic_fetch_add(field, delta, __ATOMIC_RELAXED);
}

/* ---- large records ------------------------------------------------------------------
 * A large or efence span holds one object, so its record is the span's own pbucket
 * and psize: no record table, no lock, no hash. The sampler writes them before malloc
 * returns (nothing else can free the object before that); free takes the bucket with
 * a load and a store (a double free finds no record the second time; two racing
 * frees of one object may both count it, and free then panics on the double free),
 * realloc moves it under the lock like a small record. nsampled is 1 while the span
 * holds one. In the bench's 4 MiB pair, sampled every time at the default rate, the
 * sample and its free cost ~540 instructions with a table record under the lock
 * (bench/RESULTS.md, "Heap profiler"). The record and its bucket's counts are made in
 * the fork gate where a fork can copy the heap (core.h: large_record,
 * gh_prof_free_large), so that a fork child finds both or neither, as the lock makes
 * a small record whole. */

/* s's object p (usable size `size`) becomes sampled in bucket b. */
static void large_set(struct mspan *s, uintptr_t p, struct gh_prof_bucket *b, uint64_t size) {
    if (atomic_load_explicit(&s->pbucket, memory_order_relaxed)) /* a missed free: fail loudly */
        gh_panicf("goheap: profile: object 0x%lx sampled twice (its free was missed)", (unsigned long)p);
    atomic_store_explicit(&s->psize, size, memory_order_relaxed);
    atomic_store_explicit(&s->pbucket, b, memory_order_release);
    atomic_store_explicit(&s->nsampled, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&gh_prof_nlarge, 1, memory_order_relaxed);
}

/* A large object's lock-free record: its bucket's counts and the span's record, in
 * the fork gate (core.h), so that a fork child finds both or neither. Unpinned, no
 * lock held. */
static inline void large_record(struct mspan *s, uintptr_t p, struct gh_prof_bucket *b, uint64_t size) {
    int gate = gh_prof_gate_enter();
    count(&b->allocs, 1);
    count(&b->alloc_bytes, size);
    large_set(s, p, b, size);
    gh_prof_gate_exit(gate);
}

/* Takes a's record out of its large span s: its bucket (NULL when a has none), its
 * size in *size. */
static struct gh_prof_bucket *large_take(struct mspan *s, uintptr_t a, uint64_t *size) {
    return gh_prof_large_take(s, a, size);
}

/* ---- markers -------------------------------------------------------------------------
 * A live sampled object of a small span carries a marker: its slot's remoteFree bit
 * set, as if a remote free of it were pending. Both fast paths test that bit and
 * nothing else of the profiler: the owner's free finds the slot "pending" and takes
 * its double-free exit (free.c gh_free_owned_bad), a remote free's OR finds the bit
 * set already (free.c other_sampled); there the record is looked up, and a sampled
 * object's free drops its record, takes the marker off and frees the slot as usual.
 * Every other object of the span keeps both fast paths. (Before, a sampled object
 * made its whole span slow: GH_OWNER_SLOW in owner for the owner's frees, rnelems 0
 * for remote ones, and 19 frees of unsampled objects went past the fast paths per
 * sample in larson, a mispredicted branch and ~50 instructions each: bench/suite
 * larson, memprofilerate 0 against the default, 1 thread 163.5 against 173.5 ms.)
 * The sweeps leave markers alone (gh_prof_sweep_take: a marker is the slot of a lane,
 * or of a record where npover > 0), and so do the live counts (nsampled counts the
 * markers: mcache.c parked_live). mark sets the lane, then nsampled, then the marker;
 * unmark takes the marker off first, then the lane, then nsampled (all seq_cst), so a
 * reader of the lanes before and after its load of the bits (gh_prof_sweep_take)
 * sees every marker among them, and a reader of nsampled before the bits
 * (parked_live) never counts a live sampled object as free. Tiny spans have no
 * markers: every free of theirs takes the slow path anyway. */
static void marker(struct mspan *s, uintptr_t a, int on) {
    if (s->spc < 2 || s->spc == GH_TINY_SPC)
        return;
    unsigned i = (unsigned)gh_span_objindex(s, a - s->base);
    uint64_t m = 1ull << (i & 63);
    if (on)
        atomic_fetch_or_explicit(&s->remoteFree[i >> 6], m, memory_order_seq_cst);
    else
        atomic_fetch_and_explicit(&s->remoteFree[i >> 6], ~m, memory_order_seq_cst);
}

/* The slots of word w that the lanes in l name. */
static uint64_t lane_bits(uint64_t l, unsigned w) {
    uint64_t m = 0;
    for (unsigned i = 0; i < GH_PROF_LANES; i++) {
        unsigned k = (unsigned)(l >> (16 * i)) & GH_LANE_MASK;
        if (k && (k - 1) >> 6 == w)
            m |= 1ull << ((k - 1) & 63);
    }
    return m;
}

/* The slots of bits in word w of s that hold a record. Caller holds prof.lock. */
static uint64_t record_bits(const struct mspan *s, unsigned w, uint64_t bits) {
    uint64_t m = 0;
    for (uint64_t b = prof.rtab ? bits : 0; b; b &= b - 1) {
        uintptr_t a = s->base + (uintptr_t)(w * 64 + gh_ctz64(b)) * s->elemsize;
        if (*rec_slot(a))
            m |= b & -b;
    }
    return m;
}

/* The markers among bits, word w of s, with prof.lock held (a span whose sampled
 * objects do not all have lanes). */
static uint64_t markers_locked(const struct mspan *s, unsigned w, uint64_t bits) {
    return bits & (lane_bits(atomic_load_explicit(&s->psamp, memory_order_relaxed), w) | record_bits(s, w, bits));
}

/* The markers among bits of word w of s that its lanes name (all of them while npover
 * is 0; no lock). */
static uint64_t lane_markers(const struct mspan *s, unsigned w, uint64_t bits) {
    return bits & lane_bits(atomic_load_explicit(&s->psamp, memory_order_acquire), w);
}

/* The markers among bits, word w of s: lanes, and records under prof.lock where
 * npover > 0. cpu: the caller's, pinned. */
static uint64_t markers(const struct mspan *s, unsigned w, uint64_t bits, unsigned cpu) {
    if (!atomic_load_explicit(&s->npover, memory_order_acquire))
        return lane_markers(s, w, bits);
    gh_lock(&prof.lock, cpu);
    uint64_t m = markers_locked(s, w, bits);
    gh_unlock(&prof.lock, cpu);
    return m;
}

/* The pending remote frees of word w of s that are no markers; with take, also taken
 * (their remoteFree bits cleared). Lanes read before and after the bits: a marker the
 * load of the bits sees was set after its lane (mark) and is taken off before its
 * lane (unmark), so one of the two reads names it. With npover > 0 (records without
 * lanes) under prof.lock, where no mark or unmark runs. Pinned on cpu. */
static uint64_t pending_frees(struct mspan *s, unsigned w, unsigned cpu, int take) {
    uint64_t l1 = atomic_load_explicit(&s->psamp, memory_order_seq_cst);
    uint32_t o1 = atomic_load_explicit(&s->npover, memory_order_seq_cst);
    uint64_t p = gh_span_rpend(s, w, memory_order_seq_cst);
    uint64_t l2 = atomic_load_explicit(&s->psamp, memory_order_seq_cst);
    uint32_t o2 = atomic_load_explicit(&s->npover, memory_order_seq_cst);
    uint64_t f;
    if (o1 | o2) {
        gh_lock(&prof.lock, cpu);
        p = gh_span_rpend(s, w, memory_order_seq_cst);
        f = p & ~markers_locked(s, w, p);
        if (take && f) /* (clear bits stay clear; only this sweep clears the ones it saw set) */
            atomic_fetch_and_explicit(&s->remoteFree[w], ~f, memory_order_acq_rel);
        gh_unlock(&prof.lock, cpu);
        return f;
    }
    f = p & ~(lane_bits(l1, w) | lane_bits(l2, w));
    if (take && f)
        atomic_fetch_and_explicit(&s->remoteFree[w], ~f, memory_order_acq_rel);
    return f;
}

uint64_t gh_prof_sweep_take(struct mspan *s, unsigned w, unsigned cpu) { return pending_frees(s, w, cpu, 1); }

uint64_t gh_prof_pending_frees(const struct mspan *s, unsigned w) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    uint64_t f = pending_frees((struct mspan *)s, w, cpu, 0); /* (take 0: reads only) */
    goheap_sys_unpin(pin);
    return f;
}

uint64_t gh_prof_sweep_restore(struct mspan *s, unsigned w, uint64_t taken, unsigned cpu) {
    /* A mark raced with a sweep that found nsampled 0: its object is not yet handed
     * out (the sampler waits for this sweep: mark_settle), so nobody frees it before
     * its marker is back. Its lane (or record) came before the nsampled the sweep
     * read after taking. */
    uint64_t m = markers(s, w, taken, cpu);
    if (m)
        atomic_fetch_or_explicit(&s->remoteFree[w], m, memory_order_seq_cst);
    return taken & ~m;
}

/* ---- sampled slots -------------------------------------------------------------------
 * The span names its sampled objects, so that a free that finds a slot pending (a
 * marker, or a double free) knows without the profile lock and the record table
 * whether it may be a sampled one, and the sweeps know which pending slots are
 * markers: a key per object (small spans: slot index + 1; tiny spans: byte offset +
 * 1, several tiny objects share a slot) in one of GH_PROF_LANES 16-bit lanes of
 * psamp, or counted in npover when every lane is taken or the key does not fit.
 * Written under prof.lock (seq_cst: the markers' order above), read without it: a free
 * of an object that was sampled reads its own key (or an npover that counts it),
 * written before its malloc returned; a free of an unsampled one can only be sent to
 * the lookup needlessly by a concurrent change, never skip a record. Large spans
 * hold one object: nsampled says it all. */

/* a becomes (1) or stops being (0) a sampled object of s: its lane or npover, then
 * nsampled. Caller holds prof.lock. */
static void slot_set(struct mspan *s, uintptr_t a, int on) {
    if (s->spc < 2)
        return;
    unsigned key = gh_span_sample_key(s, a);
    uint64_t l = atomic_load_explicit(&s->psamp, memory_order_relaxed);
    for (unsigned i = 0; key && i < GH_PROF_LANES; i++) {
        uint64_t lane = (l >> (16 * i)) & GH_LANE_MASK;
        if (lane == (on ? 0 : key)) {
            l ^= (uint64_t)key << (16 * i); /* sets an empty lane, or clears key's */
            atomic_store_explicit(&s->psamp, l, memory_order_seq_cst);
            return;
        }
    }
    uint32_t n = atomic_load_explicit(&s->npover, memory_order_relaxed);
    atomic_store_explicit(&s->npover, on ? n + 1 : n - 1, memory_order_seq_cst);
}

/* Caller holds prof.lock. The order of the three steps each way: "markers" above. */
static void mark(struct mspan *s, uintptr_t a) {
    slot_set(s, a, 1);
    atomic_fetch_add_explicit(&s->nsampled, 1, memory_order_seq_cst);
    marker(s, a, 1);
}

/* After a mark, its lock dropped, before malloc (or realloc) returns the object: a
 * sweep of s may run on another CPU while the mark lands (s left the marking CPU's
 * cache between the allocation and the mark: an overflow slot's sharer, a flush). One
 * that read nsampled 0 took the new marker with its exchange and puts it back only
 * once it reads nsampled again (gh_prof_sweep_restore); had the object been handed
 * out meanwhile, its free would find no marker (a plain free: the record stays and
 * the restore makes its slot a live sample for good), or drop the record before the
 * restore (the sweep then frees the slot under the free's pending bit). Such a sweep
 * made sweepseq odd before its read of nsampled, which came before the mark's count:
 * the load here, after the marker, sees it odd (or already done). Waits for it to end.
 * Unpinned, no lock held (the sweep may need the profile lock). */
static void mark_settle(const struct mspan *s) {
    if (s->spc < 2 || s->spc == GH_TINY_SPC)
        return;
    uint32_t v = atomic_load_explicit(&s->sweepseq, memory_order_seq_cst);
    if (v & 1)
        while (atomic_load_explicit(&s->sweepseq, memory_order_seq_cst) == v)
            goheap_sys_relax();
}

static void unmark(struct mspan *s, uintptr_t a) {
    marker(s, a, 0);
    slot_set(s, a, 0);
    atomic_fetch_sub_explicit(&s->nsampled, 1, memory_order_seq_cst);
}

int gh_prof_lanes_check(const struct mspan *s) {
    uint64_t l = atomic_load_explicit(&s->psamp, memory_order_relaxed);
    unsigned used = 0;
    for (unsigned i = 0; i < GH_PROF_LANES; i++)
        used += ((l >> (16 * i)) & GH_LANE_MASK) != 0;
    uint32_t over = atomic_load_explicit(&s->npover, memory_order_relaxed);
    if (s->spc < 2)
        return l == 0 && over == 0 &&
               atomic_load_explicit(&s->nsampled, memory_order_relaxed) ==
                   (atomic_load_explicit(&s->pbucket, memory_order_relaxed) != 0);
    return used + over == atomic_load_explicit(&s->nsampled, memory_order_relaxed);
}

/* ---- sampling -------------------------------------------------------------------- */

/* record's locked part: b is the stack's bucket when the hint had it, else NULL. */
static GH_NOINLINE void record_locked(struct mspan *s, void *p, uint64_t size, const uintptr_t *pcs,
                                      unsigned n, struct gh_prof_bucket *b) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&prof.lock, cpu);
    if (!b)
        b = bucket_lookup(cpu, pcs, n);
    struct gh_prof_rec *r = b && s->spc >= 2 ? rec_new(cpu) : 0;
    if (!b || (s->spc >= 2 && !r)) {
        prof.dropped++;
    } else if (s->spc < 2) {
        count(&b->allocs, 1);
        count(&b->alloc_bytes, size);
        large_set(s, (uintptr_t)p, b, size);
    } else {
        if (prof.nrecs >= (2ull << prof.rbits) && prof.rbits < PROF_MAX_BITS)
            prof.rtab = (struct gh_prof_rec **)grow_table(cpu, (void **)prof.rtab, &prof.rbits,
                                                          offsetof(struct gh_prof_rec, next), rec_key);
        struct gh_prof_rec **pp = rec_slot((uintptr_t)p);
        if (*pp) /* a stale record at this address would be a missed free: fail loudly */
            gh_panicf("goheap: profile: object 0x%lx sampled twice (its free was missed)",
                      (unsigned long)(uintptr_t)p);
        *r = (struct gh_prof_rec){.addr = (uintptr_t)p, .b = b, .size = size};
        *pp = r;
        prof.nrecs++;
        count(&b->allocs, 1);
        count(&b->alloc_bytes, size);
        mark(s, (uintptr_t)p); /* before the lock is dropped: a free then finds both */
    }
    gh_unlock(&prof.lock, cpu);
    goheap_sys_unpin(pin);
    if (r && s->spc >= 2)
        mark_settle(s);
}

/* Usable size of a just-allocated object (what the record and the bucket count). */
static uint64_t usable(struct mspan *s, void *p, size_t size) {
    if (s->spc < 2)
        return s->efence ? s->reqsize : s->limit - (uintptr_t)p;
    return s->spc == GH_TINY_SPC ? size : s->elemsize;
}

/* Records a sampled object p of span s (asked for `size` bytes) with stack
 * pcs[0..n). Unpinned. A large object whose stack is a bucket's hint takes no lock. */
static inline void record(struct mspan *s, void *p, size_t size, const uintptr_t *pcs, unsigned n) {
    uint64_t u = usable(s, p, size);
    struct gh_prof_bucket *b = bucket_hint(pcs, n);
    if (b && s->spc < 2) {
        large_record(s, (uintptr_t)p, b, u);
        return;
    }
    record_locked(s, p, u, pcs, n, b);
}


GH_NOINLINE void *gh_prof_malloc(size_t size, uintptr_t pc) {
    uintptr_t pcs[GH_PROF_MAX_DEPTH];
    /* First, while this frame's record still returns to pc: nothing below has run. */
    unsigned n = gh_prof_rate ? capture(pc, (uintptr_t)__builtin_frame_address(0), pcs) : 0;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    if (c)
        gh_prof_rearm(c);
    goheap_sys_unpin(pin);
    void *p = gh_alloc_raw(size, 0, 0, pc);
    struct mspan *s = p && n ? gh_span_of((uintptr_t)p) : 0;
    if (s)
        record(s, p, size, pcs, n);
    return p;
}


/* gh_prof_sample's general case: the stack into pcs, then its bucket (hint, else the
 * locked look-up) and the record. */
static GH_NOINLINE void sample_slow(struct mspan *s, void *p, size_t size, uintptr_t pc, uintptr_t fp) {
    uintptr_t pcs[GH_PROF_MAX_DEPTH];
    unsigned n = capture(pc, fp, pcs);
    record(s, p, size, pcs, n);
}

/* A large object whose stack is its site's hint (the common case: a few sites
 * allocate most large objects) is recorded while its stack is walked: no copy of the
 * stack, no hash, no lock, no pin. */
static inline __attribute__((always_inline)) void sample_large(struct mspan *s, uintptr_t pc, uintptr_t fp) {
    uintptr_t lo, hi;
    int have = stack_bounds(&lo, &hi); /* first: fewer values live across the call */
    struct gh_prof_bucket *b = atomic_load_explicit(&prof.hint[hint_slot(pc)], memory_order_acquire);
    if (b && stack_is(b, pc, fp, have, lo, hi)) {
        uint64_t u = s->efence ? s->reqsize : s->limit - s->obj; /* usable() of a large span */
        large_record(s, s->obj, b, u);
        return;
    }
    sample_slow(s, (void *)s->obj, 0, pc, fp);
}

GH_NOINLINE void gh_prof_sample_large(struct mspan *s, uintptr_t pc, uintptr_t fp) { sample_large(s, pc, fp); }

/* Tail-called from gh_malloc_large, so that this frame's own record returns to pc:
 * then the hint's stack is compared from it (stack_is_own). */
GH_NOINLINE void *gh_prof_malloc_large(struct mspan *s, uintptr_t pc) {
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0), lo, hi;
    struct gh_prof_bucket *b = atomic_load_explicit(&prof.hint[hint_slot(pc)], memory_order_acquire);
    if (b && b->stk[0] == pc && ((const uintptr_t *)fp)[1] == pc && stack_bounds(&lo, &hi) &&
        fp + REC_WORDS * sizeof(uintptr_t) <= hi && stack_is_own(b, fp, hi)) {
        uint64_t u = s->efence ? s->reqsize : s->limit - s->obj; /* usable() of a large span */
        large_record(s, s->obj, b, u);
    } else {
        gh_prof_sample_large(s, pc, fp); /* out of line: this frame saves fewer registers */
    }
    gh_after_slow();
    return (void *)s->obj;
}

GH_NOINLINE void gh_prof_sample(void *p, size_t size, uintptr_t pc, uintptr_t fp) {
    struct mspan *s = gh_span_of((uintptr_t)p);
    if (s && s->spc < 2 && (uintptr_t)p == s->obj)
        gh_prof_sample_large(s, pc, fp);
    else if (s)
        sample_slow(s, p, size, pc, fp);
}

void gh_prof_account(void *p, size_t size, uintptr_t pc) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    int due = c && gh_prof_count(c, size);
    goheap_sys_unpin(pin);
    if (due)
        gh_prof_sample(p, size, pc, (uintptr_t)__builtin_frame_address(0));
}

int gh_prof_free(struct mspan *s, uintptr_t a) {
    if (s->spc < 2) {
        gh_prof_free_large(s, a);
        return 0;
    }
    if (!gh_span_may_be_sampled(s, a))
        return 0;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    int r = gh_prof_free_pinned(s, a, cpu);
    goheap_sys_unpin(pin);
    return r;
}

int gh_prof_free_pinned(struct mspan *s, uintptr_t a, unsigned cpu) {
    if (!gh_span_may_be_sampled(s, a))
        return 0;
    gh_lock(&prof.lock, cpu);
    struct gh_prof_rec *r = rec_unlink(a);
    if (r) {
        prof.nrecs--;
        count(&r->b->frees, 1);
        count(&r->b->free_bytes, r->size);
        r->next = prof.freerecs;
        prof.freerecs = r;
        unmark(s, a);
    }
    gh_unlock(&prof.lock, cpu);
    return r != 0;
}

int gh_prof_move(uintptr_t from, uintptr_t to, size_t size) {
    struct mspan *sf = gh_span_of(from), *st = gh_span_of(to);
    if (!sf || !st)
        return 0;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&prof.lock, cpu);
    struct gh_prof_rec *r = 0;
    struct gh_prof_bucket *b = 0;
    uint64_t old = 0;
    if (sf->spc < 2) {
        b = large_take(sf, from, &old);
    } else if ((r = rec_unlink(from)) != 0) {
        b = r->b;
        old = r->size;
        prof.nrecs--;
        unmark(sf, from);
    }
    if (b) {
        /* The old bytes count as freed and the new ones as allocated: in-use bytes
         * follow the object's size, objects stay one. */
        count(&b->free_bytes, old);
        size = usable(st, (void *)to, size);
        count(&b->alloc_bytes, size);
        if (st->spc < 2) {
            if (r) {
                r->next = prof.freerecs;
                prof.freerecs = r;
            }
            large_set(st, to, b, size);
        } else if (r || (r = rec_new(cpu)) != 0) {
            struct gh_prof_rec **np = rec_slot(to);
            if (*np)
                gh_panicf("goheap: profile: realloc target 0x%lx already sampled", (unsigned long)to);
            *r = (struct gh_prof_rec){.addr = to, .b = b, .size = size};
            *np = r;
            prof.nrecs++;
            mark(st, to);
        } else {
            /* No memory for a record: the object stops being sampled (counted freed). */
            count(&b->frees, 1);
            count(&b->free_bytes, size);
            prof.dropped++;
        }
    }
    gh_unlock(&prof.lock, cpu);
    goheap_sys_unpin(pin);
    if (b && st->spc >= 2)
        mark_settle(st);
    return b != 0;
}

int gh_prof_is_sampled(struct mspan *s, uintptr_t a) {
    if (!atomic_load_explicit(&s->nsampled, memory_order_acquire))
        return 0;
    if (s->spc < 2)
        return a == s->obj && atomic_load_explicit(&s->pbucket, memory_order_acquire) != 0;
    if (!gh_span_may_be_sampled(s, a))
        return 0;
    return gh_profile_site_of(a, 0, 0, 0) != 0;
}

int gh_prof_is_lock(const struct gh_mutex *m) { return m == &prof.lock; }

void gh_prof_fork(int take) {
    if (take)
        goheap_sys_lock(&prof.lock.l);
    else
        goheap_sys_unlock(&prof.lock.l);
}

/* A sampled object's stack (bucket b) into pcs[0..max), its size into *size. */
static unsigned site_copy(const struct gh_prof_bucket *b, uintptr_t *pcs, unsigned max, size_t *size,
                          uint64_t objsize) {
    for (unsigned i = 0; pcs && i < b->nstk && i < max; i++)
        pcs[i] = b->stk[i];
    if (size)
        *size = objsize;
    return b->nstk;
}

unsigned gh_profile_site_of(uintptr_t addr, uintptr_t *pcs, unsigned max, size_t *size) {
    if (!GOHEAP_PROFILE || !__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE))
        return 0;
    struct mspan *s = gh_span_of(addr);
    if (s && s->spc < 2) { /* a large record: in the span */
        struct gh_prof_bucket *b = addr == s->obj ? atomic_load_explicit(&s->pbucket, memory_order_acquire) : 0;
        return b ? site_copy(b, pcs, max, size, atomic_load_explicit(&s->psize, memory_order_relaxed)) : 0;
    }
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&prof.lock, cpu);
    struct gh_prof_rec *r = prof.btab ? *rec_slot(addr) : 0;
    unsigned n = r ? site_copy(r->b, pcs, max, size, r->size) : 0;
    gh_unlock(&prof.lock, cpu);
    goheap_sys_unpin(pin);
    return n;
}

void gh_prof_counts(struct gh_prof_counts *out) {
    *out = (struct gh_prof_counts){0};
    if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE))
        return;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&prof.lock, cpu);
    out->records = prof.nrecs + atomic_load_explicit(&gh_prof_nlarge, memory_order_relaxed);
    out->buckets = prof.nbuckets;
    out->dropped = prof.dropped;
    for (struct gh_prof_bucket *b = atomic_load(&prof.all); b; b = b->allnext)
        out->bucket_inuse += b->allocs - b->frees;
    gh_unlock(&prof.lock, cpu);
    goheap_sys_unpin(pin);
}

/* ---- the bucket list, for the profile's writer (profile_text.c) ---------------------- */
struct gh_prof_bucket *gh_prof_buckets(void) { return atomic_load_explicit(&prof.all, memory_order_acquire); }

unsigned goheap_profile_site(const void *p, uintptr_t *pcs, unsigned max, size_t *size) {
    return gh_profile_site_of((uintptr_t)p, pcs, max, size);
}
