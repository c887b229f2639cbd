/* kernel/include/goheap_platform_impl.h: the inline half of the kernel's goheap
 * platform (alloc/platform.h): frame size, spinlock, and pin/unpin by masking
 * interrupts. The out-of-line half is kernel/goheap_platform.c; docs/PORTING.md. */
#ifndef KERNEL_GOHEAP_PLATFORM_IMPL_H
#define KERNEL_GOHEAP_PLATFORM_IMPL_H

#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/spinlock.h>
#include <kconfig.h>

/* The debug build checks every allocator lock against the system-wide order
 * (include/goheap_lockclass.h), whatever the debug= knob says. */
#define GOHEAP_SYS_LOCKCHECK KERNEL_DEBUG

/* Page-table mode with every optional hook (alloc/platform.h). */
#define GOHEAP_SYS_HAVE_MAP 1
#define GOHEAP_SYS_HAVE_NCPU 1
#define GOHEAP_SYS_HAVE_EACH_CPU 1
#define GOHEAP_SYS_HAVE_CLOCK 1
#define GOHEAP_SYS_HAVE_POLL 1
/* The reclaim pass on any CPU drains every CPU's cache whose drain lock is free: a
 * CPU that never idles (or whose tick is off) still has its emptied spans taken. */
#define GOHEAP_SYS_DRAIN_REMOTE 1
/* madvdontneed=0: released pages stay mapped until the frame allocator runs short and
 * pulls them back through goheap_reclaim_lazy (kernel/frame.c). */
#define GOHEAP_SYS_LAZY_RECLAIM 1
#define GOHEAP_SYS_HAVE_LEAK_ROOTS 1 /* kernel/goheap_platform.c: data, bss, stacks */
/* Heap profiles (docs/profiling.md, kernel/goheap_platform.c): the current CPU's stack
 * bounds for the frame-pointer walk, the kernel image as pprof's mapping, and
 * memprofile=serial: the profile goes over the console in frames (kernel/heap/kprofile.c)
 * at the end of the boot and on goheap_profile_request. */
#define GOHEAP_SYS_HAVE_STACK_BOUNDS 1
#define GOHEAP_SYS_HAVE_PROFILE_MAPS 1
#define GOHEAP_SYS_HAVE_PROFILE_DUMP 1
#define GOHEAP_SYS_HAVE_CONFIGURE 1
#define GOHEAP_SYS_HAVE_REMAP 1     /* kernel/goheap_platform.c: arch_remap moves the PTEs */
#define GOHEAP_SYS_HAVE_SET_BIT 1 /* arch_atomic_set_bit (x86_64: lock bts) */
#define GOHEAP_SYS_FRAME_SIZE ARCH_FRAME_SIZE
/* 1 TiB of the 16 TiB heap-arena range (arch/paging.h) when no size is given. */
#define GOHEAP_SYS_DEFAULT_ARENA (1ull << 40)

typedef arch_spinlock_t goheap_lock_t;   /* zero-filled = unlocked (ticket lock) */
typedef arch_irqflags_t goheap_pin_t;    /* the interrupt flags pin saved */

/* Pin rule (docs/kernel-heap.md, "Interrupt context"): the heap may only be entered
 * from thread context with interrupts enabled. Pinning masks interrupts, so nothing
 * else runs on this CPU until unpin, and a goheap_sys_each_cpu IPI lands only between
 * pinned sections. A caller that already had interrupts masked (an interrupt handler,
 * or code under spin_lock_irqsave) is refused with a panic: its slow path could need a
 * TLB shootdown, which waits for other CPUs with interrupts on. The one exception is
 * goheap_sys_each_cpu's own handler, which the platform marks in
 * goheap_kernel_in_each_cpu[cpu]. */
extern unsigned char goheap_kernel_in_each_cpu[ARCH_MAX_CPUS];
_Noreturn void goheap_kernel_bad_context(arch_irqflags_t saved);

/* Whether the pins refuse this context (the pin rule above): interrupts masked
 * (flags f) outside goheap_sys_each_cpu's handler. The CPU index is read only when
 * they are masked (arch_cpu_index is a volatile load: as an argument, pin_local
 * would read it on every malloc, +1 guest instruction a pair). */
static inline int goheap_kernel_pin_refused(arch_irqflags_t f)
{
    return __builtin_expect(!arch_irqflags_enabled(f), 0) && !goheap_kernel_in_each_cpu[arch_cpu_index()];
}

/* Always inline: left to itself the compiler kept an out-of-line copy for some
 * callers (gh_malloc_slow's large branch: a call, a frame and a store through saved),
 * ~10 guest instructions on aarch64's large-cache pair (ICOUNT=1), and the image
 * came out smaller inlined. */
static inline __attribute__((always_inline)) unsigned goheap_sys_pin(goheap_pin_t *saved)
{
    arch_irqflags_t f = arch_irq_save();
    unsigned cpu = arch_cpu_index();            /* one load through GS / TPIDR_EL1 */
    if (goheap_kernel_pin_refused(f))
        goheap_kernel_bad_context(f);
    *saved = f;
    return cpu;
}

/* The malloc/free fast paths' pin: the same, but a refused context returns
 * GOHEAP_PIN_FAILED (~0u; platform.h defines the name after this header) instead of
 * calling the panic, so the fast paths contain no call; the core's slow path then
 * pins with goheap_sys_pin, which panics with the message. */
#define GOHEAP_SYS_HAVE_PIN_FAST 1
static inline unsigned goheap_sys_pin_fast(goheap_pin_t *saved)
{
    arch_irqflags_t f = arch_irq_save();
    unsigned cpu = arch_cpu_index();
    *saved = f; /* also on failure: goheap_free unpins before its slow path panics */
    if (goheap_kernel_pin_refused(f)) {
        arch_irq_restore(f);
        return ~0u;
    }
    return cpu;
}

/* malloc's pin (platform.h, GOHEAP_SYS_HAVE_LOCAL): the same pin, returning this
 * CPU's cache pointer (struct cpu.goheap_local) in one per-CPU load, where pin_fast's
 * index took a table load, an indexed load and a NULL test (make bench-kernel
 * ICOUNT=1, x86_64 pair 75 -> 71). A refused context gets &goheap_local_none, whose
 * spans have no free slot: the slow path pins with goheap_sys_pin, which panics. */
#define GOHEAP_SYS_HAVE_LOCAL 1
struct mcache;
extern struct mcache goheap_local_none; /* (alloc/platform.h, the core's empty cache) */
static inline __attribute__((always_inline)) void *goheap_sys_pin_local(goheap_pin_t *saved)
{
    arch_irqflags_t f = arch_irq_save();
    *saved = f;
    if (goheap_kernel_pin_refused(f))
        return &goheap_local_none;
    return arch_percpu_load_ptr(ARCH_PERCPU_HEAP_OFFSET);
}
/* The core calls it pinned on cpu itself (when it creates that CPU's cache), so the
 * store goes through this CPU's record and the archive needs no kernel symbol. */
static inline void goheap_sys_set_local(unsigned cpu, void *p)
{
    (void)cpu;
    arch_percpu_store_ptr(ARCH_PERCPU_HEAP_OFFSET, p);
}

/* pin_fast's answer again, from its saved flags (platform.h): the same test. */
#define GOHEAP_SYS_HAVE_PIN_CPU 1
static inline unsigned goheap_sys_pin_cpu(goheap_pin_t saved)
{
    unsigned cpu = arch_cpu_index();
    if (goheap_kernel_pin_refused(saved))
        return ~0u;
    return cpu;
}

static inline void goheap_sys_unpin(goheap_pin_t saved)
{
    arch_irq_restore(saved);
}

/* Nothing is ever deferred to a slot's owner here: goheap_sys_each_cpu runs fn on
 * each CPU through an IPI, synchronously. */
static inline void goheap_sys_poll(unsigned cpu)
{
    (void)cpu;
}

/* Test-and-test-and-set over the arch lock word rather than the ticket queue: a
 * FIFO handoff stalls whenever the next ticket's CPU is not running (vCPUs
 * outnumbering host cores), and aarch64's WFE wait parks waiters. Measured under TCG,
 * SMP=4 on 2 host cores, heap_scav's churn (large objects, heap lock contended):
 * arch_spin_lock 22-49 s, this loop 3.5 s (1 CPU: 44 ms). Unfair, but the allocator's
 * critical sections are short and bounded. */
static inline void goheap_sys_lock(goheap_lock_t *l)
{
    while (!arch_spin_trylock(l))
        while (arch_spin_is_locked(l))
            arch_cpu_relax();
}

/* The core's spin-wait hint (platform.h): PAUSE on x86_64; YIELD on aarch64, which
 * under single-threaded TCG hands the host thread to the next vCPU at once. */
#define GOHEAP_SYS_HAVE_RELAX 1
static inline void goheap_sys_relax(void)
{
    arch_cpu_relax();
}

#define GOHEAP_SYS_HAVE_TRYLOCK 1
static inline int goheap_sys_trylock(goheap_lock_t *l)
{
    return arch_spin_trylock(l);
}

static inline void goheap_sys_unlock(goheap_lock_t *l)
{
    arch_spin_unlock(l);
}

/* malloc's find of a free slot in its word (platform.h): arch_lowest_bit_or. */
#define GOHEAP_SYS_HAVE_LOWEST_BIT 1
#define goheap_sys_lowest_bit_or(x, i, label) arch_lowest_bit_or(x, i, label)

/* A remote free's set of its remoteFree bit (platform.h). */
static inline int goheap_sys_atomic_set_bit(_Atomic uint64_t *p, unsigned i)
{
    return arch_atomic_set_bit((volatile uint64_t *)p, i);
}

#endif /* KERNEL_GOHEAP_PLATFORM_IMPL_H */
