/* hosted/vm.c: alloc/platform.h's address space for Linux user space: mmap reserves
 * the arena, mprotect maps it (ahead, a MiB at a time), madvise releases it, mremap
 * moves a large object's pages, and guard regions fence efence's objects. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "goheap.h"
#include "platform.h"
#include "vm.h"

/* From goheap_hosted_vm_configure (goheap_sys_configure). */
static unsigned release_policy = GOHEAP_SYS_RELEASE_LAZY;
static unsigned fault_reports; /* efence or guardrate: freed and guard pages must fault */
static unsigned strict_commit; /* vm.overcommit_memory is 2: see goheap_sys_unmap */

/* Mapping ahead. A heap that grows maps each span's fresh pages as it takes them: one
 * mprotect per span, 62,722 calls for 512 MiB of 64 B objects (8 M mallocs, 0.29 s of
 * system time against 0.22 s with none), each one holding the process's mmap lock for
 * writing while the other threads fault their pages in. Go maps a grown chunk whole.
 * Here, where a released range stays read-write (`map_ahead`: neither efence nor
 * guardrate, whose freed pages must fault, nor strict overcommit, whose released pages
 * give their commit charge back), each large reservation keeps a frontier `rw`:
 * everything in [lo, rw) is read-write. A map below the frontier needs no call; one
 * above it maps from the frontier to MAP_AHEAD_BYTES past its end (never past the
 * reservation), so a growing heap makes a call per 0.5-1 MiB. Pages mapped ahead cost
 * address space and nothing else: untouched, they are not resident, and the core
 * counts them released until it hands them out. A map ahead stops a page short of
 * the end of the aligned 2 MiB range its request ends in, so that range turns wholly
 * read-write only when the heap's own maps reach its end, as before: with transparent
 * huge pages "always", a huge page forms no earlier than it did. A map ahead that fails
 * (RLIMIT_DATA, ENOMEM) falls back to the exact map. Where a range is made PROT_NONE
 * again (realloc's zero-copy move leaves its old range so), the frontier then comes
 * down to the range's start (ahead_lower), and the next map above it maps from there
 * again. Only reservations of at least MAP_AHEAD_MIN_RESV are
 * tracked: the arena's increments (4-64 MiB) and a window reserved whole; metadata
 * frames, reserved one by one, are mapped exactly. */
#define MAP_AHEAD_BYTES ((uintptr_t)1 << 20)
#define MAP_AHEAD_HUGE ((uintptr_t)2 << 20) /* x86_64's and a 4 KiB-granule aarch64's huge page */
#define MAP_AHEAD_PAGE ((uintptr_t)4096)
#define MAP_AHEAD_MIN_RESV ((uintptr_t)1 << 20)
#define MAP_AHEAD_RESVS 16 /* an increment adjacent to a tracked one extends it */
struct ahead_resv {
    uintptr_t lo;
    _Atomic uintptr_t hi;    /* grows when the next increment is reserved after it */
    _Atomic uintptr_t rw;    /* [lo, rw) is read-write (raised by maps, lowered by ahead_lower) */
    _Atomic unsigned long lowers; /* ahead_lower calls, each after its range turned PROT_NONE */
    _Atomic int ready;       /* lo, hi and rw written (release) */
};
static struct ahead_resv ahead_resv[MAP_AHEAD_RESVS];
static _Atomic unsigned ahead_nresv; /* claimed entries (may exceed the array) */
static unsigned map_ahead;           /* goheap_sys_configure: see above */
/* Calls made by goheap_sys_map, for tests (goheap_platform_impl.h). */
_Atomic unsigned long goheap_hosted_map_calls;

/* Records a reservation [lo, lo + bytes) of ours for mapping ahead: the arena's next
 * increment (reserved under the heap lock, right after the last) extends its entry,
 * so the arena takes one entry however far it grows; a map that reads the old end
 * maps exactly. */
static void ahead_record(uintptr_t lo, size_t bytes) {
    if (bytes < MAP_AHEAD_MIN_RESV)
        return;
    unsigned k = atomic_load_explicit(&ahead_nresv, memory_order_relaxed);
    for (unsigned i = 0; i < k && i < MAP_AHEAD_RESVS; i++) {
        struct ahead_resv *r = &ahead_resv[i];
        uintptr_t hi = lo;
        if (atomic_load_explicit(&r->ready, memory_order_acquire) &&
            atomic_compare_exchange_strong_explicit(&r->hi, &hi, lo + bytes, memory_order_release,
                                                    memory_order_relaxed))
            return;
    }
    unsigned i = atomic_fetch_add_explicit(&ahead_nresv, 1, memory_order_relaxed);
    if (i >= MAP_AHEAD_RESVS)
        return;
    struct ahead_resv *r = &ahead_resv[i];
    r->lo = lo;
    atomic_store_explicit(&r->hi, lo + bytes, memory_order_relaxed);
    atomic_store_explicit(&r->rw, lo, memory_order_relaxed);
    atomic_store_explicit(&r->ready, 1, memory_order_release);
}

/* The tracked reservation holding [a, a + n), or NULL. */
static struct ahead_resv *ahead_of(uintptr_t a, uintptr_t n) {
    unsigned k = atomic_load_explicit(&ahead_nresv, memory_order_relaxed);
    if (k > MAP_AHEAD_RESVS)
        k = MAP_AHEAD_RESVS;
    for (unsigned i = 0; i < k; i++) {
        struct ahead_resv *r = &ahead_resv[i];
        uintptr_t hi = atomic_load_explicit(&r->hi, memory_order_acquire);
        if (atomic_load_explicit(&r->ready, memory_order_acquire) && a >= r->lo && a < hi && n <= hi - a)
            return r;
    }
    return 0;
}

/* The frontier of r down to at most `to`. */
static void ahead_down(struct ahead_resv *r, uintptr_t to) {
    uintptr_t rw = atomic_load_explicit(&r->rw, memory_order_seq_cst);
    while (rw > to && !atomic_compare_exchange_weak_explicit(&r->rw, &rw, to, memory_order_seq_cst,
                                                             memory_order_seq_cst))
        ;
}

/* After [a, a + n) was made PROT_NONE again (realloc's zero-copy move, which leaves
 * its old range so, and the fallbacks below): the frontier of the reservation holding
 * it comes down to a, so no later map skips a page that faults. The caller still owns
 * the range, so no map of it runs meanwhile, and its pages reach another map only
 * through the heap lock, after this. The race is with a map above the frontier,
 * whose mprotect from the frontier up may come before the PROT_NONE, inside it:
 *   - after, not before, the PROT_NONE: a map between a lowering and the PROT_NONE
 *     mapped from a up and raised the frontier over the range again (core-large
 *     t_map_storm's children faulted in every run so);
 *   - a map raises the frontier only from the value it read (one compare-exchange),
 *     so a lowering between its read and its raise makes the raise fail;
 *   - a lowering that changes nothing (the frontier already below a: another move's
 *     range, lower still) does not make that raise fail, so every lowering counts
 *     itself in `lowers` first, and a map that raised the frontier and then finds the
 *     count moved since before its read brings the frontier back down to where its
 *     mprotect began (t_map_storm's children still faulted 1 run in ~12 without).
 * A range turned PROT_NONE after a map's second look at `lowers` is lowered over by
 * its own ahead_lower, which comes after. */
static void ahead_lower(uintptr_t a, uintptr_t n) {
    unsigned k = atomic_load_explicit(&ahead_nresv, memory_order_relaxed);
    if (k > MAP_AHEAD_RESVS)
        k = MAP_AHEAD_RESVS;
    for (unsigned i = 0; i < k; i++) {
        struct ahead_resv *r = &ahead_resv[i];
        if (!atomic_load_explicit(&r->ready, memory_order_acquire) ||
            a >= atomic_load_explicit(&r->hi, memory_order_acquire) || a + n <= r->lo)
            continue;
        atomic_fetch_add_explicit(&r->lowers, 1, memory_order_seq_cst);
        ahead_down(r, a > r->lo ? a : r->lo);
    }
}

static int map_rw(uintptr_t a, uintptr_t n) {
    atomic_fetch_add_explicit(&goheap_hosted_map_calls, 1, memory_order_relaxed);
    return mprotect((void *)a, n, PROT_READ | PROT_WRITE);
}

void *goheap_sys_reserve(size_t bytes, size_t align) {
    if (align < GOHEAP_SYS_FRAME_SIZE)
        align = GOHEAP_SYS_FRAME_SIZE;
    size_t len = bytes + align - GOHEAP_SYS_FRAME_SIZE;
    char *p = mmap(0, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    if (a > (uintptr_t)p)
        munmap(p, a - (uintptr_t)p);
    uintptr_t end = (uintptr_t)p + len;
    if (end > a + bytes)
        munmap((void *)(a + bytes), end - (a + bytes));
    ahead_record(a, bytes);
    return (void *)a;
}

void *goheap_sys_reserve_at(void *addr, size_t bytes) {
    /* MAP_FIXED_NOREPLACE (Linux 4.17): exactly there or EEXIST, never over another
     * mapping; an older kernel takes it as a hint, hence the check. */
    char *p = mmap(addr, bytes, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    if (p != addr) {
        munmap(p, bytes);
        return 0;
    }
    ahead_record((uintptr_t)p, bytes);
    return p;
}

/* Window hints: 32, 48, 64, 80 and 96 TiB, the middle of x86_64's and a 48-bit
 * aarch64's 128 TiB user half: above the executable and brk heap (< 1 TiB), below
 * the mmap area and stacks (near 128 TiB), as Go puts its arenas at 0xc000000000 and
 * up. An address space too small for one (39-bit aarch64) makes the hint fail; the
 * core then reserves the arena in one piece. */
#define WINDOW_HINT_FIRST (32ull << 40)
#define WINDOW_HINT_STEP (16ull << 40)
#define WINDOW_HINTS 5

/* ThreadSanitizer keeps its shadow where the hints point and kills the process on an
 * mmap there: under it, no hints (the core reserves the arena whole). */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GOHEAP_HOSTED_NO_HINTS 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define GOHEAP_HOSTED_NO_HINTS 1
#endif

void *goheap_sys_window_hint(unsigned i, size_t bytes) {
#ifdef GOHEAP_HOSTED_NO_HINTS
    (void)i;
    (void)bytes;
    return 0;
#endif
    if (i >= WINDOW_HINTS || bytes > WINDOW_HINT_STEP)
        return 0;
    return (void *)(uintptr_t)(WINDOW_HINT_FIRST + i * WINDOW_HINT_STEP);
}

void (*goheap_hosted_map_test_hook)(void *addr, size_t bytes);

int goheap_sys_map(void *addr, size_t bytes) {
    void (*hook)(void *, size_t) = __atomic_load_n(&goheap_hosted_map_test_hook, __ATOMIC_ACQUIRE);
    if (hook)
        hook(addr, bytes);
    /* PROT_NONE -> RW: the kernel hands out zero pages on first touch. */
    uintptr_t a = (uintptr_t)addr;
    struct ahead_resv *r = map_ahead ? ahead_of(a, bytes) : 0;
    if (r) {
        unsigned long lowers = atomic_load_explicit(&r->lowers, memory_order_seq_cst);
        uintptr_t rw = atomic_load_explicit(&r->rw, memory_order_seq_cst);
        if (a + bytes <= rw)
            return 0; /* read-write since an earlier map, and never made PROT_NONE again */
        uintptr_t end = a + bytes, hi = atomic_load_explicit(&r->hi, memory_order_relaxed);
        uintptr_t to = end > hi - MAP_AHEAD_BYTES ? hi : end + MAP_AHEAD_BYTES;
        /* Never up to the end of the huge page the request ends in: that page stays
         * short of read-write until the heap's own maps reach its end, as before. */
        uintptr_t hp = (end + MAP_AHEAD_HUGE - 1) & ~(MAP_AHEAD_HUGE - 1);
        if (to > hp - MAP_AHEAD_PAGE)
            to = end > hp - MAP_AHEAD_PAGE ? end : hp - MAP_AHEAD_PAGE;
        if (map_rw(rw, to - rw) == 0) {
            /* Everything below `to` is read-write now: raise the frontier, but only
             * from the value this map started from, and take it back down there if a
             * lowering came meanwhile (ahead_lower); if another map moved it, leave
             * it (a later map maps from there again). */
            uintptr_t from = rw;
            if (atomic_compare_exchange_strong_explicit(&r->rw, &rw, to, memory_order_seq_cst, memory_order_seq_cst) &&
                atomic_load_explicit(&r->lowers, memory_order_seq_cst) != lowers)
                ahead_down(r, from);
            return 0;
        }
    }
    return map_rw(a, bytes) == 0 ? 0 : -1;
}

void goheap_sys_unmap(void *addr, size_t bytes) {
    if (release_policy == GOHEAP_SYS_RELEASE_LAZY) {
        /* Lazy (MADV_FREE): stays mapped, the kernel may reclaim it under pressure;
         * the core treats such pages as dirty when reused, and does not map them
         * again, so the range must stay accessible: without MADV_FREE (Linux < 4.5),
         * MADV_DONTNEED, which keeps it so. (The core asks for NOW with efence,
         * whose guard and freed pages must fault.) */
        if (madvise(addr, bytes, MADV_FREE) == 0 || madvise(addr, bytes, MADV_DONTNEED) == 0)
            return;
    }
    /* As glibc's shrink_heap: MADV_DONTNEED frees the memory at once and the pages
     * read zero again, and it splits no mapping (the core's next map of them is an
     * mprotect of RW over RW). A PROT_NONE mapping over every released run cuts the
     * heap into two mappings per run: a fragmented heap, released, used up
     * vm.max_map_count (65530), and every later mmap of the process failed. */
    int saved = errno;
    if (!fault_reports && !strict_commit && madvise(addr, bytes, MADV_DONTNEED) == 0)
        return;
    errno = saved;
    /* efence and guardrate (later touches must fault) and strict overcommit (the
     * commit charge must go back): a fresh PROT_NONE mapping over the range. That
     * splits the mapping around it, and fails (ENOMEM, nothing changed) once the
     * process has vm.max_map_count mappings; the core takes the pages as released,
     * reading zero, so then drop them with MADV_DONTNEED. */
    if (mmap(addr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
        if (madvise(addr, bytes, MADV_DONTNEED) != 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "goheap: cannot release %p (+%zu): mmap and madvise failed (errno %d)",
                     addr, bytes, errno);
            goheap_sys_panic(msg);
        }
        errno = saved;
    } else if (map_ahead) {
        ahead_lower((uintptr_t)addr, bytes); /* (MADV_DONTNEED failed above) */
    }
}

/* realloc's zero-copy move (alloc/platform.h, goheap_sys_remap): one mremap moves
 * old's pages onto new, replacing whatever new held (MREMAP_FIXED); MREMAP_DONTUNMAP
 * (Linux 5.7) leaves old mapped, empty, so no hole opens there, and old then becomes
 * a fresh PROT_NONE mapping as in an unmap. The kernel unmaps new before it looks at
 * old (mm/mremap.c), so a call that fails after that (old spanning two mappings that
 * did not merge, ENOMEM) leaves a hole at new for an instant: it is filled again at
 * once with MAP_FIXED_NOREPLACE, which never replaces a mapping; if another thread's
 * mmap took part of it meanwhile (the heap's window lies far from where the kernel
 * places mappings, 32 TiB and up, so only a MAP_FIXED could), the heap stops with a
 * message rather than hand out that memory. A kernel without DONTUNMAP refuses with
 * EINVAL before touching anything: remaps stop there (the core copies). */
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
static _Atomic int remap_off;

void (*goheap_hosted_remap_test_hook)(void *old, void *new, size_t bytes);

int goheap_sys_remap(void *old, void *new, size_t bytes) {
    void (*hook)(void *, void *, size_t) = __atomic_load_n(&goheap_hosted_remap_test_hook, __ATOMIC_ACQUIRE);
    if (hook)
        hook(old, new, bytes);
    if (atomic_load_explicit(&remap_off, memory_order_relaxed))
        return GOHEAP_SYS_REMAP_CANNOT;
    void *r = mremap(old, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, new);
    if (r == MAP_FAILED) {
        int e = errno;
        void *f = mmap(new, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                       -1, 0);
        if (map_ahead)
            ahead_lower((uintptr_t)new, bytes); /* the hole refilled PROT_NONE */
        if (f != MAP_FAILED && f != new)
            munmap(f, bytes); /* a kernel before 4.17 took it as a hint */
        /* EEXIST: new is still mapped, wholly (the call failed before unmapping it) or
         * in part (a hole refilled by someone else); MADV_NORMAL fails with ENOMEM on
         * any unmapped page. */
        if (f != new && madvise(new, bytes, MADV_NORMAL) != 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "goheap: mremap failed (errno %d) and left a hole at %p (+%zu) that "
                     "another mapping took", e, new, bytes);
            goheap_sys_panic(msg);
        }
        if (e == EINVAL)
            atomic_store_explicit(&remap_off, 1, memory_order_relaxed);
        return GOHEAP_SYS_REMAP_CANNOT;
    }
    mmap(old, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (map_ahead)
        ahead_lower((uintptr_t)old, bytes);
    return 0;
}

/* Guard regions (Linux 6.13): page-table markers that fault on any access, inside
 * an existing mapping, so none is split (an unmapped page splits one, and a process
 * may have vm.max_map_count, 65530 by default). Installing drops the pages' memory. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

int goheap_sys_guard(void *addr, size_t bytes) {
    /* EINVAL on an older kernel. An accidental success of advice 102 on some other
     * kernel cannot pass unnoticed: efence's tests fault a guard page at once. */
    return madvise(addr, bytes, MADV_GUARD_INSTALL) == 0 ? 0 : -1;
}

void goheap_sys_unguard(void *addr, size_t bytes) {
    madvise(addr, bytes, MADV_GUARD_REMOVE);
}

void goheap_hosted_vm_configure(unsigned release, unsigned faults, int strict) {
    release_policy = release;
    fault_reports = faults;
    strict_commit = strict != 0;
    map_ahead = !fault_reports && !strict_commit;
}
