/* tests/host/preload_stdnames.c: calls every standard allocation name the LD_PRELOAD
 * library replaces and prints only address-free facts (alignment, usable size, NULL,
 * errno, error codes); test_preload.sh checks the output matches glibc's. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* glibc's public __libc_* names (GLIBC_2.2.5; no header declares them). A program or
 * a preloaded hook calling them must get the same heap as malloc and free. */
void *__libc_malloc(size_t n);
void __libc_free(void *p);
void *__libc_calloc(size_t nmemb, size_t n);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);
void *__libc_valloc(size_t n);
void *__libc_pvalloc(size_t n);

/* cfree: gone from glibc's headers since 2.26 but still in libc.so.6 as a compat
 * symbol, which binaries linked against an older glibc call. The preload must take it
 * too, or those programs hand goheap's blocks to glibc's free. */
#if defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__))
#define HAVE_CFREE 1
void cfree_compat(void *p);
#if defined(__x86_64__)
__asm__(".symver cfree_compat, cfree@GLIBC_2.2.5");
#else
__asm__(".symver cfree_compat, cfree@GLIBC_2.17");
#endif
#endif

/* One line per result: "ptr" with its alignment and usable-size facts, or "NULL". */
static void show(const char *what, void *p, size_t align, size_t n) {
    printf("%-28s %s", what, p ? "ptr" : "NULL");
    if (p)
        printf(" aligned=%d usable>=n=%d", (uintptr_t)p % align == 0, malloc_usable_size(p) >= n);
    printf("\n");
}

static const char *err(void) { return errno == ENOMEM ? "ENOMEM" : errno ? "other" : "0"; }

int main(void) {
    long pg = sysconf(_SC_PAGESIZE);
    void *p, *q;
    int r;

    p = malloc(100), show("malloc(100)", p, 16, 100), free(p);
    p = calloc(10, 10), show("calloc(10,10)", p, 16, 100);
    printf("calloc zero: %d\n", p && !memchr(p, 1, 100));
    free(p);
    p = valloc(100), show("valloc(100)", p, pg, 100), free(p);
    p = pvalloc(100), show("pvalloc(100)", p, pg, pg), free(p);
    p = memalign(256, 1000), show("memalign(256,1000)", p, 256, 1000), free(p);
    p = aligned_alloc(4096, 8192), show("aligned_alloc(4096,8192)", p, 4096, 8192), free(p);
    r = posix_memalign(&p, 65536, 100);
    printf("posix_memalign(64K) = %d\n", r);
    show("  result", p, 65536, 100), free(p);
    printf("posix_memalign(3) = %d\n", posix_memalign(&p, 3, 100));
    printf("posix_memalign(4) = %d\n", posix_memalign(&p, 4, 100));

    /* Failures: NULL and errno = ENOMEM, the old block of a failed resize intact. */
    errno = 0, p = malloc(SIZE_MAX);
    printf("malloc(SIZE_MAX) %s errno=%s\n", p ? "ptr" : "NULL", err());
    errno = 0, p = calloc(SIZE_MAX / 2, 4);
    printf("calloc overflow %s errno=%s\n", p ? "ptr" : "NULL", err());
    p = malloc(50);
    memset(p, 7, 50);
    errno = 0, q = reallocarray(p, SIZE_MAX / 2, 4);
    printf("reallocarray overflow %s errno=%s intact=%d\n", q ? "ptr" : "NULL", err(),
           ((char *)p)[49] == 7);
    q = reallocarray(p, 10, 20);
    show("reallocarray(10,20)", q, 16, 200);
    printf("  kept=%d\n", ((char *)q)[49] == 7);
    p = realloc(q, 0);
    printf("realloc(p, 0) %s\n", p ? "ptr" : "NULL");
    free(p);
    p = realloc(NULL, 30), show("realloc(NULL,30)", p, 16, 30), free(p);
    free(NULL);
    printf("malloc_usable_size(NULL) = %zu\n", malloc_usable_size(NULL));

    /* memalign and aligned_alloc over odd, small, large and absurd alignments: NULL or
     * not, errno, and alignment to what glibc promises (malloc's 16 B up to 16, else
     * the next power of two), the same plain and preloaded. */
    static const size_t aligns[] = {0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 24, 31, 32, 48, 100,
                                    4096, 4097, 12288, (size_t)1 << 20, (size_t)3 << 20,
                                    SIZE_MAX / 2, SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 2, SIZE_MAX};
    for (unsigned i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        size_t a = aligns[i], want = 16;
        while (want < a && want <= SIZE_MAX / 2)
            want <<= 1;
        for (int f = 0; f < 2; f++) {
            errno = 0;
            p = f ? aligned_alloc(a, 100) : memalign(a, 100);
            printf("%s(%zu,100) %s errno=%s", f ? "aligned_alloc" : "memalign", a,
                   p ? "ptr" : "NULL", errno == EINVAL ? "EINVAL" : err());
            if (p)
                printf(" aligned=%d", (uintptr_t)p % want == 0);
            printf("\n");
            free(p);
        }
    }

    /* Each __libc_* block freed and resized through the standard names, and the
     * reverse: one heap (a mixed pair aborted "invalid free of a non-heap pointer"). */
    p = __libc_malloc(100), show("__libc_malloc(100)", p, 16, 100), free(p);
    p = malloc(100), __libc_free(p);
    p = __libc_calloc(10, 10), show("__libc_calloc(10,10)", p, 16, 100);
    printf("__libc_calloc zero: %d\n", p && !memchr(p, 1, 100));
    q = realloc(p, 5000), show("realloc(__libc_calloc)", q, 16, 5000);
    p = __libc_realloc(q, 100000), show("__libc_realloc(100000)", p, 16, 100000);
    __libc_free(p);
    p = __libc_memalign(256, 100), show("__libc_memalign(256,100)", p, 256, 100), free(p);
    p = __libc_valloc(100), show("__libc_valloc(100)", p, (size_t)pg, 100), free(p);
    p = __libc_pvalloc(100), show("__libc_pvalloc(100)", p, (size_t)pg, 100), free(p);
#ifdef HAVE_CFREE
    /* (without the preload's cfree: glibc's free of a goheap block, SIGSEGV) */
    p = malloc(100), cfree_compat(p);
    p = calloc(10, 1000), cfree_compat(p);
    p = memalign(4096, 100), cfree_compat(p);
    printf("cfree: done\n");
#endif

    /* More than RAM + swap, untouched: NULL and ENOMEM under the kernel's default
     * overcommit heuristic (vm.overcommit_memory 0) and under strict accounting (2),
     * as glibc's mmap gets (goheap reserved its arena with MAP_NORESERVE, which the
     * kernel never charges: malloc succeeded and the program was OOM-killed on
     * touching it). Mode 1 (always overcommit) grants it: the line says so. */
    FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
    int mode = -1;
    if (f && fscanf(f, "%d", &mode) != 1)
        mode = -1;
    if (f)
        fclose(f);
    unsigned long long ram = (unsigned long long)sysconf(_SC_PHYS_PAGES) * (unsigned long long)pg, swap = 0;
    f = fopen("/proc/meminfo", "r");
    char line[128];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "SwapTotal: %llu kB", &swap) == 1)
            swap <<= 10;
    if (f)
        fclose(f);
    size_t huge = (size_t)(2 * (ram + swap) + (1ull << 30));
    errno = 0, p = malloc(huge);
    if (mode == 1)
        printf("malloc(2 x (RAM + swap)): overcommit_memory 1, not checked\n");
    else
        printf("malloc(2 x (RAM + swap)) %s errno=%s\n", p ? "ptr" : "NULL", err());
    free(p);
    return 0;
}
