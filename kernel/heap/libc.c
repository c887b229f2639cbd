/* kernel/heap/libc.c: the standard allocation names, exported by the kernel so
 * freestanding application code (a unikernel's) links against goheap unchanged. */
#include <stddef.h>
#include <goheap.h>

void *malloc(size_t size);
void free(void *p);
void *calloc(size_t nmemb, size_t size);
void *realloc(void *p, size_t size);
void *aligned_alloc(size_t alignment, size_t size);
int posix_memalign(void **out, size_t alignment, size_t size);

void *malloc(size_t size) { return goheap_malloc(size); }
void free(void *p) { goheap_free(p); }
void *calloc(size_t nmemb, size_t size) { return goheap_calloc(nmemb, size); }
void *realloc(void *p, size_t size) { return goheap_realloc(p, size); }
void *aligned_alloc(size_t alignment, size_t size) { return goheap_aligned_alloc(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size)
{
    return goheap_posix_memalign(out, alignment, size);
}
