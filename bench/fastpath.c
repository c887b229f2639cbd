/* bench/fastpath.c: the malloc+free fast-path probe. Runs N malloc+free pairs of one
 * size inside one function (pair_loop) so callgrind can count only that function, and
 * times the same loop with clock_gettime. Used by bench/fastpath.py.
 *
 * usage: fastpath SIZE N MODE [LIVE]
 *   MODE solo  one object allocated and freed per iteration
 *        live  LIVE (default 64) objects of the same size are held for the whole run,
 *              so the span/page never becomes empty (mimalloc 2.0.9 retires an empty
 *              page on every free of a one-object loop, which is not its fast path)
 *        batch 256 objects allocated, then freed in a fixed shuffled order, per round
 *              of 256 pairs: the cost of a pair including refills and frees that
 *              land outside the current allocation cache (N is rounded to 256)
 *        realloc one object grown from 16 B to SIZE in 16-byte steps (SIZE/16 - 1
 *              realloc calls), then freed; repeated until N realloc calls (the pair
 *              figure is then per realloc call; counted in realloc_loop)
 *        double one object doubled from 16 B to SIZE (memset of each new half), then
 *              freed; N such runs, the figure per run (issue 11's "doubling to 16 MiB":
 *              glibc moves with mremap from 128 KiB, goheap remaps from 1 MiB)
 *        doublealloc the same runs, the figure only the time inside malloc, realloc
 *              and free (each call timed, net of the clock's own cost): the memset,
 *              which is most of "double", runs at the speed of whatever memory the
 *              process was given, and on a shared host that speed differs from
 *              process to process by up to 2x (bench/RESULTS.md)
 *        empty the same loop without the allocator calls (loop overhead baseline)
 *        tiny  (GOHEAP_DIRECT only) goheap_malloc_flags(SIZE, GOHEAP_NOSCAN): the tiny
 *              allocator for pointer-free objects under 16 B, which plain malloc never
 *              takes
 * Prints "size N mode ns_per_pair" (per realloc call in mode realloc). Built twice: against plain malloc/free (the
 * allocator chosen by LD_PRELOAD) and, with -DGOHEAP_DIRECT, against
 * goheap_malloc/goheap_free from libgoheap.a.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef GOHEAP_DIRECT
#include <goheap.h>
#define BENCH_MALLOC goheap_malloc
#define BENCH_FREE goheap_free
#else
#define BENCH_MALLOC malloc
#define BENCH_FREE free
#endif

/* The pointer escapes through this volatile sink so the compiler cannot pair up and
 * delete the malloc/free calls (clang does so for a plain local). */
void *volatile fastpath_sink;

/* The measured loop; callgrind's --toggle-collect=pair_loop counts only this. */
__attribute__((noinline)) void pair_loop(size_t size, long n)
{
    for (long i = 0; i < n; i++) {
        void *p = BENCH_MALLOC(size);
        fastpath_sink = p;
        BENCH_FREE(p);
    }
}

#define BATCH 256
static void *batch_obj[BATCH];
static unsigned batch_order[BATCH]; /* a fixed permutation: the free order */

/* Counted by callgrind's --toggle-collect=batch_loop; n pairs, n a multiple of BATCH. */
__attribute__((noinline)) void batch_loop(size_t size, long n)
{
    for (long r = 0; r < n / BATCH; r++) {
        for (int i = 0; i < BATCH; i++)
            batch_obj[i] = BENCH_MALLOC(size);
        fastpath_sink = batch_obj[0];
        for (int i = 0; i < BATCH; i++)
            BENCH_FREE(batch_obj[batch_order[i]]);
    }
}

#ifdef GOHEAP_DIRECT
#define BENCH_REALLOC goheap_realloc
#else
#define BENCH_REALLOC realloc
#endif
/* Counted by callgrind's --toggle-collect=realloc_loop: n realloc calls. */
__attribute__((noinline)) void realloc_loop(size_t size, long n)
{
    long done = 0;
    while (done < n) {
        char *p = BENCH_MALLOC(16);
        for (size_t s = 32; s <= size && done < n; s += 16, done++) {
            p = BENCH_REALLOC(p, s);
            p[s - 1] = 1;
        }
        fastpath_sink = p;
        BENCH_FREE(p);
    }
}

static double now_ns(void);
static int time_calls;  /* doublealloc: time each allocator call of double_loop */
static double alloc_ns; /* the time inside them, and how many */
static long alloc_calls;

/* call, timed into alloc_ns when time_calls is set */
#define TIMED(call)                                                                                 \
    do {                                                                                            \
        double t_ = time_calls ? now_ns() : 0;                                                      \
        call;                                                                                       \
        if (time_calls) {                                                                           \
            alloc_ns += now_ns() - t_;                                                              \
            alloc_calls++;                                                                          \
        }                                                                                           \
    } while (0)

/* n runs of a buffer doubled from 16 B to size, each new half written. */
__attribute__((noinline)) void double_loop(size_t size, long n)
{
    for (long i = 0; i < n; i++) {
        char *p;
        TIMED(p = BENCH_MALLOC(16));
        memset(p, 1, 16);
        for (size_t s = 32; s <= size; s *= 2) {
            TIMED(p = BENCH_REALLOC(p, s));
            memset(p + s / 2, 1, s / 2);
        }
        fastpath_sink = p;
        TIMED(BENCH_FREE(p));
    }
}

#ifdef GOHEAP_DIRECT
__attribute__((noinline)) void tiny_loop(size_t size, long n)
{
    for (long i = 0; i < n; i++) {
        void *p = goheap_malloc_flags(size, GOHEAP_NOSCAN);
        fastpath_sink = p;
        goheap_free(p);
    }
}
#endif

__attribute__((noinline)) void empty_loop(size_t size, long n)
{
    for (long i = 0; i < n; i++) {
        fastpath_sink = (void *)(size + (size_t)i);
        __asm__ volatile("" ::: "memory");
    }
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s SIZE N solo|live|batch|empty|tiny [LIVE]\n", argv[0]);
        return 2;
    }
    size_t size = strtoull(argv[1], NULL, 0);
    long n = strtol(argv[2], NULL, 0);
    const char *mode = argv[3];
    int nlive = argc > 4 ? atoi(argv[4]) : 64;
    void *live[1024];
    if (nlive > 1024)
        nlive = 1024;

    int is_empty = strcmp(mode, "empty") == 0;
    int is_live = strcmp(mode, "live") == 0;
    int is_batch = strcmp(mode, "batch") == 0;
    int is_tiny = strcmp(mode, "tiny") == 0;
    int is_realloc = strcmp(mode, "realloc") == 0;
    int is_double = strcmp(mode, "double") == 0;
    int is_doublealloc = strcmp(mode, "doublealloc") == 0;
#ifndef GOHEAP_DIRECT
    if (is_tiny) {
        fprintf(stderr, "mode tiny needs the goheap-direct build\n");
        return 2;
    }
#endif
    if (!is_empty && !is_live && !is_batch && !is_tiny && !is_realloc && !is_double && !is_doublealloc &&
        strcmp(mode, "solo") != 0) {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    if (is_live) {
        for (int i = 0; i < nlive; i++) {
            live[i] = BENCH_MALLOC(size);
            if (!live[i]) {
                fprintf(stderr, "malloc(%zu) failed\n", size);
                return 1;
            }
            memset(live[i], 1, size < 64 ? size : 64);
        }
    }
    if (is_batch) {
        unsigned seed = 12345;
        for (unsigned i = 0; i < BATCH; i++)
            batch_order[i] = i;
        for (unsigned i = BATCH - 1; i > 0; i--) { /* Fisher-Yates, fixed seed */
            seed = seed * 1103515245u + 12345u;
            unsigned j = (seed >> 8) % (i + 1), t = batch_order[i];
            batch_order[i] = batch_order[j];
            batch_order[j] = t;
        }
        n = n / BATCH * BATCH;
    }
    /* Warm up: the first calls fault pages in and fill caches; not measured. */
    void (*loop)(size_t, long) = is_empty ? empty_loop : is_batch ? batch_loop
                                 : is_realloc ? realloc_loop : is_double || is_doublealloc ? double_loop
                                 : pair_loop;
#ifdef GOHEAP_DIRECT
    if (is_tiny)
        loop = tiny_loop;
#endif
    if (!is_empty)
        loop(size, is_batch ? 4 * BATCH : is_double || is_doublealloc ? 2 : 1000);
    time_calls = is_doublealloc;
    alloc_ns = 0;
    alloc_calls = 0;

    double t0 = now_ns();
    loop(size, n);
    double t1 = now_ns();

    if (is_live)
        for (int i = 0; i < nlive; i++)
            BENCH_FREE(live[i]);
    if (is_doublealloc) {
        /* the clock's own cost inside each timed interval: back-to-back reads */
        double c0 = now_ns(), clock_ns;
        for (int i = 0; i < 10000; i++)
            clock_ns = now_ns();
        clock_ns = (clock_ns - c0) / 10000;
        t1 = t0 + alloc_ns - clock_ns * (double)alloc_calls;
    }
    printf("%zu %ld %s %.3f\n", size, n, mode, n > 0 ? (t1 - t0) / (double)n : 0.0);
    return 0;
}
