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

/* Bytes to the next sample, exponentially distributed with mean `rate` (0 for rate
 * <= 1): -ln(u) * rate for u uniform in (0, 1], in fixed point. *rng: xorshift state. */
uint64_t gh_prof_interval(uint64_t rate, uint64_t *rng);
/* log2(x) in Q24 fixed point for 1 <= x <= 2^32 (table and interpolation; low by at
 * most 4.4e-5). */
uint64_t gh_prof_log2_q24(uint64_t x);

/* malloc's fast path (or gh_malloc_slow) found its cache's counter spent
 * (c->next_sample < 0): allocate `size` bytes and sample them. pc: malloc's caller.
 * Reached by a tail call from goheap_malloc, so that the frame chain from here still
 * leads to the caller's frames (hosted builds give the core no frame pointers). */
void *gh_prof_malloc(size_t size, uintptr_t pc);
/* After an allocation of `size` bytes at p outside the pinned paths below (efence):
 * count it against this CPU's interval and sample it when the interval runs out. pc:
 * the caller of the public entry point. Unpinned, no lock held. */
void gh_prof_account(void *p, size_t size, uintptr_t pc);
/* The same in two halves for the allocation paths (alloc.c, GH_ALLOC_COUNT), so that
 * the count needs no pin of its own: gh_prof_count (core.h; pinned, c this CPU's
 * cache) subtracts and, when the interval ran out, draws the next one (gh_prof_rearm)
 * and returns 1; then, unpinned, gh_prof_sample records p with its stack. */
void gh_prof_rearm(struct mcache *c);
void gh_prof_sample(void *p, size_t size, uintptr_t pc);
/* free (any CPU, before the object is given back; unpinned, no lock held) of a in a
 * span whose nsampled is nonzero: drops a's record, if it has one, and counts it as
 * freed in its bucket. An object the span's lanes rule out returns at once, without
 * the lock. */
void gh_prof_free(struct mspan *s, uintptr_t a);
/* realloc moved a sampled object from `from` to `to` (allocated for `size` bytes), or
 * resized it in place (from == to): its record moves with it, in the same bucket, with
 * the new usable size. Returns 0 when `from` had no record. */
int gh_prof_move(uintptr_t from, uintptr_t to, size_t size);
/* goheap_validate, quiescent heap: s's lanes and npover agree with nsampled (large
 * spans: none). 1 when they do. */
int gh_prof_lanes_check(const struct mspan *s);
/* Whether a has a record (s: its span). */
int gh_prof_is_sampled(struct mspan *s, uintptr_t a);
/* A span was just made some CPU's own (make_owned): keep frees of its sampled objects
 * off the free fast path (GH_OWNER_SLOW), against a concurrent sample (profile.c). */
void gh_prof_owned(struct mspan *s);
/* A free on s's owning CPU (pinned) found GH_OWNER_SLOW set: if no sampled object is
 * left in s (and nothing else wants its frees slow: tiny, instrumented mode), the
 * flag goes, so the span's frees take the fast path again (profile.c). */
void gh_prof_unslow(struct mspan *s, unsigned cpu);

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

/* A SIGUSR2-style request (goheap_profile_request) waiting for the next slow path or
 * background step: runs the platform's dump hook there. */
void gh_prof_run_request(void);

#pragma GCC visibility pop

#endif /* GOHEAP_PROFILE_H */
