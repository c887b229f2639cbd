/* kernel/ksyms.c: symbol lookup over the table that the second link pass embeds
 * (kernel/mksyms.py writes it: addresses sorted ascending, one name each). */
#include <stdint.h>
#include <ksyms.h>

struct ksym {
    uint64_t addr;
    const char *name;
};

extern const struct ksym ksyms_table[];
extern const uint64_t ksyms_count;
extern const char _etext[];

const char *ksym_lookup(uintptr_t pc, uintptr_t *offset)
{
    uint64_t n = ksyms_count;
    if (n == 0 || pc < ksyms_table[0].addr || pc >= (uintptr_t)_etext)
        return 0;
    uint64_t lo = 0, hi = n;            /* invariant: table[lo].addr <= pc < table[hi].addr */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (ksyms_table[mid].addr <= pc)
            lo = mid;
        else
            hi = mid;
    }
    *offset = pc - ksyms_table[lo].addr;
    return ksyms_table[lo].name;
}
