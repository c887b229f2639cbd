/* kernel/spinlock.c: the checked spinlock. With KERNEL_DEBUG, each CPU keeps a stack
 * of held locks (struct cpu.held); taking a lock already held by this CPU, or a lock
 * whose class is not above every class held, panics with both lock names. The
 * classes are the system-wide table (include/goheap_lockclass.h), and every
 * acquisition is also recorded in the allocator's per-CPU record of held classes, so
 * a kernel lock taken inside an allocator lock of a higher class (or the reverse,
 * checked by the allocator) panics too. */
#include <goheap_lockclass.h>
#include <kconfig.h>
#include <panic.h>
#include <percpu.h>
#include <spinlock.h>

static void check_acquire(struct spinlock *l)
{
    struct cpu *c = this_cpu();
    if (l->owner == (int)c->index)
        panic("recursive lock: cpu %u already holds '%s' (class %s)", c->index, l->name,
              goheap_lock_class_names[l->rank]);
    if (l->rank != LOCK_RANK_NONE)
        for (unsigned i = 0; i < c->nheld; i++) {
            const struct spinlock *h = c->held[i];
            if (h->rank != LOCK_RANK_NONE && h->rank >= l->rank)
                panic("lock order violation: taking '%s' (class %s) while holding '%s' "
                      "(class %s)", l->name, goheap_lock_class_names[l->rank], h->name,
                      goheap_lock_class_names[h->rank]);
        }
    /* The allocator's locks held on this CPU: the shared check names their class. */
    goheap_lockcheck_acquire(c->index, l->rank);
}

/* The held stack needs no interrupt masking: an interrupt handler that takes locks
 * pushes and pops above the current top and leaves it as it found it. So a push
 * reserves its slot (nheld++) before filling it, and a pop shifts first and shrinks
 * last. (Masking here would cost two privileged instructions per lock, which traps
 * under nested KVM.) */
static void note_acquired(struct spinlock *l, int recorded)
{
    struct cpu *c = this_cpu();
    l->owner = (int)c->index;
    l->recorded = (unsigned char)recorded;
    unsigned slot = c->nheld;
    __atomic_store_n(&c->nheld, slot + 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (slot < sizeof c->held / sizeof c->held[0])
        c->held[slot] = l;
}

static void note_release(struct spinlock *l)
{
    struct cpu *c = this_cpu();
    if (l->owner != (int)c->index)
        panic("unlock of '%s' by cpu %u, owner %d", l->name, c->index, l->owner);
    l->owner = -1;
    if (l->recorded) {
        l->recorded = 0;
        goheap_lockcheck_release(c->index, l->rank);
    }
    unsigned n = c->nheld < sizeof c->held / sizeof c->held[0] ? c->nheld
                 : sizeof c->held / sizeof c->held[0];
    /* Usually the top of the stack; allow out-of-order release. */
    for (unsigned i = n; i-- > 0;)
        if (c->held[i] == l) {
            for (unsigned j = i; j + 1 < n; j++)
                c->held[j] = c->held[j + 1];
            break;
        }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&c->nheld, c->nheld - 1, __ATOMIC_RELAXED);
}

/* The always-on count of spinlocks held (struct cpu.locks_held). An interrupt handler
 * that takes locks leaves it as it found it, so no masking is needed. */
static inline void count_held(int d)
{
    struct cpu *c = this_cpu();
    c->locks_held += (unsigned)d;
}

void spin_lock(struct spinlock *l)
{
    if (KERNEL_DEBUG)
        check_acquire(l);
    count_held(1);
    arch_spin_lock(&l->raw);
    if (KERNEL_DEBUG)
        note_acquired(l, 1);
}

int spin_trylock(struct spinlock *l)
{
    count_held(1);
    if (!arch_spin_trylock(&l->raw)) {
        count_held(-1);
        return 0;
    }
    /* A trylock may legally go against the order (it does not wait), so it is not
     * checked; but every lock taken while it is held does wait, so the allocator's
     * check must see it too: recorded in the shared record whenever that is in order.
     * (Out of order, a class >= its own is already recorded, and that bit orders the
     * allocator's locks as this one would.) */
    if (KERNEL_DEBUG) {
        unsigned cpu = this_cpu()->index;
        int rec = l->rank != LOCK_RANK_NONE && !(goheap_lockcheck_held(cpu) >> l->rank);
        if (rec)
            goheap_lockcheck_acquire(cpu, l->rank);
        note_acquired(l, rec);
    }
    return 1;
}

void spin_unlock(struct spinlock *l)
{
    if (KERNEL_DEBUG)
        note_release(l);
    arch_spin_unlock(&l->raw);
    count_held(-1);
}

arch_irqflags_t spin_lock_irqsave(struct spinlock *l)
{
    arch_irqflags_t f = arch_irq_save();
    if (KERNEL_DEBUG)
        check_acquire(l);
    count_held(1);
    arch_spin_lock(&l->raw);
    if (KERNEL_DEBUG)
        note_acquired(l, 1);
    return f;
}

void spin_unlock_irqrestore(struct spinlock *l, arch_irqflags_t flags)
{
    if (KERNEL_DEBUG)
        note_release(l);
    arch_spin_unlock(&l->raw);
    count_held(-1);
    arch_irq_restore(flags);
}
