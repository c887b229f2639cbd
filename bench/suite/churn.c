/* bench/suite/churn.c: small short-lived churn. Each thread keeps a ring of 256 slots
 * and replaces a random one per step with a new 8..256 B object, so objects live for
 * about 256 operations (like the allocation-heavy single-threaded programs of
 * mimalloc-bench: cfrac, espresso). */
#include "util.h"

static long iters;

static void *worker(void *arg)
{
    uint64_t seed = 0x9E3779B97F4A7C15ULL * ((uintptr_t)arg + 1), sum = 0;
    unsigned char *slot[256] = {0};
    for (long i = 0; i < iters; i++) {
        uint64_t r = xorshift64s(&seed);
        unsigned k = r & 255;
        /* Skew toward small sizes: half of the objects are 8..64 B. */
        size_t sz = (r >> 8) & 1 ? 8 + ((r >> 9) % 57) : 8 + ((r >> 9) % 249);
        if (slot[k]) {
            sum += slot[k][0];
            free(slot[k]);
        }
        unsigned char *p = xmalloc(sz);
        p[0] = (unsigned char)i;
        p[sz - 1] = (unsigned char)k;
        slot[k] = p;
    }
    for (int k = 0; k < 256; k++)
        free(slot[k]);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    struct bench_args a = bench_parse(argc, argv);
    iters = scaled(30000000, a.scale);
    return bench_done("churn", run_threads(a.threads, worker));
}
