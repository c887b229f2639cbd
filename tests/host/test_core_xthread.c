/* tests/host/test_core_xthread.c: threads as CPUs: cross-thread frees, slots handed
 * out and given back as threads come and go (with more threads than exclusive slots,
 * some share the locked overflow slots), and flushing idle slots. The test sets
 * GOHEAPDEBUG=ncpu=4 before the first allocation so that overflow happens. */
#include <pthread.h>

#include "test_core_common.h"

#define NT 12
#define PER 4000

static void *volatile box[NT][PER];

static void *producer(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < PER; i++) {
        size_t sz = (size_t)((i * 37 + id * 11) % 3000) + 1;
        char *p = goheap_malloc(sz);
        p[0] = (char)id;
        p[sz - 1] = (char)id;
        box[id][i] = p;
    }
    return 0;
}

static void *consumer(void *arg) {
    long id = (long)arg;
    long from = (id + 1) % NT; /* frees another thread's objects */
    int bad = 0;
    for (int i = 0; i < PER; i++) {
        char *p = box[from][i];
        if (p[0] != (char)from)
            bad++;
        goheap_free(p);
        box[from][i] = 0;
    }
    return (void *)(long)bad;
}

static void run_round(void) {
    pthread_t t[NT];
    for (long i = 0; i < NT; i++)
        pthread_create(&t[i], 0, producer, (void *)i);
    for (int i = 0; i < NT; i++)
        pthread_join(t[i], 0);
    for (long i = 0; i < NT; i++)
        pthread_create(&t[i], 0, consumer, (void *)i);
    long bad = 0;
    for (int i = 0; i < NT; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    KT_CHECK(bad == 0, "%ld objects had foreign contents", bad);
}

static void t_cross_thread_rounds(void) {
    for (int r = 0; r < 5; r++)
        run_round();
    KT_CHECK(core_stats().heap_objects == 0, "%lu left", core_stats().heap_objects);
}

/* All threads are gone: free_os_memory flushes their (idle) slots and every page
 * goes back. */
static void t_idle_slots_flushed(void) {
    goheap_free_os_memory();
    struct goheap_memstats m = core_stats();
    KT_CHECK(m.heap_inuse == 0, "inuse %lu after all threads exited", m.heap_inuse);
    KT_CHECK(m.heap_released == m.heap_idle, "");
}

/* Objects allocated by a thread that then exits are freed by main afterwards. */
static void *alloc_and_exit(void *arg) {
    void **out = arg;
    for (int i = 0; i < 1000; i++)
        out[i] = goheap_malloc(64);
    return 0;
}
static void t_free_after_owner_exit(void) {
    static void *objs[1000];
    pthread_t t;
    pthread_create(&t, 0, alloc_and_exit, objs);
    pthread_join(t, 0);
    for (int i = 0; i < 1000; i++)
        goheap_free(objs[i]);
    KT_CHECK(core_stats().heap_objects == 0, "");
}

static const struct kt_case cases[] = {
    KT_CASE(t_cross_thread_rounds),
    KT_CASE(t_idle_slots_flushed),
    KT_CASE(t_free_after_owner_exit),
};

int main(void) {
    setenv("GOHEAPDEBUG", "ncpu=4,debug=1", 1);
    kt_begin("core-xthread", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
