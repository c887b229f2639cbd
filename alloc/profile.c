/* alloc/profile.c: the sampling heap profiler (docs/profiling.md): exponential sampling
 * intervals per CPU cache, frame-pointer stacks into buckets, sampled-object records
 * that free finds through the span, and the legacy text heap profile for pprof. */
#include "profile.h"
#include "core.h"

uint64_t gh_prof_rate = GH_PROF_DEFAULT_RATE;

/* A stack bucket: the counts of every sampled allocation with this stack. Never
 * freed: the writer walks `all` without the lock. */
struct gh_prof_bucket {
    struct gh_prof_bucket *next;             /* hash chain (protected by prof.lock) */
    struct gh_prof_bucket *allnext;          /* every bucket, newest first (append-only) */
    uint64_t hash;
    /* written under prof.lock with relaxed stores, read racily by the writer */
    uint64_t allocs, alloc_bytes, frees, free_bytes;
    uint32_t nstk;
    uintptr_t stk[];
};

/* A live sampled object. */
struct gh_prof_rec {
    struct gh_prof_rec *next; /* hash chain, or the free list */
    uintptr_t addr;
    struct gh_prof_bucket *b;
    uint64_t size;
};

/* Hash table sizes: start small (a program that never samples pays 24 KiB only once
 * it does), double when the load passes 2 per head. The old head array is persistent
 * memory and stays lost: at most as much again as the live table. */
#define PROF_BTAB_BITS0 10 /* buckets: 1024 heads, 8 KiB */
#define PROF_RTAB_BITS0 11 /* records: 2048 heads, 16 KiB */
#define PROF_MAX_BITS 26   /* 64 Mi heads (512 MiB): beyond that, chains just grow */
/* Records are carved from persistent memory this many at a time (4 KiB). */
#define PROF_REC_BATCH 128

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
} prof = {.lock = {.rank = GOHEAP_LC_PROFILE}};

void gh_prof_init(void) {
    gh_prof_rate = GOHEAP_PROFILE ? gh_knobs.memprofilerate : 0;
}

/* ---- sampling intervals ---------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) { /* xorshift64*, never 0 once seeded non-zero */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Fixed point: 24 fraction bits. */
#define PROF_FRAC 24
/* ln 2 * 2^24, rounded. */
#define PROF_LN2_Q24 11629080ull

/* log2(1 + i/64) * 2^24, rounded, i = 0..64:
 *   python3 -c 'import math; print([round(math.log2(1 + i/64) * 2**24) for i in range(65)])' */
static const uint32_t log2_tab[65] = {
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

/* log2(x) * 2^24 for 1 <= x <= 2^32: the integer part from the top bit, the fraction
 * from the table by the mantissa's top 6 bits, linearly interpolated by the other 25
 * (Go's fastlog2 is the same idea in floating point). Interpolating the concave log2
 * errs low by at most (1/64)^2 / (8 ln 2) = 4.4e-5 (728 in Q24, measured over 200000
 * random x), so an interval is at most 3e-5 * rate long (16 bytes at 512 KiB): far
 * inside t_interval_mean's tolerances. About 15 instructions; the bit-by-bit log it
 * replaced took ~340 per sample (24 squarings), ~0.4 M of the suite's callgrind
 * total at the default rate. */
uint64_t gh_prof_log2_q24(uint64_t x) {
    unsigned k = 63 - gh_clz64(x);
    uint64_t m = k >= 31 ? x >> (k - 31) : x << (31 - k); /* [2^31, 2^32): [1, 2) in Q31 */
    unsigned j = (unsigned)(m >> 25) & 63;
    uint64_t f = m & ((1ull << 25) - 1);
    uint64_t lo = log2_tab[j], hi = log2_tab[j + 1];
    return ((uint64_t)k << PROF_FRAC) + lo + (((hi - lo) * f) >> 25);
}

uint64_t gh_prof_interval(uint64_t rate, uint64_t *rng) {
    if (rate <= 1)
        return 0;
    /* u = r / 2^32 with r uniform in [1, 2^32]: -ln u = (32 - log2 r) ln 2. */
    uint64_t r = (rng_next(rng) >> 32) + 1;
    uint64_t neglog2 = (32ull << PROF_FRAC) - gh_prof_log2_q24(r); /* < 2^29 */
    uint64_t negln = (neglog2 * PROF_LN2_Q24) >> PROF_FRAC; /* -ln u in Q24, < 2^29 */
    /* rate < 2^33 (the knob's range): the product stays below 2^62. */
    return (rate * negln) >> PROF_FRAC;
}

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
 * pc (an entry point without a frame in the chain), the stack is pc alone. */
static GH_NOINLINE unsigned capture(uintptr_t pc, uintptr_t *pcs) {
    pcs[0] = pc;
    uintptr_t lo = 0, hi = 0;
#ifdef GOHEAP_SYS_HAVE_STACK_BOUNDS
    if (!goheap_sys_stack_bounds(&lo, &hi))
        return 1;
#else
    return 1;
#endif
    /* lo is the platform's (at or below this frame), not the address of a local here:
     * aarch64 frames keep their locals above the frame record, so &lo > fp there. */
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    unsigned n = 1, found = 0;
    /* 16 records to find pc: the allocator's own frames between here and there. */
    for (unsigned steps = 0; steps < GH_PROF_MAX_DEPTH + 16; steps++) {
        if ((fp & (sizeof(uintptr_t) - 1)) || fp < lo || fp > hi - 2 * sizeof(uintptr_t))
            break;
        const uintptr_t *rec = (const uintptr_t *)fp;
        uintptr_t next = rec[0], ret = rec[1];
        if (found) {
            if (!ret || n == GH_PROF_MAX_DEPTH)
                break;
            pcs[n++] = ret;
        } else if (ret == pc) {
            found = 1;
        }
        if (next <= fp)
            break;
        fp = next;
    }
    return n;
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

static void count(uint64_t *field, uint64_t delta) {
    __atomic_store_n(field, __atomic_load_n(field, __ATOMIC_RELAXED) + delta, __ATOMIC_RELAXED);
}

/* ---- marking spans ------------------------------------------------------------------
 * A span holding a live sampled object has nsampled > 0, and while some CPU owns it,
 * GH_OWNER_SLOW in owner: the free fast path compares owner with the CPU, so it
 * misses and every free of the span's objects passes gh_free_pc, which looks the
 * record up. Two sides race: a sampler (nsampled++, then owner |= SLOW if owned) and
 * a CPU making the span its own (make_owned: owner = cpu, then gh_prof_owned: SLOW
 * if nsampled). Both write, fence (seq_cst), then read what the other writes: at
 * least one sees the other, so an owned span with a sampled object always ends with
 * SLOW set. Until then the new owner is inside its refill (pinned): no free of the
 * span runs on its CPU in between. When the count drops back to 0, the next free on
 * the owning CPU clears SLOW (gh_prof_unslow). Before, SLOW stayed until the span was
 * next made someone's own, and a CPU's current span of a class, which a
 * free-and-reuse loop never gives up, took every free through gh_free_pc for the rest
 * of the run once one of its objects had been sampled: 60% of the frees of
 * bench/suite/glibcthread (callgrind, 2 threads: 153 -> 82 instructions per pair). */
static void owner_set_slow(struct mspan *s) {
    uint32_t own = atomic_load_explicit(&s->owner, memory_order_seq_cst);
    while (own != GH_NO_OWNER && !(own & GH_OWNER_SLOW) &&
           !atomic_compare_exchange_weak_explicit(&s->owner, &own, own | GH_OWNER_SLOW,
                                                  memory_order_seq_cst, memory_order_seq_cst))
        ;
}

/* Clearing races only a sampler (the count's other writer): the clear is a store,
 * then a re-read of the count, the sampler's mark the increment, then a read of owner
 * (all seq_cst), so one of the two sees the other and SLOW ends set whenever a sampled
 * object is left. Between the clear and a re-set no free of the span's objects runs on
 * this CPU (this is that CPU, pinned), and frees elsewhere are remote anyway; a
 * sampled object is handed to its program only after its mark. */
void gh_prof_unslow(struct mspan *s, unsigned cpu) {
    if (s->spc == GH_TINY_SPC || gh_knobs.slowmode ||
        atomic_load_explicit(&s->nsampled, memory_order_seq_cst))
        return;
    uint32_t slow = cpu | GH_OWNER_SLOW;
    if (!atomic_compare_exchange_strong_explicit(&s->owner, &slow, cpu, memory_order_seq_cst,
                                                 memory_order_relaxed))
        return;
    if (atomic_load_explicit(&s->nsampled, memory_order_seq_cst))
        owner_set_slow(s);
}

void gh_prof_owned(struct mspan *s) {
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&s->nsampled, memory_order_seq_cst))
        owner_set_slow(s);
}

/* ---- sampled slots -------------------------------------------------------------------
 * SLOW sends every free of a marked span's objects past the fast path, and most of
 * them free objects that were never sampled (larson: 19 per sample). The span names
 * its sampled objects, so that those frees skip the profile lock and the record
 * table: a key per object (small spans: slot index + 1; tiny spans: byte offset + 1,
 * several tiny objects share a slot) in one of GH_PROF_LANES 16-bit lanes of psamp,
 * or counted in npover when every lane is taken or the key does not fit. Written
 * under prof.lock, read without it: a free of an object that was sampled reads its
 * own key (or an npover that counts it), written before its malloc returned; a free
 * of an unsampled one can only be sent to the lookup needlessly by a concurrent
 * change, never skip a record. Large spans hold one object: nsampled says it all.
 * callgrind, 1 thread, larson: ~12,000 such frees, each ~228 -> ~72 instructions
 * more than at rate 0 (free.c, free_marked_route). */

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
            atomic_store_explicit(&s->psamp, l, memory_order_relaxed);
            return;
        }
    }
    uint32_t n = atomic_load_explicit(&s->npover, memory_order_relaxed);
    atomic_store_explicit(&s->npover, on ? n + 1 : n - 1, memory_order_relaxed);
}

/* Caller holds prof.lock. */
static void mark(struct mspan *s, uintptr_t a) {
    slot_set(s, a, 1);
    atomic_fetch_add_explicit(&s->nsampled, 1, memory_order_seq_cst);
    if (s->spc >= 2)
        owner_set_slow(s);
}

static void unmark(struct mspan *s, uintptr_t a) {
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
        return l == 0 && over == 0;
    return used + over == atomic_load_explicit(&s->nsampled, memory_order_relaxed);
}

/* ---- sampling -------------------------------------------------------------------- */

/* Records a sampled object p (usable size `size`) with stack pcs[0..n). Unpinned. */
static void record(void *p, uint64_t size, const uintptr_t *pcs, unsigned n) {
    struct mspan *s = gh_span_of((uintptr_t)p);
    if (!s)
        return;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&prof.lock, cpu);
    struct gh_prof_bucket *b = tables_ready(cpu) ? bucket_get(cpu, pcs, n) : 0;
    struct gh_prof_rec *r = b ? rec_new(cpu) : 0;
    if (!r) {
        prof.dropped++;
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
}

/* Usable size of a just-allocated object (what the record and the bucket count). */
static uint64_t usable(void *p, size_t size) {
    struct mspan *s = gh_span_of((uintptr_t)p);
    if (!s)
        return size;
    if (s->spc < 2)
        return s->efence ? s->reqsize : s->limit - (uintptr_t)p;
    return s->spc == GH_TINY_SPC ? size : s->elemsize;
}

/* This CPU's next interval. Pinned. */
static void rearm(struct mcache *c) {
    c->next_sample = gh_prof_rate ? (int64_t)gh_prof_interval(gh_prof_rate, &c->prof_rng) : INT64_MAX;
}

GH_NOINLINE void *gh_prof_malloc(size_t size, uintptr_t pc) {
    uintptr_t pcs[GH_PROF_MAX_DEPTH];
    /* First, while this frame's record still returns to pc: nothing below has run. */
    unsigned n = gh_prof_rate ? capture(pc, pcs) : 0;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    if (c)
        rearm(c);
    goheap_sys_unpin(pin);
    void *p = gh_alloc_raw(size, 0, 0, pc);
    if (p && n)
        record(p, usable(p, size), pcs, n);
    return p;
}

void gh_prof_rearm(struct mcache *c) { rearm(c); }

GH_NOINLINE void gh_prof_sample(void *p, size_t size, uintptr_t pc) {
    uintptr_t pcs[GH_PROF_MAX_DEPTH];
    unsigned n = capture(pc, pcs);
    record(p, usable(p, size), pcs, n);
}

void gh_prof_account(void *p, size_t size, uintptr_t pc) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    int due = c && gh_prof_count(c, size);
    goheap_sys_unpin(pin);
    if (due)
        gh_prof_sample(p, size, pc);
}

void gh_prof_free(struct mspan *s, uintptr_t a) {
    if (!gh_span_may_be_sampled(s, a))
        return;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
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
    goheap_sys_unpin(pin);
}

int gh_prof_move(uintptr_t from, uintptr_t to, size_t size) {
    struct mspan *sf = gh_span_of(from), *st = gh_span_of(to);
    if (!sf || !st)
        return 0;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&prof.lock, cpu);
    struct gh_prof_rec *r = rec_unlink(from);
    if (r) {
        /* The old bytes count as freed and the new ones as allocated: in-use bytes
         * follow the object's size, objects stay one. */
        count(&r->b->free_bytes, r->size);
        size = usable((void *)to, size);
        count(&r->b->alloc_bytes, size);
        r->addr = to;
        r->size = size;
        struct gh_prof_rec **np = rec_slot(to);
        if (*np)
            gh_panicf("goheap: profile: realloc target 0x%lx already sampled", (unsigned long)to);
        r->next = 0;
        *np = r;
        unmark(sf, from);
        mark(st, to);
    }
    gh_unlock(&prof.lock, cpu);
    goheap_sys_unpin(pin);
    return r != 0;
}

int gh_prof_is_sampled(struct mspan *s, uintptr_t a) {
    if (!atomic_load_explicit(&s->nsampled, memory_order_acquire) || !gh_span_may_be_sampled(s, a))
        return 0;
    return gh_profile_site_of(a, 0, 0, 0) != 0;
}

void gh_prof_fork(int take) {
    if (take)
        goheap_sys_lock(&prof.lock.l);
    else
        goheap_sys_unlock(&prof.lock.l);
}

unsigned gh_profile_site_of(uintptr_t addr, uintptr_t *pcs, unsigned max, size_t *size) {
    if (!GOHEAP_PROFILE || !__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE))
        return 0;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&prof.lock, cpu);
    struct gh_prof_rec *r = prof.btab ? *rec_slot(addr) : 0;
    unsigned n = 0;
    if (r) {
        n = r->b->nstk;
        for (unsigned i = 0; pcs && i < n && i < max; i++)
            pcs[i] = r->b->stk[i];
        if (size)
            *size = r->size;
    }
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
    out->records = prof.nrecs;
    out->buckets = prof.nbuckets;
    out->dropped = prof.dropped;
    for (struct gh_prof_bucket *b = atomic_load(&prof.all); b; b = b->allnext)
        out->bucket_inuse += b->allocs - b->frees;
    gh_unlock(&prof.lock, cpu);
    goheap_sys_unpin(pin);
}

/* ---- the profile ------------------------------------------------------------------
 * Go's legacy text heap profile, which `go tool pprof` parses (its legacy_profile.go):
 *   heap profile: <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ heap/<2*rate>
 *   <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ 0x<pc> 0x<pc> ...
 * raw sampled counts; "heap/<2*rate>" tells pprof to scale each line by Go's
 * 1 / (1 - exp(-avgsize / rate)) (rate 1: unscaled), exactly as runtime/pprof's own
 * writer does. The platform may append the mappings pprof symbolises with
 * (goheap_sys_profile_maps: /proc/self/maps hosted, the kernel image in the kernel). */

struct pbuf {
    goheap_profile_writer w;
    void *ctx;
    char buf[512];
    size_t n;
    int err;
};

static void pb_flush(struct pbuf *b) {
    if (b->n && !b->err && b->w(b->ctx, b->buf, b->n) != 0)
        b->err = 1;
    b->n = 0;
}

static void pb_str(struct pbuf *b, const char *s) {
    for (; *s; s++) {
        if (b->n == sizeof b->buf)
            pb_flush(b);
        b->buf[b->n++] = *s;
    }
}

static void pb_num(struct pbuf *b, uint64_t v, unsigned base) {
    char t[24];
    int k = 0;
    do {
        unsigned d = (unsigned)(v % base);
        t[k++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    char s[26];
    unsigned i = 0;
    if (base == 16)
        s[i++] = '0', s[i++] = 'x';
    while (k)
        s[i++] = t[--k];
    s[i] = 0;
    pb_str(b, s);
}

static void pb_counts(struct pbuf *b, uint64_t io, uint64_t ib, uint64_t ao, uint64_t ab) {
    pb_num(b, io, 10);
    pb_str(b, ": ");
    pb_num(b, ib, 10);
    pb_str(b, " [");
    pb_num(b, ao, 10);
    pb_str(b, ": ");
    pb_num(b, ab, 10);
    pb_str(b, "] @");
}

static void bucket_read(const struct gh_prof_bucket *bk, uint64_t v[4]) {
    uint64_t ao = __atomic_load_n(&bk->allocs, __ATOMIC_RELAXED);
    uint64_t ab = __atomic_load_n(&bk->alloc_bytes, __ATOMIC_RELAXED);
    uint64_t fo = __atomic_load_n(&bk->frees, __ATOMIC_RELAXED);
    uint64_t fb = __atomic_load_n(&bk->free_bytes, __ATOMIC_RELAXED);
    /* read racily: a free counted before its alloc is seen reads as none in use */
    v[0] = ao > fo ? ao - fo : 0;
    v[1] = ab > fb ? ab - fb : 0;
    v[2] = ao;
    v[3] = ab;
}

static int write_profile_text(struct pbuf *b) {
    struct gh_prof_bucket *all = atomic_load_explicit(&prof.all, memory_order_acquire);
    uint64_t tot[4] = {0};
    for (struct gh_prof_bucket *bk = all; bk; bk = bk->allnext) {
        uint64_t v[4];
        bucket_read(bk, v);
        for (int i = 0; i < 4; i++)
            tot[i] += v[i];
    }
    pb_str(b, "heap profile: ");
    pb_counts(b, tot[0], tot[1], tot[2], tot[3]);
    pb_str(b, " heap/");
    pb_num(b, 2 * gh_prof_rate, 10);
    pb_str(b, "\n");
    for (struct gh_prof_bucket *bk = all; bk; bk = bk->allnext) {
        uint64_t v[4];
        bucket_read(bk, v);
        pb_counts(b, v[0], v[1], v[2], v[3]);
        for (uint32_t i = 0; i < bk->nstk; i++) {
            pb_str(b, " ");
            pb_num(b, bk->stk[i], 16);
        }
        pb_str(b, "\n");
    }
    pb_flush(b);
    return b->err;
}

int goheap_write_heap_profile(goheap_profile_writer w, void *ctx) {
    if (!w)
        return GOHEAP_EINVAL;
    if (!GOHEAP_PROFILE)
        return -1;
    struct pbuf b = {.w = w, .ctx = ctx};
    if (write_profile_text(&b))
        return -1;
#ifdef GOHEAP_SYS_HAVE_PROFILE_MAPS
    if (w(ctx, "\nMAPPED_LIBRARIES:\n", 19) != 0 || goheap_sys_profile_maps(w, ctx) != 0)
        return -1;
#endif
    return 0;
}

void goheap_profile_request(void) { gh_want_work(GH_WORK_PROFILE); }

void gh_prof_run_request(void) {
#ifdef GOHEAP_SYS_HAVE_PROFILE_DUMP
    goheap_sys_profile_dump();
#endif
}

unsigned goheap_profile_site(const void *p, uintptr_t *pcs, unsigned max, size_t *size) {
    return gh_profile_site_of((uintptr_t)p, pcs, max, size);
}
