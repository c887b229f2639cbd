/* tests/host/test_oom.c: out of memory. In a hosted arena limited to 64 MiB, small and
 * large allocations return NULL at exhaustion without corrupting anything, and after
 * everything is freed (and goheap_free_os_memory) the full capacity is available again.
 * The binary re-executes itself with GOHEAPDEBUG set, so the arena is fresh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "goheap.h"
#include "heapcheck.h"
#include "hostktap.h"

#define ARENA_MIB 64
#define KNOBS "arena=64M"

/* Pointer bookkeeping lives in mmap'd memory, never in the heap under test. */
#define MAXOBJ (1u << 20)
static void **objs;
static size_t *objn;

/* Allocates objects of `size` (0: sizes drawn from every class and some large ones)
 * until NULL or `cap` objects; returns how many, and their total request bytes. */
static size_t fill_until_null(size_t size, size_t cap, uint64_t *bytes, uint64_t *rng) {
    size_t k = 0;
    *bytes = 0;
    while (k < cap) {
        size_t n = size;
        if (!n)
            n = hc_below(rng, 8) ? hc_size_in_class(rng, 1 + (unsigned)hc_below(rng, 67))
                                 : HC_MAX_SMALL + 1 + hc_below(rng, 3 << 20);
        void *p = goheap_malloc(n);
        if (!p) {
            if (size)
                break;
            /* Mixed sizes: stop only when a small request fails too. */
            p = goheap_malloc(16);
            if (!p)
                break;
            n = 16;
        }
        hc_fill(p, n);
        objs[k] = p;
        objn[k] = n;
        *bytes += n;
        k++;
    }
    return k;
}

static size_t check_and_free_all(size_t k) {
    size_t damaged = 0;
    for (size_t i = 0; i < k; i++) {
        if (hc_check(objs[i], objn[i]) != (size_t)-1)
            damaged++;
        goheap_free(objs[i]);
    }
    goheap_free_os_memory();
    return damaged;
}

static size_t large_first; /* 1 MiB objects that fit into a fresh arena */

static void report(const char *what, size_t k, uint64_t bytes) {
    printf("# %s: %zu objects, %llu KiB before NULL\n", what, k, (unsigned long long)(bytes >> 10));
}

/* 1 MiB objects until NULL: the capacity is most of the arena and no more. */
static void large_exhaustion(void) {
    uint64_t bytes, rng = 1;
    size_t k = fill_until_null(1 << 20, MAXOBJ, &bytes, &rng);
    report("1 MiB", k, bytes);
    large_first = k;
    KT_CHECK(k < MAXOBJ, "never returned NULL");
    KT_CHECK(bytes <= ((uint64_t)ARENA_MIB << 20), "%llu bytes from a %d MiB arena",
             (unsigned long long)bytes, ARENA_MIB);
    KT_CHECK(bytes >= ((uint64_t)ARENA_MIB << 20) / 2, "only %llu bytes from a %d MiB arena",
             (unsigned long long)bytes, ARENA_MIB);
    /* At exhaustion other sizes fail too, or at least do not hand out used memory. */
    void *big = goheap_malloc(8 << 20);
    KT_CHECK(big == NULL, "an 8 MiB object after exhaustion: %p", big);
    void *aligned = goheap_aligned_alloc(1 << 20, 1 << 20);
    KT_CHECK(aligned == NULL, "aligned_alloc(1M, 1M) after exhaustion: %p", aligned);
    size_t d = check_and_free_all(k);
    KT_CHECK(d == 0, "%zu objects damaged", d);
}

/* Small objects of three classes until NULL, then everything freed: the spans must
 * all go back, so the large capacity is the same as in a fresh arena. */
static void small_exhaustion(void) {
    static const size_t sizes[] = {4096, 256, 30000};
    for (unsigned i = 0; i < 3; i++) {
        uint64_t bytes, rng = 2;
        size_t k = fill_until_null(sizes[i], MAXOBJ, &bytes, &rng);
        char what[32];
        snprintf(what, sizeof what, "%zu B", sizes[i]);
        report(what, k, bytes);
        KT_CHECK(k < MAXOBJ, "%zu B: never returned NULL", sizes[i]);
        KT_CHECK(bytes >= ((uint64_t)ARENA_MIB << 20) / 2, "%zu B: only %llu bytes", sizes[i],
                 (unsigned long long)bytes);
        void *l = goheap_malloc(1 << 20);
        KT_CHECK(l == NULL, "a 1 MiB object after small exhaustion: %p", l);
        if (k == 0)
            continue;
        /* Freeing one object makes its class allocatable again right away. */
        goheap_free(objs[k - 1]);
        void *again = goheap_malloc(sizes[i]);
        KT_CHECK(again != NULL, "%zu B: NULL right after a free of that class", sizes[i]);
        if (again) {
            hc_fill(again, sizes[i]);
            objs[k - 1] = again;
        } else {
            k--;
        }
        size_t d = check_and_free_all(k);
        KT_CHECK(d == 0, "%zu B: %zu objects damaged", sizes[i], d);
        size_t k2 = fill_until_null(1 << 20, MAXOBJ, &bytes, &rng);
        KT_CHECK(k2 == large_first, "after %zu B objects: %zu x 1 MiB fit, a fresh arena took %zu",
                 sizes[i], k2, large_first);
        d = check_and_free_all(k2);
        KT_CHECK(d == 0);
    }
}

/* Mixed sizes from every class and large ones until even 16 B fails; then the whole
 * capacity comes back. */
static void mixed_exhaustion(void) {
    uint64_t bytes, rng = 3;
    size_t k = fill_until_null(0, MAXOBJ, &bytes, &rng);
    report("mixed", k, bytes);
    KT_CHECK(k < MAXOBJ);
    size_t d = check_and_free_all(k);
    KT_CHECK(d == 0, "%zu objects damaged", d);
    size_t k2 = fill_until_null(1 << 20, MAXOBJ, &bytes, &rng);
    KT_CHECK(k2 == large_first, "after mixed sizes: %zu x 1 MiB fit, a fresh arena took %zu", k2,
             large_first);
    d = check_and_free_all(k2);
    KT_CHECK(d == 0);
}

/* After all that, the books balance. */
static void balanced(void) {
    struct goheap_memstats st;
    KT_CHECK(goheap_validate() == 0);
    goheap_read_memstats(&st);
    KT_CHECK(st.mallocs == st.frees, "mallocs %llu frees %llu", (unsigned long long)st.mallocs,
             (unsigned long long)st.frees);
    KT_CHECK(st.heap_inuse == 0, "heap_inuse %llu", (unsigned long long)st.heap_inuse);
    KT_CHECK(st.heap_sys <= ((uint64_t)ARENA_MIB << 20), "heap_sys %llu over the arena",
             (unsigned long long)st.heap_sys);
}

static const struct kt_case cases[] = {
    KT_CASE(large_exhaustion),
    KT_CASE(small_exhaustion),
    KT_CASE(mixed_exhaustion),
    KT_CASE(balanced),
};

int main(int argc, char **argv) {
    (void)argc;
    const char *env = getenv("GOHEAPDEBUG");
    if (!env || strcmp(env, KNOBS) != 0) {
        /* A fresh process with the knob, so the arena is reserved at its small size. */
        setenv("GOHEAPDEBUG", KNOBS, 1);
        execv("/proc/self/exe", argv);
        perror("execv");
        return 2;
    }
    objs = mmap(NULL, MAXOBJ * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    objn = mmap(NULL, MAXOBJ * sizeof(size_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (objs == MAP_FAILED || objn == MAP_FAILED)
        return 2;
    kt_begin("oom", KT_NCASES(cases));
    printf("# GOHEAPDEBUG=%s\n", env);
    return kt_run_cases(cases, KT_NCASES(cases), 0);
}
