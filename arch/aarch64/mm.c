/* arch/aarch64/mm.c: the kernel page tables (4 KiB granule, 4 levels, TTBR1): the
 * early direct map from a static table pool, map/unmap/translate for the rest of the
 * kernel, and TLB maintenance by broadcast TLBI (no IPIs). */
#include <arch/paging.h>
#include <arch/sysregs.h>
#include <frame.h>
#include <panic.h>
#include <spinlock.h>
#include <string.h>
#include <vm.h>
#include <arch/a64.h>

typedef uint64_t pte_t;

extern pte_t kernel_l0[512];            /* boot/aarch64/entry.S: the TTBR1 root */
extern char __kernel_start[], _kernel_end[];

/* Tables for the direct map before the frame allocator exists. 16 tables cover up to
 * 16 GiB-regions that are not 1 GiB-aligned at both ends (QEMU virt has one RAM range,
 * which needs at most 2), so the pool never runs out here; if it did, arch_mm_init
 * maps the rest with frame-allocator tables. */
#define EARLY_POOL_TABLES 16
static pte_t early_pool[EARLY_POOL_TABLES][512] __attribute__((aligned(4096)));
static unsigned early_pool_used;

/* protected by pt_lock: every kernel page-table entry outside the early boot. Taken
 * with interrupts masked, as on x86_64 (arch/x86_64/mm.c says why: the heap's flush
 * runs in goheap_sys_each_cpu's IPI handler and takes locks ranked below this one);
 * never held across a wait for another CPU (TLB maintenance needs no handler here). */
static struct spinlock pt_lock = SPINLOCK_INIT("pagetable", LOCK_RANK_PAGETABLE);
/* Software bit of an invalid descriptor (the MMU ignores all its other bits): unmapped,
 * its frame not released yet (arch_unmap's phase 1 to 3; x86_64's PTE_ZOMBIE). Only
 * leaf entries (pages, blocks) become zombies; a zombie is never overwritten. */
#define PTE_ZOMBIE (_UL(1) << 55)
static int use_frame_alloc;             /* set by arch_mm_init: tables from frames */

static int idx(uintptr_t va, int level) { return (va >> (39 - 9 * level)) & 511; }

/* A table's virtual address from its physical one. Tables in the image (the root,
 * early tables, the pool) are reached through the image mapping, since the direct
 * map may not cover them yet; frame-allocator tables through the direct map. */
static pte_t *table_va(uint64_t pa)
{
    uint64_t ks = arch_virt_to_phys(__kernel_start), ke = arch_virt_to_phys(_kernel_end);
    if (pa >= ks && pa < ke)
        return (pte_t *)(uintptr_t)(pa + ARCH_KERNEL_BASE);
    return (pte_t *)arch_phys_to_virt(pa);
}

static uint64_t new_table(void)
{
    if (use_frame_alloc)
        return frame_alloc(FRAME_ZERO);
    if (early_pool_used == EARLY_POOL_TABLES)
        return 0;
    return arch_virt_to_phys(early_pool[early_pool_used++]);   /* .bss: already zero */
}

/* Publish a descriptor. The table it points to (zeroed) and any data it maps must be
 * visible to other CPUs' table walkers first: the store is a release (ordered after
 * earlier stores, and walks are coherent with the data cache since TCR says
 * inner-shareable write-back walks). */
static void set_pte(pte_t *p, pte_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Entry for va at `level` (2: 2 MiB block, 3: 4 KiB page), creating tables on the way
 * when `create` (with spare, from the zeroed frame *spare the caller took with the
 * lock dropped, consumed: *spare = 0). Returns NULL with *err = -1 when a table is
 * missing (and !create) or no frame was left for one (VM_PREPARE_NEED_FRAME: *spare
 * was 0), -2 when a block mapping (or a block being unmapped: a zombie) covers va at a
 * higher level. Caller holds pt_lock
 * (or is the boot CPU before SMP). */
static pte_t *walk_err(uintptr_t va, int level, int create, int *err, uint64_t *spare)
{
    pte_t *t = kernel_l0;
    for (int l = 0; l < level; l++) {
        pte_t *e = &t[idx(va, l)];
        pte_t d = *e;
        if (!(d & PTE_VALID) && (d & PTE_ZOMBIE)) {
            *err = -2;                      /* a block being unmapped (arch_unmap) */
            return NULL;
        }
        if (!(d & PTE_VALID)) {
            uint64_t pa = !create ? 0 : spare ? *spare : new_table();
            if (!pa) {
                *err = create && spare ? VM_PREPARE_NEED_FRAME : -1;
                return NULL;
            }
            if (spare)
                *spare = 0;
            set_pte(e, pa | PTE_VALID | PTE_TABLE);
            d = *e;
        } else if (!(d & PTE_TABLE)) {
            *err = -2;
            return NULL;
        }
        t = table_va(d & PTE_ADDR_MASK);
    }
    return &t[idx(va, level)];
}

static pte_t *walk(uintptr_t va, int level, int create)
{
    int err;
    return walk_err(va, level, create, &err, 0);
}

/* Make new valid entries visible to this CPU's walker before the next access: DSB
 * ISHST completes the stores (for every CPU's walker), ISB resynchronises this CPU.
 * Entries that were invalid cannot be in any TLB (translation faults are not cached),
 * so no invalidation is needed for new mappings. */
static void publish_new(void)
{
    __asm__ volatile("dsb ishst\n\tisb" : : : "memory");
}

void mmu_early_map(uint64_t pa, uint64_t size, uint64_t attr)
{
    uint64_t end = (pa + size + ARCH_LARGE_SIZE - 1) & ~(ARCH_LARGE_SIZE - 1);
    pa &= ~(ARCH_LARGE_SIZE - 1);
    while (pa < end) {
        uintptr_t va = (uintptr_t)arch_phys_to_virt(pa);
        pte_t *l1 = walk(va, 1, 1);
        if (!l1)
            panic("mmu: early table pool exhausted mapping pa 0x%lx", (unsigned long)pa);
        if ((pa & ((1ul << 30) - 1)) == 0 && end - pa >= (1ul << 30) && !(*l1 & PTE_VALID)) {
            set_pte(l1, pa | attr);                             /* a 1 GiB block */
            pa += 1ul << 30;
            continue;
        }
        pte_t *l2 = walk(va, 2, 1);
        if (!l2) {
            if (*l1 & PTE_VALID)                                /* inside a 1 GiB block */
                pa = (pa | ((1ul << 30) - 1)) + 1;
            else
                panic("mmu: early table pool exhausted mapping pa 0x%lx", (unsigned long)pa);
            continue;
        }
        if (!(*l2 & PTE_VALID))
            set_pte(l2, pa | attr);
        pa += ARCH_LARGE_SIZE;
    }
    publish_new();
}

void mmu_early_pool_range(struct mem_range *r)
{
    r->base = arch_virt_to_phys(early_pool);
    r->size = sizeof early_pool;
}

void arch_mm_init(void)
{
    /* The direct map of all RAM was built from the static pool in arch_early_init
     * (it never runs out on QEMU virt); from now on tables come from frames. */
    use_frame_alloc = 1;
}

static pte_t leaf_bits(unsigned flags)
{
    pte_t v = PTE_VALID | PTE_AF | PTE_UXN;
    if (flags & ARCH_MAP_DEVICE)
        v |= PTE_ATTR(MT_DEVICE_nGnRE) | PTE_PXN;
    else
        v |= PTE_ATTR(MT_NORMAL) | PTE_SH_INNER;
    if (!(flags & ARCH_MAP_EXEC))
        v |= PTE_PXN;
    if (!(flags & ARCH_MAP_WRITE))
        v |= PTE_AP_RO;
    return v;
}

static int map_one(uintptr_t va, uint64_t pa, unsigned flags, int level)
{
    arch_irqflags_t ptf = spin_lock_irqsave(&pt_lock);
    int r = 0;
    pte_t *e = walk_err(va, level, 1, &r, 0);
    if (e && (*e & (PTE_VALID | PTE_ZOMBIE)))
        r = -2;
    else if (e)
        set_pte(e, pa | leaf_bits(flags) | (level == 3 ? PTE_PAGE : 0));
    spin_unlock_irqrestore(&pt_lock, ptf);
    publish_new();
    return r;
}

int arch_map_page(uintptr_t va, uint64_t pa, unsigned flags)
{
    if ((va | pa) & (ARCH_FRAME_SIZE - 1))
        panic("arch_map_page: unaligned va 0x%lx pa 0x%lx", (unsigned long)va, (unsigned long)pa);
    return map_one(va, pa, flags, 3);
}

int arch_map_large(uintptr_t va, uint64_t pa, unsigned flags)
{
    if ((va | pa) & (ARCH_LARGE_SIZE - 1))
        panic("arch_map_large: unaligned va 0x%lx pa 0x%lx", (unsigned long)va, (unsigned long)pa);
    return map_one(va, pa, flags, 2);
}

int arch_translate(uintptr_t va, uint64_t *pa)
{
    pte_t *t = kernel_l0;
    for (int l = 0; l <= 3; l++) {
        pte_t d = __atomic_load_n(&t[idx(va, l)], __ATOMIC_ACQUIRE);
        if (!(d & PTE_VALID))
            return 0;
        if (l == 3 || !(d & PTE_TABLE)) {
            if (l == 0)
                return 0;                                       /* no L0 blocks with 4K */
            uint64_t sz = 1ul << (39 - 9 * l);
            *pa = (d & PTE_ADDR_MASK & ~(sz - 1)) | (va & (sz - 1));
            return 1;
        }
        t = table_va(d & PTE_ADDR_MASK);
    }
    return 0;
}

/* Above this many pages, one VMALLE1(IS) is cheaper than per-page TLBIs: 512 pages
 * (2 MiB) is where per-page invalidation starts to cost more than refilling the TLB
 * (same threshold as Linux's MAX_TLBI_OPS). */
#define TLBI_RANGE_MAX_PAGES 512

static unsigned long shootdowns; /* __atomic: broadcast rounds, arch_tlb_shootdowns() */

unsigned long arch_tlb_shootdowns(void) { return __atomic_load_n(&shootdowns, __ATOMIC_RELAXED); }

static void tlbi_range(uintptr_t va, size_t bytes, int broadcast)
{
    if (broadcast)
        __atomic_fetch_add(&shootdowns, 1, __ATOMIC_RELAXED);
    size_t pages = (bytes + ARCH_FRAME_SIZE - 1) >> ARCH_FRAME_SHIFT;
    /* Order the preceding page-table stores before the invalidation: a walk started
     * after the TLBI must see the cleared entry. */
    __asm__ volatile("dsb ishst" : : : "memory");
    if (pages > TLBI_RANGE_MAX_PAGES) {
        if (broadcast)
            __asm__ volatile("tlbi vmalle1is" : : : "memory");
        else
            __asm__ volatile("tlbi vmalle1" : : : "memory");
    } else {
        for (size_t i = 0; i < pages; i++) {
            uint64_t op = ((va + (i << ARCH_FRAME_SHIFT)) >> 12) & ((1ul << 44) - 1);
            if (broadcast)
                __asm__ volatile("tlbi vaae1is, %0" : : "r"(op) : "memory");
            else
                __asm__ volatile("tlbi vaae1, %0" : : "r"(op) : "memory");
        }
    }
    /* DSB waits until the invalidations are complete on every CPU the TLBI reached
     * (IS: all CPUs in the inner shareable domain); ISB discards anything this CPU
     * fetched using the old translation. */
    if (broadcast)
        __asm__ volatile("dsb ish\n\tisb" : : : "memory");
    else
        __asm__ volatile("dsb nsh\n\tisb" : : : "memory");
}

void arch_tlb_flush_local(uintptr_t va, size_t bytes) { tlbi_range(va, bytes, 0); }
void arch_tlb_shootdown(uintptr_t va, size_t bytes) { tlbi_range(va, bytes, 1); }

/* Caller holds pt_lock. The last-level table covering va (NULL with *err set as
 * walk_err sets it). */
static pte_t *leaf_table(uintptr_t va, int create, int *err, uint64_t *spare)
{
    pte_t *e = walk_err(va, 3, create, err, spare);
    return e ? e - idx(va, 3) : 0;
}

/* Break-before-make holds without a window: no entry goes from one valid value to
 * another. Each destination entry goes invalid -> valid (a new mapping, which needs no
 * invalidation first: translation faults are never held in a TLB, and the heap gives
 * only ranges that were never mapped or were unmapped with a broadcast TLBI); each
 * source entry valid -> invalid (the break), followed by one broadcast invalidation of
 * the old range: DSB ISHST (the cleared entries visible to every walker), TLBI VAAE1IS
 * per page or VMALLE1IS above 512 pages, DSB ISH (done on every CPU), ISB. Until then
 * a frame may be reachable at both addresses with the same attributes (Normal,
 * write-back, inner shareable), and such aliases are coherent on ARMv8, so a racing
 * access through a stale old translation (a use after realloc) still reaches the
 * frame. New tables are zeroed and published with release stores before any entry
 * in them. */
/* Caller holds pt_lock. The last-level tables of s and d, looked up again only where
 * s or d starts a new 2 MiB region (or nothing is known yet). */
static void leaf_tables(uintptr_t s, uintptr_t d, pte_t **st, pte_t **dt, int *err)
{
    if (!*st || !(s & (ARCH_LARGE_SIZE - 1)))
        *st = leaf_table(s, 0, err, 0);
    if (!*dt || !(d & (ARCH_LARGE_SIZE - 1)))
        *dt = leaf_table(d, 0, err, 0);
}

/* vm_prepare_tables' step (kernel/vm.h): one hold of pt_lock, at most one table
 * installed. */
static int prepare_step(uintptr_t va, uint64_t *spare)
{
    int err = 0;
    arch_irqflags_t ptf = spin_lock_irqsave(&pt_lock);
    leaf_table(va, 1, &err, spare);
    spin_unlock_irqrestore(&pt_lock, ptf);
    return err;
}

int arch_map_prepare(uintptr_t va, size_t bytes)
{
    return vm_prepare_tables(va, bytes, prepare_step, 0);
}

int arch_remap(uintptr_t old, uintptr_t new, size_t bytes)
{
    if ((old | new | bytes) & (ARCH_FRAME_SIZE - 1) || (old < new + bytes && new < old + bytes))
        panic("arch_remap: bad ranges 0x%lx -> 0x%lx + 0x%lx", (unsigned long)old, (unsigned long)new,
              (unsigned long)bytes);
    /* 1. Every table the destination needs, before anything moves: out of frames
     * here (-1; no pull: arch_paging.h says why), nothing has changed but tables added (kept,
     * as always, so they are still there under the lock taken again below). A block
     * mapping over it: -2. */
    int err = vm_prepare_tables(new, bytes, prepare_step, FRAME_NOPULL);
    arch_irqflags_t ptf = spin_lock_irqsave(&pt_lock);
    /* 2. Every source entry a valid 4 KiB page, every destination entry invalid; the
     * last-level tables looked up once per 2 MiB. */
    pte_t *st = 0, *dt = 0;
    for (size_t off = 0; off < bytes && !err; off += ARCH_FRAME_SIZE) {
        uintptr_t s = old + off, d = new + off;
        int e = 0;
        leaf_tables(s, d, &st, &dt, &e);
        if (!st || !dt || !(st[idx(s, 3)] & PTE_VALID) || (st[idx(s, 3)] & PTE_TABLE) != PTE_PAGE ||
            (dt[idx(d, 3)] & (PTE_VALID | PTE_ZOMBIE)))
            err = -2;
    }
    /* 3. The move: each entry to its new place, then the old one cleared. */
    st = dt = 0;
    for (size_t off = 0; off < bytes && !err; off += ARCH_FRAME_SIZE) {
        uintptr_t s = old + off, d = new + off;
        leaf_tables(s, d, &st, &dt, &err);
        set_pte(&dt[idx(d, 3)], st[idx(s, 3)]);
        set_pte(&st[idx(s, 3)], 0);
    }
    spin_unlock_irqrestore(&pt_lock, ptf);
    if (err)
        return err;
    publish_new();
    /* 4. One broadcast round: no CPU translates the old range any more. */
    tlbi_range(old, bytes, 1);
    return 0;
}

/* arch_unmap's walk over the leaf entries of [va, end): 4 KiB pages and 2 MiB blocks
 * (a 1 GiB block, or a block the range cuts, panics: only the boot direct map has
 * them). */
struct unmap_walk {
    uintptr_t start;
    size_t bytes;               /* the whole range, for the panic message */
    unsigned flags;             /* ARCH_UNMAP_FREE */
    unsigned long cleared;      /* phase 1: entries made zombies */
    size_t frames;              /* phase 3: 4 KiB frames unmapped (a 2 MiB block: 512) */
    struct frame_batch batch;   /* phase 3: freed frames, given back 64 per frame-lock hold */
};

static inline int leaf_wanted(pte_t d, pte_t want)
{
    return want ? (d & (PTE_VALID | PTE_ZOMBIE)) == PTE_ZOMBIE : (d & PTE_VALID) != 0;
}

/* Caller holds pt_lock. From va, the leaf entries of [va, end) up to the next 2 MiB
 * boundary (one last-level table, so a hold of the lock stays short; a block or a hole
 * may carry it further) that are valid (want 0) or zombies (want PTE_ZOMBIE), each
 * passed to visit with its size; others are skipped like holes, absent subtrees whole.
 * A last-level table is walked to once and its entries visited in one loop. Returns
 * where it stopped. */
static uintptr_t visit_leaves(uintptr_t va, uintptr_t end, pte_t want, struct unmap_walk *w,
                              void (*visit)(pte_t *e, uint64_t sz, struct unmap_walk *w))
{
    uintptr_t last = va | (ARCH_LARGE_SIZE - 1);   /* (no overflow at the top of the space) */
    while (va < end && va <= last) {
        uint64_t step = 0;
        pte_t *t = kernel_l0;
        for (int l = 0; !step; l++) {
            pte_t *e = &t[idx(va, l)];
            if (l == 3) {
                /* The last-level table: every entry up to the 2 MiB boundary or end. */
                uintptr_t stop = end - 1 < last ? end - 1 : last;       /* inclusive */
                for (uintptr_t v = va;; v += ARCH_FRAME_SIZE, e++) {
                    if (leaf_wanted(*e, want))
                        visit(e, ARCH_FRAME_SIZE, w);
                    if (v >= stop - (ARCH_FRAME_SIZE - 1))
                        break;
                }
                return stop + 1;
            }
            pte_t d = *e;
            uint64_t sz = 1ul << (39 - 9 * l);
            if ((d & PTE_VALID) && (d & PTE_TABLE)) {
                t = table_va(d & PTE_ADDR_MASK);
                continue;
            }
            if (!leaf_wanted(d, want)) {
                step = sz - (va & (sz - 1));                    /* a hole: skip it whole */
                continue;
            }
            if (l < 2 || (va & (sz - 1)) || end - va < sz)
                panic("arch_unmap: partial unmap of a %lu KiB block at 0x%lx (range 0x%lx+0x%lx)",
                      (unsigned long)(sz >> 10), (unsigned long)(va & ~(sz - 1)),
                      (unsigned long)w->start, (unsigned long)w->bytes);
            visit(e, sz, w);
            step = sz;
        }
        va = (end - va <= step) ? end : va + step;
    }
    return va;
}

/* Phase 1: invalid, the frame address kept (the MMU ignores every other bit of an
 * invalid descriptor) until every TLB forgot the entry. */
static void make_zombie(pte_t *e, uint64_t sz, struct unmap_walk *w)
{
    (void)sz;
    set_pte(e, (*e & ~PTE_VALID) | PTE_ZOMBIE);
    w->cleared++;
}

/* Phase 3: after the invalidation round, the entry cleared, its frames counted and
 * released (single frames gathered into w->batch). */
static void bury(pte_t *e, uint64_t sz, struct unmap_walk *w)
{
    uint64_t pa = *e & PTE_ADDR_MASK;
    set_pte(e, 0);
    w->frames += sz >> ARCH_FRAME_SHIFT;
    if (!(w->flags & ARCH_UNMAP_FREE))
        return;
    if (sz == ARCH_FRAME_SIZE)
        frame_batch_add(&w->batch, pa);
    else
        frame_free_run(pa, sz >> ARCH_FRAME_SHIFT);
}

/* Three phases, as on x86_64: every entry of the range made a zombie (one hold of
 * pt_lock per 2 MiB), then ONE broadcast invalidation round for the whole range (per
 * page up to 512 pages, else VMALLE1IS: tlbi_range), then the zombies cleared, counted
 * and their frames freed (64 per frame-lock hold). A zombie is invalid to the MMU but
 * still names its frame, so nothing
 * needs to be remembered across the round however large the range (before, a stack
 * batch of 64 frames made one round of per-page TLBIs per 256 KiB: 16 rounds and 1,024
 * TLBIs for a 4 MiB release, where VMALLE1IS was never reached), and map_one, the
 * table walk and arch_remap refuse a zombie as they refuse a valid entry, so no frame
 * is lost under a new mapping before the round. */
size_t arch_unmap(uintptr_t va, size_t bytes, unsigned flags)
{
    if ((va | bytes) & (ARCH_FRAME_SIZE - 1))
        panic("arch_unmap: unaligned va 0x%lx bytes 0x%lx", (unsigned long)va, (unsigned long)bytes);
    if (bytes == 0)
        return 0;
    uintptr_t end = va + bytes;
    struct unmap_walk w = { .start = va, .bytes = bytes, .flags = flags };
    for (uintptr_t v = va; v < end;) {
        arch_irqflags_t ptf = spin_lock_irqsave(&pt_lock);
        v = visit_leaves(v, end, 0, &w, make_zombie);
        spin_unlock_irqrestore(&pt_lock, ptf);
    }
    if (!w.cleared)
        return 0;
    /* Every CPU forgets the range before any of its frames can be handed out again. */
    tlbi_range(va, bytes, 1);
    for (uintptr_t v = va; v < end;) {
        arch_irqflags_t ptf = spin_lock_irqsave(&pt_lock);
        v = visit_leaves(v, end, PTE_ZOMBIE, &w, bury);
        spin_unlock_irqrestore(&pt_lock, ptf);
    }
    frame_free_batch(&w.batch);
    return w.frames;
}
