/* tests/host/test_region.c: region mode through the amalgamated build/goheap.c and the
 * four-hook platform of tests/host/region/goheap_config.h: malloc before init (NULL and
 * a log line), init's logged refusals,
 * allocation inside the region only, calloc zero over dirty memory and after
 * goheap_free_os_memory() (released pages stay backed and dirty here), exhaustion,
 * the no-clock background step, and goheap_add_region: refusals, three more regions
 * (below and above each other, one chunk-aligned, two sharing a chunk) filled, freed,
 * validated, calloc after free_os_memory, bad pointers between them, and the leak
 * scan over them (a leak planted in an added region reported, objects reached only
 * through an added region's object not), over a GOHEAP_NOSCAN buffer that realloc
 * moved (still not scanned), and a buffer grown by realloc to a cover's end that must
 * not grow on into the next cover. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "goheap.h"
#include "hostktap.h"

static char last_log[512];
static unsigned nlogs, nclock_logs, nmeta_logs;
void goheap_sys_log(const char *msg) {
    snprintf(last_log, sizeof last_log, "%s", msg);
    nlogs++;
    if (strstr(msg, "no clock"))
        nclock_logs++;
    if (strstr(msg, "more bytes of metadata"))
        nmeta_logs++;
}
static int panic_fd = -1; /* a forked child sends its panic message here */
_Noreturn void goheap_sys_panic(const char *msg) {
    if (panic_fd >= 0) {
        ssize_t w = write(panic_fd, msg, strlen(msg));
        (void)w;
        _exit(3);
    }
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

/* Before goheap_init_region: the fast paths index the core's table of empty slots (this
 * platform has no per-slot pointer), so every size misses into the slow path: NULL,
 * and one log line that names goheap_init; free(NULL) is a no-op, free of anything
 * else panics as a non-heap pointer. (malloc loaded through a NULL table before, a
 * segfault with no message.) */
static void free_message(void *p, char *out, size_t n);
static void t_before_init(void) {
    nlogs = 0;
    static const size_t sizes[] = {16, 1024, 3000, 32768, 100000};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        KT_CHECK(goheap_malloc(sizes[i]) == NULL, "malloc(%zu) before init", sizes[i]);
    KT_CHECK(goheap_calloc(4, 100) == NULL && goheap_realloc(NULL, 64) == NULL, "calloc / realloc");
    goheap_free(NULL);
    KT_CHECK(nlogs == 1 && strstr(last_log, "before goheap_init"), "%u log lines, last: %s", nlogs, last_log);
    /* a pointer freed before init is no heap pointer: the panic says so */
    static long x;
    char msg[256], want[256];
    free_message(&x, msg, sizeof msg);
    snprintf(want, sizeof want, "goheap: invalid free of a non-heap pointer: 0x%lx", (unsigned long)(uintptr_t)&x);
    KT_CHECK(strcmp(msg, want) == 0, "free before init: '%s', want '%s'", msg, want);
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
    /* An odd offset: neither the region nor its end is page or chunk aligned; or, with
     * REGION_TEST_ALIGNED=1, both on a chunk boundary (the metadata then fills the start
     * of the first chunk, which the layout allocates over it). */
    int aligned = getenv("REGION_TEST_ALIGNED") != NULL;
    region_len = aligned ? REGION : REGION - 12345;
    region = (unsigned char *)aligned_alloc(1 << 22, REGION + (4 << 20)) + (aligned ? 0 : (1 << 21) + 4321);
    memset(region, 0xa5, region_len); /* what a region holds before goheap: junk */
    int r = goheap_init_region(region, region_len, 0);
    KT_CHECK(r == 0, "init_region: %d (%s)", r, last_log);
    KT_CHECK(goheap_validate() == 0, "");
    KT_CHECK(goheap_init_region(region, region_len, 0) == GOHEAP_INIT_BADREGION, "twice");
    KT_CHECK(strstr(last_log, "already initialised"), "log: %s", last_log);
    KT_CHECK(goheap_init(NULL) == GOHEAP_INIT_BADREGION, "goheap_init after goheap_init_region");
    KT_CHECK(strstr(last_log, "goheap_init is refused"), "log: %s", last_log);
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

/* Many small size classes at once use one span (and one span struct) per page or
 * two, more than the region's span budget (goheap_overhead: 64 B a page): malloc then
 * returns NULL with free pages left, as documented. The metadata area's refusal is
 * logged once, not on every malloc that needs a span (each did: 19,296 lines for
 * 20,000 mallocs in a 32 MiB region). */
/* Small objects of 64 classes into p (at most max) until `refusals` NULLs; returns how
 * many were allocated, *nulls the NULLs. */
static size_t small_until_refused(void **p, size_t max, size_t refusals, size_t *nulls) {
    size_t n = 0;
    *nulls = 0;
    for (size_t i = 0; n < max && *nulls < refusals; i++) {
        void *q = goheap_malloc(16 + (i % 64) * 32);
        if (q)
            p[n++] = q;
        else
            ++*nulls;
    }
    return n;
}

static void t_span_budget_logged_once(void) {
    enum { MAXP = 60000 };
    static void *p[MAXP];
    size_t nulls, i;
    unsigned logs0 = nmeta_logs;
    size_t n = small_until_refused(p, MAXP, 2000, &nulls);
    printf("    # %zu objects, %zu NULLs after the span budget ran out, %u metadata log lines\n", n,
           nulls, nmeta_logs - logs0);
    KT_CHECK(nulls > 0, "the span budget never ran out (%zu objects)", n);
    KT_CHECK(nmeta_logs - logs0 == 1, "%u metadata log lines for %zu NULLs", nmeta_logs - logs0, nulls);
    for (i = 0; i < n; i++)
        goheap_free(p[i]);
    KT_CHECK(goheap_validate() == 0, "");
}

/* Region mode's released pages hold what they held (scav 1, zero 0). A large malloc
 * of >= 16 pages takes its run out of the tree unmapped (gh_heap_alloc_span_defer),
 * then its span struct; refused the struct (the span budget spent), it gives the run
 * back (gh_pagealloc_free_mapping), and its released pages must come back as they
 * were, not "known zero" as a page-table mode's unmapped ones are: the calloc that
 * gets that run next would skip its clear. In a child (the budget spent there, not
 * in this process, whose later cases count the metadata log line), early, while few
 * large span structs are free: the spans of small objects spend the budget, 40 KiB
 * objects the large spans' free structs (the last resort of their NULL releases every
 * free page), then calloc(1 MiB) is refused a struct; one 40 KiB object freed gives
 * one back at the next last resort (its span waits in the CPU's large span cache
 * until then), and the calloc retried there gets the same run. */
static int span_refused_child(void) {
    enum { MAXP = 60000, MAXL = 8192 };
    static void *p[MAXP], *l[MAXL];
    const size_t big = 1u << 20, lsz = 40u << 10;
    size_t nl = 0, nulls, i;
    size_t n = small_until_refused(p, MAXP, 200, &nulls);
    void *q;
    while (nl < MAXL && (q = goheap_malloc(lsz)) != NULL)
        l[nl++] = q;
    struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    printf("    # %zu small objects, %zu of 40 KiB, then %llu bytes released\n", n, nl,
           (unsigned long long)ms.heap_released);
    if (nl == 0 || nl == MAXL || ms.heap_released < 4 * big)
        return 10; /* setup: pages ran out before the structs */
    if (goheap_calloc(1, big) != NULL)
        return 11; /* setup: calloc got a span struct */
    size_t lo = 0; /* the lowest: its pages, between others, join no run of 1 MiB */
    for (i = 1; i < nl; i++)
        if ((uintptr_t)l[i] < (uintptr_t)l[lo])
            lo = i;
    goheap_free(l[lo]);
    l[lo] = l[--nl];
    unsigned char *c = goheap_calloc(1, big);
    if (!c)
        return 12;
    size_t k = 0;
    while (k < big && !c[k])
        k++;
    if (k < big) {
        printf("    # calloc(%zu) reads 0x%02x at byte %zu\n", big, c[k], k);
        return 13;
    }
    goheap_free(c);
    for (i = 0; i < nl; i++)
        goheap_free(l[i]);
    for (i = 0; i < n; i++)
        goheap_free(p[i]);
    return goheap_validate() == 0 ? 0 : 14;
}
static void t_calloc_after_span_refused(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int r = span_refused_child();
        fflush(stdout);
        _exit(r);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
             "status 0x%x (10, 11: setup; 12: NULL; 13: calloc read old bytes; 14: validate)", st);
}

/* Said once per process, by whichever background step came first (a free that left
 * 2 MiB of free pages polls one before this case runs). */
static void t_no_clock_background(void) {
    void *p = goheap_malloc(1 << 20);
    goheap_free(p);
    goheap_background_work();
    KT_CHECK(nclock_logs == 1, "said once: %u times, last log: %s", nclock_logs, last_log);
    for (int i = 0; i < 50; i++)
        goheap_background_work();
    KT_CHECK(nclock_logs == 1, "only once: %u times", nclock_logs);
    KT_CHECK(goheap_validate() == 0, "");
}

/* ---- goheap_add_region ---------------------------------------------------------------- */

#define MIB (1u << 20)
/* One 4 MiB-aligned block the added regions are cut from, at chosen offsets:
 *   c: [14 MiB + 3000, 22 MiB)  added first;
 *   a: [0, 8 MiB)               added second, below c, starting on a chunk boundary
 *                               (its metadata fills the start of its first chunk);
 *   b: [8 MiB + 5000, 14 MiB)   added last: its chunk [12, 16) MiB is c's already, so
 *                               its pages there join c's page allocator.
 * The gaps [8 MiB, 8 MiB + 5000) and [14 MiB, 14 MiB + 3000) belong to no region. */
#define ADDED 3
static unsigned char *block;
static const struct {
    size_t lo, hi;
} added[ADDED] = {{14 * MIB + 3000, 22 * MIB}, {0, 8 * MIB}, {8 * MIB + 5000, 14 * MIB}};

/* Which region holds [p, p + n) whole: 0 the first one, 1..3 the added ones, -1 none. */
static int region_of(const void *p, size_t n) {
    uintptr_t a = (uintptr_t)p;
    if (a >= (uintptr_t)region && a + n <= (uintptr_t)region + region_len)
        return 0;
    for (int i = 0; i < ADDED; i++)
        if (a >= (uintptr_t)block + added[i].lo && a + n <= (uintptr_t)block + added[i].hi)
            return i + 1;
    return -1;
}

static void t_add_refusals(void) {
    static unsigned char tiny[64 << 10];
    nlogs = 0;
    KT_CHECK(goheap_add_region(NULL, 1 << 20, 0) == GOHEAP_INIT_BADREGION, "");
    KT_CHECK(nlogs == 1 && strstr(last_log, "add_region: bad region"), "log: %s", last_log);
    KT_CHECK(goheap_add_region(tiny, sizeof tiny, 2) == GOHEAP_INIT_BADREGION, "");
    KT_CHECK(nlogs == 2 && strstr(last_log, "flags 0x2"), "log: %s", last_log);
    KT_CHECK(goheap_add_region(region + region_len - 100, 1 << 20, 0) == GOHEAP_INIT_BADREGION, "");
    KT_CHECK(nlogs == 3 && strstr(last_log, "overlaps region 0"), "log: %s", last_log);
    KT_CHECK(goheap_add_region(tiny, sizeof tiny, 0) == GOHEAP_INIT_NOSPACE, "");
    KT_CHECK(nlogs == 4 && strstr(last_log, "too small") && strstr(last_log, "goheap_overhead"),
             "log: %s", last_log);
    KT_CHECK(goheap_validate() == 0, "");
}

static void t_add_regions(void) {
    block = aligned_alloc(4 * MIB, 24 * MIB);
    KT_CHECK(block != NULL, "");
    if (!block)
        return;
    memset(block, 0xa5, 24 * MIB); /* junk, as before goheap */
    struct goheap_memstats before, after;
    goheap_read_memstats(&before);
    for (int i = 0; i < ADDED; i++) {
        int r = goheap_add_region(block + added[i].lo, added[i].hi - added[i].lo, 0);
        KT_CHECK(r == 0, "add_region %d: %d (%s)", i, r, last_log);
        KT_CHECK(goheap_validate() == 0, "after adding region %d", i);
    }
    /* A region given twice, or overlapping an added one, is refused. */
    KT_CHECK(goheap_add_region(block + added[1].lo, 1 << 20, 0) == GOHEAP_INIT_BADREGION, "");
    KT_CHECK(strstr(last_log, "overlaps region 2"), "log: %s", last_log);
    KT_CHECK(goheap_add_region(block + 13 * MIB, 2 * MIB, 0) == GOHEAP_INIT_BADREGION, "");
    goheap_read_memstats(&after);
    size_t total = 0, overhead = 0;
    for (int i = 0; i < ADDED; i++) {
        total += added[i].hi - added[i].lo;
        overhead += goheap_overhead(added[i].hi - added[i].lo);
    }
    uint64_t grew = after.heap_sys - before.heap_sys;
    printf("    # 3 regions, %zu bytes: heap grew %llu bytes, goheap_overhead bound %zu\n", total,
           (unsigned long long)grew, overhead);
    KT_CHECK(grew <= total && grew + overhead >= total, "heap grew %llu for %zu bytes",
             (unsigned long long)grew, total);
}

/* Fill every region with a mix of small and large blocks, each inside one region. */
enum { FILLMAX = 8192 };
static void *fill[FILLMAX];
static size_t fillsz[FILLMAX];

static size_t fill_all(unsigned *in_each, size_t *n_out) {
    size_t n = 0, got = 0;
    unsigned bad = 0;
    for (; n < FILLMAX; n++) {
        size_t sz = n % 4 == 3 ? 48 : n % 4 == 2 ? 3000 : 64 << 10;
        void *p = goheap_malloc(sz);
        if (!p && sz != 48)
            p = goheap_malloc(sz = 48); /* the tail: whatever still fits */
        if (!p)
            break;
        int r = region_of(p, sz);
        bad += r < 0;
        if (r >= 0)
            in_each[r]++;
        memset(p, 0xee, sz);
        fill[n] = p;
        fillsz[n] = sz;
        got += sz;
    }
    KT_CHECK(bad == 0, "%u blocks outside the regions or straddling two", bad);
    /* The tail past n still holds an earlier case's freed pointers (t_calloc_added...
     * fills more blocks): t_leak_scan_added registers the whole array as a root, and a
     * stale copy of a block's address there rightly keeps it reachable. */
    for (size_t i = n; i < FILLMAX; i++)
        fill[i] = 0;
    *n_out = n;
    return got;
}

static void t_fill_added(void) {
    unsigned in_each[ADDED + 1] = {0};
    size_t n, got = fill_all(in_each, &n);
    size_t usable = region_len - goheap_overhead(region_len);
    for (int i = 0; i < ADDED; i++)
        usable += added[i].hi - added[i].lo - goheap_overhead(added[i].hi - added[i].lo);
    printf("    # allocated %zu bytes in %zu blocks (usable at least %zu); per region %u %u %u %u\n",
           got, n, usable, in_each[0], in_each[1], in_each[2], in_each[3]);
    KT_CHECK(n < FILLMAX && got >= usable - 4 * MIB, "got %zu of %zu", got, usable);
    for (int i = 0; i <= ADDED; i++)
        KT_CHECK(in_each[i] > 10, "region %d holds %u blocks", i, in_each[i]);
    KT_CHECK(goheap_malloc(64 << 10) == NULL, "full");
    KT_CHECK(goheap_validate() == 0, "full");
    /* realloc in place or moved, inside the regions */
    for (size_t i = 0; i < n; i += 97)
        goheap_free(fill[i]), fill[i] = 0;
    for (size_t i = 1; i < n; i += 97) {
        void *q = goheap_realloc(fill[i], fillsz[i] * 2);
        if (q) {
            KT_CHECK(region_of(q, fillsz[i] * 2) >= 0, "realloc to %p", q);
            fill[i] = q;
        }
    }
    for (size_t i = 0; i < n; i++)
        goheap_free(fill[i]);
    KT_CHECK(goheap_validate() == 0, "emptied");
    struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    KT_CHECK(ms.heap_alloc == 0 || ms.heap_alloc < 64 << 10, "heap_alloc %llu after freeing all",
             (unsigned long long)ms.heap_alloc);
}

static void t_calloc_added_after_free_os_memory(void) {
    unsigned in_each[ADDED + 1] = {0};
    size_t n;
    fill_all(in_each, &n); /* every page dirty (0xee), in every region */
    for (size_t i = 0; i < n; i++)
        goheap_free(fill[i]);
    goheap_free_os_memory();
    struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    KT_CHECK(ms.heap_released > 40 * MIB, "released %llu", (unsigned long long)ms.heap_released);
    KT_CHECK(goheap_validate() == 0, "");
    unsigned nonzero = 0, where[ADDED + 1] = {0};
    size_t k = 0;
    for (; k < FILLMAX; k++) {
        size_t sz = k % 2 ? 48 : 64 << 10;
        void *q = goheap_calloc(1, sz);
        if (!q)
            break;
        nonzero += !all_zero(q, sz);
        int r = region_of(q, sz);
        if (r >= 0)
            where[r]++;
        fill[k] = q;
    }
    KT_CHECK(nonzero == 0, "%u of %zu calloc blocks read old bytes", nonzero, k);
    for (int i = 0; i <= ADDED; i++)
        KT_CHECK(where[i] > 10, "region %d: %u calloc blocks", i, where[i]);
    for (size_t i = 0; i < k; i++)
        goheap_free(fill[i]);
    KT_CHECK(goheap_validate() == 0, "");
}

/* The panic message of goheap_free(p) in a child. */
static void free_message(void *p, char *out, size_t n) {
    int fd[2];
    out[0] = 0;
    if (pipe(fd) != 0)
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        panic_fd = fd[1];
        goheap_free(p);
        _exit(0); /* no panic */
    }
    close(fd[1]);
    ssize_t got = read(fd[0], out, n - 1);
    out[got > 0 ? got : 0] = 0;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
}

static void t_bad_pointers_between(void) {
    char msg[256], want[256];
    static long outside; /* not heap memory at all */
    struct {
        void *p;
        const char *reason;
    } cases[] = {
        {&outside, "invalid free of a non-heap pointer"},
        /* the gaps between added regions, inside chunks goheap covers: no region gave
         * them, so they are not heap memory (not freed heap memory either) */
        {block + 8 * MIB + 16, "invalid free of a non-heap pointer"},
        {block + 14 * MIB + 32, "invalid free of a non-heap pointer"},
        /* past the last added region (22 MiB, in c's last chunk) */
        {block + 22 * MIB + 64, "invalid free of a non-heap pointer"},
        /* an added region's own metadata, at its start */
        {block + 64, "invalid free of a non-heap pointer"},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        free_message(cases[i].p, msg, sizeof msg);
        snprintf(want, sizeof want, "goheap: %s: 0x%lx", cases[i].reason, (unsigned long)(uintptr_t)cases[i].p);
        KT_CHECK(strcmp(msg, want) == 0, "free(%p): '%s', want '%s'", cases[i].p, msg, want);
    }
    /* A large object's interior pointer names the object's pages, not a class. */
    char *big = goheap_malloc(MIB);
    KT_CHECK(big != NULL, "");
    if (big) {
        free_message(big + 3 * 8192 + 8, msg, sizeof msg);
        snprintf(want, sizeof want, "goheap: invalid free of an interior pointer: 0x%lx (span 0x",
                 (unsigned long)(uintptr_t)(big + 3 * 8192 + 8));
        KT_CHECK(strncmp(msg, want, strlen(want)) == 0 && strstr(msg, "large object of 128 pages)"),
                 "'%s', want '%s... large object of 128 pages)'", msg, want);
        goheap_free(big);
    }
    /* An interior pointer of a small object in an added region (filled everywhere, so
     * some 48 B objects are there). */
    unsigned in_each[ADDED + 1] = {0};
    size_t n;
    fill_all(in_each, &n);
    size_t found = n;
    for (size_t i = 0; i < n && found == n; i++)
        if (fillsz[i] == 48 && region_of(fill[i], 48) > 0)
            found = i;
    KT_CHECK(found < n, "no small object landed in an added region");
    if (found < n) {
        char *bad = (char *)fill[found] + 8;
        free_message(bad, msg, sizeof msg);
        snprintf(want, sizeof want, "goheap: invalid free of an interior pointer: 0x%lx",
                 (unsigned long)(uintptr_t)bad);
        KT_CHECK(strncmp(msg, want, strlen(want)) == 0, "'%s', want '%s ...'", msg, want);
    }
    for (size_t i = 0; i < n; i++)
        goheap_free(fill[i]);
    KT_CHECK(goheap_validate() == 0, "");
}

/* ---- the leak scan over added regions (docs/leakscan.md) -------------------------------
 * The platform's root hooks (region/goheap_config.h, hosted build): no static data and
 * no stack; the case registers the table that holds its objects. */
void goheap_sys_leak_roots(void (*add)(uintptr_t lo, uintptr_t hi, void *arg), void *arg) {
    (void)add;
    (void)arg;
}
int goheap_sys_leak_cpu_roots(unsigned cpu, void (*add)(uintptr_t lo, uintptr_t hi, void *arg),
                              void *arg) {
    (void)cpu;
    (void)add;
    (void)arg;
    return 0;
}

/* Addresses the case drops are kept xor-ed (the scan must not see them anywhere). */
#define HIDE 0x5a5a5a5a5a5a5a5aull
static struct {
    uintptr_t addr_x;
    size_t size;
} leak_rep[16];
static unsigned leak_nrep;
static void leak_collect(const struct goheap_leak *l, void *ctx) {
    (void)ctx;
    if (leak_nrep < 16)
        leak_rep[leak_nrep].addr_x = (uintptr_t)l->addr ^ HIDE, leak_rep[leak_nrep].size = l->size;
    leak_nrep++;
}

/* The first index at or after `from` of a filled block of size sz in region r (r > 0:
 * any added one), or n. */
static size_t fill_find(size_t n, size_t sz, int r, size_t from) {
    for (size_t i = from; i < n; i++) {
        int in = fill[i] ? region_of(fill[i], fillsz[i]) : -1;
        if (fillsz[i] == sz && (r > 0 ? in > 0 : in == r))
            return i;
    }
    return n;
}

/* A large span freed by a GOHEAP_NOSCAN object and taken back from the CPU's large span
 * cache by plain malloc (gh_malloc_large's hit) is scanned: an object reachable only
 * through the new object is not reported. */
static void *lc_root[1];
static void t_leak_scan_lcache_noscan(void) {
    KT_CHECK(goheap_register_root(lc_root, sizeof lc_root) == 0, "");
    void *a = goheap_malloc_flags(64 << 10, GOHEAP_NOSCAN);
    goheap_free(a);
    void **b = goheap_malloc(64 << 10); /* the same span, from the large span cache */
    void **c = goheap_malloc(48);
    KT_CHECK(a && b && c, "");
    if (!a || !b || !c)
        return;
    uintptr_t cx = (uintptr_t)c ^ HIDE;
    b[0] = c;
    c = 0;
    lc_root[0] = b;
    leak_nrep = 0;
    goheap_leak_scan(leak_collect, 0);
    goheap_leak_scan(leak_collect, 0);
    KT_CHECK(leak_nrep == 0, "%u reported (first %p, %zu B); the object reachable through the reused span %p",
             leak_nrep, leak_nrep ? (void *)(leak_rep[0].addr_x ^ HIDE) : 0, leak_nrep ? leak_rep[0].size : 0,
             (void *)(cx ^ HIDE));
    goheap_free(b[0]);
    lc_root[0] = 0;
    goheap_free(b);
    KT_CHECK(goheap_unregister_root(lc_root) == 0, "");
}

/* realloc keeps GOHEAP_NOSCAN: a pointer-free buffer that moves (to a small class, to
 * a span placed with room for a small or a large size, out of the tiny allocator) is
 * still not scanned, so a value in it that looks like the address of a leaked object
 * does not hide the leak. (A move allocated a scanned object: only in-place growth
 * and the zero-copy move kept the class.) */
static void *rn_root[1];
static void t_leak_scan_realloc_noscan(void) {
    KT_CHECK(goheap_register_root(rn_root, sizeof rn_root) == 0, "");
    static const size_t moves[][2] = {{64, 8192}, {64, 4096}, {8, 64}, {64 << 10, 640 << 10}, {40000, 20000}};
    for (unsigned i = 0; i < sizeof moves / sizeof moves[0]; i++) {
        void **buf = goheap_malloc_flags(moves[i][0], GOHEAP_NOSCAN);
        void *c = goheap_malloc(48);
        KT_CHECK(buf && c, "");
        if (!buf || !c)
            break;
        uintptr_t cx = (uintptr_t)c ^ HIDE;
        buf[0] = c;
        c = 0;
        void **q = goheap_realloc(buf, moves[i][1]);
        KT_CHECK(q && q != buf && (uintptr_t)q[0] == (cx ^ HIDE), "%zu -> %zu: moved (%p -> %p)", moves[i][0],
                 moves[i][1], (void *)buf, (void *)q);
        rn_root[0] = q;
        buf = 0;
        /* (a report takes two scans that find it unreferenced: docs/leakscan.md) */
        for (int scan = 0; scan < 3; scan++) {
            leak_nrep = 0;
            goheap_leak_scan(leak_collect, 0);
        }
        KT_CHECK(leak_nrep == 1 && leak_rep[0].addr_x == cx, "%zu -> %zu: %u reported (first %p), want the 48 B object %p",
                 moves[i][0], moves[i][1], leak_nrep, leak_nrep ? (void *)(leak_rep[0].addr_x ^ HIDE) : 0,
                 (void *)(cx ^ HIDE));
        rn_root[0] = 0;
        goheap_free((void *)(cx ^ HIDE));
        goheap_free(q);
    }
    KT_CHECK(goheap_unregister_root(rn_root) == 0, "");
}

/* A leak planted in an added region is reported; an object reachable only from an
 * added region's object (one in an added region, one in the first) is not: the scan
 * walks and marks every span map, not only the first region's. */
static void t_leak_scan_added(void) {
    leak_nrep = 0;
    long n = goheap_leak_scan(leak_collect, 0); /* its workspace, while there is room */
    KT_CHECK(n == 0 && leak_nrep == 0, "first scan: %ld, %u reports (%s)", n, leak_nrep, last_log);
    unsigned in_each[ADDED + 1] = {0};
    size_t cnt;
    fill_all(in_each, &cnt);
    KT_CHECK(goheap_register_root(fill, sizeof fill) == 0, "");
    size_t a = fill_find(cnt, 48, 1, 0), b = fill_find(cnt, 3000, 1, 0);
    size_t c = fill_find(cnt, 64 << 10, 1, 0), d = fill_find(cnt, 3000, 0, 0);
    KT_CHECK(a < cnt && b < cnt && c < cnt && d < cnt, "blocks in added regions: %zu %zu %zu %zu of %zu",
             a, b, c, d, cnt);
    if (a == cnt || b == cnt || c == cnt || d == cnt)
        return;
    uintptr_t ax = (uintptr_t)fill[a] ^ HIDE, bx = (uintptr_t)fill[b] ^ HIDE;
    uintptr_t dx = (uintptr_t)fill[d] ^ HIDE;
    ((void **)fill[c])[0] = fill[b]; /* b and d only through c (64 KiB, added region) */
    ((void **)fill[c])[1] = fill[d];
    fill[a] = fill[b] = fill[d] = 0;
    leak_nrep = 0;
    goheap_leak_scan(leak_collect, 0);
    KT_CHECK(leak_nrep == 0, "a scan reports only what two found unreferenced: %u", leak_nrep);
    leak_nrep = 0;
    n = goheap_leak_scan(leak_collect, 0);
    KT_CHECK(n == 1 && leak_nrep == 1, "second scan: %ld, %u reports", n, leak_nrep);
    for (unsigned i = 0; i < leak_nrep && i < 16; i++) {
        KT_CHECK(leak_rep[i].addr_x != bx && leak_rep[i].addr_x != dx,
                 "reported %p (%zu B), reachable through an added region's object",
                 (void *)(leak_rep[i].addr_x ^ HIDE), leak_rep[i].size);
        KT_CHECK(leak_rep[i].addr_x == ax && leak_rep[i].size == 48, "reported %p (%zu B), not the "
                 "planted %p", (void *)(leak_rep[i].addr_x ^ HIDE), leak_rep[i].size,
                 (void *)(ax ^ HIDE));
    }
    KT_CHECK(goheap_unregister_root(fill) == 0, "");
    fill[a] = (void *)(ax ^ HIDE);
    fill[b] = (void *)(bx ^ HIDE);
    fill[d] = (void *)(dx ^ HIDE);
    for (size_t i = 0; i < cnt; i++)
        goheap_free(fill[i]);
    KT_CHECK(goheap_validate() == 0, "");
}

/* Region b has pages on both sides of 12 MiB: below in its own cover (chunks [8, 12)
 * MiB), above in c's (chunks [12, 24) MiB). A buffer of b's cover that grows by
 * realloc to end at 12 MiB must not take c's pages after it: its grow window would
 * start at 12 MiB in c's page allocator, and the next growth took it, a span across
 * two page allocators (the validator saw c's span map name a span below c; its free
 * went to b's page allocator past its end). Only large blocks, so that freeing b's
 * leaves whole free runs: [12, 14) MiB in c's cover (256 pages) and b's own cover
 * below 12 MiB, the only run that holds 260 pages. */
static void t_grow_across_covers(void) {
    static void *blk[FILLMAX];
    size_t n = 0;
    while (n < FILLMAX && (blk[n] = goheap_malloc(64 << 10)) != NULL)
        n++;
    KT_CHECK(n < FILLMAX && goheap_malloc(64 << 10) == NULL, "full after %zu blocks", n);
    for (size_t i = 0; i < n; i++)
        if (region_of(blk[i], 64 << 10) == 3)
            goheap_free(blk[i]), blk[i] = 0;
    goheap_flush(); /* the freed spans out of the large span caches: free runs */
    uintptr_t edge = (uintptr_t)block + 12 * MIB;
    unsigned char *p = goheap_malloc(260 << 13);
    uintptr_t pages = p ? (edge - (uintptr_t)p) >> 13 : 0;
    KT_CHECK(p && region_of(p, 260 << 13) == 3 && (uintptr_t)p < edge && pages >= 390 && pages < 512,
             "%p: %lu pages below 12 MiB", (void *)p, (unsigned long)pages);
    if (!p || region_of(p, 260 << 13) != 3 || pages < 390 || pages >= 512) {
        goheap_free(p);
        for (size_t i = 0; i < n; i++)
            goheap_free(blk[i]);
        return;
    }
    memset(p, 0x5c, 260 << 13);
    /* grown by half or more to end exactly at the cover's end */
    unsigned char *q = goheap_realloc(p, pages << 13);
    KT_CHECK(q == p, "grown in place to 12 MiB: %p -> %p", (void *)p, (void *)q);
    if (q)
        p = q;
    KT_CHECK(goheap_validate() == 0, "after growing to 12 MiB");
    q = goheap_realloc(p, (pages + 64) << 13);
    KT_CHECK(goheap_validate() == 0, "after growing past 12 MiB (%p -> %p)", (void *)p, (void *)q);
    KT_CHECK(q != p, "%p grew in place across 12 MiB", (void *)p);
    if (q)
        p = q;
    goheap_free(p);
    for (size_t i = 0; i < n; i++)
        goheap_free(blk[i]);
    goheap_free_os_memory();
    KT_CHECK(goheap_validate() == 0, "all freed");
}

static const struct kt_case cases[] = {
    KT_CASE(t_before_init),
    KT_CASE(t_refusals),
    KT_CASE(t_init),
    KT_CASE(t_alloc_in_region),
    KT_CASE(t_calloc_after_free_os_memory),
    KT_CASE(t_calloc_after_span_refused),
    KT_CASE(t_exhaustion),
    KT_CASE(t_span_budget_logged_once),
    KT_CASE(t_no_clock_background),
    KT_CASE(t_add_refusals),
    KT_CASE(t_add_regions),
    KT_CASE(t_fill_added),
    KT_CASE(t_calloc_added_after_free_os_memory),
    KT_CASE(t_bad_pointers_between),
    KT_CASE(t_leak_scan_added),
    KT_CASE(t_leak_scan_lcache_noscan),
    KT_CASE(t_leak_scan_realloc_noscan),
    KT_CASE(t_grow_across_covers),
};

int main(void) {
    kt_begin("region", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), 0);
}
