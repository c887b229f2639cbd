/* kernel/smp.c: cross-CPU calls (interrupt context, one IPI round), thread-context work
 * on idle CPUs, and the barrier. Portable: the arch only sends the call IPI and calls
 * smp_ipi_handler() when it arrives. */
#include <arch/cpu.h>
#include <arch/smp.h>
#include <arch_api.h>
#include <bitops.h>
#include <kconfig.h>
#include <panic.h>
#include <percpu.h>
#include <smp.h>

_Static_assert(MAX_CPUS <= 64, "call_pending is one 64-bit mask per CPU");

/* One outstanding call per sender: the sender owns reqs[self] until pending drops to 0. */
struct call_req {
    void (*fn)(void *);
    void *arg;
    unsigned pending;   /* targets that have not finished fn yet */
} __attribute__((aligned(ARCH_CACHE_LINE)));

static struct call_req reqs[MAX_CPUS];
/* call_pending[t] bit s: sender s has a call queued for CPU t. Set by senders (any CPU),
 * cleared by t. */
static uint64_t call_pending[MAX_CPUS] __attribute__((aligned(ARCH_CACHE_LINE)));

void smp_ipi_handler(void)
{
    unsigned me = cpu_index();
    uint64_t bits = __atomic_exchange_n(&call_pending[me], 0, __ATOMIC_ACQUIRE);
    while (bits) {
        unsigned s = (unsigned)__builtin_ctzll(bits);
        bits &= bits - 1;
        struct call_req *r = &reqs[s];
        r->fn(r->arg);
        __atomic_fetch_sub(&r->pending, 1, __ATOMIC_RELEASE);
    }
}

static unsigned long rounds;

int (*smp_test_ipi_hook)(unsigned target);

/* call_mask's poll, through arch_fault_catch_call: the calls see call_mask's
 * callee-saved registers (regs) and its stack from the call on as the context they
 * interrupted (struct cpu.ctx). They run in interrupt context as under the call IPI,
 * irq_depth raised as the arch handlers raise it: the frame allocator refuses them,
 * and a fault in one panics rather than resuming at a catch of the waiting thread
 * (which would abandon the call and leave its sender waiting forever). */
static void serve_polled(void *regs)
{
    struct cpu *c = this_cpu();
    const uint64_t *r = regs;
    struct cpu_ctx old = cpu_ctx_enter(c, r, ARCH_CATCH_REGS, (uintptr_t)r[ARCH_CATCH_SP]);
    c->irq_depth++;
    smp_ipi_handler();
    c->irq_depth--;
    cpu_ctx_leave(c, old);
}

unsigned long smp_call_rounds(void)
{
    return __atomic_load_n(&rounds, __ATOMIC_RELAXED);
}

static void call_mask(uint64_t targets, void (*fn)(void *), void *arg)
{
    unsigned me = cpu_index();
    __atomic_fetch_add(&rounds, 1, __ATOMIC_RELAXED);
    if (KERNEL_DEBUG && !arch_irqs_enabled() && (targets & ~(1ull << me)))
        panic("smp call from cpu %u with interrupts masked (would wait for acks masked)", me);
    struct call_req *r = &reqs[me];
    r->fn = fn;
    r->arg = arg;
    uint64_t others = targets & ~(1ull << me);
    __atomic_store_n(&r->pending, popcount64(others), __ATOMIC_RELAXED);
    for (uint64_t b = others; b; b &= b - 1) {
        unsigned t = (unsigned)__builtin_ctzll(b);
        __atomic_fetch_or(&call_pending[t], 1ull << me, __ATOMIC_RELEASE);
        int (*hook)(unsigned) = __atomic_load_n(&smp_test_ipi_hook, __ATOMIC_ACQUIRE);
        if (!hook || hook(t))
            arch_ipi_send(t);
    }
    if (targets & (1ull << me)) {
        arch_irqflags_t f = arch_irq_save();
        fn(arg);
        arch_irq_restore(f);
    }
    /* Wait for the acks, serving calls aimed at this CPU meanwhile (interrupts are on,
     * and we also poll, so two CPUs calling each other cannot deadlock). */
    while (__atomic_load_n(&r->pending, __ATOMIC_ACQUIRE)) {
        if (__atomic_load_n(&call_pending[me], __ATOMIC_RELAXED)) {
            arch_irqflags_t f = arch_irq_save();
            uint64_t regs[ARCH_CATCH_REGS];
            arch_fault_catch_call(regs, serve_polled, regs);
            arch_irq_restore(f);
        }
        arch_cpu_relax();
    }
}

static uint64_t online_mask(void)
{
    uint64_t m = 0;
    for (unsigned i = 0; i < MAX_CPUS; i++)
        if (__atomic_load_n(&cpus[i].online, __ATOMIC_ACQUIRE))
            m |= 1ull << i;
    return m;
}

void smp_call_all(void (*fn)(void *), void *arg)
{
    call_mask(online_mask() | (1ull << cpu_index()), fn, arg);
}

void smp_call_cpu(unsigned cpu, void (*fn)(void *), void *arg)
{
    call_mask(1ull << cpu, fn, arg);
}

/* ---- thread-context work on idle CPUs ------------------------------------------ */
struct run_work {
    void (*fn)(unsigned cpu, void *arg);
    void *arg;
    unsigned remaining;
};

static struct run_work *run_slot[MAX_CPUS];

void smp_run_all(void (*fn)(unsigned cpu, void *arg), void *arg)
{
    unsigned me = cpu_index();
    uint64_t others = online_mask() & ~(1ull << me);
    struct run_work w = { fn, arg, popcount64(others) + 1 };
    for (uint64_t b = others; b; b &= b - 1) {
        unsigned t = (unsigned)__builtin_ctzll(b);
        struct run_work *expect = 0;
        if (!__atomic_compare_exchange_n(&run_slot[t], &expect, &w, 0, __ATOMIC_RELEASE,
                                         __ATOMIC_RELAXED))
            panic("smp_run_all: cpu %u is busy with other work", t);
        arch_ipi_send(t);
    }
    fn(me, arg);
    __atomic_fetch_sub(&w.remaining, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&w.remaining, __ATOMIC_ACQUIRE))
        arch_cpu_relax();
}

/* tick_pending[c]: set by CPU c's tick interrupt, cleared by CPU c's idle loop. */
static uint8_t tick_pending[MAX_CPUS];

void kernel_tick(void)
{
    __atomic_store_n(&tick_pending[cpu_index()], 1, __ATOMIC_RELAXED);
}

__attribute__((weak)) void kernel_idle_work(void)
{
}

_Noreturn void smp_idle_loop(void)
{
    unsigned me = cpu_index();
    for (;;) {
        arch_irq_disable();
        struct run_work *w = __atomic_exchange_n(&run_slot[me], 0, __ATOMIC_ACQUIRE);
        if (!w) {
            if (__atomic_load_n(&tick_pending[me], __ATOMIC_RELAXED)) {
                __atomic_store_n(&tick_pending[me], 0, __ATOMIC_RELAXED);
                arch_irq_enable();
                kernel_idle_work();
                continue;
            }
            arch_wait_for_interrupt();  /* sti; hlt: an IPI cannot slip in between */
            continue;
        }
        arch_irq_enable();
        w->fn(me, w->arg);
        __atomic_fetch_sub(&w->remaining, 1, __ATOMIC_RELEASE);
    }
}

/* ---- barrier --------------------------------------------------------------------- */
void smp_barrier_init(struct smp_barrier *b, unsigned n)
{
    __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&b->gen, 0, __ATOMIC_RELAXED);
    b->n = n;
}

void smp_barrier_wait(struct smp_barrier *b)
{
    unsigned g = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_fetch_add(&b->count, 1, __ATOMIC_ACQ_REL) + 1 == b->n) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->gen, g + 1, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == g)
        arch_cpu_relax();
}
