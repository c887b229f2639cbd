/* goheap_config.h: the inline half of a one-CPU region-mode port. */
#define GOHEAP_SYS_FRAME_SIZE 4096 /* hardware page size */

typedef struct { volatile int v; } goheap_lock_t; /* all zero = unlocked */
typedef int goheap_pin_t;                          /* what pin hands to unpin */

static inline void goheap_sys_lock(goheap_lock_t *l) {
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE))
        ;
}
static inline void goheap_sys_unlock(goheap_lock_t *l) {
    __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}
/* One CPU, no allocation from interrupt handlers: always slot 0, nothing to mask. */
static inline unsigned goheap_sys_pin(goheap_pin_t *saved) { *saved = 0; return 0; }
static inline void goheap_sys_unpin(goheap_pin_t saved) { (void)saved; }

void goheap_sys_log(const char *msg);
_Noreturn void goheap_sys_panic(const char *msg);
