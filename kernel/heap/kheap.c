/* kernel/heap/kheap.c: goheap as the kernel heap: initialisation after SMP bring-up
 * with the knobs from `goheap=...` on the command line, and the per-CPU tick that
 * drives goheap_background_work (the kernel has no periodic timer interrupt). */
#include <arch/cpu.h>
#include <arch/timer.h>
#include <arch_api.h>
#include <cmdline.h>
#include <frame.h>
#include <goheap.h>
#include <kexit.h>
#include <panic.h>
#include <percpu.h>
#include <printk.h>
#include <smp.h>
#include <spinlock.h>

#include <kheap.h>
#include "arena.h"     /* gh_arena_bytes(), for the boot line */

/* Held across goheap_init, which takes the allocator's locks and maps memory: class
 * PLATFORM_OUTER ranks below all of them. */
static struct spinlock init_lock = SPINLOCK_INIT("kheap-init", LOCK_RANK_HEAP_OUTER);
static int ready;

int kheap_ready(void)
{
    return __atomic_load_n(&ready, __ATOMIC_ACQUIRE);
}

void kheap_init(void)
{
    kheap_init_default(0);
}

void kheap_init_default(const char *dflt)
{
    if (kheap_ready())
        return;
    spin_lock(&init_lock);
    if (!ready) {
        /* One cache slot per CPU online; the set is final once arch_smp_start
         * returned, and CPUs never go offline in this kernel. */
        kplat_set_ncpu(cpus_online());
        /* Every goheap= word, joined: later tokens override earlier ones. */
        static char knobs[CMDLINE_MAX];
        int nk = cmdline_join("goheap", ',', knobs, sizeof knobs);
        struct goheap_config cfg = { .arena_bytes = KHEAP_ARENA_BYTES,
                                     .knobs = nk > 0 ? knobs : 0 };
        if (!cfg.knobs)
            cfg.knobs = dflt;
        int err = goheap_init(&cfg);
        if (err == GOHEAP_INIT_BADKNOBS)
            panic("kheap: bad goheap= knobs on the command line: %s", goheap_knobs_error());
        if (err)
            panic("kheap: goheap_init failed (%d): no address space for the heap (the line "
                  "above says what was asked), knobs '%s'", err, cfg.knobs ? cfg.knobs : "");
        /* Lazy release (madvdontneed=0): the frame allocator pulls lazily released
         * pages back when it runs short (a no-op in eager mode). */
        frame_set_reclaimer(goheap_reclaim_lazy);
        /* The arena reserved (arena= overrides the 1 TiB default). */
        printk("kheap: goheap up: %u CPUs, arena %llu GiB, knobs '%s'\n", cpus_online(),
               (unsigned long long)(gh_arena_bytes() >> 30), cfg.knobs ? cfg.knobs : "");
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    spin_unlock(&init_lock);
}

/* The end of the boot (kernel/main.c): memprofile=serial writes the profile now. */
void kernel_at_exit(void)
{
    if (kheap_ready() && kplat_memprofile_serial)
        kheap_profile_serial("exit");
}

/* Last tick per CPU; written only by that CPU. */
static uint64_t last_tick[MAX_CPUS];

void kheap_tick(void)
{
    if (!kheap_ready() || !arch_irqs_enabled())
        return;
    unsigned cpu = cpu_index();
    uint64_t now = arch_nanotime();
    if (now - last_tick[cpu] < KHEAP_TICK_NS)
        return;
    last_tick[cpu] = now;
    goheap_background_work();
}

/* ---- idle-time background work ---------------------------------------------------
 * With a periodic tick (arch_tick_start), each idle CPU's loop calls
 * kernel_idle_work() after every tick, in thread context with interrupts on. */
uint64_t kheap_idle_work_calls[MAX_CPUS];

void kernel_idle_work(void)
{
    kheap_idle_work_calls[cpu_index()]++;
    kheap_tick();
}

static void tick_start_ipi(void *arg)
{
    arch_tick_start(*(unsigned *)arg);
}

static int ticks_started;

int kheap_ticks_started(void) { return __atomic_load_n(&ticks_started, __ATOMIC_ACQUIRE); }

void kheap_ticks_start(unsigned hz)
{
    if (__atomic_exchange_n(&ticks_started, 1, __ATOMIC_ACQ_REL))
        return;
    smp_call_all(tick_start_ipi, &hz);
}
