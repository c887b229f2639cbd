/* bench/suite/scratch.c: passive false sharing (after cache-scratch). The main thread
 * allocates one small object per thread back to back and hands them out; each thread
 * frees its object, then repeatedly allocates a small object, writes it many times and
 * frees it. An allocator that hands a thread memory from a cache line another thread
 * writes makes the threads fight over that line. */
#include "util.h"

#define OBJ 8
#define WRITES 500

static unsigned char *handed[64];
static long iters;

static void *worker(void *arg)
{
    long t = (long)arg;
    uint64_t sum = 0;
    free(handed[t]);
    for (long i = 0; i < iters; i++) {
        volatile unsigned char *p = xmalloc(OBJ);
        for (int w = 0; w < WRITES; w++)
            p[w & (OBJ - 1)] = (unsigned char)(p[(w + 1) & (OBJ - 1)] + w);
        sum += p[0];
        free((void *)p);
    }
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    struct bench_args a = bench_parse(argc, argv);
    iters = scaled(400000, a.scale);
    for (int t = 0; t < a.threads; t++)
        handed[t] = xmalloc(OBJ);
    return bench_done("scratch", run_threads(a.threads, worker));
}
