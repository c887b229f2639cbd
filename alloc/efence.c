/* alloc/efence.c: the efence and guardrate knobs. Each such object gets its own
 * pages and ends at the end of its last page, followed by an unmapped guard page;
 * its pages are never reused (they stay allocated in the page tree, unbacked, after
 * free), so an overflow past the page or a use after free faults. The slack in front
 * of the object (and the < 16 B tail kept for alignment) is filled with a canary that
 * free checks. goheap_efence_describe names the object for a fault handler. */
#include "core.h"

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

void *gh_efence_alloc(size_t size, size_t align, unsigned flags, uintptr_t pc) {
    if (align < 8) {
        /* efence=1 keeps malloc's alignment promise (16 B from 16 B, else 8), so up to
         * 15 B of tail slack (canary-checked at free) may sit before the page end.
         * efence=2 places the object exactly at the page end, aligned only to the
         * largest power of two dividing its size (at most 16): every overflow faults. */
        align = size >= 16 ? 16 : 8;
        if (gh_knobs.efence >= 2)
            align = size ? ((size_t)1 << gh_ctz64(size | 16)) : 1;
    }
    if (size > gh_heap.arena_bytes || align > gh_heap.arena_bytes)
        return 0;
    uintptr_t need = size + align - 1;
    uintptr_t datapages = (need + GOHEAP_PAGE_SIZE - 1) >> GOHEAP_PAGE_SHIFT;
    if (datapages == 0)
        datapages = 1;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    int needzero;
    struct mspan *s = gh_heap_alloc_span(0, cpu, datapages + 1, 0, &needzero);
    if (!s) {
        goheap_sys_unpin(pin);
        return 0;
    }
    uintptr_t end = s->base + (datapages << GOHEAP_PAGE_SHIFT);
    gh_span_init_large(s, s->base, datapages + 1, size);
    s->efence = 1;
    s->obj = gh_align_down(end - size, align);
    s->alloc_pc = pc;
    gh_heap_publish(s);
    struct mcache *c = gh_mcache_get(cpu);
    if (!c)
        c = &gh_emptycache;
    c->large_alloc++;
    c->large_alloc_bytes += (uint64_t)s->npages << GOHEAP_PAGE_SHIFT;
    goheap_sys_unpin(pin);
    /* The guard page: unbacked from now on (unpinned, no lock: platform rule). */
    gh_assert_no_locks();
    goheap_sys_unmap((void *)end, GOHEAP_PAGE_SIZE);
    if (needzero || (flags & GOHEAP_ZERO))
        gh_memclr((void *)s->obj, size);
    fill_canary(s->base, s->obj);
    fill_canary(s->obj + size, end);
    return (void *)s->obj;
}

void gh_efence_free(struct mspan *s, uintptr_t a, uintptr_t pc) {
    if (a != s->obj)
        gh_bad_free("invalid free of an interior pointer", a, s);
    uint8_t inuse = GH_SPAN_INUSE;
    if (!atomic_compare_exchange_strong(&s->state, &inuse, GH_SPAN_EFENCE_FREED))
        gh_bad_free("double free", a, s);
    uintptr_t end = s->base + ((uintptr_t)(s->npages - 1) << GOHEAP_PAGE_SHIFT);
    uintptr_t bad = check_canary(s->base, s->obj);
    if (!bad)
        bad = check_canary(s->obj + s->reqsize, end);
    if (bad)
        gh_panicf("goheap: efence: canary smashed at 0x%lx: object 0x%lx size %lu allocated at "
                  "pc 0x%lx, freed at pc 0x%lx",
                  (unsigned long)bad, (unsigned long)s->obj, (unsigned long)s->reqsize,
                  (unsigned long)s->alloc_pc, (unsigned long)pc);
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    if (!c)
        c = &gh_emptycache;
    c->large_free++;
    c->large_free_bytes += (uint64_t)s->npages << GOHEAP_PAGE_SHIFT;
    gh_heap_retire_span_pages(cpu, s); /* state: EFENCE_FREED */
    goheap_sys_unpin(pin);
    gh_assert_no_locks();
    goheap_sys_unmap((void *)s->base, end - s->base);
}

size_t goheap_efence_describe(uintptr_t addr, char *buf, size_t n) {
    struct mspan *s = gh_span_of(addr);
    if (!s || !s->efence) {
        /* An underflow below an object lands in the previous span's guard page. */
        s = addr >= GOHEAP_PAGE_SIZE ? gh_span_of(addr + GOHEAP_PAGE_SIZE) : 0;
        if (!s || !s->efence || s->state == GH_SPAN_DEAD)
            return 0;
        return gh_fmt(buf, n, "goheap: efence: fault at 0x%lx: underflow below object 0x%lx size %lu "
                      "allocated at pc 0x%lx", (unsigned long)addr, (unsigned long)s->obj,
                      (unsigned long)s->reqsize, (unsigned long)s->alloc_pc);
    }
    uintptr_t end = s->base + ((uintptr_t)(s->npages - 1) << GOHEAP_PAGE_SHIFT);
    const char *what = atomic_load(&s->state) == GH_SPAN_EFENCE_FREED ? "use after free of"
                       : addr >= end                                   ? "overflow past"
                                                                       : "access to";
    return gh_fmt(buf, n, "goheap: efence: fault at 0x%lx: %s object 0x%lx size %lu allocated at "
                  "pc 0x%lx", (unsigned long)addr, what, (unsigned long)s->obj,
                  (unsigned long)s->reqsize, (unsigned long)s->alloc_pc);
}
