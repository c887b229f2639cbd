/* alloc/mcentral.c: the central span pools (see mcentral.h for the lists and the
 * full -> pending handshake). */
#include "mcentral.h"
#include "mcache.h"
#include "mheap.h"
#include "profile.h"

/* Zero, in .bss: a class lock's rank is 0 and its class comes from its address
 * (gh_mutex_rank). Statically ranked, the 17 KiB array sat in .data, which the kernel
 * maps whole around the first fault (fault-around): all of it resident in every
 * process; in .bss a program touches the pages of the classes it uses. (A loop at
 * init would write all of it.) */
struct mcentral gh_central[GH_NUM_SPC];
/* Spans on all pending lists together: a hint (read without locks) that a
 * reclaim-before-grow pass can find spans emptied by frees. */
static _Atomic long npending;

#define list_push gh_list_push
#define list_remove gh_list_remove

/* File a swept span with `live` objects. Caller holds mc->lock. Returns 1
 * if the span is empty and must be freed by the caller after unlocking. */
static int file_span(struct mcentral *mc, struct mspan *s, unsigned live) {
    if (live == 0)
        return 1;
    if (live < s->nelems) {
        atomic_store_explicit(&s->cstate, GH_CS_PARTIAL, memory_order_relaxed);
        list_push(&mc->partial, s);
        return 0;
    }
    list_push(&mc->full, s);
    atomic_store_explicit(&s->cstate, GH_CS_FULL, memory_order_seq_cst);
    if (gh_span_remote_pending(s)) {
        uint8_t full = GH_CS_FULL;
        if (atomic_compare_exchange_strong(&s->cstate, &full, GH_CS_PENDING)) {
            list_remove(&mc->full, s);
            list_push(&mc->pending, s);
            atomic_fetch_add_explicit(&npending, 1, memory_order_relaxed);
        }
        /* else a freer won the CAS and will move it once we unlock */
    }
    return 0;
}

static void make_owned(struct mcache *c, struct mspan *s, unsigned cpu) {
    uint32_t own = cpu;
    s->nmalloc_ctr = &c->nmalloc[s->spc];
    if (gh_span_always_slow(s))
        own |= GH_OWNER_SLOW;
    atomic_store_explicit(&s->cstate, GH_CS_CACHED, memory_order_relaxed);
    atomic_store_explicit(&s->owner, own, memory_order_relaxed);
    gh_span_tenure_begin(s);
}

/* How many candidates below the 1/4 threshold cache_span looks at before taking the
 * best of them (see there). */
#define GH_CENTRAL_SCAN 16 /* callgrind, 2 threads, scale 0.05: larson 408.8 M instructions with no scan, 403.5 M with 4, 400.6 M with 16 (-2.0%); pareto 202.2 / 202.5 / 202.3 M */

/* Free slots that make a span from mcentral worth a refill: 1/4 of its slots (at
 * least 1), the same threshold refill uses for parked spans (mcache.c). */
static unsigned s_want(unsigned spc) {
    unsigned w = goheap_class_to_nobjs[spc >> 1] / 4;
    return w ? w : 1;
}

struct mspan *gh_central_cache_span(struct mcache *c, unsigned cpu, unsigned spc) {
    struct mcentral *mc = &gh_central[spc];
    struct mspan *s;
    /* Bounded like Go's spanBudget: refiling spans that are still full must not
     * turn into a spin while other CPUs keep freeing into them. */
    unsigned budget = 100;
    /* A refill that pays for itself: a span with at least 1/4 of its slots free is
     * taken at once; a poorer one (woken by a single remote free, say) is set aside,
     * and after GH_CENTRAL_SCAN of those the best of them is taken, so a span with
     * few free slots is handed out only when nothing better was found. */
    unsigned want = s_want(spc), nscan = 0, bestfree = 0;
    struct mspan *best = 0, *aside = 0;
    gh_lock(&mc->lock, cpu);
    while (budget-- && ((s = mc->pending.first) || (s = mc->partial.first))) {
        if (s->onlist == &mc->pending)
            atomic_fetch_sub_explicit(&npending, 1, memory_order_relaxed);
        list_remove(s->onlist, s);
        gh_span_sweep_remote(s, cpu);
        unsigned live = gh_span_count_live(s);
        if (GOHEAP_DEBUG >= 2)
            gh_span_check(s, "cache");
        if (live == s->nelems) {
            file_span(mc, s, live); /* still full */
            continue;
        }
        unsigned nfree = s->nelems - live;
        if (nfree >= want) {
            if (best) {
                best->next = aside;
                aside = best;
            }
            best = s;
            break;
        }
        if (nfree > bestfree) {
            if (best) {
                best->next = aside;
                aside = best;
            }
            best = s;
            bestfree = nfree;
        } else {
            s->next = aside;
            aside = s;
        }
        if (++nscan >= GH_CENTRAL_SCAN)
            break;
    }
    while (aside) { /* back to partial, behind the spans not looked at yet */
        struct mspan *n = aside->next;
        gh_list_push_back(&mc->partial, aside);
        atomic_store_explicit(&aside->cstate, GH_CS_PARTIAL, memory_order_relaxed);
        aside = n;
    }
    if (best) {
        make_owned(c, best, cpu);
        gh_unlock(&mc->lock, cpu);
        gh_span_next_word(best);
        return best;
    }
    gh_unlock(&mc->lock, cpu);

    uintptr_t npages = goheap_class_to_npages[spc >> 1];
    int needzero;
    s = gh_heap_alloc_span(c, cpu, npages, spc, &needzero);
    if (!s)
        return 0;
    gh_span_init_small(s, s->base, spc, needzero);
    make_owned(c, s, cpu);
    gh_span_next_word(s);
    gh_heap_publish(s);
    return s;
}

void gh_central_uncache_span(unsigned cpu, struct mspan *s) {
    struct mcentral *mc = &gh_central[s->spc];
    if (GOHEAP_DEBUG >= 2)
        gh_span_check(s, "uncache");
    gh_span_tenure_end(s);
    gh_span_sweep_remote(s, cpu);
    unsigned live = gh_span_count_live(s);
    atomic_store_explicit(&s->owner, GH_NO_OWNER, memory_order_relaxed);
    if (live == 0) {
        atomic_store_explicit(&s->cstate, GH_CS_NONE, memory_order_relaxed);
        gh_heap_free_span(cpu, s);
        return;
    }
    gh_lock(&mc->lock, cpu);
    file_span(mc, s, live);
    gh_unlock(&mc->lock, cpu);
}

/* s off the full list onto the pending list, if it is still on the full list with
 * its flip to PENDING made (it may have been recycled since the flip's freer saw it
 * FULL). Caller holds mc->lock. */
static void wake_locked(struct mcentral *mc, struct mspan *s) {
    if (__atomic_load_n(&s->onlist, __ATOMIC_RELAXED) == (void *)&mc->full &&
        atomic_load(&s->cstate) == GH_CS_PENDING) {
        list_remove(&mc->full, s);
        list_push(&mc->pending, s);
        atomic_fetch_add_explicit(&npending, 1, memory_order_relaxed);
    }
}

/* gh_central_wake for a CPU without a cache of its own (gh_emptycache: shared, so it
 * records nothing): the flip and the move in one hold of the class lock, which a fork's
 * prepare takes too, so that a fork child finds the wake not begun (FULL with a remote
 * free pending: gh_fork_unwoken) or done. Under the lock of s's class, cstate FULL means
 * s is on that class's full list (file_span lists it, then stores FULL; every other
 * change off FULL is this flip or made under the lock); s's class read racily may be
 * stale (recycled since the freer's OR): then, still FULL, s is another class's, and
 * that class's lock is taken in turn. */
static GH_NOINLINE void wake_shared(unsigned cpu, struct mspan *s) {
    for (;;) {
        struct mcentral *mc = &gh_central[__atomic_load_n(&s->spc, __ATOMIC_RELAXED)];
        gh_lock(&mc->lock, cpu);
        int here = __atomic_load_n(&s->onlist, __ATOMIC_RELAXED) == (void *)&mc->full;
        uint8_t full = GH_CS_FULL;
        if (here && atomic_compare_exchange_strong(&s->cstate, &full, GH_CS_PENDING))
            wake_locked(mc, s);
        gh_unlock(&mc->lock, cpu);
        if (here || atomic_load(&s->cstate) != GH_CS_FULL)
            return; /* woken (here or by another freer), or no longer full */
    }
}

void gh_central_wake(struct mcache *c, unsigned cpu, struct mspan *s) {
    if (c == &gh_emptycache) {
        wake_shared(cpu, s);
        return;
    }
    /* From before the flip until s is listed: a fork between the two finds it in
     * c->waking (gh_central_fork_child). */
    c->waking = s;
    uint8_t full = GH_CS_FULL;
    if (atomic_compare_exchange_strong(&s->cstate, &full, GH_CS_PENDING)) {
        /* s may have been recycled since the freer's OR: read its class racily
         * (relaxed), then re-check under that class's lock that it is still on the
         * full list. */
        struct mcentral *mc = &gh_central[__atomic_load_n(&s->spc, __ATOMIC_RELAXED)];
        gh_lock(&mc->lock, cpu);
        wake_locked(mc, s);
        gh_unlock(&mc->lock, cpu);
    }
    c->waking = 0;
}

void gh_central_fork_child(struct mcache *c) {
    struct mspan *s = c->waking;
    if (c == &gh_emptycache || !s)
        return;
    c->waking = 0;
    wake_locked(&gh_central[__atomic_load_n(&s->spc, __ATOMIC_RELAXED)], s);
}

/* Which lists a reclaim pass walks (reclaim_class). */
enum { RECLAIM_PENDING = 1, RECLAIM_PARTIAL = 2, RECLAIM_FULL = 4 };

/* Sweeps the spans of the given lists of class spc that have remote frees, and gives
 * the empty ones back. seen: the class's remote frees counted before the lock (its
 * partial_seen once the partial list is walked). Returns the spans given back. */
static unsigned reclaim_class(unsigned cpu, unsigned spc, unsigned which, uint64_t seen) {
    struct mcentral *mc = &gh_central[spc];
    struct mspan *dead = 0;
    gh_lock(&mc->lock, cpu);
    if (which & RECLAIM_PARTIAL)
        atomic_store_explicit(&mc->partial_seen, seen, memory_order_relaxed);
    struct gh_spanlist *lists[3] = {&mc->pending, &mc->partial, &mc->full};
    for (int li = 0; li < 3; li++) {
        if (!(which & (1u << li)))
            continue;
        struct mspan *s = lists[li]->first, *next;
        for (; s; s = next) {
            next = s->next;
            /* Only frees make a span emptier, and every free since the span was
             * filed sits in remoteFree: a span without remote bits is skipped. */
            if (!gh_span_remote_pending(s))
                continue;
            if (li == 0)
                atomic_fetch_sub_explicit(&npending, 1, memory_order_relaxed);
            list_remove(lists[li], s);
            gh_span_sweep_remote_words(s, cpu); /* (pending: seen above) */
            unsigned live = gh_span_count_live(s);
            if (live == 0) {
                /* partial/full/pending -> returned */
                atomic_store_explicit(&s->cstate, GH_CS_NONE, memory_order_relaxed);
                s->next = dead; /* collect; free in one heap-lock hold below */
                dead = s;
            } else {
                file_span(mc, s, live);
            }
        }
    }
    /* Before the unlock: a fork between the two would copy the spans off every list
     * and not yet freed (gh_heap_free_spans). */
    unsigned n = gh_heap_free_spans(cpu, dead);
    gh_unlock(&mc->lock, cpu);
    return n;
}

unsigned gh_central_reclaim(unsigned cpu, int pending_only) {
    unsigned freed = 0;
    for (unsigned spc = 2; spc < GH_NUM_SPC; spc++) {
        if (pending_only)
            freed += reclaim_class(cpu, spc, RECLAIM_PENDING, 0);
        else
            freed += reclaim_class(cpu, spc, RECLAIM_PENDING | RECLAIM_PARTIAL | RECLAIM_FULL,
                                   gh_mcache_remote_frees(spc));
    }
    /* Every full list walked: a fork child's unwoken spans are swept (core.h). */
    if (!pending_only && atomic_load_explicit(&gh_fork_unwoken, memory_order_relaxed))
        atomic_store_explicit(&gh_fork_unwoken, 0, memory_order_relaxed);
    return freed;
}

void gh_central_reclaim_before_grow(struct mcache *c, unsigned cpu) {
    gh_mcache_give_back_empty(c, cpu);
    /* The pending lists hold the spans freed into since they were filed full; a span
     * filed partial (a pass swept it with objects left, a flush, refill's set-aside)
     * is emptied by remote frees that wake nothing, and stays on the partial list.
     * That list is walked only for a class with remote frees counted since its last
     * walk (partial_seen): one span emptied there needs at least one, and a walk
     * sweeps every remote free it finds, so without new ones it would find nothing.
     * The count is read before the class lock; a free counted then but not yet in its
     * span (the freer counts before its OR) is left to the background pass. */
    int pend = atomic_load_explicit(&npending, memory_order_relaxed) > 0;
    for (unsigned spc = 2; spc < GH_NUM_SPC; spc++) {
        unsigned which = pend ? RECLAIM_PENDING : 0;
        /* The count is a sum over every CPU: taken only for a class whose partial list
         * holds a span (its length read without the lock; a span filed meanwhile is
         * the background pass's). A program of large objects grows the heap often and
         * has nearly every list empty: summing all 136 classes' counts at each growth
         * cost bench/suite bigalloc 6.6 K -> 31.5 K instructions a pair (callgrind, 2
         * threads, scale 0.05). */
        uint64_t seen = 0;
        if (__atomic_load_n(&gh_central[spc].partial.n, __ATOMIC_RELAXED)) {
            seen = gh_mcache_remote_frees(spc);
            if (seen != atomic_load_explicit(&gh_central[spc].partial_seen, memory_order_relaxed))
                which |= RECLAIM_PARTIAL;
        }
        if (which)
            reclaim_class(cpu, spc, which, seen);
    }
}

unsigned gh_central_sweep_all(unsigned cpu) { return gh_central_reclaim(cpu, 0); }
