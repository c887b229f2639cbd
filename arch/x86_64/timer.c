/* arch/x86_64/timer.c: TSC calibration, once, on the BSP. If CPUID leaf 0x15 states
 * the TSC/crystal ratio and the crystal frequency, use that; otherwise count TSC
 * ticks across 10 ms of PIT channel 2 (1.193182 MHz, gate via port 0x61), three times,
 * keeping the lowest: a vCPU descheduled during a window only adds TSC ticks (seen
 * under load: 15 GHz instead of 2.6). Under TCG both clocks are emulated, so ns are
 * indicative; only differences are used. */
#include <stdint.h>
#include <arch/timer.h>
#include <arch/x86.h>
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
    return (t1 - t0) * (1000 / CAL_MS);
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
