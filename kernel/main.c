/* kernel/main.c: the portable boot sequence (boot CPU) and the AP entry. After
 * bring-up it prints the machine summary, then runs the selected test suites
 * (`test=<prefix>`) or the demo payload, and exits QEMU with the verdict. */
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/smp.h>
#include <arch/timer.h>
#include <arch_api.h>
#include <cmdline.h>
#include <frame.h>
#include <kexit.h>
#include <ktest.h>
#include <percpu.h>
#include <printk.h>
#include <smp.h>
#include <string.h>

#ifndef ARCH_HWID_NAME
#define ARCH_HWID_NAME "hwid"   /* an arch may name its hardware CPU id (arch/cpu.h) */
#endif

/* The `make run` payload: a later part (the kernel heap demo) overrides this weak
 * definition. Returns the exit status to report. */
__attribute__((weak)) unsigned kernel_run_demo(void)
{
    printk("demo: no payload linked; bring-up only\n");
    return KEXIT_PASS;
}

/* Called once when the tests or the demo are done, before the exit: a later part may
 * report (the heap writes its profile with goheap=memprofile=serial). Weak, like the
 * demo. */
__attribute__((weak)) void kernel_at_exit(void)
{
}

static void print_summary(void)
{
    struct mem_range r[64];
    size_t n = arch_memmap(r, 64);
    uint64_t total = 0;
    printk("memory map: %zu usable ranges\n", n);
    for (size_t i = 0; i < n; i++) {
        printk("  [%016llx-%016llx) %6llu KiB\n", (unsigned long long)r[i].base,
               (unsigned long long)(r[i].base + r[i].size), (unsigned long long)(r[i].size >> 10));
        total += r[i].size;
    }
    printk("memory: %llu MiB usable\n", (unsigned long long)(total >> 20));
    unsigned on = cpus_online();
    printk("cpus online: %u\n", on);
    for (unsigned i = 0; i < MAX_CPUS; i++)
        if (cpus[i].online)
            printk("  cpu %u: %s %llu\n", i, ARCH_HWID_NAME, (unsigned long long)cpus[i].hwid);
    struct frame_stats s;
    frame_stats(&s);
    printk("frames: total %llu free %llu cached %llu reserved %llu (%llu MiB free)\n",
           (unsigned long long)s.total, (unsigned long long)s.free,
           (unsigned long long)s.cached, (unsigned long long)s.reserved,
           (unsigned long long)(s.free >> 8));
    printk("frame allocator init: %llu us (%llu cycles) for %llu MiB of physical space\n",
           (unsigned long long)(s.init_ns / 1000), (unsigned long long)s.init_cycles,
           (unsigned long long)(s.max_pa >> 20));
}

void kernel_main(void)
{
    arch_early_init();
    cmdline_init(arch_cmdline());
    /* printk formats into 512 bytes: echo the line in slices so a long one keeps
     * every byte and its newline. */
    const char *cl = cmdline_raw();
    printk("goheap test kernel (%s)\ncmdline: ", ARCH_NAME);
    for (size_t n = strlen(cl); n; ) {
        int k = n > 256 ? 256 : (int)n;
        printk("%.*s", k, cl);
        cl += k;
        n -= (size_t)k;
    }
    printk("\n");
    uint64_t hz = arch_timer_init();
    printk("timer: %llu kHz\n", (unsigned long long)(hz / 1000));
    frame_init();
    arch_mm_init();
    arch_smp_start();
    print_summary();

    const char *filter = cmdline_get("test");
    unsigned status;
    if (filter) {
        unsigned failed = ktest_run_all(filter);
        status = failed ? KEXIT_FAIL : KEXIT_PASS;
    } else {
        status = kernel_run_demo();
    }
    kernel_at_exit();
    kernel_exit(status);
}

void kernel_ap_main(void)
{
    percpu_mark_online();
    smp_idle_loop();
}
