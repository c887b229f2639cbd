/* alloc/leak.c: goheap_leak_scan, a conservative mark phase in kmemleak's style over
 * the span map, run while other CPUs allocate and free, and the registered roots.
 * docs/leakscan.md gives the design, the false-positive rules and the costs. */
#include "core.h"
#include "arena.h"
#include "leak.h"
#include "mcache.h"
#include "sysmem.h"

struct gh_leak_stats gh_leak_stats;

/* ---- registered roots ------------------------------------------------------------
 * A fixed table, claimed by CAS: a slot is FREE, BUSY (being written or removed) or
 * LIVE; the scanner reads LIVE slots only. 64 ranges: kmemleak's users register a
 * handful of areas each (per-CPU tables, page-table roots); a table, not a list, so
 * registering needs no allocation and no lock. */
#define LEAK_MAX_ROOTS 64
enum { LEAK_ROOT_FREE = 0, LEAK_ROOT_BUSY = 1, LEAK_ROOT_LIVE = 2 };
static struct {
    _Atomic unsigned state;
    uintptr_t lo, hi;
} leak_roots[LEAK_MAX_ROOTS];
/* Nonzero while a scan reads roots: an unregister waits for it (Dekker, seq_cst). */
static _Atomic unsigned leak_roots_reading;

int goheap_register_root(const void *p, size_t len) {
    uintptr_t lo = (uintptr_t)p;
    if (!p || !len || ((lo | len) & 7) || lo + len < lo)
        return GOHEAP_EINVAL;
    for (unsigned i = 0; i < LEAK_MAX_ROOTS; i++) {
        unsigned st = LEAK_ROOT_FREE;
        if (atomic_compare_exchange_strong(&leak_roots[i].state, &st, LEAK_ROOT_BUSY)) {
            leak_roots[i].lo = lo;
            leak_roots[i].hi = lo + len;
            atomic_store_explicit(&leak_roots[i].state, LEAK_ROOT_LIVE, memory_order_release);
            return 0;
        }
    }
    return GOHEAP_ENOMEM;
}

int goheap_unregister_root(const void *p) {
    for (unsigned i = 0; i < LEAK_MAX_ROOTS; i++) {
        unsigned st = LEAK_ROOT_LIVE;
        if (atomic_load_explicit(&leak_roots[i].state, memory_order_acquire) != LEAK_ROOT_LIVE ||
            leak_roots[i].lo != (uintptr_t)p ||
            !atomic_compare_exchange_strong(&leak_roots[i].state, &st, LEAK_ROOT_BUSY))
            continue;
        /* A scan that saw the slot LIVE may still be reading the range. */
        atomic_thread_fence(memory_order_seq_cst);
        while (atomic_load_explicit(&leak_roots_reading, memory_order_seq_cst))
            goheap_sys_relax();
        atomic_store_explicit(&leak_roots[i].state, LEAK_ROOT_FREE, memory_order_release);
        return 0;
    }
    return GOHEAP_EINVAL;
}

#ifndef GOHEAP_SYS_HAVE_LEAK_ROOTS
long goheap_leak_scan(void (*cb)(const struct goheap_leak *leak, void *ctx), void *ctx) {
    (void)cb;
    (void)ctx;
    return GOHEAP_LEAK_NOROOTS; /* no data/bss/stack roots: every object would look leaked */
}
#else

/* ---- the scan's memory ---------------------------------------------------------------
 * Mapped from address space of its own (never heap pages: the scan must not see its
 * own bitmaps as objects) at the first scan and kept, grown when the heap has grown;
 * counted in OtherSys. Not unmapped after each scan: on aarch64 under TCG an unmap
 * while 3 CPUs churned took 35-45 s (broadcast TLBI and page-table lock contention),
 * and a kernel that scans once will likely scan again. Layout: mark bitmap, "old" bitmap (allocated at the snapshot), work stack,
 * per-CPU stack copies and their lengths. One bit per 8 B grain of the arena covered:
 * every object starts 8-aligned (the smallest class is 8 B), so a bitmap byte covers
 * 64 B of heap, 1/64 of it per bitmap. */
#define LEAK_GRAIN_SHIFT 3
/* Live stack copied per CPU: our kernel stacks are 16 KiB; 4x that for other kernels.
 * A longer live stack fails the scan (GOHEAP_LEAK_INCOMPLETE) rather than drop roots. */
#define LEAK_STACK_MAX (64u << 10)
/* Work-stack entries (512 KiB): a deeper grey set overflows into a rescan of the marked
 * objects (correct, slower); a 100k-object heap never came near it. */
#define LEAK_WORK_MAX (64u << 10)
/* Candidates tracked from one scan to the next (two arrays of 8192 x 32 B, mapped at the
 * first scan and kept): more than that are counted in the log line and not reported. */
#define LEAK_CAND_MAX 8192u
/* Span maps scanned: the window's and one per cover (region mode, goheap_add_region). */
#define LEAK_MAX_MAPS (GH_MAX_COVERS + 1)
/* leak_grain's answer for an address no scanned span map covers. */
#define LEAK_NOGRAIN (~(uintptr_t)0)
/* Reported after this many consecutive scans unreferenced with the same checksum
 * (kmemleak's rule against transient false positives; it is also the minimum age). */
#define LEAK_MIN_SCANS 2

/* One span map at the snapshot: [base, base + bytes) in npages entries of spans; its
 * grains are bits [grain0, grain0 + bytes / 8) of the bitmaps. */
struct leak_map {
    uintptr_t base, bytes, npages, grain0;
    struct mspan **spans;
};

struct leak_cand {
    uintptr_t addr, size, site;
    uint32_t sum;   /* checksum of the contents */
    uint32_t scans; /* consecutive scans unreferenced, this one included */
};

static struct {
    _Atomic int busy; /* one scan at a time */
    /* the workspace reservation and what this scan mapped of it */
    uintptr_t va;
    size_t va_bytes, mapped;
    /* heap range covered: the window's span map, [base, base + bytes) (map[0] too), and
     * the covers' (map[1..nmap)), at the snapshot; order: map indices by address;
     * [clo, clo + cbytes) spans every cover (a quick "in no cover") */
    uintptr_t base, bytes;
    struct leak_map map[LEAK_MAX_MAPS];
    unsigned nmap, order[LEAK_MAX_MAPS];
    uintptr_t clo, cbytes;
    /* region mode: the workspace's heap objects (fixed part, bitmaps), marked by the
     * scan itself so that they are never reported (leak_ws_map) */
    void *wsobj[2];
    uint64_t *mark, *old;
    uintptr_t *work;
    size_t nwork;
    int overflow;
    _Atomic int incomplete;
    uint8_t *stk;    /* ncpu x LEAK_STACK_MAX */
    size_t *stklen;  /* [ncpu] */
    /* [ncpu]: each CPU's current tiny block at its stack copy, and the live tiny
     * objects in it then (the count is split between the block's byte and the owner's
     * tinyn while the block is current: mcache.h) */
    uintptr_t *tinyblk, *tinylive;
    unsigned self; /* the scanning CPU: its stack is copied first, at entry */
    /* candidates: prev (last scan, sorted by address) and cur (this scan) */
    struct leak_cand *cand[2];
    unsigned ncand[2], prev;
    unsigned untracked;
} leak;

/* ---- reading a span that other CPUs own -------------------------------------------- */

/* Allocated slots of word w now (a pending remote free counts as free, a sampled
 * object's marker does not: profile.c), read like a remote freer reads them (mspan.h):
 * the owner's mallocs and frees write freeBits itself, one relaxed or release store
 * of a whole word each. */
static uint64_t leak_alloc_word(const struct mspan *s, unsigned w) {
    uint64_t a = ~__atomic_load_n(&s->freeBits[w], __ATOMIC_ACQUIRE); /* allocated */
    uint64_t r = gh_span_rpend(s, w, memory_order_relaxed);
    /* Markers are allocated, other pending slots free. A span with samples beyond its
     * lanes asks the records (the profile lock: the scan holds no lock and runs in no
     * each_cpu handler). Counting every pending slot allocated there, as before, made
     * freed objects candidates: unreferenced and unchanged until the next sweep, they
     * were reported as leaks (heap_leak t_sampled_remote_free). */
    if (r && gh_span_nmarkers(s))
        r = gh_prof_pending_frees(s, w);
    return a & gh_span_valid(s, w) & ~r;
}

/* The bitmap bit of the 8 B grain holding a in a cover's span map, or LEAK_NOGRAIN
 * (always when there is no cover: cbytes is 0). */
static GH_NOINLINE uintptr_t leak_grain_cover(uintptr_t a) {
    if (a - leak.clo >= leak.cbytes)
        return LEAK_NOGRAIN;
    for (unsigned i = 1; i < leak.nmap; i++) {
        uintptr_t off = a - leak.map[i].base;
        if (off < leak.map[i].bytes)
            return leak.map[i].grain0 + (off >> LEAK_GRAIN_SHIFT);
    }
    return LEAK_NOGRAIN;
}
/* The bitmap bit of the 8 B grain holding a, or LEAK_NOGRAIN where no span map scanned
 * covers a: the window's map first (one compare), then the covers'. */
static inline uintptr_t leak_grain(uintptr_t a) {
    uintptr_t off = a - leak.base;
    if (gh_likely(off < leak.bytes))
        return off >> LEAK_GRAIN_SHIFT;
    return leak_grain_cover(a);
}
/* Whether a lies in a scanned span map: two compares, no call (the marking's filter
 * for every word it reads). */
static inline int leak_maybe_heap(uintptr_t a) {
    return a - leak.base < leak.bytes || a - leak.clo < leak.cbytes;
}
static inline int leak_test(const uint64_t *bm, uintptr_t g) { return (int)((bm[g >> 6] >> (g & 63)) & 1); }
static inline void leak_set(uint64_t *bm, uintptr_t g) { bm[g >> 6] |= 1ull << (g & 63); }

static inline int leak_span_live(const struct mspan *s) {
    return atomic_load_explicit(&s->state, memory_order_acquire) == GH_SPAN_INUSE;
}

/* Calls fn for every span in use over the covered pages of every span map, in address
 * order (the candidates are merged by address from one scan to the next). A span
 * recycled under the walk may be skipped or seen twice: fn rechecks what it needs. */
static void leak_walk(void (*fn)(struct mspan *s)) {
    for (unsigned k = 0; k < leak.nmap; k++) {
        const struct leak_map *m = &leak.map[leak.order[k]];
        for (uintptr_t pg = 0; pg < m->npages;) {
            struct mspan *s = __atomic_load_n(&m->spans[pg], __ATOMIC_RELAXED);
            uintptr_t n = 1;
            if (leak_span_live(s) && s->base == m->base + (pg << GOHEAP_PAGE_SHIFT)) {
                n = s->npages;
                if (n == 0 || n > m->npages - pg)
                    n = 1;
                fn(s);
            }
            pg += n;
        }
    }
}

/* ---- marking -------------------------------------------------------------------------- */

static inline void leak_push(uintptr_t obj) {
    if (leak.nwork < LEAK_WORK_MAX)
        leak.work[leak.nwork++] = obj;
    else
        leak.overflow = 1; /* marked but not scanned: leak_rescan finds it */
}

/* The object that value v points into (its start or inside it), marked; pushed for
 * scanning when its span holds pointers. Fields of a span being recycled may be
 * inconsistent: every result is checked to lie in the span and the covered range. */
static inline void leak_mark_value(uintptr_t v) {
    if (!leak_maybe_heap(v))
        return;
    /* gh_span_of: large spans write the map only every GH_SPANMAP_STRIDE pages; it
     * resolves cover addresses too. */
    struct mspan *s = gh_span_of(v);
    if (!s || atomic_load_explicit(&s->state, memory_order_relaxed) != GH_SPAN_INUSE)
        return;
    uintptr_t obj;
    unsigned spc = s->spc;
    if (spc >= 2) {
        uintptr_t b = s->base, es = s->elemsize;
        if (v < b || v >= s->limit || !es)
            return;
        /* floor((v - b) / es) within one: divmul is 2^32/es rounded up (mspan.h). */
        obj = b + (uintptr_t)(((uint64_t)(v - b) * s->divmul) >> 32) * es;
        if (obj > v)
            obj -= es;
        else if (v - obj >= es)
            obj += es;
        if (obj < b || v - obj >= es)
            return;
    } else {
        obj = s->obj;
        uintptr_t sz = __atomic_load_n(&s->reqsize, __ATOMIC_RELAXED);
        sz = sz ? sz : 1;
        if (v < obj || v - obj >= sz)
            return;
    }
    uintptr_t g = leak_grain(obj);
    if (g == LEAK_NOGRAIN || leak_test(leak.mark, g))
        return;
    leak_set(leak.mark, g);
    if (!(spc & 1))
        leak_push(obj);
}

static void leak_scan_range(uintptr_t lo, uintptr_t hi) {
    lo = gh_align_up(lo, sizeof(uintptr_t));
    hi = gh_align_down(hi, sizeof(uintptr_t));
    for (uintptr_t p = lo; p < hi; p += sizeof(uintptr_t)) {
        uintptr_t v = __atomic_load_n((const uintptr_t *)p, __ATOMIC_RELAXED);
        if (leak_maybe_heap(v)) /* most words are not: no call for them */
            leak_mark_value(v);
    }
}

/* The extent of the allocated object at obj, or 0 (freed, span gone, noscan when
 * want_scan). Caller holds off unmapping. */
static uintptr_t leak_extent(uintptr_t obj, int want_scan, struct mspan **sp) {
    struct mspan *s = gh_span_of(obj);
    if (!s || !leak_span_live(s) || (want_scan && (s->spc & 1)))
        return 0;
    *sp = s;
    if (s->spc < 2) /* (the size realloc last asked for in place: api.c large_resized) */
        return obj == s->obj ? __atomic_load_n(&s->reqsize, __ATOMIC_ACQUIRE) : 0;
    uintptr_t b = s->base, es = s->elemsize;
    if (obj < b || obj >= s->limit || !es)
        return 0;
    uint32_t idx = (uint32_t)(((uint64_t)(obj - b) * s->divmul) >> 32);
    if (b + (uintptr_t)idx * es != obj || idx >= s->nelems)
        return 0;
    return ((leak_alloc_word(s, idx >> 6) >> (idx & 63)) & 1) ? es : 0;
}

static void leak_scan_object(uintptr_t obj) {
    struct mspan *s;
    gh_unmap_hold();
    uintptr_t n = leak_extent(obj, 1, &s);
    if (n)
        leak_scan_range(obj, obj + n);
    gh_unmap_release();
}

static void leak_drain(void) {
    while (leak.nwork)
        leak_scan_object(leak.work[--leak.nwork]);
}

/* After a work-stack overflow: scan every marked object again (idempotent) until no
 * push is lost. */
static void leak_rescan_span(struct mspan *s) {
    if (s->spc & 1)
        return;
    if (s->spc < 2) {
        uintptr_t g = leak_grain(s->obj);
        if (g != LEAK_NOGRAIN && leak_test(leak.mark, g))
            leak_scan_object(s->obj);
    } else {
        for (uintptr_t a = s->base, es = s->elemsize; es && a < s->limit; a += es) {
            uintptr_t g = leak_grain(a);
            if (g != LEAK_NOGRAIN && leak_test(leak.mark, g))
                leak_scan_object(a);
        }
    }
    leak_drain();
}
static void leak_finish_marking(void) {
    leak_drain();
    while (leak.overflow) {
        leak.overflow = 0;
        leak_walk(leak_rescan_span);
    }
}

/* ---- the passes over the spans -------------------------------------------------------- */

/* Snapshot: which objects are allocated now ("old"). Only they can be reported: an
 * object allocated later may be referenced only from a stack copied before it existed,
 * so it counts as reachable (Go allocates black). */
static void leak_snap_span(struct mspan *s) {
    if (s->spc < 2) {
        uintptr_t g = leak_grain(s->obj);
        if (g != LEAK_NOGRAIN)
            leak_set(leak.old, g);
        return;
    }
    uintptr_t b = s->base, es = s->elemsize;
    unsigned nw = s->nwords;
    for (unsigned w = 0; w < nw && es; w++)
        for (uint64_t a = leak_alloc_word(s, w); a; a &= a - 1) {
            uintptr_t obj = b + (uintptr_t)(w * 64u + gh_ctz64(a)) * es;
            uintptr_t g = leak_grain(obj);
            if (g != LEAK_NOGRAIN)
                leak_set(leak.old, g);
        }
}

/* Black pass: objects allocated since the snapshot are roots (their contents were
 * written by code whose stacks may already have been copied). */
static void leak_black_span(struct mspan *s) {
    if (s->spc & 1)
        return;
    if (s->spc < 2) {
        uintptr_t o = s->obj, g = leak_grain(o);
        if (g != LEAK_NOGRAIN && !leak_test(leak.old, g) && !leak_test(leak.mark, g)) {
            leak_set(leak.mark, g);
            leak_push(o);
        }
    } else {
        uintptr_t b = s->base, es = s->elemsize;
        for (unsigned w = 0; w < s->nwords && es; w++)
            for (uint64_t a = leak_alloc_word(s, w); a; a &= a - 1) {
                uintptr_t o = b + (uintptr_t)(w * 64u + gh_ctz64(a)) * es, g = leak_grain(o);
                if (g != LEAK_NOGRAIN && !leak_test(leak.old, g) && !leak_test(leak.mark, g)) {
                    leak_set(leak.mark, g);
                    leak_push(o);
                }
            }
    }
    leak_drain();
}

/* A 32-bit checksum of the contents (FNV-1a over words). */
static uint32_t leak_sum(uintptr_t lo, uintptr_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (uintptr_t p = lo; p + sizeof(uintptr_t) <= lo + n; p += sizeof(uintptr_t)) {
        h ^= __atomic_load_n((const uintptr_t *)p, __ATOMIC_RELAXED);
        h *= 0x100000001b3ull;
    }
    return (uint32_t)(h ^ (h >> 32));
}

/* One unreachable old object: its checksum (re-checked allocated, under the hold), and
 * its entry in cur, merged with prev (both in address order). */
static unsigned leak_prev_i;
static void leak_candidate(uintptr_t obj, uintptr_t size, uintptr_t site) {
    struct mspan *s;
    gh_unmap_hold();
    uintptr_t n = leak_extent(obj, 0, &s);
    uint32_t sum = n ? leak_sum(obj, size < n ? size : n) : 0;
    gh_unmap_release();
    if (!n)
        return;
    /* A sampled object's site from the profiler (alloc/profile.c; innermost frame). */
    uintptr_t pc = 0;
    if (!site && goheap_profile_site((const void *)obj, &pc, 1, 0))
        site = pc;
    if (leak.ncand[leak.prev ^ 1] >= LEAK_CAND_MAX) {
        leak.untracked++;
        return;
    }
    const struct leak_cand *pv = leak.cand[leak.prev];
    unsigned np = leak.ncand[leak.prev];
    while (leak_prev_i < np && pv[leak_prev_i].addr < obj)
        leak_prev_i++;
    unsigned scans = 1;
    if (leak_prev_i < np && pv[leak_prev_i].addr == obj && pv[leak_prev_i].size == size &&
        pv[leak_prev_i].sum == sum)
        scans = pv[leak_prev_i].scans + 1;
    struct leak_cand *c = &leak.cand[leak.prev ^ 1][leak.ncand[leak.prev ^ 1]++];
    c->addr = obj;
    c->size = size;
    c->site = site;
    c->sum = sum;
    c->scans = scans;
}

/* A tiny block that was some CPU's current block at the stack copies: 1 when it held no
 * live tiny object then (nothing to report; later objects in it are new). A block is
 * current only from its allocation until its retirement, so other blocks' counts are
 * exact: 0 for an ordinary 16 B object, else live tiny objects. */
static int leak_tiny_idle(uintptr_t block) {
    for (unsigned c = 0; c < gh_ncpu; c++)
        if (leak.tinyblk[c] == block)
            return leak.tinylive[c] == 0;
    return 0;
}

/* Report pass: old, still allocated, unmarked. A tiny span's block is one object (16 B),
 * skipped when it held no live tiny object (leak_tiny_idle). */
static void leak_report_span(struct mspan *s) {
    if (s->spc < 2) {
        uintptr_t o = s->obj, g = leak_grain(o);
        if (g != LEAK_NOGRAIN && leak_test(leak.old, g) && !leak_test(leak.mark, g))
            leak_candidate(o, __atomic_load_n(&s->reqsize, __ATOMIC_RELAXED), s->alloc_pc);
        return;
    }
    uintptr_t b = s->base, es = s->elemsize;
    int tc = s->spc == GH_TINY_SPC;
    for (unsigned w = 0; w < s->nwords && es; w++)
        for (uint64_t a = leak_alloc_word(s, w); a; a &= a - 1) {
            unsigned i = w * 64u + gh_ctz64(a);
            uintptr_t o = b + (uintptr_t)i * es, g = leak_grain(o);
            if (g == LEAK_NOGRAIN || !leak_test(leak.old, g) || leak_test(leak.mark, g))
                continue;
            if (tc && leak_tiny_idle(o))
                continue;
            leak_candidate(o, es, 0);
        }
}

/* ---- roots ---------------------------------------------------------------------------- */

/* A whole word: a narrower field would leave the rest of its stack slot unwritten, and
 * a stale upper half joined with the CPU index makes a heap address (it did: "arena
 * base + cpu" kept the object at the base alive in the copy). */
struct leak_cpu_arg {
    uintptr_t cpu;
};

/* On each CPU, in each_cpu's handler: copy its live stack (and the registers saved in
 * it) now, since it runs on afterwards. */
static void leak_add_stack(uintptr_t lo, uintptr_t hi, void *arg) {
    uintptr_t cpu = ((struct leak_cpu_arg *)arg)->cpu;
    lo = gh_align_up(lo, sizeof(uintptr_t));
    hi = gh_align_down(hi, sizeof(uintptr_t));
    if (hi <= lo)
        return;
    size_t have = leak.stklen[cpu];
    if (hi - lo > LEAK_STACK_MAX - have) {
        atomic_store_explicit(&leak.incomplete, 1, memory_order_relaxed);
        return;
    }
    gh_memcpy(leak.stk + (size_t)cpu * LEAK_STACK_MAX + have, (const void *)lo, hi - lo);
    leak.stklen[cpu] = have + (hi - lo);
}
static void leak_cpu_roots(unsigned cpu, void *arg) {
    (void)arg;
    if (cpu >= gh_ncpu)
        return;
    /* The stack first: what this handler computes below (heap addresses) must not be
     * in the registers the hook spills. The scanning CPU's was copied at entry. */
    struct leak_cpu_arg a = {cpu};
    if (cpu != leak.self && goheap_sys_leak_cpu_roots(cpu, leak_add_stack, &a))
        atomic_store_explicit(&leak.incomplete, 1, memory_order_relaxed);
    /* This CPU's cache state, exact here (between its pinned sections). */
    struct mcache *c = gh_fast.caches[cpu];
    struct mspan *s = c && c != &gh_emptycache && c->tiny ? gh_span_of(c->tiny) : 0;
    if (s && s->tinycount) {
        unsigned b = (unsigned)((c->tiny - s->base) >> GH_TINY_SHIFT);
        leak.tinyblk[cpu] = c->tiny;
        leak.tinylive[cpu] = atomic_load_explicit(&s->tinycount[b], memory_order_relaxed) +
                             c->tinyn - GH_TINY_BIAS;
    }
}

static void leak_add_static(uintptr_t lo, uintptr_t hi, void *arg) {
    (void)arg;
    leak_scan_range(lo, hi);
}

/* ---- the workspace ------------------------------------------------------------------- */

static size_t leak_round(size_t n) { return gh_align_up(n, GOHEAP_PAGE_SIZE); }

/* n bytes of workspace, kept (never heap pages the scan would see as objects), or NULL.
 * Region mode reserves from the regions' metadata areas, sized for the heap's own
 * metadata (goheap_overhead), too small for the scan's megabytes: there the workspace
 * is a NOSCAN heap object instead, recorded in wsobj[which]: its contents are never
 * scanned and the scan marks it itself, so it is never reported (it counts as heap in
 * use, not OtherSys). */
static void *leak_ws_map(size_t n, unsigned which) {
    if (gh_region.on) {
        void *p = goheap_malloc_flags(n, GOHEAP_NOSCAN);
        if (p)
            leak.wsobj[which] = p;
        return p;
    }
    void *v = gh_sys_reserve(n, GOHEAP_PAGE_SIZE);
    if (!v || gh_sys_map(v, n))
        return 0;
    __atomic_fetch_add(&gh_meta.other_sys, n, __ATOMIC_RELAXED);
    return v;
}

/* The fixed part, mapped at the first scan and kept: the candidate arrays, the work
 * stack, the per-CPU stack copies and their lengths (sizes fixed by ncpu). 0, or -1. */
static int leak_map_fixed(void) {
    if (!leak.cand[0]) {
        size_t cand = leak_round(2 * LEAK_CAND_MAX * sizeof(struct leak_cand));
        size_t work = leak_round(LEAK_WORK_MAX * sizeof(uintptr_t));
        size_t lens = leak_round(gh_ncpu * 3 * sizeof(uintptr_t));
        size_t stk = leak_round((size_t)gh_ncpu * LEAK_STACK_MAX);
        void *v = leak_ws_map(cand + work + lens + stk, 0);
        if (!v)
            return -1;
        uintptr_t p = (uintptr_t)v;
        leak.cand[0] = v;
        leak.cand[1] = (struct leak_cand *)v + LEAK_CAND_MAX;
        leak.work = (uintptr_t *)(p + cand);
        leak.stklen = (size_t *)(p + cand + work);
        leak.tinyblk = (uintptr_t *)(leak.stklen + gh_ncpu);
        leak.tinylive = leak.tinyblk + gh_ncpu;
        leak.stk = (uint8_t *)(p + cand + work + lens);
    }
    gh_memclr(leak.stklen, gh_ncpu * 3 * sizeof(uintptr_t));
    leak.nwork = 0;
    leak.overflow = 0;
    atomic_store(&leak.incomplete, 0);
    return 0;
}

/* The span maps now: the window's, then each cover's; their bitmap offsets, the walk's
 * address order and the covers' bounding range. Returns the grains in all. */
static uintptr_t leak_take_maps(void) {
    uintptr_t grains = 0, lo = ~(uintptr_t)0, hi = 0, base, npages;
    struct mspan **spans;
    leak.nmap = 0;
    for (unsigned i = 0; i < LEAK_MAX_MAPS && (spans = gh_heap_map_at(i, &base, &npages)); i++) {
        struct leak_map *m = &leak.map[leak.nmap];
        *m = (struct leak_map){base, npages << GOHEAP_PAGE_SHIFT, npages, grains, spans};
        grains += m->bytes >> LEAK_GRAIN_SHIFT;
        if (i > 0) {
            lo = base < lo ? base : lo;
            hi = base + m->bytes > hi ? base + m->bytes : hi;
        }
        /* insertion into the address order */
        unsigned k = leak.nmap++;
        for (; k > 0 && leak.map[leak.order[k - 1]].base > base; k--)
            leak.order[k] = leak.order[k - 1];
        leak.order[k] = leak.nmap - 1;
    }
    leak.base = leak.map[0].base;
    leak.bytes = leak.map[0].bytes;
    leak.clo = lo;
    leak.cbytes = hi > lo ? hi - lo : 0;
    return grains;
}

/* The two bitmaps for the current span maps, grown with the heap. 0, or -1. */
static int leak_map_bitmaps(void) {
    size_t bm = leak_round(leak_take_maps() / 8 + 8);
    size_t total = 2 * bm;
    if (gh_region.on && total > leak.mapped) {
        /* a heap object (leak_ws_map); covers added since need a bigger one */
        if (leak.wsobj[1])
            goheap_free(leak.wsobj[1]);
        leak.wsobj[1] = 0;
        leak.mapped = 0;
        void *p = leak_ws_map(total, 1);
        if (!p)
            return -1;
        leak.va = (uintptr_t)p;
        leak.mapped = total;
    }
    if (total > leak.va_bytes && !gh_region.on) {
        /* Reservations are never given back: ask for twice the need, so a heap that
         * keeps growing reserves O(log) times. */
        void *va = gh_sys_reserve(2 * total, GOHEAP_PAGE_SIZE);
        if (!va)
            return -1;
        if (leak.mapped) {
            gh_sys_unmap((void *)leak.va, leak.mapped);
            __atomic_fetch_sub(&gh_meta.other_sys, leak.mapped, __ATOMIC_RELAXED);
        }
        leak.va = (uintptr_t)va;
        leak.va_bytes = 2 * total;
        leak.mapped = 0;
    }
    if (total > leak.mapped) {
        if (gh_sys_map((void *)(leak.va + leak.mapped), total - leak.mapped))
            return -1;
        __atomic_fetch_add(&gh_meta.other_sys, total - leak.mapped, __ATOMIC_RELAXED);
        leak.mapped = total;
    }
    leak.mark = (uint64_t *)leak.va;
    leak.old = (uint64_t *)(leak.va + bm);
    gh_memclr(leak.mark, total);
    for (unsigned i = 0; i < 2; i++) { /* the workspace's own heap objects: reached */
        uintptr_t g = leak.wsobj[i] ? leak_grain((uintptr_t)leak.wsobj[i]) : LEAK_NOGRAIN;
        if (g != LEAK_NOGRAIN)
            leak_set(leak.mark, g);
    }
    return 0;
}

/* Bytes of stack zeroed below the scan's entry: the scan's own frames down to the copy
 * of this CPU's stack (leak_scan, the platform hook, its setjmp) take well under 1 KiB
 * on x86_64 and aarch64; 2 KiB leaves room for other compilers' frames. */
#define LEAK_WIPE_BYTES 2048

/* Zeroes the stack just below the caller's frame, where leak_scan's frames go next: the
 * copy of this CPU's stack includes them, and their unwritten slots (padding, locals
 * not yet assigned) would otherwise hold whatever the caller's earlier, deeper calls
 * left there, such as the address of an object it has since dropped. */
static GH_NOINLINE void leak_wipe_stack(void) {
    uintptr_t buf[LEAK_WIPE_BYTES / sizeof(uintptr_t)];
    for (unsigned i = 0; i < LEAK_WIPE_BYTES / sizeof(uintptr_t); i++)
        ((volatile uintptr_t *)buf)[i] = 0;
    __asm__ volatile("" : : "r"(buf) : "memory"); /* the stores are the point */
}

static GH_NOINLINE long leak_scan(void (*cb)(const struct goheap_leak *leak, void *ctx), void *ctx);

long goheap_leak_scan(void (*cb)(const struct goheap_leak *leak, void *ctx), void *ctx) {
    leak_wipe_stack();
    return leak_scan(cb, ctx);
}

static GH_NOINLINE long leak_scan(void (*cb)(const struct goheap_leak *leak, void *ctx), void *ctx) {
    if (!gh_inited)
        return 0;
    int idle = 0;
    if (!atomic_compare_exchange_strong(&leak.busy, &idle, 1))
        return GOHEAP_LEAK_BUSY;
    gh_assert_no_locks();
    if (leak_map_fixed()) {
        atomic_store(&leak.busy, 0);
        goto nomem;
    }
    /* 0. This CPU's stack, before the scan's own frames leave heap addresses (span
     * bases, objects, the arena base) in slots the copy would include (so the buffers
     * it needs were mapped without touching one); its callers are blocked in this
     * call, so nothing it allocates comes after the copy. */
    goheap_pin_t pin;
    leak.self = goheap_sys_pin(&pin);
    {
        struct leak_cpu_arg a = {leak.self};
        if (goheap_sys_leak_cpu_roots(leak.self, leak_add_stack, &a))
            atomic_store_explicit(&leak.incomplete, 1, memory_order_relaxed);
    }
    goheap_sys_unpin(pin);
    if (leak_map_bitmaps()) {
        atomic_store(&leak.busy, 0);
        goto nomem;
    }
    /* 1. Which objects are old; 2. then the other CPUs' stacks and registers (an
     * object allocated after its CPU's copy is not old). */
    leak_walk(leak_snap_span);
#ifdef GOHEAP_SYS_HAVE_EACH_CPU
    goheap_sys_each_cpu(leak_cpu_roots, 0);
#else
    leak_cpu_roots(0, 0);
#endif
    if (atomic_load(&leak.incomplete)) {
        gh_logf("goheap: leak scan: a CPU's live stack could not be copied (over %u KiB, "
                "or the platform could not tell it): no scan",
                LEAK_STACK_MAX >> 10);
        atomic_store(&leak.busy, 0);
        return GOHEAP_LEAK_INCOMPLETE;
    }
    /* 3. Mark from the roots: static data, registered ranges, stack copies. */
    atomic_store_explicit(&leak_roots_reading, 1, memory_order_seq_cst);
    atomic_thread_fence(memory_order_seq_cst);
    goheap_sys_leak_roots(leak_add_static, 0);
    for (unsigned i = 0; i < LEAK_MAX_ROOTS; i++)
        if (atomic_load_explicit(&leak_roots[i].state, memory_order_seq_cst) == LEAK_ROOT_LIVE) {
            /* A registered range may be heap memory: hold off unmapping while reading. */
            gh_unmap_hold();
            leak_scan_range(leak_roots[i].lo, leak_roots[i].hi);
            gh_unmap_release();
            leak_drain();
        }
    atomic_store_explicit(&leak_roots_reading, 0, memory_order_release);
    /* Stacks and registers: live contexts only (goheap_sys_leak_cpu_roots,
     * leak_wipe_stack), every word but the arena base itself: with every other stale
     * source gone it still kept the object at the base alive in 1 of ~10 churn runs,
     * likely from an interrupted CPU's registers (page-level code computes page and
     * chunk addresses from the base, base + 0 included). The price: an object at the
     * base referenced only from a stack or register, by its exact start, is reported
     * (docs/leakscan.md). */
    for (unsigned c = 0; c < gh_ncpu; c++) {
        const uintptr_t *w = (const uintptr_t *)(leak.stk + (size_t)c * LEAK_STACK_MAX);
        for (size_t k = 0; k < leak.stklen[c] / sizeof *w; k++)
            if (w[k] != leak.base && leak_maybe_heap(w[k]))
                leak_mark_value(w[k]);
        leak_drain();
    }
    leak_finish_marking();
    /* 4. Objects allocated since the snapshot are roots too; 5. report. */
    leak_walk(leak_black_span);
    leak_finish_marking();
    leak.ncand[leak.prev ^ 1] = 0;
    leak.untracked = 0;
    leak_prev_i = 0;
    leak_walk(leak_report_span);
    leak.prev ^= 1;
    long n = 0;
    uint64_t bytes = 0;
    for (unsigned i = 0; i < leak.ncand[leak.prev]; i++) {
        const struct leak_cand *c = &leak.cand[leak.prev][i];
        if (c->scans < LEAK_MIN_SCANS)
            continue;
        n++;
        bytes += c->size;
        if (cb) {
            struct goheap_leak l = {(void *)c->addr, c->size, c->site, c->scans};
            cb(&l, ctx);
        }
    }
    if (leak.untracked)
        gh_logf("goheap: leak scan: %u unreferenced objects beyond the %u tracked between "
                "scans were not checked",
                leak.untracked, LEAK_CAND_MAX);
    atomic_store(&gh_leak_stats.objects, (uint64_t)n);
    atomic_store(&gh_leak_stats.bytes, bytes);
    atomic_fetch_add(&gh_leak_stats.scans, 1);
    atomic_store(&leak.busy, 0);
    return n;
nomem:
    gh_logf("goheap: leak scan: no memory for its bitmaps and buffers (%lu heap pages)",
            (unsigned long)atomic_load(&gh_fast.npages));
    return GOHEAP_LEAK_NOMEM;
}
#endif /* GOHEAP_SYS_HAVE_LEAK_ROOTS */
