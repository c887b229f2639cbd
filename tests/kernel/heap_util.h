/* tests/kernel/heap_util.h: helpers shared by the kernel heap suites (heap_*.c): a
 * per-CPU PRNG, address-keyed cookies written into objects and checked at free, the
 * size classes read from goheap's MemStats, and the end-of-suite validation case. */
#ifndef TESTS_KERNEL_HEAP_UTIL_H
#define TESTS_KERNEL_HEAP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <cmdline.h>
#include <goheap.h>
#include <frame.h>
#include <ktest.h>
#include <kheap.h>
#include <xorshift.h>


/* Cookie: the first and last 8 bytes of an object (or every byte below 16 B) are a
 * function of its address and size, so a block handed out twice, or overwritten by a
 * neighbour, fails the check at free. */
static inline uint64_t hu_cookie(uintptr_t a, size_t size)
{
    return (a * 0x9e3779b97f4a7c15ull) ^ size ^ 0xc0ffee;
}

static inline void hu_fill(void *p, size_t size)
{
    uintptr_t a = (uintptr_t)p;
    uint64_t c = hu_cookie(a, size);
    if (size < 16) {
        for (size_t i = 0; i < size; i++)
            ((volatile uint8_t *)p)[i] = (uint8_t)(c >> (8 * (i & 7)));
        return;
    }
    __builtin_memcpy(p, &c, 8);
    uint64_t d = ~c;
    __builtin_memcpy((char *)p + size - 8, &d, 8);
}

/* 1 when intact. */
static inline int hu_check(const void *p, size_t size)
{
    uintptr_t a = (uintptr_t)p;
    uint64_t c = hu_cookie(a, size);
    if (size < 16) {
        for (size_t i = 0; i < size; i++)
            if (((const volatile uint8_t *)p)[i] != (uint8_t)(c >> (8 * (i & 7))))
                return 0;
        return 1;
    }
    uint64_t x, y;
    __builtin_memcpy(&x, p, 8);
    __builtin_memcpy(&y, (const char *)p + size - 8, 8);
    return x == c && y == ~c;
}

/* Size classes 1..n-1 (class 0 is "large"); filled from MemStats.by_size. */
static inline unsigned hu_classes(uint32_t *sizes, unsigned max)
{
    static struct goheap_memstats ms;   /* big: keep it off the 16 KiB stack */
    goheap_read_memstats(&ms);
    unsigned n = 0;
    for (unsigned i = 1; i < GOHEAP_NUM_SIZE_CLASSES && n < max; i++)
        if (ms.by_size[i].size)
            sizes[n++] = ms.by_size[i].size;
    return n;
}



/* The last case of every heap suite: the slow validator (walks every span, recounts,
 * checks Go's MemStats invariants). */
static inline void hu_validate(struct ktest *t)
{
    KT_EXPECT_EQ(t, goheap_validate(), 0);
    static struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    KT_EXPECT_EQ(t, ms.heap_idle + ms.heap_inuse, ms.heap_sys);
    KT_EXPECT(t, ms.heap_released <= ms.heap_idle);
    KT_EXPECT(t, ms.heap_alloc <= ms.heap_inuse);
    KT_EXPECT_EQ(t, ms.heap_objects, ms.mallocs - ms.frees);
}

/* First occurrence of needle in hay, or NULL (the kernel has no strstr). */
static inline const char *hu_strstr(const char *hay, const char *needle)
{
    for (; *hay; hay++) {
        size_t i = 0;
        while (needle[i] && hay[i] == needle[i])
            i++;
        if (!needle[i])
            return hay;
    }
    return needle[0] ? 0 : hay;
}

/* Suite init for every heap suite: goheap up (idempotent). */
/* The boot asked for lazy release (a goheap= word holds madvdontneed=0). */
static inline int hu_lazy_asked(void)
{
    static char knobs[CMDLINE_MAX];
    return cmdline_join("goheap", ',', knobs, sizeof knobs) > 0 && hu_strstr(knobs, "madvdontneed=0") != 0;
}

static inline int hu_init(void)
{
    kheap_init();
    return 0;
}

#endif /* TESTS_KERNEL_HEAP_UTIL_H */
