/* arch/spinlock.h (aarch64): the raw ticket spinlock, with WFE waiting and LSE
 * (LDADDA/CASA) or LL/SC (LDAXR/STXR) ticket taking, chosen at boot from
 * ID_AA64ISAR0_EL1.Atomic. IRQ-saving variants and debug checks: kernel/include/spinlock.h. */
#ifndef ARCH_SPINLOCK_H
#define ARCH_SPINLOCK_H

#include <stdint.h>
#include <arch/cpu.h>

/* A zero-filled lock is unlocked. The two halves form one little-endian word,
 * word = owner | next << 16, which lockers update with one atomic add of 1 << 16.
 * Invariant: next - owner (mod 2^16) = holders + waiters, holders <= 1. Only the
 * holder writes `owner` (one store-release per unlock). FIFO: each locker takes a
 * ticket and waits until owner reaches it. */
typedef struct {
    uint16_t owner;             /* accessed only through __atomic builtins and asm */
    uint16_t next;
} __attribute__((aligned(4))) arch_spinlock_t;

#define ARCH_SPIN_WORD(l) ((uint32_t *)(void *)(l))

/* 1 when the CPU has FEAT_LSE (ID_AA64ISAR0_EL1.Atomic >= 2). Written once by the boot
 * CPU before any other CPU starts or any lock is contended (cpufeature_init, arch/aarch64/early.c),
 * read-only afterwards; the branch on it is perfectly predicted. */
extern uint8_t arch_have_lse;

/* Add one to `next` and return the previous word, with acquire semantics: if the
 * returned word shows owner == our ticket, the lock is ours and the critical section
 * is ordered after the previous holder's store-release of `owner`. */
static inline uint32_t arch_spin__take_ticket(arch_spinlock_t *l)
{
    uint32_t old, tmp, fail;
    if (arch_have_lse) {
        __asm__ volatile(".arch_extension lse\n\t"
                         "ldadda %w[inc], %w[old], %[w]"
                         : [old] "=&r"(old), [w] "+Q"(*ARCH_SPIN_WORD(l))
                         : [inc] "r"(1u << 16)
                         : "memory");
    } else {
        __asm__ volatile("1: ldaxr %w[old], %[w]\n\t"
                         "add %w[tmp], %w[old], %w[inc]\n\t"
                         "stxr %w[fail], %w[tmp], %[w]\n\t"
                         "cbnz %w[fail], 1b"
                         : [old] "=&r"(old), [tmp] "=&r"(tmp), [fail] "=&r"(fail),
                           [w] "+Q"(*ARCH_SPIN_WORD(l))
                         : [inc] "r"(1u << 16)
                         : "memory");
    }
    return old;
}

static inline void arch_spin_lock(arch_spinlock_t *l)
{
    uint32_t old = arch_spin__take_ticket(l);
    uint32_t ticket = old >> 16, cur;
    if ((old & 0xffff) == ticket)
        return;
    /* LDAXRH arms the exclusive monitor on the lock's granule; the holder's STLRH to
     * `owner` clears it, which is a WFE wake-up event, so no SEV is needed on unlock.
     * SEVL makes the first WFE fall through. The generic timer's event stream (set up
     * at boot, ~every 0.1 ms) bounds any wait should an event be lost. The acquire of
     * LDAXRH that finally sees our ticket orders the critical section after the
     * previous holder's release. */
    __asm__ volatile("sevl\n\t"
                     "1: wfe\n\t"
                     "ldaxrh %w[cur], %[owner]\n\t"
                     "eor %w[cur], %w[cur], %w[t]\n\t"
                     "cbnz %w[cur], 1b"
                     : [cur] "=&r"(cur)
                     : [owner] "Q"(l->owner), [t] "r"(ticket)
                     : "memory");
}

static inline int arch_spin_trylock(arch_spinlock_t *l)
{
    uint32_t old, res, fail;
    if (arch_have_lse) {
        old = __atomic_load_n(ARCH_SPIN_WORD(l), __ATOMIC_RELAXED);
        if ((old >> 16) != (old & 0xffff))
            return 0;
        res = old;
        __asm__ volatile(".arch_extension lse\n\t"
                         "casa %w[res], %w[new], %[w]"
                         : [res] "+r"(res), [w] "+Q"(*ARCH_SPIN_WORD(l))
                         : [new] "r"(old + (1u << 16))
                         : "memory");
        return res == old;
    }
    __asm__ volatile("1: ldaxr %w[old], %[w]\n\t"
                     "eor %w[res], %w[old], %w[old], ror #16\n\t"
                     "cbnz %w[res], 2f\n\t"
                     "add %w[old], %w[old], %w[inc]\n\t"
                     "stxr %w[fail], %w[old], %[w]\n\t"
                     "cbnz %w[fail], 1b\n\t"
                     "b 3f\n"
                     "2: clrex\n"
                     "3:"
                     : [old] "=&r"(old), [res] "=&r"(res), [fail] "=&r"(fail),
                       [w] "+Q"(*ARCH_SPIN_WORD(l))
                     : [inc] "r"(1u << 16)
                     : "memory");
    return res == 0;
}

static inline void arch_spin_unlock(arch_spinlock_t *l)
{
    /* Only the holder writes `owner`, so a plain read and a store-release suffice:
     * the release orders the whole critical section before the next holder's
     * acquire (LDADDA/LDAXR/LDAXRH) that reads this value. */
    uint16_t o = __atomic_load_n(&l->owner, __ATOMIC_RELAXED);
    __atomic_store_n(&l->owner, (uint16_t)(o + 1), __ATOMIC_RELEASE);
}

static inline int arch_spin_is_locked(arch_spinlock_t *l)
{
    uint32_t w = __atomic_load_n(ARCH_SPIN_WORD(l), __ATOMIC_RELAXED);
    return (w >> 16) != (w & 0xffff);
}

#endif /* ARCH_SPINLOCK_H */
