/* arch/x86_64/smp.c: the local APIC (xAPIC MMIO), IPIs, and AP bring-up with
 * INIT-SIPI-SIPI through the real-mode trampoline. Each AP gets its own stack, GDT,
 * TSS (double-fault IST stack) and IDT from the frame allocator, and GS base pointing
 * at its struct cpu. The APIC id -> dense index table covers x2APIC-sized ids. */
#include <stdint.h>
#include <string.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/smp.h>
#include <arch/timer.h>
#include <arch/x86.h>
#include <arch/x86_cpu.h>
#include <arch_api.h>
#include <frame.h>
#include <panic.h>
#include <percpu.h>
#include <printk.h>
#include <smp.h>
#include <vm.h>

#define LAPIC_ID    0x020
#define LAPIC_EOI   0x0b0
#define LAPIC_SVR   0x0f0
#define LAPIC_ICRLO 0x300
#define LAPIC_ICRHI 0x310
#define ICR_PENDING (1u << 12)

#define TRAMP_PA 0x8000
#define AP_STACK_FRAMES 4       /* 16 KiB kernel stack per AP, like the BSP's boot stack */
_Static_assert(AP_STACK_FRAMES * ARCH_FRAME_SIZE == KSTACK_BYTES, "percpu.h KSTACK_BYTES");

/* APIC id -> dense index + 1 (0: unknown). 2^16 entries covers every id QEMU or real
 * x2APIC machines below 65536 hand out; larger ids are refused at discovery. */
#define HWID_TABLE_SIZE 65536u
static uint8_t hwid_to_index[HWID_TABLE_SIZE];

static volatile uint32_t *lapic;
static struct x86_cpu *ap_tables[MAX_CPUS];

extern char tramp_start[], tramp_end[], tramp_cr3[], tramp_stack[], tramp_index[];
extern uint64_t boot_pml4[];

uint32_t lapic_read(unsigned reg) { return lapic[reg / 4]; }
void lapic_write(unsigned reg, uint32_t v) { lapic[reg / 4] = v; }

void lapic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

static void lapic_enable(void)
{
    lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);   /* software enable */
}

static void icr_send(uint32_t apic_id, uint32_t lo)
{
    arch_irqflags_t f = arch_irq_save();    /* the two writes are one command */
    while (lapic_read(LAPIC_ICRLO) & ICR_PENDING)
        arch_cpu_relax();
    lapic_write(LAPIC_ICRHI, apic_id << 24);
    lapic_write(LAPIC_ICRLO, lo);
    while (lapic_read(LAPIC_ICRLO) & ICR_PENDING)
        arch_cpu_relax();
    arch_irq_restore(f);
}

void arch_ipi_send(unsigned cpu)
{
    icr_send((uint32_t)cpus[cpu].hwid, VEC_CALL);     /* fixed, physical destination */
}

void arch_ipi_broadcast_others(void)
{
    icr_send(0, VEC_CALL | (3u << 18));               /* shorthand: all excluding self */
}

uint64_t arch_cpu_hwid(void)
{
    return lapic_read(LAPIC_ID) >> 24;
}

int arch_cpu_index_of_hwid(uint64_t hwid)
{
    if (hwid >= HWID_TABLE_SIZE || !hwid_to_index[hwid])
        return -1;
    return hwid_to_index[hwid] - 1;
}

static void delay_us(uint64_t us)
{
    uint64_t end = arch_nanotime() + us * 1000;
    while (arch_nanotime() < end)
        arch_cpu_relax();
}

/* C entry of an AP (from ap_entry64, on its own stack). */
void x86_ap_start(unsigned index)
{
    percpu_init_cpu(index, cpus[index].hwid);
    x86_cpu_tables_init(ap_tables[index], index);
    lapic_enable();
    arch_irq_enable();
    kernel_ap_main();
}

static void start_ap(unsigned index, uint32_t apic_id)
{
    /* The stack lives in the scratch range above an unmapped guard frame: an overflow
     * faults, the #PF cannot be pushed, and the #DF (IST1 stack) reports it. */
    uintptr_t guard = vm_reserve_scratch((AP_STACK_FRAMES + 1) * ARCH_FRAME_SIZE);
    uintptr_t stack = guard + ARCH_FRAME_SIZE;
    size_t tframes = (sizeof(struct x86_cpu) + ARCH_FRAME_SIZE - 1) / ARCH_FRAME_SIZE;
    uint64_t tables = frame_alloc_run(tframes, 1, FRAME_ZERO);
    if (!tables || vm_map_fresh(stack, AP_STACK_FRAMES * ARCH_FRAME_SIZE, ARCH_MAP_WRITE, 1))
        panic("smp: no memory for cpu %u (apic id %u)", index, apic_id);
    ap_tables[index] = arch_phys_to_virt(tables);
    cpus[index].hwid = apic_id;
    cpus[index].stack_top = stack + AP_STACK_FRAMES * ARCH_FRAME_SIZE;

    /* The trampoline page is reached through the direct map; its data words are
     * patched per AP (one AP starts at a time). */
    uint8_t *t = arch_phys_to_virt(TRAMP_PA);
    uint64_t top = stack + AP_STACK_FRAMES * ARCH_FRAME_SIZE;
    uint64_t cr3 = read_cr3(), idx = index;
    memcpy(t + (tramp_cr3 - tramp_start), &cr3, 8);
    memcpy(t + (tramp_stack - tramp_start), &top, 8);
    memcpy(t + (tramp_index - tramp_start), &idx, 8);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);

    /* INIT, then SIPI twice. The MP spec's 10 ms INIT wait is for 1990s hardware;
     * QEMU (TCG and KVM) needs none, so 1 ms keeps an 8-CPU boot under 20 ms. */
    icr_send(apic_id, 0x00004500);                  /* INIT, level assert */
    delay_us(1000);
    for (int i = 0; i < 2 && !cpus[index].online; i++) {
        icr_send(apic_id, 0x00004600 | (TRAMP_PA >> 12));   /* STARTUP */
        delay_us(200);
    }
    /* 10 s: a vCPU thread on a loaded host can wait long for its first time slice. */
    uint64_t deadline = arch_nanotime() + 10000000000ull;
    while (!__atomic_load_n(&cpus[index].online, __ATOMIC_ACQUIRE))
        if (arch_nanotime() > deadline)
            panic("smp: cpu %u (apic id %u) did not come online", index, apic_id);
        else
            arch_cpu_relax();
}

unsigned arch_smp_start(void)
{
    lapic = vm_map_device(acpi_lapic_pa, ARCH_FRAME_SIZE);
    lapic_enable();
    uint32_t bsp_id = (uint32_t)arch_cpu_hwid();
    cpus[0].hwid = bsp_id;
    hwid_to_index[bsp_id] = 1;
    percpu_mark_online();

    memcpy(arch_phys_to_virt(TRAMP_PA), tramp_start, (size_t)(tramp_end - tramp_start));
    unsigned next = 1;
    for (unsigned i = 0; i < acpi_ncpus; i++) {
        uint32_t id = acpi_cpu_ids[i];
        if (id == bsp_id)
            continue;
        if (id >= HWID_TABLE_SIZE)
            panic("smp: APIC id %u beyond the %u-entry id table", id, HWID_TABLE_SIZE);
        /* IPIs go through the xAPIC ICR, whose destination is 8 bits. Larger ids need
         * x2APIC mode (MSR ICR), which QEMU 7.2's TCG does not emulate: refuse loudly
         * rather than send INIT/SIPI to the wrong CPU. */
        if (id > 255)
            panic("smp: APIC id %u needs x2APIC mode, which this kernel does not use", id);
        if (next >= MAX_CPUS) {
            printk("smp: more than %u CPUs; apic id %u stays offline\n", MAX_CPUS, id);
            continue;
        }
        hwid_to_index[id] = (uint8_t)(next + 1);
        start_ap(next, id);
        next++;
    }
    x86_drop_identity_map();
    return cpus_online();
}
