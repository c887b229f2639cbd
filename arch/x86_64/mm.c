/* arch/x86_64/mm.c: 4-level page tables of the one kernel address space. Builds the
 * direct map of all usable RAM with 2 MiB pages, maps and unmaps 4 KiB / 2 MiB pages,
 * and shoots down TLBs on every online CPU with one IPI round per range. */
#include <stdint.h>
#include <string.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/x86.h>
#include <arch/x86_cpu.h>
#include <arch_api.h>
#include <frame.h>
#include <kconfig.h>
#include <panic.h>
#include <percpu.h>
#include <smp.h>
#include <spinlock.h>
#include <vm.h>

#define PTE_P    (1ull << 0)
#define PTE_W    (1ull << 1)
#define PTE_PWT  (1ull << 3)
#define PTE_PCD  (1ull << 4)
#define PTE_PS   (1ull << 7)
#define PTE_ZOMBIE (1ull << 9)  /* software: unmapped, frame not yet released (see unmap) */
#define PTE_NX   (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull

extern uint64_t boot_pml4[512];                 /* boot.S */

/* Serialises every change to the kernel page tables. Rank: above heap locks (the heap
 * maps while holding its own), below the frame allocator (tables come from it).
 * Taken with interrupts masked (never held across a wait for another CPU: the
 * shootdown runs with it dropped): goheap_sys_each_cpu's IPI handler runs the heap's
 * flush, which takes allocator locks ranked below this one, and on a CPU holding it
 * that would invert the order (a heap-lock holder mapping waits for it, while its
 * holder's handler waits for the heap lock). realloc's move (arch_remap) and the
 * unpinned maps and unmaps of the heap hold it with interrupts otherwise on. */
static struct spinlock pt_lock = SPINLOCK_INIT("pagetable", LOCK_RANK_PAGETABLE);

static inline uint64_t *table_at(uint64_t entry)
{
    return arch_phys_to_virt(entry & PTE_ADDR);
}

static uint64_t leaf_bits(unsigned flags)
{
    uint64_t e = PTE_P;
    if (flags & ARCH_MAP_WRITE) e |= PTE_W;
    if (!(flags & ARCH_MAP_EXEC)) e |= PTE_NX;
    if (flags & ARCH_MAP_DEVICE) e |= PTE_PCD | PTE_PWT;
    return e;
}

/* Caller holds pt_lock. The entry's next-level table, allocated (zeroed) if absent:
 * with spare, the zeroed frame *spare (taken by the caller with the lock dropped;
 * consumed, *spare = 0), else from the frame allocator; NULL when out of frames (or
 * *spare is 0) or the entry is a large page. */
static uint64_t *next_level(uint64_t *e, int create, uint64_t *spare)
{
    if (*e & PTE_P)
        return (*e & PTE_PS) ? 0 : table_at(*e);
    if (!create || (*e & PTE_ZOMBIE))
        return 0;
    uint64_t pa = spare ? *spare : frame_alloc(FRAME_ZERO);
    if (!pa)
        return 0;
    if (spare)
        *spare = 0;
    *e = pa | PTE_P | PTE_W;    /* intermediate levels permissive; leaves decide */
    return table_at(*e);
}

static inline unsigned idx(uintptr_t va, int level)   /* level 4 = PML4 .. 1 = PT */
{
    return (unsigned)(va >> (12 + 9 * (level - 1))) & 511;
}

static int map_one(uintptr_t va, uint64_t pa, unsigned flags, int large)
{
    uint64_t align = large ? ARCH_LARGE_SIZE : ARCH_FRAME_SIZE;
    if ((va | pa) & (align - 1))
        panic("arch_map: misaligned va 0x%lx pa 0x%llx", (unsigned long)va,
              (unsigned long long)pa);
    int err = 0;
    arch_irqflags_t ptf = spin_lock_irqsave(&pt_lock);
    uint64_t *pdpt = next_level(&boot_pml4[idx(va, 4)], 1, 0);
    uint64_t *pd = pdpt ? next_level(&pdpt[idx(va, 3)], 1, 0) : 0;
    if (!pd) {
        err = (pdpt && (pdpt[idx(va, 3)] & PTE_PS)) ? -2 : -1;
    } else if (large) {
        uint64_t *e = &pd[idx(va, 2)];
        if (*e & (PTE_P | PTE_ZOMBIE))
            err = -2;
        else
            *e = pa | leaf_bits(flags) | PTE_PS;
    } else {
        uint64_t *pde = &pd[idx(va, 2)];
        uint64_t *pt = next_level(pde, 1, 0);
        if (!pt) {
            err = (*pde & (PTE_PS | PTE_ZOMBIE)) ? -2 : -1;
        } else {
            uint64_t *e = &pt[idx(va, 1)];
            if (*e & (PTE_P | PTE_ZOMBIE))
                err = -2;
            else
                *e = pa | leaf_bits(flags);
        }
    }
    spin_unlock_irqrestore(&pt_lock, ptf);
    return err;
}

int arch_map_page(uintptr_t va, uint64_t pa, unsigned flags)
{
    return map_one(va, pa, flags, 0);
}

int arch_map_large(uintptr_t va, uint64_t pa, unsigned flags)
{
    return map_one(va, pa, flags, 1);
}

/* arch_unmap's state across its walks. */
struct unmap_walk {
    unsigned flags;             /* ARCH_UNMAP_FREE */
    size_t frames;              /* phase 3: 4 KiB frames unmapped (a 2 MiB page: 512) */
    unsigned long cleared;      /* phase 1: entries made zombies */
    struct frame_batch batch;   /* phase 3: freed frames, given back 64 per frame-lock hold */
};

/* Caller holds pt_lock. From va, the leaf entries of [va, end) up to the next 2 MiB
 * boundary (one page table or one 2 MiB page, so a hold of the lock stays short; a hole
 * carries it further, absent subtrees skipped whole) that are present or zombies, each
 * passed to visit; the page table's entries in one loop. Returns where it stopped. */
static uintptr_t walk_leaves(uintptr_t va, uintptr_t end,
                             void (*visit)(uint64_t *e, int large, struct unmap_walk *w),
                             struct unmap_walk *w)
{
    while (va < end) {
        uint64_t *l4 = &boot_pml4[idx(va, 4)];
        uintptr_t next4 = (va | ((1ul << 39) - 1)) + 1;
        if (!(*l4 & PTE_P)) {
            va = next4 > va ? next4 : end;
            continue;
        }
        uint64_t *l3 = &table_at(*l4)[idx(va, 3)];
        uintptr_t next3 = (va | ((1ul << 30) - 1)) + 1;
        if (!(*l3 & PTE_P) || (*l3 & PTE_PS)) {
            va = next3 > va ? next3 : end;  /* 1 GiB pages are never created here */
            continue;
        }
        uint64_t *l2 = &table_at(*l3)[idx(va, 2)];
        uintptr_t next2 = (va | (ARCH_LARGE_SIZE - 1)) + 1;
        uintptr_t stop = next2 > va && next2 < end ? next2 : end;
        if ((*l2 & PTE_PS) || ((*l2 & PTE_ZOMBIE) && !(*l2 & PTE_P))) {
            if ((va & (ARCH_LARGE_SIZE - 1)) || stop != next2)
                panic("arch_unmap: range [0x%lx, 0x%lx) cuts the 2 MiB page at 0x%lx",
                      (unsigned long)va, (unsigned long)end,
                      (unsigned long)(va & ~(ARCH_LARGE_SIZE - 1)));
            visit(l2, 1, w);
            return stop;
        }
        if (!(*l2 & PTE_P)) {
            va = stop;
            continue;
        }
        uint64_t *e = &table_at(*l2)[idx(va, 1)];
        for (; va < stop; va += ARCH_FRAME_SIZE, e++)
            if (*e & (PTE_P | PTE_ZOMBIE))
                visit(e, 0, w);
        return stop;
    }
    return end;
}

/* Phase 1: not present any more, but keep the frame address until the shootdown. */
static void make_zombie(uint64_t *e, int large, struct unmap_walk *w)
{
    (void)large;
    if (*e & PTE_P) {
        *e = (*e & ~PTE_P) | PTE_ZOMBIE;
        w->cleared++;
    }
}

/* Phase 3: after every TLB forgot the range, the entry cleared, its frames counted and
 * released (single frames gathered into w->batch). */
static void bury(uint64_t *e, int large, struct unmap_walk *w)
{
    uint64_t old = *e;
    if (!(old & PTE_ZOMBIE) || (old & PTE_P))
        return;
    *e = 0;
    w->frames += large ? ARCH_LARGE_SIZE / ARCH_FRAME_SIZE : 1;
    if (!(w->flags & ARCH_UNMAP_FREE))
        return;
    if (large)
        frame_free_run(old & PTE_ADDR & ~(ARCH_LARGE_SIZE - 1), ARCH_LARGE_SIZE / ARCH_FRAME_SIZE);
    else
        frame_batch_add(&w->batch, old & PTE_ADDR);
}

/* Three phases: every entry of the range made a zombie, then ONE shootdown round for
 * the whole range with pt_lock dropped, then the zombies cleared, counted and their
 * frames freed; pt_lock held for one page table (2 MiB) at a time in phases 1 and 3.
 * A range with nothing present takes no round at all (no TLB can hold an entry that
 * was not present; a range unmapped before had its round then), as on aarch64. */
size_t arch_unmap(uintptr_t va, size_t bytes, unsigned flags)
{
    if ((va | bytes) & (ARCH_FRAME_SIZE - 1))
        panic("arch_unmap: misaligned range 0x%lx + 0x%zx", (unsigned long)va, bytes);
    if (bytes == 0)
        return 0;
    uintptr_t end = va + bytes;
    struct unmap_walk w = { .flags = flags };
    for (uintptr_t v = va; v < end;) {
        arch_irqflags_t ptf = spin_lock_irqsave(&pt_lock);
        v = walk_leaves(v, end, make_zombie, &w);
        spin_unlock_irqrestore(&pt_lock, ptf);
    }
    if (!w.cleared)
        return 0;
    arch_tlb_shootdown(va, bytes);
    for (uintptr_t v = va; v < end;) {
        arch_irqflags_t ptf = spin_lock_irqsave(&pt_lock);
        v = walk_leaves(v, end, bury, &w);
        spin_unlock_irqrestore(&pt_lock, ptf);
    }
    frame_free_batch(&w.batch);
    return w.frames;
}

/* Caller holds pt_lock. The page table (level 1) covering va, created with its upper
 * levels when `create` (from *spare when spare: next_level); NULL when absent
 * (!create), out of frames (*err = -1; VM_PREPARE_NEED_FRAME with spare) or covered
 * by a large page or an unmapped-but-not-released 2 MiB zombie (*err = -2). */
static uint64_t *leaf_table(uintptr_t va, int create, int *err, uint64_t *spare)
{
    uint64_t *e = &boot_pml4[idx(va, 4)], *t = 0;
    for (int level = 3; level >= 1; level--) {
        t = next_level(e, create, spare);
        if (!t) {
            *err = !create || (*e & (PTE_P | PTE_ZOMBIE)) ? -2 : spare ? VM_PREPARE_NEED_FRAME : -1;
            return 0;
        }
        if (level > 1)
            e = &t[idx(va, level)];
    }
    return t;
}

/* Caller holds pt_lock. The page tables of s and d, looked up again only where s or
 * d starts a new 2 MiB region (or nothing is known yet). */
static void leaf_tables(uintptr_t s, uintptr_t d, uint64_t **spt, uint64_t **dpt, int *err)
{
    if (!*spt || !(s & (ARCH_LARGE_SIZE - 1)))
        *spt = leaf_table(s, 0, err, 0);
    if (!*dpt || !(d & (ARCH_LARGE_SIZE - 1)))
        *dpt = leaf_table(d, 0, err, 0);
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
        panic("arch_remap: bad ranges 0x%lx -> 0x%lx + 0x%zx", (unsigned long)old, (unsigned long)new, bytes);
    /* 1. Every page table the destination needs, before anything moves: out of frames
     * here (-1; no pull: arch_paging.h says why), nothing has changed but tables added (they are kept, as always, so they
     * are still there under the lock taken again below). */
    int err = vm_prepare_tables(new, bytes, prepare_step, FRAME_NOPULL);
    arch_irqflags_t ptf = spin_lock_irqsave(&pt_lock);
    /* 2. Every source entry a present 4 KiB page, every destination entry empty. */
    uint64_t *spt = 0, *dpt = 0;
    for (size_t off = 0; off < bytes && !err; off += ARCH_FRAME_SIZE) {
        uintptr_t s = old + off, d = new + off;
        leaf_tables(s, d, &spt, &dpt, &err);
        if (!err && (!spt || !dpt || !(spt[idx(s, 1)] & PTE_P) || (dpt[idx(d, 1)] & (PTE_P | PTE_ZOMBIE))))
            err = -2;
    }
    /* 3. The move: each entry to its new place, the old one cleared. */
    spt = dpt = 0;
    for (size_t off = 0; off < bytes && !err; off += ARCH_FRAME_SIZE) {
        uintptr_t s = old + off, d = new + off;
        leaf_tables(s, d, &spt, &dpt, &err);
        dpt[idx(d, 1)] = spt[idx(s, 1)];
        spt[idx(s, 1)] = 0;
    }
    spin_unlock_irqrestore(&pt_lock, ptf);
    if (err)
        return err;
    /* 4. One round: no CPU translates the old range any more (the new one had no
     * present entry, and x86 caches none). */
    arch_tlb_shootdown(old, bytes);
    return 0;
}

int arch_translate(uintptr_t va, uint64_t *pa)
{
    int ok = 0;
    arch_irqflags_t ptf = spin_lock_irqsave(&pt_lock);
    uint64_t e = boot_pml4[idx(va, 4)];
    if (e & PTE_P) {
        e = table_at(e)[idx(va, 3)];
        if ((e & PTE_P) && (e & PTE_PS)) {
            *pa = (e & PTE_ADDR & ~((1ull << 30) - 1)) + (va & ((1ul << 30) - 1));
            ok = 1;
        } else if (e & PTE_P) {
            e = table_at(e)[idx(va, 2)];
            if ((e & PTE_P) && (e & PTE_PS)) {
                *pa = (e & PTE_ADDR & ~(ARCH_LARGE_SIZE - 1)) + (va & (ARCH_LARGE_SIZE - 1));
                ok = 1;
            } else if (e & PTE_P) {
                e = table_at(e)[idx(va, 1)];
                if (e & PTE_P) {
                    *pa = (e & PTE_ADDR) + (va & (ARCH_FRAME_SIZE - 1));
                    ok = 1;
                }
            }
        }
    }
    spin_unlock_irqrestore(&pt_lock, ptf);
    return ok;
}

/* Beyond 64 pages a full flush (CR3 reload) is cheaper than invlpg one by one. */
#define FLUSH_ALL_PAGES 64

void arch_tlb_flush_local(uintptr_t va, size_t bytes)
{
    if (bytes / ARCH_FRAME_SIZE > FLUSH_ALL_PAGES) {
        write_cr3(read_cr3());
        return;
    }
    for (uintptr_t p = va; p < va + bytes; p += ARCH_FRAME_SIZE)
        invlpg(p);
}

struct flush_range {
    uintptr_t va;
    size_t bytes;
};

static void flush_ipi(void *arg)
{
    struct flush_range *r = arg;
    arch_tlb_flush_local(r->va, r->bytes);
}

static unsigned long shootdowns; /* __atomic: arch_tlb_shootdowns() */

unsigned long arch_tlb_shootdowns(void) { return __atomic_load_n(&shootdowns, __ATOMIC_RELAXED); }

void arch_tlb_shootdown(uintptr_t va, size_t bytes)
{
    struct flush_range r = { va, bytes };
    __atomic_fetch_add(&shootdowns, 1, __ATOMIC_RELAXED);
    if (cpus_online() <= 1) {
        arch_tlb_flush_local(va, bytes);
        return;
    }
    if (!arch_irqs_enabled())
        panic("TLB shootdown of 0x%lx+0x%zx on cpu %u with interrupts masked",
              (unsigned long)va, bytes, cpu_index());
    smp_call_all(flush_ipi, &r);        /* this CPU included; returns when all flushed */
}

/* A zeroed page-table frame for the direct map under construction: it must lie in
 * the boot direct map (ARCH_BOOT_DIRECT_MAP_END) to be written before the switch. The
 * bitmap search starts at frame 1, so these come from low memory. */
static uint64_t boot_table_entry(void)
{
    uint64_t t = frame_alloc_run(1, 1, FRAME_ZERO);
    if (!t || t >= ARCH_BOOT_DIRECT_MAP_END)
        panic("arch_mm_init: no low frame for a page table (got 0x%llx)", (unsigned long long)t);
    return t | PTE_P | PTE_W;
}

/* The direct map: every usable range (rounded out to 2 MiB) at ARCH_DIRECT_MAP_BASE,
 * writable, no-execute. Tables are built off to the side and installed with one
 * store into the PML4, so the boot direct map stays usable until then. */
void arch_mm_init(void)
{
    struct mem_range r[128];
    size_t n = arch_memmap(r, 128);
    uint64_t l4_entry = boot_table_entry();     /* PML4[256]: the first 512 GiB */
    for (size_t i = 0; i < n; i++) {
        uint64_t lo = r[i].base & ~(ARCH_LARGE_SIZE - 1);
        uint64_t hi = (r[i].base + r[i].size + ARCH_LARGE_SIZE - 1) & ~(ARCH_LARGE_SIZE - 1);
        if (hi > ARCH_DIRECT_MAP_SIZE)
            panic("arch_mm_init: RAM up to 0x%llx exceeds the direct map", (unsigned long long)hi);
        for (uint64_t pa = lo; pa < hi; pa += ARCH_LARGE_SIZE) {
            uint64_t *l4 = pa >> 39 == 0 ? &l4_entry : &boot_pml4[256 + (pa >> 39)];
            if (!(*l4 & PTE_P))
                *l4 = boot_table_entry();       /* beyond 512 GiB: PML4[257..] were empty */
            uint64_t *l3 = &table_at(*l4)[(pa >> 30) & 511];
            if (!(*l3 & PTE_P))
                *l3 = boot_table_entry();
            table_at(*l3)[(pa >> 21) & 511] = pa | PTE_P | PTE_W | PTE_PS | PTE_NX;
        }
    }
    __atomic_store_n(&boot_pml4[256], l4_entry, __ATOMIC_RELEASE);
    write_cr3(read_cr3());
}

/* The boot CPU's stack sits in the image's .bss, which the boot tables map with 2 MiB
 * pages: an overflow would run on, unnoticed, over the data below it (the allocator's
 * globals among them) and then over the code. Here the 2 MiB page holding the stack's
 * guard page (boot.S, just below the stack) becomes a page table of 4 KiB entries with
 * the same frames and rights, less the guard, as the APs' stacks have (smp.c). A push
 * into the guard then faults, the fault cannot be delivered on that stack, and the
 * double fault on its IST stack reports the overflow (trap.c). The image window's
 * directory (boot_pd) also serves the identity map until it is dropped: it loses the
 * same page, which nothing reaches through it. Runs on the boot CPU before any other
 * starts and before the frame allocator, hence the table in .bss; every entry keeps
 * the frame it had, so mixing old and new translations until the reload is harmless. */
extern uint64_t boot_pd[];
extern char boot_stack_guard[];
static uint64_t boot_stack_pt[512] __attribute__((aligned(4096)));

void x86_guard_boot_stack(void)
{
    uint64_t guard = arch_virt_to_phys(boot_stack_guard);
    uint64_t base = guard & ~(uint64_t)(ARCH_LARGE_SIZE - 1);
    unsigned slot = (unsigned)(((uintptr_t)boot_stack_guard - ARCH_KERNEL_BASE) >> 21);
    if ((boot_pd[slot] & (PTE_P | PTE_PS)) != (PTE_P | PTE_PS) || (boot_pd[slot] & PTE_ADDR) != base)
        panic("boot stack guard: the image's 2 MiB page at 0x%llx is not a large page",
              (unsigned long long)base);
    for (unsigned i = 0; i < 512; i++)
        boot_stack_pt[i] = (base + (uint64_t)i * ARCH_FRAME_SIZE) | PTE_P | PTE_W;
    boot_stack_pt[(guard - base) / ARCH_FRAME_SIZE] = 0;
    __atomic_store_n(&boot_pd[slot], arch_virt_to_phys(boot_stack_pt) | PTE_P | PTE_W, __ATOMIC_RELEASE);
    write_cr3(read_cr3());
}

/* Drop the boot identity map (PML4[0]) once no CPU needs it: null pointers fault. */
static void flush_all(void *arg)
{
    (void)arg;
    write_cr3(read_cr3());
}

void x86_drop_identity_map(void)
{
    __atomic_store_n(&boot_pml4[0], 0, __ATOMIC_RELEASE);
    smp_call_all(flush_all, 0);
}
