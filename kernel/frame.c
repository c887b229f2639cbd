/* kernel/frame.c: the physical frame allocator. A bitmap over [0, max_pa) (bit set =
 * free) under one global lock, fronted by a per-CPU cache of single frames so the
 * common alloc/free touches only this CPU's cache (interrupts masked, no lock).
 * Contiguous runs always come from the bitmap. Rule: never call it from an interrupt
 * handler (checked when KERNEL_DEBUG); any IRQ state is fine otherwise. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/timer.h>
#include <arch_api.h>
#include <bitops.h>
#include <frame.h>
#include <kconfig.h>
#include <panic.h>
#include <percpu.h>
#include <printk.h>
#include <spinlock.h>
#include <string.h>

/* Cache size: 64 frames (256 KiB) per CPU bounds what a CPU can strand; refills and
 * drains move 32 frames, so one global-lock round trip serves >= 32 hot-path calls. */
#define CACHE_MAX   64
#define CACHE_BATCH 32

struct frame_cache {
    unsigned n;                 /* 0 <= n <= CACHE_MAX; pa[0..n) are free frames */
    uint64_t pa[CACHE_MAX];
} __attribute__((aligned(ARCH_CACHE_LINE)));

/* Owned by each CPU, touched only by that CPU's thread context (the kernel does not
 * preempt, and the frame allocator is not used from interrupt handlers), so the hot
 * path needs no lock and no interrupt masking (masking traps under nested KVM). Read
 * racily by frame_stats. */
static struct frame_cache caches[MAX_CPUS];

/* Taken with interrupts masked, as the page-table lock is (arch/x86_64/mm.c says why):
 * goheap_sys_each_cpu's IPI handler runs the heap's flush, whose allocator locks rank
 * below this one, so it must not land on a CPU holding it (kheap-movescan's lock check
 * caught that on aarch64). Only the refills and drains take it, 1 in 32 calls. */
static struct spinlock frame_lock = SPINLOCK_INIT("frame", LOCK_RANK_FRAME);
/* protected by frame_lock: */
static uint64_t *bitmap;        /* nwords words; bit f%64 of word f/64 set = frame f free */
static uint64_t bitmap_free;    /* = popcount(bitmap) */
static uint64_t hint;           /* word index where the last single-frame search ended */
/* KERNEL_DEBUG only (NULL otherwise), after the bitmap, one bit per frame: set while the
 * frame sits in a CPU's cache. Changed with atomic RMWs by the CPU whose cache the
 * frame enters or leaves (a word spans frames of several caches); read by the
 * double-free checks, which then need no scan of any cache: frame_free (a frame in any
 * CPU's cache) and frame_free_run (one bit test per frame, next to put_frame's). */
static uint64_t *cached_map;
/* fixed after frame_init: */
static uint64_t nframes, nwords, total_frames, reserved_frames, max_pa;
static uint64_t init_ns, init_cycles;
/* Free frames, bitmap and CPU caches together, changed only where a frame enters or
 * leaves the allocator (never when one moves between a cache and the bitmap), so one
 * load gives an exact count; summing bitmap_free and the caches would tear whenever a
 * cache refilled or drained between the two reads. free_count = bitmap_free + sum(n)
 * whenever no operation is in flight. */
static uint64_t free_count;     /* accessed only with __atomic builtins */

/* The pull (frame_set_reclaimer). It may unmap, and an unmap's shootdown waits for
 * every CPU: from a pinned heap (interrupts masked, heap locks held: goheap_sys_map),
 * under the page-table or frame lock, or in an interrupt handler, the CPU we would
 * wait for may be waiting for us (docs/kernel-heap.md). Those requests fail instead. */
static frame_reclaimer_fn reclaimer;
/* 1 MiB per pull: each run the heap gives back costs one shootdown, so a pull serves
 * at least 256 frame requests; the heap keeps the rest of its lazily released pages
 * (a 64 MiB machine gives back 1/64 of its memory per pull). */
#define PULL_BYTES (1u << 20)
static uint64_t pulls, pulled_frames, pulls_refused; /* __atomic */

static inline int bit_test(uint64_t f) { return (bitmap[f >> 6] >> (f & 63)) & 1; }

/* Set (free) or clear (used) bits [lo, hi). */
static void bits_fill(uint64_t lo, uint64_t hi, int set)
{
    while (lo < hi && (lo & 63)) {
        if (set) bitmap[lo >> 6] |= 1ull << (lo & 63);
        else bitmap[lo >> 6] &= ~(1ull << (lo & 63));
        lo++;
    }
    for (; lo + 64 <= hi; lo += 64)
        bitmap[lo >> 6] = set ? ~0ull : 0;
    for (; lo < hi; lo++) {
        if (set) bitmap[lo >> 6] |= 1ull << (lo & 63);
        else bitmap[lo >> 6] &= ~(1ull << (lo & 63));
    }
}

static uint64_t pop_range(void)
{
    uint64_t n = 0;
    for (uint64_t w = 0; w < nwords; w++)
        n += popcount64(bitmap[w]);
    return n;
}

static int overlaps(uint64_t a, uint64_t asz, uint64_t b, uint64_t bsz)
{
    return a < b + bsz && b < a + asz;
}

/* First address >= the start of a usable range, clear of every reservation, with
 * `bytes` free below limit; 0 if none. */
static uint64_t place(const struct mem_range *use, size_t nuse, const struct mem_range *res,
                      size_t nres, uint64_t bytes, uint64_t limit)
{
    for (size_t i = 0; i < nuse; i++) {
        uint64_t cand = use[i].base, end = use[i].base + use[i].size;
        for (int moved = 1; moved;) {
            moved = 0;
            for (size_t j = 0; j < nres; j++)
                if (overlaps(cand, bytes, res[j].base, res[j].size)) {
                    cand = (res[j].base + res[j].size + ARCH_FRAME_SIZE - 1) &
                           ~(ARCH_FRAME_SIZE - 1);
                    moved = 1;
                }
        }
        if (cand && cand + bytes <= end && cand + bytes <= limit)
            return cand;
    }
    return 0;
}

void frame_init(void)
{
    static struct mem_range use[128], res[64];
    uint64_t c0 = arch_cycles(), t0 = arch_nanotime();
    size_t nuse = arch_memmap(use, 128);
    size_t nres = arch_reserved(res, 63);
    if (nuse == 0)
        panic("frame_init: no usable memory in the firmware memory map");
    max_pa = use[nuse - 1].base + use[nuse - 1].size;
    nframes = max_pa / ARCH_FRAME_SIZE;
    nwords = (nframes + 63) / 64;
    uint64_t maps = KERNEL_DEBUG ? 2 : 1;   /* the bitmap, then cached_map */
    uint64_t bm_bytes = (maps * nwords * 8 + ARCH_FRAME_SIZE - 1) & ~(ARCH_FRAME_SIZE - 1);
    uint64_t bm_pa = place(use, nuse, res, nres, bm_bytes, ARCH_BOOT_DIRECT_MAP_END);
    if (!bm_pa)
        panic("frame_init: no room for a %llu-byte bitmap below 0x%llx",
              (unsigned long long)bm_bytes, (unsigned long long)ARCH_BOOT_DIRECT_MAP_END);
    res[nres].base = bm_pa;
    res[nres].size = bm_bytes;
    nres++;
    bitmap = arch_phys_to_virt(bm_pa);
    memset(bitmap, 0, maps * nwords * 8);
    cached_map = KERNEL_DEBUG ? bitmap + nwords : 0;
    for (size_t i = 0; i < nuse; i++)
        bits_fill(use[i].base / ARCH_FRAME_SIZE, (use[i].base + use[i].size) / ARCH_FRAME_SIZE, 1);
    uint64_t usable = pop_range();
    for (size_t j = 0; j < nres; j++) {
        uint64_t lo = res[j].base / ARCH_FRAME_SIZE;
        uint64_t hi = (res[j].base + res[j].size + ARCH_FRAME_SIZE - 1) / ARCH_FRAME_SIZE;
        if (hi > nframes)
            hi = nframes;
        if (lo < hi)
            bits_fill(lo, hi, 0);
    }
    if (nframes)
        bitmap[0] &= ~1ull;     /* frame 0 is never handed out: 0 means "none" */
    bitmap_free = pop_range();
    total_frames = bitmap_free;
    __atomic_store_n(&free_count, bitmap_free, __ATOMIC_RELAXED);
    reserved_frames = usable - bitmap_free;
    init_cycles = arch_cycles() - c0;
    init_ns = arch_nanotime() - t0;
}

/* Caller holds frame_lock. Takes up to n single frames from the bitmap into out. */
static unsigned take_frames(uint64_t *out, unsigned n)
{
    unsigned got = 0;
    for (uint64_t scanned = 0; got < n && scanned < nwords && bitmap_free; scanned++) {
        uint64_t w = hint;
        while (bitmap[w] && got < n) {
            unsigned b = (unsigned)__builtin_ctzll(bitmap[w]);
            bitmap[w] &= bitmap[w] - 1;
            out[got++] = ((w << 6) + b) * ARCH_FRAME_SIZE;
            bitmap_free--;
        }
        if (got < n)
            hint = hint + 1 == nwords ? 0 : hint + 1;
    }
    return got;
}

/* cached_map's bit for pa (KERNEL_DEBUG): set as the frame enters a CPU's cache,
 * cleared as it leaves; returns whether it was set. test: does it sit in one. */
static inline int cached_set(uint64_t pa, int in)
{
    uint64_t f = pa / ARCH_FRAME_SIZE, bit = 1ull << (f & 63);
    if (in)
        return (__atomic_fetch_or(&cached_map[f >> 6], bit, __ATOMIC_RELAXED) & bit) != 0;
    return (__atomic_fetch_and(&cached_map[f >> 6], ~bit, __ATOMIC_RELAXED) & bit) != 0;
}
static inline int cached_test(uint64_t pa)
{
    uint64_t f = pa / ARCH_FRAME_SIZE;
    return (__atomic_load_n(&cached_map[f >> 6], __ATOMIC_RELAXED) >> (f & 63)) & 1;
}

static _Noreturn void double_free(uint64_t pa)
{
    panic("frame_free: double free of frame 0x%llx", (unsigned long long)pa);
}

/* Caller holds frame_lock. in_run: frame_free_run's or frame_free_batch's frame, which
 * must not sit in a cache either (freed singly before: the bitmap cannot show it). */
static void put_frame(uint64_t pa, int in_run)
{
    uint64_t f = pa / ARCH_FRAME_SIZE;
    if (pa & (ARCH_FRAME_SIZE - 1) || f >= nframes || f == 0)
        panic("frame_free: bad frame 0x%llx (max 0x%llx)", (unsigned long long)pa,
              (unsigned long long)max_pa);
    if (bit_test(f) || (KERNEL_DEBUG && in_run && cached_test(pa)))
        double_free(pa);
    bitmap[f >> 6] |= 1ull << (f & 63);
    bitmap_free++;
}

/* This CPU's cache c, from the bitmap: up to CACHE_BATCH frames. */
static void cache_refill(struct frame_cache *c)
{
    arch_irqflags_t ff = spin_lock_irqsave(&frame_lock);
    c->n = take_frames(c->pa, CACHE_BATCH);
    for (unsigned i = 0; KERNEL_DEBUG && i < c->n; i++)
        cached_set(c->pa[i], 1);
    spin_unlock_irqrestore(&frame_lock, ff);
}

/* The last n frames of this CPU's cache c back to the bitmap. */
static void cache_drain(struct frame_cache *c, unsigned n)
{
    arch_irqflags_t ff = spin_lock_irqsave(&frame_lock);
    while (n--) {
        uint64_t pa = c->pa[--c->n];
        if (KERNEL_DEBUG)
            cached_set(pa, 0);
        put_frame(pa, 0);
    }
    spin_unlock_irqrestore(&frame_lock, ff);
}

static inline void not_in_irq(const char *fn)
{
    if (KERNEL_DEBUG && this_cpu()->irq_depth)
        panic("%s called from an interrupt handler on cpu %u", fn, cpu_index());
}

frame_reclaimer_fn frame_set_reclaimer(frame_reclaimer_fn fn)
{
    return __atomic_exchange_n(&reclaimer, fn, __ATOMIC_ACQ_REL);
}

/* Out of frames: asks the reclaimer for `bytes` when this context may wait; 1 when it
 * gave some back. */
static int pull(size_t bytes)
{
    frame_reclaimer_fn fn = __atomic_load_n(&reclaimer, __ATOMIC_ACQUIRE);
    struct cpu *cpu = this_cpu();
    if (!fn)
        return 0;
    if (!arch_irqs_enabled() || cpu->irq_depth || cpu->locks_held || cpu->frame_pulling) {
        __atomic_fetch_add(&pulls_refused, 1, __ATOMIC_RELAXED);
        return 0;
    }
    cpu->frame_pulling = 1;
    size_t got = fn(bytes < PULL_BYTES ? PULL_BYTES : bytes);
    cpu->frame_pulling = 0;
    if (!got)
        return 0;
    __atomic_fetch_add(&pulls, 1, __ATOMIC_RELAXED);
    /* What the reclaimer says it unmapped, every byte of it backed: the change in
     * frame_free_count() over the call also counted every other CPU's frees and
     * allocations meanwhile (kheap-pressure-lazy: 125,464 frames "pulled" of 117,914
     * reclaimed; an allocation elsewhere could make it negative). */
    __atomic_fetch_add(&pulled_frames, got / ARCH_FRAME_SIZE, __ATOMIC_RELAXED);
    return 1;
}

uint64_t frame_alloc(unsigned flags)
{
    not_in_irq("frame_alloc");
    struct frame_cache *c = &caches[cpu_index()];
    if (c->n == 0)
        cache_refill(c);
    /* The pull's freed frames went back to the bitmap (an unmap frees them in batches,
     * frame_free_batch) or, freed one by one, to this CPU's cache: refill if empty. */
    if (c->n == 0 && !(flags & FRAME_NOPULL) && pull(ARCH_FRAME_SIZE) && c->n == 0)
        cache_refill(c);
    uint64_t pa = c->n ? c->pa[--c->n] : 0;
    if (pa) {
        if (KERNEL_DEBUG)
            cached_set(pa, 0);
        __atomic_fetch_sub(&free_count, 1, __ATOMIC_RELAXED);
    }
    if (pa && (flags & FRAME_ZERO))
        memset(arch_phys_to_virt(pa), 0, ARCH_FRAME_SIZE);
    return pa;
}

void frame_free(uint64_t pa)
{
    if (KERNEL_DEBUG && (pa == 0 || (pa & (ARCH_FRAME_SIZE - 1)) || pa >= max_pa))
        panic("frame_free: bad frame 0x%llx (max 0x%llx)", (unsigned long long)pa,
              (unsigned long long)max_pa);
    not_in_irq("frame_free");
    struct frame_cache *c = &caches[cpu_index()];
    if (KERNEL_DEBUG) {
        /* A second free must not wait for a drain to be caught: until then both copies
         * sit in caches and the frame goes to two owners. Free in the bitmap or in any
         * CPU's cache (cached_map, set here as the frame enters this one) is a double
         * free. Without the lock: a frame the caller owns has both bits clear, and
         * only a free of this frame sets them. */
        uint64_t f = pa / ARCH_FRAME_SIZE;
        if (((__atomic_load_n(&bitmap[f >> 6], __ATOMIC_RELAXED) >> (f & 63)) & 1) || cached_set(pa, 1))
            double_free(pa);
    }
    if (c->n == CACHE_MAX)
        cache_drain(c, CACHE_BATCH);
    c->pa[c->n++] = pa;
    __atomic_fetch_add(&free_count, 1, __ATOMIC_RELAXED);
}

void frame_drain_local(void)
{
    not_in_irq("frame_drain_local");
    struct frame_cache *c = &caches[cpu_index()];
    cache_drain(c, c->n);
}

/* Caller holds frame_lock. First frame >= f that is not free, or hi. */
static uint64_t first_used(uint64_t f, uint64_t hi)
{
    while (f < hi) {
        uint64_t w = ~bitmap[f >> 6] >> (f & 63);
        if (w)
            return f + (uint64_t)__builtin_ctzll(w) < hi ? f + (uint64_t)__builtin_ctzll(w) : hi;
        f = (f | 63) + 1;
    }
    return hi;
}

/* Caller holds frame_lock. First free frame >= f, or nframes. */
static uint64_t first_free(uint64_t f)
{
    while (f < nframes) {
        uint64_t w = bitmap[f >> 6] >> (f & 63);
        if (w)
            return f + (uint64_t)__builtin_ctzll(w);
        f = (f | 63) + 1;
    }
    return nframes;
}

/* Caller holds frame_lock. The first run of n free frames aligned to `align`, taken;
 * 0 if none. */
static uint64_t take_run(size_t n, size_t align);

uint64_t frame_alloc_run(size_t n, size_t align, unsigned flags)
{
    if (n == 0 || align == 0 || (align & (align - 1)))
        panic("frame_alloc_run: bad request n=%zu align=%zu", n, align);
    not_in_irq("frame_alloc_run");
    arch_irqflags_t ff = spin_lock_irqsave(&frame_lock);
    uint64_t found = take_run(n, align);
    spin_unlock_irqrestore(&frame_lock, ff);
    if (!found && pull(n * ARCH_FRAME_SIZE)) {
        frame_drain_local(); /* runs come from the bitmap only */
        ff = spin_lock_irqsave(&frame_lock);
        found = take_run(n, align);
        spin_unlock_irqrestore(&frame_lock, ff);
    }
    if (found && (flags & FRAME_ZERO))
        memset(arch_phys_to_virt(found), 0, n * ARCH_FRAME_SIZE);
    return found;
}

static uint64_t take_run(size_t n, size_t align)
{
    uint64_t f = 1;
    while (f + n <= nframes) {
        f = first_free(f);
        f = (f + align - 1) & ~(uint64_t)(align - 1);
        if (f + n > nframes)
            break;
        uint64_t u = first_used(f, f + n);
        if (u == f + n) {
            bits_fill(f, f + n, 0);
            bitmap_free -= n;
            __atomic_fetch_sub(&free_count, n, __ATOMIC_RELAXED);
            return f * ARCH_FRAME_SIZE;
        }
        f = u + 1;
    }
    return 0;
}

void frame_free_run(uint64_t pa, size_t n)
{
    not_in_irq("frame_free_run");
    arch_irqflags_t ff = spin_lock_irqsave(&frame_lock);
    for (size_t i = 0; i < n; i++)
        put_frame(pa + i * ARCH_FRAME_SIZE, 1);
    __atomic_fetch_add(&free_count, n, __ATOMIC_RELAXED);
    spin_unlock_irqrestore(&frame_lock, ff);
}

void frame_free_batch(struct frame_batch *b)
{
    if (!b->n)
        return;
    not_in_irq("frame_free_batch");
    arch_irqflags_t ff = spin_lock_irqsave(&frame_lock);
    for (unsigned i = 0; i < b->n; i++)
        put_frame(b->pa[i], 1);
    __atomic_fetch_add(&free_count, b->n, __ATOMIC_RELAXED);
    spin_unlock_irqrestore(&frame_lock, ff);
    b->n = 0;
}

uint64_t frame_free_count(void)
{
    return __atomic_load_n(&free_count, __ATOMIC_RELAXED);
}

void frame_stats(struct frame_stats *out)
{
    memset(out, 0, sizeof *out);
    /* cached is a racy sum (informational); free is exact (see free_count). */
    for (unsigned i = 0; i < MAX_CPUS; i++) {
        uint64_t n = __atomic_load_n(&caches[i].n, __ATOMIC_RELAXED);
        out->cached += n;
        if (i < 64)
            out->cached_cpu[i] = n;
    }
    out->total = total_frames;
    out->free = __atomic_load_n(&free_count, __ATOMIC_RELAXED);
    out->reserved = reserved_frames;
    out->max_pa = max_pa;
    out->init_ns = init_ns;
    out->init_cycles = init_cycles;
    out->pulls = __atomic_load_n(&pulls, __ATOMIC_RELAXED);
    out->pulled_frames = __atomic_load_n(&pulled_frames, __ATOMIC_RELAXED);
    out->pulls_refused = __atomic_load_n(&pulls_refused, __ATOMIC_RELAXED);
}
