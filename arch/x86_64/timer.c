/* arch/x86_64/timer.c: TSC calibration, once, on the BSP. If CPUID leaf 0x15 states
 * the TSC/crystal ratio and the crystal frequency, use that; otherwise count TSC
 * ticks across 10 ms of PIT channel 2 (1.193182 MHz, gate via port 0x61), three times,
 * keeping the lowest: a vCPU descheduled during a window only adds TSC ticks (seen
 * under load: 15 GHz instead of 2.6). Under TCG both clocks are emulated, so ns are
 * indicative; only differences are used. Also the periodic tick (arch_tick_start) on
 * the LAPIC timer. */
#include <stdint.h>
#include <arch/cpu.h>
#include <arch/timer.h>
#include <arch/x86.h>
#include <arch/x86_cpu.h>
#include <arch_api.h>
#include <panic.h>

uint64_t arch_tsc_base, arch_tsc_mult, arch_tsc_hz;

#define PIT_HZ 1193182u
#define CAL_MS 10               /* 10 ms: ~0.01% resolution at 1 GHz, cheap at boot */
#define CAL_RUNS 3              /* 30 ms of boot time; the minimum discards preempted runs */

static uint64_t tsc_from_cpuid(void)
{
    uint32_t a, b, c, d;
    cpuid(0, 0, &a, &b, &c, &d);
    if (a < 0x15)
        return 0;
    cpuid(0x15, 0, &a, &b, &c, &d);     /* eax denominator, ebx numerator, ecx crystal Hz */
    if (!a || !b || !c)
        return 0;
    return (uint64_t)c * b / a;
}

static uint64_t tsc_from_pit(void)
{
    uint32_t latch = PIT_HZ / (1000 / CAL_MS);
    outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01));  /* gate 2 on, speaker off */
    outb(0x43, 0xb0);                                   /* ch 2, lo/hi, mode 0, binary */
    outb(0x42, (uint8_t)latch);
    outb(0x42, (uint8_t)(latch >> 8));
    uint64_t t0 = arch_cycles();
    uint64_t spins = 0;
    while (!(inb(0x61) & 0x20))                         /* OUT2 goes high at terminal count */
        if (++spins > 100000000ull)
            panic("timer: PIT channel 2 never reached terminal count");
    uint64_t t1 = arch_cycles();
    /* The window is `latch` PIT periods, 11931 of them: 9.99931 ms, not 10 (the division
     * above truncates 11931.82). Scaling by 1000 / CAL_MS read every TSC 68.7 ppm slow
     * (999,931,800 Hz for icount's exact 1 GHz); scale by the window's true length. */
    return (t1 - t0) * PIT_HZ / latch;
}

uint64_t arch_timer_init(void)
{
    uint64_t hz = tsc_from_cpuid();
    if (!hz)
        for (int i = 0; i < CAL_RUNS; i++) {
            uint64_t h = tsc_from_pit();
            if (!hz || h < hz)
                hz = h;
        }
    if (hz < 1000000)
        panic("timer: implausible TSC frequency %llu Hz", (unsigned long long)hz);
    arch_tsc_hz = hz;
    arch_tsc_mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / hz);
    arch_tsc_base = arch_cycles();
    return hz;
}

/* LAPIC timer registers and LVT bits (Intel SDM vol. 3, 11.5). */
#define LAPIC_LVT_TIMER  0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR  0x390
#define LAPIC_TIMER_DIV  0x3e0
#define LVT_MASKED       (1u << 16)
#define LVT_PERIODIC     (1u << 17)
#define TIMER_DIV_1      0xb

/* arch_api.h: a periodic tick on this CPU. The LAPIC timer's rate is not
 * architectural, so it is measured against the calibrated TSC over 1 ms (masked,
 * one-shot, divide by 1), then the timer is set periodic at `hz`. */
void arch_tick_start(unsigned hz)
{
    if (!hz)
        return;
    lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_1);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | VEC_TICK);
    lapic_write(LAPIC_TIMER_INIT, 0xffffffffu);
    uint64_t t0 = arch_cycles();
    while (arch_cycles() - t0 < arch_tsc_hz / 1000)
        arch_cpu_relax();
    uint64_t per_ms = 0xffffffffu - lapic_read(LAPIC_TIMER_CUR);
    uint64_t count = per_ms * 1000 / hz;
    if (count == 0 || count > 0xffffffffu)
        panic("tick: LAPIC timer counts %llu per ms: cannot tick at %u Hz",
              (unsigned long long)per_ms, hz);
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VEC_TICK);
    lapic_write(LAPIC_TIMER_INIT, (uint32_t)count);
}
