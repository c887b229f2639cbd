/* arch/aarch64/timer.c: the generic timer's frequency and the ns conversion factor,
 * and the optional periodic tick on the virtual timer (CNTV). */
#include <arch/timer.h>
#include <arch_api.h>
#include <panic.h>
#include <smp.h>
#include <arch/a64.h>

uint64_t arch_timer_base;
uint64_t arch_timer_mult;
uint64_t arch_timer_hz;

uint64_t arch_timer_init(void)
{
    uint64_t hz;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(hz));
    if (hz < 1000)
        panic("timer: CNTFRQ_EL0 = %lu Hz is not plausible", (unsigned long)hz);
    arch_timer_hz = hz;
    arch_timer_mult = (1000000000ull << 32) / hz;        /* 10^9 * 2^32 < 2^64 */
    arch_timer_base = arch_cycles();
    return hz;
}

/* Ticks of CNTVCT between two tick interrupts; written before any CPU starts ticking
 * (all CPUs tick at the same rate), read by the tick handler. */
static uint64_t tick_interval;

/* arch_api.h: CNTV_TVAL counts down from `interval`; CNTV_CTL = ENABLE (IMASK clear)
 * raises PPI 27 when it reaches zero; the handler re-arms it. */
void arch_tick_start(unsigned hz)
{
    if (!hz)
        return;
    uint64_t iv = arch_timer_hz / hz;
    if (!iv)
        panic("tick: counter at %lu Hz cannot tick at %u Hz", (unsigned long)arch_timer_hz, hz);
    __atomic_store_n(&tick_interval, iv, __ATOMIC_RELAXED);
    __asm__ volatile("msr cntv_tval_el0, %0\n\tmsr cntv_ctl_el0, %1\n\tisb"
                     : : "r"(iv), "r"((uint64_t)1) : "memory");
    gic_enable_ppi(PPI_VTIMER);
}

void timer_tick_irq(void)
{
    uint64_t iv = __atomic_load_n(&tick_interval, __ATOMIC_RELAXED);
    __asm__ volatile("msr cntv_tval_el0, %0\n\tisb" : : "r"(iv) : "memory");
    kernel_tick();
}
