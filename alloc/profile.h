/* alloc/profile.h: the sampling heap profiler (Go's MemProfileRate): which allocations
 * are sampled, the stack buckets they are counted in, the sampled-object records free
 * finds through the span, and the legacy text profile pprof reads (docs/profiling.md). */
#ifndef GOHEAP_PROFILE_H
#define GOHEAP_PROFILE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "knobs.h"
#include "util.h"

/* Build switch: -DGOHEAP_PROFILE=0 compiles the profiler out (no counter on malloc's
 * fast path; memprofilerate= then only says it is off). */
#ifndef GOHEAP_PROFILE
#define GOHEAP_PROFILE 1
#endif

#pragma GCC visibility push(hidden)

/* Go's default MemProfileRate: one sample per 512 KiB allocated, on average. */
#define GH_PROF_DEFAULT_RATE GH_KNOB_MEMPROFILERATE_DEFAULT
/* Frames kept per sample: Go keeps 32; 64 covers deep kernel call chains. */
#define GH_PROF_MAX_DEPTH 64

/* The sampling rate in bytes (memprofilerate=): 0 off, 1 every allocation. Set by
 * gh_prof_init before any cache exists. */
extern uint64_t gh_prof_rate;

struct mcache;
struct mspan;

/* At goheap_init, after the knobs. */
void gh_prof_init(void);
/* A new CPU cache: its random state and its first sampling interval. */
void gh_prof_cache_init(struct mcache *c, unsigned cpu);

/* Sampling intervals, inline: every sample draws one, in the allocation path that
 * found its CPU's interval spent (core.h, gh_prof_rearm): ~10 instructions of call
 * and reloads less than out of line. */
extern const uint32_t gh_prof_log2_tab[65];
static inline uint64_t gh_prof_rng_next(uint64_t *s) { /* xorshift64*, never 0 once seeded non-zero */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Fixed point: 24 fraction bits. */
#define GH_PROF_FRAC 24
/* ln 2 * 2^24, rounded. */
#define GH_PROF_LN2_Q24 11629080ull


/* log2(x) * 2^24 for x >= 1: the integer part from the top bit, the fraction from the
 * table by the mantissa's top 6 bits, linearly interpolated by the next 25 (Go's
 * fastlog2 is the same idea in floating point). Interpolating the concave log2 errs
 * low by at most (1/64)^2 / (8 ln 2) = 4.4e-5 (728 in Q24, measured over 200000
 * random x), so an interval is at most 3e-5 * rate long (16 bytes at 512 KiB): far
 * inside t_interval_mean's tolerances. About 12 instructions; the bit-by-bit log it
 * replaced took ~340 per sample (24 squarings), ~0.4 M of the suite's callgrind
 * total at the default rate. */
static inline uint64_t gh_prof_log2_q24(uint64_t x) {
    unsigned z = gh_clz64(x);
    uint64_t m = x << z;                               /* top bit 63: [1, 2) in Q63 */
    size_t j = (size_t)(m >> 57) - 64;                 /* the next 6 bits (no mask) */
    uint64_t f = (m >> 32) & ((1ull << 25) - 1);       /* and the 25 after them */
    uint64_t lo = gh_prof_log2_tab[j], hi = gh_prof_log2_tab[j + 1];
    return ((uint64_t)(63 - z) << GH_PROF_FRAC) + lo + (((hi - lo) * f) >> 25);
}

/* Bytes to the next sample, exponentially distributed with mean `rate` (0 for rate
 * <= 1): -ln(u) * rate for u uniform in (0, 1), in fixed point. *rng: xorshift state.
 * u = r / 2^64 for r the generator's word made odd: -ln u = (64 - log2 r) ln 2, at
 * most 44.4 (intervals below 45 * rate); rate * ln 2 (Q24, < 2^57: the knob's range is
 * below 2^33) times that (Q24, <= 2^30) in 128 bits, one multiply. ~35 instructions
 * with the generator (callgrind): 46 when it was out of line, with 32-bit u and two
 * multiplies. */
static inline uint64_t gh_prof_interval(uint64_t rate, uint64_t *rng) {
    if (rate <= 1)
        return 0;
    uint64_t r = gh_prof_rng_next(rng) | 1;
    uint64_t neglog2 = (64ull << GH_PROF_FRAC) - gh_prof_log2_q24(r);
    return (uint64_t)(((unsigned __int128)(rate * GH_PROF_LN2_Q24) * neglog2) >> (2 * GH_PROF_FRAC));
}

/* malloc's fast path (or gh_malloc_slow) found its cache's counter spent
 * (c->next_sample < 0): allocate `size` bytes and sample them. pc: malloc's caller.
 * Reached by a tail call from goheap_malloc, so that the frame chain from here still
 * leads to the caller's frames (hosted builds give the core no frame pointers). */
void *gh_prof_malloc(size_t size, uintptr_t pc);
/* gh_malloc_large's large span cache hit on large span s whose count ran out
 * (gh_prof_count drew the next interval): records s's object (stack from this
 * function's own frame record, which returns to pc when it is tail-called as
 * gh_prof_malloc is), runs the slow path's after-work and returns the object. */
void *gh_prof_malloc_large(struct mspan *s, uintptr_t pc);
/* After an allocation of `size` bytes at p outside the pinned paths below (efence):
 * count it against this CPU's interval and sample it when the interval runs out. pc:
 * the caller of the public entry point. Unpinned, no lock held. */
void gh_prof_account(void *p, size_t size, uintptr_t pc);
/* The same in two halves for the allocation paths (alloc.c, GH_ALLOC_COUNT), so that
 * the count needs no pin of its own: gh_prof_count (core.h; pinned, c this CPU's
 * cache) subtracts and, when the interval ran out, draws the next one (gh_prof_rearm, core.h)
 * and returns 1; then, unpinned, gh_prof_sample records p with its stack, or
 * gh_prof_sample_large the object of large span s. fp: a
 * frame record of this thread whose chain leads to the one returning to pc (the walk
 * checks it like any other and starts there, past the sampler's own records): the
 * caller's __builtin_frame_address(0), or GH_PROF_CALLER_FP(). */
void gh_prof_sample(void *p, size_t size, uintptr_t pc, uintptr_t fp);
void gh_prof_sample_large(struct mspan *s, uintptr_t pc, uintptr_t fp);
/* The frame record of this function's caller (the saved frame pointer in its own
 * record, read from this frame: always readable). */
#define GH_PROF_CALLER_FP() (*(const uintptr_t *)__builtin_frame_address(0))
/* free (any CPU, before the object is given back; pinned or not, no lock held) of a
 * in a span whose nsampled is nonzero: drops a's record, if it has one, counts it as
 * freed in its bucket and takes a small span's marker off (the slot is a plain
 * allocated one then, for the free that follows); 1 when a small object's record
 * went. An object the span's lanes rule out returns at once, without the lock. */
int gh_prof_free(struct mspan *s, uintptr_t a);
/* The same for a small span, already pinned on cpu (the fast paths' exits: a pin
 * inside a pin is refused where pinning masks interrupts). */
int gh_prof_free_pinned(struct mspan *s, uintptr_t a, unsigned cpu);
/* The same for a large or efence span s (one object, its record in the span): no
 * lock, no pin (profile.c, "large records"; inline in core.h). */

/* A stack bucket: the counts of every sampled allocation with this stack. Never
 * freed: the writer walks `all` without the lock. */
struct gh_prof_bucket {
    struct gh_prof_bucket *next;             /* hash chain (protected by the profile lock) */
    struct gh_prof_bucket *allnext;          /* every bucket, newest first (append-only) */
    uint64_t hash;
    /* atomic adds, under the profile lock (small records) or without it (large
     * records); read racily by the writer */
    uint64_t allocs, alloc_bytes, frees, free_bytes;
    uint32_t nstk;
    uintptr_t stk[];
};
/* Every bucket, newest first (append-only: allnext), for the profile's writer. */
struct gh_prof_bucket *gh_prof_buckets(void);
/* Live large records (in their spans): changed without the lock. */
extern _Atomic uint64_t gh_prof_nlarge;
/* realloc moved a sampled object from `from` to `to` (allocated for `size` bytes), or
 * resized it in place (from == to): its record moves with it, in the same bucket, with
 * the new usable size. Returns 0 when `from` had no record. */
int gh_prof_move(uintptr_t from, uintptr_t to, size_t size);
/* goheap_validate, quiescent heap: s's lanes and npover agree with nsampled (large
 * spans: none). 1 when they do. */
int gh_prof_lanes_check(const struct mspan *s);
/* Whether a has a record (s: its span). */
int gh_prof_is_sampled(struct mspan *s, uintptr_t a);
/* Markers (profile.c): a live sampled object of a small span keeps its slot's
 * remoteFree bit set. gh_prof_sweep_take: a
 * sweep's take of word w of s while nsampled > 0: clears the remoteFree bits of the
 * pending frees that are no markers and returns them. gh_prof_sweep_restore: a sweep
 * that found nsampled 0 took `taken` with its exchange and finds nsampled nonzero
 * now: puts back the markers among them, returns the rest. Both pinned on cpu, which
 * holds no lock of the profile lock's rank or above (they may take it where npover
 * > 0). */
/* The leak scan's view of word w of small span s (nsampled > 0): its pending remote
 * frees that are no markers, i.e. the slots really freed. Where some samples have no
 * lane (npover > 0) their records decide, under the profile lock. Unpinned, no lock
 * held. */
uint64_t gh_prof_pending_frees(const struct mspan *s, unsigned w);
uint64_t gh_prof_sweep_take(struct mspan *s, unsigned w, unsigned cpu);
uint64_t gh_prof_sweep_restore(struct mspan *s, unsigned w, uint64_t taken, unsigned cpu);

/* Allocation site of a sampled object starting at addr: copies up to max frames
 * (return addresses, innermost first) into pcs and its size into *size; returns the
 * frame count, 0 when addr is not a sampled object's start. For the leak scan. Any
 * context that may take a lock (it takes the profile lock briefly). */
unsigned gh_profile_site_of(uintptr_t addr, uintptr_t *pcs, unsigned max, size_t *size);

/* Profile statistics and self-check (goheap_validate): live records == sum over
 * buckets of (allocs - frees) == sum over spans of nsampled. */
struct gh_prof_counts {
    uint64_t records, bucket_inuse, buckets, dropped;
};
void gh_prof_counts(struct gh_prof_counts *out);

/* Fork (fork.c): take (1) or release (0) the profile lock, raw, in its class's place. */
void gh_prof_fork(int take);
/* Whether m is the profile lock (fork.c's nested acquisitions). */
struct gh_mutex;
int gh_prof_is_lock(const struct gh_mutex *m);

/* A SIGUSR2-style request (goheap_profile_request) waiting for the next slow path or
 * background step: runs the platform's dump hook there. */
void gh_prof_run_request(void);

#pragma GCC visibility pop

#endif /* GOHEAP_PROFILE_H */
