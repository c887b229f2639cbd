/* tests/host/test_region.c: region mode through the amalgamated build/goheap.c and the
 * four-hook platform of tests/host/region/goheap_config.h: init's logged refusals,
 * allocation inside the region only, calloc zero over dirty memory and after
 * goheap_free_os_memory() (released pages stay backed and dirty here), exhaustion,
 * the no-clock background step, and add_region's refusal. */
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "goheap.h"
#include "hostktap.h"

static char last_log[512];
static unsigned nlogs;
void goheap_sys_log(const char *msg) {
    snprintf(last_log, sizeof last_log, "%s", msg);
    nlogs++;
}
_Noreturn void goheap_sys_panic(const char *msg) {
    printf("    # panic: %s\n", msg);
    fflush(stdout);
    abort();
}

#define REGION (24u << 20) /* deliberately not a 4 MiB multiple after the offset */
static unsigned char *region;
static size_t region_len;

static int all_zero(const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i])
            return 0;
    return 1;
}

static int in_region(const void *p, size_t n) {
    uintptr_t a = (uintptr_t)p;
    return a >= (uintptr_t)region + goheap_overhead(region_len) - 16384 &&
           a + n <= (uintptr_t)region + region_len;
}

static void t_refusals(void) {
    static unsigned char small[1 << 16];
    KT_CHECK(goheap_overhead(REGION) > 0 && goheap_overhead(REGION) < REGION / 8, "%zu",
             goheap_overhead(REGION));
    nlogs = 0;
    KT_CHECK(goheap_init_region(NULL, 1 << 20, 0) == GOHEAP_INIT_BADREGION, "");
    KT_CHECK(nlogs == 1 && strstr(last_log, "bad region"), "log: %s", last_log);
    KT_CHECK(goheap_init_region(small, sizeof small, 0) == GOHEAP_INIT_NOSPACE, "");
    KT_CHECK(nlogs == 2 && strstr(last_log, "too small") && strstr(last_log, "goheap_overhead"),
             "log: %s", last_log);
    KT_CHECK(goheap_init_region(small, sizeof small, 7) == GOHEAP_INIT_BADREGION, "");
    KT_CHECK(nlogs == 3 && strstr(last_log, "flags 0x7"), "log: %s", last_log);
    /* page-table mode does not exist on this platform: said, not silent */
    KT_CHECK(goheap_init(NULL) == GOHEAP_INIT_NOSPACE, "");
    KT_CHECK(nlogs == 4 && strstr(last_log, "GOHEAP_SYS_HAVE_MAP"), "log: %s", last_log);
}

static void t_init(void) {
    /* An odd offset: neither the region nor its end is page or chunk aligned. */
    region_len = REGION - 12345;
    region = (unsigned char *)aligned_alloc(1 << 22, REGION + (4 << 20)) + (1 << 21) + 4321;
    memset(region, 0xa5, region_len); /* what a region holds before goheap: junk */
    int r = goheap_init_region(region, region_len, 0);
    KT_CHECK(r == 0, "init_region: %d (%s)", r, last_log);
    KT_CHECK(goheap_validate() == 0, "");
    KT_CHECK(goheap_init_region(region, region_len, 0) == GOHEAP_INIT_BADREGION, "twice");
    KT_CHECK(strstr(last_log, "already initialised"), "log: %s", last_log);
}

static void t_alloc_in_region(void) {
    static const size_t sizes[] = {1, 8, 16, 24, 100, 1000, 4096, 10000, 32768, 40000, 300000, 2 << 20};
    void *p[sizeof sizes / sizeof sizes[0]];
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        p[i] = goheap_malloc(sizes[i]);
        KT_CHECK(p[i] && in_region(p[i], sizes[i]), "size %zu at %p", sizes[i], p[i]);
        if (p[i])
            memset(p[i], 0x5a, sizes[i]);
    }
    /* calloc over memory that held junk before goheap ever saw it */
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *q = goheap_calloc(1, sizes[i]);
        KT_CHECK(q && in_region(q, sizes[i]) && all_zero(q, sizes[i]), "calloc %zu", sizes[i]);
        goheap_free(q);
    }
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        goheap_free(p[i]);
    KT_CHECK(goheap_validate() == 0, "");
}

/* The bug issue 13 found in the lib-link stub: released pages that do not read zero
 * must not be handed to calloc as zero. Here release only marks pages dirty. */
static void t_calloc_after_free_os_memory(void) {
    enum { N = 64 };
    void *p[N];
    size_t total = 0;
    for (unsigned i = 0; i < N; i++) {
        size_t sz = i % 2 ? 100000 + i * 4096 : 48 + i * 16;
        p[i] = goheap_malloc(sz);
        KT_CHECK(p[i] != NULL, "");
        if (p[i])
            memset(p[i], 0xee, sz);
        total += sz;
    }
    for (unsigned i = 0; i < N; i++)
        goheap_free(p[i]);
    goheap_free_os_memory();
    struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    KT_CHECK(ms.heap_released > total / 2, "released %llu of %zu",
             (unsigned long long)ms.heap_released, total);
    KT_CHECK(goheap_validate() == 0, "");
    for (unsigned i = 0; i < N; i++) {
        size_t sz = i % 2 ? 100000 + i * 4096 : 48 + i * 16;
        void *q = goheap_calloc(sz, 1);
        KT_CHECK(q && all_zero(q, sz), "calloc(%zu) after free_os_memory reads old bytes", sz);
        p[i] = q;
    }
    for (unsigned i = 0; i < N; i++)
        goheap_free(p[i]);
    KT_CHECK(goheap_validate() == 0, "");
}

/* The heap is the region minus goheap_overhead: nearly all of it can be allocated,
 * then malloc returns NULL and the heap stays whole. */
static void t_exhaustion(void) {
    enum { MAXP = 4096 };
    static void *p[MAXP];
    size_t n = 0, got = 0, chunk = 64 << 10;
    while (n < MAXP && (p[n] = goheap_malloc(chunk)) != NULL) {
        KT_CHECK(in_region(p[n], chunk), "");
        got += chunk;
        n++;
    }
    size_t usable = region_len - goheap_overhead(region_len);
    printf("    # region %zu bytes, overhead %zu, allocated %zu in 64 KiB blocks (%.1f%%)\n",
           region_len, goheap_overhead(region_len), got, 100.0 * (double)got / (double)region_len);
    KT_CHECK(n < MAXP && got + (1 << 20) >= usable, "got %zu of %zu usable", got, usable);
    KT_CHECK(goheap_malloc(chunk) == NULL, "still full");
    void *small = goheap_malloc(16); /* may fit in a cached span, or not: either is fine */
    goheap_free(small);
    KT_CHECK(goheap_validate() == 0, "");
    for (size_t i = 0; i < n; i++)
        goheap_free(p[i]);
    void *big = goheap_malloc(usable / 2);
    KT_CHECK(big && in_region(big, usable / 2), "a large block after freeing everything");
    goheap_free(big);
    KT_CHECK(goheap_validate() == 0, "");
}

static void t_no_clock_background(void) {
    nlogs = 0;
    void *p = goheap_malloc(1 << 20);
    goheap_free(p);
    goheap_background_work();
    KT_CHECK(nlogs == 1 && strstr(last_log, "no clock"), "said once: %s", last_log);
    for (int i = 0; i < 50; i++)
        goheap_background_work();
    KT_CHECK(nlogs == 1, "only once: %u logs", nlogs);
    KT_CHECK(goheap_validate() == 0, "");
}

static void t_add_region(void) {
    static unsigned char more[8 << 20];
    nlogs = 0;
    KT_CHECK(goheap_add_region(more, sizeof more, 0) == GOHEAP_INIT_BADREGION, "");
    KT_CHECK(nlogs == 1 && strstr(last_log, "add_region"), "log: %s", last_log);
}

static const struct kt_case cases[] = {
    KT_CASE(t_refusals),
    KT_CASE(t_init),
    KT_CASE(t_alloc_in_region),
    KT_CASE(t_calloc_after_free_os_memory),
    KT_CASE(t_exhaustion),
    KT_CASE(t_no_clock_background),
    KT_CASE(t_add_region),
};

int main(void) {
    kt_begin("region", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), 0);
}
