/* hosted/preload.c: the standard allocation names for the LD_PRELOAD library
 * (build/host/libgoheap.so), with errno set as C and POSIX say. malloc, free, calloc,
 * realloc, reallocarray, malloc_usable_size and cfree are linker aliases of the goheap_*
 * functions (hosted/hosted.mk: --defsym; the core sets errno through
 * goheap_sys_nomem), so they cost no extra call; the aligned variants are here. */
#define _GNU_SOURCE
#include <errno.h>
#include <gnu/libc-version.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "goheap.h"
#include "goheap_lockclass.h"

#define EXPORT __attribute__((visibility("default")))

/* lockstats=1: the table at exit (stderr), so an unmodified program can be measured. */
__attribute__((destructor)) static void lockstats_at_exit(void) {
    struct goheap_memstats m;
    goheap_read_memstats(&m);
    for (unsigned k = 0; k < GOHEAP_LC_COUNT; k++)
        if (m.locks[k].acquires) {
            char line[200];
            int n = snprintf(line, sizeof line, "goheap: lockstats: %-10s acquires %llu contended %llu "
                             "wait %llu us\n", goheap_lock_class_names[k],
                             (unsigned long long)m.locks[k].acquires,
                             (unsigned long long)m.locks[k].contended,
                             (unsigned long long)(m.locks[k].wait_ns / 1000));
            if (n > 0 && write(2, line, (size_t)n) < 0)
                return;
        }
}
/* valloc/pvalloc use the hardware page, like glibc. */
#define SHIM_PAGE 4096u

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
    int saved = errno; /* POSIX: reports through the return value, errno untouched */
    int r = goheap_posix_memalign(out, align, n);
    errno = saved;
    return r;
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

/* As the installed glibc (malloc.c): memalign refuses an alignment above SIZE_MAX/2+1
 * with EINVAL and otherwise follows goheap_memalign (<= 16: malloc; rounds up to a
 * power of two). */
EXPORT void *memalign(size_t align, size_t n) {
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return 0;
    }
    return goheap_memalign(align, n); /* ENOMEM through goheap_sys_nomem */
}

/* glibc before 2.38 made aligned_alloc an alias of memalign; 2.38 and later refuse an
 * alignment that is 0 or not a power of two with EINVAL (C17). Follow the glibc the
 * process runs with. */
static int glibc_strict_aligned_alloc(void) {
    static int strict = -1;
    if (strict < 0) {
        const char *v = gnu_get_libc_version(); /* "2.36" */
        unsigned major = 0, minor = 0;
        while (*v >= '0' && *v <= '9')
            major = major * 10 + (unsigned)(*v++ - '0');
        if (*v == '.')
            v++;
        while (*v >= '0' && *v <= '9')
            minor = minor * 10 + (unsigned)(*v++ - '0');
        strict = major > 2 || (major == 2 && minor >= 38);
    }
    return strict;
}

EXPORT void *aligned_alloc(size_t align, size_t n) {
    if (glibc_strict_aligned_alloc() && (align == 0 || (align & (align - 1)))) {
        errno = EINVAL;
        return 0;
    }
    return memalign(align, n);
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

/* glibc's __libc_* names (GLIBC_2.2.5, public): a program or a preloaded hook that
 * calls them must get this heap, or its blocks reach our free (or ours glibc's free)
 * and abort. __libc_malloc, __libc_free, __libc_calloc and __libc_realloc are linker
 * aliases (hosted/hosted.mk); the aligned ones are here. */
EXPORT void *__libc_memalign(size_t align, size_t n) { return memalign(align, n); }
EXPORT void *__libc_valloc(size_t n) { return valloc(n); }
EXPORT void *__libc_pvalloc(size_t n) { return pvalloc(n); }
