/* kernel/heap/libtest/stub.c: a stand-in "hobby OS" for the `make lib` link test: it
 * provides exactly what docs/PORTING.md says libgoheap.a needs and calls the public
 * API, so linking it against the archive alone proves nothing else is pulled in. */
#include <stddef.h>
#include <stdint.h>
#include <goheap.h>

static char arena[1 << 20] __attribute__((aligned(4096)));
static size_t used;

void *goheap_sys_reserve(size_t bytes, size_t align)
{
    size_t at = (used + align - 1) & ~(align - 1);
    if (at + bytes > sizeof arena)
        return 0;
    used = at + bytes;
    return arena + at;
}
/* The arena is always backed here, so map has nothing to back, but it must keep the
 * contract that a mapped range reads zero: after goheap_sys_unmap the core trusts
 * released pages to come back zero-filled (calloc skips clearing them). A map that
 * did nothing made calloc return old bytes after goheap_free_os_memory(). */
void *memset(void *d, int c, size_t n);
int goheap_sys_map(void *addr, size_t bytes) { memset(addr, 0, bytes); return 0; }
void goheap_sys_unmap(void *addr, size_t bytes) { (void)addr; (void)bytes; }
unsigned goheap_sys_ncpu(void) { return 1; }
void goheap_sys_each_cpu(void (*fn)(unsigned, void *), void *arg) { fn(0, arg); }
/* Leak-scan roots (the example header defines GOHEAP_SYS_HAVE_LEAK_ROOTS): none here,
 * and no stack to tell, so a scan reports GOHEAP_LEAK_INCOMPLETE. */
void goheap_sys_leak_roots(void (*add)(uintptr_t, uintptr_t, void *), void *arg) { (void)add; (void)arg; }
int goheap_sys_leak_cpu_roots(unsigned cpu, void (*add)(uintptr_t, uintptr_t, void *), void *arg)
{
    (void)cpu, (void)add, (void)arg;
    return -1;
}
/* The example header's optional hooks (GOHEAP_SYS_HAVE_CONFIGURE, _STACK_BOUNDS,
 * _PROFILE_MAPS, _PROFILE_DUMP, _REMAP; alloc/platform.h): no knob to act on, no stack
 * known (a sampled allocation records its caller only), no mapping to name, nowhere to
 * write a requested profile, no page table to move (GOHEAP_SYS_REMAP_CANNOT, -1: the
 * core copies). */
struct goheap_sys_config;
void goheap_sys_configure(const struct goheap_sys_config *c);
void goheap_sys_configure(const struct goheap_sys_config *c) { (void)c; }
int goheap_sys_stack_bounds(uintptr_t *lo, uintptr_t *hi);
int goheap_sys_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    (void)lo, (void)hi;
    return 0;
}
int goheap_sys_profile_maps(int (*w)(void *ctx, const char *buf, size_t len), void *ctx);
int goheap_sys_profile_maps(int (*w)(void *ctx, const char *buf, size_t len), void *ctx)
{
    (void)w, (void)ctx;
    return 0;
}
void goheap_sys_profile_dump(void);
void goheap_sys_profile_dump(void) { }
int goheap_sys_remap(void *old, void *new, size_t bytes);
int goheap_sys_remap(void *old, void *new, size_t bytes)
{
    (void)old, (void)new, (void)bytes;
    return -1;
}
uint64_t goheap_sys_nanotime(void) { return 0; }
void goheap_sys_log(const char *msg) { (void)msg; }
_Noreturn void goheap_sys_panic(const char *msg) { (void)msg; for (;;) { } }

/* From the example platform header the archive was compiled with (the aarch64 lock
 * picks LSE or LL/SC at run time from arch_have_lse; x86_64 never reads it). */
unsigned char goheap_kernel_in_each_cpu[64];
uint8_t arch_have_lse;
_Noreturn void goheap_kernel_bad_context(uint64_t saved) { (void)saved; for (;;) { } }

void *memset(void *d, int c, size_t n) { unsigned char *p = d; while (n--) *p++ = (unsigned char)c; return d; }
void *memcpy(void *restrict d, const void *restrict s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}
void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    if (p < q)
        while (n--)
            *p++ = *q++;
    else
        while (n--)
            p[n] = q[n];
    return d;
}
int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
    return 0;
}

void _start(void);
void _start(void)
{
    struct goheap_config cfg = { 1 << 19, "scavtrace=1" };
    struct goheap_memstats ms;
    struct goheap_metric m[4];
    void *q = 0;
    goheap_init(&cfg);
    void *p = goheap_malloc(100);
    p = goheap_realloc(p, 200);
    goheap_free(goheap_calloc(2, 8));
    goheap_free(goheap_aligned_alloc(64, 64));
    goheap_posix_memalign(&q, 64, 64);
    goheap_free(q);
    goheap_free(goheap_malloc_flags(8, GOHEAP_NOSCAN));
    (void)goheap_usable_size(p);
    goheap_free(p);
    goheap_flush();
    goheap_free_os_memory();
    goheap_set_memory_limit(-1);
    goheap_background_work();
    goheap_read_memstats(&ms);
    goheap_read_metrics(m, 4);
    goheap_validate();
    goheap_register_root(&cfg, sizeof cfg);
    (void)goheap_leak_scan(0, 0);
    goheap_unregister_root(&cfg);
    for (;;) {
    }
}
