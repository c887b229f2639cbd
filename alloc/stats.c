/* alloc/stats.c: MemStats (per-CPU counters summed on read), runtime/metrics names,
 * and the slow validator that walks every span and recounts. */
#include "core.h"
#include "leak.h"

struct sums {
    uint64_t nmalloc[GH_NUM_SPC], nfree[GH_NUM_SPC];
    uint64_t tiny_allocs, large_alloc, large_alloc_bytes, large_free, large_free_bytes;
};

/* spans: also the counts still in c's spans (mspan.h, statistics), read under c's
 * lock (the parked arrays change under it). Without: the validator, which counts them
 * in its walk of every span. */
static void add_cache(struct sums *t, struct mcache *c, unsigned self, int spans) {
    if (spans)
        gh_lock(&c->lock, self);
    for (unsigned i = 0; i < GH_NUM_SPC; i++) {
        t->nmalloc[i] += __atomic_load_n(&c->nmalloc[i], __ATOMIC_RELAXED);
        t->nfree[i] += __atomic_load_n(&c->nfree[i], __ATOMIC_RELAXED) + c->nfree_own[i];
        if (!spans)
            continue;
        /* A current span's mallocs are counted when its tenure ends, its owner's frees
         * when it leaves the cache: add what they hold now. Exact whenever the owner
         * is not allocating or freeing at the same moment (like every sum of per-CPU
         * counters). */
        const struct mspan *s = __atomic_load_n(&c->alloc[i], __ATOMIC_RELAXED);
        if (__atomic_load_n(&s->curword, __ATOMIC_RELAXED) != GH_NO_WORD) {
            t->nmalloc[i] += gh_span_tenure_mallocs(s);
            t->nfree[i] += gh_span_uncounted_frees(s);
        }
        for (unsigned k = 0; k < c->parked[i].n; k++)
            t->nfree[i] += gh_span_uncounted_frees(c->parked[i].s[k]);
    }
    if (spans)
        gh_unlock(&c->lock, self);
    t->tiny_allocs += __atomic_load_n(&c->tiny_allocs, __ATOMIC_RELAXED);
    t->large_alloc += __atomic_load_n(&c->large_alloc, __ATOMIC_RELAXED);
    t->large_alloc_bytes += __atomic_load_n(&c->large_alloc_bytes, __ATOMIC_RELAXED);
    t->large_free += __atomic_load_n(&c->large_free, __ATOMIC_RELAXED);
    t->large_free_bytes += __atomic_load_n(&c->large_free_bytes, __ATOMIC_RELAXED);
}

static void sum_caches(struct sums *t, int spans) {
    gh_memclr(t, sizeof *t);
    goheap_pin_t pin;
    unsigned self = goheap_sys_pin(&pin);
    add_cache(t, &gh_emptycache, self, 0); /* (no spans: it never owns one) */
    for (unsigned i = 0; gh_fast.caches && i < gh_ncpu; i++) {
        struct mcache *c = __atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE);
        if (c != &gh_emptycache)
            add_cache(t, c, self, spans);
    }
    goheap_sys_unpin(pin);
}

static uint64_t fix_sum(const struct gh_fixalloc *f, int sys) {
    return __atomic_load_n(sys ? &f->sys : &f->inuse, __ATOMIC_RELAXED);
}

void goheap_read_memstats(struct goheap_memstats *m) {
    struct sums t;
    gh_memclr(m, sizeof *m);
    sum_caches(&t, 1);
    uint64_t bytes_alloc = t.large_alloc_bytes, bytes_free = t.large_free_bytes;
    uint64_t nm = t.large_alloc + t.tiny_allocs, nf = t.large_free + t.tiny_allocs;
    for (unsigned cl = 0; cl < GOHEAP_NUM_SIZE_CLASSES; cl++) {
        uint64_t a = t.nmalloc[cl << 1] + t.nmalloc[cl << 1 | 1];
        uint64_t f = t.nfree[cl << 1] + t.nfree[cl << 1 | 1];
        m->by_size[cl].size = goheap_class_to_size[cl];
        m->by_size[cl].mallocs = a;
        m->by_size[cl].frees = f;
        bytes_alloc += a * goheap_class_to_size[cl];
        bytes_free += f * goheap_class_to_size[cl];
        nm += a;
        nf += f;
    }
    m->total_alloc = bytes_alloc;
    m->heap_alloc = m->alloc = bytes_alloc - bytes_free;
    m->mallocs = nm;
    m->frees = nf;
    m->heap_objects = nm - nf;
    m->tiny_allocs = t.tiny_allocs;
    /* The per-CPU large span caches' spans count idle (mheap.h). */
    uint64_t lcached = gh_heap_lcached_bytes(), inuse = atomic_load(&gh_heap.heap_inuse);
    m->heap_inuse = inuse > lcached ? inuse - lcached : 0;
    m->heap_released = atomic_load(&gh_heap.heap_released);
    m->heap_released_lazy = atomic_load(&gh_heap.heap_released_lazy);
    m->lazy_reclaimed = atomic_load(&gh_heap.lazy_reclaimed);
    m->heap_idle = atomic_load(&gh_heap.heap_free) + (inuse - m->heap_inuse) + m->heap_released;
    m->heap_sys = m->heap_inuse + m->heap_idle;
    for (unsigned b = 0; b < GH_NBUCKETS; b++) {
        m->mspan_inuse += fix_sum(&gh_heap.spanalloc[b], 0);
        m->mspan_sys += fix_sum(&gh_heap.spanalloc[b], 1);
    }
    m->mcache_inuse = fix_sum(&gh_heap.cachealloc, 0);
    m->mcache_sys = fix_sum(&gh_heap.cachealloc, 1);
    m->other_sys = __atomic_load_n(&gh_meta.other_sys, __ATOMIC_RELAXED) + gh_heap_pages_meta();
    m->sys = m->heap_sys + m->mspan_sys + m->mcache_sys + m->other_sys;
    m->leak_scans = atomic_load(&gh_leak_stats.scans);
    m->leak_objects = atomic_load(&gh_leak_stats.objects);
    m->leak_bytes = atomic_load(&gh_leak_stats.bytes);
    m->realloc_copied = atomic_load(&gh_realloc_stats.copied);
    m->realloc_remapped = atomic_load(&gh_realloc_stats.remapped);
    for (unsigned i = 0; gh_lockstats && i < gh_ncpu; i++)
        for (unsigned k = 0; k < GOHEAP_LC_COUNT; k++) {
            const struct gh_lockstat *st = &gh_lockstats[i * GOHEAP_LC_COUNT + k];
            m->locks[k].acquires += __atomic_load_n(&st->acquires, __ATOMIC_RELAXED);
            m->locks[k].contended += __atomic_load_n(&st->contended, __ATOMIC_RELAXED);
            m->locks[k].wait_ns += __atomic_load_n(&st->wait_ns, __ATOMIC_RELAXED);
        }
}

size_t goheap_read_metrics(struct goheap_metric *out, size_t n) {
    struct goheap_memstats m;
    goheap_read_memstats(&m);
    int64_t lim = atomic_load(&gh_memlimit);
    uint64_t wait = 0;
    for (unsigned k = 0; k < GOHEAP_LC_COUNT; k++)
        wait += m.locks[k].wait_ns;
    uint64_t guarded, unguarded;
    gh_efence_counts(&guarded, &unguarded);
    const struct goheap_metric all[] = {
        {"/gc/heap/allocs:bytes", m.total_alloc},
        {"/gc/heap/allocs:objects", m.mallocs},
        {"/gc/heap/frees:bytes", m.total_alloc - m.heap_alloc},
        {"/gc/heap/frees:objects", m.frees},
        {"/gc/heap/objects:objects", m.heap_objects},
        {"/gc/heap/tiny/allocs:objects", m.tiny_allocs},
        {"/gc/gomemlimit:bytes", (uint64_t)lim},
        {"/memory/classes/heap/objects:bytes", m.heap_alloc},
        {"/memory/classes/heap/unused:bytes", m.heap_inuse - m.heap_alloc},
        {"/memory/classes/heap/free:bytes", m.heap_idle - m.heap_released},
        {"/memory/classes/heap/released:bytes", m.heap_released},
        {"/goheap/heap/released-lazy:bytes", m.heap_released_lazy},
        {"/goheap/heap/reclaimed-lazy:bytes", m.lazy_reclaimed},
        {"/goheap/realloc/copied:bytes", m.realloc_copied},
        {"/goheap/realloc/remapped:bytes", m.realloc_remapped},
        {"/goheap/realloc/remaps:calls", atomic_load(&gh_realloc_stats.remaps)},
        {"/goheap/realloc/remap-fallbacks:calls", atomic_load(&gh_realloc_stats.remap_failed)},
        {"/goheap/realloc/remap-nomem:calls", atomic_load(&gh_realloc_stats.remap_nomem)},
        {"/memory/classes/metadata/mspan/inuse:bytes", m.mspan_inuse},
        {"/memory/classes/metadata/mspan/free:bytes", m.mspan_sys - m.mspan_inuse},
        {"/memory/classes/metadata/mcache/inuse:bytes", m.mcache_inuse},
        {"/memory/classes/metadata/mcache/free:bytes", m.mcache_sys - m.mcache_inuse},
        {"/memory/classes/metadata/other:bytes", m.other_sys},
        {"/memory/classes/total:bytes", m.sys},
        {"/goheap/efence/guarded:objects", guarded},
        {"/goheap/efence/unguarded:objects", unguarded},
        /* Go's /sync/mutex/wait/total:seconds, in integer nanoseconds (lockstats=1) */
        {"/sync/mutex/wait/total:nanoseconds", wait},
#define GH_LOCK_METRICS(id, name)                                                      \
    {"/goheap/lock/" name "/acquires:events", m.locks[GOHEAP_LC_##id].acquires},        \
        {"/goheap/lock/" name "/contended:events", m.locks[GOHEAP_LC_##id].contended},  \
        {"/goheap/lock/" name "/wait:nanoseconds", m.locks[GOHEAP_LC_##id].wait_ns},
        GOHEAP_LOCK_CLASSES(GH_LOCK_METRICS)
#undef GH_LOCK_METRICS
    };
    size_t k = sizeof all / sizeof all[0];
    if (n > k)
        n = k;
    for (size_t i = 0; i < n; i++)
        out[i] = all[i];
    return n;
}

/* ---- validator ------------------------------------------------------------------------ */

static int fails;

#define VCHECK(cond, ...)                                                                       \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            if (fails++ < 8)                                                                    \
                gh_logf("goheap: validate: " __VA_ARGS__);                                      \
        }                                                                                       \
    } while (0)

static int validate(void);

/* A fork child's large span caches (once, bounded). A thread of the parent that is not
 * in the child may have been copied inside its large span cache's put (after the
 * exchange to LCACHED, before the listing) or get (after the unlisting, before
 * gh_large_reuse made the span INUSE): a span LCACHED in no list, its bytes counted in
 * use with nobody to cache or free it, and that cache's nbin and pages torn (the
 * counts the put or get made or not are the recount's, in validate). The caches named
 * gone are recounted from their lists here, and such spans, at most one per cache
 * named gone, go back to the page heap; more are left for the checks to report. Only
 * the free fast path's own cache holds spans this way (no lock: a lock-taking put or
 * get is whole in a child). The caller keeps the heap quiescent, as every check here
 * needs. */
#define FORK_SETTLE_MAX 64
static void fork_settle_large(unsigned ngone) {
    for (unsigned i = 0; i < gh_ncpu; i++) {
        struct mcache *c = __atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE);
        if (c != &gh_emptycache && gh_fork_gone_marked(i))
            gh_mcache_lcache_recount(c);
    }
    struct mspan *lost[FORK_SETTLE_MAX];
    unsigned n = 0;
    struct mspan **map;
    uintptr_t mbase, npages;
    for (unsigned mi = 0; (map = gh_heap_map_at(mi, &mbase, &npages)) != 0; mi++)
        for (uintptr_t pg = 0; pg < npages; pg++) {
            struct mspan *s = map[pg];
            if (s == &gh_deadspan || s->base != mbase + (pg << GOHEAP_PAGE_SHIFT) ||
                atomic_load(&s->state) != GH_SPAN_LCACHED || gh_mcache_lcache_lists(s))
                continue;
            if (n == FORK_SETTLE_MAX || n == ngone)
                return; /* more than the fork can have left: the checks report them */
            lost[n++] = s;
        }
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    for (unsigned k = 0; k < n; k++)
        gh_heap_free_span(cpu, lost[k]); /* (its bytes were in use: now idle, then free) */
    goheap_sys_unpin(pin);
}

/* The background step (hosted: its own thread) may be moving empty spans home at any
 * moment; the recount needs them where the lists say, so it holds the step off. */
int goheap_validate(void) {
    if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE))
        return 0;
    gh_background_hold(1);
    int r = validate();
    gh_background_hold(0);
    return r;
}

static int validate(void) {
    fails = 0;
    /* A fork child's allowance (gh_fork_recount_take): the large span caches settled
     * first, then the recounts below. */
    unsigned allow = gh_fork_recount_take();
    if (gh_unlikely(allow))
        fork_settle_large(allow);
    static uint64_t live[GH_NUM_SPC]; /* callers serialise validation */
    /* what owned spans hold that no counter does yet (mspan.h, statistics) */
    static uint64_t open_mallocs[GH_NUM_SPC], open_frees[GH_NUM_SPC];
    gh_memclr(live, sizeof live);
    gh_memclr(open_mallocs, sizeof open_mallocs);
    gh_memclr(open_frees, sizeof open_frees);
    uint64_t inuse_pages = 0, nspans = 0, large_live = 0, large_bytes = 0, span_struct_bytes = 0;
    uint64_t efence_dead = 0, lcached_pages = 0, sampled = 0;
    struct mspan **map;
    uintptr_t mbase, npages;
    /* Every span map: the window's, then each cover's (region mode, written at every
     * page whatever the class). */
    for (unsigned mi = 0; (map = gh_heap_map_at(mi, &mbase, &npages)) != 0; mi++)
    for (uintptr_t pg = 0; pg < npages; pg++) {
        struct mspan *s = map[pg];
        if (s == &gh_deadspan)
            continue;
        uintptr_t first = (s->base - mbase) >> GOHEAP_PAGE_SHIFT;
        VCHECK(pg >= first && pg < first + s->npages, "page %lu maps to span 0x%lx not covering it",
               (unsigned long)pg, (unsigned long)(uintptr_t)s);
        if (pg != first)
            continue;
        nspans++;
        sampled += atomic_load(&s->nsampled);
        VCHECK(!GOHEAP_PROFILE || gh_prof_lanes_check(s),
               "span 0x%lx (class %u): %u sampled objects, not its lanes' count plus npover %u",
               (unsigned long)(uintptr_t)s, (unsigned)(s->spc >> 1), (unsigned)atomic_load(&s->nsampled),
               (unsigned)atomic_load(&s->npover));
        /* Every page the span map's scheme writes names the span, every other page of
         * it reads gh_deadspan (mheap.h): two live spans never overlap, and a large
         * span's unwritten pages resolve to it. */
        int sparse = mi == 0 && gh_spanmap_sparse(s->spc);
        for (uintptr_t i = 1; i < s->npages && first + i < npages; i++) {
            struct mspan *want = !sparse || (first + i) % GH_SPANMAP_STRIDE == 0 ? s : &gh_deadspan;
            VCHECK(map[first + i] == want, "page %lu of span 0x%lx (class %u) maps to span 0x%lx",
                   (unsigned long)(first + i), (unsigned long)(uintptr_t)s, (unsigned)(s->spc >> 1),
                   (unsigned long)(uintptr_t)map[first + i]);
            if (sparse && (i % GH_SPANMAP_STRIDE == GH_SPANMAP_STRIDE / 2 || i + 1 == s->npages))
                VCHECK(gh_span_of(s->base + (i << GOHEAP_PAGE_SHIFT)) == s,
                       "page %lu of span 0x%lx does not resolve to it", (unsigned long)(first + i),
                       (unsigned long)(uintptr_t)s);
        }
        span_struct_bytes += gh_heap.spanalloc[s->bucket].size;
        uint8_t st = atomic_load(&s->state);
        if (st == GH_SPAN_EFENCE_FREED) {
            efence_dead += (uint64_t)s->npages << GOHEAP_PAGE_SHIFT;
            continue;
        }
        if (st == GH_SPAN_LCACHED) { /* free, in a CPU's or the heap's large span cache */
            VCHECK(s->spc < 2 && s->npages <= GH_HCACHE_PAGES, "cached large span 0x%lx: class %u, %u pages",
                   (unsigned long)(uintptr_t)s, (unsigned)s->spc, (unsigned)s->npages);
            lcached_pages += s->npages;
            continue;
        }
        VCHECK(st == GH_SPAN_INUSE, "span 0x%lx in the map has state %u", (unsigned long)(uintptr_t)s, st);
        if (s->efence) {
            uintptr_t bad = gh_efence_check_span(s);
            VCHECK(!bad, "efence: canary smashed at 0x%lx: object 0x%lx size %lu allocated at pc 0x%lx",
                   (unsigned long)bad, (unsigned long)s->obj, (unsigned long)s->reqsize,
                   (unsigned long)s->alloc_pc);
        }
        inuse_pages += s->npages;
        if (s->spc < 2) {
            large_live++;
            large_bytes += (uint64_t)s->npages << GOHEAP_PAGE_SHIFT;
            continue;
        }
        unsigned n = gh_span_count_live_any(s);
        live[s->spc] += n;
        uintptr_t dbl = gh_span_double_freed(s);
        VCHECK(dbl == 0, "double free: 0x%lx is free in span 0x%lx (class %u) with a remote free pending",
               (unsigned long)dbl, (unsigned long)(uintptr_t)s, (unsigned)(s->spc >> 1));
        uint32_t own = atomic_load(&s->owner) & ~GH_OWNER_SLOW;
        uint8_t cs = atomic_load(&s->cstate);
        uint64_t uncounted = gh_span_uncounted_frees(s);
        /* rnelems == (tiny || slowmode) ? 0 : nelems (mspan.h) */
        unsigned rn = atomic_load(&s->rnelems);
        VCHECK(rn == (gh_span_always_slow(s) ? 0u : s->nelems), "span 0x%lx (class %u): rnelems %u, nelems %u",
               (unsigned long)(uintptr_t)s, (unsigned)(s->spc >> 1), rn, (unsigned)s->nelems);
        /* every lane's sampled object is allocated, with its marker (profile.c):
         * for each lane key k, bit k-1 of ~freeBits & R */
        if (GOHEAP_PROFILE && s->spc != GH_TINY_SPC) {
            uint64_t l = atomic_load(&s->psamp);
            for (unsigned i = 0; i < GH_PROF_LANES; i++) {
                unsigned k = (unsigned)(l >> (16 * i)) & GH_LANE_MASK;
                if (!k)
                    continue;
                unsigned j = k - 1, w = j >> 6;
                uint64_t both = ~s->freeBits[w] & gh_span_rpend(s, w, memory_order_relaxed);
                VCHECK(j < s->nelems && ((both >> (j & 63)) & 1),
                       "span 0x%lx (class %u): sampled slot %u has no marker (~freeBits & R)",
                       (unsigned long)(uintptr_t)s, (unsigned)(s->spc >> 1), j);
            }
        }
        VCHECK(s->lcounted + s->lswept <= s->lfree,
               "span 0x%lx: lcounted %lu + lswept %lu > lfree %lu", (unsigned long)(uintptr_t)s,
               (unsigned long)s->lcounted, (unsigned long)s->lswept, (unsigned long)s->lfree);
        if (own != GH_NO_OWNER) {
            open_frees[s->spc] += uncounted;
            if (s->curword != GH_NO_WORD)
                open_mallocs[s->spc] += gh_span_tenure_mallocs(s);
            VCHECK(own < gh_ncpu && cs == GH_CS_CACHED &&
                       (gh_fast.caches[own]->alloc[s->spc] == s ||
                        (gh_mcache_parks(gh_fast.caches[own], s->spc, s) && s->curword == GH_NO_WORD)),
                   "span 0x%lx owner %u is not that CPU's cached span", (unsigned long)(uintptr_t)s, own);
            /* parked: tbase == allocated + lfree (gh_span_tenure_end); not yet
             * for a cache of a thread that is not in this fork child: its free may have
             * been copied between lfree's count and the bit, which its drain settles
             * (mcache.c release_gone) and the class recount below allows for */
            VCHECK(s->curword != GH_NO_WORD || gh_fork_gone_marked(own) ||
                       s->tbase == (uint64_t)gh_span_alloc_bits(s) + s->lfree,
                   "parked span 0x%lx: tbase %lu != allocated + lfree %lu", (unsigned long)(uintptr_t)s,
                   (unsigned long)s->tbase, (unsigned long)((uint64_t)gh_span_alloc_bits(s) + s->lfree));
        } else {
            /* lfree changes only while owned; the span's last owner counted it all */
            VCHECK(uncounted == 0, "span 0x%lx (class %u) has no owner and %lu uncounted frees",
                   (unsigned long)(uintptr_t)s, (unsigned)(s->spc >> 1), (unsigned long)uncounted);
            struct mcentral *mc = &gh_central[s->spc];
            VCHECK((cs == GH_CS_PARTIAL && s->onlist == &mc->partial) ||
                       (cs == GH_CS_FULL && s->onlist == &mc->full) ||
                       (cs == GH_CS_PENDING && s->onlist == &mc->pending),
                   "span 0x%lx cstate %u not on its mcentral list", (unsigned long)(uintptr_t)s, cs);
            VCHECK(cs != GH_CS_PARTIAL || n < s->nelems || gh_span_count_live(s) < s->nelems,
                   "partial span 0x%lx has no free slot", (unsigned long)(uintptr_t)s);
            /* (In a fork child before its first full reclaim pass, also a FULL span
             * whose remote frees are all pending: another thread of the parent made
             * the last of them, its OR, and the fork copied it before that free's
             * wake. No thread of the child wakes it; the pass sweeps it (mcentral.h
             * gh_fork_unwoken). Only there: in a process that forked nothing, the freer
             * is alive and wakes it, and the rule stays.) */
            VCHECK(n > 0 || cs == GH_CS_PARTIAL || cs == GH_CS_PENDING ||
                       (cs == GH_CS_FULL && atomic_load(&gh_fork_unwoken) && gh_span_remote_pending(s)),
                   "empty span 0x%lx filed as %u", (unsigned long)(uintptr_t)s, cs);
        }
    }

    struct sums t;
    sum_caches(&t, 0);
    for (unsigned spc = 2; spc < GH_NUM_SPC; spc++) {
        t.nmalloc[spc] += open_mallocs[spc];
        t.nfree[spc] += open_frees[spc];
    }
    /* A fork child's recount (once, bounded): a thread of the parent that is not in
     * the child may have been copied between a free's count and its bit, the remote
     * free's count on its cache's page and its OR on the span's (the fork copies
     * one page after another while that thread runs on), or the owner's lfree and its
     * store: the object counted freed, live in its span for good (no thread of the
     * child frees it). At most one such free per thread named gone, each one more
     * free counted than live objects show: that many are taken back from the counts
     * (gh_emptycache's, which every sum reads), so that MemStats and this check
     * agree with the spans from then on. Any other difference, or more of it, is
     * reported as ever (core-forkgone t_fork_torn_free). */
    /* (allow: taken at the top.) The same for large objects: a gone thread's large span cache put or get copied
     * between its exchange or state and its counts (gh_large_freed, gh_large_reuse),
     * or between its two counts; fork_settle_large gave back the span such a put or
     * get left in no list. At most one object (and its bytes, at most a cacheable
     * span's) per thread named gone, either way; the counts are made to agree with the
     * spans (core-forkgone t_fork_torn_large). */
    int64_t dl = (int64_t)(t.large_alloc - t.large_free) - (int64_t)large_live;
    int64_t db = (int64_t)(t.large_alloc_bytes - t.large_free_bytes) - (int64_t)large_bytes;
    uint64_t adl = dl < 0 ? (uint64_t)-dl : (uint64_t)dl, adb = db < 0 ? (uint64_t)-db : (uint64_t)db;
    if (allow && (adl || adb) && adl <= allow && adb <= (uint64_t)allow * GH_LCACHE_MAX_BYTES) {
        uint64_t *on = dl > 0 ? &gh_emptycache.large_free : &gh_emptycache.large_alloc;
        uint64_t *onb = db > 0 ? &gh_emptycache.large_free_bytes : &gh_emptycache.large_alloc_bytes;
        gh_cache_count(&gh_emptycache, on, adl, 1);
        gh_cache_count(&gh_emptycache, onb, adb, 1);
        *(dl > 0 ? &t.large_free : &t.large_alloc) += adl;
        *(db > 0 ? &t.large_free_bytes : &t.large_alloc_bytes) += adb;
        allow -= (unsigned)adl;
    }
    for (unsigned spc = 2; spc < GH_NUM_SPC && allow; spc++) {
        uint64_t counted = t.nmalloc[spc] - t.nfree[spc];
        if (counted < live[spc] && live[spc] - counted <= allow) {
            uint64_t d = live[spc] - counted;
            gh_cache_count(&gh_emptycache, &gh_emptycache.nfree[spc], (uint64_t)0 - d, 1);
            t.nfree[spc] -= d;
            allow -= (unsigned)d;
        }
    }
    for (unsigned spc = 2; spc < GH_NUM_SPC; spc++)
        VCHECK(t.nmalloc[spc] - t.nfree[spc] == live[spc],
               "span class %u: mallocs %lu - frees %lu != %lu live objects in spans", spc,
               (unsigned long)t.nmalloc[spc], (unsigned long)t.nfree[spc], (unsigned long)live[spc]);
    VCHECK(t.large_alloc - t.large_free == large_live, "large objects: %lu counted, %lu spans",
           (unsigned long)(t.large_alloc - t.large_free), (unsigned long)large_live);
    VCHECK(t.large_alloc_bytes - t.large_free_bytes == large_bytes, "large bytes: %lu counted, %lu in spans",
           (unsigned long)(t.large_alloc_bytes - t.large_free_bytes), (unsigned long)large_bytes);

    uint64_t inuse = gh_heap_inuse_bytes(), hfree = gh_heap_free_bytes();
    uint64_t rel = atomic_load(&gh_heap.heap_released);
    VCHECK(inuse == inuse_pages << GOHEAP_PAGE_SHIFT, "heap_inuse %lu != %lu bytes of live spans",
           (unsigned long)inuse, (unsigned long)(inuse_pages << GOHEAP_PAGE_SHIFT));
    VCHECK(efence_dead == atomic_load(&gh_heap.efence_dead), "efence dead bytes %lu != %lu",
           (unsigned long)efence_dead, (unsigned long)atomic_load(&gh_heap.efence_dead));
    /* Every freed guarded span is in the quarantine: none left between its steps (in
     * a fork child, gh_efence_fork_child finished them). */
    unsigned efence_inflight;
    uint64_t efence_held = gh_efence_held(&efence_inflight);
    VCHECK(efence_held == efence_dead && efence_inflight == 0,
           "efence: quarantine and spans in flight hold %lu bytes (%u spans in flight), %lu dead",
           (unsigned long)efence_held, efence_inflight, (unsigned long)efence_dead);
    VCHECK(nspans == atomic_load(&gh_heap.span_count) + (efence_dead ? 0 : 0) ||
               nspans == atomic_load(&gh_heap.span_count),
           "span walk found %lu spans, counter says %lu", (unsigned long)nspans,
           (unsigned long)atomic_load(&gh_heap.span_count));

    /* The profiler: live records == the buckets' in-use objects == sampled objects
     * the spans count (profile.c). */
    struct gh_prof_counts pc;
    gh_prof_counts(&pc);
    VCHECK(pc.records == pc.bucket_inuse && pc.records == sampled,
           "profile: %lu sampled-object records, buckets say %lu in use, spans count %lu",
           (unsigned long)pc.records, (unsigned long)pc.bucket_inuse, (unsigned long)sampled);

    uint64_t span_inuse = 0;
    for (unsigned b = 0; b < GH_NBUCKETS; b++)
        span_inuse += gh_heap.spanalloc[b].inuse;
    VCHECK(span_inuse == span_struct_bytes, "mspan inuse %lu != %lu bytes of span structs walked",
           (unsigned long)span_inuse, (unsigned long)span_struct_bytes);

    struct goheap_memstats m;
    goheap_read_memstats(&m);
    VCHECK(m.heap_idle + m.heap_inuse == m.heap_sys, "HeapIdle + HeapInuse != HeapSys");
    VCHECK(m.heap_released <= m.heap_idle, "HeapReleased %lu > HeapIdle %lu",
           (unsigned long)m.heap_released, (unsigned long)m.heap_idle);
    VCHECK(m.heap_released_lazy <= m.heap_released, "HeapReleasedLazy %lu > HeapReleased %lu",
           (unsigned long)m.heap_released_lazy, (unsigned long)m.heap_released);
    VCHECK(m.heap_alloc <= m.heap_inuse, "HeapAlloc %lu > HeapInuse %lu", (unsigned long)m.heap_alloc,
           (unsigned long)m.heap_inuse);
    VCHECK(m.heap_objects == m.mallocs - m.frees, "HeapObjects != Mallocs - Frees");
    VCHECK(m.sys == m.heap_sys + m.mspan_sys + m.mcache_sys + m.other_sys, "Sys is not the sum");

    /* The page allocator's own view, with the page caches' pages counted back in. */
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&gh_heap.lock, cpu);
    uint64_t pc_free = 0, pc_scav = 0, pc_lazy = 0, lc_pages = 0, lc_listed = 0;
    for (unsigned i = 0; i < gh_ncpu; i++) {
        struct mcache *c = gh_fast.caches[i];
        if (c == &gh_emptycache)
            continue;
        pc_free += gh_popcount64(c->pcache.cache);
        /* the grow window (mheap.h): in use in the tree, counted free, in no span */
        uintptr_t gb = __atomic_load_n(&c->pcache.gbase, __ATOMIC_RELAXED);
        uintptr_t gp = __atomic_load_n(&c->pcache.gpages, __ATOMIC_RELAXED);
        pc_free += gp;
        for (uintptr_t k = 0; k < 2 && gp; k++) {
            uintptr_t a = gb + ((k ? gp - 1 : 0) << GOHEAP_PAGE_SHIFT);
            VCHECK(gh_pagealloc_page_in_use(gh_heap_pages_of(a), a) && gh_span_of(a) == &gh_deadspan,
                   "cpu %u grow window 0x%lx (%lu pages): page 0x%lx not in use in the tree or in a span", i,
                   (unsigned long)gb, (unsigned long)gp, (unsigned long)a);
        }
        /* malloc's fast entries mirror the current spans (mcache.h, struct gh_fastent);
         * not in a cache named gone in a fork child, whose thread may have been copied
         * between a word step and its mirror (its drain sets every entry again) */
        for (unsigned k = 0; k < GH_FAST_CLASSES && !gh_fork_gone_marked(i); k++) {
            const struct gh_fastent *e = &c->fe[k];
            const struct mspan *s = k ? c->alloc[k << 1] : &gh_emptyspan;
            VCHECK(e->s == s && e->wp == s->wbits && e->wordbase == s->wordbase && e->welemsize == s->welemsize,
                   "cpu %u fast entry %u (span 0x%lx, word 0x%lx) does not mirror span 0x%lx (word 0x%lx)", i, k,
                   (unsigned long)(uintptr_t)e->s, (unsigned long)(uintptr_t)e->wp, (unsigned long)(uintptr_t)s,
                   (unsigned long)(uintptr_t)s->wbits);
        }
        for (unsigned n = 0; n <= GOHEAP_SMALL_SIZE_MAX; n++)
            if (c->fidx[n] != gh_fastidx[n]) {
                VCHECK(0, "cpu %u fast entry index of %u B is %u, the size table says %u", i, n, (unsigned)c->fidx[n],
                       (unsigned)gh_fastidx[n]);
                break;
            }
        pc_scav += gh_popcount64(c->pcache.scav);
        pc_lazy += gh_popcount64(c->pcache.lazy);
        lc_pages += c->lcache.pages;
        /* each CPU's cache within its own bound (not only the sum within ncpu times it) */
        VCHECK(c->lcache.pages <= GH_LCACHE_CPU_PAGES, "cpu %u large span cache holds %u pages, bound %u", i,
               (unsigned)c->lcache.pages, (unsigned)GH_LCACHE_CPU_PAGES);
        for (unsigned n = 1; n <= GH_LCACHE_MAX_PAGES; n++) {
            unsigned k = 0;
            for (struct mspan *s = c->lcache.bin[n]; s; s = s->next, k++) {
                VCHECK(s->npages == n && atomic_load(&s->state) == GH_SPAN_LCACHED,
                       "cpu %u large cache bin %u holds span 0x%lx of %u pages, state %u", i, n,
                       (unsigned long)(uintptr_t)s, (unsigned)s->npages, (unsigned)atomic_load(&s->state));
                lc_listed += n;
            }
            /* nbin[n] == |bin[n]| <= GH_LCACHE_BIN_SPANS */
            VCHECK(c->lcache.nbin[n] == k && k <= GH_LCACHE_BIN_SPANS,
                   "cpu %u large cache bin %u lists %u spans, counts %u", i, n, k, (unsigned)c->lcache.nbin[n]);
        }
    }
    uint64_t hc_pages = gh_heap.hcache_pages, hc_listed = 0;
    unsigned hc_n = gh_heap.hcache_n;
    for (unsigned i = 0; i < hc_n && i < GH_HCACHE_SPANS; i++) {
        struct mspan *s = gh_heap.hcache[i];
        VCHECK(atomic_load(&s->state) == GH_SPAN_LCACHED && s->npages <= GH_HCACHE_PAGES,
               "heap large cache entry %u: span 0x%lx of %u pages, state %u", i, (unsigned long)(uintptr_t)s,
               (unsigned)s->npages, (unsigned)atomic_load(&s->state));
        hc_listed += s->npages;
    }
    unsigned bad = 0;
    uint64_t grown = gh_heap.grown, holes = gh_heap.holes, pa_grown = 0;
    uint64_t pa_free = 0, pa_scav = 0, pa_scavenging = 0, pa_lazy = 0, pa_mapping = 0, map_listed = 0;
    struct pagealloc *pa;
    for (unsigned i = 0; (pa = gh_heap_pages_at(i)) != 0; i++) { /* window, covers */
        bad += gh_pagealloc_check(pa);
        pa_grown += pa->npages_grown;
        pa_free += pa->npages_free;
        pa_scav += pa->npages_scav;
        pa_scavenging += pa->npages_scavenging;
        pa_lazy += pa->npages_lazy;
        pa_mapping += pa->npages_mapping;
    }
    /* Every page being mapped lies in a map in flight (mheap.c, gh_heap.mapping): one
     * outside has no taker left to finish it (a fork child's, before gh_heap_fork_child). */
    for (struct mspan *s = gh_heap.mapping; s; s = s->mapnext)
        map_listed += gh_map_pages(s);
    uint64_t rel_lazy = atomic_load(&gh_heap.heap_released_lazy); /* changed under the lock */
    gh_unlock(&gh_heap.lock, cpu);
    goheap_sys_unpin(pin);
    VCHECK(bad == 0, "gh_pagealloc_check found %u mismatches", bad);
    VCHECK(pa_mapping <= map_listed, "%lu pages being mapped, %lu in the maps in flight", (unsigned long)pa_mapping,
           (unsigned long)map_listed);
    /* Region mode's holes (pages of grown chunks outside every region) are grown in a
     * page allocator but not heap. */
    VCHECK((pa_grown << GOHEAP_PAGE_SHIFT) == grown + holes,
           "page allocators grew %lu bytes != heap grown %lu + region holes %lu",
           (unsigned long)(pa_grown << GOHEAP_PAGE_SHIFT), (unsigned long)grown, (unsigned long)holes);
    VCHECK(lc_pages == lc_listed && lc_pages + hc_pages == lcached_pages,
           "large span caches: %lu pages counted, %lu listed, %lu in cached spans of the map",
           (unsigned long)lc_pages, (unsigned long)lc_listed, (unsigned long)lcached_pages);
    VCHECK(hc_n <= GH_HCACHE_SPANS && hc_pages == hc_listed && hc_pages <= GH_HCACHE_PAGES,
           "heap large span cache: %u spans, %lu pages counted, %lu listed", hc_n, (unsigned long)hc_pages,
           (unsigned long)hc_listed);
    VCHECK(inuse + hfree + rel == grown, "heap_inuse + heap_free + heap_released %lu != grown %lu",
           (unsigned long)(inuse + hfree + rel), (unsigned long)grown);
    if (pa_scavenging == 0) {
        VCHECK(((pa_free + pc_free + lc_pages + hc_pages) << GOHEAP_PAGE_SHIFT) == hfree + rel - efence_dead,
               "free pages %lu (tree %lu + page caches %lu + large caches %lu + heap's %lu) != heap idle %lu - efence %lu",
               (unsigned long)((pa_free + pc_free + lc_pages + hc_pages) << GOHEAP_PAGE_SHIFT), (unsigned long)pa_free,
               (unsigned long)pc_free, (unsigned long)lc_pages, (unsigned long)hc_pages, (unsigned long)(hfree + rel),
               (unsigned long)efence_dead);
        VCHECK(((pa_scav + pc_scav) << GOHEAP_PAGE_SHIFT) == rel - efence_dead,
               "scavenged pages %lu != heap_released %lu - efence %lu",
               (unsigned long)((pa_scav + pc_scav) << GOHEAP_PAGE_SHIFT), (unsigned long)rel,
               (unsigned long)efence_dead);
        VCHECK(((pa_lazy + pc_lazy) << GOHEAP_PAGE_SHIFT) == rel_lazy,
               "lazily released pages %lu (tree %lu + page caches %lu) != heap_released_lazy %lu",
               (unsigned long)((pa_lazy + pc_lazy) << GOHEAP_PAGE_SHIFT), (unsigned long)pa_lazy,
               (unsigned long)pc_lazy, (unsigned long)rel_lazy);
    }
    return fails ? -1 : 0;
}
