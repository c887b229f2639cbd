/* tests/kernel/heap_badinput.c: bad frees, a masked-interrupt malloc and a lock taken
 * out of the system-wide order, each its own boot that must panic with the exact
 * message the kernel announces beforehand. */

/* Bad frees, each in its own boot (they panic on purpose). Before the bad call the
 * suite prints the exact panic message goheap must give ("# heap-expect-panic: ..."),
 * computed from the span the pointer falls in; the step's runner
 * (tests/run-step.sh --expect-announced-panic) passes only if that very message is the kernel's
 * panic. Suites named selftest_* run only when named in full. */
#include <arch/cpu.h>
#include <goheap.h>
#include <goheap_lockclass.h>
#include <percpu.h>
#include <ktest.h>
#include <printk.h>
#include <string.h>
#include <spinlock.h>

#include "heap_util.h"
#include "mheap.h"      /* the core's span map: only to name the span in the message */
#include "knobs.h"      /* GH_EFENCE_MAX, for the expected message */

/* The message of alloc/mspan.c's gh_bad_free for pointer p. */
static void expect_bad_free(const char *reason, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    struct mspan *s = gh_span_of(a);
    if (strcmp(reason, "free into a dead span") == 0)
        printk("# heap-expect-panic: goheap: %s: 0x%lx %s\n", reason, (unsigned long)a,
               "(no live object holds this page: a double free of a large object, or a pointer into freed memory)");
    else if (s && s != &gh_deadspan && s->spc < 2)
        printk("# heap-expect-panic: goheap: %s: 0x%lx (span 0x%lx base 0x%lx large object of "
               "%lu pages)\n", reason, (unsigned long)a, (unsigned long)(uintptr_t)s,
               (unsigned long)s->base, (unsigned long)s->npages);
    else if (s && s != &gh_deadspan)
        printk("# heap-expect-panic: goheap: %s: 0x%lx (span 0x%lx base 0x%lx class %u "
               "objsize %u)\n", reason, (unsigned long)a, (unsigned long)(uintptr_t)s,
               (unsigned long)s->base, (unsigned)(s->spc >> 1), (unsigned)s->elemsize);
    else
        printk("# heap-expect-panic: goheap: %s: 0x%lx\n", reason, (unsigned long)a);
}

static void t_double_free(struct ktest *t)
{
    void *keep = goheap_malloc(100);        /* the span stays in use after the free */
    void *p = goheap_malloc(100);
    KT_ASSERT(t, p && keep);
    goheap_free(p);
    expect_bad_free("double free", p);
    goheap_free(p);
    ktest_fail(t, __FILE__, __LINE__, "double free of %p was not caught", p);
}

static void t_double_free_large(struct ktest *t)
{
    void *keep = goheap_malloc(1 << 20);
    void *p = goheap_malloc(1 << 20);
    KT_ASSERT(t, p && keep);
    goheap_free(p);
    /* The heap's large span cache keeps a freed 1 MiB span whole (a second free there
     * is "double free", core-large); drained, the span goes back to the page heap and
     * the span map says "dead" there. */
    goheap_free_os_memory();
    expect_bad_free("free into a dead span", p);
    goheap_free(p);
    ktest_fail(t, __FILE__, __LINE__, "double free of %p was not caught", p);
}

static void t_interior_free(struct ktest *t)
{
    char *p = goheap_malloc(256);
    KT_ASSERT(t, p != 0);
    expect_bad_free("invalid free of an interior pointer", p + 16);
    goheap_free(p + 16);
    ktest_fail(t, __FILE__, __LINE__, "free of interior pointer %p was not caught", p + 16);
}

static char not_heap[64];

static void t_non_heap_free(struct ktest *t)
{
    kheap_init();
    expect_bad_free("invalid free of a non-heap pointer", not_heap);
    goheap_free(not_heap);
    ktest_fail(t, __FILE__, __LINE__, "free of non-heap pointer %p was not caught", not_heap);
}

/* Interrupt context is refused (docs/kernel-heap.md): a malloc with interrupts masked
 * panics at the pin instead of deadlocking later in a shootdown. */
static void t_irqs_masked(struct ktest *t)
{
    kheap_init();
    printk("# heap-expect-panic: goheap: heap entered with interrupts masked on cpu %u "
           "(interrupt context or under an irqsave lock): not supported, see "
           "docs/kernel-heap.md\n", cpu_index());
    arch_irq_disable();
    void *p = goheap_malloc(100);
    arch_irq_enable();
    ktest_fail(t, __FILE__, __LINE__, "malloc with interrupts masked returned %p", p);
}

/* Booted with goheap=debug=1 goheap=efence=7,arena=1M: the first bad token stops the
 * boot, by name and with its range. */
static void t_bad_knobs(struct ktest *t)
{
    printk("# heap-expect-panic: kheap: bad goheap= knobs on the command line: goheap: bad "
           "knob 'efence=7': out of range (accepted: 0 to %u)\n", GH_EFENCE_MAX);
    kheap_init();
    ktest_fail(t, __FILE__, __LINE__, "a bad goheap= knob did not stop the boot");
}

/* A planted out-of-order acquisition across the allocator/kernel boundary: a kernel
 * lock of class FRAME held while the allocator takes its locks for a large object
 * (the CPU cache's drain lock first, around its page cache).
 * The debug build panics at once, in the allocator's check, naming both classes. */
static void t_lock_order(struct ktest *t)
{
    static struct spinlock frame_like = SPINLOCK_INIT("selftest-frame", LOCK_RANK_FRAME);
    kheap_init();
    goheap_free(goheap_malloc(16));     /* this CPU's cache exists: its lock comes first */
    printk("# heap-expect-panic: goheap: lock order violation on cpu %u: taking %s (class %u) "
           "while holding %s (class %u, held classes 0x%x)\n", cpu_index(),
           goheap_lock_class_names[GOHEAP_LC_MCACHE], GOHEAP_LC_MCACHE,
           goheap_lock_class_names[GOHEAP_LC_FRAME], GOHEAP_LC_FRAME, 1u << GOHEAP_LC_FRAME);
    spin_lock(&frame_like);
    void *p = goheap_malloc(1 << 20);
    spin_unlock(&frame_like);
    ktest_fail(t, __FILE__, __LINE__, "heap lock under a frame-class lock not detected (%p)", p);
}

/* The same inversion with the frame-class lock taken by spin_trylock: a trylock does
 * not wait, but every lock taken while it is held does, so those must rank above it
 * (a CPU holding it spins on mcache while the mcache holder, mapping, spins on it). */
static void t_lock_order_trylock(struct ktest *t)
{
    static struct spinlock frame_like = SPINLOCK_INIT("selftest-frame", LOCK_RANK_FRAME);
    kheap_init();
    goheap_free(goheap_malloc(16));
    printk("# heap-expect-panic: goheap: lock order violation on cpu %u: taking %s (class %u) "
           "while holding %s (class %u, held classes 0x%x)\n", cpu_index(),
           goheap_lock_class_names[GOHEAP_LC_MCACHE], GOHEAP_LC_MCACHE,
           goheap_lock_class_names[GOHEAP_LC_FRAME], GOHEAP_LC_FRAME, 1u << GOHEAP_LC_FRAME);
    if (!spin_trylock(&frame_like))
        KT_ASSERT(t, 0);
    void *p = goheap_malloc(1 << 20);
    spin_unlock(&frame_like);
    ktest_fail(t, __FILE__, __LINE__, "heap lock under a trylocked frame-class lock not detected (%p)", p);
}

/* Booted with goheap=arena=32TiB, past the kernel's 16 TiB window: refused by name. */
static void t_arena_too_big(struct ktest *t)
{
    printk("# heap-expect-panic: kheap: goheap_init failed (-1): no address space for the heap "
           "(the line above says what was asked), knobs 'arena=32TiB'\n");
    kheap_init();
    ktest_fail(t, __FILE__, __LINE__, "arena=32TiB was not refused");
}

static const struct ktest_case df_cases[] = { KTEST_CASE(t_double_free) };
static const struct ktest_case bk_cases[] = { KTEST_CASE(t_bad_knobs) };
static const struct ktest_case dfl_cases[] = { KTEST_CASE(t_double_free_large) };
static const struct ktest_case if_cases[] = { KTEST_CASE(t_interior_free) };
static const struct ktest_case nh_cases[] = { KTEST_CASE(t_non_heap_free) };
static const struct ktest_case irq_cases[] = { KTEST_CASE(t_irqs_masked) };
static const struct ktest_case lo_cases[] = { KTEST_CASE(t_lock_order) };
static const struct ktest_case lot_cases[] = { KTEST_CASE(t_lock_order_trylock) };
static const struct ktest_case atb_cases[] = { KTEST_CASE(t_arena_too_big) };
KTEST_SUITE_FULL(heap_df, "selftest_heap_double_free", df_cases, hu_init, 0);
KTEST_SUITE_FULL(heap_dfl, "selftest_heap_double_free_large", dfl_cases, hu_init, 0);
KTEST_SUITE_FULL(heap_if, "selftest_heap_interior_free", if_cases, hu_init, 0);
KTEST_SUITE_FULL(heap_nh, "selftest_heap_non_heap_free", nh_cases, hu_init, 0);
KTEST_SUITE_FULL(heap_irq, "selftest_heap_irqs_masked", irq_cases, hu_init, 0);
KTEST_SUITE_FULL(heap_bk, "selftest_heap_bad_knobs", bk_cases, 0, 0);
KTEST_SUITE_FULL(heap_lo, "selftest_heap_lock_order", lo_cases, hu_init, 0);
KTEST_SUITE_FULL(heap_lot, "selftest_heap_lock_order_trylock", lot_cases, hu_init, 0);
KTEST_SUITE_FULL(heap_atb, "selftest_heap_arena_too_big", atb_cases, 0, 0);
