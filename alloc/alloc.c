/* alloc/alloc.c: the allocation paths behind every public entry point: small
 * objects with flags and alignment, tiny objects, large objects, the instrumented
 * path (allocfreetrace, efence, guardrate), the out-of-memory retry and the
 * profiler's count of every slow-path allocation. */
#include "core.h"

void gh_trace(const char *what, uintptr_t p, size_t size, uintptr_t pc) {
    struct mspan *s = p ? gh_span_of(p) : 0;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_logf("goheap: %s 0x%lx size %lu class %u cpu %u caller 0x%lx", what, (unsigned long)p,
            (unsigned long)size, s ? (unsigned)(s->spc >> 1) : 0u, cpu, (unsigned long)pc);
    goheap_sys_unpin(pin);
}

void *gh_alloc_small(size_t size, unsigned flags, size_t align, uintptr_t pc) {
    unsigned spc = 0; /* set unless tiny; gcc cannot see that tiny guards every use */
    int tiny = (flags & GOHEAP_NOSCAN) && size < GOHEAP_TINY_SIZE && size > 0 && align <= 8;
    if (!tiny) {
        spc = gh_size_to_spc(size, gh_flags_tab(flags));
        if (align > 8 && goheap_class_min_align[spc >> 1] < align) {
            /* The first class at least as big whose slots are all aligned (spans are
             * page aligned, so slot k sits at k * size). */
            unsigned cl = spc >> 1;
            while (cl < GOHEAP_NUM_SIZE_CLASSES && goheap_class_min_align[cl] < align)
                cl++;
            if (cl == GOHEAP_NUM_SIZE_CLASSES)
                return gh_alloc_large(size, flags, align, pc);
            spc = cl << 1 | (spc & 1);
        }
    }
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    void *p = 0;
    int zero = 0;
    if (c && tiny) {
        p = gh_mcache_tiny_alloc(c, cpu, size);
    } else if (c) {
        struct mspan *s = c->alloc[spc];
        if (gh_span_word_has_free(s)) {
            p = gh_span_take(s);
        } else {
            p = gh_mcache_refill_alloc(c, cpu, spc);
            s = c->alloc[spc];
        }
        zero = (flags & GOHEAP_ZERO) && gh_span_needzero(s);
    }
    int due = GOHEAP_PROFILE && (flags & GH_ALLOC_COUNT) && p && gh_prof_count(c, size);
    goheap_sys_unpin(pin);
    if (p && zero)
        gh_memclr(p, size);
    if (GOHEAP_PROFILE && gh_unlikely(due))
        gh_prof_sample(p, size, pc, GH_PROF_CALLER_FP());
    return p;
}

/* gh_alloc_large and gh_alloc_large_room: one body, inlined into both, so that the
 * plain one keeps no test of the room (kernel ICOUNT=1: +8 instructions on the 1 MiB
 * pair, +25 after a flush, with the test in one shared body). */
static inline __attribute__((always_inline)) void *alloc_large(size_t size, unsigned flags, size_t align,
                                                               uintptr_t pc, int room_placed) {
    if (align < 16)
        align = 16;
    uintptr_t extra = align > GOHEAP_PAGE_SIZE ? align - GOHEAP_PAGE_SIZE : 0;
    if (size > gh_heap.obj_max || extra > gh_heap.obj_max) /* (mheap.h: npages fits 32 bits) */
        return 0;
    /* At least one byte, so that an aligned object of size 0 still lies inside. */
    uintptr_t npages = ((size ? size : 1) + extra + GOHEAP_PAGE_SIZE - 1) >> GOHEAP_PAGE_SHIFT;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    int needzero = 1;
    struct mspan *s = 0;
    /* Large spans record GOHEAP_NOSCAN in their class too (1: the leak scan skips
     * their contents); every other path only asks spc < 2. */
    unsigned lspc = (flags & GOHEAP_NOSCAN) ? 1 : 0;
    /* (a small step's room, room_placed 2, takes a cached span of its size first: its
     * pages are touched already, where a placement with room mostly reaches new ones:
     * bench/suite realloc's peak RSS, bench/RESULTS.md "realloc without a frame") */
    if (room_placed != 1 && c && npages <= GH_LCACHE_MAX_PAGES && (s = gh_heap_lcache_get(c, npages))) {
        gh_large_reuse(c, s, size, align, lspc, pc, 0); /* (a cache holding spans is a CPU's own) */
    } else if (room_placed != 1 && (s = c ? gh_heap_hcache_get(cpu, c, npages, size, align, lspc, pc, 0)
                                  : gh_heap_hcache_get(cpu, &gh_emptycache, npages, size, align, lspc, pc, 1))) {
        if (!c)
            c = &gh_emptycache;
    } else {
        /* A large allocation from the heap counts as a refill for the background poll:
         * a program that allocates only large objects is not idle (mcache.c). */
        if (c && gh_unlikely(++c->slowticks % GH_REFILLS_PER_BG_POLL == 0))
            gh_want_work(GH_WORK_BG);
        /* c->lock: the page cache (a drainer may be flushing it); and, taken by a
         * fork's prepare, it covers the take and the publication below, so that a fork
         * child finds the allocation whole or not begun ("fork" in docs/alloc.md).
         * Without a cache of its own, the heap lock covers them. */
        gh_lock(c ? &c->lock : &gh_heap.lock, cpu);
        /* (room_placed 2: a small step's room, one page; 1: a doubling's) */
        uintptr_t room = !room_placed           ? 0
                         : room_placed == 2     ? 1
                         : npages > GH_REALLOC_ROOM_PAGES ? npages
                                                          : GH_REALLOC_ROOM_PAGES;
        uintptr_t tomap = 0;
        if (gh_unlikely(!c))
            s = gh_heap_alloc_span_nocache(cpu, npages, room, &needzero,
                                           npages >= GH_MAP_UNPINNED_PAGES ? &tomap : 0);
        else if (npages >= GH_MAP_UNPINNED_PAGES) /* (mheap.h: mapped below, unpinned) */
            s = gh_heap_alloc_span_defer(c, cpu, npages, room, &needzero, &tomap);
        else if (room_placed)
            s = gh_heap_alloc_span_room(c, cpu, npages, room, 0, &needzero);
        else
            s = gh_heap_alloc_span(c, cpu, npages, 0, &needzero);
        if (!s) {
            gh_unlock(c ? &c->lock : &gh_heap.lock, cpu);
            goheap_sys_unpin(pin);
            return 0;
        }
        gh_span_init_large(s, s->base, npages, size);
        __atomic_store_n(&s->spc, lspc, __ATOMIC_RELAXED);
        s->obj = gh_align_up(s->base, align);
        s->alloc_pc = pc;
        if (gh_unlikely(tomap)) {
            gh_unlock(c ? &c->lock : &gh_heap.lock, cpu);
            /* its released pages, mapped with no lock, unpinned; published and counted
             * in the hold that finds nothing left to map (mheap.h) */
            goheap_sys_unpin(pin);
            if (gh_heap_map_span(s) != 0)
                return 0; /* the run went back: the last resort, then NULL */
            cpu = goheap_sys_pin(&pin);
            c = gh_mcache_get(cpu);
            if (!c)
                c = &gh_emptycache;
        } else {
            /* Published and counted before that lock's release: the span was taken and
             * counted in use under it (above). */
            gh_heap_publish(s);
            struct mcache *cc = c ? c : &gh_emptycache;
            gh_cache_count(cc, &cc->large_alloc, 1, 1);
            gh_cache_count(cc, &cc->large_alloc_bytes, (uint64_t)npages << GOHEAP_PAGE_SHIFT, 1);
            gh_unlock(c ? &c->lock : &gh_heap.lock, cpu);
            c = cc;
        }
    }
    /* The sampled case apart: the unsampled one keeps no flag across the unpin
     * (callgrind, 4 MiB pair: 4 instructions). */
    if (GOHEAP_PROFILE && (flags & GH_ALLOC_COUNT) && c != &gh_emptycache && gh_unlikely(gh_prof_count(c, size))) {
        goheap_sys_unpin(pin);
        if ((flags & GOHEAP_ZERO) && needzero)
            gh_memclr((void *)s->obj, size);
        gh_prof_sample_large(s, pc, GH_PROF_CALLER_FP());
        return (void *)s->obj;
    }
    goheap_sys_unpin(pin);
    if ((flags & GOHEAP_ZERO) && needzero)
        gh_memclr((void *)s->obj, size);
    return (void *)s->obj;
}

void *gh_alloc_large(size_t size, unsigned flags, size_t align, uintptr_t pc) {
    return alloc_large(size, flags, align, pc, 0);
}

static GH_NOINLINE void *alloc_large_room(size_t size, unsigned flags, uintptr_t pc) {
    return alloc_large(size, flags & ~GH_ALLOC_ROOM_STEP, 0, pc, (flags & GH_ALLOC_ROOM_STEP) ? 2 : 1);
}

/* Inlined into gh_alloc_raw's one call: a frame less between a large allocation and
 * its caller (the profiler's walk passes one record fewer) and ~10 instructions less
 * per slow-path allocation. */
static inline __attribute__((always_inline)) void *alloc_once(size_t size, unsigned flags, size_t align,
                                                            uintptr_t pc) {
    if (gh_unlikely(gh_knobs.slowmode)) {
        int fence = gh_knobs.efence != 0;
        if (!fence && gh_knobs.guardrate) {
            goheap_pin_t pin;
            unsigned cpu = goheap_sys_pin(&pin);
            struct mcache *c = gh_mcache_get(cpu);
            if (c && c->guard_next-- <= 1) {
                c->guard_next = gh_knobs.guardrate;
                fence = 1;
            }
            goheap_sys_unpin(pin);
        }
        if (fence && gh_efence_room()) {
            void *p = gh_efence_alloc(size, align, flags & ~GH_ALLOC_COUNT, pc);
            if (GOHEAP_PROFILE && p && (flags & GH_ALLOC_COUNT))
                gh_prof_account(p, size, pc);
            return p;
        }
    }
    if (gh_unlikely(flags & GH_ALLOC_ROOM))
        return alloc_large_room(size, flags, pc);
    if (size <= GOHEAP_MAX_SMALL_SIZE && align <= GOHEAP_PAGE_SIZE)
        return gh_alloc_small(size, flags, align, pc);
    return gh_alloc_large(size, flags, align, pc);
}

void *gh_alloc_raw(size_t size, unsigned flags, size_t align, uintptr_t pc) {
    if (gh_unlikely(!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE))) {
        /* Hosted: the first pin initialises from $GOHEAPDEBUG. */
        goheap_pin_t pin;
        goheap_sys_pin(&pin);
        goheap_sys_unpin(pin);
        if (!__atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE)) {
            static _Atomic int said;
            if (!atomic_exchange(&said, 1))
                gh_logf("goheap: allocation before goheap_init (or after it failed): NULL");
            goheap_sys_nomem();
            return 0;
        }
    }
    void *p;
    for (int retried = 0;; retried = 1) {
        p = alloc_once(size, flags, align, pc);
        if (gh_likely(p != 0) || retried)
            break;
        gh_last_resort();
    }
    if (gh_unlikely(!p))
        goheap_sys_nomem();
    else if (gh_unlikely(gh_knobs.allocfreetrace))
        gh_trace("alloc", (uintptr_t)p, size, pc);
    gh_after_slow();
    return p;
}

/* Built with frame pointers (hosted/hosted.mk): the public entry points tail-call it
 * and it tail-calls gh_alloc_raw, so a frame record returns to their caller and the
 * profiler's walk finds it. The count happens inside, where the allocation is pinned
 * anyway (GH_ALLOC_COUNT): counting after it, with a pin of its own, cost the tiny
 * allocator through goheap_malloc_flags(NOSCAN) 34 instructions per call at the
 * default rate, and the call after the allocation kept gh_alloc a frame of its own
 * (17 more, at rate 0 too; callgrind, bench/fastpath.c tiny, 8 B). */
void *gh_alloc(size_t size, unsigned flags, size_t align, uintptr_t pc) {
    /* Always counted, also at rate 0 (the interval is then INT64_MAX: never spent):
     * gh_prof_rate may not be read here, before gh_alloc_raw's first-call init has
     * set it (TSan: a race with gh_prof_init). */
    flags &= ~(GH_ALLOC_COUNT | GH_ALLOC_ROOM | GH_ALLOC_ROOM_STEP);
    if (GOHEAP_PROFILE)
        flags |= GH_ALLOC_COUNT;
    return gh_alloc_raw(size, flags, align, pc);
}
