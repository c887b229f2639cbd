/* tests/host/test_core_arena.c: the growing reservation (alloc/arena.c): the window at
 * a hint, reserved 64 MiB at a time; a hole left where something else holds the next
 * address; the next hint when the first is taken; growth under RLIMIT_AS until NULL
 * with the heap whole; an explicit arena= as the window; the page allocator's
 * metadata reserved in proportion (VmSize before and after growth); the hosted map's
 * frontier (mapping ahead). Cases that need
 * a fresh process (the state before goheap's first allocation) re-execute this binary. */
#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "test_core_common.h"
#include "arena.h"

#define SANITIZER_TSAN 0
#define SANITIZER_ASAN 0
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#undef SANITIZER_TSAN
#define SANITIZER_TSAN 1
#endif
#if __has_feature(address_sanitizer)
#undef SANITIZER_ASAN
#define SANITIZER_ASAN 1
#endif
#endif

#define MIB ((uintptr_t)1 << 20)
/* hosted/vm.c's first window hint, and the span map in front of the heap for
 * the default 1 TiB window (1 GiB = 1 TiB / 1024). */
#define HINT0 ((uintptr_t)32 << 40)
#define HINT1 ((uintptr_t)48 << 40)
#define MAPREGION_1TIB ((uintptr_t)1 << 30)

static const char *self;

/* Runs this binary with `mode` (and GOHEAPDEBUG=knobs, if any); returns its exit
 * status, its output echoed as KTAP comments. */
static int rerun(const char *mode, const char *knobs) {
    pid_t pid = core_fork();
    if (pid == 0) {
        if (knobs)
            setenv("GOHEAPDEBUG", knobs, 1);
        else
            unsetenv("GOHEAPDEBUG");
        execl(self, self, mode, (char *)0);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define FAIL(code, ...) do { printf("    # " __VA_ARGS__); printf("\n"); return code; } while (0)

/* ---- modes (fresh processes) ----------------------------------------------------- */

/* The window sits at the first hint and grows in increments. */
static int mode_grow(void) {
    void *p = goheap_malloc(100);
    if (!gh_arena.incremental || gh_fast.base != HINT0 + MAPREGION_1TIB)
        FAIL(2, "window at 0x%lx, incremental %d", (unsigned long)gh_fast.base, gh_arena.incremental);
    if (gh_arena.resv != 64 * MIB)
        FAIL(3, "first increment %lu MiB", (unsigned long)(gh_arena.resv / MIB));
    void *big[5];
    for (int i = 0; i < 5; i++)
        if (!(big[i] = goheap_malloc(50 * MIB)))
            FAIL(4, "50 MiB object %d: NULL", i);
    /* 250 MiB + the small span: reserved in 64 MiB steps, no more than one step ahead. */
    if (gh_arena.resv < 256 * MIB || gh_arena.resv > 320 * MIB || gh_arena.resv % (4 * MIB))
        FAIL(5, "reserved %lu MiB for 250 MiB of objects", (unsigned long)(gh_arena.resv / MIB));
    if (gh_arena.holes)
        FAIL(6, "holes %lu", (unsigned long)gh_arena.holes);
    for (int i = 0; i < 5; i++)
        goheap_free(big[i]);
    goheap_free(p);
    return goheap_validate() ? 7 : 0;
}

static void *hole_probe;
static void free_in_hole(void) { goheap_free(hole_probe); }

/* Something else holds the address after the first increment: growth leaves a hole,
 * continues above it, and a pointer into the hole is not a heap pointer. */
static int mode_hole(void) {
    uintptr_t taken = HINT0 + MAPREGION_1TIB + 64 * MIB;
    if (mmap((void *)taken, 4 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
             -1, 0) != (void *)taken)
        FAIL(2, "could not take 0x%lx: %s", (unsigned long)taken, strerror(errno));
    char *a = goheap_malloc(40 * MIB), *b = goheap_malloc(40 * MIB);
    if (!a || !b)
        FAIL(3, "NULL");
    if ((uintptr_t)b < taken + 4 * MIB || gh_arena.holes == 0)
        FAIL(4, "b 0x%lx, holes %lu", (unsigned long)(uintptr_t)b, (unsigned long)gh_arena.holes);
    memset(b, 1, 40 * MIB);
    hole_probe = (void *)(taken + 4096);
    if (!core_dies_with(free_in_hole, "goheap: fatal: free into a dead span: 0x"))
        FAIL(5, "free of a pointer in the hole did not abort naming it");
    goheap_free(a);
    goheap_free(b);
    printf("    # hole of %lu MiB at 0x%lx, next piece at 0x%lx\n",
           (unsigned long)(gh_arena.holes / MIB), (unsigned long)(gh_fast.base + 64 * MIB),
           (unsigned long)(uintptr_t)b);
    return goheap_validate() ? 6 : 0;
}

/* The first hint's span-map address is taken: the window goes to the next hint. */
static int mode_hint(void) {
    if (mmap((void *)HINT0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
             0) != (void *)HINT0)
        FAIL(2, "could not take the first hint");
    void *p = goheap_malloc(1000);
    if (!p || !gh_arena.incremental || gh_fast.base != HINT1 + MAPREGION_1TIB)
        FAIL(3, "window at 0x%lx", (unsigned long)gh_fast.base);
    goheap_free(p);
    return goheap_validate() ? 4 : 0;
}

/* Under RLIMIT_AS the heap grows until the system refuses, then returns NULL (ENOMEM)
 * with everything it gave out intact; freeing makes room again. */
static int mode_rlimit(void) {
    struct rlimit r = {.rlim_cur = 400 * MIB, .rlim_max = 400 * MIB};
    if (setrlimit(RLIMIT_AS, &r) != 0)
        FAIL(2, "setrlimit");
    void *p[64];
    unsigned n = 0;
    while (n < 64 && (p[n] = goheap_malloc(16 * MIB)) != 0) {
        memset(p[n], (int)n, 4096);
        n++;
    }
    if (n == 64 || errno != ENOMEM)
        FAIL(3, "%u objects of 16 MiB under a 400 MiB limit, errno %d", n, errno);
    if (n < 8)
        FAIL(4, "only %u objects of 16 MiB under a 400 MiB limit", n);
    for (unsigned i = 0; i < n; i++)
        if (*(unsigned char *)p[i] != (unsigned char)i)
            FAIL(5, "object %u damaged", i);
    goheap_free(p[n - 1]);
    void *again = goheap_malloc(16 * MIB);
    if (!again)
        FAIL(6, "no room after a free");
    printf("    # %u x 16 MiB under RLIMIT_AS 400 MiB (reserved %lu MiB)\n", n,
           (unsigned long)(gh_arena.resv / MIB));
    return goheap_validate() ? 7 : 0;
}

/* arena=64GiB: the window is 64 GiB; it fills to the last chunk, then NULL. The same
 * with the default 1 TiB window goes past 64 GiB in 64 MiB steps. */
static int fill(uintptr_t upto_gib, int want_null_at) {
    void *p[200];
    uintptr_t i = 0;
    for (; i < upto_gib; i++)
        if (!(p[i] = goheap_malloc((size_t)1 << 30)))
            break;
    int got_null = i < upto_gib;
    if (want_null_at >= 0 && (!got_null || (int)i != want_null_at))
        FAIL(2, "%lu GiB before NULL, wanted %d", (unsigned long)i, want_null_at);
    if (want_null_at < 0 && got_null)
        FAIL(3, "NULL after %lu GiB", (unsigned long)i);
    for (uintptr_t k = 0; k < i; k++)
        goheap_free(p[k]);
    printf("    # %lu GiB allocated, window %lu GiB, reserved %lu GiB\n", (unsigned long)i,
           (unsigned long)(gh_heap.arena_bytes >> 30), (unsigned long)(gh_arena.resv >> 30));
    return goheap_validate() ? 4 : 0;
}
static int mode_arena64(void) {
    /* 63 objects of 1 GiB fit (each takes a page more than 1 GiB), the 64th does not. */
    if (gh_heap.arena_bytes != 0 || goheap_malloc(1) == 0 || gh_heap.arena_bytes != (64ull << 30))
        FAIL(5, "window %lu", (unsigned long)gh_heap.arena_bytes);
    return fill(70, 63);
}
static int mode_past64(void) { return fill(70, -1); }

/* VmSize of this process, in KiB (/proc/self/status), or 0. */
static unsigned long vmsize_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %lu kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* The address space the heap holds follows what it reserved for pages, metadata
 * included: the page allocator's metadata is placed after the window and reserved
 * as it is mapped, not 50.8 MiB for the 1 TiB window at once. */
static int mode_meta(void) {
    struct pagealloc *pa = &gh_heap.pages;
    unsigned long vm0 = vmsize_kib();
    void *p = goheap_malloc(100);
    unsigned long vm1 = vmsize_kib();
    if (!p || !pa->meta_resv_bits || pa->meta_base != gh_fast.base + gh_heap.arena_bytes)
        FAIL(2, "metadata not placed after the window (base 0x%lx)", (unsigned long)pa->meta_base);
    size_t r1 = pa->meta_reserved;
    /* The fixed part (3 frames) and the first chunk's: a leaf, 3 upper levels, its
     * bitmaps and index entry, a frame each: 36 KiB. */
    if (r1 > 48 << 10 || r1 != pa->meta_mapped)
        FAIL(3, "metadata reserved at init %zu, mapped %zu", r1, pa->meta_mapped);
    /* What else goheap reserves at init is the first increment and its span map, and
     * metadata chunks (span structs, caches): a few MiB at most. */
    unsigned long own = (unsigned long)((gh_arena.resv + gh_arena.map_resv + r1) >> 10);
    if (vm1 - vm0 > own + 8192)
        FAIL(4, "VmSize grew %lu KiB at init, heap reserved %lu KiB", vm1 - vm0, own);
    void *big[100];
    for (int i = 0; i < 100; i++)
        if (!(big[i] = goheap_malloc(MIB)))
            FAIL(5, "1 MiB object %d: NULL", i);
    unsigned long vm2 = vmsize_kib();
    size_t r2 = pa->meta_reserved;
    /* 100 MiB: 26 chunks of bitmaps, leaves and index, a frame each, plus a frame per
     * upper level: reserved == mapped, a few frames more than at init. */
    if (r2 > 64 << 10 || r2 != pa->meta_mapped || r2 * 1000 > gh_arena.resv)
        FAIL(6, "metadata reserved %zu, mapped %zu, for %lu MiB reserved", r2, pa->meta_mapped,
             (unsigned long)(gh_arena.resv / MIB));
    printf("    # VmSize %lu KiB before goheap, %lu at the first malloc, %lu with 100 MiB; page-allocator "
           "metadata reserved %zu KiB then %zu KiB (spans %zu KiB); heap reserved %lu MiB\n",
           vm0, vm1, vm2, r1 >> 10, r2 >> 10, pa->meta_span >> 10, (unsigned long)(gh_arena.resv / MIB));
    for (int i = 0; i < 100; i++)
        goheap_free(big[i]);
    goheap_free(p);
    return goheap_validate() ? 7 : 0;
}

/* A line of /proc/self/status, in KiB ("VmRSS", "VmData"). */
static unsigned long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long kib = 0;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':') {
            kib = strtoul(line + n + 1, 0, 10);
            break;
        }
    if (f)
        fclose(f);
    return kib;
}

/* A request the system refuses after the heap grew for it (RLIMIT_DATA: the run's
 * mprotect fails): NULL and ENOMEM, the growth kept but its span map unwritten (a
 * failed malloc of 900 GiB used to leave 900 MiB of span map entries resident);
 * a page of the new growth still reads as no span, and the next allocation that fits
 * takes the grown pages normally. */
static int mode_refused(void) {
    void *p = goheap_malloc(100);
    if (!p)
        FAIL(2, "first malloc");
    struct rlimit r0, r;
    getrlimit(RLIMIT_DATA, &r0);
    r = r0;
    r.rlim_cur = (status_kib("VmData") << 10) + 256 * MIB;
    if (setrlimit(RLIMIT_DATA, &r) != 0)
        FAIL(3, "setrlimit");
    uintptr_t np0 = atomic_load(&gh_fast.npages), next0 = gh_arena.next;
    unsigned long rss0 = status_kib("VmRSS");
    errno = 0;
    void *q = goheap_malloc((size_t)32 << 30);
    int e = errno;
    unsigned long rss1 = status_kib("VmRSS");
    if (q || e != ENOMEM)
        FAIL(4, "32 GiB under RLIMIT_DATA: %p, errno %d", q, e);
    if (gh_arena.next < next0 + ((uintptr_t)32 << 30))
        FAIL(5, "the heap did not grow for the request (next %lu -> %lu MiB)", (unsigned long)(next0 / MIB),
             (unsigned long)(gh_arena.next / MIB));
    if (atomic_load(&gh_fast.npages) != np0)
        FAIL(6, "span map written for the refused run: npages %lu -> %lu", (unsigned long)np0,
             (unsigned long)atomic_load(&gh_fast.npages));
    if (rss1 > rss0 + 8192) /* the page allocator's summaries of the growth: ~2 MiB */
        FAIL(7, "VmRSS %lu -> %lu KiB after the refusal (the run's span map: 32 MiB)", rss0, rss1);
    if (gh_span_of(gh_fast.base + next0 + ((uintptr_t)1 << 30)) != &gh_deadspan)
        FAIL(8, "a page of the growth does not read as no span");
    setrlimit(RLIMIT_DATA, &r0);
    char *big = goheap_malloc((size_t)64 << 20);
    if (!big)
        FAIL(9, "64 MiB after lifting the limit");
    memset(big, 1, 4096);
    memset(big + (64 << 20) - 4096, 2, 4096);
    printf("    # refused 32 GiB: heap grown %lu MiB, VmRSS %lu -> %lu KiB; then 64 MiB at page %lu of %lu\n",
           (unsigned long)((gh_arena.next - next0) / MIB), rss0, rss1,
           (unsigned long)((uintptr_t)(big - (char *)gh_fast.base) >> GOHEAP_PAGE_SHIFT),
           (unsigned long)atomic_load(&gh_fast.npages));
    if (gh_span_of((uintptr_t)big + (32 << 20)) != gh_span_of((uintptr_t)big))
        FAIL(10, "the 64 MiB object's span not found from its middle");
    goheap_free(big);
    goheap_free(p);
    return goheap_validate() ? 11 : 0;
}

/* Mapping ahead (hosted/vm.c): a heap growing through 32 MiB of 64 B objects
 * (4,096 spans; an mprotect each before) makes about one map call per MiB; a page
 * mapped ahead is read-write but not resident, and never the last of its 2 MiB range
 * (a huge page); released pages come back with no call;
 * after realloc's zero-copy move leaves its old range PROT_NONE, the pages there are
 * mapped again before they are handed out (a fault here kills the child), and the
 * heap still maps ahead from there. */
#define AHEAD_OBJS ((32u << 20) / 64)
static void *ahead_objs[AHEAD_OBJS];
static const char *prot_of(uintptr_t a) {
    static char prot[8];
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    strcpy(prot, "none");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char pr[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, pr) == 3 && a >= lo && a < hi) {
            strcpy(prot, pr);
            break;
        }
    }
    if (f)
        fclose(f);
    return prot;
}
static int ahead_fill(unsigned n) {
    for (unsigned i = 0; i < n; i++) {
        if (!(ahead_objs[i] = goheap_malloc(64)))
            return -1;
        memset(ahead_objs[i], 0x5a, 64);
    }
    return 0;
}
static int mode_ahead(void) {
    char *p = goheap_malloc(64);
    if (!p)
        FAIL(2, "first malloc");
    /* the span's page and the next MiB: read-write, the latter not resident */
    uintptr_t ahead = ((uintptr_t)p & ~(uintptr_t)4095) + (512u << 10);
    unsigned char vec = 1;
    if (strcmp(prot_of(ahead), "rw-p") || mincore((void *)ahead, 4096, &vec) != 0 || (vec & 1))
        FAIL(3, "512 KiB past the first span: %s, resident %d", prot_of(ahead), vec & 1);
    /* but not the last page of its 2 MiB range: no huge page can form there before */
    uintptr_t hp_last = (((uintptr_t)p + (2u << 20)) & ~(uintptr_t)((2u << 20) - 1)) - 4096;
    if (strcmp(prot_of(hp_last), "---p"))
        FAIL(3, "the last page of the first span's 2 MiB range is %s", prot_of(hp_last));
    unsigned long calls[2]; /* growing the heap, then over its released pages */
    for (int round = 0; round < 2; round++) {
        unsigned long c = atomic_load(&goheap_hosted_map_calls);
        if (ahead_fill(AHEAD_OBJS))
            FAIL(4, "malloc failed");
        calls[round] = atomic_load(&goheap_hosted_map_calls) - c;
        for (unsigned i = 0; i < AHEAD_OBJS; i++)
            goheap_free(ahead_objs[i]);
        goheap_free_os_memory();
    }
    goheap_free(p);
    printf("    # 32 MiB of 64 B objects: %lu map calls growing, %lu reusing released pages\n", calls[0], calls[1]);
    if (calls[0] > 128) /* ~32 heap maps + metadata (span structs, span map, summaries) */
        FAIL(5, "%lu map calls for 32 MiB (one a span: ~4,100)", calls[0]);
    if (calls[1] > 16)
        FAIL(6, "%lu map calls reusing released pages", calls[1]);
    /* realloc's zero-copy move, then the same pages again */
    struct goheap_memstats m0, m1;
    goheap_read_memstats(&m0);
    char *q = goheap_malloc(2u << 20), *blocker = goheap_malloc(1u << 20);
    if (!q || !blocker)
        FAIL(7, "2 MiB");
    memset(q, 1, 2u << 20);
    char *r = goheap_realloc(q, 4u << 20);
    if (!r)
        FAIL(7, "realloc");
    goheap_read_memstats(&m1);
    int moved = m1.realloc_remapped > m0.realloc_remapped;
    if (moved && strcmp(prot_of((uintptr_t)q), "---p"))
        FAIL(8, "the moved object's old range is %s", prot_of((uintptr_t)q));
    goheap_free(r);
    goheap_free(blocker);
    goheap_free_os_memory();
    uintptr_t lo = (uintptr_t)q, hi = lo + (2u << 20);
    unsigned inside = 0;
    unsigned long c = atomic_load(&goheap_hosted_map_calls);
    if (ahead_fill(AHEAD_OBJS)) /* (each object written: a PROT_NONE page kills us) */
        FAIL(4, "malloc failed");
    c = atomic_load(&goheap_hosted_map_calls) - c;
    for (unsigned i = 0; i < AHEAD_OBJS; i++) {
        inside += (uintptr_t)ahead_objs[i] - lo < hi - lo;
        goheap_free(ahead_objs[i]);
    }
    printf("    # after a zero-copy move (%s): %u objects in its old range, written; %lu map calls\n",
           moved ? "remapped" : "copied", inside, c);
    if (moved && !inside)
        FAIL(9, "no object reused the old range");
    if (c > 128) /* the frontier came down to the old range and maps ahead from there */
        FAIL(11, "%lu map calls for 32 MiB after the move", c);
    return goheap_validate() ? 10 : 0;
}

/* ---- cases -------------------------------------------------------------------------- */

static void t_grow(void) { KT_CHECK(rerun("grow", 0) == 0, ""); }
static void t_hole(void) { KT_CHECK(rerun("hole", 0) == 0, ""); }
static void t_hint(void) { KT_CHECK(rerun("hint", 0) == 0, ""); }
static void t_rlimit(void) { KT_CHECK(rerun("rlimit", 0) == 0, ""); }
static void t_arena64(void) { KT_CHECK(rerun("arena64", "arena=64GiB") == 0, ""); }
static void t_past64(void) { KT_CHECK(rerun("past64", 0) == 0, ""); }
static void t_meta(void) { KT_CHECK(rerun("meta", 0) == 0, ""); }
static void t_refused(void) { KT_CHECK(rerun("refused", 0) == 0, ""); }
static void t_ahead(void) { KT_CHECK(rerun("ahead", 0) == 0, ""); }

static const struct kt_case cases[] = {
    KT_CASE(t_grow), KT_CASE(t_hole), KT_CASE(t_hint), KT_CASE(t_rlimit), KT_CASE(t_arena64), KT_CASE(t_past64),
    KT_CASE(t_meta), KT_CASE(t_refused), KT_CASE(t_ahead),
};

int main(int argc, char **argv) {
    self = argv[0];
    if (argc > 1) {
        static const struct {
            const char *name;
            int (*fn)(void);
        } modes[] = {{"grow", mode_grow},       {"hole", mode_hole},       {"hint", mode_hint},
                     {"rlimit", mode_rlimit},   {"arena64", mode_arena64}, {"past64", mode_past64},
                     {"meta", mode_meta},       {"refused", mode_refused}, {"ahead", mode_ahead}};
        for (unsigned i = 0; i < sizeof modes / sizeof modes[0]; i++)
            if (!strcmp(argv[1], modes[i].name))
                return modes[i].fn();
        return 126;
    }
    kt_begin("core-arena", KT_NCASES(cases));
    /* The sanitizers own the address space these cases lay out: ThreadSanitizer
     * forbids mmap at the hints (hosted/vm.c gives none under it) and
     * AddressSanitizer's shadow alone exceeds any RLIMIT_AS. */
    for (int i = 0; i < KT_NCASES(cases); i++) {
        if (SANITIZER_TSAN && cases[i].fn != t_ahead) {
            kt_skip(cases[i].name, "ThreadSanitizer: no window hints, arena reserved whole");
        } else if (SANITIZER_ASAN && (cases[i].fn == t_rlimit || cases[i].fn == t_refused)) {
            kt_skip(cases[i].name, "AddressSanitizer's shadow does not fit any RLIMIT_AS or RLIMIT_DATA");
        } else {
            kt_case_failed = 0;
            cases[i].fn();
            kt_case_end(cases[i].name);
        }
    }
    return kt_end();
}
