/* bench/suite/bigalloc.c: multi-MiB allocations. Each thread keeps 8 live buffers of
 * 1..8 MiB and replaces a random one per step, writing one byte in every 4 KiB frame,
 * so an allocator that returns memory to the OS at once pays page faults and one that
 * keeps it pays in peak RSS. */
#include "util.h"

#define LIVE 8

static long iters;

static void *worker(void *arg)
{
    uint64_t seed = 0x8EBC6AF09C88C6E3ULL * ((uintptr_t)arg + 1), sum = 0;
    unsigned char *buf[LIVE] = {0};
    size_t len[LIVE] = {0};
    for (long i = 0; i < iters; i++) {
        unsigned k = (unsigned)(xorshift64s(&seed) % LIVE);
        if (buf[k]) {
            sum += buf[k][len[k] / 2];
            free(buf[k]);
        }
        len[k] = rng_range(&seed, 1 << 20, 8 << 20);
        buf[k] = xmalloc(len[k]);
        for (size_t off = 0; off < len[k]; off += 4096)
            buf[k][off] = (unsigned char)(off >> 12);
        buf[k][len[k] - 1] = 1;
    }
    for (int k = 0; k < LIVE; k++)
        free(buf[k]);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    struct bench_args a = bench_parse(argc, argv);
    iters = scaled(2000, a.scale);
    return bench_done("bigalloc", run_threads(a.threads, worker));
}
