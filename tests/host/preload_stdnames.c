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
    return 0;
}
