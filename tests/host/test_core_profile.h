/* tests/host/test_core_profile.h: what the profiler's two core tests share
 * (test_core_profile.c, test_core_markers.c): the profile's counts, an object's
 * recorded site, and control of the next malloc's sampling. */
#ifndef TEST_CORE_PROFILE_H
#define TEST_CORE_PROFILE_H

#include "test_core_common.h"

static inline struct gh_prof_counts counts(void) {
    struct gh_prof_counts c;
    gh_prof_counts(&c);
    return c;
}

/* Site of p, innermost frame first; 0 when not sampled. */
static inline unsigned site(void *p, uintptr_t *pcs, size_t *size) {
    return goheap_profile_site(p, pcs, GH_PROF_MAX_DEPTH, size);
}

/* The next malloc of this thread is sampled (1) or not (0): its cache's interval,
 * set by hand (at memprofilerate=1 every allocation would be). */
static inline void sample_next(int on) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    if (c)
        c->next_sample = on ? 0 : INT64_MAX / 2;
    goheap_sys_unpin(pin);
}

#endif
