/* bench/suite/glibcthread.c: thread-local random replacement (after glibc's
 * bench-malloc-thread). Each thread keeps 1024 blocks and replaces a random one per
 * step with a block of a size drawn from a 1/x^2 law over 16 B..4 KiB (most blocks
 * small, a long tail); no object crosses threads. */
#include "util.h"

#define WS 1024
#define SZ_MIN 16.0
#define SZ_MAX 4096.0

static long iters;

/* Density proportional to 1/x^2 on [SZ_MIN, SZ_MAX], by inverting its distribution. */
static size_t size_of(uint64_t r)
{
    double u = (double)(r >> 11) / 9007199254740992.0;
    return (size_t)(SZ_MIN * SZ_MAX / (SZ_MAX - u * (SZ_MAX - SZ_MIN)));
}

static void *worker(void *arg)
{
    uint64_t seed = 0xA24BAED4963EE407ULL * ((uintptr_t)arg + 1), sum = 0;
    unsigned char *blk[WS];
    for (int k = 0; k < WS; k++) {
        blk[k] = xmalloc(size_of(xorshift64s(&seed)));
        blk[k][0] = (unsigned char)k;
    }
    for (long i = 0; i < iters; i++) {
        uint64_t r = xorshift64s(&seed);
        unsigned k = (unsigned)(r % WS);
        sum += blk[k][0];
        free(blk[k]);
        blk[k] = xmalloc(size_of(xorshift64s(&seed)));
        blk[k][0] = (unsigned char)r;
    }
    for (int k = 0; k < WS; k++)
        free(blk[k]);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    struct bench_args a = bench_parse(argc, argv);
    iters = scaled(8000000, a.scale);
    return bench_done("glibcthread", run_threads(a.threads, worker));
}
