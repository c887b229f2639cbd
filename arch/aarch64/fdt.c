/* arch/aarch64/fdt.c: a flattened device tree reader for boot: memory nodes, /cpus
 * (reg = MPIDR affinity), /psci method, /chosen/bootargs, reserved memory, the PL011
 * and the GIC. Reads the blob in place through the direct map; big-endian, unaligned. */
#include <arch/paging.h>
#include <arch/sysregs.h>
#include <string.h>
#include <arch/a64.h>

struct fdt_info fdt;

#define FDT_MAGIC      0xd00dfeedu
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE   2
#define FDT_PROP       3
#define FDT_NOP        4
#define FDT_END        9
#define FDT_MAX_DEPTH  16

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t cells(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 32 | be32(p + 4 * i);
    return v;
}

static int streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* Node name without its unit address equals `base` ("memory@40000000" ~ "memory"). */
static int name_is(const char *name, const char *base)
{
    size_t n = strlen(base);
    return strncmp(name, base, n) == 0 && (name[n] == 0 || name[n] == '@');
}

/* A compatible property (NUL-separated list) contains `want`. */
static int compat_has(const uint8_t *p, uint32_t len, const char *want)
{
    uint32_t i = 0;
    while (i < len) {
        const char *s = (const char *)p + i;
        if (streq(s, want))
            return 1;
        i += strlen(s) + 1;
    }
    return 0;
}

static int valid_header(const uint8_t *h)
{
    return be32(h) == FDT_MAGIC && be32(h + 4) >= 40 && be32(h + 4) <= (64u << 20);
}

static void add_resv(uint64_t base, uint64_t size)
{
    if (size && fdt.nresv < FDT_MAX_RESV)
        fdt.resv[fdt.nresv++] = (struct mem_range){ base, size };
}

/* What one node said, resolved at its END_NODE (properties may come in any order). */
struct node {
    const char *name;
    unsigned ac, sc;            /* #address-cells / #size-cells for this node's children */
    const uint8_t *reg;
    uint32_t reglen;
    const uint8_t *compat;
    uint32_t compatlen;
    const char *device_type;
    const char *status;
    const char *method;
};

static void finish_node(struct node *st, int depth)
{
    struct node *n = &st[depth], *parent = depth > 0 ? &st[depth - 1] : NULL;
    if (!parent)
        return;
    unsigned ac = parent->ac, sc = parent->sc, stride = 4 * (ac + sc);
    int disabled = n->status && !streq(n->status, "okay") && !streq(n->status, "ok");
    int top = depth == 1;

    if (top && ((n->device_type && streq(n->device_type, "memory")) || name_is(n->name, "memory"))
        && n->reg && !disabled) {
        for (uint32_t off = 0; stride && off + stride <= n->reglen; off += stride) {
            uint64_t base = cells(n->reg + off, ac), size = cells(n->reg + off + 4 * ac, sc);
            if (size && fdt.nmem < FDT_MAX_MEM)
                fdt.mem[fdt.nmem++] = (struct mem_range){ base, size };
        }
    }
    if (depth == 2 && name_is(parent->name, "cpus") && n->device_type &&
        streq(n->device_type, "cpu") && n->reg && n->reglen >= 4 * ac) {
        if (disabled || fdt.ncpu >= ARCH_MAX_CPUS)
            fdt.cpus_ignored++;
        else
            fdt.cpu_hwid[fdt.ncpu++] = mpidr_affinity(cells(n->reg, ac));
    }
    if (top && name_is(n->name, "psci") && n->method)
        fdt.psci = streq(n->method, "smc") ? PSCI_SMC : streq(n->method, "hvc") ? PSCI_HVC : PSCI_NONE;
    if (depth == 2 && name_is(parent->name, "reserved-memory") && n->reg && !disabled) {
        for (uint32_t off = 0; stride && off + stride <= n->reglen; off += stride)
            add_resv(cells(n->reg + off, ac), cells(n->reg + off + 4 * ac, sc));
    }
    if (n->compat && n->reg && n->reglen >= stride && !disabled) {
        if (compat_has(n->compat, n->compatlen, "arm,pl011") && !fdt.uart_pa)
            fdt.uart_pa = cells(n->reg, ac);
        if ((compat_has(n->compat, n->compatlen, "arm,cortex-a15-gic") ||
             compat_has(n->compat, n->compatlen, "arm,gic-400")) && n->reglen >= 2 * stride) {
            fdt.gic_version = 2;
            fdt.gicd_pa = cells(n->reg, ac);
            fdt.gicc_pa = cells(n->reg + stride, ac);
        } else if (compat_has(n->compat, n->compatlen, "arm,gic-v3") &&
                   n->reglen >= 2 * stride) {
            fdt.gic_version = 3;
            fdt.gicd_pa = cells(n->reg, ac);
            fdt.gicr_pa = cells(n->reg + stride, ac);       /* first redistributor region */
            fdt.gicr_size = cells(n->reg + stride + 4 * ac, sc);
        }
    }
}

static int walk(const uint8_t *blob)
{
    uint32_t off_struct = be32(blob + 8), off_strings = be32(blob + 12);
    uint32_t size_struct = be32(blob + 36);
    const uint8_t *p = blob + off_struct, *end = p + size_struct;
    const char *strings = (const char *)blob + off_strings;
    struct node st[FDT_MAX_DEPTH];
    int depth = -1;

    while (p + 4 <= end) {
        uint32_t tok = be32(p);
        p += 4;
        if (tok == FDT_BEGIN_NODE) {
            const char *name = (const char *)p;
            p += (strlen(name) + 4) & ~3u;
            if (++depth >= FDT_MAX_DEPTH)
                return -1;
            st[depth] = (struct node){ .name = name, .ac = 2, .sc = 1 };
        } else if (tok == FDT_END_NODE) {
            if (depth < 0)
                return -1;
            finish_node(st, depth);
            depth--;
        } else if (tok == FDT_PROP) {
            uint32_t len = be32(p), nameoff = be32(p + 4);
            const uint8_t *val = p + 8;
            const char *pn = strings + nameoff;
            p += 8 + ((len + 3) & ~3u);
            if (depth < 0)
                return -1;
            struct node *n = &st[depth];
            if (streq(pn, "#address-cells") && len == 4)
                n->ac = be32(val);
            else if (streq(pn, "#size-cells") && len == 4)
                n->sc = be32(val);
            else if (streq(pn, "reg"))
                n->reg = val, n->reglen = len;
            else if (streq(pn, "compatible"))
                n->compat = val, n->compatlen = len;
            else if (streq(pn, "device_type"))
                n->device_type = (const char *)val;
            else if (streq(pn, "status"))
                n->status = (const char *)val;
            else if (streq(pn, "method"))
                n->method = (const char *)val;
            else if (streq(pn, "bootargs") && depth == 1 && name_is(n->name, "chosen")) {
                size_t m = len < sizeof fdt.bootargs ? len : sizeof fdt.bootargs - 1;
                memcpy(fdt.bootargs, val, m);
                fdt.bootargs[m] = 0;
            }
        } else if (tok == FDT_NOP) {
            continue;
        } else if (tok == FDT_END) {
            return depth == -1 ? 0 : -1;
        } else {
            return -1;
        }
    }
    return -1;
}

/* Map the blob (header first, then all of it) and check its header. */
static const uint8_t *try_blob(uint64_t pa)
{
    if (!pa || (pa & 7))
        return NULL;
    mmu_early_map(pa & ~(ARCH_LARGE_SIZE - 1), ARCH_LARGE_SIZE, PTE_BLOCK_NORMAL_NX);
    const uint8_t *h = arch_phys_to_virt(pa);
    if (!valid_header(h))
        return NULL;
    mmu_early_map(pa, be32(h + 4), PTE_BLOCK_NORMAL_NX);
    return h;
}

int fdt_parse(uint64_t x0_pa)
{
    extern char __kernel_start[];
    /* QEMU (ELF -kernel) leaves x0 = 0 and puts the DTB at the start of RAM, which is
     * the 1 GiB-aligned region the image was loaded into. A loader that passes x0
     * (Linux boot protocol) wins. */
    uint64_t ram_guess = arch_virt_to_phys(__kernel_start) & ~((1ull << 30) - 1);
    const uint8_t *blob = try_blob(x0_pa);
    uint64_t pa = x0_pa;
    if (!blob)
        blob = try_blob(pa = ram_guess);
    if (!blob)
        return -1;
    fdt.dtb_pa = pa;
    fdt.dtb_size = be32(blob + 4);
    add_resv(pa, fdt.dtb_size);

    /* Memory reservation block: (address, size) pairs up to a zero size. */
    for (const uint8_t *r = blob + be32(blob + 16); r + 16 <= blob + fdt.dtb_size; r += 16) {
        uint64_t base = cells(r, 2), size = cells(r + 8, 2);
        if (!size)
            break;
        add_resv(base, size);
    }
    return walk(blob);
}
