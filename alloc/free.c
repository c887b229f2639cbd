/* alloc/free.c: everything of free() beyond the fast path in api.c: remote frees
 * (one atomic OR), tiny objects, large objects, and the always-on checks. */
#include "core.h"

static struct mcache *cache_for(unsigned cpu) {
    struct mcache *c = gh_mcache_get(cpu);
    return c ? c : &gh_emptycache; /* out of memory for a cache: count it there */
}


/* A remote free of slot (w, m) of s, given the owner's view of it before the OR
 * (gh_span_slot_view; extern so that the double-free test can hand it a view taken
 * before a sweep). The count comes first: after the OR the span may be swept, freed
 * and recycled. The OR's old value catches a second remote free not yet swept; a
 * sweep since the view may have applied an earlier free of the slot, so the freer
 * re-checks then (gh_span_remote_recheck). The seq_cst pair (the OR, then the cstate
 * load) is half of the handshake in mcentral.h; the other half is file_span's store +
 * re-read. */
void gh_free_remote(struct mcache *c, unsigned cpu, struct mspan *s, unsigned w, uint64_t m, uintptr_t a,
                    unsigned spc, int view, uint32_t seq) {
    if (view == GH_SLOT_FREE) /* freed before: locally, or remotely and swept */
        gh_bad_free("double free", a, s);
    gh_cache_count(c, &c->nfree[spc], 1, 1);
    _Atomic uint64_t *rw = &s->remoteFree[w]; /* (line 0 and the bitmaps are all we read after the OR) */
    if (gh_remote_set_bit(rw, gh_ctz64(m)))
        gh_bad_free("double free", a, s);
    if (gh_unlikely(gh_span_swept_since(s, seq)))
        gh_span_remote_recheck(s, rw, w, m, a);
    /* s may be recycled by now: a spurious wake is harmless, gh_central_wake
     * re-checks under the class lock. */
    if (atomic_load_explicit(&s->cstate, memory_order_seq_cst) == GH_CS_FULL)
        gh_central_wake(c, cpu, s);
}

void gh_free_small(struct mcache *c, unsigned cpu, struct mspan *s, unsigned idx, uintptr_t a) {
    unsigned w = idx >> 6;
    uint64_t m = 1ull << (idx & 63);
    /* Read before the remote OR: once the bit is in, the owner may sweep it, free the
     * now empty span and recycle the struct for another class. (Counting with spc
     * read after the OR once charged a free to the wrong class under load.) */
    unsigned spc = s->spc;
    uint32_t raw = atomic_load_explicit(&s->owner, memory_order_relaxed);
    if ((raw & ~GH_OWNER_SLOW) == cpu) {
        /* The fast path's owner's free (core.h). Its callers took a sampled object's
         * record and marker off first (gh_prof_free), so a slot found pending here is
         * a double free: gh_free_owned_bad panics, and never needs the pin. */
        gh_free_owned_slot(s, idx, (goheap_pin_t){0}, 0);
        return;
    }
    /* Remote. First the owner's bitmap: in a correct program the slot stays allocated
     * there until this free's OR is swept. */
    uint32_t seq;
    int view = gh_span_slot_view(s, w, idx & 63, &seq);
    gh_free_remote(c, cpu, s, w, m, a, spc, view, seq);
}

GH_NOINLINE void gh_free_owned_bad(uint64_t z, struct mspan *s, goheap_pin_t pin, int dbl) {
    uintptr_t a = gh_span_index_addr(s, z);
    /* A sampled object's marker (profile.c): its record and marker go, then the
     * owner's free proper (a second free of it is a double free: no record then). */
    if (GOHEAP_PROFILE && dbl == 2 && atomic_load_explicit(&s->nsampled, memory_order_relaxed) &&
        gh_prof_free_pinned(s, a, atomic_load_explicit(&s->owner, memory_order_relaxed) & ~GH_OWNER_SLOW)) {
        if (gh_free_owned_slot(s, z, pin, 0))
            goheap_sys_unpin(pin);
        gh_after_slow();
        return;
    }
    gh_bad_free(dbl ? "double free" : "invalid free of an interior pointer", a, s);
}

void gh_tiny_block_put(unsigned cpu, uintptr_t block, struct mspan *s) {
    gh_free_small(cache_for(cpu), cpu, s, (unsigned)((block - s->base) >> GH_TINY_SHIFT), block);
}

/* A tiny object: a byte of a live block where no tiny object starts (inside one,
 * padding, past the last one placed) is an interior pointer, refused before the count
 * is touched (it would free the block under its live objects). One bit per start byte
 * in tinyfreed catches a second free while its
 * block lives (the block's bytes are never handed out twice in one life), before the
 * count is touched; after the block died (count 0) a free of its first byte follows
 * the slot rules, and of another byte whose tinyfreed bit is set while the block's
 * slot is free is a double free too. Not caught: a free after the block became a tiny
 * block again (tinyfreed reset) or an ordinary 16 B object: reuse (docs/alloc.md). */
static void free_tiny(struct mcache *c, unsigned cpu, struct mspan *s, uintptr_t a) {
    unsigned b = (unsigned)((a - s->base) >> GH_TINY_SHIFT);
    uint16_t bit = (uint16_t)(1u << ((a - s->base) & 15));
    if (atomic_load_explicit(&s->tinycount[b], memory_order_acquire) == 0) {
        /* An ordinary 16 B noscan object (or a block whose tiny objects all died). */
        if ((a - s->base) & 15) {
            /* The block died: its slot free, or its free still pending remotely (the
             * last object's freer ran on another CPU and no sweep took it yet; a tiny
             * span has no markers, so a pending bit is a free). */
            uint32_t seq;
            if ((atomic_load_explicit(&s->tinyfreed[b], memory_order_relaxed) & bit) &&
                (gh_span_slot_view(s, b >> 6, b & 63, &seq) == GH_SLOT_FREE ||
                 gh_bit64(gh_span_rpend(s, b >> 6, memory_order_relaxed), b & 63)))
                gh_bad_free("double free of a tiny object", a, s);
            gh_bad_free("invalid free of an interior pointer", a, s);
        }
        gh_free_small(c, cpu, s, b, a);
        return;
    }
    /* (the owner wrote the start before the object was handed out; a correct freer got
     * the pointer after that) */
    if (!((atomic_load_explicit(&s->tinyends[b], memory_order_relaxed) >> GH_TINY_STARTS) & bit))
        gh_bad_free("invalid free of an interior pointer", a, s);
    if (atomic_fetch_or_explicit(&s->tinyfreed[b], bit, memory_order_relaxed) & bit)
        gh_bad_free("double free of a tiny object", a, s);
    uint8_t left = atomic_fetch_sub_explicit(&s->tinycount[b], 1, memory_order_acq_rel) - 1;
    if (left == 0xff)
        gh_bad_free("double free of a tiny object", a, s);
    if (left == 0)
        gh_free_small(c, cpu, s, b, s->base + ((uintptr_t)b << GH_TINY_SHIFT));
}

/* The slow routes' put (free_large): one out-of-line copy of the inline put, which
 * free_large_spill keeps inline (the 1 MiB pair's path). */
static GH_NOINLINE int hcache_put_slow(unsigned cpu, struct mcache *c, struct mspan *s) {
    return gh_heap_hcache_put(cpu, c, s, 1);
}

/* A large free: into this CPU's large span cache (the exchange to LCACHED, pinned),
 * or, when it does not fit there, to the heap, whose put makes the exchange in the
 * hold that lists or frees the span (a fork child never finds it LCACHED in no list:
 * gh_heap_hcache_put). */
static inline __attribute__((always_inline)) void free_large(unsigned cpu, struct mspan *s, uintptr_t a) {
    if (a != s->obj)
        gh_bad_free("invalid free of an interior pointer", a, s);
    struct mcache *c = cache_for(cpu);
    uintptr_t n = s->npages, pages;
    if (!gh_heap_lcache_fits(c, n, &pages)) {
        if (!hcache_put_slow(cpu, c, s)) /* the heap's cache, or the page heap */
            gh_bad_free("double free", a, s);
        return;
    }
    if (!gh_large_freed(c, s, n, 0)) /* (a cache with room is a CPU's own) */
        gh_bad_free("double free", a, s);
    gh_heap_lcache_put(c, s, n, pages);
}

/* The span of a pointer being freed (who == GH_WHO_FREE), measured or resized, or a
 * panic naming what is wrong and which call found it. */
static const char *const bad_nonheap[] = {"invalid free of a non-heap pointer",
                                          "usable_size of a non-heap pointer",
                                          "realloc of a non-heap pointer"};
static const char *const bad_freed[] = {"double free", "usable_size of a freed object",
                                        "realloc of a freed object"};
static const char *const bad_dead[] = {"free into a dead span", "usable_size in a dead span",
                                       "realloc of a freed object (dead span)"};
static const char *const bad_interior[] = {"invalid free of an interior pointer",
                                           "usable_size of an interior pointer",
                                           "realloc of an interior pointer"};

static struct mspan *checked_span(uintptr_t a, enum gh_who who) {
    struct mspan *s = gh_span_of(a);
    if (!s || !gh_inited)
        gh_bad_free(bad_nonheap[who], a, 0);
    uint8_t st = atomic_load_explicit(&s->state, memory_order_acquire);
    if (st == GH_SPAN_EFENCE_FREED || (st == GH_SPAN_LCACHED && a == s->obj))
        gh_bad_free(bad_freed[who], a, s);
    if (st != GH_SPAN_INUSE && !gh_region_heap_page(a)) /* region mode: metadata, chunk pages past a region */
        gh_bad_free(bad_nonheap[who], a, 0);
    if (st != GH_SPAN_INUSE)
        gh_panicf("goheap: %s: 0x%lx (no live object holds this page: a double free of a large object, "
                  "or a pointer into freed memory)",
                  bad_dead[who], (unsigned long)a);
    return s;
}

/* gh_free_slow's routes, each tail-called, so that gh_free_slow itself makes no call
 * that returns and saves no register (xmalloc, 2 threads, every free remote: a
 * dispatcher that called them cost ~14 instructions more per free). */

/* A live, plain (not efence, not instrumented) large span: free_large without
 * gh_free_pc's general checks, which would find nothing wrong (free_large still checks
 * the pointer and the state). */
static GH_NOINLINE void free_large_route(struct mspan *s, uintptr_t a) {
    /* The record first: then the address may be reused. Inline (core.h), no call
     * before the free: the route saves the registers of the compiled-out build
     * (callgrind, 4 MiB pair: 9 instructions less per unsampled free than with
     * gh_prof_free's call here). */
    if (GOHEAP_PROFILE && gh_unlikely(atomic_load_explicit(&s->nsampled, memory_order_relaxed)))
        gh_prof_free_large(s, a);
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    free_large(cpu, s, a);
    goheap_sys_unpin(pin);
    gh_after_slow();
}

/* A plain small object (slot idx of s) that gh_free_other did not take (a cover's
 * span, no cache yet). */
static GH_NOINLINE void free_small_route(struct mspan *s, uintptr_t a, unsigned idx) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_free_small(cache_for(cpu), cpu, s, idx, a);
    goheap_sys_unpin(pin);
    gh_after_slow();
}

/* A small object of a span holding a sampled object (nsampled > 0 when looked at), on
 * the slow path for another reason (a cover's span, no cache yet): its record and
 * marker first, if the span's lanes do not rule a out, then the plain route (frees
 * the lanes rule out skip the profile lock and the record table). */
static GH_NOINLINE void free_marked_route(struct mspan *s, uintptr_t a, unsigned idx) {
    if (gh_span_key_may_be_sampled(s, idx + 1))
        gh_prof_free(s, a);
    free_small_route(s, a, idx);
}

/* gh_free_other's rare endings, tail-called so that its common path saves no register
 * and keeps no frame: the lost-wake-up handshake's wake of a FULL span, the re-check of
 * a view taken before a sweep, and the "double free" of a bit already pending. Each runs pinned and unpins. */
static GH_NOINLINE void other_wake(struct mspan *s, goheap_pin_t pin, struct mcache *c) {
    gh_central_wake(c, c->cpu, s);
    goheap_sys_unpin(pin);
    gh_after_slow();
}
/* (the slot as its index: six arguments, all in registers, so that the call is a
 * jump; with w and m apart the seventh went on the stack, and gh_free_other kept a
 * frame on its common path: 4 instructions a remote free. The CPU as its cache's
 * c->cpu: the CPU index then dies at the cache's look-up, and gh_free_other's common
 * path needs no callee-saved register in the kernel: a push and a pop.) */
static GH_NOINLINE void other_recheck(struct mspan *s, _Atomic uint64_t *rw, unsigned idx, uintptr_t a,
                                      goheap_pin_t pin, struct mcache *c) {
    gh_span_remote_recheck(s, rw, idx >> 6, 1ull << (idx & 63), a);
    if (atomic_load_explicit(&s->cstate, memory_order_seq_cst) == GH_CS_FULL)
        gh_central_wake(c, c->cpu, s);
    goheap_sys_unpin(pin);
    gh_after_slow();
}
/* (it returns for all the compiler knows, gh_opaque64: a call of a function known not
 * to return stays a call, and that call made gh_free_other align its stack on every
 * remote free, a push and a pop) */
static GH_NOINLINE void other_double(uintptr_t a, struct mspan *s) {
    if (gh_opaque64(1))
        gh_bad_free("double free", a, s);
}
/* The OR found the slot's bit set already: a second remote free not yet swept, or
 * a sampled object's marker (profile.c). A sampled object's record and marker go,
 * then its remote free proper, with the handshake's check of cstate: the OR above
 * changed nothing the publisher could see. Its count (made before the OR) is taken
 * back while the profile lock is waited for, and made again after: a fork's prepare
 * holds that lock, and a child forked meanwhile found the object counted freed and
 * still live for good (a forking stress with memprofilerate=1: 15 of 214 children). */
static GH_NOINLINE void other_sampled(uintptr_t a, struct mspan *s, unsigned idx, goheap_pin_t pin,
                                     struct mcache *c) {
    unsigned spc = s->spc; /* (a live sampled object's span is not recycled under it) */
    if (GOHEAP_PROFILE && atomic_load_explicit(&s->nsampled, memory_order_relaxed) &&
        (GH_COUNT_ADD(c->nfree[spc], (uint64_t)-1), gh_prof_free_pinned(s, a, c->cpu))) {
        GH_COUNT_ADD(c->nfree[spc], 1);
        if (gh_remote_set_bit(s->remoteFree, idx))
            gh_bad_free("double free", a, s);
        if (atomic_load_explicit(&s->cstate, memory_order_seq_cst) == GH_CS_FULL)
            gh_central_wake(c, c->cpu, s);
        goheap_sys_unpin(pin);
        gh_after_slow();
        return;
    }
    other_double(a, s); /* (panics: the count taken back or not) */
}
/* free_large_pinned's rare ends, tail-called so that it saves no register: the slow
 * path's diagnosis (no cache of its own, efence, an interior pointer, a span not in
 * use, slowmode), or the heap's large span cache for a span this CPU's does not take
 * (above its bound, the cache full, or scavenge=eager set its limit to 0): the heap's
 * put makes the exchange to LCACHED in its hold (gh_heap_hcache_put), the profile
 * record having gone first (its lock ranks below the heap's; a second free that the
 * exchange then refuses is the slow path's to diagnose). */
static GH_NOINLINE void free_large_unpin_slow(struct mspan *s, uintptr_t a, goheap_pin_t pin) {
    goheap_sys_unpin(pin);
    gh_free_span_slow(s, a);
}
static GH_NOINLINE void free_large_spill(struct mspan *s, uintptr_t a, goheap_pin_t pin, struct mcache *c) {
    /* A span not in use is the slow path's before its record would go; with no record
     * the put's exchange refuses it, leaving it as it was. */
    if (GOHEAP_PROFILE && gh_unlikely(atomic_load_explicit(&s->nsampled, memory_order_relaxed))) {
        int gate;
        if (atomic_load_explicit(&s->state, memory_order_relaxed) != GH_SPAN_INUSE ||
            (gate = gh_prof_gate_try()) < 0) /* (a fork under way: the unpinned route waits) */
            return free_large_unpin_slow(s, a, pin);
        gh_prof_free_large_in(s, a);
        gh_prof_gate_exit(gate);
    }
    if (gh_unlikely(!gh_heap_hcache_put(c->cpu, c, s, 0))) /* the heap's cache, or the page heap (c: this CPU's own) */
        return free_large_unpin_slow(s, a, pin);
    goheap_sys_unpin(pin);
    gh_after_slow();
}

/* free_large_pinned's sampled object, out of line (its gate would cost the unsampled
 * free a frame: callgrind, LD_PRELOAD, 64 KiB pair at memprofilerate=0, 112 -> 131
 * with it inline): the fork gate first (core.h), before the exchange, so that a fork
 * under way sends the free its unpinned way with nothing changed; the record goes
 * once the span is LCACHED, as the exchange makes it this free's alone. */
static GH_NOINLINE void free_large_sampled(struct mspan *s, uintptr_t a, goheap_pin_t pin, struct mcache *c,
                                           uintptr_t n, uintptr_t pages) {
    int gate = gh_prof_gate_try();
    if (gate < 0)
        return free_large_unpin_slow(s, a, pin);
    if (gh_unlikely(!gh_large_freed(c, s, n, 0))) {
        gh_prof_gate_exit(gate);
        return free_large_unpin_slow(s, a, pin);
    }
    gh_prof_free_large_in(s, a);
    gh_prof_gate_exit(gate);
    gh_heap_lcache_put(c, s, n, pages);
    goheap_sys_unpin(pin);
    gh_after_slow();
}

/* gh_free_other's route for a large span (class 0/1), pinned as gh_free_other is
 * (the fast path's pin, or its own): a live,
 * plain object is freed with the pin it holds, its profile record dropped once the
 * span is LCACHED (lock-free, so pinned is fine; before the span is listed, so before
 * its address may be reused), with free_large's checks of the pointer and the state.
 * Without it a large free unpinned, went through gh_free_span_slow's tests and
 * free_large_route pinned again (callgrind, LD_PRELOAD, 64 / 256 KiB pair at
 * memprofilerate=0, with gh_malloc_large: 199 -> 150; 118 with the fast paths' pin
 * and the exchange as the state test, bench/RESULTS.md, issue 11). */
static GH_NOINLINE void free_large_pinned(struct mspan *s, uintptr_t a, goheap_pin_t pin) {
#ifdef GOHEAP_SYS_HAVE_PIN_CPU
    unsigned cpu = goheap_sys_pin_cpu(pin); /* the fast path's pin (platform.h) */
    struct mcache *c = cpu != GOHEAP_PIN_FAILED ? gh_fast.caches[cpu] : 0;
#else
    struct mcache *c = gh_pin_cache_fast(&pin); /* (the fast path unpinned) */
#endif
    /* The state's test is the exchange itself: a span not in use (a double free, a
     * span given back) and an interior pointer are the slow path's to diagnose. Once
     * LCACHED the span is this free's alone (in no list yet): its record goes then.
     * Without a cache of its own (gh_emptycache, shared by every such CPU) the slow
     * path pins properly and counts there. */
    if (gh_unlikely((GH_PIN_CACHE_MAY_FAIL && !c) || c == &gh_emptycache || s->efence || gh_knobs.slowmode ||
                    a != s->obj))
        return free_large_unpin_slow(s, a, pin);
    uintptr_t n = s->npages, pages;
    if (gh_unlikely(!gh_heap_lcache_fits(c, n, &pages)))
        return free_large_spill(s, a, pin, c);
    if (GOHEAP_PROFILE && gh_unlikely(atomic_load_explicit(&s->nsampled, memory_order_relaxed)))
        return free_large_sampled(s, a, pin, c, n, pages);
    if (gh_unlikely(!gh_large_freed(c, s, n, 0)))
        return free_large_unpin_slow(s, a, pin);
    gh_heap_lcache_put(c, s, n, pages);
    goheap_sys_unpin(pin);
    gh_after_slow();
}

GH_NOINLINE void gh_free_other(uintptr_t a, struct mspan *s, goheap_pin_t pin) {
    /* gh_free_small's remote half (gh_free_remote) for a plain small object, with
     * free_small_route's checks (gh_free_slow, below) and gh_free_small's owner test;
     * a large object goes to free_large_pinned; a sampled object's OR finds its
     * marker (other_sampled); anything else (a failed pin, tiny or instrumented
     * spans, a SLOW span of this CPU, no cache yet, bad pointers) takes the slow path,
     * which diagnoses it. (callgrind, 2 threads, every
     * free remote: ~150 instructions a remote free through gh_free_slow, with a second
     * span look-up, the window and large-object tests, two calls and their frames.) */
    unsigned spc = s->spc; /* (read once, before the OR: then the span may be swept and recycled) */
    if (spc < 2) /* large: before anything else, so that this saves no register */
        return free_large_pinned(s, a, pin);
#ifdef GOHEAP_SYS_HAVE_PIN_CPU
    unsigned cpu = goheap_sys_pin_cpu(pin); /* the fast path's pin (platform.h) */
    int failed = cpu == GOHEAP_PIN_FAILED;
#elif defined(GOHEAP_SYS_HAVE_LOCAL)
    /* The fast path unpinned. The cache from the slot's local pointer and the CPU
     * from the cache when needed: no table look-up and no failure test (a thread
     * without a cache gets gh_emptycache, whose cpu is GOHEAP_PIN_FAILED, owner of
     * nothing, and which fails the cache test below). Hosted: 4 instructions less a
     * remote free. */
    struct mcache *lc = gh_pin_cache_fast(&pin);
    int failed = 0;
#else
    unsigned cpu = goheap_sys_pin_fast(&pin); /* (the fast path unpinned) */
    int failed = cpu == GOHEAP_PIN_FAILED;
#endif
    /* No owner test: the fast path found owner != cpu (the raw word, GH_OWNER_SLOW
     * included), and only this CPU makes a span its own (its refill), which it is
     * not doing while it frees here; so a span of this CPU arrives only with
     * GH_OWNER_SLOW, and those (tiny spans, slowmode) have rnelems 0 (mspan.h,
     * goheap_validate), which the index test below sends on. (Re-read here it cost
     * every remote free 4 instructions.) Nor spc < 2: routed above, and a struct
     * recycled as a large span since then fails the index test; nor spans not in use
     * (no state test): rnelems is 0 for them too. */
    if (gh_unlikely(failed))
        goto slow;
    /* The owner's index test (gh_span_index: one compare for the range and the
     * exactness), against line 0's copy of nelems: the remote path reads line 0 and
     * the bitmaps only. (It was gh_span_objindex's, with its sign and exactness tests
     * and a compare with nelems: 7 instructions more a remote free.) */
    uint64_t idx = gh_span_index(s, a);
    if (gh_unlikely(idx >= atomic_load_explicit(&s->rnelems, memory_order_relaxed)))
        goto slow;
#if !defined(GOHEAP_SYS_HAVE_PIN_CPU) && defined(GOHEAP_SYS_HAVE_LOCAL)
    struct mcache *c = lc;
#else
    struct mcache *c = gh_fast.caches[cpu];
#endif
    if (gh_unlikely(c == &gh_emptycache))
        goto slow;
    /* (no 1 << b: the view and the OR's old value are read with bt, and a mask kept
     * across the OR's loop cost gh_free_other two pushes and pops) */
    unsigned w = (unsigned)idx >> 6, b = (unsigned)idx & 63;
    uint32_t seq;
    int view = gh_span_slot_view(s, w, b, &seq);
    if (gh_unlikely(view == GH_SLOT_FREE)) /* freed before: locally, or remotely and swept */
        return other_double(a, s);
    GH_COUNT_ADD(c->nfree[spc], 1);
    _Atomic uint64_t *rw = &s->remoteFree[w]; /* (before the OR: then the span may be recycled) */
    /* (the bit by its index in the whole map: x86-64's lock bts addresses the word
     * itself, and no bit-in-word is kept live for it) */
    if (gh_unlikely(gh_remote_set_bit(s->remoteFree, (unsigned)idx)))
        return other_sampled(a, s, (unsigned)idx, pin, c);
    if (gh_unlikely(gh_span_swept_since(s, seq)))
        return other_recheck(s, rw, (unsigned)idx, a, pin, c);
    /* The handshake (mcentral.h): the OR above, then this load, both seq_cst. */
    if (gh_unlikely(atomic_load_explicit(&s->cstate, memory_order_seq_cst) == GH_CS_FULL))
        return other_wake(s, pin, c);
    goheap_sys_unpin(pin);
    /* (no gh_after_slow here: this ending queues no work, and work other CPUs queued
     * runs at the next refill or other slow path of any CPU; the poll cost every
     * remote free 3 instructions, 1.6% of the kernel's cross-CPU churn at 2 CPUs) */
    return;
slow:
    goheap_sys_unpin(pin);
    gh_free_span_slow(s, a); /* a tail call: its return address is goheap_free's caller */
}

GH_NOINLINE void gh_free_slow(uintptr_t a) {
    if (a == 0) /* free(NULL): no span look-up */
        return;
    struct mspan *s = gh_span_entry(a);
    /* Outside the window (region mode's covers, arena.h): the fast path goheap_free
     * could not take. */
    uintptr_t pg = (a - gh_fast.base) >> GOHEAP_PAGE_SHIFT;
    if (s && pg >= atomic_load_explicit(&gh_fast.npages, memory_order_relaxed)) {
        gh_free_cached(s, a);
        return;
    }
    gh_free_span_slow(s, a);
}

GH_NOINLINE void gh_free_span_slow(struct mspan *s, uintptr_t a) {
    if (s && s->spc < 2 && !s->efence && !gh_knobs.slowmode &&
        atomic_load_explicit(&s->state, memory_order_acquire) == GH_SPAN_INUSE)
        return free_large_route(s, a);
    /* A small object: the checks gh_free_pc would make for a small span, in its order,
     * without its look-up by gh_span_of (small spans write every page of the map), the
     * efence and trace tests (instrumented mode sends every free the long way) and the
     * class re-reads; anything unusual goes on to gh_free_pc for its diagnosis, tiny
     * objects too. (callgrind, 2 threads: about 196 -> 145 instructions per remote
     * free; xmalloc 234 -> 193 per pair.) */
    if (s && s->spc >= 2 && !gh_span_always_slow(s) && a < s->limit &&
        atomic_load_explicit(&s->state, memory_order_acquire) == GH_SPAN_INUSE) {
        int32_t idx = gh_span_objindex(s, a - s->base);
        if (gh_likely(idx >= 0)) {
            if (GOHEAP_PROFILE && gh_unlikely(atomic_load_explicit(&s->nsampled, memory_order_relaxed)))
                return free_marked_route(s, a, (unsigned)idx);
            return free_small_route(s, a, (unsigned)idx);
        }
    }
    gh_free_pc(a, (uintptr_t)__builtin_return_address(0));
}

void gh_free_pc(uintptr_t a, uintptr_t pc) {
    if (a == 0)
        return;
    struct mspan *s = checked_span(a, GH_WHO_FREE);
    /* A sampled object's record goes first (the span says whether it may have one):
     * once the object is free, another CPU may allocate and sample its address. */
    if (GOHEAP_PROFILE && gh_unlikely(atomic_load_explicit(&s->nsampled, memory_order_relaxed)))
        gh_prof_free(s, a);
    if (gh_unlikely(gh_knobs.allocfreetrace))
        gh_trace("free", a, s->spc < 2 ? (s->efence ? s->reqsize : s->npages << GOHEAP_PAGE_SHIFT)
                                        : s->elemsize, pc);
    if (s->spc < 2 && s->efence) {
        gh_efence_free(s, a, pc);
        gh_after_slow();
        return;
    }
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    if (s->spc < 2) {
        free_large(cpu, s, a);
    } else {
        if (a >= s->limit)
            gh_bad_free("invalid free of an interior pointer", a, s);
        struct mcache *c = cache_for(cpu);
        if (s->spc == GH_TINY_SPC) {
            free_tiny(c, cpu, s, a);
        } else {
            int32_t idx = gh_span_objindex(s, a - s->base);
            if (idx < 0)
                gh_bad_free("invalid free of an interior pointer", a, s);
            gh_free_small(c, cpu, s, (unsigned)idx, a);
        }
    }
    goheap_sys_unpin(pin);
    gh_after_slow();
}

size_t gh_usable_size(uintptr_t a, enum gh_who who) {
    struct mspan *s;
    return gh_usable_size_span(a, who, &s);
}

size_t gh_usable_size_span(uintptr_t a, enum gh_who who, struct mspan **sp) {
    struct mspan *s = checked_span(a, who);
    *sp = s;
    if (s->spc < 2) {
        if (who != GH_WHO_USABLE && a != s->obj)
            gh_bad_free(bad_interior[who], a, s);
        if (s->efence) {
            /* A guarded object is its requested bytes, at obj: measured from a to its
             * end, as any object is from an inner byte; the rest of the span (canaries,
             * slack, the guard page) is no object's, as a small span's tail is not. */
            if (a - s->obj >= s->reqsize && a != s->obj)
                gh_bad_free(bad_interior[who], a, s);
            return (size_t)(s->obj + s->reqsize - a);
        }
        return (size_t)(s->limit - a);
    }
    if (a >= s->limit)
        gh_bad_free(bad_interior[who], a, s);
    uintptr_t off = a - s->base;
    /* realloc takes only an object start, as free does (usable_size measures from
     * any byte): checked here, before realloc allocates and copies. */
    if (s->spc == GH_TINY_SPC) {
        unsigned b = (unsigned)(off >> GH_TINY_SHIFT);
        if (atomic_load_explicit(&s->tinycount[b], memory_order_relaxed) == 0) {
            if (who != GH_WHO_USABLE && (off & 15))
                gh_bad_free(bad_interior[who], a, s);
            return 16 - (off & 15); /* an ordinary 16 B object */
        }
        uint32_t m = atomic_load_explicit(&s->tinyends[b], memory_order_relaxed);
        if (who != GH_WHO_USABLE && !((m >> GH_TINY_STARTS >> (off & 15)) & 1))
            gh_bad_free(bad_interior[who], a, s);
        /* A tiny object: up to the first object end at or after it. */
        uint16_t e = (uint16_t)((uint16_t)m >> (off & 15));
        return e ? (size_t)gh_ctz64(e) + 1 : 16 - (off & 15);
    }
    if (who != GH_WHO_USABLE && off % s->elemsize)
        gh_bad_free(bad_interior[who], a, s);
    return s->elemsize - (off % s->elemsize);
}
