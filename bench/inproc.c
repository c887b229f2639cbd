/* bench/inproc.c: allocators timed side by side inside one process. Each allocator's
 * shared library is dlopen'ed RTLD_LOCAL and its malloc/free called through pointers;
 * rounds alternate between the allocators (in a random order each round), so a speed
 * mode of the whole process (this host runs some processes at half speed) falls on
 * all of them alike and the ratios stay repeatable where separate processes differ 2x.
 *
 *   inproc WORKLOAD THREADS ROUNDS ITERS NAME=LIB ...
 *     WORKLOAD local:  each thread keeps 1024 blocks and replaces a random one per step
 *                      (bench/suite/glibcthread's size law, 16 B..4 KiB, 1/x^2)
 *              pareto: the same with 4096 blocks of 16 B..1 KiB (1/x^2)
 *              xthread: local's steps, but every 4096 steps the threads pass their
 *                      blocks on (thread i takes thread i-1's), so a block is often
 *                      freed by a thread that did not allocate it
 *     LIB      a path to a malloc library, or "libc" (glibc's __libc_malloc/_free)
 *
 * Prints, per allocator, ns per malloc+free pair (the median over the rounds and the
 * range) and its ratio to the first allocator named, taken round by round (each
 * round's allocators ran back to back, in one speed mode), as the median and the
 * quartiles of those ratios. A library whose dlopen fails (jemalloc's static TLS
 * block, for one) is reported and left out. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xorshift.h>

#define MAX_ALLOC 8
#define MAX_THREADS 16
#define MAX_ROUNDS 512
#define PASS_STEPS 4096 /* xthread: steps between hand-overs */

struct alloc {
    const char *name;
    void *(*malloc_fn)(size_t);
    void (*free_fn)(void *);
    double ns[MAX_ROUNDS];    /* by round */
    double ratio[MAX_ROUNDS]; /* by round: ns / the first allocator's ns of that round */
    int nrounds;
};

static struct alloc allocs[MAX_ALLOC];
static int nalloc, nthreads;
static long iters;
static int workload; /* 0 local, 1 pareto, 2 xthread */
static struct alloc *cur;
static pthread_barrier_t barrier;
static unsigned char **sets[MAX_THREADS]; /* xthread: the block arrays passed around */

static size_t size_law(uint64_t r, double lo, double hi) {
    double u = (double)(r >> 11) / 9007199254740992.0;
    return (size_t)(lo * hi / (hi - u * (hi - lo)));
}

static size_t draw(uint64_t *seed) {
    return workload == 1 ? size_law(xorshift64s(seed), 16.0, 1024.0) : size_law(xorshift64s(seed), 16.0, 4096.0);
}

static void *worker(void *arg) {
    unsigned t = (unsigned)(uintptr_t)arg;
    unsigned ws = workload == 1 ? 4096 : 1024;
    uint64_t seed = 0x9E3779B97F4A7C15ULL * (t + 1), sum = 0;
    unsigned char **blk = sets[t];
    for (unsigned k = 0; k < ws; k++) {
        blk[k] = cur->malloc_fn(draw(&seed));
        blk[k][0] = (unsigned char)k;
    }
    for (long i = 0; i < iters; i++) {
        if (workload == 2 && i % PASS_STEPS == PASS_STEPS - 1) {
            pthread_barrier_wait(&barrier);
            blk = sets[(t + nthreads - 1) % nthreads]; /* the previous thread's blocks */
            pthread_barrier_wait(&barrier);
            sets[t] = blk;
            pthread_barrier_wait(&barrier);
        }
        uint64_t r = xorshift64s(&seed);
        unsigned k = (unsigned)(r % ws);
        sum += blk[k][0];
        cur->free_fn(blk[k]);
        blk[k] = cur->malloc_fn(draw(&seed));
        if (!blk[k]) {
            fprintf(stderr, "inproc: %s: malloc failed\n", cur->name);
            exit(1);
        }
        blk[k][0] = (unsigned char)r;
    }
    pthread_barrier_wait(&barrier); /* xthread: nobody still reads another's set */
    for (unsigned k = 0; k < ws; k++)
        cur->free_fn(blk[k]);
    return (void *)(uintptr_t)sum;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double run_round(struct alloc *a) {
    pthread_t th[MAX_THREADS];
    static unsigned char *store[MAX_THREADS][4096];
    cur = a;
    for (int t = 0; t < nthreads; t++)
        sets[t] = store[t];
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    double t0 = now_ns();
    for (int t = 0; t < nthreads; t++)
        if (pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t)) {
            fprintf(stderr, "inproc: pthread_create failed\n");
            exit(1);
        }
    for (int t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    double t1 = now_ns();
    pthread_barrier_destroy(&barrier);
    return (t1 - t0) / ((double)iters * nthreads);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s local|pareto|xthread THREADS ROUNDS ITERS NAME=LIB ...\n", argv[0]);
        return 2;
    }
    workload = !strcmp(argv[1], "local") ? 0 : !strcmp(argv[1], "pareto") ? 1 : !strcmp(argv[1], "xthread") ? 2 : -1;
    nthreads = atoi(argv[2]);
    int rounds = atoi(argv[3]);
    iters = atol(argv[4]);
    if (workload < 0 || nthreads < 1 || nthreads > MAX_THREADS || rounds < 1 || rounds > MAX_ROUNDS || iters < 1) {
        fprintf(stderr, "inproc: bad arguments (workload local|pareto|xthread, 1-%d threads, 1-%d rounds)\n",
                MAX_THREADS, MAX_ROUNDS);
        return 2;
    }
    for (int i = 5; i < argc && nalloc < MAX_ALLOC; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "inproc: %s: want NAME=LIB\n", argv[i]);
            return 2;
        }
        *eq = 0;
        struct alloc *a = &allocs[nalloc];
        a->name = argv[i];
        const char *lib = eq + 1;
        void *h = !strcmp(lib, "libc") ? dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD) : dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            printf("| %s | skipped: %s |\n", a->name, dlerror());
            continue;
        }
        a->malloc_fn = (void *(*)(size_t))dlsym(h, !strcmp(lib, "libc") ? "__libc_malloc" : "malloc");
        a->free_fn = (void (*)(void *))dlsym(h, !strcmp(lib, "libc") ? "__libc_free" : "free");
        if (!a->malloc_fn || !a->free_fn) {
            printf("| %s | skipped: no malloc/free in %s |\n", a->name, lib);
            continue;
        }
        nalloc++;
    }
    if (!nalloc)
        return 1;
    run_round(&allocs[0]); /* warm-up: threads, page tables, libc's own state */
    /* Each round in a fresh random order: a fixed cycle would give each allocator the
     * same predecessor every time, whose leftovers (caches, the other's heap) it
     * then always inherited (5-8% either way in trials). */
    uint64_t oseed = 0x2545F4914F6CDD1DULL;
    for (int r = 0; r < rounds; r++) {
        int order[MAX_ALLOC];
        for (int j = 0; j < nalloc; j++)
            order[j] = j;
        for (int j = nalloc - 1; j > 0; j--) {
            int k = (int)(xorshift64s(&oseed) % (uint64_t)(j + 1)), t = order[j];
            order[j] = order[k];
            order[k] = t;
        }
        for (int j = 0; j < nalloc; j++) {
            struct alloc *a = &allocs[order[j]];
            a->ns[a->nrounds++] = run_round(a);
        }
    }
    for (int j = 0; j < nalloc; j++)
        for (int r = 0; r < rounds; r++)
            allocs[j].ratio[r] = allocs[j].ns[r] / allocs[0].ns[r];
    printf("%s, %d threads, %d rounds of %ld pairs per thread; ns per pair: median [range]; "
           "ratio to %s in the same round: median [quartiles]\n",
           argv[1], nthreads, rounds, iters, allocs[0].name);
    printf("| allocator | ns per pair | ratio |\n|---|---:|---:|\n");
    for (int j = 0; j < nalloc; j++) {
        struct alloc *a = &allocs[j];
        int n = a->nrounds;
        qsort(a->ns, (size_t)n, sizeof a->ns[0], cmp_double);
        qsort(a->ratio, (size_t)n, sizeof a->ratio[0], cmp_double);
        printf("| %s | %.2f [%.2f-%.2f] | %.3f [%.3f-%.3f] |\n", a->name, a->ns[n / 2], a->ns[0], a->ns[n - 1],
               a->ratio[n / 2], a->ratio[n / 4], a->ratio[(3 * n) / 4]);
    }
    return 0;
}
