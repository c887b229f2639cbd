/* tests/host/test_core_fork.c: fork safety (goheap_fork_prepare/parent/child, registered
 * by the hosted platform). Another thread holds an allocator lock while the main thread
 * forks: prepare must wait for it, and the child must allocate without deadlocking.
 * The threads gone in the child and what they left half done: test_core_forkgone.c. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "test_core_fork.h"

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
