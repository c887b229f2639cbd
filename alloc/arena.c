/* alloc/arena.c: the heap's address space. A *window* of arena_bytes is laid out once
 * (span map first, then the heap pages, then the page allocator's metadata) but
 * reserved in 64 MiB increments at the adjacent address as the heap grows, like Go's
 * heap arenas at hinted addresses (the page allocator reserves its metadata frame by
 * frame as it maps it: gh_pagealloc_init_at); platforms without exact placement get
 * the whole window at init. See docs/alloc.md ("Address space"). */
#include "arena.h"
#include "knobs.h"
#include "mheap.h"
#include "sysmem.h"

/* Reservation step: Go's heapArenaBytes on 64-bit. One reserve call (one mmap, which
 * merges with its neighbour) per 64 MiB of heap; a small heap asks for little. */
#define ARENA_INC ((uintptr_t)64 << 20)
/* The smallest reservation tried before giving up: one page-allocator chunk. */
#define ARENA_MIN PALLOC_CHUNK_BYTES
/* How far past an occupied address growth looks for free space (64 MiB .. 1 GiB). */
#define ARENA_SKIP_TRIES 5

struct gh_arena gh_arena;
struct gh_covers gh_covers;

struct gh_cover *gh_cover_of(uintptr_t a) {
    unsigned n = __atomic_load_n(&gh_covers.n, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++) {
        struct gh_cover *c = &gh_covers.c[i];
        if (a - c->base < c->end - c->base)
            return c;
    }
    return 0;
}

uint64_t gh_arena_bytes(void) { return gh_heap.arena_bytes; }

/* Span-map bytes for heap bytes: 8 B per 8 KiB page (1/1024). */
static inline uintptr_t map_bytes(uintptr_t heap_bytes) {
    return heap_bytes / GOHEAP_PAGE_SIZE * sizeof(void *);
}

#ifdef GOHEAP_SYS_HAVE_RESERVE_AT
/* Reserves the span map for heap offsets below end (frame-granular). */
static int reserve_map(uintptr_t end) {
    uintptr_t want = gh_align_up(map_bytes(end), GOHEAP_SYS_FRAME_SIZE);
    if (want <= gh_arena.map_resv)
        return 0;
    void *at = (void *)((uintptr_t)gh_fast.spans + gh_arena.map_resv);
    if (goheap_sys_reserve_at(at, want - gh_arena.map_resv) != at)
        return -1;
    gh_arena.map_resv = want;
    return 0;
}

/* Reserves heap bytes [off, off + n) of the window and its span map. */
static int reserve_piece(uintptr_t off, uintptr_t n) {
    void *at = (void *)(gh_fast.base + off);
    if (reserve_map(off + n) != 0 || goheap_sys_reserve_at(at, n) != at)
        return -1;
    return 0;
}

/* Tries to place the window at hint: its first increment (64 MiB, smaller on failure
 * down to 4 MiB) and that increment's span map. Returns 0 and sets the layout. */
static int try_window(uintptr_t hint, uintptr_t window) {
    uintptr_t mapregion = gh_align_up(map_bytes(window), PALLOC_CHUNK_BYTES);
    gh_fast.spans = (struct mspan **)hint;
    gh_fast.base = hint + mapregion;
    gh_arena.map_resv = 0;
    for (uintptr_t n = window < ARENA_INC ? window : ARENA_INC; n >= ARENA_MIN; n /= 2) {
        if (reserve_piece(0, n) == 0) {
            gh_arena.resv = n;
            gh_arena.pameta = gh_fast.base + window;
            return 0;
        }
        if (gh_arena.map_resv == 0)
            break; /* the span map's address is taken: another hint */
    }
    /* Reservations are never given back (platform.h): a failed hint leaks at most one
     * map frame of address space. */
    return -1;
}
#endif

int gh_arena_init(size_t window, int exact) {
    window = gh_align_up(window, PALLOC_CHUNK_BYTES);
    gh_arena.asked = window;
    if (gh_region.on) {
        /* Region mode (sysmem.h): the window is the chunks covering the region, taken
         * as they are (they may start at address 0); the span map comes out of the
         * region's metadata area. */
        void *map = gh_sys_reserve(gh_align_up(map_bytes(window), GOHEAP_SYS_FRAME_SIZE),
                                   GOHEAP_SYS_FRAME_SIZE);
        if (!map)
            return -1;
        gh_fast.base = gh_region.arena;
        gh_fast.spans = map;
        gh_arena.resv = gh_heap.arena_bytes = window;
        gh_arena.map_resv = gh_align_up(map_bytes(window), GOHEAP_SYS_FRAME_SIZE);
        return 0;
    }
#ifdef GOHEAP_SYS_HAVE_RESERVE_AT
    for (unsigned i = 0;; i++) {
        uintptr_t hint = (uintptr_t)goheap_sys_window_hint(
            i, gh_align_up(map_bytes(window), PALLOC_CHUNK_BYTES) + window + gh_pagealloc_meta_span(window));
        if (!hint)
            break;
        if (try_window(hint, window) == 0) {
            gh_arena.incremental = 1;
            gh_heap.arena_bytes = window;
            return 0;
        }
    }
#endif
    /* The whole window at once (the kernel; or no hint was free): halve it until it
     * fits, unless the size was asked for explicitly. */
    for (uintptr_t w = window; w >= ARENA_MIN; w /= 2) {
        void *base = gh_sys_reserve(w, PALLOC_CHUNK_BYTES);
        void *map = base ? gh_sys_reserve(gh_align_up(map_bytes(w), GOHEAP_SYS_FRAME_SIZE),
                                          GOHEAP_SYS_FRAME_SIZE)
                         : 0;
        if (base && map) {
            gh_fast.base = (uintptr_t)base;
            gh_fast.spans = map;
            gh_arena.resv = w;
            gh_arena.map_resv = gh_align_up(map_bytes(w), GOHEAP_SYS_FRAME_SIZE);
            gh_heap.arena_bytes = w;
            if (w < window && GOHEAP_DEBUG)
                gh_logf("goheap: arena: reserved %lu MiB of address space, not the %lu MiB "
                        "asked (the system refused more)", (unsigned long)(w >> 20),
                        (unsigned long)(window >> 20));
            return 0;
        }
        if (exact) {
            gh_logf("goheap: arena=%lu: cannot reserve that much address space in one piece "
                    "on this platform", (unsigned long)window);
            return -1;
        }
        /* (What one attempt reserved stays reserved: never given back.) */
    }
    gh_logf("goheap: cannot reserve any address space for the heap: asked for %lu MiB, then "
            "down to %lu MiB; the system refused all (an address-space limit such as "
            "ulimit -v?)", (unsigned long)(window >> 20), (unsigned long)(ARENA_MIN >> 20));
    return -1;
}

int gh_arena_extend(uintptr_t end) {
    if (end <= gh_arena.resv)
        return 0;
    if (end > gh_heap.arena_bytes)
        return -1;
#ifdef GOHEAP_SYS_HAVE_RESERVE_AT
    if (!gh_arena.incremental)
        return -1;
    /* Next to what is reserved: a full increment, or just enough. */
    uintptr_t need = end - gh_arena.resv;
    uintptr_t step = gh_align_up(end, ARENA_INC) - gh_arena.resv;
    if (step > gh_heap.arena_bytes - gh_arena.resv)
        step = gh_heap.arena_bytes - gh_arena.resv;
    for (uintptr_t n = step;; n = n / 2 > need ? gh_align_up(n / 2, PALLOC_CHUNK_BYTES) : need) {
        if (reserve_piece(gh_arena.resv, n) == 0) {
            gh_arena.resv += n;
            return 0;
        }
        if (n == need)
            break;
    }
    return -1;
#else
    return -1;
#endif
}

uintptr_t gh_arena_skip(uintptr_t need) {
#ifdef GOHEAP_SYS_HAVE_RESERVE_AT
    if (!gh_arena.incremental)
        return 0;
    /* Something else holds the address after our reservation: leave a hole (its span
     * map reads "no span") and continue further up the window. */
    uintptr_t start = gh_align_up(gh_arena.resv, ARENA_INC);
    for (unsigned k = 0; k < ARENA_SKIP_TRIES; k++) {
        uintptr_t off = start + (ARENA_INC << k);
        if (off > gh_heap.arena_bytes || need > gh_heap.arena_bytes - off)
            return 0;
        if (reserve_piece(off, need) == 0) {
            gh_arena.holes += off - gh_arena.resv;
            gh_arena.resv = off + need;
            __atomic_store_n(&gh_arena.next, off, __ATOMIC_RELAXED);
            return off;
        }
    }
#endif
    (void)need;
    return 0;
}

int gh_arena_grow(uintptr_t bytes) {
    uintptr_t at = gh_arena.next;
    if (bytes > gh_heap.arena_bytes - at)
        return -1;
    if (gh_arena_extend(at + bytes) != 0 && (at = gh_arena_skip(bytes)) == 0)
        return -1;
    /* The span map over any hole and the new chunks: mapped 4 KiB per 4 MiB, its
     * entries written by gh_arena_cover as runs there are handed out. */
    uintptr_t end = at + bytes;
    if (end > gh_arena.mapped) {
        struct mspan **m = gh_fast.spans + (gh_arena.mapped >> GOHEAP_PAGE_SHIFT);
        uintptr_t n = (end - gh_arena.mapped) >> GOHEAP_PAGE_SHIFT;
        if (gh_meta_map(m, n * sizeof(void *)) != 0)
            return -1;
        gh_arena.mapped = end;
    }
    if (gh_pagealloc_grow(&gh_heap.pages, gh_fast.base + at, bytes >> GOHEAP_PAGE_SHIFT) != 0)
        return -1; /* reserved and mapped stay so; the next try reuses them */
    __atomic_store_n(&gh_arena.next, end, __ATOMIC_RELAXED);
    gh_heap.grown += bytes;
    atomic_fetch_add_explicit(&gh_heap.heap_released, bytes, memory_order_relaxed);
    return 0;
}

void gh_arena_cover(uintptr_t end) {
    uintptr_t off = end - gh_fast.base;
    if (off > gh_arena.next) /* a cover's run (region mode): its map is written whole */
        return;
    uintptr_t pg = off >> GOHEAP_PAGE_SHIFT, np = atomic_load_explicit(&gh_fast.npages, memory_order_relaxed);
    if (pg <= np)
        return;
    for (uintptr_t i = np; i < pg; i++)
        __atomic_store_n(&gh_fast.spans[i], &gh_deadspan, __ATOMIC_RELAXED);
    atomic_store_explicit(&gh_fast.npages, pg, memory_order_release);
}
