/* arch/aarch64/timer.c: the generic timer's frequency and the ns conversion factor. */
#include <arch/timer.h>
#include <panic.h>

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
