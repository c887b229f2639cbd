/* examples/smp-aarch64/port.c: the out-of-line half of the page-table port. Frames
 * come from a locked free list over RAM past the image; the heap window [2 GiB,
 * 3 GiB) is mapped through one L2 table and 512 static L3 tables. Unmap clears the
 * entries, invalidates them on every CPU with one broadcast TLBI per page (no IPI on
 * aarch64) and gives the frames back. */
#include <stddef.h>
#include <stdint.h>

#include "goheap.h"
#include "goheap_config.h"

#define FRAME 4096ul
#define WINDOW 0x80000000ul                 /* heap address space: [2 GiB, 3 GiB) */
#define WINDOW_END 0xc0000000ul
#define RAM_END 0x60000000ul                /* QEMU -m 512M at 0x40000000 */
#define PTE_PAGE (3ul | 1ul << 10 | 3ul << 8 | 1ul << 53 | 1ul << 54) /* page, AF, inner shareable, PXN, UXN, attr 0 */

extern uint64_t l1[512];
extern char _end[];
unsigned example_ncpu = 1;
static uint64_t l2[512] __attribute__((aligned(4096)));
static uint64_t l3[512][512] __attribute__((aligned(4096)));
static goheap_lock_t frame_lock, console_lock;
static uintptr_t frame_next, *frame_list; /* bump pointer, then freed frames */
unsigned long frames_free;

void console_write(const char *s) {
    volatile uint32_t *uart = (volatile uint32_t *)0x09000000; /* PL011 */
    for (; *s; s++) {
        while (uart[0x18 / 4] & 0x20) /* FR.TXFF */
            ;
        uart[0] = (uint32_t)*s;
    }
}

void port_init(void) {
    frame_next = ((uintptr_t)_end + FRAME - 1) & ~(FRAME - 1);
    frames_free = (RAM_END - frame_next) / FRAME;
    for (int i = 0; i < 512; i++)
        l2[i] = (uintptr_t)l3[i] | 3; /* table */
    l1[2] = (uintptr_t)l2 | 3;
    __asm__ volatile("dsb ishst; isb" ::: "memory");
}

static uintptr_t frame_alloc(void) {
    uintptr_t f = 0;
    goheap_sys_lock(&frame_lock);
    if (frame_list) {
        f = (uintptr_t)frame_list;
        frame_list = (uintptr_t *)*frame_list;
    } else if (frame_next < RAM_END) {
        f = frame_next;
        frame_next += FRAME;
    }
    frames_free -= f != 0;
    goheap_sys_unlock(&frame_lock);
    return f;
}

static void frame_free(uintptr_t f) {
    goheap_sys_lock(&frame_lock);
    *(uintptr_t *)f = (uintptr_t)frame_list;
    frame_list = (uintptr_t *)f;
    frames_free++;
    goheap_sys_unlock(&frame_lock);
}

static uint64_t *pte(uintptr_t va) { return &l3[(va - WINDOW) >> 21][(va >> 12) & 511]; }

void *goheap_sys_reserve(size_t bytes, size_t align) {
    static uintptr_t next = WINDOW;
    uintptr_t old = __atomic_load_n(&next, __ATOMIC_RELAXED), p;
    do {
        p = (old + align - 1) & ~(align - 1);
        if (p > WINDOW_END || bytes > WINDOW_END - p)
            return NULL;
    } while (!__atomic_compare_exchange_n(&next, &old, p + bytes, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return (void *)p;
}

void goheap_sys_unmap(void *addr, size_t bytes) {
    uintptr_t va = (uintptr_t)addr, frames[64];
    for (size_t done = 0; done < bytes;) {
        unsigned n = 0;
        for (; n < 64 && done < bytes; n++, done += FRAME) {
            uint64_t *e = pte(va + done);
            frames[n] = *e & 0xfffffffff000ul;
            *e = 0;
            __asm__ volatile("dsb ishst; tlbi vae1is, %0" ::"r"((va + done) >> 12) : "memory");
        }
        __asm__ volatile("dsb ish; isb" ::: "memory");
        while (n)
            frame_free(frames[--n]);
    }
}

int goheap_sys_map(void *addr, size_t bytes) {
    uintptr_t va = (uintptr_t)addr;
    for (size_t done = 0; done < bytes; done += FRAME) {
        uintptr_t f = frame_alloc();
        if (!f) {
            goheap_sys_unmap(addr, done); /* no partial success */
            return -1;
        }
        for (uint64_t *w = (uint64_t *)f; w < (uint64_t *)(f + FRAME); w++)
            *w = 0; /* map must zero */
        *pte(va + done) = f | PTE_PAGE;
    }
    __asm__ volatile("dsb ishst; isb" ::: "memory");
    return 0;
}

unsigned goheap_sys_ncpu(void) { return example_ncpu; }

uint64_t goheap_sys_nanotime(void) {
    uint64_t t, hz;
    __asm__ volatile("isb; mrs %0, cntvct_el0; mrs %1, cntfrq_el0" : "=r"(t), "=r"(hz));
    return t / hz * 1000000000u + t % hz * 1000000000u / hz; /* no 128-bit division */
}

void goheap_sys_log(const char *msg) {
    goheap_pin_t pin;
    goheap_sys_pin(&pin);
    goheap_sys_lock(&console_lock);
    console_write(msg);
    console_write("\n");
    goheap_sys_unlock(&console_lock);
    goheap_sys_unpin(pin);
}

_Noreturn void goheap_sys_panic(const char *msg) {
    console_write("goheap panic: ");
    console_write(msg);
    console_write("\n");
    for (;;)
        __asm__ volatile("wfe");
}
