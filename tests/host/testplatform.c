/* tests/host/testplatform.c: a test-only implementation of alloc/platform.h over
 * mmap, strict about the contract: map only unbacked frames, unmap only backed ones
 * (violations are counted in tp_errors), and maps can be made to fail. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "platform.h"
#include "testplatform.h"

size_t tp_backed_bytes;
unsigned long tp_map_calls;
unsigned long tp_errors;
unsigned long tp_reserve_at_calls;
size_t tp_reserved_at_bytes;
long tp_fail_maps_after = -1;
jmp_buf *tp_panic_jmp;
char tp_last_panic[512];
char tp_last_log[512];

#define FRAME GOHEAP_SYS_FRAME_SIZE
#define MAXRES 1024 /* placed metadata reserves a few ranges per grow */
static struct res {
    uintptr_t base;
    size_t bytes;
    uint8_t *backed; /* one bit per frame */
} res[MAXRES];
static int nres;

static struct res *find_res(uintptr_t a, size_t n) {
    for (int i = 0; i < nres; i++)
        if (a >= res[i].base && a + n <= res[i].base + res[i].bytes)
            return &res[i];
    return NULL;
}

static void add_res(uintptr_t a, size_t bytes) {
    res[nres].base = a;
    res[nres].bytes = bytes;
    res[nres].backed = calloc(bytes / FRAME / 8 + 1, 1);
    nres++;
}

void *goheap_sys_reserve(size_t bytes, size_t align) {
    if (nres == MAXRES || bytes % FRAME)
        return NULL;
    size_t len = bytes + align;
    uint8_t *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
    if (a > (uintptr_t)p)
        munmap(p, a - (uintptr_t)p);
    if ((uintptr_t)p + len > a + bytes)
        munmap((void *)(a + bytes), (uintptr_t)p + len - (a + bytes));
    add_res(a, bytes);
    return (void *)a;
}

void *goheap_sys_reserve_at(void *addr, size_t bytes) {
    tp_reserve_at_calls++;
    if (nres == MAXRES || bytes % FRAME || (uintptr_t)addr % FRAME || bytes == 0) {
        fprintf(stderr, "testplatform: bad reserve_at %p+%#zx\n", addr, bytes);
        tp_errors++;
        return NULL;
    }
    void *p = mmap(addr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (p != addr) {
        munmap(p, bytes);
        return NULL;
    }
    add_res((uintptr_t)p, bytes);
    tp_reserved_at_bytes += bytes;
    return p;
}

void *goheap_sys_window_hint(unsigned i, size_t bytes) {
    (void)i;
    (void)bytes;
    return NULL;
}

static int frame_backed(struct res *r, uintptr_t a) {
    size_t f = (a - r->base) / FRAME;
    return (r->backed[f / 8] >> (f % 8)) & 1;
}
static void frame_set(struct res *r, uintptr_t a, int on) {
    size_t f = (a - r->base) / FRAME;
    if (on)
        r->backed[f / 8] |= (uint8_t)(1u << (f % 8));
    else
        r->backed[f / 8] &= (uint8_t)~(1u << (f % 8));
}

int goheap_sys_map(void *addr, size_t bytes) {
    uintptr_t a = (uintptr_t)addr;
    struct res *r = find_res(a, bytes);
    tp_map_calls++;
    if (!r || a % FRAME || bytes % FRAME || bytes == 0) {
        fprintf(stderr, "testplatform: bad map %#lx+%#zx\n", (unsigned long)a, bytes);
        tp_errors++;
        return -1;
    }
    if (tp_fail_maps_after == 0)
        return -1;
    if (tp_fail_maps_after > 0)
        tp_fail_maps_after--;
    for (uintptr_t x = a; x < a + bytes; x += FRAME)
        if (frame_backed(r, x)) {
            fprintf(stderr, "testplatform: map of backed frame %#lx\n", (unsigned long)x);
            tp_errors++;
            break;
        }
    if (mprotect(addr, bytes, PROT_READ | PROT_WRITE) != 0)
        return -1;
    for (uintptr_t x = a; x < a + bytes; x += FRAME) {
        if (!frame_backed(r, x))
            tp_backed_bytes += FRAME;
        frame_set(r, x, 1);
    }
    return 0;
}

void goheap_sys_unmap(void *addr, size_t bytes) {
    uintptr_t a = (uintptr_t)addr;
    struct res *r = find_res(a, bytes);
    if (!r || a % FRAME || bytes % FRAME) {
        fprintf(stderr, "testplatform: bad unmap %#lx+%#zx\n", (unsigned long)a, bytes);
        tp_errors++;
        return;
    }
    for (uintptr_t x = a; x < a + bytes; x += FRAME) {
        if (!frame_backed(r, x)) {
            fprintf(stderr, "testplatform: unmap of unbacked frame %#lx\n", (unsigned long)x);
            tp_errors++;
        } else {
            tp_backed_bytes -= FRAME;
        }
        frame_set(r, x, 0);
    }
    madvise(addr, bytes, MADV_DONTNEED);
    mprotect(addr, bytes, PROT_NONE);
}

size_t tp_backed_in(uintptr_t addr, size_t bytes) {
    size_t n = 0;
    for (int i = 0; i < nres; i++) {
        struct res *r = &res[i];
        uintptr_t lo = addr > r->base ? addr : r->base;
        uintptr_t hi = addr + bytes < r->base + r->bytes ? addr + bytes : r->base + r->bytes;
        for (uintptr_t x = lo; x < hi; x += FRAME)
            n += frame_backed(r, x) ? FRAME : 0;
    }
    return n;
}

unsigned goheap_sys_ncpu(void) { return 1; }
void goheap_sys_each_cpu(void (*fn)(unsigned cpu, void *arg), void *arg) { fn(0, arg); }

uint64_t goheap_sys_nanotime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void goheap_sys_log(const char *msg) {
    snprintf(tp_last_log, sizeof tp_last_log, "%s", msg);
    printf("# log: %s\n", msg);
}

_Noreturn void goheap_sys_panic(const char *msg) {
    snprintf(tp_last_panic, sizeof tp_last_panic, "%s", msg);
    if (tp_panic_jmp)
        longjmp(*tp_panic_jmp, 1);
    printf("goheap: fatal: %s\n", msg);
    fflush(stdout);
    abort();
}
