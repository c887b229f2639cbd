/* arch/x86_64/early.c: early boot on the BSP. Copies the PVH start_info, its memory map
 * and the command line out of low memory (they may sit where the AP trampoline goes),
 * turns the E820-typed map into sorted usable ranges, and sets up the boot CPU. */
#include <stdint.h>
#include <string.h>
#include <arch/console.h>
#include <arch/cpu.h>
#include <arch/paging.h>
#include <arch/x86.h>
#include <arch/x86_cpu.h>
#include <arch_api.h>
#include <cmdline.h>
#include <panic.h>
#include <percpu.h>
#include <printk.h>

#define PVH_MAGIC 0x336ec578u
#define E820_RAM 1

struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr;
    uint64_t memmap_paddr;      /* version >= 1 */
    uint32_t memmap_entries, reserved;
};

struct hvm_memmap_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};

extern uint64_t pvh_start_info_pa;              /* boot.S */
extern char _kernel_start[], _kernel_end[];     /* linker script */

#define MAX_E820 128            /* QEMU gives < 10 entries; room for odd firmware */
static struct hvm_start_info start_info;
static struct hvm_memmap_entry e820[MAX_E820];
static unsigned ne820;
static struct mem_range usable[MAX_E820];
static unsigned nusable;
/* CMDLINE_MAX bytes and a NUL: a longer line arrives that long and cmdline_init
 * refuses it rather than boot with a cut one. */
static char cmdline[CMDLINE_MAX + 1];

static struct x86_cpu bsp_tables __attribute__((aligned(4096)));

static void *low_ptr(uint64_t pa, uint64_t len)
{
    if (pa + len > ARCH_BOOT_DIRECT_MAP_END)
        panic("boot structure at 0x%llx is beyond the boot mapping", (unsigned long long)pa);
    return arch_phys_to_virt(pa);
}

static void build_usable(void)
{
    /* Sort by address (insertion sort: a handful of entries), skip empty ones. */
    for (unsigned i = 1; i < ne820; i++)
        for (unsigned j = i; j > 0 && e820[j].addr < e820[j - 1].addr; j--) {
            struct hvm_memmap_entry t = e820[j];
            e820[j] = e820[j - 1];
            e820[j - 1] = t;
        }
    nusable = 0;
    for (unsigned i = 0; i < ne820; i++) {
        if (e820[i].type != E820_RAM || e820[i].size == 0)
            continue;
        uint64_t lo = (e820[i].addr + ARCH_FRAME_SIZE - 1) & ~(ARCH_FRAME_SIZE - 1);
        uint64_t hi = (e820[i].addr + e820[i].size) & ~(ARCH_FRAME_SIZE - 1);
        /* Never trust RAM that another entry also calls reserved. */
        for (unsigned j = 0; j < ne820; j++) {
            if (e820[j].type == E820_RAM || e820[j].size == 0)
                continue;
            uint64_t rlo = e820[j].addr, rhi = e820[j].addr + e820[j].size;
            if (rlo <= lo && rhi > lo)
                lo = (rhi + ARCH_FRAME_SIZE - 1) & ~(ARCH_FRAME_SIZE - 1);
            if (rlo > lo && rlo < hi)
                hi = rlo & ~(ARCH_FRAME_SIZE - 1);
        }
        if (hi <= lo)
            continue;
        if (nusable && usable[nusable - 1].base + usable[nusable - 1].size >= lo) {
            uint64_t end = usable[nusable - 1].base + usable[nusable - 1].size;
            if (hi > end)
                usable[nusable - 1].size = hi - usable[nusable - 1].base;
        } else {
            usable[nusable].base = lo;
            usable[nusable].size = hi - lo;
            nusable++;
        }
    }
}

void arch_early_init(void)
{
    arch_console_init();
    outb(0x21, 0xff);           /* mask both legacy PICs: their vectors 8-15 alias exceptions */
    outb(0xa1, 0xff);

    uint32_t a, b, c, d;
    cpuid(1, 0, &a, &b, &c, &d);
    percpu_init_cpu(0, b >> 24);        /* initial APIC id; bring-up only */
    x86_cpu_tables_init(&bsp_tables, 0);
    x86_guard_boot_stack();     /* the double-fault stack is ready to report an overflow */

    const struct hvm_start_info *si = low_ptr(pvh_start_info_pa, sizeof *si);
    if (si->magic != PVH_MAGIC)
        panic("PVH start_info at 0x%llx has magic 0x%x, want 0x%x",
              (unsigned long long)pvh_start_info_pa, si->magic, PVH_MAGIC);
    start_info = *si;
    if (start_info.version < 1 || !start_info.memmap_paddr)
        panic("PVH start_info version %u has no memory map", start_info.version);
    ne820 = start_info.memmap_entries < MAX_E820 ? start_info.memmap_entries : MAX_E820;
    memcpy(e820, low_ptr(start_info.memmap_paddr, ne820 * sizeof e820[0]),
           ne820 * sizeof e820[0]);
    if (start_info.cmdline_paddr) {
        const char *s = low_ptr(start_info.cmdline_paddr, 1);
        size_t n = 0;
        for (; s[n] && n + 1 < sizeof cmdline; n++)
            cmdline[n] = s[n];
        cmdline[n] = 0;
    }
    build_usable();
    acpi_init(start_info.rsdp_paddr);
    arch_irq_enable();          /* PICs masked, LAPIC not yet programmed: nothing arrives */
}

size_t arch_memmap(struct mem_range *out, size_t max)
{
    size_t n = nusable < max ? nusable : max;
    memcpy(out, usable, n * sizeof *out);
    return n;
}

size_t arch_reserved(struct mem_range *out, size_t max)
{
    size_t n = 0;
    if (n < max) {              /* real-mode IVT, BDA, EBDA, trampoline, firmware */
        out[n].base = 0;
        out[n].size = 1ul << 20;
        n++;
    }
    if (n < max) {              /* image, boot page tables, boot stack, BSP tables */
        out[n].base = arch_virt_to_phys(_kernel_start);
        out[n].size = (uint64_t)(_kernel_end - _kernel_start);
        n++;
    }
    return n;
}

const char *arch_cmdline(void)
{
    return cmdline;
}
