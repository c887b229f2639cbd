/* alloc/core.h: declarations shared between the core's top-level files (api.c,
 * alloc.c, free.c, efence.c, scavenge.c, stats.c). Not part of the public API. */
#ifndef GOHEAP_CORE_H
#define GOHEAP_CORE_H

/* The core's own symbols never cross a shared-library boundary (include/goheap.h
 * re-exports the API): declared hidden, the fast paths reach gh_fast and the tables
 * with one RIP-relative access each instead of first loading their address. */
#include "platform.h" /* first: it may pull in system headers, which must stay default */
#pragma GCC visibility push(hidden)
#include "goheap.h"
#include "knobs.h"
#include "mcache.h"
#include "mcentral.h"
#include "mheap.h"
#include "profile.h"
#include "sysmem.h"
#include "work.h"

extern unsigned gh_ncpu;
extern int gh_inited;

/* Size -> span class tables for sizes <= 1016 (index (size + 7) / 8) and for
 * 1024 < size <= 32768 (index (size - 1024 + 127) / 128): plain malloc (16-byte
 * aligned from 16 B: Go's 24 B class is skipped), ALIGN8, and their noscan twins. */
enum { GH_TAB_SCAN = 0, GH_TAB_SCAN8 = 1, GH_TAB_NOSCAN = 2, GH_TAB_NOSCAN8 = 3 };
/* Entries: sizes 0..1024 in 8-byte steps, and 1025..32768 in 128-byte steps. */
#define GH_SPC8_N (GOHEAP_SMALL_SIZE_MAX / GOHEAP_SMALL_SIZE_DIV + 1) /* 129 */
#define GH_SPC128_N ((GOHEAP_MAX_SMALL_SIZE - GOHEAP_SMALL_SIZE_MAX) / GOHEAP_LARGE_SIZE_DIV + 1) /* 249 */
#define GH_NTAB 4 /* the GH_TAB_* variants */
extern uint8_t gh_spc8[GH_NTAB][GH_SPC8_N];
/* The table goheap_malloc's fast path reads above 1 KiB: gh_spc128[GH_TAB_SCAN], or
 * all zeros in instrumented mode (span class 0 is never cached, so every malloc misses
 * to the slow path, which costs the fast path no extra test; up to 1 KiB the caches'
 * fidx does the same, mcache.h). */
extern uint8_t gh_fastspc128[GH_SPC128_N];
extern uint8_t gh_spc128[GH_NTAB][GH_SPC128_N];

/* Allocation entry behind every public allocation function. align is a power of two
 * (0 or <= 16: the default). pc: the caller, for traces. NULL: out of memory. */
void *gh_alloc(size_t size, unsigned flags, size_t align, uintptr_t pc);
/* gh_alloc without the profiler's accounting (the profiler's own allocations), unless
 * flags carry GH_ALLOC_COUNT, which gh_alloc adds while the profiler samples: the
 * allocation paths then count the object against the CPU's interval while pinned for
 * the allocation itself, and sample it when the interval runs out (profile.h). */
void *gh_alloc_raw(size_t size, unsigned flags, size_t align, uintptr_t pc);
void *gh_alloc_small(size_t size, unsigned flags, size_t align, uintptr_t pc);
void *gh_alloc_large(size_t size, unsigned flags, size_t align, uintptr_t pc);
/* Internal flags (no public GOHEAP_* flag uses the top bits; gh_alloc clears them).
 * GH_ALLOC_ROOM: realloc's move growing by half or more (never in instrumented
 * mode); the object goes to a large span (also a size <= 32 KiB: realloc passes a
 * page multiple) placed with free room after it (alloc.c alloc_large_room,
 * GH_REALLOC_ROOM_PAGES). */
#define GH_ALLOC_COUNT 0x80000000u
#define GH_ALLOC_ROOM 0x40000000u
/* GH_ALLOC_ROOM_STEP (with GH_ALLOC_ROOM): a large object's move growing by a small
 * step (a vector appended to past 32 KiB); a cached span of its size is taken first,
 * else the room asked is one page, so that the next steps grow in place without the
 * placement reaching for a run of 1 MiB in memory not touched lately (peak RSS:
 * bench/RESULTS.md, "realloc without a frame"). */
#define GH_ALLOC_ROOM_STEP 0x20000000u
/* The room a growing move asks after its new span: its own size (one doubling in
 * place) and at least 128 pages (1 MiB), where realloc's zero-copy move takes over
 * (GH_REMAP_MIN_BYTES). A buffer doubled from 8 KiB then grows in place up to 1 MiB
 * when such a run exists, with no copy: bench/RESULTS.md, "Large objects and
 * realloc", doubling to 16 MiB. The room stays free for anyone to take. */
#define GH_REALLOC_ROOM_PAGES 128u

/* c's next sampling interval (profile.h). Pinned on c's CPU. */
static inline __attribute__((always_inline)) void gh_prof_rearm(struct mcache *c) {
    c->next_sample = gh_prof_rate ? (int64_t)gh_prof_interval(gh_prof_rate, &c->prof_rng) : INT64_MAX;
}

/* The fork gate (alloc/fork.c): a section inside it is never copied by a fork half
 * done. realloc's zero-copy move (remap.c), from its old span's MOVING to the new
 * object's publication and the old span's free (or the destination's give-back): in
 * the child the move (mremap) ran wholly or not at all, and nothing would say which.
 * enter: waits while a fork is under way (between goheap_fork_hold_background and
 * parent/child; passes on the forking thread) and holds forks off; returns what exit
 * takes. Both unpinned, no lock held. try: the same without the wait, for a pinned
 * caller, which must not wait there (a fork's prepare may be waiting for its pin:
 * hosted's overflow slots): -1 when a fork is under way (nothing entered: the caller
 * unpins and takes its unpinned route), else what exit takes. */
extern _Atomic unsigned gh_fork_gate_busy, gh_fork_gate_closed;
int gh_fork_gate_wait(void); /* enter's wait, out of line */
int gh_fork_gate_self(void); /* the forking thread, between prepare and parent/child */
static inline int gh_fork_gate_try(void) {
    atomic_fetch_add_explicit(&gh_fork_gate_busy, 1, memory_order_seq_cst);
    if (gh_likely(!atomic_load_explicit(&gh_fork_gate_closed, memory_order_seq_cst)))
        return 1;
    atomic_fetch_sub_explicit(&gh_fork_gate_busy, 1, memory_order_seq_cst);
    /* a fork handler's allocation, on the forking thread: nothing to wait for */
    return gh_fork_gate_self() ? 0 : -1;
}
static inline int gh_fork_gate_enter(void) {
    int gate = gh_fork_gate_try();
    return gate >= 0 ? gate : gh_fork_gate_wait();
}
static inline void gh_fork_gate_exit(int entered) {
    if (entered)
        atomic_fetch_sub_explicit(&gh_fork_gate_busy, 1, memory_order_release);
}

/* The profiler's lock-free large records (profile.c, "large records") in the gate:
 * a record and its bucket's counts are two writes a fork could copy apart (a child
 * whose goheap_validate said "profile: N sampled-object records, buckets say N+1 in
 * use": tsan core-forkstress, 1 run in 4 before). Only where a fork can copy the heap
 * (the platforms that fork name their forking thread: GOHEAP_SYS_HAVE_FORK_SELF); the
 * kernel's sampled large pair keeps its instructions (bench/kernel, ICOUNT=1). */
#ifdef GOHEAP_SYS_HAVE_FORK_SELF
#define GH_PROF_GATED 1
#else
#define GH_PROF_GATED 0
#endif
static inline int gh_prof_gate_enter(void) { return GH_PROF_GATED ? gh_fork_gate_enter() : 0; }
static inline int gh_prof_gate_try(void) { return GH_PROF_GATED ? gh_fork_gate_try() : 0; }
static inline void gh_prof_gate_exit(int entered) {
    if (GH_PROF_GATED)
        gh_fork_gate_exit(entered);
}

/* Takes a's record out of its large span s (profile.c, "large records"): its bucket,
 * NULL when a has none; its size in *size. */
static inline struct gh_prof_bucket *gh_prof_large_take(struct mspan *s, uintptr_t a, uint64_t *size) {
    if (a != s->obj)
        return 0; /* an interior pointer: free reports it, the record stays */
    /* A load and a store, not an exchange (a read-modify-write loop on aarch64
     * without LSE): only a double free could race, and free panics on it. */
    struct gh_prof_bucket *b = atomic_load_explicit(&s->pbucket, memory_order_acquire);
    if (b) {
        atomic_store_explicit(&s->pbucket, 0, memory_order_relaxed);
        *size = atomic_load_explicit(&s->psize, memory_order_relaxed);
        atomic_store_explicit(&s->nsampled, 0, memory_order_relaxed);
        atomic_fetch_sub_explicit(&gh_prof_nlarge, 1, memory_order_relaxed);
    }
    return b;
}

/* free of a large or efence object a whose span s has nsampled set (any CPU, before
 * the object is given back; no lock): drops its record, counts it freed. Inline:
 * free_large_route and free_large_pinned then make no call before the free. _in: the
 * caller is in the gate (gh_prof_gate_try, pinned); gh_prof_free_large: unpinned, it
 * enters the gate itself. */
static inline void gh_prof_free_large_in(struct mspan *s, uintptr_t a) {
    uint64_t size;
    struct gh_prof_bucket *b = gh_prof_large_take(s, a, &size);
    if (b) {
        __atomic_fetch_add(&b->frees, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&b->free_bytes, size, __ATOMIC_RELAXED);
    }
}
static inline void gh_prof_free_large(struct mspan *s, uintptr_t a) {
    int gate = gh_prof_gate_enter();
    gh_prof_free_large_in(s, a);
    gh_prof_gate_exit(gate);
}

/* gh_prof_count: the profiler's count of an allocation of `size` bytes on c's CPU
 * (pinned): 1 when it is to be sampled (gh_prof_sample, unpinned). */
static inline __attribute__((always_inline)) int gh_prof_count(struct mcache *c, size_t size) {
    if (gh_likely((c->next_sample -= (int64_t)size) >= 0))
        return 0;
    gh_prof_rearm(c);
    return 1;
}
/* Free behind goheap_free (everything but the fast path); reached by a tail call,
 * so its return address is goheap_free's caller (for traces). */
void gh_free_slow(uintptr_t a);
void gh_free_pc(uintptr_t a, uintptr_t pc);
void *gh_malloc_slow(size_t size);
void *gh_malloc_large(size_t size); /* goheap_malloc above the small sizes (api.c) */
/* The fast path's miss on span s of cache c (cache empty), still pinned by pin:
 * refills, unpins (api.c). */
void *gh_malloc_miss(size_t size, struct mcache *c, struct mspan *s, goheap_pin_t pin);
/* The free fast path's panics, given z = gh_span_index(s, a) (gh_span_index_addr
 * recovers a): not a slot start of s (dbl == 0), or a slot that is free already or
 * has a remote free pending (dbl == 1). Never returns, except with dbl == 2 (the fast
 * path's, pin its pin) for a sampled object: its remoteFree bit set is its marker
 * (profile.c), not a pending free; then its record goes, it is freed as the owner
 * frees, and pin is released. (pin third, where gh_free_other takes it: the kernel's
 * free then keeps it in one register for both exits; fourth, it cost the remote and
 * large frees a move, ICOUNT=1 +1 on the large pairs.) */
void gh_free_owned_bad(uint64_t z, struct mspan *s, goheap_pin_t pin, int dbl);
/* The free of a pointer into a span this CPU does not own (the fast path's other
 * branch, a tail call): with GOHEAP_SYS_HAVE_PIN_CPU still pinned with pin_fast's saved
 * value `pin` (which may have failed), else unpinned (pin unused). A plain small object
 * is freed remotely there (free.c says which); everything else takes the slow path
 * (gh_free_span_slow). Returns unpinned. */
void gh_free_other(uintptr_t a, struct mspan *s, goheap_pin_t pin);
/* gh_free_slow once the span-map entry s of a is known (region covers handled). */
void gh_free_span_slow(struct mspan *s, uintptr_t a);
/* A remote free's set of bit i of the remoteFree map at p (bit i % 64 of word
 * p[i / 64]), seq_cst; nonzero when it was set already (a second remote free, not
 * yet swept). The platform's one instruction where it has one (platform.h,
 * goheap_sys_atomic_set_bit), else the C11 form; always the C11 form under
 * ThreadSanitizer, which cannot see the ordering of a platform's asm (the freer's
 * accesses to the object would then race with its reuse after the sweep). */
static inline int gh_remote_set_bit(_Atomic uint64_t *p, unsigned i) {
#if defined(GOHEAP_SYS_HAVE_SET_BIT) && !defined(GH_TSAN)
    return goheap_sys_atomic_set_bit(p, i);
#else
    return gh_atomic_set_bit(p + (i >> 6), i & 63, memory_order_seq_cst);
#endif
}

/* The owner's free of slot idx < wnelems of s (pinned on its owner's CPU by pin): the
 * double-free rule's test, the free's one count, the release store. Inline in the
 * free fast path (gh_free_cached, sampled 1) and in free.c's other owner's frees
 * (gh_free_small, sampled 0: its callers took any record off first). A bit already
 * free, or a remote free of the slot pending, is a double free, unless (sampled) the
 * slot holds a sampled object (its marker: profile.c).
 * A drainer on another CPU may read the word (parked spans, mcache.h): everything
 * this free writes in s comes before the release store; once a drainer sees the span
 * empty it may give it back. Returns 0 after the tail call to gh_free_owned_bad,
 * which unpins if it returns (the caller returns at once, without unpinning: had the
 * caller unpinned after it, the pin would have to live across the call, in a saved
 * register, on every free: aarch64 kernel +2 a pair). */
static inline __attribute__((always_inline)) int gh_free_owned_slot(struct mspan *s, uint64_t idx,
                                                                   goheap_pin_t pin, int sampled) {
    uint64_t w = idx >> 6; /* (the bit test on idx itself: bt takes it mod 64) */
    uint64_t fb = s->bits[w]; /* == freeBits[w] (mspan.h): 1 = free */
    /* 1 = a remote free pending (R, mspan.h): the slot must be clear in both words, one
     * or + bt */
    uint64_t r = atomic_load_explicit(&s->remoteFree[w], memory_order_relaxed);
    if (gh_unlikely(gh_bit64(gh_opaque64(fb | r), idx))) { /* free already, pending remotely, or sampled */
        gh_free_owned_bad(idx, s, pin, 1 + sampled);
        return 0;
    }
    /* The free's only count (struct mspan, statistics). A parked span may be
     * given back by a drainer as soon as the store below empties it: lfree is
     * written before, and nothing after. */
    GH_COUNT_ADD(s->lfree, 1);
    /* The bit set with fb | 1 << idx, the index hidden from clang: it would share the
     * shift with the test above and build 1 << idx (mov, mov, shl) where x86 sets the
     * bit with one bts (bench/RESULTS.md, "freeBits"). */
    __atomic_store_n(&s->bits[w], fb | gh_bit_mask(gh_opaque64(idx)), __ATOMIC_RELEASE); /* (clear: checked above) */
    return 1;
}

/* The free fast path once a's span s is known (goheap_free for the window, gh_free_slow
 * for region mode's covers): frees a and returns 1. Always inlined: goheap_free is this
 * plus one bound check. A span this CPU owns, current or parked, any word: the slot's
 * freeBits bit, with the double-free rule's checks inline (gh_free_owned_slot), no
 * call unless the free is bad; it counts the free once, in the span's lfree (the
 * tenure's mallocs and the owner's frees follow from it, mspan.h). One path: the two
 * tiers this replaced (a private copy of the current word, then freeBits) split the
 * owner's frees about half and half under random replacement, and their branch
 * mispredicted on ~47% of frees (bench/RESULTS.md, "One free path"). A span this CPU
 * does not own: gh_free_other. */
static inline __attribute__((always_inline)) int gh_free_cached(struct mspan *s, uintptr_t a) {
    goheap_pin_t pin;
    /* GOHEAP_PIN_FAILED never equals an owner: no separate test. */
    unsigned cpu = goheap_sys_pin_fast(&pin);
    if (gh_likely(atomic_load_explicit(&s->owner, memory_order_relaxed) == cpu)) {
        /* One compare: a slot start of the span (mspan.h). The panics get the index,
         * not a (gh_span_index_addr recovers it), so no copy of a is kept alive.
         * (the panics are tail calls, not _Noreturn calls: a call would make
         * goheap_free align its stack, two instructions on every free) */
        uint64_t idx = gh_span_index(s, a);
        if (gh_unlikely(idx >= s->wnelems)) {
            gh_free_owned_bad(idx, s, pin, 0); /* an interior pointer */
            return 1;
        }
        if (gh_free_owned_slot(s, idx, pin, 1))
            goheap_sys_unpin(pin);
        return 1;
    }
#ifdef GOHEAP_SYS_HAVE_PIN_CPU
    gh_free_other(a, s, pin); /* still pinned; a tail call (a, s in place already) */
#else
    goheap_sys_unpin(pin);
    gh_free_other(a, s, (goheap_pin_t){0}); /* it pins again */
#endif
    return 1;
}

/* Which call checks a pointer, for the panic's wording. */
enum gh_who { GH_WHO_FREE = 0, GH_WHO_USABLE = 1, GH_WHO_REALLOC = 2 };
/* The usable size of a, or a panic naming `who` when a is not a live object. */
size_t gh_usable_size(uintptr_t a, enum gh_who who);
/* The same, also returning the span it found (realloc: one look-up). */
size_t gh_usable_size_span(uintptr_t a, enum gh_who who, struct mspan **sp);

/* Free of a small object's slot idx in s; pinned on cpu, c its cache (or emptycache). */
void gh_free_small(struct mcache *c, unsigned cpu, struct mspan *s, unsigned idx, uintptr_t a);
/* Its remote half, given the owner's view of slot (w, m) taken before the OR. */
void gh_free_remote(struct mcache *c, unsigned cpu, struct mspan *s, unsigned w, uint64_t m, uintptr_t a,
                    unsigned spc, int view, uint32_t seq);

/* efence.c */
void *gh_efence_alloc(size_t size, size_t align, unsigned flags, uintptr_t pc);
void gh_efence_free(struct mspan *s, uintptr_t a, uintptr_t pc); /* unpinned */
/* 0 when the live guarded objects are at their limit (said once): allocate unguarded. */
int gh_efence_room(void);
/* The first smashed canary byte of live guarded span s, or 0 (safe against a
 * concurrent free). */
uintptr_t gh_efence_check_span(const struct mspan *s);
/* Guarded objects live now, and allocations left unguarded by the live-object limit
 * (metrics /goheap/efence/...). */
void gh_efence_counts(uint64_t *live, uint64_t *unguarded);
/* A fork child, every lock held (goheap_fork_child): the freed guarded spans other
 * threads left between the quarantine's steps finished (efence.c). */
void gh_efence_fork_child(void);
/* validate: bytes of the quarantine's spans and of those in flight around it, and in
 * *inflight how many are in flight (0 in a quiescent heap). */
uint64_t gh_efence_held(unsigned *inflight);

/* scavenge.c: all unpinned, no lock held. */
uintptr_t gh_scavenge(uintptr_t bytes);
void gh_last_resort(void);      /* flush every CPU, sweep central, scavenge all */
void gh_flush_all_cpus(void);   /* each_cpu flush, then gh_reclaim */
/* The reclaim pass: every CPU's cache drained (gh_mcache_drain: empty parked spans,
 * page cache; current spans stay, but for a fork child's gone caches), every mcentral
 * span with remote frees swept and the empty ones given back. Returns the spans given
 * back. */
unsigned gh_reclaim(void);
/* One background step (goheap_background_work): nonzero if it released memory or
 * gave spans back, so a background thread knows to come back soon. */
int gh_background_step(void);
uint64_t gh_reclaimed_spans(void);    /* spans given back by reclaim passes so far */
/* 1: waits for a running background step and keeps new ones off; 0: lets them run.
 * Neither, in the forking thread while a fork holds the step (a fork handler of the
 * program: gh_fork_holds_background, alloc/fork.c). */
void gh_background_hold(int on);
int gh_fork_holds_background(void);
/* In a fork child: 1 once for cpu's cache if the platform named it gone
 * (goheap_fork_child_gone), clearing the mark. Caller holds that cache's lock. */
int gh_fork_gone_take(unsigned cpu);
/* In a fork child whose platform named caches gone (goheap_fork_child_gone): once, the
 * number of them, each a thread that may have been caught between a free's count and
 * its bit (the remote free's count, then its OR on another page; the owner's lfree,
 * then its store), or in a large span cache's put or get between its counts, its
 * exchange or state and its listing: the counters' allowance for goheap_validate's
 * recount (stats.c), which first bounds by it the large spans such a put or get left
 * LCACHED in no list (fork_settle_large). 0 otherwise, and on every later call. */
unsigned gh_fork_recount_take(void);
/* Tests only: called by goheap_fork_prepare right after it took the CPU caches' drain
 * locks, before any other lock (alloc/fork.c). */
typedef void gh_fork_hook_fn(void);
extern gh_fork_hook_fn *gh_fork_scan_test_hook;
/* In a fork child: whether cpu's cache is named gone and not yet given back by a drain
 * (gh_fork_gone_take); its parked spans may hold an owner's free caught between its
 * lfree count and its bit (goheap_validate's parked-span check skips them). */
int gh_fork_gone_marked(unsigned cpu);
/* In a fork child: the parent's background thread is gone (mid-step or not). */
void gh_background_fork_child(void);

/* Eager releases made outside gh_scavenge (realloc's remap giving back its
 * destination's frames): added to the total scavtrace reports. */
void gh_scav_count_released(uint64_t bytes);

/* remap.c: realloc's zero-copy move and realloc's counters. GH_REMAP_MIN_BYTES: the
 * smallest old object a move remaps instead of copying (docs/alloc.md, "realloc",
 * gives the measurements behind 1 MiB). gh_remap_move: the move of s's object (plain
 * large, in use, at its span's start, old usable size < n <= want) to a new span of
 * `want` bytes by gh_sys_remap (copied where the platform cannot move its frames).
 * Returns the new object; NULL with *nomem = 1 when memory ran out in the middle (the
 * old block intact: the caller runs the last resort and tries once more before the
 * realloc fails); NULL with *nomem = 0 when nothing was done
 * (the caller copies as usual). Unpinned, no lock held. */
#define GH_REMAP_MIN_BYTES (1u << 20)
void *gh_remap_move(struct mspan *s, size_t want, size_t n, uintptr_t pc, int *nomem);
/* Bytes realloc copied (every move that copies: small or large, fallbacks
 * included) and bytes it moved through goheap_sys_remap; moves remapped, and remaps
 * that fell back to a copy or failed for memory. Relaxed atomics, one cache line. */
struct gh_realloc_stats {
    _Atomic uint64_t copied, remapped, remaps, remap_failed, remap_nomem;
} GH_ALIGNED(GH_CACHELINE);
extern struct gh_realloc_stats gh_realloc_stats;

/* Trace line for allocfreetrace. */
void gh_trace(const char *what, uintptr_t p, size_t size, uintptr_t pc);

/* The malloc fast path's pin: this CPU's cache, pinned. A platform with a per-slot
 * pointer (GOHEAP_SYS_HAVE_LOCAL) returns it in one load and never fails (a caller
 * without a slot gets gh_emptycache, whose spans are all empty); otherwise the slot
 * index indexes gh_fast.caches, and NULL means the pin failed (nothing to unpin). */
#ifdef GOHEAP_SYS_HAVE_LOCAL
#define GH_PIN_CACHE_MAY_FAIL 0
static inline struct mcache *gh_pin_cache_fast(goheap_pin_t *pin) {
    return (struct mcache *)goheap_sys_pin_local(pin);
}
#else
#define GH_PIN_CACHE_MAY_FAIL 1
static inline struct mcache *gh_pin_cache_fast(goheap_pin_t *pin) {
    unsigned cpu = goheap_sys_pin_fast(pin);
    return gh_likely((int)cpu >= 0) ? gh_fast.caches[cpu] : 0;
}
static inline void goheap_sys_set_local(unsigned cpu, void *p) {
    (void)cpu;
    (void)p;
}
#endif

/* Smallest span class for size (<= 32768) under the table `tab`. */
static inline unsigned gh_size_to_spc(size_t size, unsigned tab) {
    if (size <= GOHEAP_SMALL_SIZE_MAX - 8)
        return gh_spc8[tab][(size + 7) >> 3];
    return gh_spc128[tab][(size - GOHEAP_SMALL_SIZE_MAX + 127) >> 7];
}

static inline unsigned gh_flags_tab(unsigned flags) {
    return ((flags & GOHEAP_NOSCAN) ? 2u : 0u) | ((flags & GOHEAP_ALIGN8) ? 1u : 0u);
}

#pragma GCC visibility pop

#endif /* GOHEAP_CORE_H */
