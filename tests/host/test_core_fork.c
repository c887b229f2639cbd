/* tests/host/test_core_fork.c: fork safety (goheap_fork_prepare/parent/child, registered
 * by the hosted platform). Another thread holds an allocator lock while the main thread
 * forks: prepare must wait for it, and the child must allocate without deadlocking. */
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
    fflush(stdout);
    pid_t pid = fork();
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
        fflush(stdout);
        pid_t pid = fork();
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

static const struct kt_case cases[] = {
    KT_CASE(t_fork_heap_lock_held),
    KT_CASE(t_fork_central_lock_held),
    KT_CASE(t_fork_meta_lock_held),
    KT_CASE(t_fork_during_churn),
    KT_CASE(t_fork_background_step),
    KT_CASE(t_fork_early_handlers),
};

int main(void) {
    /* Before the first goheap call, which registers the heap's handlers. */
    pthread_atfork(early_prepare, early_parent, early_child);
    kt_begin("core-fork", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
