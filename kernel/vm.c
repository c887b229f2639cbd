/* kernel/vm.c: portable virtual-memory helpers over arch/paging.h. */
#include <arch/paging.h>
#include <frame.h>
#include <panic.h>
#include <vm.h>

int vm_map_fresh(uintptr_t va, size_t bytes, unsigned map_flags, int zero)
{
    for (size_t off = 0; off < bytes; off += ARCH_FRAME_SIZE) {
        uint64_t pa = frame_alloc(zero ? FRAME_ZERO : 0);
        int err = pa ? arch_map_page(va + off, pa, map_flags) : -1;
        if (err) {
            if (pa)
                frame_free(pa);
            if (err == -2)
                panic("vm_map_fresh: 0x%lx already mapped", (unsigned long)(va + off));
            /* Never published: no other CPU can hold a TLB entry for it. */
            arch_unmap(va, off, ARCH_UNMAP_FREE | ARCH_UNMAP_LOCAL);
            return -1;
        }
    }
    return 0;
}

void vm_unmap_free(uintptr_t va, size_t bytes)
{
    arch_unmap(va, bytes, ARCH_UNMAP_FREE);
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
