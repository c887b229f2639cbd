/* examples/smp-aarch64/goheap_config.h: the inline half of an SMP page-table-mode
 * port: pin masks interrupts and reads the CPU index from TPIDR_EL1 (set at boot);
 * a test-and-test-and-set lock. Six hooks: these four plus log and panic; map,
 * unmap, reserve, ncpu and the clock are in port.c. */
#include <stdint.h>

#define GOHEAP_SYS_FRAME_SIZE 4096
#define GOHEAP_SYS_HAVE_MAP 1   /* reserve/map/unmap: memory goes back to the frames */
#define GOHEAP_SYS_HAVE_NCPU 1
#define GOHEAP_SYS_HAVE_CLOCK 1 /* no each_cpu: other CPUs flush at their next refill */

typedef struct { uint32_t v; } goheap_lock_t;
typedef uint64_t goheap_pin_t; /* DAIF as it was */

static inline void goheap_sys_lock(goheap_lock_t *l) {
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&l->v, __ATOMIC_RELAXED))
            __asm__ volatile("yield");
}
static inline void goheap_sys_unlock(goheap_lock_t *l) { __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE); }
/* Interrupts may already be masked (they always are in this example): save, mask,
 * restore exactly what was there. */
static inline unsigned goheap_sys_pin(goheap_pin_t *saved) {
    uint64_t daif, cpu;
    __asm__ volatile("mrs %0, daif; msr daifset, #2; mrs %1, tpidr_el1" : "=r"(daif), "=r"(cpu)::"memory");
    *saved = daif;
    return (unsigned)cpu;
}
static inline void goheap_sys_unpin(goheap_pin_t saved) { __asm__ volatile("msr daif, %0" ::"r"(saved) : "memory"); }

void goheap_sys_log(const char *msg);
_Noreturn void goheap_sys_panic(const char *msg);
