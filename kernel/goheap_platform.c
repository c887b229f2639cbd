/* kernel/goheap_platform.c: the kernel's implementation of alloc/platform.h, the same
 * on both arches: the heap arena for address space, the frame allocator and the page
 * tables for backing, IPIs for "every CPU", TSC/CNTVCT for time, printk and panic. */
#include <arch/cpu.h>
#include <arch_api.h>
#include <arch/paging.h>
#include <arch/spinlock.h>
#include <spinlock.h>
#include <arch/timer.h>
#include <frame.h>
#include <panic.h>
#include <percpu.h>
#include <printk.h>
#include <smp.h>
#include <string.h>
#include <vm.h>

#include "platform.h"
#include <kheap.h>

/* ---- address space: a bump pointer over the heap arena ----------------------------
 * Reservations are never given back (platform.h), so a bump pointer is exact. It is
 * advanced with a CAS so reserve may run pinned on several CPUs at once. */
static uintptr_t arena_next = ARCH_HEAP_ARENA_BASE;

void *goheap_sys_reserve(size_t bytes, size_t align)
{
    if (align < ARCH_FRAME_SIZE)
        align = ARCH_FRAME_SIZE;
    bytes = (bytes + ARCH_FRAME_SIZE - 1) & ~(ARCH_FRAME_SIZE - 1);
    uintptr_t cur = __atomic_load_n(&arena_next, __ATOMIC_RELAXED);
    for (;;) {
        uintptr_t base = (cur + align - 1) & ~(uintptr_t)(align - 1);
        uintptr_t end = ARCH_HEAP_ARENA_BASE + ARCH_HEAP_ARENA_SIZE;
        if (base < cur || base > end || bytes > end - base)
            return 0;
        if (__atomic_compare_exchange_n(&arena_next, &cur, base + bytes, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            __atomic_fetch_add(&kplat_stats.reserved_bytes, bytes, __ATOMIC_RELAXED);
            return (void *)base;
        }
    }
}

/* ---- backing: frames from the frame allocator, mapped RW + NX ---------------------- */
/* The core only maps and unmaps frame-aligned ranges it reserved. */
static uintptr_t check_range(const char *who, void *addr, size_t bytes)
{
    uintptr_t va = (uintptr_t)addr;
    if ((va | bytes) & (ARCH_FRAME_SIZE - 1) || va < ARCH_HEAP_ARENA_BASE ||
        va + bytes > __atomic_load_n(&arena_next, __ATOMIC_RELAXED))
        panic("%s: [0x%lx, +0x%zx) is not a frame-aligned range of the heap arena", who,
              (unsigned long)va, bytes);
    return va;
}

void (*kplat_map_test_hook)(uintptr_t va, size_t bytes);

int goheap_sys_map(void *addr, size_t bytes)
{
    uintptr_t va = check_range("goheap_sys_map", addr, bytes);
    void (*hook)(uintptr_t, size_t) = __atomic_load_n(&kplat_map_test_hook, __ATOMIC_ACQUIRE);
    if (hook)
        hook(va, bytes);
    /* vm_map_fresh is all-or-nothing (it takes every frame before it maps any, and
     * gives them back when the frame allocator runs dry) and never waits for another
     * CPU, so it may run
     * pinned with allocator locks held. Frames come zeroed (FRAME_ZERO). */
    if (vm_map_fresh(va, bytes, ARCH_MAP_WRITE, 1)) {
        __atomic_fetch_add(&kplat_stats.map_failures, 1, __ATOMIC_RELAXED);
        return -1;
    }
    __atomic_fetch_add(&kplat_stats.mapped_frames, bytes / ARCH_FRAME_SIZE, __ATOMIC_RELAXED);
    __atomic_fetch_add(&kplat_stats.frames_now, bytes / ARCH_FRAME_SIZE, __ATOMIC_RELAXED);
    __atomic_fetch_add(&kplat_stats.map_calls, 1, __ATOMIC_RELAXED);
    return 0;
}

void goheap_sys_unmap(void *addr, size_t bytes)
{
    uintptr_t va = check_range("goheap_sys_unmap", addr, bytes);
    /* The shootdown waits for every CPU's acknowledgement: that needs interrupts on
     * here (pinned code has them off, platform.h forbids unmapping pinned). */
    if (!arch_irqs_enabled())
        panic("goheap_sys_unmap: [0x%lx, +0x%zx) with interrupts masked on cpu %u "
              "(pinned, or the heap was entered from interrupt context)",
              (unsigned long)va, bytes, cpu_index());
    /* One batch: clear the PTEs of the whole range, one shootdown round (IPI on x86_64,
     * broadcast TLBI on aarch64), then every frame back to the frame allocator. Holes
     * (efence guard pages, never-mapped frames inside the range) are skipped; the
     * frames really mapped are counted as their entries are cleared, so frames_now
     * stays exact (a translation per frame before cost a lock round trip each). */
    uint64_t n = vm_unmap_free(va, bytes);
    __atomic_fetch_sub(&kplat_stats.frames_now, n, __ATOMIC_RELAXED);
    __atomic_fetch_add(&kplat_stats.unmap_calls, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&kplat_stats.unmapped_bytes, bytes, __ATOMIC_RELAXED);
}

void (*kplat_remap_test_hook)(void);

/* realloc's zero-copy move: the frames' page-table entries move, nothing is copied
 * (arch_remap: the destination's page tables first, so running out of frames for them
 * changes nothing; one shootdown round for old). Those table frames come without a
 * pull (FRAME_NOPULL: the move runs inside the heap's unmap gate, arch_paging.h), unlike
 * a map's; -1 becomes NOMEM, on which the core reclaims lazily released pages and tries
 * again, or fails the realloc with the old block intact. */
int goheap_sys_remap(void *old, void *new, size_t bytes)
{
    uintptr_t o = check_range("goheap_sys_remap", old, bytes);
    uintptr_t n = check_range("goheap_sys_remap", new, bytes);
    if (!arch_irqs_enabled())
        panic("goheap_sys_remap: [0x%lx, +0x%zx) with interrupts masked on cpu %u", (unsigned long)o, bytes,
              cpu_index());
    void (*hook)(void) = __atomic_load_n(&kplat_remap_test_hook, __ATOMIC_ACQUIRE);
    if (hook)
        hook();
    int r = arch_remap(o, n, bytes);
    if (r) {
        __atomic_fetch_add(&kplat_stats.remap_failures, 1, __ATOMIC_RELAXED);
        if (r == -1)
            __atomic_fetch_add(&kplat_stats.remap_nomem, 1, __ATOMIC_RELAXED);
        return r == -1 ? GOHEAP_SYS_REMAP_NOMEM : GOHEAP_SYS_REMAP_CANNOT;
    }
    __atomic_fetch_add(&kplat_stats.remap_calls, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&kplat_stats.remapped_bytes, bytes, __ATOMIC_RELAXED);
    return 0;
}

/* ---- CPUs ------------------------------------------------------------------------ */
static unsigned plat_ncpu;

void kplat_set_ncpu(unsigned n)
{
    plat_ncpu = n;
}

unsigned goheap_sys_ncpu(void)
{
    return plat_ncpu ? plat_ncpu : cpus_online();
}

unsigned char goheap_kernel_in_each_cpu[ARCH_MAX_CPUS];

_Noreturn void goheap_kernel_bad_context(arch_irqflags_t saved)
{
    arch_irq_restore(saved);
    panic("goheap: heap entered with interrupts masked on cpu %u (interrupt context or "
          "under an irqsave lock): not supported, see docs/kernel-heap.md",
          arch_cpu_index());
}

struct each_cpu_call {
    void (*fn)(unsigned cpu, void *arg);
    void *arg;
};

/* Runs in interrupt context (interrupts masked) on each CPU, so never inside that
 * CPU's pinned section: pinned code has interrupts masked and the IPI waits. */
static void each_cpu_ipi(void *p)
{
    struct each_cpu_call *c = p;
    unsigned cpu = cpu_index();
    if (cpu >= goheap_sys_ncpu())
        return;
    goheap_kernel_in_each_cpu[cpu] = 1;
    c->fn(cpu, c->arg);
    goheap_kernel_in_each_cpu[cpu] = 0;
}

void goheap_sys_each_cpu(void (*fn)(unsigned cpu, void *arg), void *arg)
{
    if (!arch_irqs_enabled())
        panic("goheap_sys_each_cpu on cpu %u with interrupts masked", cpu_index());
    struct each_cpu_call c = { fn, arg };
    /* smp_call_all: one IPI round, returns when every online CPU ran it; while waiting
     * this CPU keeps serving calls (and shootdowns) aimed at itself. Every slot below
     * goheap_sys_ncpu() is an online CPU: the heap starts after SMP bring-up and CPUs
     * never go offline. */
    smp_call_all(each_cpu_ipi, &c);
    __atomic_fetch_add(&kplat_stats.each_cpu_calls, 1, __ATOMIC_RELAXED);
}

/* ---- leak-scan roots (platform.h, docs/leakscan.md) ---------------------------------
 * Static roots: the kernel's .data and .bss without the allocator's own (the linker
 * scripts put the data and bss of alloc/ objects between __goheap_*_start and _end) and without
 * the boot stack (a CPU's stack, copied live by the next hook; its dead part would
 * hide leaks, and aarch64's guard page below it is unmapped). */
extern char __data_start[], __data_end[], __bss_start[], __bss_end[];
extern char __goheap_data_start[], __goheap_data_end[], __goheap_bss_start[], __goheap_bss_end[];
extern char boot_stack_lo[], boot_stack_top[];

void goheap_sys_leak_roots(void (*add)(uintptr_t lo, uintptr_t hi, void *arg), void *arg)
{
    uintptr_t holes[3][2] = {
        { (uintptr_t)__goheap_data_start, (uintptr_t)__goheap_data_end },
        { (uintptr_t)__goheap_bss_start, (uintptr_t)__goheap_bss_end },
        { (uintptr_t)boot_stack_lo, (uintptr_t)boot_stack_top },
    };
    for (unsigned i = 1; i < 3; i++)            /* by start address */
        for (unsigned j = i; j > 0 && holes[j][0] < holes[j - 1][0]; j--) {
            uintptr_t a = holes[j][0], b = holes[j][1];
            holes[j][0] = holes[j - 1][0], holes[j][1] = holes[j - 1][1];
            holes[j - 1][0] = a, holes[j - 1][1] = b;
        }
    const uintptr_t ranges[2][2] = {
        { (uintptr_t)__data_start, (uintptr_t)__data_end },
        { (uintptr_t)__bss_start, (uintptr_t)__bss_end },
    };
    for (unsigned r = 0; r < 2; r++) {
        uintptr_t lo = ranges[r][0], hi = ranges[r][1];
        for (unsigned i = 0; i < 3 && lo < hi; i++) {
            if (holes[i][1] <= lo || holes[i][0] >= hi)
                continue;
            if (holes[i][0] > lo)
                add(lo, holes[i][0], arg);
            lo = holes[i][1];
        }
        if (lo < hi)
            add(lo, hi, arg);
    }
}

struct leak_stack_call {
    unsigned cpu;
    void (*add)(uintptr_t, uintptr_t, void *);
    void *arg;
    int ret;
};

/* Called through arch_fault_catch_call, below the frame holding the spilled registers:
 * reports [here, stack top). */
static void leak_live_stack(void *p)
{
    struct leak_stack_call *c = p;
    volatile uintptr_t here = 0;
    uintptr_t sp = (uintptr_t)&here, top = cpus[c->cpu].stack_top;
    if (!top || sp < top - KSTACK_BYTES || sp >= top) {
        c->ret = -1;
        return;
    }
    c->add(sp, top, c->arg);
    c->ret = (int)here;
}

/* From goheap_sys_each_cpu's handler on `cpu`, serving a call (struct cpu.ctx set: the
 * call interrupt's trap frame, or call_mask's poll): exactly the interrupted context,
 * its saved registers and [its sp, stack top), not the handler's frames below it,
 * whose unwritten slots hold whatever earlier, deeper calls left there (a leak scan
 * missed planted leaks through them: a 4-byte argument's stale upper half made
 * "arena base + cpu"). Otherwise this is the scanning CPU, called directly by the
 * scan: [here, stack top), the callers' callee-saved registers spilled into `regs`
 * by arch_fault_catch_call (the expected-fault hook's setjmp, used here without a
 * catch) in this frame before calling leak_live_stack; the scan zeroed the stack
 * below its entry first (alloc/leak.c). */
int goheap_sys_leak_cpu_roots(unsigned cpu, void (*add)(uintptr_t lo, uintptr_t hi, void *arg),
                              void *arg)
{
    if (cpu != cpu_index())
        return -1;
    struct cpu *me = this_cpu();
    if (me->ctx.sp) {
        uintptr_t top = me->stack_top, sp = me->ctx.sp, r = (uintptr_t)me->ctx.regs;
        if (!top || sp < top - KSTACK_BYTES || sp > top)
            return -1;
        add(r, r + me->ctx.nregs * sizeof(uint64_t), arg);
        if (sp < top)
            add(sp, top, arg);
        return 0;
    }
    uint64_t regs[ARCH_CATCH_REGS];
    struct leak_stack_call c = { cpu, add, arg, -1 };
    arch_fault_catch_call(regs, leak_live_stack, &c);
    return c.ret;
}

/* ---- heap profiles (docs/profiling.md, "Kernel") -----------------------------------
 * The frame-pointer walk's bounds: the current CPU's kernel stack, [sp, stack_top), and
 * nothing when sp is not on it (an interrupt or IST stack, a foreign stack). The walk
 * then never follows a record into another CPU's stack, the heap or unmapped memory. */
int goheap_sys_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t top = this_cpu()->stack_top;
    if (!top || sp < top - KSTACK_BYTES || sp >= top)
        return 0;
    *lo = sp;
    *hi = top;
    return 1;
}

/* pprof's mapping of the kernel image: its text, where the ELF has it (the image runs
 * at its link address), with offset 0. pprof (elfexec's kernel case) then symbolises
 * with base 0 when the mapping starts at the text segment's first address, which
 * __text_start is (linker/<arch>.ld: .text opens its segment). */
extern char __text_start[], _etext[];

int goheap_sys_profile_maps(int (*w)(void *ctx, const char *buf, size_t len), void *ctx)
{
    char line[96];
    int n = snprintk(line, sizeof line, "%lx-%lx r-xp 00000000 00:00 0 goheap.elf\n",
                     (unsigned long)(uintptr_t)__text_start, (unsigned long)(uintptr_t)_etext);
    return w(ctx, line, (size_t)n) != 0 ? -1 : 0;
}

/* memprofile=serial: the only destination a kernel has (checked here, at init). */
int kplat_memprofile_serial;

void goheap_sys_configure(const struct goheap_sys_config *c)
{
    if (!c->memprofile)
        return;
    if (strcmp(c->memprofile, "serial") != 0)
        panic("goheap: bad knob 'memprofile=%s': the kernel writes heap profiles to the "
              "console (accepted: serial)", c->memprofile);
    kplat_memprofile_serial = 1;
}

/* goheap_profile_request: the profile over the console now (unpinned, no lock held). */
void goheap_sys_profile_dump(void)
{
    kheap_profile_serial("request");
}

/* ---- time, log, panic ------------------------------------------------------------ */
uint64_t goheap_sys_nanotime(void)
{
    return arch_nanotime();
}

/* The log tap: while on, the last KPLAT_TAP_LINES log lines are also kept in memory,
 * so a test can check what allocfreetrace or scavtrace printed. Lines are written
 * pinned from any CPU, hence the interrupt-saving raw lock (a leaf: nothing is taken
 * under it). */
static struct {
    arch_spinlock_t lock;
    int on;
    /* protected by lock: */
    unsigned next;                      /* lines written since the tap was switched on */
    char line[KPLAT_TAP_LINES][KPLAT_TAP_LEN];
} tap;

void kplat_log_tap(int on)
{
    arch_irqflags_t f = arch_spin_lock_irqsave(&tap.lock);
    if (on)
        tap.next = 0;               /* switching on starts afresh; off keeps the lines */
    __atomic_store_n(&tap.on, on, __ATOMIC_RELAXED);
    arch_spin_unlock_irqrestore(&tap.lock, f);
}

int kplat_log_tap_find(const char *needle, char *out, size_t n)
{
    int found = 0;
    arch_irqflags_t f = arch_spin_lock_irqsave(&tap.lock);
    unsigned first = tap.next > KPLAT_TAP_LINES ? tap.next - KPLAT_TAP_LINES : 0;
    for (unsigned i = first; i < tap.next && !found; i++) {
        const char *l = tap.line[i % KPLAT_TAP_LINES];
        for (const char *h = l; *h && !found; h++) {
            size_t k = 0;
            while (needle[k] && h[k] == needle[k])
                k++;
            if (!needle[k]) {
                found = 1;
                for (k = 0; out && k + 1 < n && l[k]; k++)
                    out[k] = l[k];
                if (out && n)
                    out[k] = 0;
            }
        }
    }
    arch_spin_unlock_irqrestore(&tap.lock, f);
    return found;
}

void goheap_sys_log(const char *msg)
{
    printk("%s\n", msg);
    if (!__atomic_load_n(&tap.on, __ATOMIC_RELAXED))
        return;
    arch_irqflags_t f = arch_spin_lock_irqsave(&tap.lock);
    char *l = tap.line[tap.next++ % KPLAT_TAP_LINES];
    size_t k = 0;
    for (; k + 1 < KPLAT_TAP_LEN && msg[k]; k++)
        l[k] = msg[k];
    l[k] = 0;
    arch_spin_unlock_irqrestore(&tap.lock, f);
}

_Noreturn void goheap_sys_panic(const char *msg)
{
    panic("%s", msg);
}

struct kplat_stats kplat_stats;
