/* tests/host/region/goheap_config.h: the region-mode platform of the amalgamation
 * test (tests/host/region.mk): the quick start's minimum, one CPU, nothing optional
 * (the hosted test build adds libc's memory functions and the leak-scan root hooks).
 * Lock, unlock, log and panic are the four hooks; pin returns slot 0. */
#ifndef GOHEAP_CONFIG_H
#define GOHEAP_CONFIG_H

#define GOHEAP_SYS_FRAME_SIZE 4096
#ifdef REGION_TEST_NCPU
#define GOHEAP_SYS_NCPU REGION_TEST_NCPU /* SMP's CPU count without a hook */
#endif
#ifdef REGION_TEST_LIBC_MEM
#define GOHEAP_SYS_HAVE_MEMFUNCS 1 /* hosted test: libc's memset & co. */
/* The leak scan's root hooks (test_region.c: no static or stack roots, the case
 * registers its own), for the scan over added regions. */
#define GOHEAP_SYS_HAVE_LEAK_ROOTS 1
#endif

typedef struct {
    int v;
} goheap_lock_t;
typedef int goheap_pin_t;

static inline void goheap_sys_lock(goheap_lock_t *l) {
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
        ;
}
static inline void goheap_sys_unlock(goheap_lock_t *l) { __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE); }
static inline unsigned goheap_sys_pin(goheap_pin_t *saved) {
    *saved = 0;
    return 0;
}
static inline void goheap_sys_unpin(goheap_pin_t saved) { (void)saved; }

void goheap_sys_log(const char *msg);
_Noreturn void goheap_sys_panic(const char *msg);
#endif
