/* tests/host/test_core_large.h: what the large-object core tests share (test_core_large.c,
 * test_core_realloc.c, test_core_forkfree.c): this thread's caches, a metric's value, their fresh process, and a fresh process whose
 * threads can get no cache (cap_metadata, nocache_case). */
#ifndef TEST_CORE_LARGE_H
#define TEST_CORE_LARGE_H

#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>

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

/* A thread that is to run without a cache calls this first thing in its own function,
 * and cap_metadata waits for as many. AddressSanitizer maps a new thread's signal
 * stack (56 KiB) in that thread, after pthread_create has returned to its creator;
 * one fits in the cap's 64 KiB of slack, core-large's four do not, and the process
 * exits 1 ("AddressSanitizer failed to allocate 0xe000 (57344) bytes of
 * SetAlternateSignalStack (error code: 12)"). Threads that ran late did that in a
 * loaded make test (stop 34's CI, 1 run), and do it every time with the process
 * scheduled SCHED_FIFO on one CPU (chrt -f 50 taskset -c 0: a new thread runs only
 * when the main thread blocks). */
static _Atomic unsigned nocache_threads_running;
static inline void nocache_thread_runs(void) { atomic_fetch_add(&nocache_threads_running, 1); }

/* No cache can be created from here on (until setrlimit(RLIMIT_AS, old)): the
 * persistent chunk used up (as other metadata would), so a new cache needs a new one,
 * and the address space capped at the process's size, so that its reservation fails.
 * Threads that are to run without a cache are started before, and the cap waits
 * until nthreads of them run (nocache_thread_runs). 0, or a setup failure (4, 5). */
static inline int cap_metadata(struct rlimit *old, unsigned nthreads) {
    while (atomic_load(&nocache_threads_running) < nthreads)
        sched_yield();
    while (gh_meta.pchunk && gh_meta.pend - gh_align_up(gh_meta.pchunk, 8) >= 8) {
        size_t left = gh_meta.pend - gh_align_up(gh_meta.pchunk, 8);
        gh_persistentalloc(left < (32u << 10) ? left : (32u << 10), 8, 0);
    }
    long vsz = vm_size_bytes();
    struct rlimit lim;
    if (vsz < 0 || getrlimit(RLIMIT_AS, old) != 0)
        return 4;
    lim = *old;
    lim.rlim_cur = (rlim_t)vsz + (64u << 10); /* less than a persistent chunk more */
    return setrlimit(RLIMIT_AS, &lim) != 0 ? 5 : 0;
}

/* A fresh child (fn) run with the address space capped (cap_metadata); skipped under
 * ThreadSanitizer, whose runtime maps memory of its own under the cap. */
static inline void nocache_case(void (*fn)(void), const char *what) {
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
    (void)fn;
    (void)what;
    printf("    # not under ThreadSanitizer: its runtime maps memory of its own under the cap\n");
    return;
#endif
#endif
    char out[2048];
    int st = core_child_fd(fn, 1, out, sizeof out);
    KT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status 0x%x, %s", what, st, out);
}
#endif
