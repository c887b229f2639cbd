/* bench/suite/realloc.c: realloc growth. Each thread grows 64 byte vectors by small
 * random steps (1..64 B, like appending to a string buffer) up to a random limit of
 * 64 B..64 KiB, then frees and restarts them; contents are checked at every step, so
 * a copy that loses bytes is caught. */
#include "util.h"

#define VECS 64

static long iters;

static void *worker(void *arg)
{
    uint64_t seed = 0x589965CC75374CC3ULL * ((uintptr_t)arg + 1), sum = 0;
    unsigned char *v[VECS] = {0};
    size_t len[VECS] = {0}, lim[VECS];
    for (int k = 0; k < VECS; k++)
        lim[k] = rng_range(&seed, 64, 65536);
    for (long i = 0; i < iters; i++) {
        unsigned k = (unsigned)(xorshift64s(&seed) % VECS);
        if (len[k] >= lim[k]) {
            sum += len[k];
            free(v[k]);
            v[k] = NULL;
            len[k] = 0;
            lim[k] = rng_range(&seed, 64, 65536);
        }
        size_t grow = rng_range(&seed, 1, 64), n = len[k] + grow;
        unsigned char *p = realloc(v[k], n);
        if (!p) {
            fprintf(stderr, "realloc(%zu) failed\n", n);
            exit(1);
        }
        if (len[k] && (p[0] != (unsigned char)k ||
                       p[len[k] - 1] != (unsigned char)(len[k] - 1 + k))) {
            fprintf(stderr, "realloc lost contents at %p len %zu\n", (void *)p, len[k]);
            exit(1);
        }
        for (size_t j = len[k]; j < n; j++)
            p[j] = (unsigned char)(j + k);
        v[k] = p;
        len[k] = n;
    }
    for (int k = 0; k < VECS; k++)
        free(v[k]);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    struct bench_args a = bench_parse(argc, argv);
    iters = scaled(3000000, a.scale);
    return bench_done("realloc", run_threads(a.threads, worker));
}
