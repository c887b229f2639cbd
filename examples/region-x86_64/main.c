/* examples/region-x86_64/main.c: a from-scratch kernel that adopts goheap in region
 * mode: serial console, exit through QEMU's isa-debug-exit, and KTAP checks of the
 * heap (first malloc, a second region added with goheap_add_region and used, calloc
 * zero after goheap_free_os_memory, the validator). The port itself is heap_port.c +
 * goheap_config.h, the quick start of docs/PORTING.md. */
#include <stddef.h>
#include <stdint.h>

#include "goheap.h"

void heap_init(void);

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) {
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

void console_write(const char *s) {
    for (; *s; s++) {
        while (!(inb(0x3f8 + 5) & 0x20)) /* COM1 transmitter empty */
            ;
        outb(0x3f8, (uint8_t)*s);
    }
}

static _Noreturn void qemu_exit(int pass) {
    outb(0xf4, pass ? 16 : 0); /* isa-debug-exit: QEMU exits with (v << 1) | 1: 33 or 1 */
    for (;;)
        __asm__ volatile("cli; hlt");
}

static int failed, n;
static void check(int ok, const char *name) {
    console_write(ok ? "ok " : "not ok ");
    char num[4] = {(char)('0' + ++n), ' ', 0};
    console_write(num);
    console_write(name);
    console_write("\n");
    failed |= !ok;
}

static int all_zero(const unsigned char *p, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

/* A second region, as a memory map would give it: 16 MiB of RAM far above the image
 * (identity-mapped by boot.S, inside QEMU's 128 MiB), deliberately unaligned. */
#define REGION2 ((unsigned char *)(72u << 20) + 4321)
#define REGION2_LEN ((16u << 20) - 4321)

/* Fills the heap with 1 MiB blocks until one lands in the second region; 1 if it did
 * and every block is inside one region, whole. All freed again. */
static int use_region2(void) {
    enum { MAXB = 64 };
    unsigned char *b[MAXB];
    int n = 0, hit = 0;
    while (n < MAXB && !hit && (b[n] = goheap_malloc(1 << 20)) != NULL) {
        hit = b[n] >= REGION2 && b[n] + (1 << 20) <= REGION2 + REGION2_LEN;
        b[n][0] = b[n][(1 << 20) - 1] = 0xee;
        n++;
    }
    for (int i = 0; i < n; i++)
        goheap_free(b[i]);
    return hit;
}

void kmain(void) {
    console_write("KTAP version 1\n1..4\n");
    heap_init();
    unsigned char *p = goheap_malloc(100);
    check(p != NULL && (p[99] = 1), "first_malloc");
    check(goheap_add_region(REGION2, REGION2_LEN, 0) == 0 && use_region2(), "add_region");
    enum { N = 16 };
    unsigned char *q[N];
    for (int i = 0; i < N; i++) { /* dirty some small and some large blocks */
        size_t sz = i % 2 ? 200000 : 512;
        q[i] = goheap_malloc(sz);
        for (size_t j = 0; q[i] && j < sz; j++)
            q[i][j] = 0xee;
    }
    for (int i = 0; i < N; i++)
        goheap_free(q[i]);
    goheap_free_os_memory();
    int zero = 1;
    for (int i = 0; i < N; i++) {
        size_t sz = i % 2 ? 200000 : 512;
        q[i] = goheap_calloc(1, sz);
        zero &= q[i] != NULL && all_zero(q[i], sz);
    }
    check(zero, "calloc_zero_after_free_os_memory");
    for (int i = 0; i < N; i++)
        goheap_free(q[i]);
    goheap_free(p);
    check(goheap_validate() == 0, "validate");
    qemu_exit(!failed);
}
