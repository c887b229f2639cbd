/* hosted/include/goheap_platform_impl.h: the inline half of alloc/platform.h for
 * Linux user space: threads stand in for CPUs. A thread's cache slot index (+1) sits
 * in a thread-local, so pin is one TLS load and a test; see
 * hosted/platform.c and docs/alloc.md for how slots are handed out and given back. */
#ifndef GOHEAP_PLATFORM_IMPL_H
#define GOHEAP_PLATFORM_IMPL_H

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>

/* Page-table mode (mmap/munmap) with every optional hook (alloc/platform.h). */
#define GOHEAP_SYS_HAVE_MAP 1
#define GOHEAP_SYS_HAVE_NCPU 1
#define GOHEAP_SYS_HAVE_EACH_CPU 1
#define GOHEAP_SYS_HAVE_CLOCK 1
#define GOHEAP_SYS_HAVE_POLL 1
#define GOHEAP_SYS_FRAME_SIZE 4096
/* A 1 TiB window by default (GOHEAPDEBUG=arena=SIZE changes it), reserved 64 MiB at a
 * time as the heap grows (goheap_sys_reserve_at), so address-space limits and
 * valgrind (no single mapping of 64 GiB or more) only see what is used. */
#define GOHEAP_SYS_DEFAULT_ARENA (1ull << 40)
#define GOHEAP_SYS_HAVE_RESERVE_AT 1
/* GOHEAPDEBUG=ncpu=N sets the number of exclusive cache slots (hosted/platform.c). */
#define GOHEAP_SYS_HAVE_NCPU_KNOB 1
/* efence's guard pages as guard regions (MADV_GUARD_INSTALL, Linux 6.13), when the
 * running kernel has them. */
#define GOHEAP_SYS_HAVE_GUARD 1
/* realloc moves large objects with mremap (hosted/vm.c, Linux 5.7's
 * MREMAP_DONTUNMAP). */
#define GOHEAP_SYS_HAVE_REMAP 1
/* Heap profiles (hosted/platform.c): thread stack bounds for the frame-pointer walk,
 * /proc/self/maps for pprof, GOHEAPDEBUG=memprofile=PATH written at exit and on SIGUSR2. */
#define GOHEAP_SYS_HAVE_STACK_BOUNDS 1
#define GOHEAP_SYS_HAVE_PROFILE_MAPS 1
#define GOHEAP_SYS_HAVE_PROFILE_DUMP 1

/* Test-and-test-and-set spinlock that yields the CPU after a short spin: hosted
 * threads can be preempted while holding it. */
typedef struct {
    _Atomic uint32_t v;
} goheap_lock_t;
/* 0: the thread owns its slot (nothing to undo); k > 0: overflow slot k-1 is locked. */
typedef unsigned goheap_pin_t;

/* initial-exec works in an LD_PRELOADed library; the static library (linked into
 * executables only) is built with local-exec, one instruction shorter. */
#ifndef GOHEAP_HOSTED_TLS_MODEL
#define GOHEAP_HOSTED_TLS_MODEL "initial-exec"
#endif
#define GOHEAP_HOSTED_TLS __thread __attribute__((tls_model(GOHEAP_HOSTED_TLS_MODEL)))
/* The thread's slot, or GOHEAP_HOSTED_NO_SLOT before it has one. */
#define GOHEAP_HOSTED_NO_SLOT 0xffffffffu
extern GOHEAP_HOSTED_TLS unsigned goheap_hosted_slot;
/* Results of the last pin_slow of this thread: the slot, and what unpin must undo
 * (see goheap_pin_t). Passed back in thread-locals because a preserve_most function
 * cannot return a value in a register (it must preserve them all). */
extern GOHEAP_HOSTED_TLS unsigned goheap_hosted_ret, goheap_hosted_saved;
/* preserve_most: the rare call clobbers no register the fast path keeps live, so the
 * fast paths need no callee-saved spills. Also on unpin_slow (an overflow slot's
 * unlock): the slow paths that unpin before returning (malloc's word step, the owner's
 * free into a span holding a sample, as it was then) kept three registers saved for it (callgrind, 2
 * threads: larson 58.6 -> 58.4, pareto 55.1 -> 55.0, glibcthread 52.2 -> 52.0 a pair). */
#if defined(__x86_64__) && defined(__clang__)
#define GOHEAP_HOSTED_SLOWCC __attribute__((preserve_most))
#else
#define GOHEAP_HOSTED_SLOWCC
#endif
GOHEAP_HOSTED_SLOWCC void goheap_hosted_pin_slow(void);
GOHEAP_HOSTED_SLOWCC void goheap_hosted_unpin_slow(goheap_pin_t saved);
void goheap_hosted_lock_slow(goheap_lock_t *l);
void goheap_hosted_poll(unsigned cpu);
extern _Atomic uint32_t goheap_hosted_pending;

static inline unsigned goheap_sys_pin(goheap_pin_t *saved) {
    unsigned s = goheap_hosted_slot;
    if (__builtin_expect(s != GOHEAP_HOSTED_NO_SLOT, 1)) {
        *saved = 0;
        return s;
    }
    goheap_hosted_pin_slow();
    *saved = goheap_hosted_saved;
    return goheap_hosted_ret;
}

/* The fast paths' pin: a thread that has no slot yet fails here (GOHEAP_PIN_FAILED ==
 * GOHEAP_HOSTED_NO_SLOT) and the core's slow path pins it properly. Never an overflow
 * slot, so unpin(0) folds away. */
#define GOHEAP_SYS_HAVE_PIN_FAST 1
static inline unsigned goheap_sys_pin_fast(goheap_pin_t *saved) {
    *saved = 0;
    return goheap_hosted_slot;
}

/* No goheap_sys_pin_cpu: pin and unpin cost a thread-local load and nothing here, and
 * a pin passed on as an argument is no longer known to be 0, so every unpin after it
 * would test it (callgrind, xmalloc, 2 threads: 135 -> 144 instructions per pair). */

/* The fast paths' per-slot pointer (platform.h, GOHEAP_SYS_HAVE_LOCAL): the cache of
 * the thread's exclusive slot, kept in a thread-local next to the slot index, so
 * malloc finds its cache in one TLS load and needs no "has a slot" test: a thread
 * without an exclusive slot (new, exiting, or on an overflow slot) sees the core's
 * empty cache, whose spans have no free slot, and takes the slow path. Set when a
 * thread takes a slot (hosted/platform.c) and when the core creates the slot's cache
 * (goheap_sys_set_local); reset at thread exit. */
#define GOHEAP_SYS_HAVE_LOCAL 1
#define GOHEAP_HOSTED_MAX_SLOTS 4096
extern GOHEAP_HOSTED_TLS void *goheap_hosted_local;
extern void *goheap_hosted_slot_local[GOHEAP_HOSTED_MAX_SLOTS];
static inline void *goheap_sys_pin_local(goheap_pin_t *saved) {
    *saved = 0;
    return goheap_hosted_local;
}
static inline void goheap_sys_set_local(unsigned cpu, void *p) {
    goheap_hosted_slot_local[cpu] = p; /* for whichever thread takes the slot later */
    if (cpu == goheap_hosted_slot)
        goheap_hosted_local = p;
}

/* Tests only (tests/host/test_core_fork.c): when set, goheap_sys_map calls it first,
 * with the range, on the mapping thread (e.g. to hold a large malloc inside its
 * unpinned map while another thread forks), as the kernel's kplat_map_test_hook.
 * NULL otherwise. */
extern void (*goheap_hosted_map_test_hook)(void *addr, size_t bytes);
/* Tests only, the same for goheap_sys_remap (realloc's zero-copy move): called first,
 * with the move's ranges, on the moving thread. NULL otherwise. */
extern void (*goheap_hosted_remap_test_hook)(void *old, void *new, size_t bytes);
/* Tests only: the mprotect calls goheap_sys_map made (hosted/vm.c, "Mapping
 * ahead"). */
extern _Atomic unsigned long goheap_hosted_map_calls;

/* Fork handlers registered before ours may allocate (hosted/platform.c, fork). */
#define GOHEAP_SYS_HAVE_FORK_SELF 1

/* ncpu, the release policy and fault reports come from the core (platform.h). */
#define GOHEAP_SYS_HAVE_CONFIGURE 1

/* The profiler's stack bounds (platform.h), inline: a sample calls it once, and out
 * of line it took ~15 instructions of call, frame and reloads for a thread-local
 * load and a test (callgrind, 256 KiB pair at the default rate). The thread's stack
 * top is looked up once (hosted/platform.c); [sp, top) is the stack. */
#define GOHEAP_SYS_STACK_BOUNDS_INLINE 1
extern GOHEAP_HOSTED_TLS uintptr_t goheap_hosted_stack_hi; /* 0: not looked up; 1: unknown */
int goheap_hosted_stack_bounds_slow(uintptr_t *lo, uintptr_t *hi, uintptr_t sp);
static inline __attribute__((always_inline)) int goheap_sys_stack_bounds(uintptr_t *lo, uintptr_t *hi) {
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0), h = goheap_hosted_stack_hi;
    if (__builtin_expect(h <= sp, 0)) /* 0, 1, or a stack this thread has left */
        return goheap_hosted_stack_bounds_slow(lo, hi, sp);
    *lo = sp;
    *hi = h;
    return 1;
}

static inline void goheap_sys_unpin(goheap_pin_t saved) {
    if (__builtin_expect(saved != 0, 0))
        goheap_hosted_unpin_slow(saved);
}

/* The core's spin-wait hint (platform.h), also the lock's between its loads. */
#define GOHEAP_SYS_HAVE_RELAX 1
static inline void goheap_sys_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#else
    __asm__ volatile("" ::: "memory");
#endif
}

static inline void goheap_sys_lock(goheap_lock_t *l) {
    if (__builtin_expect(!atomic_exchange_explicit(&l->v, 1, memory_order_acquire), 1))
        return;
    goheap_hosted_lock_slow(l);
}

#define GOHEAP_SYS_HAVE_TRYLOCK 1
static inline int goheap_sys_trylock(goheap_lock_t *l) {
    return !atomic_load_explicit(&l->v, memory_order_relaxed) &&
           !atomic_exchange_explicit(&l->v, 1, memory_order_acquire);
}

static inline void goheap_sys_unlock(goheap_lock_t *l) {
    atomic_store_explicit(&l->v, 0, memory_order_release);
}

/* A remote free's set of its remoteFree bit (platform.h): one `lock bts` on x86-64,
 * where clang 14 compiles the C11 fetch_or to a load and a `lock cmpxchg` loop (8
 * instructions more, and a second transfer of the line when another CPU writes it
 * between the load and the exchange). Elsewhere the core's C11 form. */
#if defined(__x86_64__)
/* malloc's take from its word (platform.h): bsf, whose ZF says the word was zero, and
 * the jump; an asm goto with an output (clang 11, gcc 11), i valid only when it falls
 * through. */
#define GOHEAP_SYS_HAVE_LOWEST_BIT 1
#define goheap_sys_lowest_bit_or(x, i, label) \
    __asm__ goto("bsfq %1, %0\n\tjz %l[" #label "]" : "=r"(i) : "r"((uint64_t)(x)) : "cc" : label)
#define GOHEAP_SYS_HAVE_SET_BIT 1
static inline int goheap_sys_atomic_set_bit(_Atomic uint64_t *p, unsigned i) {
    /* (a register bit offset addresses the map's word i / 64 itself) */
    _Bool was_set;
    __asm__ volatile("lock btsq %2, %0" : "+m"(*(volatile uint64_t *)p), "=@ccc"(was_set) : "r"((uint64_t)i)
                     : "memory");
    return was_set;
}
#endif

/* errno as C and POSIX want it for malloc, calloc, realloc & co. */
#define GOHEAP_SYS_HAVE_NOMEM 1
static inline void goheap_sys_nomem(void) { errno = ENOMEM; }

/* The background thread (hosted/platform.c): 0 not started, 1 running, 2 off
 * (bgthread=0, or it could not be created). */
#define GOHEAP_SYS_HAVE_BACKGROUND 1
/* Reclaim drains every slot's cache under its drain lock (alloc/mcache.h). */
#define GOHEAP_SYS_DRAIN_REMOTE 1
extern _Atomic int goheap_hosted_bg_state;
void goheap_hosted_bg_start(void);
static inline void goheap_sys_background_wanted(void) {
    if (__builtin_expect(atomic_load_explicit(&goheap_hosted_bg_state, memory_order_relaxed) == 0, 0))
        goheap_hosted_bg_start();
}

/* Runs cache flushes that goheap_sys_each_cpu queued for this slot's thread. */
static inline void goheap_sys_poll(unsigned cpu) {
    if (__builtin_expect(atomic_load_explicit(&goheap_hosted_pending, memory_order_relaxed) != 0, 0))
        goheap_hosted_poll(cpu);
}

#endif /* GOHEAP_PLATFORM_IMPL_H */
