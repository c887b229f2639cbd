/* tests/host/pagealloc_fx.h: the fixture of the page allocator's tests
 * (test_pagealloc.c, test_pagealloc_backing.c): an arena reserved on the strict test
 * platform, a page allocator over it, and page/bit helpers. */
#ifndef GOHEAP_TESTS_PAGEALLOC_FX_H
#define GOHEAP_TESTS_PAGEALLOC_FX_H

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hostktap.h"
#include "pagealloc.h"
#include "pallocbits.h"
#include "platform.h"
#include "testplatform.h"

#define PAGE GOHEAP_PAGE_SIZE
#define CHUNK PALLOC_CHUNK_BYTES
#define CPAGES PALLOC_CHUNK_PAGES

/* ---- fixtures ------------------------------------------------------------------------ */
struct fx {
    struct pagealloc pa;
    uintptr_t arena;
    size_t bytes;
};

static inline int fx_init(struct fx *f, size_t arena_chunks) {
    memset(f, 0, sizeof *f);
    f->bytes = arena_chunks * CHUNK;
    f->arena = (uintptr_t)goheap_sys_reserve(f->bytes, CHUNK);
    if (!f->arena)
        return -1;
    int r = gh_pagealloc_init(&f->pa, f->arena, f->bytes);
    f->pa.debug = 1; /* the allocator's own consistency checks on */
    return r;
}

static inline uintptr_t pg(struct fx *f, uintptr_t page) { return f->arena + page * PAGE; }
static inline long page_no(struct fx *f, uintptr_t a) { return a ? (long)((a - f->arena) / PAGE) : -1; }

static inline int bit(const uint64_t *w, unsigned i) { return (w[i / 64] >> (i % 64)) & 1; }
static inline int page_alloc_bit(struct fx *f, uintptr_t page) {
    return bit(f->pa.chunks[page / CPAGES].alloc, page % CPAGES);
}
static inline int page_scav_bit(struct fx *f, uintptr_t page) {
    return bit(f->pa.chunks[page / CPAGES].scav, page % CPAGES);
}

/* Scavenge everything that is free and backed, unmapping like the mheap does. */
static inline unsigned scavenge_all(struct pagealloc *pa) {
    unsigned total = 0;
    for (;;) {
        uintptr_t n, b = gh_pagealloc_scavenge_take(pa, 1000, &n);
        if (!b)
            return total;
        goheap_sys_unmap((void *)b, n * PAGE);
        gh_pagealloc_scavenge_done(pa, b, n);
        total += (unsigned)n;
    }
}

#endif
