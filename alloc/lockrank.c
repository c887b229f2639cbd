/* alloc/lockrank.c: the system-wide lock-order check (include/goheap_lockclass.h):
 * one word of held classes per CPU, shared by the allocator and its platform. */
#include "goheap.h"
#include "lockrank.h"
#include "mcentral.h"

const char *const goheap_lock_class_names[GOHEAP_LC_COUNT] = {
#define GH_LC_NAME(id, name) [GOHEAP_LC_##id] = name,
    GOHEAP_LOCK_CLASSES(GH_LC_NAME)
#undef GH_LC_NAME
};
_Static_assert(GOHEAP_LC_COUNT <= 32, "held classes are one 32-bit word per CPU");
_Static_assert(GOHEAP_LC_COUNT <= GOHEAP_LOCK_CLASSES_MAX, "goheap_memstats.locks[] (goheap.h)");

/* Bit c: this CPU holds a lock of class c. Written only by its own CPU (an interrupt
 * handler that takes locks sets and clears its bits before returning, so a
 * read-modify-write it interrupts loses nothing); static, so the platform can check
 * its locks before goheap_init. */
static unsigned held_classes[GOHEAP_LOCKCHECK_CPUS];

static const char *class_name(unsigned c) {
    return c < GOHEAP_LC_COUNT ? goheap_lock_class_names[c] : "?";
}

unsigned goheap_lockcheck_held(unsigned cpu) {
    return cpu < GOHEAP_LOCKCHECK_CPUS ? __atomic_load_n(&held_classes[cpu], __ATOMIC_RELAXED) : 0;
}

GH_COLD static void violation(unsigned cpu, unsigned cls, unsigned held) {
    unsigned top = 31 - (unsigned)__builtin_clz(held);
    gh_panicf("goheap: lock order violation on cpu %u: taking %s (class %u) while holding %s "
              "(class %u, held classes 0x%x)", cpu, class_name(cls), cls, class_name(top), top, held);
}

void goheap_lockcheck_acquire(unsigned cpu, unsigned cls) {
    if (cls == GOHEAP_LC_NONE || cpu >= GOHEAP_LOCKCHECK_CPUS)
        return;
    unsigned held = __atomic_load_n(&held_classes[cpu], __ATOMIC_RELAXED);
    if (held >> cls)
        violation(cpu, cls, held);
    __atomic_store_n(&held_classes[cpu], held | 1u << cls, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* recorded before the lock is taken */
}

void goheap_lockcheck_release(unsigned cpu, unsigned cls) {
    if (cls == GOHEAP_LC_NONE || cpu >= GOHEAP_LOCKCHECK_CPUS)
        return;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    unsigned held = __atomic_load_n(&held_classes[cpu], __ATOMIC_RELAXED);
    __atomic_store_n(&held_classes[cpu], held & ~(1u << cls), __ATOMIC_RELAXED);
}

struct gh_lockstat *gh_lockstats;
uint8_t gh_lock_slow_on;

unsigned gh_mutex_rank(const struct gh_mutex *m) {
    if ((uintptr_t)m - (uintptr_t)gh_central < sizeof gh_central)
        return GOHEAP_LC_CENTRAL;
    return m->rank;
}

void gh_lock_slow(struct gh_mutex *m, unsigned cpu) {
    unsigned rank = gh_mutex_rank(m);
    if (GH_LOCKCHECK)
        goheap_lockcheck_acquire(cpu, rank);
    if (gh_fork_nested(m))
        return; /* the forking thread already holds it (fork.c) */
    if (!gh_lockstats) {
        goheap_sys_lock(&m->l);
        return;
    }
    struct gh_lockstat *st = &gh_lockstats[cpu * GOHEAP_LC_COUNT + rank];
    GH_COUNT_ADD(st->acquires, 1);
    if (goheap_sys_trylock(&m->l))
        return;
    uint64_t t0 = goheap_sys_nanotime();
    goheap_sys_lock(&m->l);
    GH_COUNT_ADD(st->contended, 1);
    GH_COUNT_ADD(st->wait_ns, goheap_sys_nanotime() - t0);
}

int gh_trylock_slow(struct gh_mutex *m, unsigned cpu) {
    unsigned rank = gh_mutex_rank(m);
    if (GH_LOCKCHECK)
        goheap_lockcheck_acquire(cpu, rank);
    if (!goheap_sys_trylock(&m->l)) {
        if (GH_LOCKCHECK)
            goheap_lockcheck_release(cpu, rank);
        return 0; /* not an acquisition: nothing counted */
    }
    if (gh_lockstats)
        GH_COUNT_ADD(gh_lockstats[cpu * GOHEAP_LC_COUNT + rank].acquires, 1);
    return 1;
}

void gh_unlock_slow(struct gh_mutex *m, unsigned cpu) {
    if (!gh_fork_nested(m))
        goheap_sys_unlock(&m->l);
    if (GH_LOCKCHECK)
        goheap_lockcheck_release(cpu, gh_mutex_rank(m));
}

void gh_assert_no_locks(void) {
    if (!GH_LOCKCHECK)
        return;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    unsigned held = goheap_lockcheck_held(cpu);
    goheap_sys_unpin(pin);
    if (held)
        gh_panicf("goheap: unmap with a lock held (cpu %u, held classes 0x%x, highest %s)", cpu, held,
                  class_name(31 - (unsigned)__builtin_clz(held)));
}
