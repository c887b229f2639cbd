/* alloc/fixalloc.c: persistentalloc and fixalloc (see fixalloc.h). */
#include "fixalloc.h"
#include "sysmem.h"

struct gh_meta gh_meta = {.lock = {.rank = GOHEAP_LC_META}};

static void *sys_alloc(size_t bytes) {
    void *p = gh_sys_reserve(bytes, GOHEAP_SYS_FRAME_SIZE);
    if (!p)
        return 0;
    if (gh_sys_map(p, bytes) != 0)
        return 0; /* the reservation is lost; reservations are never given back */
    __atomic_fetch_add(&gh_meta.mapped, bytes, __ATOMIC_RELAXED);
    return p;
}

void *gh_persistentalloc(size_t size, size_t align, uint64_t *stat) {
    if (align == 0)
        align = 8;
    if (size >= (64u << 10)) {
        /* Go sends big requests straight to sysAlloc. */
        size_t n = gh_align_up(size, GOHEAP_SYS_FRAME_SIZE);
        void *p = sys_alloc(n);
        if (p && stat)
            __atomic_fetch_add(stat, n, __ATOMIC_RELAXED); /* read racily by stats.c */
        else if (p)
            __atomic_fetch_add(&gh_meta.other_sys, n, __ATOMIC_RELAXED);
        return p;
    }
    uintptr_t p = gh_align_up(gh_meta.pchunk, align);
    if (!gh_meta.pchunk || p + size > gh_meta.pend) {
        void *c = sys_alloc(GH_PERSISTENT_CHUNK);
        if (!c)
            return 0;
        __atomic_fetch_add(&gh_meta.other_sys, GH_PERSISTENT_CHUNK, __ATOMIC_RELAXED);
        gh_meta.pchunk = (uintptr_t)c;
        gh_meta.pend = (uintptr_t)c + GH_PERSISTENT_CHUNK;
        p = gh_align_up(gh_meta.pchunk, align);
    }
    gh_meta.pchunk = p + size;
    if (stat) {
        /* Move the bytes from other_sys to the caller's statistic, like Go. */
        __atomic_fetch_sub(&gh_meta.other_sys, size, __ATOMIC_RELAXED);
        __atomic_fetch_add(stat, size, __ATOMIC_RELAXED);
    }
    return (void *)p;
}

void gh_fixalloc_init(struct gh_fixalloc *f, size_t size) {
    if (size < sizeof(void *))
        size = sizeof(void *);
    *f = (struct gh_fixalloc){.size = gh_align_up(size, 8)};
}

void *gh_fixalloc_alloc(struct gh_fixalloc *f) {
    void *p;
    if (f->list) {
        p = f->list;
        f->list = *(void **)p;
        if (!f->noclear)
            gh_memclr(p, f->size);
    } else {
        if (f->nchunk < f->size) {
            /* An exact multiple of the object size: no tail waste. Doubling from
             * GH_FIXALLOC_FIRST (fixalloc.h). */
            size_t want = f->sys < GH_FIXALLOC_FIRST ? GH_FIXALLOC_FIRST : f->sys;
            if (want > GH_FIXALLOC_CHUNK)
                want = GH_FIXALLOC_CHUNK;
            size_t n = (want / f->size) * f->size;
            if (n == 0)
                n = f->size;
            void *c = gh_persistentalloc(n, 64, &f->sys);
            if (!c)
                return 0;
            f->chunk = (uintptr_t)c;
            f->nchunk = n;
        }
        p = (void *)f->chunk;
        f->chunk += f->size;
        f->nchunk -= f->size;
    }
    /* read without the lock by goheap_read_memstats (stats.c fix_sum) */
    __atomic_store_n(&f->inuse, f->inuse + f->size, __ATOMIC_RELAXED);
    return p;
}

void gh_fixalloc_free(struct gh_fixalloc *f, void *p) {
    *(void **)p = f->list;
    f->list = p;
    __atomic_store_n(&f->inuse, f->inuse - f->size, __ATOMIC_RELAXED);
}

int gh_meta_map(void *addr, size_t bytes) {
    if (gh_sys_map(addr, bytes) != 0)
        return -1;
    __atomic_fetch_add(&gh_meta.mapped, bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&gh_meta.other_sys, bytes, __ATOMIC_RELAXED);
    return 0;
}
