/* tests/host/fuzz_ops.c: libFuzzer target that turns its input into a sequence of heap
 * operations and checks each against a shadow model: live objects never overlap, are
 * aligned as promised, keep their contents (across realloc too), have usable_size >=
 * request, calloc/ZERO give zeros, and impossible requests return NULL without harm.
 * Every input ends with all objects freed, the live count back where it began, and
 * (for short inputs) the slow validator.
 *
 * Input: 4-byte records [op, slot, v_lo, v_hi]; v picks a size (see decode_size).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "goheap.h"
#include "heapcheck.h"

#define NSLOTS 32
struct obj {
    unsigned char *p; /* NULL: the slot is empty */
    size_t n;         /* requested bytes */
    size_t usable;    /* usable_size at allocation; must not change while live */
    uint64_t key;     /* cookie key: a serial number, independent of the address */
    size_t align;     /* promised alignment */
    int tinyspc;      /* NOSCAN and <= 16 B: lives in the tiny blocks' span class */
    int noscan;       /* allocated NOSCAN (realloc keeps it when it moves the block) */
};
static struct obj slot[NSLOTS];
static uint64_t serial;

#define BUG(...)                                                  \
    do {                                                          \
        fprintf(stderr, "fuzz_ops: " __VA_ARGS__);                \
        fprintf(stderr, "\n");                                    \
        abort();                                                  \
    } while (0)

/* A request size from 16 bits: mostly small, every class boundary, some large, and a
 * few impossible sizes (which must fail cleanly). */
static size_t decode_size(unsigned v, int *absurd) {
    *absurd = 0;
    switch (v >> 13) {
    case 0: return v % 17;                                /* 0..16: tiny and 8 B */
    case 1:
    case 2: return v % 257;
    case 3: return v % 2049;
    case 4: return v % (HC_MAX_SMALL + 65);
    case 5: {
        size_t c = hc_class_size[1 + v % (GOHEAP_NUM_SIZE_CLASSES - 1)];
        return c + (v >> 7) % 3 - 1;                       /* around a class boundary */
    }
    case 6: return HC_MAX_SMALL + (size_t)(v % 8192) * 64; /* large, up to 544 KiB */
    default:
        *absurd = 1;
        return (v & 1) ? SIZE_MAX - (v % 8192) : ((size_t)1 << 62) + v;
    }
}

static size_t plain_align(size_t n) { return n >= 16 ? 16 : 8; }

/* How an object relates to the tiny allocator (the `tiny` argument of adopt_ext). */
enum { TINY_NO, TINY_SPC, TINY_PACKED };

/* Register a fresh object: check alignment, usable size, zeroing and overlap with every
 * live object, then fill it with its cookie. The overlap check covers each object's
 * whole usable size, tiny objects included (a tiny object's usable size must end where
 * the next object in its 16 B block begins). */
HC_NOCOV static void adopt_ext(unsigned s, void *q, size_t n, size_t align, int zeroed, const char *what,
                      int tiny) {
    if (!q)
        BUG("%s(%zu) returned NULL", what, n);
    if ((uintptr_t)q % align)
        BUG("%s(%zu) = %p not %zu-aligned", what, n, q, align);
    size_t us = goheap_usable_size(q);
    if (us < n)
        BUG("%s(%zu) = %p: usable_size %zu", what, n, q, us);
    if (zeroed && !hc_all_zero(q, n))
        BUG("%s(%zu) = %p not zeroed", what, n, q);
    uintptr_t lo = (uintptr_t)q, hi = lo + (us ? us : 1);
    for (unsigned i = 0; i < NSLOTS; i++) {
        if (!slot[i].p || i == s)
            continue;
        uintptr_t a = (uintptr_t)slot[i].p, b = a + (slot[i].usable ? slot[i].usable : 1);
        if (lo < b && a < hi)
            BUG("%s(%zu) = [%p,+%zu) overlaps live [%p,+%zu)", what, n, q, us, (void *)slot[i].p,
                slot[i].usable);
    }
    struct obj *o = &slot[s];
    o->p = q, o->n = n, o->usable = us, o->key = ++serial, o->align = align;
    o->tinyspc = tiny;
    o->noscan = tiny != TINY_NO;
    hc_cover(q, o->key, n, n, 0);
}

static void adopt(unsigned s, void *q, size_t n, size_t align, int zeroed, const char *what) {
    adopt_ext(s, q, n, align, zeroed, what, TINY_NO);
}

HC_NOCOV static void verify(unsigned s, const char *when) {
    struct obj *o = &slot[s];
    size_t bad = hc_cover(o->p, o->key, o->n, o->n, 1);
    if (bad != (size_t)-1)
        BUG("object %p (%zu B) damaged at %zu (%s)", (void *)o->p, o->n, bad, when);
    size_t us = goheap_usable_size(o->p);
    if (us != o->usable)
        BUG("usable_size(%p) changed from %zu to %zu (%s)", (void *)o->p, o->usable, us, when);
}

static void release(unsigned s) {
    if (!slot[s].p)
        return;
    verify(s, "free");
    goheap_free(slot[s].p);
    slot[s].p = NULL;
}

/* The largest class size below `usable` (0 for the first class). */
static size_t class_below(size_t usable) {
    size_t lo = 0;
    for (unsigned c = 1; c < GOHEAP_NUM_SIZE_CLASSES && hc_class_size[c] < usable; c++)
        lo = hc_class_size[c];
    return lo;
}

/* realloc / reallocarray of slot s to m bytes (nmemb x m for the array form). The old
 * contents must survive up to the smaller size, an impossible size must fail and leave
 * the block alone, and a new size inside the same class must not move the block. */
static void do_realloc(unsigned s, size_t m, int absurd, int array, size_t nmemb) {
    struct obj old = slot[s];
    size_t total = m;
    if (old.p)
        verify(s, "realloc");
    if (array && __builtin_mul_overflow(nmemb, m, &total))
        absurd = 1;
    if (!absurd && total == 0) /* realloc(p, 0) is implementation-defined: the API test */
        m = 1, total = array ? nmemb : 1;
    void *q = array ? goheap_reallocarray(old.p, nmemb, m) : goheap_realloc(old.p, m);
    if (absurd) {
        if (q)
            BUG("realloc(%p, %zu x %zu) of an impossible size returned %p", (void *)old.p, nmemb, m, q);
        if (old.p)
            verify(s, "after a failed realloc");
        return;
    }
    if (!q)
        BUG("realloc(%p, %zu) returned NULL", (void *)old.p, total);
    if (old.p) {
        size_t keep = old.n < total ? old.n : total;
        size_t bad = hc_cover(q, old.key, old.n, keep, 1);
        if (bad != (size_t)-1)
            BUG("realloc(%p [%zu B], %zu) = %p lost byte %zu", (void *)old.p, old.n, total, q, bad);
        /* (Objects in the tiny blocks' span class always move: realloc cannot tell a
         * 16 B NOSCAN object from a packed block there.) */
        if (old.align == 16 && !old.tinyspc && old.usable <= HC_MAX_SMALL && total >= 16 &&
            total <= old.usable &&
            total > class_below(old.usable) && q != old.p)
            BUG("realloc(%p [usable %zu], %zu) moved to %p inside its class", (void *)old.p,
                old.usable, total, q);
    }
    /* A moved block is a fresh malloc; one kept in place keeps its old alignment (an
     * ALIGN8 block may stay 8-aligned). */
    size_t align = q == old.p && old.align < plain_align(total) ? old.align : plain_align(total);
    slot[s].p = NULL;
    adopt(s, q, total, align, 0, "realloc");
    /* A block kept in place keeps its span class; a moved NOSCAN block stays NOSCAN,
     * so at 16 B or less it lands in the tiny blocks' span class. */
    slot[s].noscan = old.p && old.noscan;
    slot[s].tinyspc = q == old.p ? old.tinyspc : slot[s].noscan && slot[s].usable <= HC_TINY_MAX;
}

static int trace; /* FUZZ_OPS_TRACE=1: print every operation (to turn a crash into a report) */

static void one_op(const uint8_t *r) {
    unsigned op = r[0] % 16, s = r[1] % NSLOTS, v = (unsigned)r[2] | (unsigned)r[3] << 8;
    int absurd;
    size_t n = decode_size(v, &absurd);
    void *q;
    if (trace)
        fprintf(stderr, "op %u slot %u (byte 0x%02x) size %zu%s\n", op, s, r[1], n,
                absurd ? " (impossible)" : "");
    switch (op) {
    case 0: case 1: case 2:
        release(s);
        q = goheap_malloc(n);
        if (absurd) {
            if (q)
                BUG("malloc(%zu) = %p", n, q);
            return;
        }
        if (n == 0 && !q)
            return;
        adopt(s, q, n, plain_align(n), 0, "malloc");
        return;
    case 3: { /* calloc with a split of n into nmemb x size (or an overflowing pair) */
        release(s);
        size_t nm = 1 + (r[1] >> 5), sz = n / nm + (n % nm != 0);
        q = goheap_calloc(nm, sz);
        if (absurd) {
            if (q)
                BUG("calloc(%zu, %zu) = %p", nm, sz, q);
            return;
        }
        if (nm * sz == 0 && !q)
            return;
        adopt(s, q, nm * sz, plain_align(nm * sz), 1, "calloc");
        return;
    }
    case 4: { /* the flags variant */
        release(s);
        unsigned fl = r[1] >> 5; /* 3 bits: NOSCAN, ZERO, ALIGN8 */
        q = goheap_malloc_flags(n, fl);
        if (absurd) {
            if (q)
                BUG("malloc_flags(%zu, %u) = %p", n, fl, q);
            return;
        }
        if (n == 0 && !q)
            return;
        size_t a = plain_align(n);
        if ((fl & GOHEAP_NOSCAN) && n < HC_TINY_MAX)
            a = (n & 7) == 0 ? 8 : (n & 3) == 0 ? 4 : (n & 1) == 0 ? 2 : 1;
        else if (fl & GOHEAP_ALIGN8)
            a = 8;
        adopt_ext(s, q, n, a ? a : 1, (fl & GOHEAP_ZERO) != 0, "malloc_flags",
                  !(fl & GOHEAP_NOSCAN) ? TINY_NO : n < HC_TINY_MAX ? TINY_PACKED
                                        : n == HC_TINY_MAX ? TINY_SPC : TINY_NO);
        slot[s].noscan = (fl & GOHEAP_NOSCAN) != 0;
        return;
    }
    case 5: case 6: case 7: { /* aligned_alloc, posix_memalign, memalign */
        release(s);
        size_t a = (size_t)8 << (r[1] >> 4); /* 8 B .. 256 KiB */
        if (op == 5 && !absurd)
            n = (n + a - 1) / a * a;
        int err = 0;
        if (op == 5)
            q = goheap_aligned_alloc(a, n);
        else if (op == 6) {
            q = NULL;
            err = goheap_posix_memalign(&q, a, n);
            if (absurd && err != GOHEAP_ENOMEM)
                BUG("posix_memalign(%zu, %zu) = %d", a, n, err);
            if (!absurd && err)
                BUG("posix_memalign(%zu, %zu) = %d", a, n, err);
            if (err)
                return;
        } else
            q = goheap_memalign(a, n);
        if (absurd) {
            if (q)
                BUG("aligned op %u (%zu, %zu) = %p", op, a, n, q);
            return;
        }
        if (n == 0 && !q)
            return;
        adopt(s, q, n, a, 0, "aligned");
        return;
    }
    case 8: case 9: case 10:
        do_realloc(s, n, absurd, 0, 1);
        return;
    case 11:
        do_realloc(s, n, absurd, 1, 1 + (r[1] >> 6));
        return;
    case 12: case 13:
        release(s);
        return;
    case 14: /* move an object to another slot, then check every live object */
        for (unsigned i = 0; i < NSLOTS; i++)
            if (slot[i].p)
                verify(i, "sweep");
        if ((r[1] & 0xe0) == 0)
            goheap_flush();
        return;
    default: /* bad arguments that must fail cleanly */
        if (goheap_aligned_alloc(3 + 2 * (r[1] % 8), 64))
            BUG("aligned_alloc with a non-power-of-two alignment succeeded");
        if (goheap_calloc(SIZE_MAX / 2 + 1 + r[2], 2 + r[3] % 5))
            BUG("overflowing calloc succeeded");
        if (r[1] == 0xff)
            goheap_free_os_memory();
        return;
    }
}

static uint64_t live_base;
static int inited;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!inited) {
        inited = 1;
        live_base = hc_live_objects();
        trace = getenv("FUZZ_OPS_TRACE") != NULL;
    }
    size_t nops = size / 4;
    for (size_t i = 0; i < nops; i++)
        one_op(data + 4 * i);
    /* Free the rest in an order the input chooses. */
    unsigned start = size ? data[0] % NSLOTS : 0, step = size > 1 ? 1 + 2 * (data[1] % 16) : 1;
    for (unsigned k = 0; k < NSLOTS; k++)
        release((start + k * step) % NSLOTS);
    /* The cache's current tiny block counts as a live 16 B object until flushed. */
    goheap_flush();
    uint64_t live = hc_live_objects();
    if (live != live_base)
        BUG("%llu objects live after freeing all, expected %llu", (unsigned long long)live,
            (unsigned long long)live_base);
    if (nops <= 64 || (serial & 15) == 0) {
        int v = goheap_validate();
        if (v != 0)
            BUG("goheap_validate() = %d", v);
    }
    return 0;
}
