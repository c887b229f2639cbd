/* tests/host/test_core_large.h: what the two large-object core tests share (test_core_large.c,
 * test_core_realloc.c): this thread's caches, a metric's value, and their fresh process. */
#ifndef TEST_CORE_LARGE_H
#define TEST_CORE_LARGE_H

#include "test_core_common.h"

/* This thread's (slot's) mcache, its large span cache and its page cache. */
static inline struct mcache *my_mcache(void) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    goheap_sys_unpin(pin);
    return c;
}
static inline struct gh_lcache *my_lcache(void) { return &my_mcache()->lcache; }
static inline struct pagecache *my_pcache(void) { return &my_mcache()->pcache; }

static inline uint64_t metric(const char *name) {
    struct goheap_metric m[128];
    size_t n = goheap_read_metrics(m, 128);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(m[i].name, name))
            return m[i].value;
    return ~0ull;
}

/* In a forked child: this binary exec'd again with CORE_LARGE_FRESH=mode, a fresh heap,
 * where main runs that mode's case alone (its exit status is the verdict). */
static inline void exec_fresh_mode(const char *mode) {
    setenv("CORE_LARGE_FRESH", mode, 1);
    char self[] = "test_core_large";
    char *argv[] = {self, 0};
    execv("/proc/self/exe", argv);
    _exit(127);
}

#endif
