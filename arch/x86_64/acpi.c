/* arch/x86_64/acpi.c: CPU discovery from ACPI: RSDP -> XSDT (revision >= 2) or RSDT ->
 * MADT. Records the enabled CPUs' APIC ids in MADT order (never assumes 0..N-1) and the
 * LAPIC base. Runs at early boot, before the frame allocator may reuse any memory. */
#include <stdint.h>
#include <string.h>
#include <arch/paging.h>
#include <arch/x86_cpu.h>
#include <panic.h>

uint32_t acpi_cpu_ids[X86_MAX_DISCOVERED];
unsigned acpi_ncpus;
uint64_t acpi_lapic_pa = 0xfee00000;

struct rsdp {
    char sig[8];
    uint8_t checksum;
    char oem[6];
    uint8_t revision;
    uint32_t rsdt;
    uint32_t length;            /* revision >= 2 */
    uint64_t xsdt;
    uint8_t xchecksum, rsv[3];
} __attribute__((packed));

struct sdt {
    char sig[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem[6], oem_table[8];
    uint32_t oem_rev, creator, creator_rev;
} __attribute__((packed));

static const void *phys(uint64_t pa, uint64_t len)
{
    if (pa + len > ARCH_BOOT_DIRECT_MAP_END)
        panic("acpi: table at 0x%llx beyond the boot mapping", (unsigned long long)pa);
    return arch_phys_to_virt(pa);
}

static int sum_ok(const void *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((const uint8_t *)p)[i];
    return s == 0;
}

static uint64_t find_rsdp(uint64_t hint)
{
    if (hint)
        return hint;
    /* Legacy: 16-byte aligned in the BIOS area 0xe0000-0xfffff. */
    for (uint64_t pa = 0xe0000; pa < 0x100000; pa += 16)
        if (memcmp(phys(pa, 8), "RSD PTR ", 8) == 0 && sum_ok(phys(pa, 20), 20))
            return pa;
    return 0;
}

static void add_cpu(uint32_t id)
{
    for (unsigned i = 0; i < acpi_ncpus; i++)
        if (acpi_cpu_ids[i] == id)
            return;
    if (acpi_ncpus < X86_MAX_DISCOVERED)
        acpi_cpu_ids[acpi_ncpus++] = id;
}

static void parse_madt(const struct sdt *m)
{
    const uint8_t *p = (const uint8_t *)m + sizeof *m;
    const uint8_t *end = (const uint8_t *)m + m->length;
    uint32_t lapic;
    memcpy(&lapic, p, 4);
    acpi_lapic_pa = lapic;
    p += 8;                     /* local APIC address, flags */
    while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
        uint32_t flags, id;
        switch (p[0]) {
        case 0:                 /* processor local APIC: acpi id, apic id, flags */
            memcpy(&flags, p + 4, 4);
            if (flags & 1)
                add_cpu(p[3]);
            break;
        case 5: {               /* local APIC address override */
            uint64_t a;
            memcpy(&a, p + 4, 8);
            acpi_lapic_pa = a;
            break;
        }
        case 9:                 /* processor local x2APIC: rsv, x2apic id, flags, uid */
            memcpy(&id, p + 4, 4);
            memcpy(&flags, p + 8, 4);
            if (flags & 1)
                add_cpu(id);
            break;
        }
        p += p[1];
    }
}

void acpi_init(uint64_t rsdp_hint)
{
    uint64_t rp = find_rsdp(rsdp_hint);
    if (!rp)
        panic("acpi: no RSDP");
    const struct rsdp *r = phys(rp, sizeof *r);
    if (memcmp(r->sig, "RSD PTR ", 8) != 0)
        panic("acpi: bad RSDP signature at 0x%llx", (unsigned long long)rp);
    int use_x = r->revision >= 2 && r->xsdt;
    uint64_t root = use_x ? r->xsdt : r->rsdt;
    const struct sdt *h = phys(root, sizeof *h);
    if (!sum_ok(phys(root, h->length), h->length))
        panic("acpi: %s checksum mismatch at 0x%llx", use_x ? "XSDT" : "RSDT",
              (unsigned long long)root);
    size_t esz = use_x ? 8 : 4;
    size_t n = (h->length - sizeof *h) / esz;
    const uint8_t *ents = (const uint8_t *)h + sizeof *h;
    for (size_t i = 0; i < n; i++) {
        uint64_t pa = 0;
        memcpy(&pa, ents + i * esz, esz);
        const struct sdt *t = phys(pa, sizeof *t);
        if (memcmp(t->sig, "APIC", 4) == 0) {
            parse_madt(phys(pa, t->length));
            break;
        }
    }
    if (acpi_ncpus == 0)
        panic("acpi: MADT lists no enabled CPU");
}
