/* arch/aarch64/early.c: the boot CPU's arch initialisation (per-CPU pointer, CPU
 * features, device tree, console, direct map of RAM, GIC) and the memory map,
 * reservations and command line handed to the portable kernel. */
#include <arch/console.h>
#include <arch/paging.h>
#include <arch/smp.h>
#include <arch/spinlock.h>
#include <arch/sysregs.h>
#include <arch_api.h>
#include <panic.h>
#include <percpu.h>
#include <printk.h>
#include <string.h>
#include <arch/a64.h>

uint64_t boot_dtb_pa;                   /* x0 at entry (entry.S) */
uint64_t boot_el;                       /* CurrentEL at entry: 1, 2 or 3 (entry.S) */
uint8_t arch_have_lse;

extern char __kernel_start[], _kernel_end[];

/* FEAT_LSE from ID_AA64ISAR0_EL1.Atomic [23:20] (2: LDADD/CAS/SWP...). The command
 * line word `nolse` forces LL/SC, so both paths can be tested on one CPU model. */
void cpufeature_init(void)
{
    uint64_t isar0;
    __asm__ volatile("mrs %0, id_aa64isar0_el1" : "=r"(isar0));
    arch_have_lse = ((isar0 >> 20) & 0xf) >= 2;
    const char *p = fdt.bootargs;
    size_t n = strlen("nolse");
    for (; *p; p++)
        if ((p == fdt.bootargs || p[-1] == ' ') && !strncmp(p, "nolse", n) &&
            (p[n] == 0 || p[n] == ' '))
            arch_have_lse = 0;
}

void arch_early_init(void)
{
    uint64_t mpidr;
    __asm__ volatile("mrs %0, mpidr_el1" : "=r"(mpidr));
    percpu_init_cpu(0, mpidr_affinity(mpidr));  /* panic and printk need the index */
    arch_console_init();                        /* QEMU virt's PL011 until the DTB says */
    if (fdt_parse(boot_dtb_pa) != 0)
        panic("aarch64: no valid device tree (x0 = 0x%lx, start of RAM tried too)",
              (unsigned long)boot_dtb_pa);
    arch_console_init();
    cpufeature_init();
    if (fdt.nmem == 0)
        panic("aarch64: the device tree has no memory node");
    for (size_t i = 0; i < fdt.nmem; i++)
        mmu_early_map(fdt.mem[i].base, fdt.mem[i].size, PTE_BLOCK_NORMAL_NX);
    if (fdt.psci == PSCI_NONE)
        fdt.psci = boot_el == 3 ? PSCI_PEN : boot_el == 2 ? PSCI_SMC : PSCI_HVC;
    gic_init_distributor();
    gic_init_cpu();

    uint64_t midr;
    __asm__ volatile("mrs %0, midr_el1" : "=r"(midr));
    printk("aarch64: booted at EL%lu, MIDR 0x%lx, MPIDR 0x%lx, %s atomics, PSCI via %s\n",
           (unsigned long)boot_el, (unsigned long)midr, (unsigned long)mpidr,
           arch_have_lse ? "LSE" : "LL/SC", fdt.psci == PSCI_SMC ? "smc" : fdt.psci == PSCI_PEN ? "none (EL3 pen)" : "hvc");
    printk("aarch64: DTB at 0x%lx (%lu bytes), %u cpus, GICv%u at 0x%lx/0x%lx, PL011 at 0x%lx\n",
           (unsigned long)fdt.dtb_pa, (unsigned long)fdt.dtb_size, fdt.ncpu, fdt.gic_version,
           (unsigned long)fdt.gicd_pa,
           (unsigned long)(fdt.gic_version == 3 ? fdt.gicr_pa : fdt.gicc_pa),
           (unsigned long)fdt.uart_pa);
    arch_irq_enable();          /* only the call SGI is enabled at the GIC */
}

static void sort_ranges(struct mem_range *r, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && r[j].base < r[j - 1].base; j--) {
            struct mem_range t = r[j];
            r[j] = r[j - 1];
            r[j - 1] = t;
        }
}

size_t arch_memmap(struct mem_range *out, size_t max)
{
    struct mem_range r[FDT_MAX_MEM];
    size_t n = 0, k = 0;
    for (size_t i = 0; i < fdt.nmem; i++) {
        uint64_t b = (fdt.mem[i].base + ARCH_FRAME_SIZE - 1) & ~(ARCH_FRAME_SIZE - 1);
        uint64_t e = (fdt.mem[i].base + fdt.mem[i].size) & ~(ARCH_FRAME_SIZE - 1);
        if (e > b)
            r[n++] = (struct mem_range){ b, e - b };
    }
    sort_ranges(r, n);
    for (size_t i = 0; i < n; i++) {
        if (k && r[i].base <= out[k - 1].base + out[k - 1].size) {    /* merge overlap */
            uint64_t e = r[i].base + r[i].size;
            if (e > out[k - 1].base + out[k - 1].size)
                out[k - 1].size = e - out[k - 1].base;
        } else if (k < max) {
            out[k++] = r[i];
        }
    }
    return k;
}

size_t arch_reserved(struct mem_range *out, size_t max)
{
    size_t n = 0;
    uint64_t ks = arch_virt_to_phys(__kernel_start), ke = arch_virt_to_phys(_kernel_end);
    /* The image, its .bss (boot stack, early page tables and the table pool). */
    if (n < max)
        out[n++] = (struct mem_range){ ks, ke - ks };
    /* The DTB (its header's totalsize), the memreserve block, /reserved-memory. */
    for (size_t i = 0; i < fdt.nresv && n < max; i++)
        out[n++] = fdt.resv[i];
    return n;
}

const char *arch_cmdline(void)
{
    return fdt.bootargs;
}
