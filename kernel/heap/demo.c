/* kernel/heap/demo.c: the `make run` showcase: a mixed workload on every CPU (hash
 * tables, trees, large buffers, messages freed by other CPUs), summary lines with
 * scavtrace, a soft-memory-limit phase, and a final MemStats table. */

/* The `make run` showcase. Every CPU runs a mixed workload on goheap for a few
 * seconds: hash tables and binary trees of random sizes built and torn down, large
 * buffers kept for a while, and messages handed to other CPUs (freed there). A summary
 * line is printed twice a second; scavtrace shows the scavenger handing pages back.
 * Halfway through, a soft memory limit just above the heap in use is set for half a
 * second (the scavenger then releases synchronously); with goheap=memprofile=serial the
 * heap profile is written then too (`make run PROFILE=1`). At the end: everything freed,
 * memory returned, a MemStats table with per-class counts, the validator, exit.
 * `demo_secs=N` sets the duration. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/timer.h>
#include <cmdline.h>
#include <frame.h>
#include <goheap.h>
#include <kconfig.h>
#include <kexit.h>
#include <percpu.h>
#include <printk.h>
#include <smp.h>
#include <string.h>
#include <xorshift.h>

#include <kheap.h>

#define DEMO_SECS_DEFAULT 6
#define REPORT_NS 500000000ull      /* a summary line every 0.5 s */
#define INBOX 64                    /* messages in flight per receiving CPU */
#define KEEP 8                      /* large buffers each CPU keeps alive for a while */

struct msg {                        /* handed between CPUs; cookie-checked by the receiver */
    uint64_t cookie;
    uint32_t size, from;
};

struct entry {                      /* hash table entry with a variable-length key */
    struct entry *next;
    uint64_t hash;
    size_t klen;
    char key[];
};

struct node {                       /* binary search tree node with a payload */
    struct node *left, *right;
    uint64_t key;
    size_t plen;
    uint8_t payload[];
};

struct demo_cpu {
    uint64_t rng;
    uint64_t tables, trees, sent, received, bad;
    void *keep[KEEP];
} __attribute__((aligned(ARCH_CACHE_LINE)));

/* The allocating rounds stay functions of their own: `go tool pprof` does not expand
 * inlined frames, so inlined into worker they would all be "worker" in the heap
 * profile (make run PROFILE=1). */
#define DEMO_SITE static __attribute__((noinline))

static struct demo_cpu dc[MAX_CPUS];
static void *inbox[MAX_CPUS][INBOX];
static uint64_t deadline;
static int64_t limit_before;       /* the limit in force before the demo's phase */
static uint64_t next_report;       /* when the next summary is due; claimed by CAS */
static unsigned ncpu;

static uint64_t rnd(struct demo_cpu *d) { return xorshift64s(&d->rng); }

static uint64_t msg_cookie(const struct msg *m) { return (uintptr_t)m ^ m->size ^ 0xfeedull; }

static void take_msg(struct demo_cpu *d, struct msg *m)
{
    if (m->cookie != msg_cookie(m) || ((uint8_t *)m)[m->size - 1] != (uint8_t)m->from)
        d->bad++;
    d->received++;
    goheap_free(m);
}

/* Send a message of a random size to a random other CPU; what was in the slot is
 * freed here (it came from some third CPU: a remote free). */
DEMO_SITE void send_msg(struct demo_cpu *d, unsigned me)
{
    size_t sz = sizeof(struct msg) + (size_t)(rnd(d) % 2000);
    struct msg *m = goheap_malloc(sz);
    if (!m)
        return;
    m->size = (uint32_t)sz;
    m->from = me;
    m->cookie = msg_cookie(m);
    ((uint8_t *)m)[sz - 1] = (uint8_t)me;
    unsigned to = ncpu > 1 ? (me + 1 + (unsigned)(rnd(d) % (ncpu - 1))) % ncpu : me;
    void *old = __atomic_exchange_n(&inbox[to][rnd(d) % INBOX], m, __ATOMIC_ACQ_REL);
    if (old)
        take_msg(d, old);
    d->sent++;
}

static void drain_inbox(struct demo_cpu *d, unsigned me)
{
    for (unsigned i = 0; i < INBOX; i++) {
        void *m = __atomic_exchange_n(&inbox[me][i], 0, __ATOMIC_ACQ_REL);
        if (m)
            take_msg(d, m);
    }
}

/* A chained hash table grown by realloc, filled with random keys, probed, freed. */
DEMO_SITE void hash_table_round(struct demo_cpu *d, unsigned me)
{
    size_t n = 200 + rnd(d) % 2000, nb = 16;
    struct entry **b = goheap_calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < n; i++) {
        if (i > nb * 2) {                           /* grow: rehash into 4x buckets */
            size_t nnb = nb * 4;
            struct entry **nbk = goheap_calloc(nnb, sizeof *nbk);
            if (!nbk)
                break;
            for (size_t j = 0; j < nb; j++)
                for (struct entry *e = b[j], *nx; e; e = nx) {
                    nx = e->next;
                    e->next = nbk[e->hash % nnb];
                    nbk[e->hash % nnb] = e;
                }
            goheap_free(b);
            b = nbk;
            nb = nnb;
        }
        size_t klen = 4 + rnd(d) % 120;
        struct entry *e = goheap_malloc(sizeof *e + klen);
        if (!e)
            break;
        e->hash = rnd(d);
        e->klen = klen;
        memset(e->key, (int)(e->hash & 0x7f), klen);
        e->next = b[e->hash % nb];
        b[e->hash % nb] = e;
        if ((i & 63) == 0)
            send_msg(d, me);
    }
    for (size_t j = 0; j < nb; j++)
        for (struct entry *e = b[j], *nx; e; e = nx) {
            nx = e->next;
            if (e->key[e->klen - 1] != (char)(e->hash & 0x7f))
                d->bad++;
            goheap_free(e);
        }
    goheap_free(b);
    d->tables++;
}

static struct node *tree_insert(struct node *root, struct node *n)
{
    struct node **p = &root;
    while (*p)
        p = n->key < (*p)->key ? &(*p)->left : &(*p)->right;
    *p = n;
    return root;
}

static void tree_free(struct demo_cpu *d, struct node *n)
{
    while (n) {                     /* iterative on the right spine, recursive on the left */
        struct node *r = n->right;
        tree_free(d, n->left);
        if (n->plen && n->payload[n->plen - 1] != (uint8_t)n->key)
            d->bad++;
        goheap_free(n);
        n = r;
    }
}

DEMO_SITE void tree_round(struct demo_cpu *d, unsigned me)
{
    size_t n = 100 + rnd(d) % 1500;
    struct node *root = 0;
    for (size_t i = 0; i < n; i++) {
        size_t plen = (size_t)(rnd(d) % 8 == 0 ? rnd(d) % 6000 : rnd(d) % 200);
        struct node *x = goheap_malloc(sizeof *x + plen);
        if (!x)
            break;
        x->left = x->right = 0;
        x->key = rnd(d);
        x->plen = plen;
        if (plen)
            x->payload[plen - 1] = (uint8_t)x->key;
        root = tree_insert(root, x);
        if ((i & 127) == 0)
            send_msg(d, me);
    }
    tree_free(d, root);
    d->trees++;
}

/* Large buffers (40 KiB .. 1 MiB) replaced now and then: heap grows and shrinks. */
DEMO_SITE void large_round(struct demo_cpu *d)
{
    unsigned i = (unsigned)(rnd(d) % KEEP);
    goheap_free(d->keep[i]);
    size_t sz = (40u << 10) + (size_t)(rnd(d) % (1u << 20));
    d->keep[i] = goheap_malloc(sz);
    if (d->keep[i])
        memset(d->keep[i], 0x11, 64);
}

static void fmt_mib(char *buf, size_t n, uint64_t bytes)
{
    snprintk(buf, n, "%4llu.%01llu MiB", (unsigned long long)(bytes >> 20),
             (unsigned long long)(((bytes & ((1u << 20) - 1)) * 10) >> 20));
}

static void summary(uint64_t t0)
{
    static struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    char inuse[24], idle[24], rel[24];
    fmt_mib(inuse, sizeof inuse, ms.heap_inuse);
    fmt_mib(idle, sizeof idle, ms.heap_idle - ms.heap_released);
    fmt_mib(rel, sizeof rel, ms.heap_released);
    uint64_t ms_el = (arch_nanotime() - t0) / 1000000;
    printk("demo %3llu.%01llus | in use %s | retained %s | released %s | objects %7llu | "
           "mallocs %9llu frees %9llu\n", (unsigned long long)(ms_el / 1000),
           (unsigned long long)(ms_el % 1000 / 100), inuse, idle, rel,
           (unsigned long long)ms.heap_objects, (unsigned long long)ms.mallocs,
           (unsigned long long)ms.frees);
}

/* The CPU that printed the summary: for one summary period from the middle of the run, a
 * soft memory limit 25% above the heap in use (plus metadata) makes the scavenger
 * release synchronously (scavtrace prints each such release, so the phase is short). */
static void limit_phase(uint64_t t0)
{
    static int phase;
    uint64_t now = arch_nanotime(), len = deadline - t0;
    if (phase == 0 && now >= t0 + len / 2) {
        static struct goheap_memstats ms;
        goheap_read_memstats(&ms);
        uint64_t meta = ms.mspan_sys + ms.mcache_sys + ms.other_sys;
        int64_t lim = (int64_t)(ms.heap_inuse + ms.heap_inuse / 4 + meta);
        limit_before = goheap_set_memory_limit(lim);
        printk("demo: soft memory limit %llu MiB (heap in use + 25%% + metadata) for %llu ms\n",
               (unsigned long long)(lim >> 20), (unsigned long long)(REPORT_NS / 1000000));
        phase = 1;
        /* goheap=memprofile=serial (make run PROFILE=1): the heap profile at mid-run,
         * while every CPU keeps allocating (the one at exit has nothing in use). */
        if (kplat_memprofile_serial)
            kheap_profile_serial("demo-midrun");
    } else if (phase == 1) {
        goheap_set_memory_limit(limit_before);
        printk("demo: memory limit lifted\n");
        phase = 2;
    }
}

static void worker(unsigned me, void *arg)
{
    struct demo_cpu *d = &dc[me];
    uint64_t t0 = *(uint64_t *)arg;
    d->rng = 0x9e3779b97f4a7c15ull * (me + 1);
    while (arch_nanotime() < deadline) {
        switch (rnd(d) % 4) {
        case 0: case 1: hash_table_round(d, me); break;
        case 2: tree_round(d, me); break;
        default: large_round(d); break;
        }
        drain_inbox(d, me);
        kheap_tick();
        /* Whichever CPU first sees the report time due prints (single-threaded TCG
         * runs vCPUs in turns, so no one CPU is always on time); a late report skips
         * ahead instead of bursting. */
        uint64_t now = arch_nanotime(), due = __atomic_load_n(&next_report, __ATOMIC_RELAXED);
        if (now >= due && __atomic_compare_exchange_n(&next_report, &due, now + REPORT_NS, 0,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            summary(t0);
            limit_phase(t0);
        }
    }
    for (unsigned i = 0; i < KEEP; i++) {
        goheap_free(d->keep[i]);
        d->keep[i] = 0;
    }
}

static void drain_all(unsigned me, void *arg)
{
    (void)arg;
    drain_inbox(&dc[me], me);
}

/* The release mode (madvdontneed=): a grow-shrink-grow cycle of 32 MiB, with the
 * heap's unmaps, shootdowns and maps counted; with lazy release, then a frame user
 * that takes every frame, which the frame allocator serves by pulling the heap's
 * lazily released pages back. `make run` boots the demo in both modes. */
#define RP_N 128
#define RP_SIZE (256u << 10)
static void *rp_bufs[RP_N];

static void rp_grow(void)
{
    for (unsigned i = 0; i < RP_N; i++)
        if ((rp_bufs[i] = goheap_malloc(RP_SIZE)))
            memset(rp_bufs[i], 0x5a, RP_SIZE);
}

static void rp_shrink(void)
{
    for (unsigned i = 0; i < RP_N; i++) {
        goheap_free(rp_bufs[i]);
        rp_bufs[i] = 0;
    }
    goheap_free_os_memory();
}

static void release_phase(void)
{
    static struct goheap_memstats ms;
    rp_grow();
    rp_shrink();
    uint64_t u0 = kplat_stats.unmap_calls, m0 = kplat_stats.map_calls;
    unsigned long s0 = arch_tlb_shootdowns();
    rp_grow();
    rp_shrink();
    uint64_t m1 = kplat_stats.map_calls;
    goheap_read_memstats(&ms);
    uint64_t lazy = ms.heap_released_lazy;
    rp_grow();
    printk("demo: release %s: grow-shrink-grow of %u MiB: %llu unmaps, %lu shootdowns, maps "
           "%llu on the first grow and %llu on the second (after the warm-up); released lazily (still mapped) "
           "after the shrink: %llu KiB\n", lazy ? "lazy (madvdontneed=0)" : "eager (madvdontneed=1)",
           (RP_N * RP_SIZE) >> 20, (unsigned long long)(kplat_stats.unmap_calls - u0),
           arch_tlb_shootdowns() - s0, (unsigned long long)(m1 - m0),
           (unsigned long long)(kplat_stats.map_calls - m1), (unsigned long long)(lazy >> 10));
    rp_shrink();
    goheap_read_memstats(&ms);
    if (!ms.heap_released_lazy)
        return;
    struct frame_stats f0, f1;
    frame_stats(&f0);
    uint64_t chain = 0, n = 0, pa, r0 = ms.lazy_reclaimed;
    while ((pa = frame_alloc(0))) {
        *(uint64_t *)arch_phys_to_virt(pa) = chain;
        chain = pa;
        n++;
    }
    frame_stats(&f1);
    goheap_read_memstats(&ms);
    printk("demo: pressure: a frame user took %llu frames, %llu more than were free: %llu pulls "
           "unmapped %llu KiB of the heap's lazily released pages; %llu KiB still mapped\n",
           (unsigned long long)n, (unsigned long long)(n - f0.free), (unsigned long long)(f1.pulls - f0.pulls),
           (unsigned long long)((ms.lazy_reclaimed - r0) >> 10),
           (unsigned long long)(ms.heap_released_lazy >> 10));
    while (chain) {
        uint64_t next = *(uint64_t *)arch_phys_to_virt(chain);
        frame_free(chain);
        chain = next;
    }
}

static void memstats_table(void)
{
    static struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    printk("\n== MemStats ===========================================================\n");
    printk("  Alloc       %10llu B     TotalAlloc  %12llu B\n", (unsigned long long)ms.alloc,
           (unsigned long long)ms.total_alloc);
    printk("  Mallocs     %10llu       Frees       %12llu   (tiny %llu)\n",
           (unsigned long long)ms.mallocs, (unsigned long long)ms.frees,
           (unsigned long long)ms.tiny_allocs);
    printk("  HeapSys     %10llu B     HeapInuse   %12llu B\n", (unsigned long long)ms.heap_sys,
           (unsigned long long)ms.heap_inuse);
    printk("  HeapIdle    %10llu B     HeapReleased%12llu B\n", (unsigned long long)ms.heap_idle,
           (unsigned long long)ms.heap_released);
    printk("  HeapReleasedLazy %5llu B     LazyReclaimed %11llu B\n",
           (unsigned long long)ms.heap_released_lazy, (unsigned long long)ms.lazy_reclaimed);
    printk("  HeapObjects %10llu       MSpanSys    %12llu B\n", (unsigned long long)ms.heap_objects,
           (unsigned long long)ms.mspan_sys);
    printk("  MCacheSys   %10llu B     OtherSys    %12llu B\n", (unsigned long long)ms.mcache_sys,
           (unsigned long long)ms.other_sys);
    printk("  -- per size class (classes used) --------------------------------------\n");
    printk("  class   size      mallocs        frees  |  class   size      mallocs        frees\n");
    unsigned col = 0;
    for (unsigned i = 0; i < GOHEAP_NUM_SIZE_CLASSES; i++) {
        if (!ms.by_size[i].mallocs)
            continue;
        printk("  %5u %6u %12llu %12llu %s", i, ms.by_size[i].size,
               (unsigned long long)ms.by_size[i].mallocs, (unsigned long long)ms.by_size[i].frees,
               col ? "\n" : " | ");
        col ^= 1;
    }
    if (col)
        printk("\n");
    printk("=======================================================================\n");
}

unsigned kernel_run_demo(void)
{
    if (cmdline_get("bench")) {
        if (KERNEL_BENCH)
            return kbench_run();
        printk("bench: the kernel benchmarks are not in this kernel: `make bench-kernel` "
               "builds one with them (KBENCH=1)\n");
        return 1;
    }
    const char *secs = cmdline_get("demo_secs");
    unsigned s = 0;
    for (; secs && *secs >= '0' && *secs <= '9'; secs++)
        s = s * 10 + (unsigned)(*secs - '0');
    if (!s)
        s = DEMO_SECS_DEFAULT;
    kheap_init_default("scavtrace=1");
    kheap_ticks_start(KHEAP_TICK_HZ);  /* idle CPUs run the paced background step */
    ncpu = cpus_online();
    uint64_t f0 = frame_free_count();
    printk("\ndemo: %u CPUs, %u s: hash tables, trees, large buffers and cross-CPU messages on "
           "goheap\n", ncpu, s);
    uint64_t t0 = arch_nanotime();
    deadline = t0 + (uint64_t)s * 1000000000ull;
    next_report = t0 + REPORT_NS;
    smp_run_all(worker, &t0);
    smp_run_all(drain_all, 0);
    summary(t0);
    uint64_t sent = 0, recv = 0, bad = 0, tables = 0, trees = 0;
    for (unsigned i = 0; i < ncpu; i++) {
        sent += dc[i].sent;
        recv += dc[i].received;
        bad += dc[i].bad;
        tables += dc[i].tables;
        trees += dc[i].trees;
    }
    for (unsigned i = 0; i < ncpu; i++)
        printk("demo: cpu %u: %6llu hash tables %6llu trees %8llu messages sent %8llu received\n",
               i, (unsigned long long)dc[i].tables, (unsigned long long)dc[i].trees,
               (unsigned long long)dc[i].sent, (unsigned long long)dc[i].received);
    printk("demo: done: %llu hash tables, %llu trees, %llu messages sent and %llu freed on "
           "arrival (%s), %llu damaged\n", (unsigned long long)tables, (unsigned long long)trees,
           (unsigned long long)sent, (unsigned long long)recv,
           ncpu > 1 ? "by a CPU other than the sender" : "one CPU: sent to itself",
           (unsigned long long)bad);
    goheap_free_os_memory();
    summary(t0);
    static struct goheap_memstats lz;
    goheap_read_memstats(&lz);
    printk("demo: after goheap_free_os_memory(): frames free %llu (before the demo %llu; "
           "the difference is the heap's metadata and page tables%s)\n",
           (unsigned long long)frame_free_count(), (unsigned long long)f0,
           lz.heap_released_lazy ? ", and its lazily released pages, still mapped" : "");
    release_phase();
    memstats_table();
    int v = goheap_validate();
    printk("demo: validator %s\n", v ? "FAILED" : "ok");
    return (v || bad || sent != recv) ? KEXIT_FAIL : KEXIT_PASS;
}
