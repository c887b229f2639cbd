/* include/goheap.h: goheap's public API. Go's memory allocator, ported to C as a
 * freestanding allocator with explicit free. Every name carries the goheap_ prefix;
 * the hosted LD_PRELOAD library and the kernel build also export the standard names.
 */
#ifndef GOHEAP_H
#define GOHEAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
/* The shared library is built with hidden visibility; these names are its API. */
#pragma GCC visibility push(default)

/* Error codes returned by goheap_posix_memalign (Linux values; the hosted shim
 * also stores them in errno). */
#define GOHEAP_EINVAL 22
#define GOHEAP_ENOMEM 12

/* ---- Initialisation --------------------------------------------------------------- */
struct goheap_config {
    /* The heap's window of address space, in bytes (0: the platform default, 1 TiB
     * hosted and in the kernel). Reserved in 64 MiB increments as the heap grows
     * where the platform can place them (hosted), else whole at init. */
    size_t arena_bytes;
    /* GODEBUG-style knobs, e.g. "scavtrace=1,allocfreetrace=1,efence=1,debug=2,
     * madvdontneed=1,memlimit=512M,guardrate=1000,scavenge=eager". May be NULL. */
    const char *knobs;
};
/* Called once, before any other call (the hosted build calls it lazily; a later call
 * returns 0 and changes nothing, and one after goheap_init_region is refused with
 * GOHEAP_INIT_BADREGION and a log line). Returns 0;
 * GOHEAP_INIT_BADKNOBS when the heap is up but some knob tokens were rejected (each
 * was logged by name with its accepted range; every valid token still applies;
 * goheap_knobs_error() returns the first message); or GOHEAP_INIT_NOSPACE when no
 * address space at all could be reserved (logged with what was asked for). The
 * arena= knob overrides arena_bytes. */
#define GOHEAP_INIT_NOSPACE (-1)
#define GOHEAP_INIT_BADKNOBS (-2)
int goheap_init(const struct goheap_config *cfg);

/* Region mode: the whole heap, metadata included, inside [base, base + len), memory
 * the caller has already mapped (readable, writable) and gives to goheap for good.
 * No goheap_sys_reserve/map/unmap is used; released pages stay backed and are only
 * marked dirty. The first goheap_overhead(len) bytes (about 0.8% plus 0.5 MiB) hold the
 * metadata; the rest is heap. flags: 0. Returns 0, GOHEAP_INIT_NOSPACE when the region
 * is too small, or GOHEAP_INIT_BADREGION (bad arguments, already initialised); every
 * failure is logged with its reason. Call once, instead of goheap_init. */
#define GOHEAP_INIT_BADREGION (-3)
int goheap_init_region(void *base, size_t len, unsigned flags);
/* Bytes of a len-byte region that goheap_init_region keeps for metadata and page
 * rounding (an upper bound whatever the region's alignment). */
size_t goheap_overhead(size_t len);
/* Region mode: adds [base, base + len), mapped memory given for good (anywhere: below,
 * above or next to the others, no alignment needed), to the running heap, like
 * ukalloc's addmem; its first goheap_overhead(len) bytes at most hold its metadata.
 * Objects never straddle two regions. At most 16 regions per heap, the first
 * included. flags: 0. Returns 0, GOHEAP_INIT_NOSPACE when the region is too small,
 * or GOHEAP_INIT_BADREGION (bad arguments, not in region mode, overlapping a region
 * given before, a 17th region); every failure is logged, and leaves the memory
 * untouched. May be called while other CPUs allocate. */
int goheap_add_region(void *base, size_t len, unsigned flags);
const char *goheap_knobs_error(void);

/* ---- Allocation ------------------------------------------------------------------- */
/* malloc/calloc/realloc results are 16-byte aligned for sizes >= 16 (max_align_t). */
void *goheap_malloc(size_t size);
void goheap_free(void *p);
void *goheap_calloc(size_t nmemb, size_t size);           /* overflow-checked */
void *goheap_realloc(void *p, size_t size);                /* in place when the class fits */
void *goheap_reallocarray(void *p, size_t nmemb, size_t size);
void *goheap_aligned_alloc(size_t alignment, size_t size); /* NULL on a bad alignment */
int goheap_posix_memalign(void **out, size_t alignment, size_t size); /* 0, EINVAL, ENOMEM */
/* glibc's rules: alignment 0 is plain malloc, one not a power of two is rounded up
 * to one (24 -> 32), above SIZE_MAX/2+1 gives NULL (the shim sets EINVAL). */
void *goheap_memalign(size_t alignment, size_t size);
size_t goheap_usable_size(const void *p);                  /* 0 for NULL */

/* Flags for goheap_malloc_flags. */
#define GOHEAP_NOSCAN     0x1u /* pointer-free: sizes < 16 B may take the tiny allocator */
#define GOHEAP_ZERO       0x2u /* return zeroed memory */
#define GOHEAP_ALIGN8     0x4u /* 8-byte alignment suffices: Go's 8/24/48.. B classes allowed */
void *goheap_malloc_flags(size_t size, unsigned flags);

/* ---- Cache and memory control ------------------------------------------------------ */
void goheap_flush(void);            /* return the current CPU's cached spans and pages */
void goheap_free_os_memory(void);   /* flush every CPU, sweep, release all free pages
                                     * (hosted: after a running background step) */
/* Lazy release (madvdontneed=0) on a platform that reclaims (alloc/platform.h:
 * GOHEAP_SYS_LAZY_RECLAIM, the kernel): unmaps up to `bytes` (rounded up to 8 KiB
 * pages) of pages the heap released lazily and kept mapped, so their frames go back
 * to the system; returns the bytes unmapped (0 elsewhere, and when none is left
 * outside the CPUs' page caches). For the platform's frame allocator when it runs
 * short: thread context, interrupts on, no goheap, page-table or frame lock held. */
size_t goheap_reclaim_lazy(size_t bytes);
/* Soft memory limit in bytes (like GOMEMLIMIT); returns the previous limit. A negative
 * argument only queries. INT64_MAX means no limit (the default). */
int64_t goheap_set_memory_limit(int64_t limit);
/* One paced step of background scavenging; the kernel calls it from idle loops or a
 * timer, the hosted build from a background thread. Cheap when there is nothing to do. */
void goheap_background_work(void);
/* For a background thread: nanoseconds it may sleep before goheap_background_work has
 * something to do again (the pacing's next step after a step that worked, else the
 * one-second reclaim period). */
uint64_t goheap_background_sleep_ns(void);

/* ---- Fork ------------------------------------------------------------------------------
 * Around fork() in a process with several threads (pthread_atfork order): prepare
 * takes every allocator lock in class order, so a fork while another thread holds one
 * cannot leave the child deadlocked; parent and child release them. The hosted build
 * registers them (after its own slot locks); a hosted embedder with its own fork
 * wrapper calls them itself. No-ops before goheap_init. Between prepare and
 * parent/child, the thread that called prepare may allocate, and call
 * goheap_free_os_memory and goheap_validate (other fork handlers do), where the
 * platform defines goheap_sys_fork_self (alloc/platform.h). */
void goheap_fork_prepare(void);
/* Optional, before goheap_fork_prepare and before any lock of the embedder's own that
 * a thread may hold while it allocates (hosted: its overflow slot locks): waits for
 * another thread's fork to end (forks are serialised, from this hold to their parent
 * handler), for a running background step (goheap_background_work) and for a
 * realloc's zero-copy move in its page-table move, and holds off new ones until
 * parent/child; prepare takes it itself when it was not called (a platform that calls
 * both defines goheap_sys_fork_self, by which the second call knows its own fork). */
void goheap_fork_hold_background(void);
void goheap_fork_parent(void);
/* In the child (one thread): besides releasing the locks, gives back to the heap the
 * large allocations, realloc growths and zero-copy realloc destinations other threads
 * were mapping at the fork (with no lock held: their threads are gone), so the
 * child's heap is whole. */
void goheap_fork_child(void);
/* In the child, after goheap_fork_child, for each CPU (hosted: thread slot) whose
 * cache a thread that is not in the child was using at the fork, or may have been
 * (an owner, or another thread working on it for the owner): the platform never pins
 * a thread on it again, and the next reclaim pass (goheap_free_os_memory, the last
 * resort, the memory limit, a background step, a heap growth) gives back whatever
 * that cache holds: its spans, page cache, grow window and large span cache. */
void goheap_fork_child_gone(unsigned cpu);

/* ---- Statistics (MemStats-like; counters are per-CPU and summed on read) ------------ */
#define GOHEAP_NUM_SIZE_CLASSES 68
/* Room for the lock classes of include/goheap_lockclass.h (GOHEAP_LC_COUNT <= this). */
#define GOHEAP_LOCK_CLASSES_MAX 16
struct goheap_memstats {
    uint64_t alloc, total_alloc, sys, mallocs, frees;
    uint64_t heap_alloc, heap_sys, heap_idle, heap_inuse, heap_released, heap_objects;
    uint64_t mspan_inuse, mspan_sys, mcache_inuse, mcache_sys, other_sys;
    uint64_t tiny_allocs;
    struct { uint32_t size; uint64_t mallocs, frees; } by_size[GOHEAP_NUM_SIZE_CLASSES];
    /* lockstats=1 (zero otherwise): per lock class (include/goheap_lockclass.h), summed
     * over CPUs: acquisitions, those that found the lock held, and the time they
     * waited (ns; needs the platform's goheap_sys_trylock). */
    struct { uint64_t acquires, contended, wait_ns; } locks[GOHEAP_LOCK_CLASSES_MAX];
    /* Lazy release (madvdontneed=0): of heap_released, the bytes released lazily and
     * not reused or reclaimed since (kernel: still mapped; hosted: MADV_FREE, which
     * the OS may have taken already), and the bytes goheap_reclaim_lazy unmapped,
     * ever. Neither counts against the memory limit. 0 in eager mode. */
    uint64_t heap_released_lazy, lazy_reclaimed;
    /* goheap_leak_scan: scans completed, and the leaks the last one reported. */
    uint64_t leak_scans, leak_objects, leak_bytes;
    /* realloc: bytes it copied (every move that copies), and bytes it moved without
     * copying through the platform's page tables (goheap_sys_remap: large objects of
     * >= 1 MiB where the platform has the hook; docs/alloc.md, "realloc"). */
    uint64_t realloc_copied, realloc_remapped;
};
void goheap_read_memstats(struct goheap_memstats *out);

/* Go runtime/metrics names, e.g. "/memory/classes/heap/objects:bytes",
 * "/gc/heap/allocs:objects". Returns how many of `n` entries were filled. */
struct goheap_metric { const char *name; uint64_t value; };
size_t goheap_read_metrics(struct goheap_metric *out, size_t n);

/* Slow validator: walks every span, recounts, and checks the fast counters and Go's
 * invariants (HeapIdle + HeapInuse == HeapSys, HeapReleased <= HeapIdle, ...).
 * Returns 0 when everything agrees; otherwise logs the first mismatch and returns -1.
 * Call it while no other thread (CPU) is inside an allocator call: an allocation,
 * free or realloc in flight (a large one maps for up to ~100 ms with no lock held)
 * is counted but not yet in a span, and the recount says so. That holds in a fork
 * handler too, for the threads inside such a call when fork was called; in the
 * child, goheap_fork_child settles their large maps and moves (docs/alloc.md, fork). */
int goheap_validate(void);

/* efence/guardrate: describes the object a faulting address belongs to (overflow into
 * its guard page, use after free), for a fault handler. Writes one line into buf and
 * returns its length, or 0 when the address is not near an efence object. */
size_t goheap_efence_describe(uintptr_t addr, char *buf, size_t n);

/* ---- Heap profile (docs/profiling.md) ----------------------------------------------
 * Allocations are sampled about once per memprofilerate= bytes (Go's MemProfileRate:
 * default 512 KiB, 0 off, 1 every allocation) with their frame-pointer stacks.
 * goheap_write_heap_profile writes Go's legacy text heap profile ("heap profile: ...
 * @ heap/<2*rate>", then one line per stack), which `go tool pprof` reads and scales
 * as Go does, through w(ctx, buf, len), which returns 0 on success; the platform may
 * append its mappings (hosted: /proc/self/maps). Returns 0, GOHEAP_EINVAL (w NULL) or
 * -1 (w failed, or the profiler is compiled out). Never call it from a signal handler:
 * goheap_profile_request (async-signal-safe) asks for the platform's dump at the next
 * slow path or background step instead (hosted: SIGUSR2 with memprofile=PATH). */
typedef int (*goheap_profile_writer)(void *ctx, const char *buf, size_t len);
int goheap_write_heap_profile(goheap_profile_writer w, void *ctx);
void goheap_profile_request(void);
/* The allocation site of a sampled object starting at p: up to max return addresses,
 * innermost first, into pcs, and its size into *size (may be NULL); returns the frame
 * count, 0 when p is not a live sampled object. */
unsigned goheap_profile_site(const void *p, uintptr_t *pcs, unsigned max, size_t *size);
/* ---- Leak scan (kmemleak's idea; the kernel build: docs/leakscan.md) ---------------
 * goheap_leak_scan: a conservative mark phase from the system's roots (kernel data
 * and bss, every CPU's live stack and registers, goheap_register_root ranges) through
 * every object not allocated GOHEAP_NOSCAN, interior pointers included. An allocated
 * object nothing reaches is reported once it was unreferenced, with the same contents
 * (checksum), in two consecutive scans: the first scan after a leak reports nothing.
 * cb(leak, ctx) is called for each, after the scan, with no lock held; cb may be NULL.
 * Safe while other CPUs allocate and free; it never frees anything. Returns the number
 * reported, or a negative error: GOHEAP_LEAK_NOROOTS (the platform has no root hooks:
 * the hosted build), GOHEAP_LEAK_BUSY (another scan is running), GOHEAP_LEAK_NOMEM (no
 * memory for its bitmaps), GOHEAP_LEAK_INCOMPLETE (a stack it could not copy whole).
 * Tiny objects (GOHEAP_NOSCAN, < 16 B) are reported as their 16 B block. */
struct goheap_leak {
    void *addr;      /* the object (tiny objects: their 16 B block) */
    size_t size;     /* its size class's size (large: the size asked for) */
    uintptr_t site;  /* the allocating caller where one was recorded, else 0 */
    unsigned scans;  /* consecutive scans it was found unreferenced (>= 2); 2 = new */
};
#define GOHEAP_LEAK_NOROOTS (-1)
#define GOHEAP_LEAK_BUSY (-2)
#define GOHEAP_LEAK_NOMEM (-3)
#define GOHEAP_LEAK_INCOMPLETE (-4)
long goheap_leak_scan(void (*cb)(const struct goheap_leak *leak, void *ctx), void *ctx);
/* Extra roots: [p, p + len) is scanned like static data until unregistered (at most
 * 64 ranges). 0, GOHEAP_EINVAL (NULL, len 0 or not 8-byte aligned), GOHEAP_ENOMEM
 * (table full). unregister takes the p of a registered range and returns 0, or
 * GOHEAP_EINVAL when none matches; once it returns, no scan reads the range. */
int goheap_register_root(const void *p, size_t len);
int goheap_unregister_root(const void *p);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* GOHEAP_H */
