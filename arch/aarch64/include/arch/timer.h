/* arch/timer.h (aarch64): monotonic nanoseconds from the generic timer's virtual
 * counter CNTVCT_EL0, at the frequency CNTFRQ_EL0 states (set by firmware/QEMU:
 * 62.5 MHz on QEMU virt), so no calibration is needed. */
#ifndef ARCH_TIMER_H
#define ARCH_TIMER_H

#include <stdint.h>

/* ns = ((cnt - arch_timer_base) * arch_timer_mult) >> 32; written once by
 * arch_timer_init. mult = 10^9 * 2^32 / hz fits 64 bits for hz >= 233 Hz. */
extern uint64_t arch_timer_base;
extern uint64_t arch_timer_mult;
extern uint64_t arch_timer_hz;

/* The counter. ISB first so the read is not hoisted above earlier instructions
 * (CNTVCT reads may otherwise be performed out of order). */
static inline uint64_t arch_cycles(void)
{
    uint64_t c;
    __asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(c) : : "memory");
    return c;
}

static inline uint64_t arch_nanotime(void)
{
    uint64_t d = arch_cycles() - arch_timer_base;
    return (uint64_t)(((unsigned __int128)d * arch_timer_mult) >> 32);
}

/* Counter ticks per second (arch_cycles): CNTFRQ_EL0 as read at boot. */
static inline uint64_t arch_counter_hz(void) { return arch_timer_hz; }

/* Read CNTFRQ_EL0 (boot CPU, once, before SMP start). Returns the frequency in Hz. */
uint64_t arch_timer_init(void);

#endif /* ARCH_TIMER_H */
