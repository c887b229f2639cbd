/* tests/host/test_core_slots.c: the hosted platform's exclusive slots and their owners'
 * robust mutexes (hosted/platform.c, docs/alloc.md "Hosted"): a slot given back by a
 * thread whose first malloc came in the last key-destructor round, no lock-order report
 * for a slot taken under a program lock, and a fork child's free slot whose mutex a
 * parent thread held. Each case runs in a child with ncpu=2 (two exclusive slots). A
 * binary of its own: the fork case replaces pthread_mutex_trylock for the process. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <time.h>

#include "test_core_common.h"

static char buf[1 << 16]; /* a child's stderr */

/* A thread whose first allocation comes in glibc's last round of key destructors
 * (PTHREAD_DESTRUCTOR_ITERATIONS), from the destructor of a key created after the
 * heap's: the heap's key it sets there to give its slot back at exit is never looked
 * at again, and the slot stayed the dead thread's for good. With
 * ncpu=2 (two exclusive slots), four such threads in turn, then a plain thread: it
 * must get an exclusive slot (before, both were held by dead threads: an overflow one),
 * and goheap_free_os_memory must flush the dead threads' caches (each held a large
 * span: before, queued for owners that never came back, those stayed backed). */
#define LATE_THREADS 4
#define LATE_LARGE (100u << 10)
static pthread_key_t late_key;
static __thread unsigned late_round;
static unsigned late_slots[LATE_THREADS];
static void late_dtor(void *v) {
    if (++late_round < PTHREAD_DESTRUCTOR_ITERATIONS) {
        pthread_setspecific(late_key, v); /* once more, next round */
        return;
    }
    goheap_free(goheap_malloc(100)); /* the thread's first: the last round */
    goheap_free(goheap_malloc(LATE_LARGE)); /* kept in its CPU's large span cache */
    *(unsigned *)v = goheap_hosted_slot;
}
static void *late_thread(void *arg) {
    pthread_setspecific(late_key, arg);
    return 0;
}
static void *plain_thread(void *arg) {
    goheap_free(goheap_malloc(100));
    *(unsigned *)arg = goheap_hosted_slot;
    return 0;
}
static void late_slot_run(void) {
    /* The heap's exit key first (its first malloc, on a thread that gives its slot
     * back): glibc calls the destructors of a round by key index, so a key created
     * before it would still be looked at in the round where the thread set it. */
    unsigned first = GOHEAP_HOSTED_NO_SLOT;
    pthread_t t;
    pthread_create(&t, 0, plain_thread, &first);
    pthread_join(t, 0);
    pthread_key_create(&late_key, late_dtor);
    for (int i = 0; i < LATE_THREADS; i++) {
        pthread_t t;
        pthread_create(&t, 0, late_thread, &late_slots[i]);
        pthread_join(t, 0);
    }
    /* The dead threads' caches are flushed too (each_cpu takes their slots back). */
    goheap_free_os_memory();
    struct goheap_memstats m = core_stats();
    unsigned plain = GOHEAP_HOSTED_NO_SLOT;
    pthread_create(&t, 0, plain_thread, &plain);
    pthread_join(t, 0);
    fprintf(stderr, "late threads' slots %u %u %u %u, then a plain thread's %u; after free_os_memory "
            "idle %llu released %llu\n", late_slots[0], late_slots[1], late_slots[2], late_slots[3],
            plain, (unsigned long long)m.heap_idle, (unsigned long long)m.heap_released);
    _exit(plain < 2 && m.heap_idle == m.heap_released ? 0 : 1);
}
static void t_slot_late_first_malloc(void) {
    if (TSAN) {
        /* ThreadSanitizer finishes a thread from a key destructor of its own that it
         * keeps for the last round: instrumented code running after it there (the
         * test's destructor) breaks the runtime: SEGV here (old heap code too), and a
         * spin with glibc's malloc and no heap at all. */
        printf("    # last-round destructors: not under ThreadSanitizer\n");
        return;
    }
    int st = core_child_knobs("ncpu=2", late_slot_run, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a plain thread after threads that first "
             "allocated in the last destructor round: status 0x%x, %.300s", st, buf);
}

/* A slot's owner holds the slot's robust mutex (hosted/platform.c, struct slot's owner) while
 * it has the slot. A thread that takes slot 0 and then a program's mutex M, and after
 * it exits a thread that takes slot 0 while it holds M: no thread ever waits for the
 * other, but a blocking lock of the slot's mutex under M closes the cycle slot -> M ->
 * slot in ThreadSanitizer's lock graph, which reported a lock-order inversion
 * (tsan-test_core_knobs stops at the report: status 0x4200 before). Plain and ASan
 * builds check only that both threads finish. */
static pthread_mutex_t lo_app_lock = PTHREAD_MUTEX_INITIALIZER;
static void *lo_first_then_lock(void *arg) {
    (void)arg;
    goheap_free(goheap_malloc(100)); /* takes slot 0 */
    pthread_mutex_lock(&lo_app_lock);
    goheap_free(goheap_malloc(200));
    pthread_mutex_unlock(&lo_app_lock);
    return 0;
}
static void *lo_lock_then_first(void *arg) {
    pthread_mutex_lock(&lo_app_lock);
    goheap_free(goheap_malloc(100)); /* takes slot 0 again, under the program's lock */
    *(unsigned *)arg = goheap_hosted_slot;
    pthread_mutex_unlock(&lo_app_lock);
    return 0;
}
static void slot_lock_order_run(void) {
    pthread_t t;
    unsigned second = GOHEAP_HOSTED_NO_SLOT;
    pthread_create(&t, 0, lo_first_then_lock, 0);
    pthread_join(t, 0);
    pthread_create(&t, 0, lo_lock_then_first, &second);
    pthread_join(t, 0);
    _exit(second == 0 ? 0 : 1);
}
static void t_slot_owner_lock_order(void) {
    int st = core_child_knobs("ncpu=2", slot_lock_order_run, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && !strstr(buf, "ThreadSanitizer"),
             "a slot taken under a program's lock its last owner took under the slot: status 0x%x, %.600s",
             st, buf);
}

/* A fork while another thread's look for a dead owner (owner_dead) holds, for a
 * moment, the mutex of a slot whose owner has just given it back (FREE): the child's
 * copy of that mutex stays locked by a thread that does not exist there, and the
 * child's first thread to take the slot waited for it forever. The moment is made
 * long by a pthread_mutex_trylock of the test's own (the platform's calls come here
 * first): at the probing thread's trylock of slot 1's mutex, slot 1's owner exits,
 * then the real trylock takes the free mutex and the main thread forks meanwhile.
 * Not under ThreadSanitizer (its interceptor is the trylock there, and a thread
 * started in the child of a multi-threaded fork stops its runtime). */
#if !TSAN
static int (*fp_real_trylock)(pthread_mutex_t *);
static _Atomic pid_t fp_prober, fp_victim; /* thread ids: the looking thread, slot 1's owner */
static sem_t fp_owner_ready, fp_owner_exit, fp_fork_now, fp_fork_done;
static pthread_t fp_owner;
static int fp_probe_result = -1;
int pthread_mutex_trylock(pthread_mutex_t *m) {
    if (!fp_real_trylock) /* (the platform's other looks, in every case of this file) */
        fp_real_trylock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_trylock");
    if (fp_prober && fp_prober == (pid_t)syscall(SYS_gettid) && m->__data.__owner == fp_victim) {
        fp_prober = 0;
        sem_post(&fp_owner_exit); /* the owner gives slot 1 back: unlock, then FREE */
        pthread_join(fp_owner, 0);
        fp_probe_result = fp_real_trylock(m); /* 0: this thread holds a FREE slot's mutex */
        sem_post(&fp_fork_now);
        sem_wait(&fp_fork_done);
        return fp_probe_result;
    }
    return fp_real_trylock(m);
}
static void *fp_owner_main(void *arg) {
    (void)arg;
    goheap_free(goheap_malloc(100)); /* slot 1 */
    fp_victim = (pid_t)syscall(SYS_gettid);
    sem_post(&fp_owner_ready);
    sem_wait(&fp_owner_exit);
    return 0;
}
static void *fp_prober_main(void *arg) {
    (void)arg;
    fp_prober = (pid_t)syscall(SYS_gettid);
    goheap_free(goheap_malloc(100)); /* no free slot: its first overflow pin looks */
    return 0;
}
static void *fp_child_thread(void *arg) {
    goheap_free(goheap_malloc(100));
    *(unsigned *)arg = goheap_hosted_slot;
    sem_post(&fp_fork_done);
    return 0;
}
static void fork_probe_run(void) {
    sem_init(&fp_owner_ready, 0, 0);
    sem_init(&fp_owner_exit, 0, 0);
    sem_init(&fp_fork_now, 0, 0);
    sem_init(&fp_fork_done, 0, 0);
    goheap_free(goheap_malloc(100)); /* slot 0: this thread's */
    pthread_t prober;
    pthread_create(&fp_owner, 0, fp_owner_main, 0);
    sem_wait(&fp_owner_ready);
    pthread_create(&prober, 0, fp_prober_main, 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    if (sem_timedwait(&fp_fork_now, &until) != 0) {
        fprintf(stderr, "the probing thread never tried slot 1's mutex\n");
        _exit(2);
    }
    fflush(stderr);
    pid_t pid = core_fork();
    if (pid == 0) {
        /* Slot 1 is free here: a new thread takes it. */
        unsigned slot = GOHEAP_HOSTED_NO_SLOT;
        pthread_t t;
        pthread_create(&t, 0, fp_child_thread, &slot);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        if (sem_timedwait(&fp_fork_done, &until) != 0) {
            fprintf(stderr, "child: a thread taking free slot 1 still waits after 10 s\n");
            _exit(1);
        }
        fprintf(stderr, "child: the new thread got slot %u\n", slot);
        _exit(slot == 1 ? 0 : 3);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    sem_post(&fp_fork_done);
    pthread_join(prober, 0);
    fprintf(stderr, "probe trylock %d, child status 0x%x\n", fp_probe_result, st);
    _exit(fp_probe_result != 0 ? 4 : WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 5);
}
#endif
static void t_slot_fork_probe(void) {
#if TSAN
    printf("    # fork during a dead-owner look: not under ThreadSanitizer\n");
#else
    int st = core_child_knobs("ncpu=2", fork_probe_run, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a fork child takes a slot whose mutex a "
             "parent's thread held at the fork: status 0x%x, %.600s", st, buf);
#endif
}

static const struct kt_case cases[] = {
    KT_CASE(t_slot_late_first_malloc),
    KT_CASE(t_slot_owner_lock_order),
    KT_CASE(t_slot_fork_probe),
};

int main(void) {
    kt_begin("core-slots", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), 0);
}
