/* tests/kernel/test_percpu.c: per-CPU identity: each CPU's dense index is unique and
 * the hwid -> index table agrees with what each CPU reads from its own interrupt
 * controller. `expect_ncpus=N` and `expect_hwids=a,b,..` on the command line pin the
 * expected topology (the sparse-id boot: 0,1,2,4,5,6). */
#include <arch/smp.h>
#include <cmdline.h>
#include <ktest.h>
#include <percpu.h>
#include <string.h>

struct ident {
    unsigned index[MAX_CPUS];
    uint64_t hwid[MAX_CPUS];
    int seen[MAX_CPUS];
};

static void ident_cpu(struct ktest *t, unsigned cpu, void *arg)
{
    struct ident *id = arg;
    unsigned i = cpu_index();
    if (i != cpu)
        ktest_fail(t, __FILE__, __LINE__, "runner cpu %u but cpu_index() %u", cpu, i);
    if (this_cpu()->self != this_cpu() || this_cpu()->index != i || this_cpu() != &cpus[i])
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: per-CPU pointer inconsistent", i);
    uint64_t hw = arch_cpu_hwid();
    int back = arch_cpu_index_of_hwid(hw);
    if (back != (int)i)
        ktest_fail(t, __FILE__, __LINE__, "cpu %u reads hwid %llu, table says index %d", i,
                   (unsigned long long)hw, back);
    if (cpus[i].hwid != hw)
        ktest_fail(t, __FILE__, __LINE__, "cpu %u: recorded hwid %llu, hardware %llu", i,
                   (unsigned long long)cpus[i].hwid, (unsigned long long)hw);
    id->index[cpu] = i;
    id->hwid[cpu] = hw;
    __atomic_fetch_add(&id->seen[i], 1, __ATOMIC_RELAXED);
}

static struct ident id;

static void t_unique_dense_index(struct ktest *t)
{
    memset(&id, 0, sizeof id);
    ktest_on_all_cpus(t, ident_cpu, &id);
    unsigned n = ktest_ncpus();
    for (unsigned i = 0; i < n; i++)
        KT_EXPECT_EQ(t, id.seen[i], 1);
    for (unsigned i = n; i < MAX_CPUS; i++)
        KT_EXPECT_EQ(t, id.seen[i], 0);
}

static void t_distinct_hwids(struct ktest *t)
{
    unsigned n = ktest_ncpus();
    for (unsigned i = 0; i < n; i++) {
        ktest_log("cpu %u: hwid %llu", i, (unsigned long long)id.hwid[i]);
        for (unsigned j = 0; j < i; j++)
            KT_EXPECT(t, id.hwid[i] != id.hwid[j]);
    }
    KT_EXPECT_EQ(t, arch_cpu_index_of_hwid(0xffff), -1);
}

static void t_expected_topology(struct ktest *t)
{
    const char *want_n = cmdline_get("expect_ncpus");
    const char *want_ids = cmdline_get("expect_hwids");
    if (!want_n && !want_ids)
        KT_SKIP(t, "no expect_ncpus/expect_hwids on the command line");
    if (want_n) {
        unsigned n = 0;
        for (const char *p = want_n; *p >= '0' && *p <= '9'; p++)
            n = n * 10 + (unsigned)(*p - '0');
        KT_EXPECT_EQ(t, ktest_ncpus(), n);
    }
    want_ids = cmdline_get("expect_hwids");
    if (want_ids) {
        /* Every listed id belongs to an online CPU, and the counts agree. */
        unsigned count = 0;
        const char *p = want_ids;
        while (*p) {
            uint64_t v = 0;
            while (*p >= '0' && *p <= '9')
                v = v * 10 + (uint64_t)(*p++ - '0');
            count++;
            int idx = arch_cpu_index_of_hwid(v);
            if (idx < 0 || !cpus[idx].online)
                ktest_fail(t, __FILE__, __LINE__, "hwid %llu is not an online CPU",
                           (unsigned long long)v);
            if (*p == ',')
                p++;
            else
                break;
        }
        KT_EXPECT_EQ(t, count, ktest_ncpus());
    }
}

static const struct ktest_case percpu_cases[] = {
    KTEST_CASE(t_unique_dense_index),
    KTEST_CASE(t_distinct_hwids),
    KTEST_CASE(t_expected_topology),
};
KTEST_SUITE(percpu, percpu_cases);
