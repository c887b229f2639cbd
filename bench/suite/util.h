/* bench/suite/util.h: small helpers shared by the workload programs: argument
 * parsing, a per-thread random generator, running N threads, a checksum sink. The
 * workloads use plain malloc/free so LD_PRELOAD picks the allocator. */
#ifndef BENCH_SUITE_UTIL_H
#define BENCH_SUITE_UTIL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <xorshift.h>


/* A uniform value in [lo, hi]. */
static inline size_t rng_range(uint64_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)(xorshift64s(s) % (uint64_t)(hi - lo + 1));
}

static inline void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "malloc(%zu) failed\n", n);
        exit(1);
    }
    return p;
}

/* Every workload takes THREADS and SCALE (a multiplier on its iteration counts). */
struct bench_args {
    int threads;
    double scale;
};

static inline struct bench_args bench_parse(int argc, char **argv)
{
    struct bench_args a = {1, 1.0};
    if (argc > 1)
        a.threads = atoi(argv[1]);
    if (argc > 2)
        a.scale = atof(argv[2]);
    if (a.threads < 1 || a.threads > 64 || a.scale <= 0) {
        fprintf(stderr, "usage: %s THREADS [SCALE]\n", argv[0]);
        exit(2);
    }
    return a;
}

static inline long scaled(long n, double scale)
{
    long v = (long)((double)n * scale);
    return v < 1 ? 1 : v;
}

/* Run fn(i) on `n` new threads and wait for them; each returns a checksum. */
static inline uint64_t run_threads(int n, void *(*fn)(void *))
{
    pthread_t t[64];
    uint64_t sum = 0;
    for (long i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, fn, (void *)i) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            exit(1);
        }
    for (int i = 0; i < n; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (uint64_t)(uintptr_t)r;
    }
    return sum;
}

/* The process's own peak RSS in KiB (VmHWM). getrusage's ru_maxrss is no good here:
 * Linux carries the parent's peak across fork+exec, so a child of a 20 MiB Python
 * driver would never report less than 20 MiB. */
static inline long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* The last line every workload prints: its name, a checksum, and its peak RSS. */
static inline int bench_done(const char *name, uint64_t sum)
{
    printf("%s ok %llu hwm_kib=%ld\n", name, (unsigned long long)sum, peak_rss_kib());
    return 0;
}

#endif
