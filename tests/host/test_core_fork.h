/* tests/host/test_core_fork.h: what the two fork tests share (test_core_fork.c,
 * test_core_forkgone.c): the TSan option their children need, the children's alarm and
 * their allocations through every tier. */
#ifndef TEST_CORE_FORK_H
#define TEST_CORE_FORK_H

#include "test_core_common.h"

/* Under TSan: a fork child cannot join the threads it did not inherit, which TSan would
 * report at the child's exit as leaked. (Read only by the TSan runtime.) */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "report_thread_leaks=0"; }

#define CHILD_ALARM_S 20 /* a deadlocked child is killed by SIGALRM, failing the case */

/* In the child: allocations through every tier (small, large, cache creation); with
 * exact counters when every other thread was between operations at the fork. */
static int child_work(int exact) {
    alarm(CHILD_ALARM_S);
    for (int i = 0; i < 1000; i++) {
        void *s = goheap_malloc((size_t)(i % 500) + 1);
        void *l = goheap_malloc((size_t)(64 + i % 7) << 10);
        if (!s || !l)
            return 2;
        goheap_free(s);
        goheap_free(l);
    }
    return !exact || goheap_validate() == 0 ? 0 : 3;
}

#endif
