/* kernel/include/ktest.h: in-kernel test suites. A suite is a table of cases placed in
 * the `ktest_suites` linker section by KTEST_SUITE(); the runner (kernel/ktest.c)
 * prints KTAP over the console: one subtest block per suite, one line per case.
 *
 *   static void t_counts(struct ktest *t) { KT_EXPECT_EQ(t, frame_free_count(), 7); }
 *   static const struct ktest_case frame_cases[] = { KTEST_CASE(t_counts), ... };
 *   KTEST_SUITE(frame, frame_cases);
 *
 * `test=<prefix>` on the command line runs only suites whose name starts with the
 * prefix (comma-separated prefixes allowed; `test=all` runs all). Suites named
 * selftest_* panic on purpose (expect_panic boots) and run only when named in full.
 * Arch-only suites are named arch_<arch>_*. Cases may run code on every CPU at once
 * (ktest_on_all_cpus), meet at barriers, and assert that an access faults
 * (KT_EXPECT_FAULT / fault.h). */
#ifndef KERNEL_KTEST_H
#define KERNEL_KTEST_H

#include <stddef.h>
#include <stdint.h>
#include <fault.h>

struct ktest {
    const char *suite;
    const char *name;
    unsigned failures;  /* any CPU may record one */
    int skipped;        /* KT_SKIP was called */
    const char *skip_reason;
};

struct ktest_case {
    const char *name;
    void (*fn)(struct ktest *t);
};

struct ktest_suite {
    const char *name;
    const struct ktest_case *cases;
    size_t ncases;
    /* Optional: run before the first / after the last case; a nonzero init skips
     * the suite's cases (counted as failed, not silently passed). */
    int (*init)(void);
    void (*fini)(void);
};

#define KTEST_CASE(f) { #f, f }

#define KTEST_SUITE_FULL(var, sname, casetab, initfn, finifn)                        \
    static const struct ktest_suite ktest_suite_##var                                \
        __attribute__((used, section("ktest_suites"), aligned(8))) = {               \
        .name = (sname), .cases = (casetab),                                         \
        .ncases = sizeof(casetab) / sizeof((casetab)[0]),                            \
        .init = (initfn), .fini = (finifn) }
#define KTEST_SUITE(var, casetab) KTEST_SUITE_FULL(var, #var, casetab, NULL, NULL)

/* Record a failure (prints "# file:line: message" with the CPU). Safe on any CPU. */
void ktest_fail(struct ktest *t, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ktest_skip(struct ktest *t, const char *reason);
/* Print a "# ..." diagnostic line inside the current case. */
void ktest_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define KT_EXPECT(t, c) \
    do { if (!(c)) ktest_fail((t), __FILE__, __LINE__, "expected %s", #c); } while (0)
#define KT_ASSERT(t, c) \
    do { if (!(c)) { ktest_fail((t), __FILE__, __LINE__, "assert %s", #c); return; } } while (0)
#define KT_EXPECT_EQ(t, a, b)                                                          \
    do { unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
         if (_a != _b) ktest_fail((t), __FILE__, __LINE__, "%s == %s: 0x%llx != 0x%llx", \
                                  #a, #b, _a, _b); } while (0)
#define KT_ASSERT_EQ(t, a, b)                                                          \
    do { unsigned long long _a = (unsigned long long)(a), _b = (unsigned long long)(b); \
         if (_a != _b) { ktest_fail((t), __FILE__, __LINE__, "%s == %s: 0x%llx != 0x%llx", \
                                    #a, #b, _a, _b); return; } } while (0)
#define KT_SKIP(t, why) do { ktest_skip((t), (why)); return; } while (0)

/* Assert that fn(arg) faults; evaluates to the fault_info through *info if given. */
#define KT_EXPECT_FAULT(t, fn, arg, info)                                              \
    do { if (!fault_expect((fn), (arg), (info)))                                       \
             ktest_fail((t), __FILE__, __LINE__, "expected %s to fault", #fn); } while (0)

/* Run fn(t, cpu, arg) on every online CPU at once (thread context, interrupts on),
 * this one included; returns when all returned. Failures land in t. */
void ktest_on_all_cpus(struct ktest *t, void (*fn)(struct ktest *t, unsigned cpu, void *arg),
                       void *arg);
/* A barrier across the CPUs of the current ktest_on_all_cpus run. */
void ktest_cpu_barrier(void);
/* CPUs taking part in the current ktest_on_all_cpus run (= cpus_online()). */
unsigned ktest_ncpus(void);

/* Run every selected suite, print KTAP, return the number of failed cases. */
unsigned ktest_run_all(const char *filter);

#endif /* KERNEL_KTEST_H */
