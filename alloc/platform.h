/* alloc/platform.h: the porting interface. Everything the allocator core needs from
 * the system below it, and nothing more. A hobby OS that implements these functions
 * (and ships a goheap_platform_impl.h on its include path) can adopt goheap.
 *
 * Terms: a *frame* is the platform's hardware page (GOHEAP_SYS_FRAME_SIZE, 4 KiB on
 * both our targets); the allocator's own *page* is 8 KiB (two frames). This header
 * only speaks in bytes and frames.
 *
 * Two modes (docs/PORTING.md):
 *   - page-table mode, goheap_init(): the core reserves address space and maps and
 *     unmaps it through reserve/map/unmap below. The platform defines
 *     GOHEAP_SYS_HAVE_MAP and provides those three.
 *   - region mode, goheap_init_region(base, len, flags): the heap, metadata included,
 *     lives in memory the porter already mapped. reserve/map/unmap are not used (a
 *     platform without GOHEAP_SYS_HAVE_MAP need not define them); released pages are
 *     only marked dirty and zeroed when reused for zeroed memory.
 * Optional hooks, each announced by a macro (absent: the default says what is lost):
 *   GOHEAP_SYS_HAVE_NCPU      goheap_sys_ncpu     (absent: GOHEAP_SYS_NCPU slots, a
 *                             constant the platform may define, else one)
 *   GOHEAP_SYS_HAVE_EACH_CPU  goheap_sys_each_cpu (absent: other CPUs' caches are
 *                             flushed at their own next refill, and the memory limit
 *                             and the last resort see only the caller's cache)
 *   GOHEAP_SYS_HAVE_CLOCK     goheap_sys_nanotime (absent, or a clock that returns 0:
 *                             background release is not paced to 1% of a CPU; each
 *                             goheap_background_work call releases at most one 64 KiB
 *                             step, and the retained-heap goal has no 10 s peak window)
 *   GOHEAP_SYS_HAVE_POLL      goheap_sys_poll     (absent: nothing deferred to poll)
 *   GOHEAP_SYS_HAVE_REMAP     goheap_sys_remap    (absent: a large realloc that
 *                             moves copies its bytes)
 *
 * The platform supplies <goheap_platform_impl.h> (the amalgamated build/goheap.c
 * includes "goheap_config.h" instead), which must define:
 *   - GOHEAP_SYS_FRAME_SIZE      hardware page size in bytes (a power of two <= 8192)
 *   - goheap_lock_t              a spinlock type, zero-initialisable
 *   - goheap_pin_t               whatever pin must hand to unpin (e.g. saved IRQ flags)
 *   - the static inline functions marked "inline" below (lock, unlock, pin, unpin,
 *     and poll if it has one), so the fast path pays no function call for them.
 * and the out-of-line goheap_sys_log and goheap_sys_panic. That is the minimum: four
 * functions that do something (lock, unlock, log, panic) on one CPU where pin may
 * return 0 and unpin do nothing; six on SMP, where pin and unpin do real work and
 * GOHEAP_SYS_NCPU gives the number of CPU slots.
 * It may define GOHEAP_SYS_DEFAULT_ARENA, the arena size used when goheap_config
 * and the arena= knob give none (core default: 16 GiB), and
 * GOHEAP_SYS_HAVE_NCPU_KNOB when its goheap_sys_ncpu honours the ncpu= knob (the
 * core refuses that knob, by name, elsewhere).
 * The remaining functions may be inline there or defined out of line.
 * The platform also provides memset, memcpy and memmove: the core uses
 * __builtin_memset/__builtin_memcpy, which the compiler may lower to calls. (The
 * amalgamated build/goheap.c brings weak copies of the three, dropped when
 * GOHEAP_SYS_HAVE_MEMFUNCS is defined: docs/PORTING.md.)
 *
 * Implementations here: kernel/goheap_platform.c (bare metal, both arches, worked
 * example in docs/PORTING.md) and hosted/ (Linux: mmap/madvise, threads as CPUs).
 */
#ifndef GOHEAP_PLATFORM_H
#define GOHEAP_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include <goheap_platform_impl.h>

/* ---- Address space ------------------------------------------------------------
 * The core reserves address space in large pieces and backs it on demand.
 *
 * goheap_sys_reserve: reserve `bytes` of address space aligned to `align` (a power
 *   of two, at most 1 GiB). Nothing is backed: touching it faults. `bytes` and the
 *   result are multiples of GOHEAP_SYS_FRAME_SIZE. Returns NULL when the platform
 *   has no address space left. Reservations are never given back.
 *   May be called pinned or unpinned, with or without goheap locks held.
 *
 * goheap_sys_map: back [addr, addr+bytes) inside a reservation with zero-filled,
 *   readable, writable, non-executable memory. `addr` and `bytes` are frame-aligned
 *   and the range is currently unbacked. Returns 0 on success. Returns -1 when memory
 *   is exhausted, and then leaves the whole range unbacked (no partial success).
 *   May be called pinned and with goheap locks held (it must not wait on other CPUs).
 *
 * goheap_sys_unmap: give the backing of [addr, addr+bytes) back to the system. The
 *   range stays reserved; touching it afterwards faults, and a later map of it reads
 *   zero. On bare metal this clears the page-table entries, shoots down the TLBs of
 *   every CPU in one batch and frees the frames. Because a shootdown waits for other
 *   CPUs, the caller must NOT be pinned and must hold NO goheap lock.
 */
#ifdef GOHEAP_SYS_HAVE_MAP
void *goheap_sys_reserve(size_t bytes, size_t align);

/* Optional, when GOHEAP_SYS_HAVE_RESERVE_AT is defined (hosted/): reservation in
 * increments instead of the whole arena at init (an address-space limit such as
 * RLIMIT_AS then only sees what the heap uses).
 *
 * goheap_sys_reserve_at: reserve exactly [addr, addr+bytes) (frame-aligned) if all of
 *   it is free address space, and return addr; otherwise NULL, never moving or
 *   replacing another mapping. Same rules as goheap_sys_reserve otherwise.
 *
 * goheap_sys_window_hint: the i-th candidate address (4 MiB aligned) for a window of
 *   `bytes` the heap will fill upward, far from where the system places other
 *   mappings (Go's arena hints); NULL when there are no more. The core tries them in
 *   order and falls back to goheap_sys_reserve of the whole arena. */
#ifdef GOHEAP_SYS_HAVE_RESERVE_AT
void *goheap_sys_reserve_at(void *addr, size_t bytes);
void *goheap_sys_window_hint(unsigned i, size_t bytes);
#endif
int goheap_sys_map(void *addr, size_t bytes);
void goheap_sys_unmap(void *addr, size_t bytes);
#endif

/* Optional, when GOHEAP_SYS_HAVE_GUARD is defined (hosted/: Linux 6.13's guard
 * regions): guard pages that cost the system no mapping of their own. efence uses
 * them when they work, and goheap_sys_unmap otherwise (on Linux every unmapped page
 * inside the arena splits a mapping, and a process may have vm.max_map_count).
 *
 * goheap_sys_guard: make [addr, addr+bytes) (frame-aligned, backed by goheap_sys_map)
 *   fault on any access and give its memory back, like goheap_sys_unmap, without
 *   splitting a mapping. Returns 0, or -1 when the system cannot (nothing changed).
 *   Same rules as goheap_sys_unmap: unpinned, no goheap lock held.
 * goheap_sys_unguard: lift goheap_sys_guard from every guarded page of [addr,
 *   addr+bytes) (pages not guarded are left as they are): the guarded pages then hold
 *   no memory and read zero. Unpinned, no goheap lock held. */
#ifdef GOHEAP_SYS_HAVE_GUARD
int goheap_sys_guard(void *addr, size_t bytes);
void goheap_sys_unguard(void *addr, size_t bytes);
#else
static inline int goheap_sys_guard(void *addr, size_t bytes) {
    (void)addr;
    (void)bytes;
    return -1;
}
static inline void goheap_sys_unguard(void *addr, size_t bytes) {
    (void)addr;
    (void)bytes;
}
#endif

/* Optional, when GOHEAP_SYS_HAVE_REMAP is defined (hosted/: mremap; the kernel: its page
 * tables), page-table mode only: realloc's zero-copy move of a large object
 * (alloc/remap.c, at least GH_REMAP_MIN_BYTES).
 *
 * goheap_sys_remap: move the backing of [old, old+bytes) to [new, new+bytes) without
 *   copying it. Both are frame-aligned ranges of the heap's reservation that do not
 *   overlap; every frame of old is backed (by goheap_sys_map); new is unbacked (never
 *   mapped, or given back by goheap_sys_unmap, under either release policy). On
 *   success (0) new reads what old held, and old is unbacked as after
 *   goheap_sys_unmap with GOHEAP_SYS_RELEASE_NOW: touching it faults, a later map
 *   reads zero, and no CPU's TLB still translates it when the call returns (one
 *   shootdown). On failure nothing changed (old backed and intact, new unbacked):
 *   GOHEAP_SYS_REMAP_NOMEM when the system ran out of memory for the move (page-table
 *   pages for new: the core then fails the realloc, NULL, the old block intact),
 *   GOHEAP_SYS_REMAP_CANNOT for anything else (the core copies instead). The address
 *   space stays reserved throughout: no other mapping of the system can land in
 *   either range. Same caller rules as goheap_sys_unmap: unpinned, no goheap lock. */
#define GOHEAP_SYS_REMAP_CANNOT (-1)
#define GOHEAP_SYS_REMAP_NOMEM (-2)
#ifdef GOHEAP_SYS_HAVE_REMAP
int goheap_sys_remap(void *old, void *new, size_t bytes);
#endif

/* ---- CPUs and pinning ---------------------------------------------------------
 * goheap_sys_ncpu: the number of per-CPU cache slots, fixed after goheap_init.
 *   CPU indices are dense: 0 <= cpu < goheap_sys_ncpu().
 *
 * goheap_sys_pin (inline): pin the caller to its CPU slot and return the slot index.
 *   Until the matching unpin, no other code may run on that slot: the kernel masks
 *   interrupts, a hosted build gives each thread a slot of its own. Pins do not nest.
 *   Must be cheap: it is on the malloc/free fast path. Never run CPUID or read the
 *   APIC/MPIDR here; read a per-CPU register (GS base, TPIDR_EL1) or a thread-local.
 *
 * goheap_sys_unpin (inline): end the pinned section begun by pin.
 *
 * goheap_sys_each_cpu: run fn(cpu, arg) once for every slot, at a moment when
 *   nothing is pinned on that slot, and return when all have run. The kernel sends an
 *   IPI (pinned code has interrupts masked, so the handler only lands between pinned
 *   sections); its slots are exactly the CPUs online when the heap started, which
 *   never go offline (docs/kernel-heap.md). The hosted build runs fn
 *   directly for slots with no live thread and, for live threads, queues it to run at
 *   that thread's next allocator slow path through goheap_sys_poll, and returns
 *   without waiting for those. Caller: unpinned, no goheap lock held. Used to flush
 *   every CPU's cache (free_os_memory, last resort).
 *
 * goheap_sys_pin_fast (inline, optional): like pin, but may return GOHEAP_PIN_FAILED
 *   instead of doing anything slow (e.g. handing a new thread its slot); the core
 *   then takes its slow path, which pins with goheap_sys_pin. On failure *saved
 *   must still hold a value goheap_sys_unpin accepts and that leaves the caller's
 *   state as it was (goheap_free unpins before its slow path). Used only by the
 *   malloc/free fast paths, so that they contain no call. A platform that defines
 *   GOHEAP_SYS_HAVE_PIN_FAST provides it; otherwise it is goheap_sys_pin.
 *
 * goheap_sys_pin_cpu (inline, optional): given the *saved value of a pin_fast that
 *   has not been unpinned yet, the slot index that pin_fast returned
 *   (GOHEAP_PIN_FAILED when it failed), read again without pinning twice. free's fast
 *   path then hands a span it does not own to the remote free still pinned, passing
 *   only the saved value: one pin per remote free instead of two (kernel: one `sti`
 *   fewer), and the fast path keeps no slot index alive. Provided when
 *   GOHEAP_SYS_HAVE_PIN_CPU is defined; otherwise the core unpins and pins again
 *   (the hosted build: its pin and unpin cost next to nothing).
 *
 * goheap_sys_pin_local / goheap_sys_set_local (inline, optional): for a platform that
 *   can keep one pointer per slot where a pin finds it in one load (a thread-local, a
 *   per-CPU word).
 *   pin_local pins like pin_fast and returns the pointer the core last passed to
 *   set_local(cpu, p) for the caller's slot, or &goheap_local_none (a core object)
 *   when there is none: no slot yet, an overflow slot, nothing set, or a context the
 *   platform refuses (the core's slow path then pins with goheap_sys_pin, which
 *   reports it; *saved is set either way). It never fails. The
 *   core calls set_local pinned on cpu when it creates that slot's cache; the platform
 *   hands the slot's pointer to whichever thread takes the slot later. malloc's fast
 *   path then needs no slot index and no failure test. Provided when
 *   GOHEAP_SYS_HAVE_LOCAL is defined (hosted/: a thread-local; kernel/: a per-CPU
 *   word); otherwise the core indexes its own
 *   table with pin_fast's result.
 *
 * goheap_sys_atomic_set_bit (inline, optional): sets bit i of the bit map at p
 *   (bit i % 64 of the word p[i / 64]) in one atomic read-modify-write of that word
 *   that is also a full barrier (seq_cst), and returns nonzero when the bit was set
 *   already. A remote free's set of its remoteFree bit (free.c). Provided when
 *   GOHEAP_SYS_HAVE_SET_BIT is defined (x86-64: `lock bts`, where clang 14 compiles
 *   the C11 fetch_or to a load and a `lock cmpxchg` loop); otherwise the core's C11
 *   form (util.h gh_atomic_set_bit).
 *
 * goheap_sys_lowest_bit_or(x, i, label) (macro, optional): sets i to the index of the
 *   lowest set bit of the 64-bit x, or jumps to label when x is 0, in two
 *   instructions where the CPU's find-first-set flags a zero source (x86-64: bsf, jz;
 *   compilers test x first and spend a third). malloc's take from its word (api.c).
 *   Provided when GOHEAP_SYS_HAVE_LOWEST_BIT is defined; otherwise the core's C form.
 *
 * goheap_sys_nomem (inline, optional): called when a malloc-family call is about to
 *   return NULL for lack of memory or an impossible size; the hosted build sets
 *   errno = ENOMEM there, so its LD_PRELOAD names can be plain aliases of goheap_*.
 *   Defined when GOHEAP_SYS_HAVE_NOMEM is; otherwise a no-op.
 *
 * goheap_sys_background_wanted (inline, optional): called by the core, unpinned with
 *   no lock held, whenever it has background work (every 1024th refill of a CPU). A
 *   platform that can run goheap_background_work from a thread of its own starts it
 *   here, once (hosted: lazily, so a short program never gets one; re-created after
 *   fork; off with the knob bgthread=0). Defined when GOHEAP_SYS_HAVE_BACKGROUND is;
 *   otherwise a no-op: the kernel calls goheap_background_work from its ticks.
 *
 * goheap_sys_poll (inline): called by the core, pinned on `cpu`, at the start of
 *   every cache refill (a safe point: no per-CPU state in flight; malloc moving to
 *   another word of its current span is no refill, but every 512th such move takes
 *   the refill, so a busy CPU polls at least that often). A platform whose
 *   each_cpu may defer work to a slot's owner runs that work here; the kernel's is
 *   empty.
 */
#if defined(GOHEAP_SYS_HAVE_NCPU)
unsigned goheap_sys_ncpu(void);
#elif defined(GOHEAP_SYS_NCPU)
static inline unsigned goheap_sys_ncpu(void) { return GOHEAP_SYS_NCPU; }
#else
static inline unsigned goheap_sys_ncpu(void) { return 1; }
#endif
static inline unsigned goheap_sys_pin(goheap_pin_t *saved);
static inline void goheap_sys_unpin(goheap_pin_t saved);
#ifdef GOHEAP_SYS_HAVE_EACH_CPU
void goheap_sys_each_cpu(void (*fn)(unsigned cpu, void *arg), void *arg);
#endif
#ifdef GOHEAP_SYS_HAVE_POLL
static inline void goheap_sys_poll(unsigned cpu);
#else
static inline void goheap_sys_poll(unsigned cpu) { (void)cpu; }
#endif
/* goheap_sys_relax (inline, optional: GOHEAP_SYS_HAVE_RELAX): the body of every loop
 * in which the core waits for another CPU's progress with no lock held (the unmap
 * gate, efence's checkers, leak roots, profile sweeps): the CPU's spin-wait hint
 * (PAUSE, YIELD). Without one a waiter also starves the CPU it waits for wherever
 * that shares its core or host thread: under QEMU's single-threaded TCG each vCPU
 * spinning without YIELD keeps the host thread for its whole time slice, and an
 * aarch64 unmapper gives the thread up at every broadcast TLBI (docs/kernel-heap.md).
 * Default: a compiler barrier. */
#ifdef GOHEAP_SYS_HAVE_RELAX
static inline void goheap_sys_relax(void);
#else
static inline void goheap_sys_relax(void) { __asm__ volatile("" ::: "memory"); }
#endif
#define GOHEAP_PIN_FAILED (~0u)
#ifndef GOHEAP_SYS_HAVE_NOMEM
static inline void goheap_sys_nomem(void) {}
#endif
#ifndef GOHEAP_SYS_HAVE_BACKGROUND
static inline void goheap_sys_background_wanted(void) {}
#endif
/* GOHEAP_SYS_DRAIN_REMOTE (optional, 0 or 1): 1 when the reclaim pass may drain other
 * CPUs' caches under their drain locks (hosted: an idle thread blocked in epoll_wait
 * never runs the step itself; the kernel: a CPU busy elsewhere or halted). A drainer
 * takes another CPU's drain lock only if it is free (goheap_sys_trylock; without it,
 * it waits). 0 (default): each CPU drains only its own cache, when it runs the
 * background step or every 1024 refills. */
#ifndef GOHEAP_SYS_DRAIN_REMOTE
#define GOHEAP_SYS_DRAIN_REMOTE 0
#endif
#ifndef GOHEAP_SYS_HAVE_PIN_FAST
static inline unsigned goheap_sys_pin_fast(goheap_pin_t *saved) { return goheap_sys_pin(saved); }
#endif
/* goheap_sys_fork_self (optional, GOHEAP_SYS_HAVE_FORK_SELF): nonzero in the thread
 * that called goheap_fork_prepare, from then until its goheap_fork_parent/child
 * returns (in the child too). Its allocations in between (other fork handlers') then
 * pass the locks prepare holds (alloc/fork.c); the platform lets it pin meanwhile
 * without waiting for a lock of its own that its fork handler holds. Called only
 * while a fork holds the locks. Without it (0) such an allocation waits forever. */
#ifdef GOHEAP_SYS_HAVE_FORK_SELF
int goheap_sys_fork_self(void);
#else
static inline int goheap_sys_fork_self(void) { return 0; }
#endif

/* ---- Leak-scan roots (optional, GOHEAP_SYS_HAVE_LEAK_ROOTS) -------------------------
 * goheap_leak_scan (alloc/leak.c) needs the system's roots; without these hooks it
 * refuses (it would call every object a leak). The hosted build has none: out of scope.
 *
 * goheap_sys_leak_roots: calls add(lo, hi, arg) for every range of static memory that
 *   may hold heap pointers (the kernel's data and bss), always mapped and readable,
 *   excluding the allocator's own statics (alloc/'s data and bss: the heap's own
 *   pointers are not roots) and the CPUs' stacks (reported by the next hook).
 *   Called unpinned, no lock held; the ranges are scanned in place.
 *
 * goheap_sys_leak_cpu_roots: called on `cpu` from inside goheap_sys_each_cpu's fn:
 *   calls add for the live part of that CPU's stack, [its stack pointer, stack top),
 *   which must hold the registers of the code it interrupted (an IPI entry saves them
 *   there) and, on the CPU that called each_cpu, the callee-saved registers of its
 *   callers (spilled by the hook). The core copies the ranges at once (the CPU runs
 *   on afterwards). Returns 0, or -1 when it cannot tell its stack (the scan fails).
 */
#ifdef GOHEAP_SYS_HAVE_LEAK_ROOTS
void goheap_sys_leak_roots(void (*add)(uintptr_t lo, uintptr_t hi, void *arg), void *arg);
int goheap_sys_leak_cpu_roots(unsigned cpu, void (*add)(uintptr_t lo, uintptr_t hi, void *arg),
                              void *arg);
#endif

/* ---- Configuration from the core (optional) ---------------------------------------
 * goheap_sys_configure: called once by goheap_init, after the knobs are parsed and
 *   before any other platform call of the heap, with what the platform must act on:
 *   - ncpu: slots the user asked for (the ncpu= knob), 0 for the platform's choice; a
 *     platform whose slots are not physical CPUs (hosted threads) sizes them by it;
 *   - release: how goheap_sys_unmap gives memory back. GOHEAP_SYS_RELEASE_NOW: at once,
 *     and touching the range faults (efence and guardrate need that, and
 *     madvdontneed=1 asks for it); GOHEAP_SYS_RELEASE_LAZY: the contents may be
 *     dropped and the backing reclaimed when the system needs it, and the range may
 *     stay accessible (hosted: MADV_FREE). A platform that always unmaps at once
 *     ignores it;
 *   - memprofile: the memprofile= knob's path (NULL when not given): write the heap
 *     profile there at exit, and on the platform's dump request (SIGUSR2 hosted);
 *   - fault_reports: nonzero when efence or guardrate is on: a fault in the heap arena
 *     should be described with goheap_efence_describe (the hosted build then installs
 *     a SIGSEGV handler; a kernel's page-fault handler can always ask).
 *   Defined when GOHEAP_SYS_HAVE_CONFIGURE is; otherwise a no-op.
 *
 * goheap_local_none (provided by the core): what goheap_sys_pin_local returns for a
 *   slot with no pointer set (see below); a platform keeping per-slot pointers starts
 *   them all at &goheap_local_none.
 */
#define GOHEAP_SYS_RELEASE_NOW 0u
#define GOHEAP_SYS_RELEASE_LAZY 1u
/* GOHEAP_SYS_LAZY_RECLAIM (optional, 0 or 1): who takes lazily released pages back.
 * 0 (default): the core releases lazily through goheap_sys_unmap under
 *   GOHEAP_SYS_RELEASE_LAZY and the system reclaims on its own (hosted: MADV_FREE).
 * 1 (page-table mode): a lazy release calls nothing: the pages stay mapped (no unmap,
 *   no shootdown; reused, they cost bookkeeping only). The platform's frame
 *   allocator, when it runs short, calls goheap_reclaim_lazy(bytes) (goheap.h) from
 *   thread context with interrupts on and no goheap, page-table or frame lock held
 *   (never from goheap_sys_map: it runs pinned with heap locks held, and the
 *   reclaim's shootdown would wait for this very CPU); the core then takes the pages
 *   out of its page allocator, calls goheap_sys_unmap on them (frames back at once),
 *   and reuses them as fresh. A frame request from any other context fails instead.
 *   The kernel sets 1. */
#ifndef GOHEAP_SYS_LAZY_RECLAIM
#define GOHEAP_SYS_LAZY_RECLAIM 0
#endif
struct goheap_sys_config {
    unsigned ncpu;
    unsigned release;
    unsigned fault_reports;
    unsigned bgthread; /* 0: never start a background thread (bgthread=0) */
    const char *memprofile; /* memprofile=PATH (platforms that write files), or NULL */
};
#ifdef GOHEAP_SYS_HAVE_CONFIGURE
void goheap_sys_configure(const struct goheap_sys_config *c);
#else
static inline void goheap_sys_configure(const struct goheap_sys_config *c) { (void)c; }
#endif
struct mcache;
extern struct mcache goheap_local_none;

/* ---- Locks (inline) -------------------------------------------------------------
 * A spinlock. A zero-filled goheap_lock_t is unlocked. Lock order checking is done
 * by the core against the system-wide class table (include/goheap_lockclass.h), not
 * here; a platform may define GOHEAP_SYS_LOCKCHECK to 1 to have the core check every
 * acquisition whatever its debug= knob says, and may check its own locks against the
 * same table with goheap_lockcheck_acquire/release. The core only takes locks while
 * pinned, so a lock holder is never interrupted by code that could take the same lock.
 */
static inline void goheap_sys_lock(goheap_lock_t *l);
static inline void goheap_sys_unlock(goheap_lock_t *l);
/* goheap_sys_trylock (inline, optional): take the lock if it is free, return nonzero
 * if taken. Used only by lock statistics (lockstats=1) to tell contended acquisitions
 * from the others; without it (GOHEAP_SYS_HAVE_TRYLOCK undefined) every acquisition
 * counts as uncontended and no wait time is measured. */
#ifndef GOHEAP_SYS_HAVE_TRYLOCK
static inline int goheap_sys_trylock(goheap_lock_t *l) {
    goheap_sys_lock(l);
    return 1;
}
#endif

/* ---- Heap profiles (optional) ------------------------------------------------------
 * goheap_sys_stack_bounds (GOHEAP_SYS_HAVE_STACK_BOUNDS): the calling thread's stack
 *   as [*lo, *hi), every byte of it readable, *lo at or below the caller's frame.
 *   Returns 0 when unknown. The profiler follows frame pointers only inside it; without
 *   the hook a sampled allocation records its caller's address only. Called unpinned
 *   or pinned, no lock held; must not allocate. A platform may define it static inline
 *   in goheap_platform_impl.h instead, with GOHEAP_SYS_STACK_BOUNDS_INLINE defined.
 * goheap_sys_profile_maps (GOHEAP_SYS_HAVE_PROFILE_MAPS): writes the mappings pprof
 *   symbolises with, in /proc/self/maps form (one "lo-hi perms offset dev inode path"
 *   line each), through w(ctx, buf, len) (0 on success); returns 0 or -1.
 * goheap_sys_profile_dump (GOHEAP_SYS_HAVE_PROFILE_DUMP): called unpinned with no
 *   lock held, at a slow path or background step after goheap_profile_request (the
 *   hosted SIGUSR2 handler's request), to write the profile where the platform keeps
 *   it (hosted: the memprofile= file).
 */
#if defined(GOHEAP_SYS_HAVE_STACK_BOUNDS) && !defined(GOHEAP_SYS_STACK_BOUNDS_INLINE)
int goheap_sys_stack_bounds(uintptr_t *lo, uintptr_t *hi);
#endif
#ifdef GOHEAP_SYS_HAVE_PROFILE_MAPS
int goheap_sys_profile_maps(int (*w)(void *ctx, const char *buf, size_t len), void *ctx);
#endif
#ifdef GOHEAP_SYS_HAVE_PROFILE_DUMP
void goheap_sys_profile_dump(void);
#endif

/* ---- Time, log, panic -----------------------------------------------------------
 * goheap_sys_nanotime: monotonic nanoseconds (TSC, CNTVCT, clock_gettime). Only
 *   differences are used (scavenger pacing, traces).
 * goheap_sys_log: write one line of text (no trailing newline in `msg`) to the
 *   console or stderr. Must be safe to call pinned.
 * goheap_sys_panic: report heap corruption and stop: a kernel panic (message,
 *   CPU, registers, backtrace), or an abort in hosted mode. Never returns. The core
 *   passes the full message, e.g. "goheap: double free of 0x... (span ... class 5)".
 */
#ifdef GOHEAP_SYS_HAVE_CLOCK
uint64_t goheap_sys_nanotime(void);
#else
static inline uint64_t goheap_sys_nanotime(void) { return 0; }
#endif
void goheap_sys_log(const char *msg);
_Noreturn void goheap_sys_panic(const char *msg);

#endif /* GOHEAP_PLATFORM_H */
