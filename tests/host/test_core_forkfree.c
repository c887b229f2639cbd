/* tests/host/test_core_forkfree.c: fork children of a process whose other thread is in
 * the middle of a large free or a wake, waiting for a lock: every child's recount must
 * be clean (docs/alloc.md, fork). A binary of its own: its cases hold a lock from the
 * test and fork from a thread, beside no other case's threads. */
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
/* One round: the test holds lk while a thread runs fn (it waits for lk) and another
 * forks (its prepare waits there too); then lk goes. The child's status: 0 when its
 * recount was clean. */
static int fork_beside(struct gh_mutex *lk, void *(*fn)(void *)) {
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(lk, cpu);
    pthread_t f, k;
    pthread_create(&f, 0, fn, 0);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, 0); /* fn waits for lk */
    pthread_create(&k, 0, fw_forker, 0);
    nanosleep(&ts, 0); /* the fork's prepare too */
    gh_unlock(lk, cpu);
    goheap_sys_unpin(pin);
    pthread_join(f, 0);
    pthread_join(k, 0);
    int st = atomic_load(&fw_status);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : st ? st : -1;
}
static void fork_in_free(size_t size, const char *what) {
    unsigned bad = 0, first = 0;
    for (unsigned r = 0; r < FW_ROUNDS; r++) {
        fw_obj = goheap_malloc(size);
        memset(fw_obj, 1, 64);
        int st = fork_beside(&gh_heap.lock, fw_freer);
        if (st) {
            first = first ? first : (unsigned)st;
            bad++;
        }
    }
    KT_CHECK(bad == 0, "%s: %u of %u children's recounts failed (first status 0x%x)", what, bad, FW_ROUNDS, first);
}
static void t_fork_in_hcache_put(void) { fork_in_free(1u << 20, "1 MiB free (heap large span cache)"); }
static void t_fork_in_free_span(void) { fork_in_free(24u << 20, "24 MiB free (past the heap cache)"); }

/* A wake by a thread without a cache of its own (it counts in gh_emptycache) waiting
 * for its class lock at the fork: the test holds the class lock of a FULL span, a
 * thread frees one of its objects remotely as such a thread does (gh_free_small with
 * gh_emptycache: the AND, then the wake) and another forks; then the lock goes. Before,
 * the wake flipped the span FULL -> PENDING before its wait and recorded nothing (a
 * thread with a cache records it in mcache.waking), so a child forked first kept it
 * PENDING on the full list ("span cstate 4 not on its mcentral list"). Now such a
 * wake takes the class lock before the flip: the child finds the free not yet woken
 * (FULL, a remote free pending: gh_fork_unwoken) or the span listed pending. */
#define FW_WAKE_SIZE 48
static struct {
    struct mspan *s;
    uintptr_t a;
} fw_wake;
static void *fw_waker(void *arg) {
    (void)arg;
    struct mspan *s = fw_wake.s;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_free_small(&gh_emptycache, cpu, s, (unsigned)gh_span_objindex(s, fw_wake.a - s->base), fw_wake.a);
    goheap_sys_unpin(pin);
    return 0;
}
static void t_fork_in_nocache_wake(void) {
    unsigned bad = 0, first = 0, setup = 0;
    unsigned nobj = 4 * goheap_class_to_nobjs[gh_size_to_spc(FW_WAKE_SIZE, gh_flags_tab(0)) >> 1];
    void **objs = calloc(nobj, sizeof *objs);
    for (unsigned r = 0; r < FW_ROUNDS; r++) {
        for (unsigned i = 0; i < nobj; i++)
            objs[i] = goheap_malloc(FW_WAKE_SIZE);
        goheap_flush(); /* the current span filed: FULL ones on their class's full list */
        fw_wake.s = 0;
        for (unsigned i = 0; i < nobj && !fw_wake.s; i++) {
            struct mspan *s = gh_span_of((uintptr_t)objs[i]);
            if (atomic_load(&s->cstate) == GH_CS_FULL && !atomic_load(&s->nsampled) && !gh_span_remote_pending(s)) {
                fw_wake.s = s;
                fw_wake.a = (uintptr_t)objs[i];
                objs[i] = 0;
            }
        }
        if (!fw_wake.s) {
            setup++;
            continue;
        }
        int st = fork_beside(&gh_central[fw_wake.s->spc].lock, fw_waker);
        if (st) {
            first = first ? first : (unsigned)st;
            bad++;
        }
        for (unsigned i = 0; i < nobj; i++)
            goheap_free(objs[i]);
    }
    free(objs);
    KT_CHECK(setup == 0, "no FULL span to free into in %u of %u rounds", setup, FW_ROUNDS);
    KT_CHECK(bad == 0, "wake without a cache: %u of %u children's recounts failed (first status 0x%x)", bad,
             FW_ROUNDS, first);
}

static const struct kt_case cases[] = {
    KT_CASE(t_fork_in_hcache_put),
    KT_CASE(t_fork_in_free_span),
    KT_CASE(t_fork_in_nocache_wake),
};

int main(void) {
    core_init_no_bg(0);
    kt_begin("core-forkfree", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
