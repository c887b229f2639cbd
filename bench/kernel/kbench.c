/* bench/kernel/kbench.c: kernel benchmarks (`make bench-kernel`): goheap against the
 * baseline first-fit global-lock allocator in the same boot. */

/* Kernel benchmarks (`make bench-kernel ARCH=...`, a boot with `bench` on the command
 * line): goheap against the baseline first-fit global-lock allocator
 * (kernel/heap/baseline.c) in the same boot: malloc+free pairs by size, refills, large
 * objects, page-cache hit vs miss, 1..N CPU scaling, remote vs local free; under
 * `icount` also a 64 MiB realloc that moves (zero-copy), the release of a freed 64 MiB
 * and 256 MiB object, and the leak scan. Times in ns
 * from arch_nanotime (TSC / CNTVCT); under TCG they measure QEMU. `kbench=churn` runs
 * the cross-CPU churn benchmark (kchurn.c, `make bench-kernel-churn`) instead. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/timer.h>
#include <cmdline.h>
#include <frame.h>
#include <goheap.h>
#include <kexit.h>
#include <percpu.h>
#include <printk.h>
#include <smp.h>

#include <kheap.h>

typedef void *(*alloc_fn)(size_t);
typedef void (*free_fn)(void *);
static const struct { const char *name; alloc_fn a; free_fn f; } allocs[2] = {
    { "goheap", goheap_malloc, goheap_free },
    { "firstfit", baseline_malloc, baseline_free },
};

#define PAIRS 20000
#define MANY 4096
static void *many[MAX_CPUS][MANY];

/* Best of REPEAT runs: TCG and the other processes on the host add noise upward only. */
#define REPEAT 5

static uint64_t ns_pairs(unsigned k, size_t sz, unsigned n)
{
    for (unsigned i = 0; i < 64; i++)                   /* warm up */
        allocs[k].f(allocs[k].a(sz));
    uint64_t best = ~0ull;
    for (unsigned r = 0; r < REPEAT; r++) {
        uint64_t t0 = arch_nanotime();
        for (unsigned i = 0; i < n; i++) {
            void *p = allocs[k].a(sz);
            *(volatile char *)p = 1;
            allocs[k].f(p);
        }
        uint64_t dt = arch_nanotime() - t0;
        if (dt < best)
            best = dt;
    }
    return best * 10 / n;                               /* tenths of ns */
}

/* A fragmented heap: 4096 live objects of random sizes (16 B .. 2 KiB) with every
 * other one freed, then pairs of random sizes: first fit walks its free list. */
static uint64_t ns_fragmented(unsigned k)
{
    uint64_t rng = 12345;
    for (unsigned i = 0; i < MANY; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        many[0][i] = allocs[k].a(16 + (size_t)((rng >> 33) % 2032));
    }
    for (unsigned i = 0; i < MANY; i += 2)
        allocs[k].f(many[0][i]);
    uint64_t best = ~0ull;
    for (unsigned r = 0; r < REPEAT; r++) {
        uint64_t t0 = arch_nanotime();
        for (unsigned i = 0; i < PAIRS / 4; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            void *p = allocs[k].a(16 + (size_t)((rng >> 33) % 2032));
            *(volatile char *)p = 1;
            allocs[k].f(p);
        }
        uint64_t dt = arch_nanotime() - t0;
        if (dt < best)
            best = dt;
    }
    for (unsigned i = 1; i < MANY; i += 2)
        allocs[k].f(many[0][i]);
    return best * 10 / (PAIRS / 4);
}

static void pr(const char *what, uint64_t g10, uint64_t b10)
{
    printk("bench: %-34s goheap %6llu.%01llu ns   firstfit %6llu.%01llu ns\n", what,
           (unsigned long long)(g10 / 10), (unsigned long long)(g10 % 10),
           (unsigned long long)(b10 / 10), (unsigned long long)(b10 % 10));
}

/* Allocate MANY objects (spans refill as they fill), then free them. */
static uint64_t ns_refill(unsigned k, size_t sz, unsigned cpu)
{
    uint64_t t0 = arch_nanotime();
    for (unsigned i = 0; i < MANY; i++)
        many[cpu][i] = allocs[k].a(sz);
    uint64_t dt = arch_nanotime() - t0;
    for (unsigned i = 0; i < MANY; i++)
        allocs[k].f(many[cpu][i]);
    return dt * 10 / MANY;
}

/* Scaling: every active CPU does SCALE_PAIRS pairs after a common barrier; the
 * throughput is total pairs over the wall time from the first start to the last end. */
#define SCALE_PAIRS 100000
struct scale_arg {
    unsigned k, active;
    uint64_t start[MAX_CPUS], end[MAX_CPUS];
    struct smp_barrier bar;
};

static void scale_worker(unsigned cpu, void *p)
{
    struct scale_arg *a = p;
    smp_barrier_wait(&a->bar);
    if (cpu < a->active) {
        a->start[cpu] = arch_nanotime();
        for (unsigned i = 0; i < SCALE_PAIRS; i++) {
            void *x = allocs[a->k].a(64 + (i & 3) * 16);
            *(volatile char *)x = 1;
            allocs[a->k].f(x);
        }
        a->end[cpu] = arch_nanotime();
    }
    smp_barrier_wait(&a->bar);
}

struct xfree_arg { unsigned k, remote; uint64_t ns; struct smp_barrier bar; };

static void xfree_worker(unsigned cpu, void *p)
{
    struct xfree_arg *a = p;
    if (cpu == 0)
        for (unsigned i = 0; i < MANY; i++)
            many[0][i] = allocs[a->k].a(64);
    smp_barrier_wait(&a->bar);
    if (cpu == (a->remote ? 1u : 0u)) {
        uint64_t t0 = arch_nanotime();
        for (unsigned i = 0; i < MANY; i++)
            allocs[a->k].f(many[0][i]);
        a->ns = (arch_nanotime() - t0) * 10 / MANY;
    }
    smp_barrier_wait(&a->bar);
}

/* ---- `bench icount` (make bench-kernel ICOUNT=1) ------------------------------------
 * Under QEMU's -icount shift=0 one guest instruction advances virtual time by exactly
 * 1 ns, and the guest's counter (TSC / CNTVCT) follows virtual time, so a counter delta
 * converted to ns at the frequency read at boot is an instruction count. Single-
 * threaded TCG, one CPU, no tick (a bench boot never starts it), align=off,sleep=off:
 * the figures are exact and repeatable (make runs the boot twice and compares). Each
 * figure is the mean over IC_OPS operations (>= 4096) after a warm-up. At 62.5 MHz
 * (QEMU virt's CNTFRQ) one counter tick is 16 instructions, 16/4096 of one per op. */
#define IC_OPS 4096

/* Counter ticks -> instructions per op, in tenths: ns = ticks * 10^9 / hz, as a
 * 32.32 fixed-point multiply (no 128-bit division in the kernel). */
static uint64_t ic_per_op(uint64_t ticks, unsigned nops)
{
    uint64_t mult = (1000000000ull << 32) / arch_counter_hz();
    uint64_t ns = (uint64_t)(((unsigned __int128)ticks * mult) >> 32);
    return ns * 10 / nops;
}

static uint64_t ic_pairs(unsigned k, size_t sz)
{
    for (unsigned i = 0; i < 64; i++)
        allocs[k].f(allocs[k].a(sz));
    uint64_t t0 = arch_cycles();
    for (unsigned i = 0; i < IC_OPS; i++) {
        void *p = allocs[k].a(sz);
        *(volatile char *)p = 1;
        allocs[k].f(p);
    }
    return ic_per_op(arch_cycles() - t0, IC_OPS);
}

/* Batches of 256 mallocs of sz, freed in a fixed shuffled order (bench/fastpath.c's
 * batch mode): the cost per pair including refills and frees outside the cache. */
static uint64_t ic_batch(unsigned k, size_t sz)
{
    static unsigned order[256];
    uint64_t rng = 7;
    for (unsigned i = 0; i < 256; i++)
        order[i] = i;
    for (unsigned i = 255; i > 0; i--) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        unsigned j = (unsigned)((rng >> 33) % (i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    uint64_t t0 = 0;
    for (unsigned r = 0; r < 1 + IC_OPS / 256; r++) { /* round 0 warms up */
        if (r == 1)
            t0 = arch_cycles();
        for (unsigned i = 0; i < 256; i++)
            many[0][i] = allocs[k].a(sz);
        for (unsigned i = 0; i < 256; i++)
            allocs[k].f(many[0][order[i]]);
    }
    return ic_per_op(arch_cycles() - t0, IC_OPS);
}

static void ic_pr(const char *what, uint64_t g10, uint64_t b10)
{
    printk("bench: %-40s goheap %7llu.%01llu   firstfit %7llu.%01llu instr\n", what,
           (unsigned long long)(g10 / 10), (unsigned long long)(g10 % 10),
           (unsigned long long)(b10 / 10), (unsigned long long)(b10 % 10));
}

/* The leak scan (docs/leakscan.md, issue 14's target: <= 1e9 guest instructions for a
 * 100k-object heap): LEAK_OBJS objects of 16..512 B (every 16th NOSCAN, runs of 64
 * chained through their first word, so the mark phase follows pointers through the
 * heap too), all reachable from a heap array that a static points to, except
 * LEAK_PLANT planted leaks. Two scans (the second reports them); instructions each. */
#define LEAK_OBJS 100000u
#define LEAK_PLANT 100u
#define LEAK_HIDE 0x5a5a5a5a5a5a5a5aull /* planted addresses kept non-canonical */
static uintptr_t *volatile leak_tab;
static uintptr_t leak_planted[LEAK_PLANT];
static long leak_found;

static void leak_count(const struct goheap_leak *l, void *ctx)
{
    (void)ctx;
    for (unsigned i = 0; i < LEAK_PLANT; i++)
        if (leak_planted[i] == ((uintptr_t)l->addr ^ LEAK_HIDE))
            leak_found++;
}

static __attribute__((noinline)) uint64_t ic_leak_build(void)
{
    uint64_t rng = 99, bytes = 0;
    uintptr_t *tab = goheap_malloc(LEAK_OBJS * sizeof *tab);
    if (!tab)
        return 0;
    uintptr_t prev = 0;
    for (unsigned i = 0; i < LEAK_OBJS; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t sz = 16 + (size_t)((rng >> 33) % 497);
        uintptr_t *p = goheap_malloc_flags(sz, (i & 15) == 15 ? GOHEAP_NOSCAN : 0);
        if (!p)
            return 0;
        bytes += sz;
        for (size_t k = 0; k < sz / sizeof *p; k++)
            p[k] = rng + k;                          /* not pointers */
        if ((i & 15) != 15 && (i & 63) != 0)
            p[0] = prev;                             /* chained to the previous one */
        prev = (uintptr_t)p;
        tab[i] = (uintptr_t)p;
    }
    /* Planted: not in tab, and not the target of a chain (the next one is NOSCAN or
     * starts a new run). */
    for (unsigned j = 0; j < LEAK_PLANT; j++) {
        unsigned i = j * 992 + 14; /* 992 = 62 x 16: i + 1 is always a NOSCAN one */
        leak_planted[j] = tab[i] ^ LEAK_HIDE;
        tab[i] = 0;
    }
    leak_tab = tab;
    return bytes;
}

static void ic_leak_scan(void)
{
    uint64_t bytes = ic_leak_build();
    if (!bytes) {
        printk("bench: leak scan: out of memory building the heap\n");
        return;
    }
    uint64_t ic[2];
    long n[2];
    for (unsigned s = 0; s < 2; s++) {
        leak_found = 0;
        uint64_t t0 = arch_cycles();
        n[s] = goheap_leak_scan(leak_count, 0);
        ic[s] = ic_per_op(arch_cycles() - t0, 1) / 10;
    }
    printk("bench: leak scan, %u objects (%llu KiB), %u planted: %llu instr (first scan), "
           "%llu instr (second), reported %ld then %ld, %ld of them planted\n",
           LEAK_OBJS + 1, (unsigned long long)(bytes >> 10), LEAK_PLANT,
           (unsigned long long)ic[0], (unsigned long long)ic[1], n[0], n[1], leak_found);
    for (unsigned i = 0; i < LEAK_OBJS; i++)
        goheap_free((void *)leak_tab[i]);
    for (unsigned j = 0; j < LEAK_PLANT; j++)
        goheap_free((void *)(leak_planted[j] ^ LEAK_HIDE));
    goheap_free(leak_tab);
    leak_tab = 0;
}

/* realloc of a 64 MiB object that must move (issue 11: in the kernel such a move copies
 * no bytes): the pages after it taken by 1 MiB blockers (first fit puts one there), the
 * object written page by page, then goheap_realloc to 64 MiB + 8 KiB, which moves its
 * frames (arch_remap) and maps the tail fresh (the growth margin: n's pages + 1/8, so
 * 8 MiB of zeroed frames). Against the same move done by copying: goheap_malloc of the
 * new size, memcpy, goheap_free. Instructions each, and MemStats' realloc counters. */
#define RM_OLD (64ul << 20)
#define RM_BLOCKERS 64
static void *rm_block[RM_BLOCKERS];
static struct goheap_memstats rm_ms[2];

static void ic_realloc_move(void)
{
    char *p = goheap_malloc(RM_OLD);
    unsigned nb = 0;
    while (p && nb < RM_BLOCKERS) {
        rm_block[nb] = goheap_malloc(1u << 20);
        if (!rm_block[nb] || rm_block[nb++] == p + RM_OLD)
            break;
    }
    if (!p || !nb || rm_block[nb - 1] != p + RM_OLD) {
        printk("bench: realloc 64 MiB: no room or no blocker after it\n");
        goto out;
    }
    for (size_t off = 0; off < RM_OLD; off += 4096)
        p[off] = (char)(off >> 12);
    goheap_read_memstats(&rm_ms[0]);
    uint64_t mf0 = kplat_stats.mapped_frames, ub0 = kplat_stats.unmapped_bytes;
    uint64_t t0 = arch_cycles();
    char *q = goheap_realloc(p, RM_OLD + 8192);
    uint64_t remap = arch_cycles() - t0;
    uint64_t mapped = (kplat_stats.mapped_frames - mf0) * ARCH_FRAME_SIZE, unmapped = kplat_stats.unmapped_bytes - ub0;
    goheap_read_memstats(&rm_ms[1]);
    if (!q) {
        printk("bench: realloc 64 MiB: out of memory\n");
        goto out;
    }
    p = q;
    t0 = arch_cycles();
    q = goheap_malloc(RM_OLD + 8192);
    if (q) {
        __builtin_memcpy(q, p, RM_OLD);
        goheap_free(p);
        p = q;
    }
    uint64_t copy = arch_cycles() - t0;
    size_t bad = 0;
    for (size_t off = 0; off < RM_OLD; off += 4096)
        bad += p[off] != (char)(off >> 12);
    printk("bench: realloc 64 MiB -> +8 KiB that moves: %llu instr (copied %llu B, remapped %llu KiB, "
           "mapped %llu KiB, unmapped %llu KiB, %s); malloc+memcpy+free of the same: %llu instr%s\n",
           (unsigned long long)(ic_per_op(remap, 1) / 10),
           (unsigned long long)(rm_ms[1].realloc_copied - rm_ms[0].realloc_copied),
           (unsigned long long)((rm_ms[1].realloc_remapped - rm_ms[0].realloc_remapped) >> 10),
           (unsigned long long)(mapped >> 10), (unsigned long long)(unmapped >> 10),
           bad ? "CONTENTS WRONG" : "contents kept", (unsigned long long)(ic_per_op(copy, 1) / 10),
           q ? "" : " (out of memory)");
out:
    goheap_free(p);
    for (unsigned i = 0; i < nb; i++)
        goheap_free(rm_block[i]);
}

/* The release of a large freed object (the scavenger's unmap: goheap_sys_unmap of the
 * whole run, one shootdown): goheap_free_os_memory right after the free of a fresh
 * UNMAP_MIB object, less the same call with nothing to release (flush, sweep, tree
 * walk), per 4 KiB frame given back. frames_now's and the frame allocator's free
 * count's changes are printed, so the figure is checked to cover every frame. */
static void ic_unmap(size_t mib)
{
    size_t bytes = mib << 20;
    goheap_free_os_memory();                    /* nothing else left to release */
    char *p = goheap_malloc(bytes);
    if (!p) {
        printk("bench: unmap %zu MiB: out of memory\n", mib);
        return;
    }
    p[0] = 1;
    goheap_free(p);
    uint64_t fn0 = kplat_stats.frames_now, ff0 = frame_free_count(), uc0 = kplat_stats.unmap_calls;
    uint64_t t0 = arch_cycles();
    goheap_free_os_memory();
    uint64_t rel = arch_cycles() - t0;
    uint64_t fn1 = kplat_stats.frames_now, ff1 = frame_free_count(), uc1 = kplat_stats.unmap_calls;
    t0 = arch_cycles();
    goheap_free_os_memory();
    uint64_t idle = arch_cycles() - t0;
    uint64_t frames = fn0 - fn1, net = rel > idle ? rel - idle : 0;
    if (!frames) {
        printk("bench: unmap %zu MiB: nothing was unmapped\n", mib);
        return;
    }
    printk("bench: release of a freed %zu MiB object (free_os_memory less an empty one): %llu.%01llu instr "
           "per 4 KiB frame, %llu instr in all (%llu frames unmapped, %llu back in the frame allocator, "
           "%llu unmap calls)\n",
           mib, (unsigned long long)(ic_per_op(net, (unsigned)frames) / 10),
           (unsigned long long)(ic_per_op(net, (unsigned)frames) % 10), (unsigned long long)(ic_per_op(net, 1) / 10), (unsigned long long)frames,
           (unsigned long long)(ff1 - ff0), (unsigned long long)(uc1 - uc0));
}

static unsigned kbench_icount(void)
{
    printk("bench: %s, %u CPU, icount: guest instructions per operation (-icount shift=0: "
           "1 ns = 1 instruction), counter %llu Hz read at boot, tick %s, mean of %u ops\n",
           ARCH_NAME, cpus_online(), (unsigned long long)arch_counter_hz(),
           kheap_ticks_started() ? "ON (figures invalid)" : "off", IC_OPS);
    if (kheap_ticks_started())
        return KEXIT_FAIL;
    const char *only = cmdline_get("kbench");
    if (only && only[0] == 'l') { /* kbench=leak: the leak scan alone */
        ic_leak_scan();
        printk("bench: done\n");
        return KEXIT_PASS;
    }
    if (only && only[0] == 'u') { /* kbench=unmap: the releases alone */
        ic_unmap(64);
        ic_unmap(256);
        printk("bench: done\n");
        return KEXIT_PASS;
    }
    if (only && only[0] == 'r') { /* kbench=realloc: the 64 MiB move alone */
        ic_realloc_move();
        printk("bench: done\n");
        return KEXIT_PASS;
    }
    static const size_t sizes[] = { 16, 64, 1024, 4096, 32768 };
    char what[64];
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        snprintk(what, sizeof what, "malloc+free pair, %zu B", sizes[i]);
        ic_pr(what, ic_pairs(0, sizes[i]), ic_pairs(1, sizes[i]));
    }
    ic_pr("batch of 256 x 4 KiB, freed shuffled", ic_batch(0, 4096), ic_batch(1, 4096));
    ic_pr("large pair, 64 KiB (cache hit)", ic_pairs(0, 64u << 10), ic_pairs(1, 64u << 10));
    ic_pr("large pair, 256 KiB", ic_pairs(0, 256u << 10), ic_pairs(1, 256u << 10));
    ic_pr("large pair, 1 MiB", ic_pairs(0, 1u << 20), ic_pairs(1, 1u << 20));
    /* After goheap_flush: every pair refills from the page heap; the flush itself
     * (measured alone below) is subtracted. */
    uint64_t t0 = arch_cycles();
    for (unsigned i = 0; i < IC_OPS; i++) {
        goheap_flush();
        goheap_free(goheap_malloc(64u << 10));
    }
    uint64_t both = arch_cycles() - t0;
    t0 = arch_cycles();
    for (unsigned i = 0; i < IC_OPS; i++)
        goheap_flush();
    uint64_t flush = arch_cycles() - t0;
    ic_pr("large pair, 64 KiB after goheap_flush", ic_per_op(both > flush ? both - flush : 0, IC_OPS), 0);
    ic_pr("goheap_flush of an empty cache", ic_per_op(flush, IC_OPS), 0);
    ic_realloc_move();
    ic_unmap(64);
    ic_unmap(256);
    ic_leak_scan();
    printk("bench: done\n");
    return KEXIT_PASS;
}

unsigned kbench_run(void)
{
    kheap_init();
    const char *only = cmdline_get("kbench");
    if (only && only[0] == 'c') /* kbench=churn: the cross-CPU churn alone (kchurn.c) */
        return kbench_churn();
    if (baseline_init(64u << 20)) {
        printk("bench: cannot map the baseline's 64 MiB\n");
        return KEXIT_FAIL;
    }
    if (cmdline_get("icount"))
        return kbench_icount();
    unsigned n = cpus_online();
    printk("bench: %s, %u CPUs; ns per operation (mean)\n", ARCH_NAME, n);
    static const size_t sizes[] = { 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 32768 };
    char what[64];
    /* What pinning costs here: goheap's pin/unpin is pushf+cli / sti. */
    uint64_t best = ~0ull;
    for (unsigned r = 0; r < REPEAT; r++) {
        uint64_t t1 = arch_nanotime();
        for (unsigned i = 0; i < PAIRS; i++) {
            arch_irqflags_t f = arch_irq_save();
            __asm__ volatile("" ::: "memory");
            arch_irq_restore(f);
        }
        uint64_t dt = arch_nanotime() - t1;
        best = dt < best ? dt : best;
    }
    pr("interrupt mask+restore (one pin)", best * 10 / PAIRS, 0);
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        snprintk(what, sizeof what, "malloc+free pair, %zu B", sizes[i]);
        pr(what, ns_pairs(0, sizes[i], PAIRS), ns_pairs(1, sizes[i], PAIRS));
    }
    pr("pair of random 16..2048 B, fragmented", ns_fragmented(0), ns_fragmented(1));
    pr("refill: 4096 live mallocs of 64 B", ns_refill(0, 64, 0), ns_refill(1, 64, 0));
    pr("refill: 4096 live mallocs of 1 KiB", ns_refill(0, 1024, 0), ns_refill(1, 1024, 0));
    pr("large pair, 64 KiB (page cache hit)", ns_pairs(0, 64u << 10, 2000),
       ns_pairs(1, 64u << 10, 2000));
    pr("large pair, 1 MiB", ns_pairs(0, 1u << 20, 500), ns_pairs(1, 1u << 20, 500));
    /* Page-cache miss: flush this CPU's caches before every large pair. */
    uint64_t t0 = arch_nanotime();
    for (unsigned i = 0; i < 500; i++) {
        goheap_flush();
        goheap_free(goheap_malloc(64u << 10));
    }
    uint64_t miss = (arch_nanotime() - t0) * 10 / 500;
    t0 = arch_nanotime();
    for (unsigned i = 0; i < 500; i++)
        goheap_flush();
    uint64_t flush = (arch_nanotime() - t0) * 10 / 500;
    pr("large pair, 64 KiB (page cache miss)", miss > flush ? miss - flush : 0, 0);
    static struct scale_arg sa;
    for (unsigned k = 0; k < 2; k++)
        for (unsigned act = 1; act <= n; act *= 2) {
            sa.k = k;
            sa.active = act;
            smp_barrier_init(&sa.bar, n);
            smp_run_all(scale_worker, &sa);
            uint64_t first = ~0ull, last = 0;
            for (unsigned c = 0; c < act; c++) {
                first = sa.start[c] < first ? sa.start[c] : first;
                last = sa.end[c] > last ? sa.end[c] : last;
            }
            uint64_t kops = last > first ? (uint64_t)act * SCALE_PAIRS * 1000000ull / (last - first) : 0;
            printk("bench: scaling %-9s %u CPU(s): %6llu k pairs/s total\n", allocs[k].name, act,
                   (unsigned long long)kops);
        }
    if (n >= 2) {
        static struct xfree_arg xa;
        uint64_t r[2][2];
        for (unsigned k = 0; k < 2; k++)
            for (unsigned rem = 0; rem < 2; rem++) {
                xa.k = k;
                xa.remote = rem;
                smp_barrier_init(&xa.bar, n);
                smp_run_all(xfree_worker, &xa);
                r[k][rem] = xa.ns;
            }
        pr("free of 64 B, local (allocating CPU)", r[0][0], r[1][0]);
        pr("free of 64 B, remote (another CPU)", r[0][1], r[1][1]);
    }
    printk("bench: done\n");
    return KEXIT_PASS;
}
