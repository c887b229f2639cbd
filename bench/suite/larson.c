/* bench/suite/larson.c: the server pattern (after larson). Each thread replaces random
 * objects in a slot array; at every phase boundary the arrays rotate between threads,
 * so most frees hit objects another live thread allocated; every round ends its
 * threads and starts new ones that inherit the arrays (objects of exited threads). */
#include "util.h"

#define SLOTS 2000
#define PHASES 4
#define MAXT 64

static int nthreads;
static long ops_per_phase, rounds;
static unsigned char **arrays[MAXT];
static pthread_barrier_t barrier;
static long round_no;

static void *worker(void *arg)
{
    long t = (long)arg;
    uint64_t seed = 0xD1B54A32D192ED03ULL * (uint64_t)(t + 1 + round_no * 131), sum = 0;
    for (int ph = 0; ph < PHASES; ph++) {
        unsigned char **arr = arrays[(t + ph) % nthreads];
        for (long i = 0; i < ops_per_phase; i++) {
            uint64_t r = xorshift64s(&seed);
            unsigned k = (unsigned)(r % SLOTS);
            size_t sz = 16 + (size_t)((r >> 32) % 497); /* 16..512 B */
            sum += arr[k][0];
            free(arr[k]);
            arr[k] = xmalloc(sz);
            arr[k][0] = (unsigned char)r;
        }
        pthread_barrier_wait(&barrier);
    }
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    struct bench_args a = bench_parse(argc, argv);
    nthreads = a.threads;
    rounds = 8;
    ops_per_phase = scaled(800000, a.scale);
    uint64_t seed = 42, sum = 0;
    for (int t = 0; t < nthreads; t++) {
        arrays[t] = xmalloc(SLOTS * sizeof(*arrays[t]));
        for (int k = 0; k < SLOTS; k++) {
            arrays[t][k] = xmalloc(rng_range(&seed, 16, 512));
            arrays[t][k][0] = 1;
        }
    }
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    for (round_no = 0; round_no < rounds; round_no++)
        sum += run_threads(nthreads, worker);
    for (int t = 0; t < nthreads; t++) {
        for (int k = 0; k < SLOTS; k++)
            free(arrays[t][k]);
        free(arrays[t]);
    }
    return bench_done("larson", sum);
}
