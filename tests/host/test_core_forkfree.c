/* tests/host/test_core_forkfree.c: fork children of a process whose other thread is in
 * the middle of a large free, waiting for the heap lock: every child's recount must be
 * clean (docs/alloc.md, fork). A binary of its own: its cases hold the heap lock from
 * the test and fork from a thread, beside no other case's threads. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <time.h>

#include "test_core_common.h"

/* A free waiting for the heap lock at the fork: the test holds the heap lock, a thread
 * frees a large object (it waits there) and another forks (its prepare waits there
 * too, after every cache and class lock); then the lock goes, and either may take it
 * first. Whichever did, the child's recount must be clean: before, a free of a span
 * that the CPU's large span cache does not take had made it LCACHED before waiting,
 * and a child forked first kept it in no list for good ("large span caches: 0 pages
 * counted, 0 listed, 128 in cached spans of the map"); a span past the heap's cache,
 * counted idle before its wait, left heap_inuse short. Each size 12 times. */
#define FW_ROUNDS 12
static void *fw_obj;
static atomic_int fw_status;
static void *fw_freer(void *arg) {
    (void)arg;
    goheap_free(fw_obj);
    return 0;
}
static void *fw_forker(void *arg) {
    (void)arg;
    pid_t pid = core_fork();
    if (pid == 0)
        _exit(goheap_validate() == 0 ? 0 : 10);
    int st = 0;
    waitpid(pid, &st, 0);
    atomic_store(&fw_status, st);
    return 0;
}
static void fork_in_free(size_t size, const char *what) {
    unsigned bad = 0, first = 0;
    for (unsigned r = 0; r < FW_ROUNDS; r++) {
        fw_obj = goheap_malloc(size);
        memset(fw_obj, 1, 64);
        goheap_pin_t pin;
        unsigned cpu = goheap_sys_pin(&pin);
        gh_lock(&gh_heap.lock, cpu);
        pthread_t f, k;
        pthread_create(&f, 0, fw_freer, 0);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, 0); /* the freer waits for the heap lock */
        pthread_create(&k, 0, fw_forker, 0);
        nanosleep(&ts, 0); /* the fork's prepare too */
        gh_unlock(&gh_heap.lock, cpu);
        goheap_sys_unpin(pin);
        pthread_join(f, 0);
        pthread_join(k, 0);
        int st = atomic_load(&fw_status);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            first = first ? first : (unsigned)st;
            bad++;
        }
    }
    KT_CHECK(bad == 0, "%s: %u of %u children's recounts failed (first status 0x%x)", what, bad, FW_ROUNDS, first);
}
static void t_fork_in_hcache_put(void) { fork_in_free(1u << 20, "1 MiB free (heap large span cache)"); }
static void t_fork_in_free_span(void) { fork_in_free(24u << 20, "24 MiB free (past the heap cache)"); }

static const struct kt_case cases[] = {
    KT_CASE(t_fork_in_hcache_put),
    KT_CASE(t_fork_in_free_span),
};

int main(void) {
    core_init_no_bg(0);
    kt_begin("core-forkfree", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
