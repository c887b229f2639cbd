/* bench/kernel/kchurn.c: the cross-CPU churn benchmark (`make bench-kernel-churn`, a
 * boot with `bench kbench=churn`): every active CPU allocates, hands each object to the
 * next CPU through a lock-free ring and frees what it receives; goheap vs first fit. */

/* The shape (bench/kernel/RESULTS.md, "Cross-CPU churn"):
 * - Fixed work per CPU: each of the A active CPUs (0..A-1) allocates CHURN_OPS objects
 *   of the same pseudo-random sizes (16..512 B, one seed for every CPU), in batches of
 *   BATCH, writes a tag into each, pushes it into the ring of CPU (c+1) mod A, and
 *   frees every object its own ring holds (checking the tag: sender and sequence).
 *   Ideal throughput is A times the 1-CPU figure. At A = 1 a CPU hands objects to
 *   itself, so its frees are local; from A = 2 every free is remote.
 * - Hand-off: one single-producer/single-consumer ring per CPU (bounded, lock-free:
 *   the producer owns tail, the consumer owns head, each published with release once
 *   per batch or drain, not per object; the tag travels in the slot), so the figure
 *   measures the allocators and not the hand-off. A producer that finds the next ring
 *   full frees what its own ring holds while it waits (no deadlock).
 * - Time: the guest's clock (arch_nanotime), from the first CPU's start to the last
 *   CPU's end after a common barrier; throughput = pairs done / that time (A x
 *   CHURN_OPS unless the run's time budget cut it, which the report says).
 * - A = 1, 2, 4 .. SMP in the same boot, each round running every (A, allocator) once,
 *   rounds interleaved so that host-load drift hits every row alike; a warm-up round
 *   first. Reported: median, min and max over the rounds, the ratio of medians to
 *   A = 1, the median of the per-round ratios (A and 1 CPU measured moments apart),
 *   and that ratio adjusted by the ring-self control of the same round (below).
 * - Rows, each run once per round: goheap and the first-fit baseline
 *   (kernel/heap/baseline.c); "ring-only", the same loop with a no-op allocator (each
 *   CPU cycles through a private pool, free does nothing): the ceiling the host and
 *   the hand-off allow; and two controls where every CPU hands to itself (kinds[]).
 * Inactive CPUs return to the idle loop (hlt / wfi), so under multi-threaded TCG their
 * host threads sleep instead of competing with the active ones.
 *
 * Knobs on the command line: churn_ops=N (pairs per CPU, default CHURN_OPS_DEFAULT),
 * churn_rounds=N (default CHURN_ROUNDS_DEFAULT), churn_budget_ms=N (one run's time
 * budget, default CHURN_BUDGET_MS_DEFAULT), churn_split=1 (also print the mean ns of
 * a malloc and of a free, timed one in SPLIT_EVERY), churn_touch=1 (the receiver reads
 * each object's tag from the object: one more cache line across CPUs per pair). With
 * goheap=lockstats=1 the report adds goheap's lock acquisitions, contention and wait. */
#include <arch/cpu.h>
#include <arch/timer.h>
#include <cmdline.h>
#include <goheap.h>
#include <goheap_lockclass.h>
#include <kexit.h>
#include <percpu.h>
#include <printk.h>
#include <smp.h>

#include <kheap.h>

/* 200k pairs per CPU: 30-130 ms of guest time per goheap run under TCG (140-650 ns a
 * pair, 1 and 2 CPUs), i.e. 8-30 host scheduler ticks (4 ms), so one descheduled vCPU
 * thread (a lost tick, the start skew the report shows) moves a run by a few percent
 * rather than by half, as it did at 20k pairs. */
#define CHURN_OPS_DEFAULT 200000u
#define CHURN_ROUNDS_DEFAULT 11u
#define CHURN_ROUNDS_MAX 31u
#define CHURN_MIN_SIZE 16u      /* the tag (8 B) fits */
#define CHURN_MAX_SIZE 512u
/* 32 allocations between drains: the allocator sees runs of mallocs and of frees (a
 * refill and a batch of remote frees each time), not strict alternation. */
#define BATCH 32u
/* 32768 slots (512 KiB a ring): slack for one host scheduler tick. On a loaded host
 * a descheduled vCPU thread comes back at the host's next tick (4 ms here: every
 * stall of the first version, with 1024-slot rings, cost 3.99-4.00 ms), i.e. 13-27 k
 * pairs at 150-300 ns; with less slack the sender stops too and the run measures the
 * host's scheduler. At most 32 k objects (~9 MiB at 16..512 B) in flight per CPU. */
#define RING_SLOTS 32768u
#define RING_MASK (RING_SLOTS - 1)

struct ring {
    _Alignas(64) uint32_t head;         /* written by the consumer (release) */
    _Alignas(64) uint32_t tail;         /* written by the producer (release) */
    /* The object and its tag ((sender << 32) | sequence): the receiver checks the tag
     * here, not in the object, so handing an object over moves no line of it to the
     * receiver unless the allocator's free touches it (goheap's does not, first fit
     * writes its header), or churn_touch=1 asks the receiver to read the object too. */
    _Alignas(64) struct { void *p; uint64_t tag; } slot[RING_SLOTS];
};
static struct ring *rings[MAX_CPUS];    /* from goheap at start (512 KiB each) */

/* ---- ring-only: a no-op allocator. CPU c hands out the blocks of its pool in turn;
 * block i is reused NULL_POOL allocations later, when it is neither in the ring (at
 * most RING_SLOTS) nor in the sender's batch (at most BATCH), so it was consumed.
 * A block is one cache line: only the tag (the first 8 bytes) is ever written. */
#define NULL_POOL (RING_SLOTS + 2 * BATCH)
#define NULL_BLOCK 64u
static char *null_pool[MAX_CPUS];
static struct { _Alignas(64) unsigned next; } null_idx[MAX_CPUS];

static void *null_malloc(size_t sz)
{
    (void)sz;
    unsigned c = cpu_index(), i = null_idx[c].next;
    null_idx[c].next = i + 1 == NULL_POOL ? 0 : i + 1;
    return null_pool[c] + (size_t)i * NULL_BLOCK;
}

static void null_free(void *p)
{
    (void)p;
}

typedef void *(*alloc_fn)(size_t);
typedef void (*free_fn)(void *);
/* The rows. "self" rows are controls: every CPU hands its objects to itself (the same
 * work, no object or free crosses CPUs), so they show what the host gives A vCPUs
 * (ring-self) and how goheap scales without remote frees (goheap-self). */
enum { K_GOHEAP, K_FIRSTFIT, K_NULL, K_NULL_SELF, K_GOHEAP_SELF, K_COUNT };
#define K_COUNT_MAX 8
static const struct { const char *name; alloc_fn a; free_fn f; int self; } kinds[K_COUNT] = {
    [K_GOHEAP] = { "goheap", goheap_malloc, goheap_free, 0 },
    [K_FIRSTFIT] = { "firstfit", baseline_malloc, baseline_free, 0 },
    [K_NULL] = { "ring-only", null_malloc, null_free, 0 },
    [K_NULL_SELF] = { "ring-self", null_malloc, null_free, 1 },
    [K_GOHEAP_SELF] = { "goheap-self", goheap_malloc, goheap_free, 1 },
};

struct cpu_res {
    _Alignas(64) uint64_t start, end;   /* arch_nanotime */
    uint64_t stalls;                    /* times a push found the next ring full */
    uint64_t bad;                       /* tags out of order, failed mallocs */
    uint64_t first_bad;                 /* the first bad tag seen (or ~0: NULL) */
    uint64_t mal_ns, mal_n, free_ns, free_n; /* churn_split=1: timed calls, 1 in SPLIT_EVERY */
    uint64_t sent;                      /* pairs pushed, published at the end (else: */
};
#define SENT_RUNNING (~0ull)            /* ... this, while the CPU still sends) */

/* churn_split=1: time one malloc and one free in SPLIT_EVERY with the guest clock
 * (two counter reads each, a few % of a pair under TCG; off for the main figures). */
#define SPLIT_EVERY 8u

/* The time budget of one run (churn_budget_ms=, default CHURN_BUDGET_MS_DEFAULT): a
 * CPU past it stops sending, at its next BUDGET_CHECK-pair boundary, and tells the
 * others to stop; the run counts the pairs done and is reported as cut. It bounds the
 * runs whose vCPUs the host cannot run at once (first fit at 4 vCPUs on 2 host cores:
 * a preempted lock holder costs every waiter a 4 ms host tick, ~1 k pairs/s). */
#define CHURN_BUDGET_MS_DEFAULT 3000u
#define BUDGET_CHECK 256u

struct churn_arg {
    unsigned k, active, ops, split, touch, stop;
    uint64_t budget_ns;
    struct smp_barrier bar;
    struct cpu_res res[MAX_CPUS];
};

static inline uint64_t xs64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Free everything in CPU me's ring, checking each tag ((sender << 32) | sequence,
 * the sender sends 0, 1, 2 ...). Returns how many. The head is published after the
 * objects are read, so the slots (and ring-only's blocks) are not reused under us. */
static unsigned drain(struct ring *in, unsigned from, uint64_t *got, struct cpu_res *res,
                      free_fn f, unsigned split, unsigned touch)
{
    uint32_t h = in->head, t = __atomic_load_n(&in->tail, __ATOMIC_ACQUIRE);
    unsigned n = t - h;
    for (; h != t; h++) {
        uint64_t *p = in->slot[h & RING_MASK].p;
        uint64_t tag = in->slot[h & RING_MASK].tag;
        uint64_t want = ((uint64_t)from << 32) | (*got)++;
        if (touch && *p != tag)
            tag = *p;
        if (tag != want && !res->bad++)
            res->first_bad = tag;
        if (split && want % SPLIT_EVERY == 0) {
            uint64_t t0 = arch_nanotime();
            f(p);
            res->free_ns += arch_nanotime() - t0;
            res->free_n++;
        } else {
            f(p);
        }
    }
    __atomic_store_n(&in->head, h, __ATOMIC_RELEASE);
    return n;
}

static void churn_worker(unsigned cpu, void *p)
{
    struct churn_arg *a = p;
    if (cpu >= a->active)
        return;                         /* back to the idle loop: the vCPU sleeps */
    struct cpu_res *res = &a->res[cpu];
    unsigned next = kinds[a->k].self ? cpu : cpu + 1 == a->active ? 0 : cpu + 1;
    unsigned prev = kinds[a->k].self ? cpu : cpu == 0 ? a->active - 1 : cpu - 1;
    struct ring *in = rings[cpu], *out = rings[next];
    alloc_fn af = kinds[a->k].a;
    free_fn ff = kinds[a->k].f;
    uint64_t rng = 0x9e3779b97f4a7c15ull, got = 0, stalls = 0;
    uint32_t out_tail = out->tail, out_head = __atomic_load_n(&out->head, __ATOMIC_ACQUIRE);
    uint64_t *batch[BATCH];
    unsigned split = a->split, touch = a->touch;
    res->bad = 0;
    res->first_bad = 0;
    res->mal_ns = res->mal_n = res->free_ns = res->free_n = 0;
    __atomic_store_n(&res->sent, SENT_RUNNING, __ATOMIC_RELAXED);
    smp_barrier_wait(&a->bar);
    uint64_t start = res->start = arch_nanotime();
    unsigned sent = 0;
    while (sent < a->ops) {
        if (sent % BUDGET_CHECK == 0 && sent &&
            (__atomic_load_n(&a->stop, __ATOMIC_RELAXED) ||
             arch_nanotime() - start > a->budget_ns)) {
            __atomic_store_n(&a->stop, 1, __ATOMIC_RELAXED);
            break;
        }
        unsigned nb = a->ops - sent < BATCH ? a->ops - sent : BATCH;
        for (unsigned i = 0; i < nb; i++) {
            size_t sz = CHURN_MIN_SIZE + (size_t)(xs64(&rng) % (CHURN_MAX_SIZE - CHURN_MIN_SIZE + 1));
            uint64_t *o;
            if (split && i % SPLIT_EVERY == 0) {
                uint64_t t0 = arch_nanotime();
                o = af(sz);
                res->mal_ns += arch_nanotime() - t0;
                res->mal_n++;
            } else {
                o = af(sz);
            }
            if (!o) {                           /* counted as bad; everyone stops */
                if (!res->bad++)
                    res->first_bad = ~0ull;
                __atomic_store_n(&a->stop, 1, __ATOMIC_RELAXED);
                for (unsigned j = 0; j < i; j++)
                    ff(batch[j]);
                nb = 0;
                break;
            }
            o[0] = ((uint64_t)cpu << 32) | (sent + i);
            batch[i] = o;
        }
        if (!nb)
            break;
        for (unsigned i = 0; i < nb;) {        /* push the batch, publishing once */
            uint32_t room = RING_SLOTS - (out_tail - out_head);
            if (room < nb - i) {
                out_head = __atomic_load_n(&out->head, __ATOMIC_ACQUIRE);
                room = RING_SLOTS - (out_tail - out_head);
            }
            if (!room) {                        /* full: free ours while next catches up */
                stalls++;
                do {
                    if (!drain(in, prev, &got, res, ff, split, touch))
                        arch_cpu_relax();
                    out_head = __atomic_load_n(&out->head, __ATOMIC_ACQUIRE);
                } while (out_tail - out_head == RING_SLOTS);
                continue;
            }
            for (; room && i < nb; room--, i++, out_tail++) {
                out->slot[out_tail & RING_MASK].p = batch[i];
                out->slot[out_tail & RING_MASK].tag = ((uint64_t)cpu << 32) | (sent + i);
            }
            __atomic_store_n(&out->tail, out_tail, __ATOMIC_RELEASE);
        }
        sent += nb;
        drain(in, prev, &got, res, ff, split, touch);
    }
    /* Everything pushed (release: after the last tail); then the rest prev sends. */
    __atomic_store_n(&res->sent, sent, __ATOMIC_RELEASE);
    for (;;) {
        uint64_t want = __atomic_load_n(&a->res[prev].sent, __ATOMIC_ACQUIRE);
        if (!drain(in, prev, &got, res, ff, split, touch)) {
            if (want != SENT_RUNNING && got == want)
                break;
            arch_cpu_relax();
        }
    }
    res->end = arch_nanotime();
    res->stalls = stalls;
}

/* One run: returns pairs per second (thousands, at least 1), 0 on a failed check. */
#define NACT_MAX 8  /* active counts 1, 2, 4 .. 64, and SMP when not a power of 2 */
/* [row][active index, NACT_MAX for the warm-up][malloc ns, mallocs, free ns, frees] */
static uint64_t split_sum[K_COUNT_MAX][NACT_MAX + 1][4];
static unsigned cut[K_COUNT_MAX][NACT_MAX + 1];    /* runs stopped by the budget */

static uint64_t churn_run(struct churn_arg *a, unsigned k, unsigned active, uint64_t *skew_ns,
                          uint64_t *stalls, unsigned ai)
{
    for (unsigned c = 0; c < active; c++) {
        rings[c]->head = rings[c]->tail = 0;
        null_idx[c].next = 0;
    }
    a->k = k;
    a->active = active;
    smp_barrier_init(&a->bar, active);
    smp_run_all(churn_worker, a);
    a->stop = 0;
    uint64_t first = ~0ull, last = 0, lstart = 0, pairs = 0;
    *stalls = 0;
    for (unsigned c = 0; c < active; c++) {
        struct cpu_res *r = &a->res[c];
        if (r->bad) {
            printk("bench: churn %s %u CPU(s): FAILED on cpu %u: %llu bad objects, the first "
                   "%s 0x%llx\n", kinds[k].name, active, c, (unsigned long long)r->bad,
                   r->first_bad == ~0ull ? "(malloc returned NULL)" : "tag",
                   (unsigned long long)r->first_bad);
            return 0;
        }
        first = r->start < first ? r->start : first;
        lstart = r->start > lstart ? r->start : lstart;
        last = r->end > last ? r->end : last;
        *stalls += r->stalls;
        pairs += r->sent;
        split_sum[k][ai][0] += r->mal_ns;
        split_sum[k][ai][1] += r->mal_n;
        split_sum[k][ai][2] += r->free_ns;
        split_sum[k][ai][3] += r->free_n;
    }
    *skew_ns = lstart - first;
    if (pairs < (uint64_t)active * a->ops)
        cut[k][ai]++;
    uint64_t kops = pairs * 1000000ull / (last > first ? last - first : 1);
    return kops ? kops : 1;
}

static void sort64(uint64_t *v, unsigned n)
{
    for (unsigned i = 1; i < n; i++)
        for (unsigned j = i; j > 0 && v[j - 1] > v[j]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

static unsigned arg_uint(const char *key, unsigned dflt)
{
    const char *s = cmdline_get(key);
    unsigned v = 0;
    if (!s || !*s)
        return dflt;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (unsigned)(*s - '0');
    return v ? v : dflt;
}

/* Per (active count): the goheap runs' lock counters, summed over rounds. */
struct lockdelta { uint64_t acquires, contended, wait_ns; };

static void lock_snapshot(struct lockdelta *out)
{
    static struct goheap_memstats ms;
    goheap_read_memstats(&ms);
    for (unsigned c = 0; c < GOHEAP_LC_COUNT; c++) {
        out[c].acquires = ms.locks[c].acquires;
        out[c].contended = ms.locks[c].contended;
        out[c].wait_ns = ms.locks[c].wait_ns;
    }
}

/* The baseline's region for this benchmark: at most RING_SLOTS objects of <= 528 B
 * (header and rounding included) in flight per CPU, 17 MiB, so 8 CPUs fit with room
 * for fragmentation (kbench_run's 64 MiB would not hold 4). */
#define CHURN_BASELINE_BYTES (256u << 20)

unsigned kbench_churn(void)
{
    if (baseline_init(CHURN_BASELINE_BYTES)) {
        printk("bench: churn: cannot map the baseline's %u MiB\n", CHURN_BASELINE_BYTES >> 20);
        return KEXIT_FAIL;
    }
    unsigned n = cpus_online();
    unsigned ops = arg_uint("churn_ops", CHURN_OPS_DEFAULT);
    unsigned rounds = arg_uint("churn_rounds", CHURN_ROUNDS_DEFAULT);
    if (rounds > CHURN_ROUNDS_MAX)
        rounds = CHURN_ROUNDS_MAX;
    unsigned acts[NACT_MAX], nact = 0;
    for (unsigned a = 1; a <= n && nact < NACT_MAX; a *= 2)
        acts[nact++] = a;
    if (acts[nact - 1] != n && nact < NACT_MAX)
        acts[nact++] = n;
    printk("bench: churn: %s, %u CPUs online, %u pairs per CPU (%u..%u B, batches of %u, "
           "rings of %u), %u rounds + 1 warm-up; k pairs/s over all active CPUs, guest "
           "clock, first start to last end\n", ARCH_NAME, n, ops, CHURN_MIN_SIZE,
           CHURN_MAX_SIZE, BATCH, RING_SLOTS, rounds);
    for (unsigned c = 0; c < n; c++)
        if (!(null_pool[c] = goheap_malloc((size_t)NULL_POOL * NULL_BLOCK)) ||
            !(rings[c] = goheap_malloc(sizeof(struct ring)))) {
            printk("bench: churn: no memory for the rings and ring-only pools\n");
            return KEXIT_FAIL;
        }
    static struct churn_arg arg;
    static uint64_t kops[K_COUNT][NACT_MAX][CHURN_ROUNDS_MAX];
    static uint64_t skew[K_COUNT][NACT_MAX][CHURN_ROUNDS_MAX];
    static uint64_t stall[K_COUNT][NACT_MAX];
    static struct lockdelta lk[NACT_MAX][GOHEAP_LC_COUNT];
    struct lockdelta l0[GOHEAP_LC_COUNT], l1[GOHEAP_LC_COUNT];
    uint64_t sk, st;
    arg.ops = ops;
    arg.split = arg_uint("churn_split", 0) == 1;
    arg.budget_ns = (uint64_t)arg_uint("churn_budget_ms", CHURN_BUDGET_MS_DEFAULT) * 1000000ull;
    arg.touch = arg_uint("churn_touch", 0) == 1;
    printk("bench: churn warm-up at %u CPUs:", n);  /* spans, frames, free list */
    for (unsigned k = 0; k < K_COUNT; k++) {
        uint64_t w = churn_run(&arg, k, n, &sk, &st, NACT_MAX);
        if (!w)
            return KEXIT_FAIL;
        printk(" %s %llu", kinds[k].name, (unsigned long long)w);
    }
    printk(" k pairs/s\n");
    for (unsigned r = 0; r < rounds; r++)
        for (unsigned ai = 0; ai < nact; ai++)
            for (unsigned j = 0; j < K_COUNT; j++) {
                unsigned k = (j + r) % K_COUNT;     /* rotate the order between rounds */
                if (k == K_GOHEAP)
                    lock_snapshot(l0);
                kops[k][ai][r] = churn_run(&arg, k, acts[ai], &skew[k][ai][r], &st, ai);
                if (!kops[k][ai][r])
                    return KEXIT_FAIL;
                stall[k][ai] += st;
                if (k == K_GOHEAP) {
                    lock_snapshot(l1);
                    for (unsigned c = 0; c < GOHEAP_LC_COUNT; c++) {
                        lk[ai][c].acquires += l1[c].acquires - l0[c].acquires;
                        lk[ai][c].contended += l1[c].contended - l0[c].contended;
                        lk[ai][c].wait_ns += l1[c].wait_ns - l0[c].wait_ns;
                    }
                }
            }
    /* Ratios in hundredths. host-adjusted: the row's per-round ratio times A over
     * ring-self's in the same round, i.e. scaled as if the host had given the A vCPUs
     * A whole cores (ring-self at A CPUs gets what the host gives; an estimate, which
     * assumes the row would scale with CPU time as ring-self does). */
#define X100(v) (unsigned long long)((v) / 100), (unsigned long long)((v) % 100)
    for (unsigned k = 0; k < K_COUNT; k++)
        for (unsigned ai = 0; ai < nact; ai++) {
            uint64_t v[CHURN_ROUNDS_MAX], ratio[CHURN_ROUNDS_MAX], adj[CHURN_ROUNDS_MAX];
            uint64_t s[CHURN_ROUNDS_MAX];
            for (unsigned r = 0; r < rounds; r++) {
                v[r] = kops[k][ai][r];
                ratio[r] = kops[k][ai][r] * 100 / kops[k][0][r];
                uint64_t host = kops[K_NULL_SELF][ai][r] * 100 / kops[K_NULL_SELF][0][r];
                adj[r] = ratio[r] * acts[ai] * 100 / (host ? host : 1);
                s[r] = skew[k][ai][r];
            }
            uint64_t rm = 0;
            sort64(v, rounds);
            sort64(ratio, rounds);
            sort64(adj, rounds);
            sort64(s, rounds);
            if (ai) {
                uint64_t m1[CHURN_ROUNDS_MAX];
                for (unsigned r = 0; r < rounds; r++)
                    m1[r] = kops[k][0][r];
                sort64(m1, rounds);
                rm = v[rounds / 2] * 100 / m1[rounds / 2];
            }
            printk("bench: churn %-11s %2u CPU(s): median %6llu k pairs/s [%llu..%llu]",
                   kinds[k].name, acts[ai], (unsigned long long)v[rounds / 2],
                   (unsigned long long)v[0], (unsigned long long)v[rounds - 1]);
            if (ai)
                printk("  x%llu.%02llu vs 1 CPU (per round x%llu.%02llu [%llu.%02llu..%llu.%02llu], "
                       "host-adjusted x%llu.%02llu)", X100(rm), X100(ratio[rounds / 2]),
                       X100(ratio[0]), X100(ratio[rounds - 1]), X100(adj[rounds / 2]));
            printk("  start skew %llu us, stalls %llu/run", (unsigned long long)(s[rounds / 2] / 1000),
                   (unsigned long long)(stall[k][ai] / rounds));
            if (cut[k][ai])
                printk("  CUT: %u of %u runs stopped at the %llu ms budget", cut[k][ai], rounds,
                       (unsigned long long)(arg.budget_ns / 1000000));
            printk("\n");
        }
    for (unsigned k = 0; arg.split && k < K_COUNT; k++)
        for (unsigned ai = 0; ai < nact; ai++) {
            uint64_t *q = split_sum[k][ai];
            printk("bench: churn %-11s %2u CPU(s) split: malloc %llu ns, free %llu ns (mean of "
                   "%llu / %llu timed calls)\n", kinds[k].name, acts[ai],
                   (unsigned long long)(q[1] ? q[0] / q[1] : 0),
                   (unsigned long long)(q[3] ? q[2] / q[3] : 0), (unsigned long long)q[1],
                   (unsigned long long)q[3]);
        }
    /* goheap's locks per 1000 pairs (lockstats=1; all zero otherwise). */
    for (unsigned ai = 0; ai < nact; ai++) {
        uint64_t pairs = (uint64_t)rounds * acts[ai] * ops;
        for (unsigned c = 0; c < GOHEAP_LC_COUNT; c++) {
            if (!lk[ai][c].acquires)
                continue;
            uint64_t per = lk[ai][c].acquires * 10000 / pairs;     /* per 1k, x10 */
            printk("bench: churn goheap      %2u CPU(s) lock %-9s %4llu.%01llu acquires/1k pairs, "
                   "%llu contended, %llu us waited (all rounds)\n", acts[ai],
                   goheap_lock_class_names[c], (unsigned long long)(per / 10),
                   (unsigned long long)(per % 10),
                   (unsigned long long)lk[ai][c].contended,
                   (unsigned long long)(lk[ai][c].wait_ns / 1000));
        }
    }
    for (unsigned c = 0; c < n; c++) {
        goheap_free(null_pool[c]);
        goheap_free(rings[c]);
    }
    printk("bench: done\n");
    return KEXIT_PASS;
}
