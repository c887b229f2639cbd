/* kernel/heap/libc.c: the standard allocation names, exported by the kernel so
 * freestanding application code (a unikernel's) links against goheap unchanged. */
#include <stddef.h>
#include <goheap.h>

void *malloc(size_t size);
void free(void *p);
void *calloc(size_t nmemb, size_t size);
void *realloc(void *p, size_t size);
void *aligned_alloc(size_t alignment, size_t size);
void *memalign(size_t alignment, size_t size);
size_t malloc_usable_size(void *p);
int posix_memalign(void **out, size_t alignment, size_t size);

void *malloc(size_t size) { return goheap_malloc(size); }
void free(void *p) { goheap_free(p); }
void *calloc(size_t nmemb, size_t size) { return goheap_calloc(nmemb, size); }
void *realloc(void *p, size_t size) { return goheap_realloc(p, size); }
void *aligned_alloc(size_t alignment, size_t size) { return goheap_aligned_alloc(alignment, size); }
/* glibc's rules (goheap.h): 0 is malloc, others round up to a power of two. */
void *memalign(size_t alignment, size_t size) { return goheap_memalign(alignment, size); }
/* 0 for NULL; a pointer that is not a live heap object panics naming it. */
size_t malloc_usable_size(void *p) { return goheap_usable_size(p); }
int posix_memalign(void **out, size_t alignment, size_t size)
{
    return goheap_posix_memalign(out, alignment, size);
}
