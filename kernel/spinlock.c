/* kernel/spinlock.c: the checked spinlock. With GOHEAP_DEBUG, each CPU keeps a stack
 * of held locks (struct cpu.held); taking a lock already held by this CPU, or a lock
 * whose rank is not above every rank held, panics with both lock names. */
#include <kconfig.h>
#include <panic.h>
#include <percpu.h>
#include <spinlock.h>

static void check_acquire(struct spinlock *l)
{
    struct cpu *c = this_cpu();
    if (l->owner == (int)c->index)
        panic("recursive lock: cpu %u already holds '%s' (rank %u)", c->index, l->name,
              l->rank);
    if (l->rank != LOCK_RANK_NONE)
        for (unsigned i = 0; i < c->nheld; i++) {
            const struct spinlock *h = c->held[i];
            if (h->rank != LOCK_RANK_NONE && h->rank >= l->rank)
                panic("lock order violation: taking '%s' (rank %u) while holding '%s' "
                      "(rank %u)", l->name, l->rank, h->name, h->rank);
        }
}

/* The held stack needs no interrupt masking: an interrupt handler that takes locks
 * pushes and pops above the current top and leaves it as it found it. So a push
 * reserves its slot (nheld++) before filling it, and a pop shifts first and shrinks
 * last. (Masking here would cost two privileged instructions per lock, which traps
 * under nested KVM.) */
static void note_acquired(struct spinlock *l)
{
    struct cpu *c = this_cpu();
    l->owner = (int)c->index;
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

void spin_lock(struct spinlock *l)
{
    if (GOHEAP_DEBUG)
        check_acquire(l);
    arch_spin_lock(&l->raw);
    if (GOHEAP_DEBUG)
        note_acquired(l);
}

int spin_trylock(struct spinlock *l)
{
    if (!arch_spin_trylock(&l->raw))
        return 0;
    if (GOHEAP_DEBUG)
        note_acquired(l);
    return 1;
}

void spin_unlock(struct spinlock *l)
{
    if (GOHEAP_DEBUG)
        note_release(l);
    arch_spin_unlock(&l->raw);
}

arch_irqflags_t spin_lock_irqsave(struct spinlock *l)
{
    arch_irqflags_t f = arch_irq_save();
    if (GOHEAP_DEBUG)
        check_acquire(l);
    arch_spin_lock(&l->raw);
    if (GOHEAP_DEBUG)
        note_acquired(l);
    return f;
}

void spin_unlock_irqrestore(struct spinlock *l, arch_irqflags_t flags)
{
    if (GOHEAP_DEBUG)
        note_release(l);
    arch_spin_unlock(&l->raw);
    arch_irq_restore(flags);
}
