/* hosted/preload.c: the standard allocation names for the LD_PRELOAD library
 * (build/host/libgoheap.so), with errno set as C and POSIX say. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "goheap.h"

#define EXPORT __attribute__((visibility("default")))
/* valloc/pvalloc use the hardware page, like glibc. */
#define SHIM_PAGE 4096u

EXPORT void *malloc(size_t n) {
    void *p = goheap_malloc(n);
    if (!p)
        errno = ENOMEM;
    return p;
}

EXPORT void free(void *p) { goheap_free(p); }

EXPORT void *calloc(size_t n, size_t sz) {
    void *p = goheap_calloc(n, sz);
    if (!p)
        errno = ENOMEM;
    return p;
}

EXPORT void *realloc(void *p, size_t n) {
    void *q = goheap_realloc(p, n);
    if (!q && n)
        errno = ENOMEM;
    return q;
}

EXPORT void *reallocarray(void *p, size_t n, size_t sz) {
    size_t t;
    if (__builtin_mul_overflow(n, sz, &t)) {
        errno = ENOMEM;
        return 0;
    }
    return realloc(p, t);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
    return goheap_posix_memalign(out, align, n);
}

static void *aligned(size_t align, size_t n) {
    void *p = 0;
    int r = goheap_posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, n);
    if (r) {
        errno = r;
        return 0;
    }
    return p;
}

EXPORT void *aligned_alloc(size_t align, size_t n) {
    if (align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return 0;
    }
    return aligned(align, n);
}

EXPORT void *memalign(size_t align, size_t n) {
    if (align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return 0;
    }
    return aligned(align, n);
}

EXPORT void *valloc(size_t n) { return aligned(SHIM_PAGE, n); }

EXPORT void *pvalloc(size_t n) {
    size_t r = (n + SHIM_PAGE - 1) & ~(size_t)(SHIM_PAGE - 1);
    if (r < n) {
        errno = ENOMEM;
        return 0;
    }
    return aligned(SHIM_PAGE, r ? r : SHIM_PAGE);
}

EXPORT size_t malloc_usable_size(void *p) { return goheap_usable_size(p); }
