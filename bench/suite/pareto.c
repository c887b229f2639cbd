/* bench/suite/pareto.c: Pareto-distributed sizes up to 1 KiB (after alloc-test). Each
 * thread keeps a working set of 4096 objects and replaces a random one per step; sizes
 * follow a heavy-tailed law (most objects 16..64 B, a tail up to 1 KiB), and every
 * object is written across its first and last bytes. */
#include <math.h>
#include <string.h>
#include "util.h"

#define WS 4096

static long iters;

static size_t pareto_size(uint64_t *seed)
{
    /* Pareto with x_min = 16 B and shape 1.2, cut at 1 KiB. */
    double u = ((double)(xorshift64s(seed) >> 11) + 1.0) / 9007199254740993.0;
    double x = 16.0 / pow(u, 1.0 / 1.2);
    return x > 1024.0 ? 1024 : (size_t)x;
}

static void *worker(void *arg)
{
    uint64_t seed = 0xE7037ED1A0B428DBULL * ((uintptr_t)arg + 1), sum = 0;
    unsigned char **ws = xmalloc(WS * sizeof(*ws));
    size_t *len = xmalloc(WS * sizeof(*len));
    for (int k = 0; k < WS; k++) {
        len[k] = pareto_size(&seed);
        ws[k] = xmalloc(len[k]);
        memset(ws[k], k, len[k] < 32 ? len[k] : 32);
        ws[k][len[k] - 1] = (unsigned char)k; /* (read by the checksum) */
    }
    for (long i = 0; i < iters; i++) {
        unsigned k = (unsigned)(xorshift64s(&seed) % WS);
        sum += ws[k][0] + ws[k][len[k] - 1];
        free(ws[k]);
        len[k] = pareto_size(&seed);
        ws[k] = xmalloc(len[k]);
        memset(ws[k], (int)i, len[k] < 32 ? len[k] : 32);
        ws[k][len[k] - 1] = (unsigned char)k;
    }
    for (int k = 0; k < WS; k++)
        free(ws[k]);
    free(ws);
    free(len);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    struct bench_args a = bench_parse(argc, argv);
    iters = scaled(6000000, a.scale);
    return bench_done("pareto", run_threads(a.threads, worker));
}
