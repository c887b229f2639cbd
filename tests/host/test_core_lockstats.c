/* tests/host/test_core_lockstats.c: lockstats=1 counts acquisitions per lock class,
 * and a contended acquisition (a class lock held by another thread) with its wait;
 * off (the default), every counter stays zero. Each case runs in a child started with
 * its own GOHEAPDEBUG, since the knob is read at init. */
#include <pthread.h>
#include <time.h>

#include "test_core_common.h"

#define SPC_96 ((8u << 1) | 0) /* 96 B: class 8, scan */

static void *holder(void *arg) {
    int *stage = arg;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(&gh_central[SPC_96].lock, cpu);
    __atomic_store_n(stage, 1, __ATOMIC_RELEASE);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, 0); /* the other thread's refill of the class waits here */
    gh_unlock(&gh_central[SPC_96].lock, cpu);
    goheap_sys_unpin(pin);
    return 0;
}

/* Exit status: 0 when the counters say what the knob promises. */
static int child(int on) {
    setenv("GOHEAPDEBUG", on ? "lockstats=1" : "", 1);
    void *p[1000];
    for (int i = 0; i < 1000; i++)
        p[i] = goheap_malloc(200);
    for (int i = 0; i < 1000; i++)
        goheap_free(p[i]);
    int stage = 0;
    pthread_t t;
    pthread_create(&t, 0, holder, &stage);
    while (!__atomic_load_n(&stage, __ATOMIC_ACQUIRE))
        ;
    void *q = goheap_malloc(96); /* this thread's first 96 B: a refill from mcentral */
    pthread_join(t, 0);
    goheap_free(q);
    struct goheap_memstats m;
    goheap_read_memstats(&m);
    if (!on) {
        for (unsigned k = 0; k < GOHEAP_LC_COUNT; k++)
            if (m.locks[k].acquires || m.locks[k].contended || m.locks[k].wait_ns)
                return 1;
        return 0;
    }
    if (m.locks[GOHEAP_LC_MCACHE].acquires < 10 || m.locks[GOHEAP_LC_CENTRAL].acquires < 10)
        return 2;
    if (m.locks[GOHEAP_LC_CENTRAL].contended < 1 || m.locks[GOHEAP_LC_CENTRAL].wait_ns < 10 * 1000 * 1000)
        return 3; /* it waited for the 50 ms the holder slept, give or take */
    struct goheap_metric mt[128];
    size_t n = goheap_read_metrics(mt, 128);
    uint64_t total = ~0ull, acq = ~0ull;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(mt[i].name, "/sync/mutex/wait/total:nanoseconds"))
            total = mt[i].value;
        if (!strcmp(mt[i].name, "/goheap/lock/mcentral/acquires:events"))
            acq = mt[i].value;
    }
    if (total < m.locks[GOHEAP_LC_CENTRAL].wait_ns || acq != m.locks[GOHEAP_LC_CENTRAL].acquires)
        return 4;
    return 0;
}

static int run(int on) {
    pid_t pid = core_fork();
    if (pid == 0)
        _exit(child(on));
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void t_counts_when_on(void) {
    int r = run(1);
    KT_CHECK(r == 0, "lockstats=1: child status %d (2: too few acquisitions, 3: no contended wait, "
                     "4: metrics disagree)", r);
}

static void t_zero_when_off(void) { KT_CHECK(run(0) == 0, "lockstats off: a counter moved"); }

static const struct kt_case cases[] = {KT_CASE(t_counts_when_on), KT_CASE(t_zero_when_off)};

int main(void) {
    kt_begin("core-lockstats", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), 0);
}
