/* tests/kernel/heap_maplat.c: a large allocation, and realloc's large growth in place,
 * map their pages (and so zero every frame) with interrupts on and no heap lock held
 * (alloc/mheap.c, gh_heap_map_span / gh_heap_extend_mapped), and arch_map_prepare
 * takes the page-table lock one table at a time: a cross-CPU call aimed at the
 * allocating CPU is served in the middle of each, out of frames in the map returns
 * NULL with the heap whole, and (logged, not asserted) how long calls to that CPU wait
 * while it allocates (docs/kernel-heap.md, "Latency of a map"). */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/timer.h>
#include <fault.h>
#include <goheap.h>
#include <ktest.h>
#include <smp.h>
#include <string.h>
#include <vm.h>

#include "frame_util.h"
#include "heap_util.h"
#include "knobs.h" /* the core's parsed knobs: is efence on? */

/* A map counts as the large one from this size on (other maps are a page cache's or
 * metadata's: 15 pages at most, or a few frames). */
#define BIG_MAP_BYTES (4u << 20)
/* How long the hook waits, in the map, for the other CPU's call to be served: long
 * enough for an IPI under single-threaded TCG (milliseconds), and what a CPU that
 * maps with interrupts masked (the old pinned map) holds the other one up. */
#define HOOK_WAIT_NS 2000000000ull
#define WAIT_NS 20000000000ull

static struct {
    size_t bytes, grow_to;
    void *p;
    void (*op)(unsigned i); /* what ping_while_allocating's CPU 0 does count times */
    int armed, in_map, served_in_map, go, done;
    unsigned long served, calls;
    uint64_t longest_ns, alloc_ns;
    unsigned count;
    void **objs;
} ml;

static void count_call(void *arg)
{
    (void)arg;
    __atomic_fetch_add(&ml.served, 1, __ATOMIC_RELAXED);
}

/* Words of [from, to) of p, one a frame, that read nonzero. */
static size_t count_nonzero(const void *p, size_t from, size_t to)
{
    const uint64_t *w = p;
    size_t nonzero = 0;
    for (size_t i = from / 8; i < to / 8; i += ARCH_FRAME_SIZE / 8)
        nonzero += w[i] != 0;
    return nonzero;
}

/* Waits until flag is set or the time is up (a CPU whose partner never arrives). */
static int wait_for(int *flag)
{
    uint64_t t0 = arch_nanotime();
    while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
        if (arch_nanotime() - t0 > WAIT_NS)
            return 0;
        else
            arch_cpu_relax();
    return 1;
}

/* In the large map, on the allocating CPU: tells CPU 1 to call this CPU and waits for
 * the call to be served (it is at once with interrupts on; never, until the time is
 * up, with them masked). */
static void serve_in_map(uintptr_t va, size_t bytes)
{
    (void)va;
    if (bytes < BIG_MAP_BYTES || !__atomic_exchange_n(&ml.armed, 0, __ATOMIC_ACQ_REL))
        return;
    unsigned long s0 = __atomic_load_n(&ml.served, __ATOMIC_ACQUIRE);
    __atomic_store_n(&ml.in_map, 1, __ATOMIC_RELEASE);
    uint64_t t0 = arch_nanotime();
    while (__atomic_load_n(&ml.served, __ATOMIC_ACQUIRE) == s0 && arch_nanotime() - t0 < HOOK_WAIT_NS)
        arch_cpu_relax();
    ml.served_in_map = __atomic_load_n(&ml.served, __ATOMIC_ACQUIRE) != s0;
}

/* CPU 0 runs ml.op(0) (a malloc or a realloc into ml.p) with the hook armed; CPU 1
 * calls it once it is in the map. */
static void ipi_in_map(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t;
    (void)arg;
    if (cpu == 0) {
        __atomic_store_n(&ml.armed, 1, __ATOMIC_RELEASE);
        ml.op(0);
        __atomic_store_n(&ml.armed, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&ml.done, 1, __ATOMIC_RELEASE);
    } else if (cpu == 1 && wait_for(&ml.in_map)) {
        smp_call_cpu(0, count_call, 0);
    }
    ktest_cpu_barrier();
}

static void op_malloc_p(unsigned i)
{
    (void)i;
    ml.p = goheap_malloc(ml.bytes);
}

static void op_grow(unsigned i)
{
    (void)i;
    ml.p = goheap_realloc(ml.p, ml.grow_to);
}

/* The behaviour: CPU 1's call to CPU 0 is served while CPU 0's malloc of 32 MiB is
 * still mapping (the hook sees the handler's count move before it returns into the
 * map), and the object reads zero; it is left in ml.p (NULL: out of memory). */
static void malloc_served_in_map(struct ktest *t, const char *what)
{
    goheap_free_os_memory(); /* every free page released: the run must be mapped */
    ml.bytes = 32u << 20;
    ml.op = op_malloc_p;
    ml.in_map = ml.served_in_map = ml.done = 0;
    __atomic_store_n(&kplat_map_test_hook, serve_in_map, __ATOMIC_RELEASE);
    ktest_on_all_cpus(t, ipi_in_map, 0);
    __atomic_store_n(&kplat_map_test_hook, (void (*)(uintptr_t, size_t))0, __ATOMIC_RELEASE);
    ktest_log("%smalloc(32 MiB) of released pages: in the map %d, call served there %d", what, ml.in_map,
              ml.served_in_map);
    KT_ASSERT(t, ml.p != 0);
    KT_EXPECT(t, ml.in_map);
    KT_EXPECT(t, ml.served_in_map);
    KT_EXPECT_EQ(t, count_nonzero(ml.p, 0, ml.bytes), 0);
}

static void t_call_served_in_map(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    malloc_served_in_map(t, "");
    goheap_free(ml.p);
    hu_validate(t);
}

/* ---- latency, logged: cross-CPU calls to the allocating CPU, back to back ---------------- */
static void ping_while_allocating(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t;
    (void)arg;
    if (cpu == 0) {
        ktest_cpu_barrier();
        __atomic_store_n(&ml.go, 1, __ATOMIC_RELEASE);
        uint64_t t0 = arch_nanotime();
        for (unsigned i = 0; i < ml.count; i++)
            ml.op(i);
        ml.alloc_ns = arch_nanotime() - t0;
        __atomic_store_n(&ml.done, 1, __ATOMIC_RELEASE);
    } else if (cpu == 1) {
        ktest_cpu_barrier();
        if (wait_for(&ml.go))
            while (!__atomic_load_n(&ml.done, __ATOMIC_ACQUIRE)) {
                uint64_t t0 = arch_nanotime();
                smp_call_cpu(0, count_call, 0);
                uint64_t dt = arch_nanotime() - t0;
                if (dt > ml.longest_ns)
                    ml.longest_ns = dt;
                ml.calls++;
            }
    } else {
        ktest_cpu_barrier();
    }
    ktest_cpu_barrier();
}

static void op_malloc(unsigned i)
{
    ml.objs[i] = goheap_malloc(ml.bytes);
}

/* Runs op count times on CPU 0 while CPU 1 calls CPU 0 back to back. */
static void ping_during(struct ktest *t, void (*op)(unsigned), unsigned count)
{
    ml.op = op;
    ml.count = count;
    ml.go = ml.done = 0;
    ml.calls = 0;
    ml.longest_ns = ml.alloc_ns = 0;
    ktest_on_all_cpus(t, ping_while_allocating, 0);
}

/* count allocations of bytes each, of released or fresh pages only. */
static void measure(struct ktest *t, size_t bytes, unsigned count)
{
    static void *objs[512];
    if (count > 512)
        count = 512;
    goheap_free_os_memory();
    ml.bytes = bytes;
    ml.objs = objs;
    ping_during(t, op_malloc, count);
    unsigned got = 0;
    for (unsigned i = 0; i < count; i++)
        if (objs[i]) {
            got++;
            goheap_free(objs[i]);
        }
    ktest_log("%u x malloc(%zu KiB) of released pages: %llu us each; %lu calls to that CPU meanwhile, "
              "longest wait %llu us",
              count, bytes >> 10, (unsigned long long)(ml.alloc_ns / 1000 / count), ml.calls,
              (unsigned long long)(ml.longest_ns / 1000));
    KT_EXPECT_EQ(t, got, count);
}

/* ---- out of frames in the map -------------------------------------------------------------------- */
static uint64_t oom_chain, oom_taken;
static void take_frames(uintptr_t va, size_t bytes)
{
    (void)va;
    if (bytes < BIG_MAP_BYTES)
        return;
    arch_irqflags_t f = arch_irq_save(); /* no pull */
    oom_taken += fu_take_all_frames(&oom_chain);
    arch_irq_restore(f);
}

/* One call made with every frame taken as its large map begins (take_frames), the
 * frames given back after it: MemStats before and after, the map failures it had. */
struct oom_call {
    struct goheap_memstats a, b;
    uint64_t failures;
};
static void *call_out_of_frames(void *(*call)(void *), void *arg, struct oom_call *r)
{
    goheap_read_memstats(&r->a);
    uint64_t fail0 = kplat_stats.map_failures;
    oom_chain = oom_taken = 0;
    __atomic_store_n(&kplat_map_test_hook, take_frames, __ATOMIC_RELEASE);
    void *p = call(arg);
    __atomic_store_n(&kplat_map_test_hook, (void (*)(uintptr_t, size_t))0, __ATOMIC_RELEASE);
    fu_give_back(oom_chain);
    goheap_read_memstats(&r->b);
    r->failures = kplat_stats.map_failures - fail0;
    return p;
}

static void *oom_malloc(void *bytes) { return goheap_malloc((size_t)(uintptr_t)bytes); }

/* Every frame taken as the large map begins (and again at the last resort's retry):
 * NULL, the run back in the heap (released), the heap whole; with the frames back the
 * same request succeeds and reads zero. */
static void t_map_oom(struct ktest *t)
{
    static struct oom_call r;
    const size_t bytes = 32u << 20;
    goheap_free_os_memory();
    void *p = call_out_of_frames(oom_malloc, (void *)bytes, &r);
    ktest_log("out of frames in the map (%llu taken): malloc -> %p, map failures +%llu, HeapReleased %llu -> %llu KiB, "
              "HeapInuse %llu -> %llu KiB",
              (unsigned long long)oom_taken, p, (unsigned long long)r.failures,
              (unsigned long long)(r.a.heap_released >> 10), (unsigned long long)(r.b.heap_released >> 10),
              (unsigned long long)(r.a.heap_inuse >> 10), (unsigned long long)(r.b.heap_inuse >> 10));
    KT_EXPECT(t, p == 0);
    KT_EXPECT(t, r.failures > 0);
    KT_EXPECT_EQ(t, r.b.heap_inuse, r.a.heap_inuse);
    KT_EXPECT(t, r.b.heap_released >= r.a.heap_released); /* the run came back released (grown: more) */
    KT_EXPECT_EQ(t, goheap_validate(), 0);
    uint64_t *q = goheap_malloc(bytes);
    KT_ASSERT(t, q != 0);
    KT_EXPECT_EQ(t, count_nonzero(q, 0, bytes), 0);
    goheap_free(q);
    hu_validate(t);
}

/* ---- realloc's growth in place ------------------------------------------------------------ */
#define GROW_FROM (32u << 20)
#define GROW_TO   (160u << 20)

/* A GROW_FROM object whose next GROW_TO - GROW_FROM bytes (and the margin) are free
 * and released in the tree: the heap is grown past them by a larger object freed
 * first, and every free page is released after the object is taken. */
static void *grow_setup(void)
{
    void *r = goheap_malloc(GROW_TO + GROW_TO / 4);
    goheap_free(r);
    void *p = goheap_malloc(GROW_FROM);
    if (p)
        memset(p, 0x5a, GROW_FROM);
    goheap_free_os_memory();
    return p;
}

static int head_intact(const unsigned char *p)
{
    for (size_t i = 0; i < GROW_FROM; i += ARCH_FRAME_SIZE / 2)
        if (p[i] != 0x5a || p[i + 7] != 0x5a)
            return 0;
    return 1;
}

/* The behaviour: CPU 1's call to CPU 0 is served while CPU 0's realloc, growing a
 * 32 MiB object in place by 128 MiB of released pages, is still mapping them (before:
 * the added pages were mapped pinned under the heap lock, and the call waited for the
 * whole map). The object stays in place, keeps its bytes and reads zero after them. */
static void t_grow_served_in_map(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    void *p = grow_setup();
    KT_ASSERT(t, p != 0);
    ml.p = p;
    ml.grow_to = GROW_TO;
    ml.op = op_grow;
    ml.in_map = ml.served_in_map = ml.done = 0;
    __atomic_store_n(&kplat_map_test_hook, serve_in_map, __ATOMIC_RELEASE);
    ktest_on_all_cpus(t, ipi_in_map, 0);
    __atomic_store_n(&kplat_map_test_hook, (void (*)(uintptr_t, size_t))0, __ATOMIC_RELEASE);
    ktest_log("realloc 32 -> 160 MiB in place over released pages: moved %d, in the map %d, call served there %d",
              ml.p != p, ml.in_map, ml.served_in_map);
    KT_ASSERT(t, ml.p != 0);
    KT_EXPECT(t, ml.p == p);
    KT_EXPECT(t, ml.in_map);
    KT_EXPECT(t, ml.served_in_map);
    KT_EXPECT(t, head_intact(ml.p));
    KT_EXPECT_EQ(t, count_nonzero(ml.p, GROW_FROM, GROW_TO), 0);
    goheap_free(ml.p);
    hu_validate(t);
}

static void *oom_grow(void *p) { return goheap_realloc(p, GROW_TO); }

/* Out of frames in the growth's map: realloc returns NULL (the move that follows has
 * no frames either), the object untouched and in place, the pages after it back in the
 * tree (HeapInuse as before, the validator clean); with the frames back the same
 * realloc grows in place and the added bytes read zero. */
static void t_grow_oom(struct ktest *t)
{
    static struct oom_call r;
    unsigned char *p = grow_setup();
    KT_ASSERT(t, p != 0);
    void *q = call_out_of_frames(oom_grow, p, &r);
    ktest_log("out of frames in the growth's map (%llu taken): realloc -> %p, map failures +%llu, HeapInuse %llu -> "
              "%llu KiB, HeapReleased %llu -> %llu KiB",
              (unsigned long long)oom_taken, q, (unsigned long long)r.failures,
              (unsigned long long)(r.a.heap_inuse >> 10), (unsigned long long)(r.b.heap_inuse >> 10),
              (unsigned long long)(r.a.heap_released >> 10), (unsigned long long)(r.b.heap_released >> 10));
    KT_EXPECT(t, q == 0);
    KT_EXPECT(t, r.failures > 0);
    KT_EXPECT_EQ(t, r.b.heap_inuse, r.a.heap_inuse);
    KT_EXPECT(t, r.b.heap_released >= r.a.heap_released);
    KT_EXPECT_EQ(t, goheap_usable_size(p) >= GROW_FROM, 1);
    KT_EXPECT(t, head_intact(p));
    KT_EXPECT_EQ(t, goheap_validate(), 0);
    q = goheap_realloc(p, GROW_TO);
    KT_ASSERT(t, q != 0);
    KT_EXPECT(t, q == (void *)p);
    KT_EXPECT(t, head_intact(q));
    KT_EXPECT_EQ(t, count_nonzero(q, GROW_FROM, GROW_TO), 0);
    goheap_free(q);
    hu_validate(t);
}

/* ---- arch_map_prepare: the page-table lock one table at a time -------------------------- */
#define PREP_BYTES (4ul << 30)
#define PREP_ROUNDS 8
static struct {
    uint64_t before, after; /* frame_free_count() around the round's prepare */
    int active, stop, err, round;
    unsigned mid;           /* calls whose handler ran between two tables */
    uint64_t ns;
} pr;

/* On CPU 0: a call's handler, counting itself when the round's prepare has taken some
 * of its tables and not all (the count strictly between its values around it). */
static void note_mid_prepare(void *arg)
{
    (void)arg;
    uint64_t c = frame_free_count();
    if (__atomic_load_n(&pr.active, __ATOMIC_ACQUIRE) && c < pr.before && c + PREP_BYTES / ARCH_LARGE_SIZE > pr.before)
        __atomic_fetch_add(&pr.mid, 1, __ATOMIC_RELAXED);
}

static void prepare_rounds(struct ktest *t, unsigned cpu, void *arg)
{
    (void)t;
    (void)arg;
    if (cpu == 0) {
        uintptr_t va = (vm_reserve_scratch(PREP_ROUNDS * PREP_BYTES + ARCH_LARGE_SIZE) + ARCH_LARGE_SIZE - 1) &
                       ~(uintptr_t)(ARCH_LARGE_SIZE - 1);
        for (pr.round = 0; pr.round < PREP_ROUNDS && !pr.mid && !pr.err; pr.round++) {
            pr.before = frame_free_count();
            __atomic_store_n(&pr.active, 1, __ATOMIC_RELEASE);
            uint64_t t0 = arch_nanotime();
            pr.err = arch_map_prepare(va + pr.round * PREP_BYTES, PREP_BYTES);
            pr.ns += arch_nanotime() - t0;
            __atomic_store_n(&pr.active, 0, __ATOMIC_RELEASE);
            pr.after = frame_free_count();
        }
        __atomic_store_n(&pr.stop, 1, __ATOMIC_RELEASE);
    } else if (cpu == 1) {
        /* a call as soon as the round's prepare has taken a table */
        while (!__atomic_load_n(&pr.stop, __ATOMIC_ACQUIRE))
            if (__atomic_load_n(&pr.active, __ATOMIC_ACQUIRE) && frame_free_count() < pr.before)
                smp_call_cpu(0, note_mid_prepare, 0);
            else
                arch_cpu_relax();
    }
    ktest_cpu_barrier();
}

/* The behaviour: arch_map_prepare over a fresh 4 GiB range (2052 page tables) serves a
 * call aimed at its CPU between two tables: CPU 1 calls CPU 0 once the prepare took
 * its first table, and the handler sees the free-frame count strictly inside the
 * prepare's range (up to 8 rounds, for a loaded host that deschedules CPU 1). Before,
 * every table was allocated in one hold of the page-table lock, interrupts masked, so
 * a call ran only after the prepare, in every round. */
static void t_prepare_serves_calls(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    pr.mid = 0;
    pr.stop = pr.err = 0;
    pr.ns = 0;
    ktest_on_all_cpus(t, prepare_rounds, 0);
    ktest_log("arch_map_prepare(4 GiB) x %d: %llu us each; calls served between two tables %u (last round %llu tables)",
              pr.round, (unsigned long long)(pr.ns / 1000 / (pr.round ? pr.round : 1)), pr.mid,
              (unsigned long long)(pr.before - pr.after));
    KT_EXPECT_EQ(t, pr.err, 0);
    KT_EXPECT(t, pr.before - pr.after >= PREP_BYTES / ARCH_LARGE_SIZE);
    KT_EXPECT(t, pr.mid > 0);
}

static void t_latency(struct ktest *t)
{
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    /* 256 MiB where 3/4 of the free frames hold it (a 128 MiB boot: less) */
    size_t big = 256u << 20, most = (size_t)(frame_free_count() / 4 * 3) * ARCH_FRAME_SIZE;
    if (big > most)
        big = most & ~(size_t)((1u << 20) - 1);
    measure(t, big, 1);
    measure(t, 15u << 13, 256); /* the largest run mapped pinned: the page cache's */
    measure(t, 16u << 13, 256); /* the smallest mapped unpinned (GH_MAP_UNPINNED_PAGES) */
    measure(t, 1u << 20, 32);
    /* realloc in place, 32 -> 160 MiB over released pages */
    void *p = grow_setup();
    KT_ASSERT(t, p != 0);
    ml.p = p;
    ml.grow_to = GROW_TO;
    ping_during(t, op_grow, 1);
    ktest_log("realloc 32 -> 160 MiB in place (moved %d) over released pages: %llu us; %lu calls to that CPU "
              "meanwhile, longest wait %llu us",
              ml.p != p, (unsigned long long)(ml.alloc_ns / 1000), ml.calls,
              (unsigned long long)(ml.longest_ns / 1000));
    KT_EXPECT(t, ml.p == p);
    goheap_free(ml.p);
}

/* ---- efence: a large guarded object maps unpinned too (heap_mapefence, kheap-efence-map) -----------
 * The same behaviour as t_call_served_in_map for a 32 MiB allocation under efence=1:
 * its run (data pages and the guard page) is mapped unpinned, so a call to the CPU is
 * served inside the map; then the object is the guarded one (a read one byte past it
 * faults) and reads zero. Before, efence mapped every run pinned, under the heap lock:
 * never served. */
static void t_efence_call_served_in_map(struct ktest *t)
{
    if (gh_knobs.efence != 1)
        KT_SKIP(t, "boot with goheap=efence=1");
    if (ktest_ncpus() < 2)
        KT_SKIP(t, "needs 2 CPUs");
    malloc_served_in_map(t, "efence ");
    KT_ASSERT(t, ml.p != 0);
    uint64_t v;
    KT_EXPECT(t, fault_probe_read((char *)ml.p + ml.bytes, &v, 0)); /* the guard page */
    goheap_free(ml.p);
    hu_validate(t);
}

static const struct ktest_case heap_mapefence_cases[] = {
    KTEST_CASE(t_efence_call_served_in_map),
};
KTEST_SUITE_FULL(heap_mapefence, "heap_mapefence", heap_mapefence_cases, hu_init, 0);

/* ---- the map's page tables pull lazily released pages (heap_mappull, kheap-map-pull) -------------
 * A fresh heap (a boot of its own, madvdontneed=0): two 8 MiB runs released lazily,
 * each held at 8 MiB by a blocker after it, so that a 12 MiB malloc fits neither and
 * maps a fresh run above them, in arena never mapped: its page tables come first. The
 * hook takes every frame as that map begins (once). The map's frames, its tables'
 * first, must then come from pulls (the lazily released pages, 1 MiB each): no map
 * failure, so no last resort (which reclaims every lazily released page), and about
 * 4 MiB still released lazily after it. Before, the tables were taken with
 * FRAME_NOPULL: the map failed, the last resort reclaimed all 16 MiB, the retry
 * mapped. */
#define MP_RUN (8u << 20)
#define MP_BIG (12u << 20)
static void take_frames_once(uintptr_t va, size_t bytes)
{
    if (bytes < BIG_MAP_BYTES)
        return;
    __atomic_store_n(&kplat_map_test_hook, (void (*)(uintptr_t, size_t))0, __ATOMIC_RELEASE);
    take_frames(va, bytes);
}

/* A run of MP_RUN pages that will be free with a live 1 MiB blocker right after it:
 * the run's object (to be freed) in *obj, the blockers chained in *chain. */
static int mp_boxed_run(void **obj, void **chain)
{
    *obj = goheap_malloc(MP_RUN);
    if (!*obj)
        return 0;
    memset(*obj, 0x5a, MP_RUN); /* dirty: what lazy release keeps mapped */
    uintptr_t end = (uintptr_t)*obj + MP_RUN;
    for (int i = 0; i < 64; i++) {
        void **b = goheap_malloc(1u << 20);
        if (!b)
            return 0;
        *b = *chain;
        *chain = b;
        if ((uintptr_t)b == end)
            return 1;
    }
    return 0;
}

static void t_map_tables_pull(struct ktest *t)
{
    if (!hu_lazy_asked())
        KT_SKIP(t, "eager mode: no lazily released page stays mapped");
    void *a, *b, *chain = 0;
    KT_ASSERT(t, mp_boxed_run(&a, &chain) && mp_boxed_run(&b, &chain));
    goheap_free(a);
    goheap_free(b);
    goheap_free_os_memory(); /* lazily: both runs stay mapped */
    struct frame_stats fs0, fs1;
    struct oom_call r;
    frame_stats(&fs0);
    uint64_t fail0 = kplat_stats.map_failures;
    goheap_read_memstats(&r.a);
    oom_chain = oom_taken = 0;
    __atomic_store_n(&kplat_map_test_hook, take_frames_once, __ATOMIC_RELEASE);
    uint64_t *p = goheap_malloc(MP_BIG);
    __atomic_store_n(&kplat_map_test_hook, (void (*)(uintptr_t, size_t))0, __ATOMIC_RELEASE);
    uint64_t failures = kplat_stats.map_failures - fail0;
    frame_stats(&fs1);
    goheap_read_memstats(&r.b);
    fu_give_back(oom_chain);
    ktest_log("malloc(%u MiB) with every frame taken as its map began (%llu), %llu KiB released lazily before: "
              "%p, map failures %llu, pulls %llu (%llu frames), reclaimed %llu KiB, %llu KiB still released lazily",
              MP_BIG >> 20, (unsigned long long)oom_taken, (unsigned long long)(r.a.heap_released_lazy >> 10),
              (void *)p, (unsigned long long)failures, (unsigned long long)(fs1.pulls - fs0.pulls),
              (unsigned long long)(fs1.pulled_frames - fs0.pulled_frames),
              (unsigned long long)((r.b.lazy_reclaimed - r.a.lazy_reclaimed) >> 10),
              (unsigned long long)(r.b.heap_released_lazy >> 10));
    KT_EXPECT(t, r.a.heap_released_lazy >= 2 * MP_RUN);
    KT_EXPECT(t, oom_taken > 0);
    KT_ASSERT(t, p != 0);
    KT_EXPECT(t, (uintptr_t)p > (uintptr_t)b);           /* above the lazy runs: a fresh map */
    KT_EXPECT_EQ(t, failures, 0);                        /* the map pulled, never failed */
    KT_EXPECT(t, fs1.pulls > fs0.pulls);
    KT_EXPECT_EQ(t, fs1.pulled_frames - fs0.pulled_frames, (r.b.lazy_reclaimed - r.a.lazy_reclaimed) / ARCH_FRAME_SIZE);
    KT_EXPECT(t, r.b.lazy_reclaimed - r.a.lazy_reclaimed < 2 * MP_RUN); /* not everything */
    KT_EXPECT(t, r.b.heap_released_lazy >= 2 * MP_RUN - MP_BIG - (1u << 20));
    size_t nonzero = 0;
    for (size_t i = 0; i < MP_BIG / 8; i += ARCH_FRAME_SIZE / 8)
        nonzero += p[i] != 0;
    KT_EXPECT_EQ(t, nonzero, 0);
    goheap_free(p);
    while (chain) {
        void *next = *(void **)chain;
        goheap_free(chain);
        chain = next;
    }
    KT_EXPECT_EQ(t, goheap_validate(), 0);
}

static const struct ktest_case heap_mappull_cases[] = {
    KTEST_CASE(t_map_tables_pull),
};
KTEST_SUITE_FULL(heap_mappull, "heap_mappull", heap_mappull_cases, hu_init, 0);

static const struct ktest_case heap_maplat_cases[] = {
    KTEST_CASE(t_call_served_in_map),
    KTEST_CASE(t_map_oom),
    KTEST_CASE(t_grow_served_in_map),
    KTEST_CASE(t_grow_oom),
    KTEST_CASE(t_prepare_serves_calls),
    KTEST_CASE(t_latency),
};
KTEST_SUITE_FULL(heap_maplat, "heap_maplat", heap_maplat_cases, hu_init, 0);
