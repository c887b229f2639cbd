/* kernel/vm.c: portable virtual-memory helpers over arch/paging.h. */
#include <arch/paging.h>
#include <frame.h>
#include <panic.h>
#include <vm.h>

/* Nothing is mapped until everything the range needs is in hand: its page tables
 * first, then every frame, chained through its first word in the direct map. Out of
 * frames, the frames taken go back and no entry of the range was ever present, so no
 * CPU can hold a translation of it. (Mapping page by page and rolling back with a
 * local flush was not enough: another CPU may cache any present entry, by a
 * speculative walk or a next-page prefetch from the page before, and a flush of every
 * CPU cannot run here, pinned with locks held.) */
int vm_map_fresh(uintptr_t va, size_t bytes, unsigned map_flags, int zero)
{
    int err = arch_map_prepare(va, bytes);
    if (err == -2)
        panic("vm_map_fresh: [0x%lx, +0x%zx) is covered by a large page", (unsigned long)va, bytes);
    if (err)
        return -1;
    uint64_t chain = 0; /* the frames taken, newest first; 0 ends it (frame 0 is never handed out) */
    for (size_t off = 0; off < bytes; off += ARCH_FRAME_SIZE) {
        uint64_t pa = frame_alloc(zero ? FRAME_ZERO : 0);
        if (!pa) {
            while (chain) {
                uint64_t next = *(uint64_t *)arch_phys_to_virt(chain);
                frame_free(chain);
                chain = next;
            }
            return -1;
        }
        *(uint64_t *)arch_phys_to_virt(pa) = chain;
        chain = pa;
    }
    for (size_t off = 0; chain; off += ARCH_FRAME_SIZE) {
        uint64_t pa = chain, *link = arch_phys_to_virt(pa);
        chain = *link;
        *link = 0; /* (zeroed frames stay zero) */
        err = arch_map_page(va + off, pa, map_flags);
        if (err == -2)
            panic("vm_map_fresh: 0x%lx already mapped", (unsigned long)(va + off));
        if (err)
            panic("vm_map_fresh: no page table for 0x%lx after arch_map_prepare", (unsigned long)(va + off));
    }
    return 0;
}

int vm_prepare_tables(uintptr_t va, size_t bytes, int (*step)(uintptr_t va, uint64_t *spare), unsigned nopull)
{
    int err = 0;
    uint64_t spare = 0;
    for (uintptr_t v = va; v < va + bytes && !err;) {
        err = step(v, &spare);
        if (err == VM_PREPARE_NEED_FRAME) {
            spare = frame_alloc(FRAME_ZERO | (nopull & FRAME_NOPULL));
            err = spare ? 0 : -1;
        } else if (!err) {
            v = (v | (ARCH_LARGE_SIZE - 1)) + 1;
        }
    }
    if (spare)
        frame_free(spare);
    return err;
}

size_t vm_unmap_free(uintptr_t va, size_t bytes)
{
    return arch_unmap(va, bytes, ARCH_UNMAP_FREE);
}

static uintptr_t scratch_next = ARCH_KVMAP_BASE;

uintptr_t vm_reserve_scratch(size_t bytes)
{
    /* Round up and leave one unmapped guard frame after each reservation. */
    size_t sz = ((bytes + ARCH_FRAME_SIZE - 1) & ~(ARCH_FRAME_SIZE - 1)) + ARCH_FRAME_SIZE;
    uintptr_t va = __atomic_fetch_add(&scratch_next, sz, __ATOMIC_RELAXED);
    if (va + sz > ARCH_KVMAP_BASE + ARCH_KVMAP_SIZE)
        panic("vm_reserve_scratch: scratch range exhausted (%zu bytes)", bytes);
    return va;
}

void *vm_map_device(uint64_t pa, size_t bytes)
{
    uint64_t base = pa & ~(uint64_t)(ARCH_FRAME_SIZE - 1);
    size_t len = (size_t)(pa + bytes - base);
    uintptr_t va = vm_reserve_scratch(len);
    for (size_t off = 0; off < len; off += ARCH_FRAME_SIZE)
        if (arch_map_page(va + off, base + off, ARCH_MAP_WRITE | ARCH_MAP_DEVICE))
            panic("vm_map_device: cannot map 0x%llx", (unsigned long long)(base + off));
    return (void *)(va + (pa - base));
}
