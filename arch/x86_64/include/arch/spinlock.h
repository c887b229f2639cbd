/* arch/spinlock.h (x86_64): the raw ticket spinlock (the IRQ-saving
 * variants, the same on both arches, are in kernel/include/spinlock.h). No
 * debugging here: kernel/include/spinlock.h wraps it with a name and a rank and
 * checks recursion and lock order in portable code. */
#ifndef ARCH_SPINLOCK_H
#define ARCH_SPINLOCK_H

#include <stdint.h>
#include <arch/cpu.h>

/* A zero-filled lock is unlocked. Invariant: owner <= next (mod 2^16);
 * next - owner = holders + waiters. FIFO: each locker takes a ticket from `next`
 * and spins until `owner` reaches it. 16-bit tickets allow 65535 waiters. */
typedef struct {
    uint16_t owner;
    uint16_t next;
} arch_spinlock_t;

static inline void arch_spin_lock(arch_spinlock_t *l)
{
    uint16_t t = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) != t)
        arch_cpu_relax();
}

static inline int arch_spin_trylock(arch_spinlock_t *l)
{
    uint16_t o = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
    uint16_t n = o;
    /* Take a ticket only if it would be served at once (next == owner): with no
     * holder, owner cannot move between the load and the exchange. */
    return __atomic_compare_exchange_n(&l->next, &n, (uint16_t)(o + 1), 0,
                                       __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void arch_spin_unlock(arch_spinlock_t *l)
{
    uint16_t o = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
    __atomic_store_n(&l->owner, (uint16_t)(o + 1), __ATOMIC_RELEASE);
}

static inline int arch_spin_is_locked(arch_spinlock_t *l)
{
    return __atomic_load_n(&l->owner, __ATOMIC_RELAXED) !=
           __atomic_load_n(&l->next, __ATOMIC_RELAXED);
}

#endif /* ARCH_SPINLOCK_H */
