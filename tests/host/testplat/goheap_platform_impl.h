/* tests/host/testplat/goheap_platform_impl.h: the inline part of the test-only
 * platform (tests/host/testplatform.c) used by the page-allocator host tests:
 * one CPU, a plain spinlock, 4 KiB frames. */
#ifndef GOHEAP_PLATFORM_IMPL_H
#define GOHEAP_PLATFORM_IMPL_H

/* Page-table mode: the page-allocator tests reserve, map and unmap; the other hooks
 * exist too (testplatform.c). */
#define GOHEAP_SYS_HAVE_MAP 1
/* Exact placement too, for the page allocator's placed metadata (gh_pagealloc_init_at). */
#define GOHEAP_SYS_HAVE_RESERVE_AT 1
#define GOHEAP_SYS_HAVE_NCPU 1
#define GOHEAP_SYS_HAVE_EACH_CPU 1
#define GOHEAP_SYS_HAVE_CLOCK 1
#define GOHEAP_SYS_FRAME_SIZE 4096

typedef struct {
    int v;
} goheap_lock_t;
typedef int goheap_pin_t;

static inline unsigned goheap_sys_pin(goheap_pin_t *saved) {
    *saved = 0;
    return 0;
}
static inline void goheap_sys_unpin(goheap_pin_t saved) { (void)saved; }
static inline void goheap_sys_lock(goheap_lock_t *l) {
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
        ;
}
static inline void goheap_sys_unlock(goheap_lock_t *l) { __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE); }

#endif
