/* arch/cpu.h (aarch64): this CPU's identity and control, all inline: the per-CPU
 * pointer and dense index through TPIDR_EL1, DAIF interrupt masking, relax, barriers,
 * halt. Same names as arch/x86_64/include/arch/cpu.h (GS base there). */
#ifndef ARCH_CPU_H
#define ARCH_CPU_H

#include <stdint.h>

#define ARCH_NAME "aarch64"
#define ARCH_HWID_NAME "MPIDR affinity"   /* what arch_cpu_hwid() returns, for messages */

/* The portable `struct cpu` (kernel/include/percpu.h) starts with these two fields,
 * at these offsets, so one load through TPIDR_EL1 reaches them. */
#define ARCH_PERCPU_SELF_OFFSET  0   /* struct cpu *self */
#define ARCH_PERCPU_INDEX_OFFSET 8   /* uint32_t index: dense, 0..ncpu-1 */
#define ARCH_PERCPU_HEAP_OFFSET  24  /* void *goheap_local: the heap's cache for this CPU */

/* Dense indices. QEMU virt with GICv2 allows at most 8 CPUs, with GICv3 up to 512;
 * 64 keeps per-CPU tables small and matches x86_64. Extra /cpus nodes are ignored. */
#define ARCH_MAX_CPUS 64
#define ARCH_CACHE_LINE 64
/* Words arch_fault_catch_call saves: x19..x28, x29 (fp), x30 (lr), sp, and one pad
 * word to keep the array 16-byte sized. */
#define ARCH_CATCH_REGS 14           /* Cortex-A53/A57/A72 L1D line; CTR_EL0.DminLine=4 */
#define ARCH_CATCH_SP 12             /* regs[ARCH_CATCH_SP]: the stack pointer at the call */

/* TPIDR_EL1 holds the address of this CPU's struct cpu. It is written once at
 * bring-up; reads are plain MRS (never MPIDR on a hot path). */
static inline void *arch_percpu_ptr(void)
{
    void *p;
    __asm__ volatile("mrs %0, tpidr_el1" : "=r"(p));
    return p;
}

static inline unsigned arch_cpu_index(void)
{
    uint32_t *p;
    __asm__ volatile("mrs %0, tpidr_el1" : "=r"(p));
    unsigned i = p[ARCH_PERCPU_INDEX_OFFSET / 4];
    if (i >= ARCH_MAX_CPUS) /* (its bound: the compiler drops tests for impossible values) */
        __builtin_unreachable();
    return i;
}

/* The pointer at byte offset off (a constant) of this CPU's record: TPIDR_EL1 and a
 * load; and a store there. */
#define arch_percpu_load_ptr(off) (((void *const *)arch_percpu_ptr())[(off) / sizeof(void *)])
#define arch_percpu_store_ptr(off, v) (((void **)arch_percpu_ptr())[(off) / sizeof(void *)] = (void *)(v))

static inline void arch_percpu_set(void *p)
{
    __asm__ volatile("msr tpidr_el1, %0" : : "r"(p) : "memory");
}

/* ---- interrupt masking (DAIF.I) ----------------------------------------------- */
typedef uint64_t arch_irqflags_t;

#define ARCH_DAIF_I (1u << 7)

static inline arch_irqflags_t arch_irq_save(void)
{
    arch_irqflags_t f;
    __asm__ volatile("mrs %0, daif\n\tmsr daifset, #2" : "=r"(f) : : "memory");
    return f;
}

static inline void arch_irq_restore(arch_irqflags_t f)
{
    __asm__ volatile("msr daif, %0" : : "r"(f) : "memory");
}

/* Whether saved flags (from arch_irq_save) had interrupts enabled. */
static inline int arch_irqflags_enabled(arch_irqflags_t f) { return !(f & ARCH_DAIF_I); }

static inline void arch_irq_enable(void)  { __asm__ volatile("msr daifclr, #2" : : : "memory"); }
static inline void arch_irq_disable(void) { __asm__ volatile("msr daifset, #2" : : : "memory"); }

static inline int arch_irqs_enabled(void)
{
    uint64_t f;
    __asm__ volatile("mrs %0, daif" : "=r"(f));
    return !(f & ARCH_DAIF_I);
}

/* ---- spinning, ordering, halting ------------------------------------------------ */
static inline void arch_cpu_relax(void) { __asm__ volatile("yield" : : : "memory"); }

/* Full-system barriers: usable for device access as well as for normal memory.
 * Portable code should prefer C11 atomics with explicit orders (which compile to
 * LDAR/STLR or DMB ISH); these are for MMIO and hand-rolled flags. */
static inline void arch_mb(void)  { __asm__ volatile("dmb sy" : : : "memory"); }
static inline void arch_rmb(void) { __asm__ volatile("dmb ld" : : : "memory"); }
static inline void arch_wmb(void) { __asm__ volatile("dmb st" : : : "memory"); }

/* Sets bit i of the bit map at p (bit i % 64 of the word p[i / 64]) atomically, a
 * full barrier; returns the bit's old value. The compiler's fetch_or (LDSETAL with
 * LSE, else an exclusive pair). */
static inline int arch_atomic_set_bit(volatile uint64_t *p, unsigned i)
{
    uint64_t m = 1ull << (i & 63);
    return (__atomic_fetch_or(p + (i >> 6), m, __ATOMIC_SEQ_CST) & m) != 0;
}

/* i = the index of the lowest set bit of the 64-bit x, or a jump to label when x is 0:
 * cbz, rbit, clz (no find-first-set flags its source here). */
#define arch_lowest_bit_or(x, i, label)                                                                          \
    do {                                                                                                         \
        uint64_t arch_lb_x_ = (x);                                                                               \
        if (__builtin_expect(arch_lb_x_ == 0, 0))                                                                \
            goto label;                                                                                          \
        (i) = (uint64_t)__builtin_ctzll(arch_lb_x_);                                                             \
    } while (0)

/* Wait for an interrupt, then leave interrupts enabled (the x86 `sti; hlt`). WFI wakes
 * on a pending interrupt even while DAIF.I masks it, so masking first and unmasking
 * after closes the window in which an interrupt could be taken just before WFI. */
static inline void arch_wait_for_interrupt(void)
{
    __asm__ volatile("msr daifset, #2\n\twfi\n\tmsr daifclr, #2" : : : "memory");
}

static inline _Noreturn void arch_halt(void)
{
    for (;;)
        __asm__ volatile("msr daifset, #0xf\n\twfi" : : : "memory");
}

/* A return address minus this is the BL itself (kernel/panic.c's backtrace names the
 * caller's line, even for a call that ends its function). */
#define ARCH_RET_TO_CALL 4

#endif /* ARCH_CPU_H */
