/* arch/timer.h (x86_64): monotonic nanoseconds from the TSC, calibrated once at boot
 * (CPUID leaf 0x15 when it states the frequency, else PIT channel 2; see docs/boot.md). */
#ifndef ARCH_TIMER_H
#define ARCH_TIMER_H

#include <stdint.h>

/* ns = ((tsc - arch_tsc_base) * arch_tsc_mult) >> 32; written once by arch_timer_init. */
extern uint64_t arch_tsc_base;
extern uint64_t arch_tsc_mult;
extern uint64_t arch_tsc_hz;

static inline uint64_t arch_cycles(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* Nanoseconds since calibration; 0 before it. */
static inline uint64_t arch_nanotime(void)
{
    uint64_t d = arch_cycles() - arch_tsc_base;
    return (uint64_t)(((unsigned __int128)d * arch_tsc_mult) >> 32);
}

/* Counter ticks per second (arch_cycles), as read or calibrated at boot. */
static inline uint64_t arch_counter_hz(void) { return arch_tsc_hz; }

/* Calibrate (BSP, once, before SMP start). Returns the measured frequency in Hz. */
uint64_t arch_timer_init(void);

#endif /* ARCH_TIMER_H */
