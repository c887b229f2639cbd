/* tests/host/test_core_fork.c: fork safety (goheap_fork_prepare/parent/child, registered
 * by the hosted platform). Another thread holds an allocator lock while the main thread
 * forks: prepare must wait for it, and the child must allocate without deadlocking. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "test_core_common.h"

/* Under TSan: a fork child cannot join the threads it did not inherit, which TSan would
 * report at the child's exit as leaked. (Read only by the TSan runtime.) */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "report_thread_leaks=0"; }

#define CHILD_ALARM_S 20 /* a deadlocked child is killed by SIGALRM, failing the case */
#define HOLD_NS 100000000 /* the holder keeps its lock 100 ms after fork() was called */

struct holder {
    struct gh_mutex *lock;
    atomic_int held, released;
};

static void *hold_lock(void *arg) {
    struct holder *h = arg;
    goheap_free(goheap_malloc(16)); /* initialised, and this thread has a slot */
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    gh_lock(h->lock, cpu);
    atomic_store(&h->held, 1);
    struct timespec ts = {0, HOLD_NS};
    nanosleep(&ts, 0);
    atomic_store(&h->released, 1); /* set before the unlock: fork's prepare waits for it */
    gh_unlock(h->lock, cpu);
    goheap_sys_unpin(pin);
    return 0;
}

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

/* Starts holder(arg) on a thread, waits until it holds (*held), and forks. The child
 * exits 4 if the holder had not let go (*released: forked while held by a thread that
 * is gone there), else with child()'s status; the parent checks that fork returned
 * only after the release and that the child succeeded. */
static void fork_during(void *(*holder)(void *), void *arg, atomic_int *held, atomic_int *released,
                        int (*child)(void), const char *what) {
    pthread_t t;
    pthread_create(&t, 0, holder, arg);
    while (!atomic_load(held))
        sched_yield();
    pid_t pid = core_fork();
    if (pid == 0)
        _exit(atomic_load(released) ? child() : 4);
    KT_CHECK(atomic_load(released), "%s: fork returned before the holder let go", what);
    int st = 0;
    waitpid(pid, &st, 0);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child status 0x%x", what, st);
    pthread_join(t, 0);
}

static int child_work_exact(void) { return child_work(1); } /* the holder is pinned but between operations */

static void fork_while_held(struct gh_mutex *lock, const char *what) {
    goheap_free(goheap_malloc(1 << 20));
    struct holder h = {lock, 0, 0};
    fork_during(hold_lock, &h, &h.held, &h.released, child_work_exact, what);
    /* The parent goes on too. */
    void *p = goheap_malloc(1 << 20);
    KT_CHECK(p != 0, "%s: parent malloc after fork", what);
    goheap_free(p);
}

static void t_fork_heap_lock_held(void) { fork_while_held(&gh_heap.lock, "heap"); }
static void t_fork_central_lock_held(void) { fork_while_held(&gh_central[5].lock, "mcentral[5]"); }
static void t_fork_meta_lock_held(void) { fork_while_held(&gh_meta.lock, "meta"); }

/* A background step in progress (the hosted background thread's, between its locked
 * parts: a run being unmapped, spans taken from a cache not yet freed) while another
 * thread forks: prepare must wait for the step to end, as for a lock, or the child
 * keeps its half-done state for good (a scavenged quantum neither free nor released).
 * The holder stands in for the step: it holds the step's guard as a step does. */
struct stepper {
    atomic_int held, released;
};
static void *hold_step(void *arg) {
    struct stepper *h = arg;
    goheap_free(goheap_malloc(16));
    gh_background_hold(1);
    atomic_store(&h->held, 1);
    struct timespec ts = {0, HOLD_NS};
    nanosleep(&ts, 0);
    atomic_store(&h->released, 1);
    gh_background_hold(0);
    return 0;
}
/* The child of a fork during a step: every free page is released by
 * goheap_free_os_memory (none stuck "scavenging"), then the usual work. */
static int child_after_step(void) {
    goheap_free_os_memory();
    struct goheap_memstats m = core_stats();
    return m.heap_idle != m.heap_released ? 5 : child_work(1);
}
static void t_fork_background_step(void) {
    struct stepper h = {0, 0};
    fork_during(hold_step, &h, &h.held, &h.released, child_after_step, "background step");
    /* The parent's steps go on: the guard is free again. */
    gh_background_hold(1);
    gh_background_hold(0);
}

/* Forks from one thread while others allocate and free: every child allocates (the
 * counters may include objects that were in flight in the vanished threads). */
#define CHURN_THREADS 3
#define CHURN_FORKS 20
static atomic_int churn_stop;
static void *churn(void *arg) {
    (void)arg;
    void *keep[64] = {0};
    for (unsigned i = 0; !atomic_load(&churn_stop); i++) {
        unsigned k = i % 64;
        goheap_free(keep[k]);
        keep[k] = goheap_malloc(i % 3 == 0 ? (size_t)(40 << 10) : (size_t)(i % 900) + 1);
    }
    for (unsigned k = 0; k < 64; k++)
        goheap_free(keep[k]);
    return 0;
}
static void t_fork_during_churn(void) {
    pthread_t t[CHURN_THREADS];
    atomic_store(&churn_stop, 0);
    for (int i = 0; i < CHURN_THREADS; i++)
        pthread_create(&t[i], 0, churn, 0);
    int bad = 0;
    for (int f = 0; f < CHURN_FORKS; f++) {
        pid_t pid = core_fork();
        if (pid == 0)
            _exit(child_work(0));
        int st = 0;
        waitpid(pid, &st, 0);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !bad++)
            printf("    # first failing child: status 0x%x\n", st);
    }
    atomic_store(&churn_stop, 1);
    for (int i = 0; i < CHURN_THREADS; i++)
        pthread_join(t[i], 0);
    KT_CHECK(bad == 0, "%d of %d children failed", bad, CHURN_FORKS);
}

/* Fork handlers registered before the heap's own (main, before the first goheap call)
 * run their prepare after the heap's prepare and their parent/child before the heap's,
 * while it holds every lock and the background step: goheap_free_os_memory and
 * goheap_validate there waited for that step forever (the forking thread holds it).
 * Now they run as from any other thread: in prepare, parent and child, every free
 * page released and the recount clean. The fork runs in a child with an alarm, so a
 * hang fails the case instead of the step. */
static atomic_int early_on;
static int early_bad; /* per process: which handler failed, bit by bit */
static void early_check(int bit) {
    if (!atomic_load(&early_on))
        return;
    void *big = goheap_malloc(3u << 20); /* a free page run to release */
    goheap_free(big);
    goheap_free_os_memory();
    struct goheap_memstats m = core_stats();
    if (m.heap_idle != m.heap_released || goheap_validate() != 0)
        early_bad |= bit;
}
static void early_prepare(void) { early_check(1); }
static void early_parent(void) { early_check(2); }
static void early_child(void) { early_check(4); }
static void early_fork(void) {
    alarm(CHILD_ALARM_S);
    atomic_store(&early_on, 1);
    pid_t pid = fork();
    if (pid == 0)
        _exit(early_bad | child_work(1) << 3);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("    # grandchild status 0x%x\n", st);
        _exit(8);
    }
    _exit(early_bad);
}
static void t_fork_early_handlers(void) {
    char err[1024];
    int st = core_child(early_fork, err, sizeof err);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x (signal 14: hung; exit 1/2/4: prepare/"
             "parent/child handler's checks failed, 8: grandchild), stderr: %s", st, err);
}

/* Two threads forking at once (an embedder's fork wrapper calls the hooks itself;
 * glibc runs atfork handlers of concurrent forks concurrently): the second fork's
 * hold must wait until the first fork's parent handler. It returned at once, seeing
 * the first fork's bg_held, and went on to take the platform's locks without the
 * background hold and the fork gate, which it then took while holding them (a mover or
 * background step on an overflow slot waiting for those locks deadlocked it). */
#define CONC_HOLD_MS 200
static atomic_int conc_a_held, conc_a_releasing, conc_b_saw_release;
static void *conc_second(void *arg) {
    (void)arg;
    while (!atomic_load(&conc_a_held)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, 0);
    }
    goheap_fork_hold_background();
    atomic_store(&conc_b_saw_release, atomic_load(&conc_a_releasing));
    goheap_fork_parent();
    return 0;
}
static void t_fork_concurrent(void) {
    (void)goheap_malloc(1); /* the heap is up */
    atomic_store(&conc_a_held, 0);
    atomic_store(&conc_a_releasing, 0);
    atomic_store(&conc_b_saw_release, -1);
    pthread_t t;
    pthread_create(&t, 0, conc_second, 0);
    goheap_fork_hold_background();
    atomic_store(&conc_a_held, 1);
    struct timespec ts = {0, CONC_HOLD_MS * 1000000L};
    nanosleep(&ts, 0); /* the other thread is in its hold by now */
    atomic_store(&conc_a_releasing, 1);
    goheap_fork_parent();
    pthread_join(t, 0);
    KT_CHECK(atomic_load(&conc_b_saw_release) == 1,
             "the second fork's hold returned while the first fork held (saw %d)", atomic_load(&conc_b_saw_release));
    KT_CHECK(goheap_validate() == 0, "validate after both");
}

/* A large malloc of released pages (>= GH_MAP_UNPINNED_PAGES) and realloc's growth in
 * place over them map their pages unpinned with no lock held, between the run's take
 * and the span's publication (alloc/mheap.c map_run): up to ~100 ms for 256 MiB. A
 * fork then must not leave the child the run in use for good, with no thread to
 * finish it: goheap_validate failed there ("heap_inuse 33554432 != 0 bytes of live
 * spans") and the pages were never reused. The mapping thread is held inside the map
 * by the hosted platform's test hook (goheap_hosted_map_test_hook) while the main
 * thread forks; the child checks the heap and reuses the run, the parent lets the
 * map go on and checks that the allocation completed. */
#define MAP_FROM (4u << 20)  /* the object realloc grows */
#define MAP_BIG (32u << 20)  /* the large malloc, and the growth's target */
#define FILL_MAX 256         /* fillers that put a span right after the remap's object */
#define MAP_WAIT_MS 20000    /* the mapping thread must reach the hook within this */
static atomic_int map_in, map_go;
static __thread int map_hold_me; /* set on the thread to hold, for its next map only */
static void hold_in_map(void *addr, size_t bytes) {
    (void)addr;
    if (!map_hold_me || bytes < (size_t)GH_MAP_UNPINNED_PAGES * GOHEAP_PAGE_SIZE)
        return; /* (the child's own maps, and any other thread's, go through) */
    map_hold_me = 0;
    atomic_store(&map_in, 1);
    while (!atomic_load(&map_go)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, 0);
    }
}
/* Whether [p, +n) reads zero. */
static int reads_zero(const unsigned char *p, size_t n) {
    for (size_t k = 0; k < n; k += 8)
        if (*(const uint64_t *)(p + k) != 0)
            return 0;
    return 1;
}
struct mapper {
    unsigned char *p; /* growth: the object to grow; after: what malloc/realloc returned */
    int grow;
};
static void *map_held(void *arg) {
    struct mapper *m = arg;
    map_hold_me = 1;
    m->p = m->grow ? goheap_realloc(m->p, MAP_BIG) : goheap_malloc(MAP_BIG);
    map_hold_me = 0;
    return 0;
}
/* The child: the run in flight went back whole (the recount, the MemStats sums, every
 * free page released by free_os_memory) and is reused: a malloc of the same size (new
 * run), or the same growth in place of the same object (growth), with no heap growth,
 * reading zero. */
static unsigned char *map_child_obj; /* growth: the object, as the parent had it */
/* The child's first checks: the recount (10), the MemStats sums (11), every free page
 * released by free_os_memory (12); 0, with the stats after it in *m. */
static int child_heap_whole(struct goheap_memstats *m) {
    alarm(CHILD_ALARM_S);
    if (goheap_validate() != 0)
        return 10;
    *m = core_stats();
    if (m->heap_idle + m->heap_inuse != m->heap_sys || m->heap_released > m->heap_idle ||
        m->heap_objects != m->mallocs - m->frees)
        return 11;
    goheap_free_os_memory();
    *m = core_stats();
    return m->heap_idle != m->heap_released ? 12 : 0;
}
static int child_in_map(void) {
    struct goheap_memstats m;
    int bad = child_heap_whole(&m);
    if (bad)
        return bad;
    unsigned char *p;
    if (map_child_obj) {
        if (goheap_usable_size(map_child_obj) >= MAP_BIG || map_child_obj[0] != 0x5a ||
            map_child_obj[MAP_FROM - 1] != 0x5a)
            return 13;
        p = goheap_realloc(map_child_obj, MAP_BIG);
        if (p != map_child_obj || !reads_zero(p + MAP_FROM, MAP_BIG - MAP_FROM))
            return 14;
    } else {
        p = goheap_malloc(MAP_BIG);
        if (!p || !reads_zero(p, MAP_BIG))
            return 14;
    }
    if (core_stats().heap_sys != m.heap_sys)
        return 15; /* the heap grew: the run was not reused */
    goheap_free(p);
    return goheap_validate() == 0 ? 0 : 16;
}
/* Lets the held thread t go on (map_go), joins it, clears the hooks, and checks that
 * it reached its hook (in) and that the child (pid) exited 0. */
static void map_release_reap(pthread_t t, pid_t pid, int in, const char *what) {
    atomic_store(&map_go, 1);
    pthread_join(t, 0);
    __atomic_store_n(&goheap_hosted_map_test_hook, (void (*)(void *, size_t))0, __ATOMIC_RELEASE);
    __atomic_store_n(&goheap_hosted_remap_test_hook, (void (*)(void *, void *, size_t))0, __ATOMIC_RELEASE);
    KT_CHECK(in, "%s: the thread to hold never reached the hook", what);
    int st = 0;
    if (pid > 0)
        waitpid(pid, &st, 0);
    KT_CHECK(pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "%s: child status 0x%x (exit 10: recount, 11: MemStats sums, 12: free pages not released, 13: "
             "object changed, 14: the same allocation failed or not zero, 15: heap grew, 16: recount after)",
             what, st);
}
static void fork_in_map(int grow, const char *what) {
    struct mapper m = {0, grow};
    map_child_obj = 0;
    if (grow) { /* released pages after the object: its growth must map (core-realloc) */
        goheap_free(goheap_malloc(MAP_BIG + MAP_BIG / 4));
        m.p = goheap_malloc(MAP_FROM);
        KT_CHECK(m.p != 0, "%s: malloc", what);
        memset(m.p, 0x5a, MAP_FROM);
        map_child_obj = m.p;
    }
    goheap_free_os_memory(); /* every free page released: the map is not skipped */
    atomic_store(&map_in, 0);
    atomic_store(&map_go, 0);
    __atomic_store_n(&goheap_hosted_map_test_hook, hold_in_map, __ATOMIC_RELEASE);
    unsigned char *before = m.p;
    pthread_t t;
    pthread_create(&t, 0, map_held, &m);
    for (int i = 0; i < MAP_WAIT_MS && !atomic_load(&map_in); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, 0);
    }
    int in = atomic_load(&map_in);
    pid_t pid = -1;
    if (in) {
        pid = core_fork();
        if (pid == 0)
            _exit(child_in_map());
    }
    map_release_reap(t, pid, in, what);
    /* The parent's allocation completed normally. */
    KT_CHECK(m.p != 0 && (!grow || m.p == before), "%s: parent got %p (object %p)", what, (void *)m.p,
             (void *)before);
    if (m.p) {
        KT_CHECK(grow ? m.p[0] == 0x5a && m.p[MAP_FROM - 1] == 0x5a && reads_zero(m.p + MAP_FROM, MAP_BIG - MAP_FROM)
                      : reads_zero(m.p, MAP_BIG),
                 "%s: parent's object does not read as it should", what);
        memset(m.p, 0xa5, MAP_BIG);
        goheap_free(m.p);
    }
}
static void t_fork_in_large_map(void) { fork_in_map(0, "large malloc"); }
static void t_fork_in_grow_map(void) { fork_in_map(1, "realloc growth"); }

/* realloc's zero-copy move (alloc/remap.c) of a large object that cannot grow in
 * place: its destination run is taken and counted, then, with no lock held, emptied
 * (the frames it had go back), its tail mapped and the old object's frames moved in
 * (mremap), and only then published, the old span freed. A fork in the middle gave
 * the child the run in use for good, with no span: goheap_validate failed there, as
 * for a large malloc's map above. Two places: (1) before the move, in the tail's map
 * (the map hook): the child must give the destination back and keep the object as
 * it was; (2) inside the move itself (the remap hook, the old span MOVING): the fork
 * must not land there at all (the child would have to tell whether mremap had run),
 * so it waits until the move is over, and the child sees the realloc done. */
#define REMAP_SLEEP_MS 300 /* (2): the mover stays in the hook this long after fork() is called */
static atomic_int remap_forking, remap_left;
static void hold_in_remap(void *old, void *new, size_t bytes) {
    (void)old, (void)new, (void)bytes;
    if (!map_hold_me)
        return;
    map_hold_me = 0;
    atomic_store(&map_in, 1);
    while (!atomic_load(&remap_forking)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, 0);
    }
    struct timespec ts = {0, REMAP_SLEEP_MS * 1000000L};
    nanosleep(&ts, 0);
    atomic_store(&remap_left, 1);
}
/* The child of (1): the destination run went back (recount, sums, every free page
 * released), the object is as it was, and the same realloc moves it again without
 * growing the heap, its bytes kept and the tail zero. Of (2): the realloc is over (the
 * new object, whose address the child never learns, is a live allocation): the
 * recount is clean and every free page is released. */
static int child_in_remap(int inside) {
    struct goheap_memstats m;
    int bad = child_heap_whole(&m);
    if (bad)
        return bad;
    if (inside)
        return 0;
    unsigned char *o = map_child_obj;
    if (goheap_usable_size(o) >= MAP_BIG || o[0] != 0x5a || o[MAP_FROM - 1] != 0x5a)
        return 13;
    unsigned char *p = goheap_realloc(o, MAP_BIG);
    if (!p || p == o || p[0] != 0x5a || p[MAP_FROM - 1] != 0x5a || !reads_zero(p + MAP_FROM, MAP_BIG - MAP_FROM))
        return 14;
    if (core_stats().heap_sys != m.heap_sys)
        return 15; /* the heap grew: the destination's run was not reused */
    goheap_free(p);
    return goheap_validate() == 0 ? 0 : 16;
}
static void fork_in_remap(int inside, const char *what) {
    struct mapper m = {0, 1};
    m.p = goheap_malloc(MAP_FROM);
    void *blocker = goheap_malloc(1u << 20); /* the pages after it: no growth in place */
    KT_CHECK(m.p && blocker, "%s: malloc", what);
    /* The blocker lands where the heap puts it, not always right after the object
     * (asan-test_core_fork once found free pages there: both cases grew in place,
     * "remapped 0"): until the page after the object is in use, objects of 1 MiB,
     * then half as many pages each time down to one page, go wherever the page
     * allocator puts them (first fit: the lowest free run, that gap among them). */
    void *fill[FILL_MAX];
    unsigned nfill = 0;
    const struct mspan *ms = m.p ? gh_span_of((uintptr_t)m.p) : 0;
    uintptr_t after = ms ? ms->base + ((uintptr_t)ms->npages << GOHEAP_PAGE_SHIFT) : 0;
    for (size_t sz = 1u << 20;
         after && nfill < FILL_MAX && atomic_load(&gh_span_of(after)->state) != GH_SPAN_INUSE;
         sz = sz > (8u << 10) ? sz / 2 : sz)
        fill[nfill++] = goheap_malloc(sz);
    KT_CHECK(after && atomic_load(&gh_span_of(after)->state) == GH_SPAN_INUSE,
             "%s: the pages after the object stay free (%u fillers)", what, nfill);
    memset(m.p, 0x5a, MAP_FROM);
    map_child_obj = m.p;
    goheap_free_os_memory();
    atomic_store(&map_in, 0);
    atomic_store(&map_go, 0);
    atomic_store(&remap_forking, 0);
    atomic_store(&remap_left, 0);
    if (inside)
        __atomic_store_n(&goheap_hosted_remap_test_hook, hold_in_remap, __ATOMIC_RELEASE);
    else
        __atomic_store_n(&goheap_hosted_map_test_hook, hold_in_map, __ATOMIC_RELEASE);
    unsigned char *before = m.p;
    uint64_t remaps0 = core_stats().realloc_remapped;
    pthread_t t;
    pthread_create(&t, 0, map_held, &m);
    for (int i = 0; i < MAP_WAIT_MS && !atomic_load(&map_in); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, 0);
    }
    int in = atomic_load(&map_in), left = -1;
    pid_t pid = -1;
    if (in) {
        fflush(stdout);
        atomic_store(&remap_forking, 1);
        pid = fork();
        if (pid == 0)
            _exit(child_in_remap(inside));
        left = atomic_load(&remap_left);
    }
    map_release_reap(t, pid, in, what);
    KT_CHECK(!inside || left == 1, "%s: fork returned while the move was in the middle", what);
    /* The parent's realloc completed normally, moving the frames. */
    KT_CHECK(m.p != 0 && m.p != before && core_stats().realloc_remapped - remaps0 == MAP_FROM,
             "%s: parent got %p (object %p), remapped %lu", what, (void *)m.p, (void *)before,
             (unsigned long)(core_stats().realloc_remapped - remaps0));
    if (m.p) {
        KT_CHECK(m.p[0] == 0x5a && m.p[MAP_FROM - 1] == 0x5a && reads_zero(m.p + MAP_FROM, MAP_BIG - MAP_FROM),
                 "%s: parent's object does not read as it should", what);
        goheap_free(m.p);
    }
    goheap_free(blocker);
    while (nfill)
        goheap_free(fill[--nfill]);
}
static void t_fork_in_remap_tail(void) { fork_in_remap(0, "remap, tail map"); }
static void t_fork_in_remap_move(void) { fork_in_remap(1, "remap, the move"); }

/* A leak scan reads objects under the unmap gate's hold (alloc/sysmem.h), taken and
 * released with no lock held; an unmap waits for the holds to drain. A fork while
 * another thread held it copied the count to the child, where no thread would ever
 * release it: the child's first unmap (goheap_free_os_memory) waited forever. The
 * holder stands in for a scan: it takes the hold as a scan does. */
static atomic_int uh_held, uh_forked;
static void *hold_unmap_gate(void *arg) {
    (void)arg;
    gh_unmap_hold();
    atomic_store(&uh_held, 1);
    while (!atomic_load(&uh_forked))
        sched_yield();
    gh_unmap_release();
    return 0;
}
static int child_unmaps(void) {
    alarm(CHILD_ALARM_S);
    goheap_free(goheap_malloc(3u << 20));
    goheap_free_os_memory(); /* unmaps the freed run */
    struct goheap_memstats m = core_stats();
    return m.heap_idle == m.heap_released && goheap_validate() == 0 ? 0 : 5;
}
static void t_fork_in_unmap_hold(void) {
    atomic_store(&uh_held, 0);
    atomic_store(&uh_forked, 0);
    pthread_t t;
    pthread_create(&t, 0, hold_unmap_gate, 0);
    while (!atomic_load(&uh_held))
        sched_yield();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_unmaps());
    atomic_store(&uh_forked, 1);
    pthread_join(t, 0);
    int st = 0;
    waitpid(pid, &st, 0);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x (signal 14: its unmap waited for good)", st);
}

/* A fork child and the caches of its parent's other threads. Each slot in use at the
 * fork but the forking thread's is retired in the child (SLOT_GONE, hosted/platform.c):
 * no thread of the child takes it again. What its cache held must still come back:
 * goheap_free_os_memory and the memory limit give every free byte back (HeapIdle ==
 * HeapReleased), and the spans it was allocating from go home, so that in-use bytes
 * fall back to what they were before the thread filled its cache. The thread fills
 * every per-CPU cache there is (small spans current and parked, a tiny block, the page
 * cache, a realloc grow window, the large span cache), frees everything but one in 16
 * of its 512 B objects (the child frees those), and waits at the fork. Before, the
 * child's drains took the parked spans, the page cache and the window, but its large
 * span cache (132 pages: 1,056 KiB idle, never released) and its current spans (36
 * pages in use) stayed for good. */
/* A thread held beside a fork, gone in its child: it says it holds (beside_hold), and
 * goes on when the parent lets it. fork_beside starts fn, waits until it holds, forks
 * (the child exits with child()), lets the thread go, joins it and returns the child's
 * wait status. */
static atomic_int beside_ready, beside_go;
static void beside_hold(void) {
    atomic_store(&beside_ready, 1);
    while (!atomic_load(&beside_go))
        sched_yield();
}
static int fork_beside(void *(*fn)(void *), int (*child)(void)) {
    atomic_store(&beside_ready, 0);
    atomic_store(&beside_go, 0);
    pthread_t t;
    pthread_create(&t, 0, fn, 0);
    while (!atomic_load(&beside_ready))
        sched_yield();
    pid_t pid = core_fork();
    if (pid == 0)
        _exit(child());
    atomic_store(&beside_go, 1);
    pthread_join(t, 0);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

#define GONE_SMALL_N 3000
/* The tiny block a gone cache had is dropped, not freed (alloc/mcache.c release_gone):
 * its span, one page, stays in use. */
#define GONE_TINY_SPAN GOHEAP_PAGE_SIZE
#define GONE_KEEP_EVERY 16 /* of the 512 B objects, one in 16 stays live: parked spans in use */
static void *gone_kept[GONE_SMALL_N / GONE_KEEP_EVERY + 1];
static unsigned gone_cpu;
static void *gone_fill(void *arg) {
    (void)arg;
    /* the grow window: free, backed pages after a buffer doubled from 16 B */
    goheap_free(goheap_malloc(32u << 20));
    goheap_flush();
    static const size_t sizes[] = {48, 512, 3072};
    static void *objs[GONE_SMALL_N];
    for (unsigned k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (unsigned i = 0; i < GONE_SMALL_N; i++)
            objs[i] = goheap_malloc(sizes[k]);
        for (unsigned i = 0; i < GONE_SMALL_N; i++)
            if (k != 1 || i % GONE_KEEP_EVERY)
                goheap_free(objs[i]);
            else
                gone_kept[i / GONE_KEEP_EVERY] = objs[i];
    }
    /* a tiny block, its objects freed: the child drops it (one 16 B block stays) */
    void *t[4];
    for (unsigned i = 0; i < 4; i++)
        t[i] = goheap_malloc_flags(3, GOHEAP_NOSCAN);
    for (unsigned i = 0; i < 4; i++)
        goheap_free(t[i]);
    /* (the grow window:) */
    void *p = goheap_malloc(16);
    for (size_t n = 32; p && n <= (2u << 20); n *= 2)
        p = goheap_realloc(p, n);
    goheap_free(p);
    /* the large span cache: 4 spans of 8 pages and 4 of 25 */
    void *l[8];
    for (unsigned i = 0; i < 8; i++)
        l[i] = goheap_malloc(i < 4 ? 64u << 10 : 200u << 10);
    for (unsigned i = 0; i < 8; i++)
        goheap_free(l[i]);
    /* its slot, for the child to look at its cache */
    goheap_pin_t pin;
    gone_cpu = goheap_sys_pin(&pin);
    goheap_sys_unpin(pin);
    beside_hold();
    for (unsigned i = 0; i < sizeof gone_kept / sizeof gone_kept[0]; i++)
        goheap_free(gone_kept[i]);
    return 0;
}
/* The child frees the objects the gone thread kept (the program's memory still names
 * them): remote frees into that thread's parked spans. */
static void gone_free_kept(void) {
    for (unsigned i = 0; i < sizeof gone_kept / sizeof gone_kept[0]; i++)
        goheap_free(gone_kept[i]);
}
/* What the gone thread's cache holds, in pages: page cache, grow window, large span
 * cache, current spans (their pages), parked spans. */
struct gone_held {
    unsigned long pcache, window, lcache, cur, parked;
};
static struct gone_held gone_held(void) {
    struct gone_held h = {0, 0, 0, 0, 0};
    struct mcache *c = gh_fast.caches[gone_cpu];
    if (!c || c == &gh_emptycache)
        return h;
    h.pcache = (unsigned long)__builtin_popcountll(c->pcache.cache);
    h.window = (unsigned long)c->pcache.gpages;
    h.lcache = (unsigned long)c->lcache.pages;
    for (unsigned spc = 0; spc < GH_NUM_SPC; spc++) {
        if (c->alloc[spc] != &gh_emptyspan)
            h.cur += c->alloc[spc]->npages;
        for (unsigned i = 0; i < c->parked[spc].n; i++)
            h.parked += c->parked[spc].s[i]->npages;
    }
    return h;
}
static void gone_print(const char *when, struct gone_held h, struct goheap_memstats m, struct goheap_memstats m0) {
    printf("    # child %s: the gone cache's pages: page cache %lu, window %lu, large %lu, current %lu, parked %lu; "
           "idle-released %ld KiB, in use %+ld KiB\n",
           when, h.pcache, h.window, h.lcache, h.cur, h.parked, (long)(m.heap_idle - m.heap_released) >> 10,
           ((long)m.heap_inuse - (long)m0.heap_inuse) >> 10);
}
static struct goheap_memstats gone_m0;
/* how 2: a put into the large span cache caught between listing its span and counting
 * it (mcache.h gh_heap_lcache_put), as the child may find one: the 8-page bin's first
 * span uncounted in nbin and pages. */
static void gone_torn_put(void) {
    struct mcache *c = gh_fast.caches[gone_cpu];
    if (c->lcache.bin[8]) {
        c->lcache.nbin[8]--;
        c->lcache.pages -= 8;
    }
}
/* 20: the recount before; 21: free pages left unreleased; 22: in-use bytes above the
 * level before the thread's work (but for the tiny block's span); 23: the cache still
 * holds something; 24: recount after. how: 0 free_os_memory, 1 the memory limit, 2
 * free_os_memory after gone_torn_put. The figures are printed on a failure, and with
 * GONE_SHOW set in the environment. */
static int gone_child(int how) {
    alarm(CHILD_ALARM_S);
    if (goheap_validate() != 0)
        return 20;
    struct gone_held h0 = gone_held();
    struct goheap_memstats m0 = core_stats();
    gone_free_kept();
    if (how == 2)
        gone_torn_put();
    if (how == 1) {
        goheap_set_memory_limit(0);
        goheap_set_memory_limit(INT64_MAX);
    } else {
        goheap_free_os_memory();
    }
    struct goheap_memstats m = core_stats();
    struct gone_held h = gone_held();
    int bad = goheap_validate() != 0                                   ? 24
              : m.heap_idle != m.heap_released                          ? 21
              : m.heap_inuse > gone_m0.heap_inuse + GONE_TINY_SPAN      ? 22
              : h.pcache || h.window || h.lcache || h.cur || h.parked ? 23
                                                                         : 0;
    if (bad || getenv("GONE_SHOW")) {
        gone_print("at the fork", h0, m0, gone_m0);
        gone_print("after", h, m, gone_m0);
        fflush(stdout);
    }
    return bad;
}
static int gone_how;
static int gone_child_how(void) { return gone_child(gone_how); }
static void t_fork_gone_caches(void) {
    static const char *const hows[] = {"free_os_memory", "memory limit", "torn large cache put"};
    for (int how = 0; how < 3; how++) {
        goheap_free_os_memory();
        gone_m0 = core_stats();
        gone_how = how;
        int st = fork_beside(gone_fill, gone_child_how);
        KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                 "%s: child status 0x%x (exit 20/24: recount before/after, 21: free pages left unreleased, "
                 "22: in use above the level before, 23: the gone cache still holds pages)",
                 hows[how], st);
    }
}

/* A remote free that emptied a FULL span, copied by a fork after its AND and before
 * its wake (mcentral.h's handshake): here every object of a span filed FULL is freed
 * up to its AND (as gh_free_other does: the count, then the AND), then the main thread
 * forks and only then wakes it. The child (gh_fork_unwoken) must pass its recount,
 * and its first full reclaim pass (goheap_free_os_memory) must sweep the span; before,
 * its validator failed ("empty span ... filed as 3"), core-forkstress 1 child in ~300. */
#define UNWOKEN_SIZE 2048
#define UNWOKEN_N 64
static void t_fork_unwoken_full(void) {
    void *o[UNWOKEN_N];
    for (int i = 0; i < UNWOKEN_N; i++)
        o[i] = goheap_malloc(UNWOKEN_SIZE);
    goheap_flush(); /* the full spans go to their mcentral, FULL */
    struct mspan *s = 0;
    for (int i = 0; i < UNWOKEN_N && !s; i++) {
        struct mspan *x = gh_span_of((uintptr_t)o[i]);
        /* (none of its objects sampled: a sampled object's slot carries its marker, a
         * clear remoteNone bit, which the AND below would find clear already and leave
         * the object live though counted freed: the parent's recounts failed from then
         * on, asan-test_core_fork once, "mallocs 64 - frees 64 != 1 live objects") */
        if (atomic_load(&x->cstate) == GH_CS_FULL && gh_span_count_live(x) == x->nelems &&
            atomic_load(&x->nsampled) == 0)
            s = x;
    }
    KT_CHECK(s != 0, "no span of %d B objects was filed FULL without a sampled object", UNWOKEN_SIZE);
    if (!s)
        return;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    for (int i = 0; i < UNWOKEN_N; i++)
        if (gh_span_of((uintptr_t)o[i]) == s) {
            GH_COUNT_ADD(c->nfree[s->spc], 1);
            gh_remote_clear_bit(s->remoteNone, (unsigned)gh_span_objindex(s, (uintptr_t)o[i] - s->base));
            o[i] = 0;
        }
    goheap_sys_unpin(pin);
    pid_t pid = core_fork();
    if (pid == 0) {
        alarm(CHILD_ALARM_S);
        if (goheap_validate() != 0)
            _exit(2);
        goheap_free_os_memory(); /* the first full reclaim pass: sweeps the span */
        if (goheap_validate() != 0)
            _exit(3);
        _exit(atomic_load(&s->cstate) == GH_CS_FULL ? 5 : child_work(1));
    }
    cpu = goheap_sys_pin(&pin);
    gh_central_wake(gh_mcache_get(cpu), cpu, s); /* the parent's freer wakes it */
    goheap_sys_unpin(pin);
    int st = 0;
    waitpid(pid, &st, 0);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "unwoken full span: child status 0x%x (2/3: recount before/after the release, 5: still FULL)", st);
    for (int i = 0; i < UNWOKEN_N; i++)
        goheap_free(o[i]);
}

/* A free copied by the fork between its count and its bit (stats.c, the fork child's
 * recount): a thread that is gone in the child counted the free of a live object (the
 * remote free's count on its cache's page; its AND on the span's page, not reached)
 * when the fork copied memory. Its child finds that object live in its span and
 * counted freed: before, goheap_validate failed there ("span class N: mallocs M -
 * frees M != 1 live objects in spans"; core-storm's forking children now and then).
 * The child's first validate takes that one count back and passes, as does its next;
 * a second such count with one gone thread is more than any gone thread explains and
 * still fails. */
static void *torn_obj;
static int torn_extra; /* 1: the child adds a second count (beyond the allowance) */
static void *torn_freer(void *arg) {
    (void)arg;
    goheap_free(goheap_malloc(32)); /* a slot and its cache */
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mspan *s = gh_span_of((uintptr_t)torn_obj);
    GH_COUNT_ADD(gh_mcache_get(cpu)->nfree[s->spc], 1); /* the count; the AND not reached */
    goheap_sys_unpin(pin);
    beside_hold();
    cpu = goheap_sys_pin(&pin);
    GH_COUNT_ADD(gh_mcache_get(cpu)->nfree[s->spc], (uint64_t)-1); /* (the parent: undone) */
    goheap_sys_unpin(pin);
    return 0;
}
/* The owner's free, torn the same way: its lfree counted, its bit not yet stored, in a
 * span the gone thread had parked (its parked-span check, tbase == popcount(allocBits)
 * + lfree, failed in core-forkstress's TSan children; the class counts are one short
 * too once its drain counts the span's frees). */
#define TORN_LOCAL_N 200
static void *torn_local_obj[TORN_LOCAL_N];
static struct mspan *torn_local_span;
static void *torn_local_owner(void *arg) {
    (void)arg;
    for (int i = 0; i < TORN_LOCAL_N; i++)
        torn_local_obj[i] = goheap_malloc(256);
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    torn_local_span = 0;
    for (int i = 0; i < TORN_LOCAL_N && !torn_local_span; i++) {
        struct mspan *s = gh_span_of((uintptr_t)torn_local_obj[i]);
        if (s->curword == GH_NO_WORD && gh_mcache_parks(c, s->spc, s))
            torn_local_span = s;
    }
    if (torn_local_span)
        GH_COUNT_ADD(torn_local_span->lfree, 1); /* the count; the bit not stored */
    goheap_sys_unpin(pin);
    beside_hold();
    if (torn_local_span) {
        cpu = goheap_sys_pin(&pin);
        GH_COUNT_ADD(torn_local_span->lfree, (uint64_t)-1); /* (the parent: undone) */
        goheap_sys_unpin(pin);
    }
    for (int i = 0; i < TORN_LOCAL_N; i++)
        goheap_free(torn_local_obj[i]);
    return 0;
}
static int torn_local_child(void) {
    alarm(CHILD_ALARM_S);
    if (!torn_local_span)
        return 4;
    if (goheap_validate() != 0)
        return 2;
    goheap_free_os_memory(); /* the gone cache's drain */
    return goheap_validate() != 0 ? 3 : 0;
}
static void t_fork_torn_local_free(void) {
    int st = fork_beside(torn_local_owner, torn_local_child);
    KT_CHECK(torn_local_span != 0, "no span of 256 B objects was parked in the thread's cache");
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "torn owner's free: child status 0x%x (2: validate at the fork, 3: after the gone cache's drain, 4: no "
             "parked span)",
             st);
    KT_CHECK(goheap_validate() == 0, "parent: validate after the fork");
}
static int torn_child(void) {
    alarm(CHILD_ALARM_S);
    if (torn_extra) { /* one more count than the one gone thread explains */
        struct mspan *s = gh_span_of((uintptr_t)torn_obj);
        __atomic_fetch_add(&gh_emptycache.nfree[s->spc], 1, __ATOMIC_RELAXED);
        return goheap_validate() != 0 ? 0 : 4;
    }
    if (goheap_validate() != 0)
        return 2;
    if (goheap_validate() != 0 || ((unsigned char *)torn_obj)[47] != 0x5a)
        return 3;
    goheap_free(torn_obj);
    return goheap_validate() != 0 ? 5 : 0;
}
static void t_fork_torn_free(void) {
    for (int extra = 0; extra < 2; extra++) {
        torn_obj = goheap_malloc(48);
        memset(torn_obj, 0x5a, 48);
        torn_extra = extra;
        int st = fork_beside(torn_freer, torn_child);
        KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                 "%s: child status 0x%x (2/3: the first/second validate failed, 4: a count beyond the "
                 "gone threads passed, 5: validate after freeing the object)",
                 extra ? "beyond the allowance" : "one torn free", st);
        goheap_free(torn_obj);
        KT_CHECK(goheap_validate() == 0, "parent: validate after the fork");
    }
}

/* A large span cache's put or get copied half done (stats.c fork_settle_large and the
 * recount): a thread gone in the child was, at the fork, inside its cache's put after
 * the exchange to LCACHED (with its counts, or before them) and before the listing, or
 * inside a get after the unlisting and before gh_large_reuse. Its child found the span
 * LCACHED in no list, its bytes in use ("large span caches: 0 pages counted, 0 listed,
 * 8 in cached spans of the map", "heap_inuse N != M bytes of live spans") and, for the
 * put before its counts, "large objects: N+1 counted, N spans". Now the child's first
 * goheap_validate gives that span back to the page heap and makes the counts agree,
 * and passes, as do the next and the one after every free page is released; a second
 * such span with one thread gone is more than the fork explains and still fails. */
enum { TL_PUT_COUNTED, TL_PUT_UNCOUNTED, TL_GET, TL_BEYOND };
static int tl_how;
static struct mspan *tl_span, *tl_extra;
static void *tl_cacher(void *arg) {
    (void)arg;
    void *p = goheap_malloc(64u << 10); /* the thread's cache, and a 64 KiB span */
    struct mspan *ps = gh_span_of((uintptr_t)p);
    if (atomic_load(&ps->nsampled)) /* a sampled object's record goes first, as free's does */
        gh_prof_free_large(ps, (uintptr_t)p);
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    struct mspan *s = gh_span_of((uintptr_t)p);
    uintptr_t n = s->npages, pages;
    int fits = gh_heap_lcache_fits(c, n, &pages);
    uint8_t inuse = GH_SPAN_INUSE;
    if (!fits) {
        tl_span = 0;
    } else if (tl_how == TL_GET) {
        gh_large_freed(c, s, n, 0);
        gh_heap_lcache_put(c, s, n, pages); /* a whole put, then the get's first half */
        tl_span = gh_heap_lcache_get(c, n);
    } else if (tl_how == TL_PUT_UNCOUNTED) {
        tl_span = atomic_compare_exchange_strong(&s->state, &inuse, GH_SPAN_LCACHED) ? s : 0;
    } else {
        tl_span = gh_large_freed(c, s, n, 0) ? s : 0;
    }
    goheap_sys_unpin(pin);
    beside_hold();
    cpu = goheap_sys_pin(&pin);
    if (tl_span) { /* (the parent: the put, or the get's undoing, finished) */
        if (tl_how == TL_PUT_UNCOUNTED) { /* (its counts, which the child does not have) */
            gh_cache_count(c, &c->large_free, 1, 0);
            gh_cache_count(c, &c->large_free_bytes, (uint64_t)n << GOHEAP_PAGE_SHIFT, 0);
        }
        gh_heap_lcache_fits(c, n, &pages);
        gh_heap_lcache_put(c, tl_span, n, pages);
    }
    goheap_sys_unpin(pin);
    return 0;
}
static int tl_child(void) {
    alarm(CHILD_ALARM_S);
    if (!tl_span)
        return 4;
    if (tl_how == TL_BEYOND) { /* a second span in no list: more than one gone thread explains */
        uint8_t inuse = GH_SPAN_INUSE;
        if (!tl_extra || !atomic_compare_exchange_strong(&tl_extra->state, &inuse, GH_SPAN_LCACHED))
            return 6;
        return goheap_validate() != 0 ? 0 : 5;
    }
    if (goheap_validate() != 0)
        return 2;
    if (goheap_validate() != 0)
        return 3;
    goheap_free_os_memory(); /* the gone cache's drain, every free page released */
    return goheap_validate() != 0 ? 7 : 0;
}
static void t_fork_torn_large(void) {
    static const char *const how[] = {"put after its counts", "put before its counts", "get before its reuse",
                                      "a second span beyond the allowance"};
    for (tl_how = TL_PUT_COUNTED; tl_how <= TL_BEYOND; tl_how++) {
        void *extra = tl_how == TL_BEYOND ? goheap_malloc(96u << 10) : 0;
        tl_extra = extra ? gh_span_of((uintptr_t)extra) : 0;
        int st = fork_beside(tl_cacher, tl_child);
        KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                 "%s: child status 0x%x (2/3: the first/second validate failed, 7: validate after the release, 4: "
                 "no span cached, 5: a second lost span passed, 6: setup)",
                 how[tl_how], st);
        goheap_free(extra);
        KT_CHECK(goheap_validate() == 0, "%s: parent: validate after the fork", how[tl_how]);
    }
}

/* A thread whose cache is created after prepare took the caches' drain locks, and
 * which holds that cache's lock at the fork (a first allocation racing the fork, then
 * a refill waiting for a lock prepare holds): its child found that lock taken for good,
 * and goheap_read_memstats waited forever (core-forkstress's first child, 2 runs in
 * 64, SIGALRM). Here prepare's test hook, right after its look at the slots, has the
 * thread make its cache and take its lock. The child's MemStats, validate, release of
 * every free page (the gone cache's drain) and validate again must all return. */
static atomic_int cas_create, cas_holding, cas_release, cas_fresh, cas_sleepers_go;
static void *cas_sleeper(void *arg) {
    (void)arg;
    goheap_free(goheap_malloc(16)); /* a slot (a recycled one, with its cache) */
    while (!atomic_load(&cas_sleepers_go))
        usleep(1000);
    return 0;
}
static void *cas_thread(void *arg) {
    (void)arg;
    goheap_pin_t pin0;
    unsigned cpu0 = goheap_sys_pin(&pin0); /* its slot: one no thread had, no cache yet */
    atomic_store(&cas_fresh,
                 cpu0 < gh_ncpu && __atomic_load_n(&gh_fast.caches[cpu0], __ATOMIC_ACQUIRE) == &gh_emptycache ? 1
                                                                                                          : -1);
    goheap_sys_unpin(pin0);
    while (!atomic_load(&cas_create))
        sched_yield();
    goheap_free(goheap_malloc(48)); /* its slot's cache, made now */
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    goheap_sys_lock(&c->lock.l); /* (raw: a refill's hold, the lock order not in question) */
    atomic_store(&cas_holding, 1);
    while (!atomic_load(&cas_release))
        sched_yield();
    goheap_sys_unlock(&c->lock.l);
    goheap_sys_unpin(pin);
    return 0;
}
static void cas_hook(void) {
    atomic_store(&cas_create, 1);
    for (int i = 0; i < 5000 && !atomic_load(&cas_holding); i++)
        usleep(1000);
}
static void t_fork_cache_after_scan(void) {
    atomic_store(&cas_create, 0);
    atomic_store(&cas_holding, 0);
    atomic_store(&cas_release, 0);
    atomic_store(&cas_fresh, 0);
    atomic_store(&cas_sleepers_go, 0);
    /* Threads that take every slot an earlier case's thread left (with its cache), so
     * that the next one's slot has none. */
    unsigned ncaches = 0, nsleep = 0;
    pthread_t sleepers[64];
    for (unsigned i = 0; i < gh_ncpu; i++) /* (counted before any sleeper makes one) */
        ncaches += __atomic_load_n(&gh_fast.caches[i], __ATOMIC_ACQUIRE) != &gh_emptycache;
    while (nsleep < ncaches && nsleep < 64)
        pthread_create(&sleepers[nsleep++], 0, cas_sleeper, 0);
    usleep(20000);
    pthread_t t;
    pthread_create(&t, 0, cas_thread, 0);
    while (!atomic_load(&cas_fresh))
        sched_yield();
    gh_fork_scan_test_hook = cas_hook;
    pid_t pid = core_fork();
    if (pid == 0) {
        alarm(CHILD_ALARM_S);
        struct goheap_memstats m;
        goheap_read_memstats(&m);
        if (goheap_validate() != 0)
            _exit(2);
        goheap_free_os_memory();
        _exit(goheap_validate() != 0 ? 3 : 0);
    }
    gh_fork_scan_test_hook = 0;
    int held = atomic_load(&cas_holding);
    atomic_store(&cas_release, 1);
    int st = 0;
    waitpid(pid, &st, 0);
    pthread_join(t, 0);
    atomic_store(&cas_sleepers_go, 1);
    for (unsigned i = 0; i < nsleep; i++)
        pthread_join(sleepers[i], 0);
    KT_CHECK(atomic_load(&cas_fresh) == 1, "setup: the thread's slot had a cache already");
    KT_CHECK(held, "setup: the thread did not hold its new cache's lock at the fork");
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "child status 0x%x (signal 14: MemStats or validate waited for the gone thread's cache lock; "
             "2/3: validate before/after the release failed)",
             st);
    KT_CHECK(goheap_validate() == 0, "parent: validate after the fork");
}

/* What the child's fork handlers write: the hosted platform's child handler resets its
 * slots' state, and wrote every one of its 4,096 slots' queued-request words where only
 * the ncpu that exist can hold one: 64 KiB of bss pages the parent never touched,
 * allocated in every child. The child's anonymous memory right after fork() (before it
 * does anything but read smaps, with read(2) into a stack buffer) may exceed the
 * parent's by its stack and the pages the handlers write, well under FORK_CHILD_NEW_KIB. */
#define FORK_CHILD_NEW_KIB 48
static long anon_kib(void) {
    char buf[4096];
    int fd = open("/proc/self/smaps_rollup", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *a = strstr(buf, "\nAnonymous:");
    return a ? atol(a + 11) : -1;
}
static void t_fork_child_pages(void) {
    goheap_free(goheap_malloc(64)); /* a slot and its cache in the parent */
    long parent = anon_kib();
    pid_t pid = core_fork();
    if (pid == 0) {
        long child = anon_kib();
        _exit(child < 0 || parent < 0 ? 2 : child - parent > FORK_CHILD_NEW_KIB ? 1 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "the child's anonymous memory grew by more than %d KiB at the fork (status 0x%x; 2: smaps "
             "unreadable)", FORK_CHILD_NEW_KIB, st);
}

static const struct kt_case cases[] = {
    KT_CASE(t_fork_heap_lock_held),
    KT_CASE(t_fork_central_lock_held),
    KT_CASE(t_fork_meta_lock_held),
    KT_CASE(t_fork_during_churn),
    KT_CASE(t_fork_background_step),
    KT_CASE(t_fork_early_handlers),
    KT_CASE(t_fork_concurrent),
    KT_CASE(t_fork_in_large_map),
    KT_CASE(t_fork_in_grow_map),
    KT_CASE(t_fork_in_remap_tail),
    KT_CASE(t_fork_in_remap_move),
    KT_CASE(t_fork_in_unmap_hold),
    KT_CASE(t_fork_gone_caches),
    KT_CASE(t_fork_unwoken_full),
    KT_CASE(t_fork_torn_free),
    KT_CASE(t_fork_torn_local_free),
    KT_CASE(t_fork_torn_large),
    KT_CASE(t_fork_cache_after_scan),
    KT_CASE(t_fork_child_pages),
};

int main(void) {
    /* Before the first goheap call, which registers the heap's handlers. */
    pthread_atfork(early_prepare, early_parent, early_child);
    /* No background thread: every fork here is made while other threads run, so no
     * child may start one, and a child would start its own at its first background
     * poll (docs/testing.md, "Fork children and the background thread"). The step a
     * fork must wait for is stood in for by t_fork_background_step's holder. */
    if (core_init_no_bg(0) != 0)
        return 1;
    kt_begin("core-fork", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
