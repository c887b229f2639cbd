/* alloc/efence.c: the efence and guardrate knobs. Each guarded object gets pages of
 * its own next to a guard page: after the object (efence=1: it ends at the last
 * page's end at malloc's alignment; efence=2: byte-exact) or before it (efence=3: it
 * starts at a page start, at any alignment, so p[-1] faults). Slack bytes carry a canary, checked at
 * free, by goheap_validate and, with debug>=1, periodically. A freed object's pages
 * are guarded too and held in a bounded quarantine (use after free faults) before
 * their address space is reused. goheap_efence_describe names the object for a fault.
 * Guards are the platform's light guards (goheap_sys_guard) when it has them, else
 * unmapped pages (goheap_sys_unmap), which cost mappings and so are capped. */
#include "core.h"

/* Quarantine: freed guarded spans that stay guarded (and named in the span map)
 * before their pages go back to the page allocator. Up to 8191 objects of >= 16 KiB
 * of address space each (>= 128 MiB, unbacked), and at most a quarter of the window:
 * recent use after free is caught, and a program that allocates millions of guarded
 * objects reuses address space. */
#define EFENCE_QUARANTINE 8192
/* Spans leave the quarantine EFENCE_EVICT at a time, so that their guards are lifted
 * with one call per run of neighbours (a loop's objects come back in address order:
 * 64 spans in 1-2 calls instead of 64) and the heap lock is taken once per batch.
 * The quarantine then holds between 8191 - 64 and 8191 objects. */
#define EFENCE_EVICT 64
/* Live guarded objects allowed at once when guards are unmapped pages. Each splits a
 * mapping in two (its data, then the guard gap), and Linux allows vm.max_map_count =
 * 65530 mappings by default: 30000 objects leave ~5500 for the program's own. Beyond,
 * new objects are not guarded (said once) until some are freed. Light guards split
 * nothing: no cap (CPython alone has 37000 objects live after `python3 -c pass`). */
#define EFENCE_MAX_LIVE 30000
/* debug>=1: every 4096th guarded allocation checks every live object's canaries
 * (a walk of the span map: amortised to a few loads per allocation). */
#define EFENCE_CHECK_EVERY 4096

static struct {
    /* ---- protected by the heap lock ---- */
    struct mspan *ring[EFENCE_QUARANTINE];
    unsigned head, count;
    uintptr_t bytes; /* address space the quarantined spans hold */
} quarantine;
/* debug>=1's walk: every live guarded object, linked through its span's list links
 * (an efence span is never on another list), under the heap lock. A walk of the span
 * map instead read the fields of whatever span a page named, racing the reset of a
 * span freed and set up again meanwhile (TSan: check_all against span_reset). */
static struct gh_spanlist efence_list; /* protected by the heap lock */
/* Freed guarded spans outside the ring, each from the heap-lock hold that changes it
 * to the next (protected by the heap lock; an efence span is on one list at a time):
 * freeing, from its free's hold (its state, counts and efence_dead) until the hold
 * that puts it in the ring (its data pages guarded in between, no lock held);
 * evicting, from the hold that takes it out of the ring until the one that gives its
 * pages back (its guards lifted in between). A fork child has no thread to finish
 * either: gh_efence_fork_child does it ("fork" in docs/alloc.md). */
static struct gh_spanlist efence_freeing, efence_evicting;
static _Atomic unsigned efence_live;      /* guarded objects allocated, not freed */
static _Atomic unsigned efence_checkers;  /* canary walks in progress (see check_span) */
static _Atomic unsigned efence_allocs, efence_said_full;
static _Atomic uint64_t efence_unguarded; /* allocations refused a guard by the limit */
/* How guards are made, learnt from the first tries: GUARD_LIGHT once a light guard
 * worked (from then on evicted spans have their guards lifted); GUARD_UNMAP when the
 * first tries failed before any worked (no more tries: every guard is an unmapped
 * page). Both may be set after a race; then evicted spans are still lifted. */
#define GUARD_LIGHT 1u
#define GUARD_UNMAP 2u
static _Atomic unsigned guard_how;

/* Makes [a, a + n) fault and gives its memory back. Unpinned, no lock held. */
static void guard_pages(uintptr_t a, uintptr_t n) {
    unsigned how = atomic_load_explicit(&guard_how, memory_order_relaxed);
    if (!(how & GUARD_UNMAP)) {
        if (gh_sys_guard((void *)a, n) == 0) {
            if (!(how & GUARD_LIGHT))
                atomic_fetch_or(&guard_how, GUARD_LIGHT);
            return;
        }
        if (!(how & GUARD_LIGHT))
            atomic_fetch_or(&guard_how, GUARD_UNMAP);
    }
    gh_sys_unmap((void *)a, n);
}

static uint8_t canary_byte(uintptr_t addr) { return (uint8_t)(0xa5 ^ (addr >> 3) ^ (addr >> 11)); }

static void fill_canary(uintptr_t lo, uintptr_t hi) {
    for (uintptr_t a = lo; a < hi; a++)
        *(volatile uint8_t *)a = canary_byte(a);
}

static uintptr_t check_canary(uintptr_t lo, uintptr_t hi) {
    for (uintptr_t a = lo; a < hi; a++)
        if (*(volatile uint8_t *)a != canary_byte(a))
            return a;
    return 0;
}

/* The object's data pages: [lo, hi). Guard after (efence 1, 2): the last page is the
 * guard; guard before (efence 3): every page below the object, which starts a page
 * (one guard page, or more where an alignment above the page put it higher). */
static uintptr_t data_lo(const struct mspan *s) {
    return s->efence == GH_EFENCE_GUARD_BELOW ? s->obj : s->base;
}
static uintptr_t data_hi(const struct mspan *s) {
    return s->efence == GH_EFENCE_GUARD_BELOW
               ? s->base + ((uintptr_t)s->npages << GOHEAP_PAGE_SHIFT)
               : s->base + ((uintptr_t)(s->npages - 1) << GOHEAP_PAGE_SHIFT);
}

/* The canary covers up to EFENCE_CANARY bytes of slack on each side of the object:
 * efence=1's < 16 B tail entirely, the bytes just below the object, and efence=3's
 * tail after a short object. Writing and checking the whole slack (up to 8 KiB per
 * object) cost 8x the rest of a guarded malloc+free; the rest of the slack is left as
 * the page came (zero), unchecked. */
#define EFENCE_CANARY 64
static uintptr_t canary_lo(const struct mspan *s) {
    uintptr_t lo = data_lo(s);
    return s->obj - lo > EFENCE_CANARY ? s->obj - EFENCE_CANARY : lo;
}
static uintptr_t canary_hi(const struct mspan *s) {
    uintptr_t end = s->obj + s->reqsize, hi = data_hi(s);
    return hi - end > EFENCE_CANARY ? end + EFENCE_CANARY : hi;
}

static uintptr_t canaries_bad(const struct mspan *s) {
    uintptr_t bad = check_canary(canary_lo(s), s->obj);
    return bad ? bad : check_canary(s->obj + s->reqsize, canary_hi(s));
}

static _Noreturn void canary_panic(const struct mspan *s, uintptr_t bad, const char *when, uintptr_t pc) {
    gh_panicf("goheap: efence: canary smashed at 0x%lx: object 0x%lx size %lu allocated at "
              "pc 0x%lx, %s at pc 0x%lx", (unsigned long)bad, (unsigned long)s->obj,
              (unsigned long)s->reqsize, (unsigned long)s->alloc_pc, when, (unsigned long)pc);
}

/* What a guarded object's publication brings, in the heap-lock hold that publishes it
 * (gh_efence_alloc, or map_finish for a run mapped unpinned), so that a fork child
 * finds the object whole or not at all: its canaries, written before the publish
 * (from then on goheap_validate and debug's periodic walk may check it, and blank
 * slack would read as a smashed canary; at most 2 x 64 bytes of pages now ours, so in
 * the hold is fine; the state's release store in the publish orders them for the
 * walks' loads), debug's list of live guarded spans, and the live count. Caller holds
 * the heap lock. */
void gh_efence_publish_locked(struct mspan *s) {
    fill_canary(canary_lo(s), s->obj);
    fill_canary(s->obj + s->reqsize, canary_hi(s));
    if (GOHEAP_DEBUG)
        gh_list_push(&efence_list, s);
    atomic_fetch_add_explicit(&efence_live, 1, memory_order_relaxed);
}

uintptr_t gh_efence_check_span(const struct mspan *s) {
    /* A freer sets the state, then waits for walks in progress before unmapping; a
     * walk announces itself, then reads the state (both seq_cst): either the freer
     * waits for us, or we see the object freed and skip it. */
    atomic_fetch_add(&efence_checkers, 1);
    uintptr_t bad = 0;
    if (atomic_load(&s->state) == GH_SPAN_INUSE)
        bad = canaries_bad(s);
    atomic_fetch_sub(&efence_checkers, 1);
    return bad;
}

/* debug>=1: the periodic walk over every live guarded object (efence_list). A span
 * leaves the list under the heap lock before its free guards its pages, so every span
 * the walk finds there is live and mapped. */
static void check_all(uintptr_t pc) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&gh_heap.lock, cpu);
    for (struct mspan *s = efence_list.first; s; s = s->next) {
        uintptr_t bad = canaries_bad(s);
        if (bad)
            canary_panic(s, bad, "found by the periodic check", pc);
    }
    gh_unlock(&gh_heap.lock, cpu);
    goheap_sys_unpin(pin);
}

int gh_efence_room(void) {
    if (atomic_load_explicit(&efence_live, memory_order_relaxed) < EFENCE_MAX_LIVE ||
        atomic_load_explicit(&guard_how, memory_order_relaxed) & GUARD_LIGHT)
        return 1;
    atomic_fetch_add_explicit(&efence_unguarded, 1, memory_order_relaxed);
    if (!atomic_exchange(&efence_said_full, 1))
        gh_logf("goheap: efence: %u guarded objects live, each splitting a mapping (Linux allows "
                "vm.max_map_count, 65530 by default): new objects are not guarded until some "
                "are freed", (unsigned)EFENCE_MAX_LIVE);
    return 0;
}

void gh_efence_counts(uint64_t *live, uint64_t *unguarded) {
    *live = atomic_load_explicit(&efence_live, memory_order_relaxed);
    *unguarded = atomic_load_explicit(&efence_unguarded, memory_order_relaxed);
}

void *gh_efence_alloc(size_t size, size_t align, unsigned flags, uintptr_t pc) {
    int below = gh_knobs.efence == 3;
    if (align < 8) {
        /* efence=1 keeps malloc's alignment promise (16 B from 16 B, else 8), so up to
         * 15 B of tail slack (canary-checked) may sit before the page end. efence=2
         * places the object exactly at the page end (Electric Fence's EF_ALIGNMENT=1):
         * every overflow faults, and results are not aligned (malloc(13) is 3 mod 16),
         * except where the caller named an alignment (memalign(4, 13), aligned_alloc(2,
         * n): align 2 or 4 here; plain malloc passes 0), which is kept. */
        size_t asked = align;
        align = size >= 16 ? 16 : 8;
        if (gh_knobs.efence == 2)
            align = asked ? asked : 1;
    }
    if (size > gh_heap.obj_max || align > gh_heap.obj_max)
        return 0;
    /* Below: the object at the first aligned address past the span's first page, so up
     * to align - page bytes more than its size after that page. */
    uintptr_t need = below ? size + (align > GOHEAP_PAGE_SIZE ? align - GOHEAP_PAGE_SIZE : 0) : size + align - 1;
    uintptr_t datapages = (need + GOHEAP_PAGE_SIZE - 1) >> GOHEAP_PAGE_SHIFT;
    if (datapages == 0)
        datapages = 1;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    if (!c)
        c = &gh_emptycache;
    int needzero;
    uintptr_t npages = datapages + 1, tomap = 0;
    struct mspan *s;
    /* What a fork child must see whole happens under one lock that a fork's prepare
     * takes too ("fork" in docs/alloc.md). From GH_MAP_UNPINNED_PAGES on, the run's
     * released pages are mapped unpinned with no lock held, as a large malloc's are
     * (mheap.h, gh_heap_map_span): the take (counted, on gh_heap.mapping) in one hold,
     * the publication in the hold that finds nothing left to map (map_finish, which
     * calls gh_efence_publish_locked); with nothing to map, c->lock covers the take and
     * the publication, as for a large malloc. A smaller run (mapped pinned) or a caller
     * without a cache of its own holds the heap lock from the page take to the
     * statistics (gh_heap_alloc_span_nocache). */
    int big = npages >= GH_MAP_UNPINNED_PAGES, own = c != &gh_emptycache;
    struct gh_mutex *lk = big && own ? &c->lock : &gh_heap.lock;
    gh_lock(lk, cpu);
    s = big && own ? gh_heap_alloc_span_defer(c, cpu, npages, 0, &needzero, &tomap)
                   : gh_heap_alloc_span_nocache(cpu, npages, 0, &needzero, big ? &tomap : 0);
    if (!s) {
        gh_unlock(lk, cpu);
        goheap_sys_unpin(pin);
        return 0;
    }
    gh_span_init_large(s, s->base, npages, size);
    s->efence = below ? GH_EFENCE_GUARD_BELOW : GH_EFENCE_GUARD_ABOVE;
    s->obj = below ? gh_align_up(s->base + GOHEAP_PAGE_SIZE, align > GOHEAP_PAGE_SIZE ? align : GOHEAP_PAGE_SIZE)
                   : gh_align_down(data_hi(s) - size, align);
    uintptr_t guard = below ? s->base : data_hi(s), nguard = below ? s->obj - s->base : GOHEAP_PAGE_SIZE;
    s->alloc_pc = pc;
    if (tomap) {
        gh_unlock(lk, cpu);
        /* Mapped unpinned; published and counted by the map's last hold. Out of
         * memory: the run went back, NULL (the caller's last resort, then NULL). */
        goheap_sys_unpin(pin);
        if (gh_heap_map_span(s) != 0)
            return 0;
    } else {
        if (lk != &gh_heap.lock)
            gh_lock(&gh_heap.lock, cpu);
        gh_efence_publish_locked(s);
        gh_heap_publish(s);
        gh_cache_count(c, &c->large_alloc, 1, 1);
        gh_cache_count(c, &c->large_alloc_bytes, (uint64_t)s->npages << GOHEAP_PAGE_SHIFT, 1);
        gh_unlock(&gh_heap.lock, cpu);
        if (lk != &gh_heap.lock)
            gh_unlock(lk, cpu);
        goheap_sys_unpin(pin);
    }
    /* The guard page: faults from now on (unpinned, no lock: platform rule). */
    gh_assert_no_locks();
    guard_pages(guard, nguard);
    if (needzero || (flags & GOHEAP_ZERO))
        gh_memclr((void *)s->obj, size);
    if (GOHEAP_DEBUG && atomic_fetch_add(&efence_allocs, 1) % EFENCE_CHECK_EVERY == EFENCE_CHECK_EVERY - 1)
        check_all(pc);
    return (void *)s->obj;
}

static uintptr_t span_end(const struct mspan *s) {
    return s->base + ((uintptr_t)s->npages << GOHEAP_PAGE_SHIFT);
}

/* Evicted spans back to the page allocator: guards lifted first (light guards stay
 * until lifted, and the pages will be handed out unguarded), one call per run of
 * adjacent spans. Unpinned, no lock held. */
static void evict(struct mspan **v, unsigned n) {
    if (atomic_load_explicit(&guard_how, memory_order_relaxed) & GUARD_LIGHT) {
        for (unsigned i = 1; i < n; i++) /* by address: insertion sort, n <= 64 */
            for (unsigned j = i; j > 0 && v[j - 1]->base > v[j]->base; j--) {
                struct mspan *t = v[j];
                v[j] = v[j - 1];
                v[j - 1] = t;
            }
        for (unsigned i = 0; i < n;) {
            unsigned j = i + 1;
            while (j < n && v[j]->base == span_end(v[j - 1]))
                j++;
            gh_sys_unguard((void *)v[i]->base, span_end(v[j - 1]) - v[i]->base);
            i = j;
        }
    }
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    for (unsigned i = 0; i < n; i++) {
        gh_lock(&gh_heap.lock, cpu);
        gh_list_remove(&efence_evicting, v[i]);
        gh_lock(&gh_meta.lock, cpu);
        gh_heap_free_retired_locked(v[i]);
        gh_unlock(&gh_meta.lock, cpu);
        gh_unlock(&gh_heap.lock, cpu);
    }
    goheap_sys_unpin(pin);
}

/* The oldest quarantined span, out of the ring and onto efence_evicting. Caller holds
 * the heap lock. */
static struct mspan *take_oldest(void) {
    struct mspan *old = quarantine.ring[quarantine.head];
    quarantine.head = (quarantine.head + 1) % EFENCE_QUARANTINE;
    quarantine.count--;
    quarantine.bytes -= (uintptr_t)old->npages << GOHEAP_PAGE_SHIFT;
    gh_list_push(&efence_evicting, old);
    return old;
}

/* s off efence_freeing, into the ring (which has room). Caller holds the heap lock. */
static void ring_put(struct mspan *s) {
    gh_list_remove(&efence_freeing, s);
    quarantine.ring[(quarantine.head + quarantine.count) % EFENCE_QUARANTINE] = s;
    quarantine.count++;
    quarantine.bytes += (uintptr_t)s->npages << GOHEAP_PAGE_SHIFT;
}

/* Puts a freed, guarded span into the quarantine; once it is full, the oldest
 * EFENCE_EVICT go back to the page allocator (their address space is reused).
 * Unpinned, no lock held. */
static void quarantine_put(struct mspan *s) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&gh_heap.lock, cpu);
    ring_put(s);
    for (;;) {
        /* Bounded by count, and by a quarter of the window (a small arena= must not
         * fill up with quarantined address space). */
        struct mspan *old[EFENCE_EVICT];
        unsigned n = 0, full = quarantine.count > EFENCE_QUARANTINE - 1;
        while (n < EFENCE_EVICT && quarantine.count > 1 &&
               (full || quarantine.bytes > gh_heap.arena_bytes / 4))
            old[n++] = take_oldest();
        gh_unlock(&gh_heap.lock, cpu);
        goheap_sys_unpin(pin);
        if (!n)
            return;
        evict(old, n);
        cpu = goheap_sys_pin(&pin);
        gh_lock(&gh_heap.lock, cpu);
    }
}

void gh_efence_free(struct mspan *s, uintptr_t a, uintptr_t pc) {
    if (a != s->obj)
        gh_bad_free("invalid free of an interior pointer", a, s);
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    if (!c)
        c = &gh_emptycache;
    /* One heap-lock hold, which a fork's prepare takes too, for everything a fork
     * child must see whole: the state, out of the walk's reach (efence_list) and onto
     * efence_freeing, the statistics, heap_inuse and efence_dead. Before, the state
     * changed first and the counts after a wait for this lock (debug's list): a child
     * forked meanwhile found the object freed and counted live ("efence dead bytes N
     * != N - 16384", "large bytes: ... counted, ... in spans"; core-storm). */
    gh_lock(&gh_heap.lock, cpu);
    uint8_t inuse = GH_SPAN_INUSE;
    if (!atomic_compare_exchange_strong(&s->state, &inuse, GH_SPAN_EFENCE_FREED)) {
        gh_unlock(&gh_heap.lock, cpu);
        goheap_sys_unpin(pin);
        gh_bad_free("double free", a, s);
    }
    if (GOHEAP_DEBUG)
        gh_list_remove(&efence_list, s);
    gh_list_push(&efence_freeing, s);
    gh_cache_count(c, &c->large_free, 1, 1);
    gh_cache_count(c, &c->large_free_bytes, (uint64_t)s->npages << GOHEAP_PAGE_SHIFT, 1);
    gh_heap_retire_span_pages(s); /* its bytes released, efence_dead */
    atomic_fetch_sub_explicit(&efence_live, 1, memory_order_relaxed);
    gh_unlock(&gh_heap.lock, cpu);
    goheap_sys_unpin(pin);
    uintptr_t bad = canaries_bad(s); /* ours now: still mapped */
    if (bad)
        canary_panic(s, bad, "freed", pc);
    /* No canary walk may still be reading the object (gh_efence_check_span). */
    while (atomic_load(&efence_checkers))
        goheap_sys_relax();
    gh_assert_no_locks();
    guard_pages(data_lo(s), data_hi(s) - data_lo(s));
    quarantine_put(s);
}

void gh_efence_fork_child(void) {
    /* The child's only thread, every lock held (goheap_fork_child): the unguard and
     * guard calls with them, as gh_heap_fork_child's unmap, wait for no other CPU.
     * What a thread of the parent had left in flight it finishes as that thread would
     * have, whether or not its call had come: an evicted span's guards lifted and its
     * pages back; a freed span's data guarded (a light guard again, or an unmap of
     * what may be unmapped already) and into the ring, the oldest out first when the
     * ring is full. A canary walk of the parent's (validate) left counted would make
     * every later free wait for it. */
    atomic_store_explicit(&efence_checkers, 0, memory_order_relaxed);
    for (;;) {
        struct mspan *s = efence_evicting.first;
        if (s) {
            if (atomic_load_explicit(&guard_how, memory_order_relaxed) & GUARD_LIGHT)
                gh_sys_unguard((void *)s->base, span_end(s) - s->base);
            gh_list_remove(&efence_evicting, s);
            gh_heap_free_retired_locked(s);
            continue;
        }
        if (!(s = efence_freeing.first))
            return;
        if (quarantine.count == EFENCE_QUARANTINE) {
            take_oldest(); /* onto efence_evicting: given back first */
            continue;
        }
        guard_pages(data_lo(s), data_hi(s) - data_lo(s));
        ring_put(s);
    }
}

uint64_t gh_efence_held(unsigned *inflight) {
    uint64_t bytes = quarantine.bytes;
    struct gh_spanlist *lists[] = {&efence_freeing, &efence_evicting};
    *inflight = 0;
    for (unsigned i = 0; i < 2; i++)
        for (struct mspan *s = lists[i]->first; s; s = s->next) {
            bytes += (uint64_t)s->npages << GOHEAP_PAGE_SHIFT;
            ++*inflight;
        }
    return bytes;
}

size_t goheap_efence_describe(uintptr_t addr, char *buf, size_t n) {
    struct mspan *s = gh_span_of(addr);
    if (!s || !s->efence) {
        /* An underflow below a guard-above object lands in the previous span's last
         * page, which is not always a guard (a normal span, or nothing). */
        s = addr >= GOHEAP_PAGE_SIZE ? gh_span_of(addr + GOHEAP_PAGE_SIZE) : 0;
        if (!s || !s->efence || s->state == GH_SPAN_DEAD)
            return 0;
        return gh_fmt(buf, n, "goheap: efence: fault at 0x%lx: underflow below object 0x%lx size %lu "
                      "allocated at pc 0x%lx", (unsigned long)addr, (unsigned long)s->obj,
                      (unsigned long)s->reqsize, (unsigned long)s->alloc_pc);
    }
    const char *what = atomic_load(&s->state) == GH_SPAN_EFENCE_FREED ? "use after free of"
                       : addr < data_lo(s)                             ? "underflow below"
                       : addr >= data_hi(s)                            ? "overflow past"
                                                                       : "access to";
    return gh_fmt(buf, n, "goheap: efence: fault at 0x%lx: %s object 0x%lx size %lu allocated at "
                  "pc 0x%lx", (unsigned long)addr, what, (unsigned long)s->obj,
                  (unsigned long)s->reqsize, (unsigned long)s->alloc_pc);
}
