/* tests/host/test_core_forkfree.c: fork children of a process whose other thread is in
 * the middle of a large free or a wake, waiting for a lock: every child's recount must
 * be clean (docs/alloc.md, fork). A binary of its own: its cases hold a lock from the
 * test and fork from a thread, beside no other case's threads. */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <time.h>

#include "test_core_large.h"

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
static _Atomic unsigned fw_bad;
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
 * gh_emptycache: the OR, then the wake) and another forks; then the lock goes. Before,
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

/* A large malloc by a thread without a cache of its own (cap_metadata: no cache can be
 * made) waiting for the meta lock (its span struct) at the fork, in a fresh process
 * (this binary again): the test holds the heap lock until the malloc waits for it,
 * then the meta lock, lets the heap lock go (the malloc goes on to its struct and
 * waits) and forks from a thread (its prepare waits too); then the meta lock goes.
 * Before, the page take and the struct were two holds with no lock over both (a thread
 * with a cache has its drain lock, which prepare takes), and a child forked first got
 * the run taken, uncounted and in no span ("free pages ... "). Now such a malloc holds
 * the heap lock from its take to its publication. Runs of fewer than 16 pages (taken
 * and mapped pinned) and of 16 or more (deferred, nothing to map: backed pages). */
static const unsigned fl_pages[] = {5, 6, 7, 8, 9, 10, 11, 12, 17, 18, 19, 20, 21, 22, 23, 24};
#define FL_ROUNDS (sizeof fl_pages / sizeof fl_pages[0])
static _Atomic unsigned fl_malloc_go, fl_malloc_done, fl_fork_go, fl_fork_done, fl_with_cache;
static void *fl_objs[FL_ROUNDS];
static void fl_wait(_Atomic unsigned *v, unsigned want) {
    struct timespec ts = {0, 1000 * 1000};
    while (atomic_load(v) < want)
        nanosleep(&ts, 0);
}
static void *fl_mallocer(void *arg) {
    (void)arg;
    nocache_thread_runs();
    for (unsigned r = 0; r < FL_ROUNDS; r++) {
        fl_wait(&fl_malloc_go, r + 1);
        fl_objs[r] = goheap_malloc((size_t)fl_pages[r] * GOHEAP_PAGE_SIZE - 64);
        unsigned k = goheap_hosted_slot;
        if (k >= gh_ncpu || gh_fast.caches[k] != &gh_emptycache)
            atomic_store(&fl_with_cache, 1);
        atomic_store(&fl_malloc_done, r + 1);
    }
    return 0;
}
static void *fl_forker(void *arg) {
    (void)arg;
    nocache_thread_runs();
    for (unsigned r = 0; r < FL_ROUNDS; r++) {
        fl_wait(&fl_fork_go, r + 1);
        fw_forker(0);
        atomic_store(&fl_fork_done, r + 1);
        if (atomic_load(&fw_status))
            atomic_fetch_add(&fw_bad, 1);
    }
    return 0;
}
static int fresh_nocache_large(void) {
    /* The heap grown first, and a span struct for each round freed back to its
     * spanalloc (no new metadata under the cap): the same sizes taken and given back */
    void *g = goheap_malloc(32u << 20);
    goheap_free(g);
    for (unsigned r = 0; r < FL_ROUNDS; r++)
        fl_objs[r] = goheap_malloc((size_t)fl_pages[r] * GOHEAP_PAGE_SIZE - 64);
    for (unsigned r = 0; r < FL_ROUNDS; r++)
        goheap_free(fl_objs[r]);
    goheap_free_os_memory();
    pthread_t m, k;
    if (pthread_create(&m, 0, fl_mallocer, 0) || pthread_create(&k, 0, fl_forker, 0))
        return 3;
    struct rlimit old;
    int cap = cap_metadata(&old, 2);
    if (cap)
        return cap;
    struct timespec ts = {0, 20 * 1000 * 1000};
    for (unsigned r = 0; r < FL_ROUNDS; r++) {
        goheap_pin_t pin;
        unsigned cpu = goheap_sys_pin(&pin);
        gh_lock(&gh_heap.lock, cpu);
        atomic_store(&fl_malloc_go, r + 1);
        nanosleep(&ts, 0); /* the malloc waits for the heap lock (its cache's creation failed) */
        gh_lock(&gh_meta.lock, cpu);
        gh_unlock(&gh_heap.lock, cpu);
        nanosleep(&ts, 0); /* the malloc waits for the meta lock */
        atomic_store(&fl_fork_go, r + 1);
        nanosleep(&ts, 0); /* the fork's prepare too */
        gh_unlock(&gh_meta.lock, cpu);
        goheap_sys_unpin(pin);
        fl_wait(&fl_malloc_done, r + 1);
        fl_wait(&fl_fork_done, r + 1);
    }
    setrlimit(RLIMIT_AS, &old);
    pthread_join(m, 0);
    pthread_join(k, 0);
    unsigned bad = atomic_load(&fw_bad), nulls = 0;
    for (unsigned r = 0; r < FL_ROUNDS; r++) {
        nulls += !fl_objs[r];
        if (!fl_objs[r])
            printf("# round %u (%u pages): NULL\n", r, fl_pages[r]);
        goheap_free(fl_objs[r]);
    }
    printf("# large mallocs without a cache: %u of %u children's recounts failed, %u NULL\n", bad,
           (unsigned)FL_ROUNDS, nulls);
    fflush(stdout);
    if (nulls || atomic_load(&fl_with_cache))
        return 6; /* setup: a malloc failed, or the thread had a cache */
    if (bad)
        return 1;
    return goheap_validate() == 0 ? 0 : 8;
}
static void exec_fresh_nocache_large(void) {
    setenv("GOHEAPDEBUG", "bgthread=0,memprofilerate=0", 1);
    exec_fresh_mode("nocachelarge");
}
static void t_fork_in_nocache_large(void) {
    nocache_case(exec_fresh_nocache_large,
                 "large mallocs without a cache (1: a fork child's recount failed; 8: validate; 2-6: setup)");
}

static const struct kt_case cases[] = {
    KT_CASE(t_fork_in_hcache_put),
    KT_CASE(t_fork_in_free_span),
    KT_CASE(t_fork_in_nocache_wake),
    KT_CASE(t_fork_in_nocache_large),
};

int main(void) {
    if (getenv("CORE_LARGE_FRESH"))
        return fresh_nocache_large();
    core_init_no_bg(0);
    kt_begin("core-forkfree", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
