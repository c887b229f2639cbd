/* kernel/include/percpu.h: the portable per-CPU record. The arch keeps a pointer to
 * this CPU's `struct cpu` in a per-CPU register (GS base / TPIDR_EL1); modules keep
 * their own per-CPU state in arrays indexed by cpu_index(). */
#ifndef KERNEL_PERCPU_H
#define KERNEL_PERCPU_H

#include <stddef.h>
#include <stdint.h>
#include <arch/cpu.h>

#define MAX_CPUS ARCH_MAX_CPUS

struct fault_catch;
struct spinlock;

/* A context this CPU interrupted to run cross-CPU calls: its registers, saved at
 * [regs, regs + nregs), and its stack pointer (0: none), so that its live stack is
 * [sp, stack_top). */
struct cpu_ctx {
    const uint64_t *regs;
    uintptr_t sp;
    unsigned nregs;
};

struct cpu {
    struct cpu *self;           /* offset ARCH_PERCPU_SELF_OFFSET */
    uint32_t index;             /* offset ARCH_PERCPU_INDEX_OFFSET; dense 0..ncpu-1 */
    uint32_t online;            /* set by the CPU itself once it serves IPIs */
    uint64_t hwid;              /* APIC id / MPIDR affinity, from the firmware table */
    /* offset ARCH_PERCPU_HEAP_OFFSET: goheap's per-CPU pointer (alloc/platform.h,
     * goheap_sys_pin_local): this CPU's cache once the heap made it
     * (goheap_sys_set_local), &goheap_local_none before; its malloc fast path finds it
     * in one per-CPU load. */
    void *goheap_local;
    /* Owned by this CPU only: */
    struct fault_catch *catch;  /* innermost active expected-fault catch, or NULL */
    unsigned nheld;             /* locks held (debug lock checking, kernel/spinlock.c) */
    const struct spinlock *held[16];
    /* > 0 while in an interrupt handler, or serving cross-CPU calls from a waiting
     * caller's poll (kernel/smp.c serve_polled): both are interrupt context. */
    unsigned irq_depth;
    /* Spinlocks held now, counted in every build (nheld is debug only): the frame
     * allocator pulls memory back from the heap only when none is (kernel/frame.c). */
    unsigned locks_held;
    unsigned char frame_pulling; /* in the frame allocator's pull (no recursion) */
    /* This CPU's kernel stack is [stack_top - KSTACK_BYTES, stack_top): set before the
     * CPU runs (boot CPU: percpu_init_cpu; others: the arch's smp.c). The leak scan
     * copies its live part (kernel/goheap_platform.c). */
    uintptr_t stack_top;
    /* While this CPU runs cross-CPU calls (smp_ipi_handler): the context they
     * interrupted (the call interrupt's trap frame, or call_mask's poll with the
     * registers arch_fault_catch_call saved). The leak scan copies exactly that
     * context, not the handler's own frames, whose unwritten slots hold stale words
     * (kernel/goheap_platform.c). sp == 0 outside calls. */
    struct cpu_ctx ctx;
} __attribute__((aligned(ARCH_CACHE_LINE)));

/* Every CPU's kernel stack: the boot stacks (boot/) and the APs' (arch smp.c). */
#define KSTACK_BYTES 16384u

_Static_assert(offsetof(struct cpu, self) == ARCH_PERCPU_SELF_OFFSET, "cpu.self");
_Static_assert(offsetof(struct cpu, index) == ARCH_PERCPU_INDEX_OFFSET, "cpu.index");
_Static_assert(offsetof(struct cpu, goheap_local) == ARCH_PERCPU_HEAP_OFFSET, "cpu.goheap_local");

extern struct cpu cpus[MAX_CPUS];

static inline struct cpu *this_cpu(void) { return (struct cpu *)arch_percpu_ptr(); }
static inline unsigned cpu_index(void) { return arch_cpu_index(); }

/* Around a run of cross-CPU calls: records the interrupted context (struct cpu.ctx)
 * and restores the previous record after. */
static inline struct cpu_ctx cpu_ctx_enter(struct cpu *c, const uint64_t *regs, unsigned nregs,
                                           uintptr_t sp)
{
    struct cpu_ctx old = c->ctx;
    c->ctx = (struct cpu_ctx){ regs, sp, nregs };
    __asm__ volatile("" ::: "memory");
    return old;
}
static inline void cpu_ctx_leave(struct cpu *c, struct cpu_ctx old)
{
    __asm__ volatile("" ::: "memory");
    c->ctx = old;
}

/* Number of CPUs that finished bring-up (monotonic; final after arch_smp_start). */
unsigned cpus_online(void);

/* Called by the arch on each CPU once its per-CPU pointer is installed. */
void percpu_init_cpu(unsigned index, uint64_t hwid);
/* Marks this CPU online (it will now serve IPIs). */
void percpu_mark_online(void);

#endif /* KERNEL_PERCPU_H */
