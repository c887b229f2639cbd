/* kernel/heap/baseline.c: the benchmarks' baseline, the heap most hobby kernels start
 * with: one address-ordered free list, first fit with splitting, coalescing on free,
 * one global spinlock. Backed by a fixed region mapped once at baseline_init. */
#include <arch/paging.h>
#include <arch/spinlock.h>
#include <vm.h>

#include <kheap.h>

struct blk {                    /* header in front of every block, free or used */
    size_t size;                /* whole block, header included; multiple of 16 */
    struct blk *next;           /* free list link (free blocks only) */
};
#define HDR 16

static arch_spinlock_t lock;
/* protected by lock: */
static struct blk *free_list;   /* sorted by address; neighbours coalesced */

int baseline_init(size_t bytes)
{
    bytes = (bytes + ARCH_FRAME_SIZE - 1) & ~(ARCH_FRAME_SIZE - 1);
    uintptr_t va = vm_reserve_scratch(bytes);
    if (vm_map_fresh(va, bytes, ARCH_MAP_WRITE, 0))
        return -1;
    free_list = (struct blk *)va;
    free_list->size = bytes;
    free_list->next = 0;
    return 0;
}

void *baseline_malloc(size_t size)
{
    size_t need = ((size + HDR + 15) & ~(size_t)15);
    arch_spin_lock(&lock);
    struct blk **pp = &free_list;
    for (struct blk *b = *pp; b; pp = &b->next, b = *pp) {
        if (b->size < need)
            continue;
        if (b->size - need >= 64) {                 /* split: the tail stays free */
            struct blk *rest = (struct blk *)((char *)b + need);
            rest->size = b->size - need;
            rest->next = b->next;
            *pp = rest;
            b->size = need;
        } else {
            *pp = b->next;
        }
        arch_spin_unlock(&lock);
        return (char *)b + HDR;
    }
    arch_spin_unlock(&lock);
    return 0;
}

void baseline_free(void *p)
{
    if (!p)
        return;
    struct blk *b = (struct blk *)((char *)p - HDR);
    arch_spin_lock(&lock);
    struct blk *prev = 0, *cur = free_list;
    while (cur && cur < b) {
        prev = cur;
        cur = cur->next;
    }
    b->next = cur;
    if (cur && (char *)b + b->size == (char *)cur) {    /* merge with the next */
        b->size += cur->size;
        b->next = cur->next;
    }
    if (prev && (char *)prev + prev->size == (char *)b) { /* merge into the previous */
        prev->size += b->size;
        prev->next = b->next;
    } else if (prev) {
        prev->next = b;
    } else {
        free_list = b;
    }
    arch_spin_unlock(&lock);
}
