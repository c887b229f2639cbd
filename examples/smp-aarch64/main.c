/* examples/smp-aarch64/main.c: a from-scratch SMP kernel on QEMU virt using goheap in
 * page-table mode: CPU 0 sets up the heap and starts the others with PSCI CPU_ON;
 * every CPU runs a malloc/free mix that also frees other CPUs' blocks; then CPU 0
 * checks, in KTAP, that memory went back to the frame allocator after
 * goheap_free_os_memory(), that calloc then reads zero, and the validator. Exit
 * through semihosting with 33 (pass) or 1. */
#include <stddef.h>
#include <stdint.h>

#include "goheap.h"

#define NCPU_MAX 4
#define OPS 3000
#define SHARED 256

void console_write(const char *s);
void port_init(void);
void secondary_start(void);
extern unsigned example_ncpu;
extern unsigned long frames_free;
static void *shared[SHARED]; /* blocks any CPU may free */
static unsigned done, failed, n, heap_ready;

static _Noreturn void qemu_exit(unsigned code) {
    static uint64_t block[2] = {0x20026, 0}; /* ADP_Stopped_ApplicationExit */
    block[1] = code;
    register uint64_t x0 __asm__("x0") = 0x18, x1 __asm__("x1") = (uint64_t)block;
    __asm__ volatile("hlt #0xf000" ::"r"(x0), "r"(x1) : "memory");
    for (;;)
        ;
}

static void check(int ok, const char *name) {
    char num[3] = {(char)('0' + ++n), ' ', 0};
    console_write(ok ? "ok " : "not ok ");
    console_write(num);
    console_write(name);
    console_write("\n");
    failed |= !ok;
}

static void put_num(unsigned long v) {
    char b[24], *p = b + sizeof b;
    *--p = 0;
    do
        *--p = (char)('0' + v % 10);
    while (v /= 10);
    console_write(p);
}

static void print_frames(unsigned long base, unsigned long before, unsigned long after) {
    console_write("# free frames: after init ");
    put_num(base);
    console_write(", before free_os_memory ");
    put_num(before);
    console_write(", after ");
    put_num(after);
    console_write("\n");
}

static uint64_t psci_cpu_on(uint64_t mpidr, uint64_t entry, uint64_t ctx) {
    register uint64_t x0 __asm__("x0") = 0xc4000003, x1 __asm__("x1") = mpidr;
    register uint64_t x2 __asm__("x2") = entry, x3 __asm__("x3") = ctx;
    __asm__ volatile("hvc #0" : "+r"(x0) : "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}

static void workload(unsigned cpu) {
    uint64_t x = 0x9e3779b97f4a7c15ull * (cpu + 1);
    void *mine[64] = {0};
    for (int i = 0; i < OPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t sz = x % 8 == 0 ? 20000 + x % 300000 : 16 + x % 2000;
        unsigned k = (unsigned)(x >> 20) % 64, s = (unsigned)(x >> 40) % SHARED;
        goheap_free(mine[k]);
        mine[k] = goheap_malloc(sz);
        if (mine[k])
            *(volatile char *)mine[k] = 1;
        void *p = goheap_malloc(64); /* swapped into the shared array: the old one */
        goheap_free(__atomic_exchange_n(&shared[s], p, __ATOMIC_ACQ_REL)); /* may be remote */
    }
    for (int k = 0; k < 64; k++)
        goheap_free(mine[k]);
    goheap_flush(); /* no each_cpu: give this CPU's cached spans back before idling */
    __atomic_fetch_add(&done, 1, __ATOMIC_RELEASE);
}

void cpu_main(unsigned cpu) {
    if (cpu != 0) {
        while (!__atomic_load_n(&heap_ready, __ATOMIC_ACQUIRE))
            ;
        workload(cpu);
        return;
    }
    port_init();
    console_write("KTAP version 1\n1..4\n");
    example_ncpu = NCPU_MAX;
    for (unsigned c = 1; c < NCPU_MAX; c++) /* CPUs QEMU does not have refuse: fewer run */
        if (psci_cpu_on(c, (uint64_t)secondary_start, c) != 0)
            example_ncpu = c < example_ncpu ? c : example_ncpu;
    struct goheap_config cfg = {512u << 20, 0};
    check(goheap_init(&cfg) == 0, "goheap_init");
    __atomic_store_n(&heap_ready, 1, __ATOMIC_RELEASE);
    unsigned long base = frames_free;
    workload(0);
    while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) < example_ncpu)
        ;
    for (int s = 0; s < SHARED; s++)
        goheap_free(shared[s]);
    unsigned long before = frames_free;
    goheap_free_os_memory();
    /* The heap pages went back to the frame allocator; what stays is metadata mapped
     * while the heap grew (span structs, the span map, page-allocator leaves). */
    print_frames(base, before, frames_free);
    check(before + 1024 < base && frames_free + 256 >= base, "frames_back_after_free_os_memory");
    int zero = 1;
    for (int i = 0; i < 32; i++) {
        size_t sz = i % 2 ? 150000 : 700;
        unsigned char *p = goheap_calloc(1, sz);
        for (size_t j = 0; p && j < sz; j++)
            zero &= p[j] == 0;
        zero &= p != NULL;
        goheap_free(p);
    }
    check(zero, "calloc_zero_after_free_os_memory");
    check(goheap_validate() == 0, "validate");
    qemu_exit(failed ? 1 : 33);
}
