/* kernel/include/spinlock.h: the kernel's named spinlock. The arch's ticket lock, plus
 * (when GOHEAP_DEBUG) recursion and lock-order checks keyed by a rank: a CPU may only
 * take a lock whose rank is greater than every rank it already holds. A violation
 * panics naming both locks. Ranks are listed in docs/boot.md ("Lock order"). */
#ifndef KERNEL_SPINLOCK_H
#define KERNEL_SPINLOCK_H

#include <arch/spinlock.h>
#include <kconfig.h>

/* Lock ranks, lowest first (taken first). Leaves have the highest ranks. */
enum lock_rank {
    LOCK_RANK_NONE = 0,         /* not checked for order (tests' own locks) */
    LOCK_RANK_TEST = 10,        /* test-private locks */
    LOCK_RANK_HEAP = 20,        /* allocator locks sit at 20..79 (kernel heap) */
    LOCK_RANK_PAGETABLE = 80,   /* kernel page tables */
    LOCK_RANK_FRAME = 90,       /* frame allocator global bitmap */
    LOCK_RANK_CONSOLE = 100,    /* printk: innermost, so any code may print */
};

struct spinlock {
    arch_spinlock_t raw;
    const char *name;
    unsigned rank;
    int owner;                  /* CPU index holding it, -1 when free (debug) */
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
