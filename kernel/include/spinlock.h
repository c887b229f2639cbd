/* kernel/include/spinlock.h: the kernel's named spinlock. The arch's ticket lock, plus
 * (when KERNEL_DEBUG) recursion and lock-order checks keyed by a class of the
 * system-wide table (include/goheap_lockclass.h): a CPU may only take a lock whose
 * class is above every class it already holds, the allocator's locks included. A
 * violation panics naming both locks. Listed in docs/boot.md ("Lock order"). */
#ifndef KERNEL_SPINLOCK_H
#define KERNEL_SPINLOCK_H

#include <arch/spinlock.h>
#include <goheap_lockclass.h>
#include <kconfig.h>

/* The kernel's lock classes, lowest first (taken first), as named in the system-wide
 * table; the allocator's mcentral < mheap < meta sit between PLATFORM_OUTER and
 * PAGETABLE. */
enum lock_rank {
    LOCK_RANK_NONE = GOHEAP_LC_NONE,            /* not checked for order */
    LOCK_RANK_TEST = GOHEAP_LC_TEST,            /* test-private locks */
    LOCK_RANK_TEST_INNER = GOHEAP_LC_TEST_INNER, /* test locks taken inside TEST */
    LOCK_RANK_HEAP_OUTER = GOHEAP_LC_PLATFORM_OUTER, /* held around goheap calls (kheap init) */
    LOCK_RANK_PAGETABLE = GOHEAP_LC_PAGETABLE,  /* kernel page tables */
    LOCK_RANK_FRAME = GOHEAP_LC_FRAME,          /* frame allocator global bitmap */
    LOCK_RANK_CONSOLE = GOHEAP_LC_CONSOLE,      /* printk: innermost, so any code may print */
};

struct spinlock {
    arch_spinlock_t raw;
    const char *name;
    unsigned rank;
    int owner;                  /* CPU index holding it, -1 when free (debug) */
    unsigned char recorded;     /* in the shared held-class record (debug; not trylock) */
};

/* IRQ-saving variants of the raw arch lock, the same on every arch: mask interrupts on
 * this CPU for as long as the lock is held, so an interrupt handler on the same CPU
 * cannot spin on it. */
static inline arch_irqflags_t arch_spin_lock_irqsave(arch_spinlock_t *l)
{
    arch_irqflags_t f = arch_irq_save();
    arch_spin_lock(l);
    return f;
}

static inline void arch_spin_unlock_irqrestore(arch_spinlock_t *l, arch_irqflags_t f)
{
    arch_spin_unlock(l);
    arch_irq_restore(f);
}

#define SPINLOCK_INIT(nm, rk) { .raw = { 0, 0 }, .name = (nm), .rank = (rk), .owner = -1 }

void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);
int spin_trylock(struct spinlock *l);
arch_irqflags_t spin_lock_irqsave(struct spinlock *l);
void spin_unlock_irqrestore(struct spinlock *l, arch_irqflags_t flags);

#endif /* KERNEL_SPINLOCK_H */
