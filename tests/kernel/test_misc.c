/* tests/kernel/test_misc.c: printk formats, command-line parsing, the expected-fault
 * hook, and the embedded symbol table. */
#include <arch/paging.h>
#include <cmdline.h>
#include <fault.h>
#include <ksyms.h>
#include <ktest.h>
#include <printk.h>
#include <string.h>

#define FMT_EQ(t, want, ...)                                                            \
    do { char _b[128]; snprintk(_b, sizeof _b, __VA_ARGS__);                            \
         if (strcmp(_b, want) != 0)                                                     \
             ktest_fail((t), __FILE__, __LINE__, "got \"%s\", want \"%s\"", _b, want);  \
    } while (0)

static void t_formats(struct ktest *t)
{
    FMT_EQ(t, "-42 42 2a 2A", "%d %u %x %X", -42, 42u, 42u, 42u);
    FMT_EQ(t, "ffffffffffffffff", "%lx", ~0ul);
    FMT_EQ(t, "18446744073709551615", "%llu", ~0ull);
    FMT_EQ(t, "123456789012", "%zu", (size_t)123456789012ull);
    FMT_EQ(t, "0xffff800000001000", "%p", (void *)0xffff800000001000ul);
    FMT_EQ(t, "[   7] [7   ] [0007] [-007]", "[%4d] [%-4d] [%04d] [%04d]", 7, 7, 7, -7);
    FMT_EQ(t, "[  ab] [ab  ] [abc]", "[%4s] [%-4s] [%.3s]", "ab", "ab", "abcdef");
    const char *volatile nul = 0;   /* (a literal NULL would be refused at compile time) */
    FMT_EQ(t, "c% (null)", "%c%% %s", 'c', nul);
    FMT_EQ(t, "-9223372036854775808", "%lld", (long long)(-9223372036854775807ll - 1));
    FMT_EQ(t, "00000000deadbeef", "%016llx", 0xdeadbeefull);
    FMT_EQ(t, "[  5]", "[%*d]", 3, 5);
    char small[4];
    KT_EXPECT_EQ(t, snprintk(small, sizeof small, "%s", "abcdef"), 6);
    KT_EXPECT(t, strcmp(small, "abc") == 0);
}

static void t_cmdline(struct ktest *t)
{
    static char saved[CMDLINE_MAX], longline[CMDLINE_MAX];
    const char *raw = cmdline_raw();
    size_t n = strlen(raw);
    KT_ASSERT(t, n < sizeof saved);
    memcpy(saved, raw, n + 1);
    cmdline_init("test=a,b  goheap=scavtrace=1,debug=2 flag testx=9 last=");
    const char *v = cmdline_get("test");
    KT_EXPECT(t, v && strcmp(v, "a,b") == 0);
    v = cmdline_get("goheap");
    KT_EXPECT(t, v && strcmp(v, "scavtrace=1,debug=2") == 0);
    v = cmdline_get("flag");
    KT_EXPECT(t, v && v[0] == 0);
    v = cmdline_get("last");
    KT_EXPECT(t, v && v[0] == 0);
    KT_EXPECT(t, cmdline_get("tes") == 0);
    KT_EXPECT(t, cmdline_get("missing") == 0);
    v = cmdline_get("testx");
    KT_EXPECT(t, v && strcmp(v, "9") == 0);
    /* Repeated keys: cmdline_get gives the first, cmdline_join all of them. */
    cmdline_init("goheap=debug=1 x=1 goheap= goheap=efence=1,memlimit=1M goheapx=2");
    char j[64];
    KT_EXPECT_EQ(t, cmdline_join("goheap", ',', j, sizeof j), 2);
    KT_EXPECT(t, strcmp(j, "debug=1,efence=1,memlimit=1M") == 0);
    KT_EXPECT_EQ(t, cmdline_join("goheap", ',', j, 10), -1);     /* does not fit: said */
    KT_EXPECT_EQ(t, cmdline_join("nothere", ',', j, sizeof j), 0);
    /* A line past the old 1023-byte cut keeps its last word. */
    size_t k = 0;
    for (; k < 3000; k++)
        longline[k] = k % 10 == 9 ? ' ' : 'a';
    memcpy(longline + k, " goheap=debug=3", 16);
    cmdline_init(longline);
    v = cmdline_get("goheap");
    KT_EXPECT(t, v && strcmp(v, "debug=3") == 0);
    KT_EXPECT_EQ(t, strlen(cmdline_raw()), k + 15);
    cmdline_init(saved);
    KT_EXPECT(t, strcmp(cmdline_raw(), saved) == 0);
}

static void fn_ok(void *arg) { *(int *)arg = 1; }

static void fn_inner(void *arg)
{
    /* A fault inside a nested catch is caught by the inner one. */
    uint64_t v;
    struct fault_info fi;
    int f = fault_probe_read((void *)ARCH_HEAP_ARENA_BASE, &v, &fi);
    volatile int *r = arg;      /* volatile: the store before the fault must happen */
    *r = f && fi.addr == ARCH_HEAP_ARENA_BASE ? 2 : -1;
    *(volatile uint64_t *)(ARCH_HEAP_ARENA_BASE + 64) = 1;   /* outer catches this */
    *r = -2;
}

static void t_fault_hook(struct ktest *t)
{
    int r = 0;
    struct fault_info fi;
    KT_EXPECT_EQ(t, fault_expect(fn_ok, &r, &fi), 0);
    KT_EXPECT_EQ(t, r, 1);
    KT_EXPECT_EQ(t, fault_expect(fn_inner, &r, &fi), 1);
    KT_EXPECT_EQ(t, r, 2);
    KT_EXPECT_EQ(t, fi.addr, ARCH_HEAP_ARENA_BASE + 64);
    KT_EXPECT(t, fi.flags & FAULT_WRITE);
    KT_EXPECT(t, !(fi.flags & FAULT_PROTECTION));
    KT_EXPECT(t, fault_catch_current() == 0);
    /* The null page is unmapped once the boot identity map is dropped. */
    uint64_t v;
    KT_EXPECT(t, fault_probe_read((void *)0, &v, &fi));
    KT_EXPECT_EQ(t, fi.addr, 0);
    /* Kernel text is not writable?  Not promised: the image is mapped RW. Reads work. */
    KT_EXPECT_EQ(t, fault_probe_read((void *)&t_fault_hook, &v, 0), 0);
}

static void t_ksyms(struct ktest *t)
{
    uintptr_t off = 99;
    const char *name = ksym_lookup((uintptr_t)&t_formats, &off);
    KT_ASSERT(t, name != 0);
    KT_EXPECT(t, strcmp(name, "t_formats") == 0);
    KT_EXPECT_EQ(t, off, 0);
    name = ksym_lookup((uintptr_t)&t_cmdline + 5, &off);
    KT_ASSERT(t, name != 0);
    KT_EXPECT(t, strcmp(name, "t_cmdline") == 0);
    KT_EXPECT_EQ(t, off, 5);
    KT_EXPECT(t, ksym_lookup(16, &off) == 0);
}

static const struct ktest_case printk_cases[] = { KTEST_CASE(t_formats) };
KTEST_SUITE(printk, printk_cases);
static const struct ktest_case cmdline_cases[] = { KTEST_CASE(t_cmdline) };
KTEST_SUITE(cmdline, cmdline_cases);
static const struct ktest_case fault_cases[] = { KTEST_CASE(t_fault_hook) };
KTEST_SUITE(fault, fault_cases);
static const struct ktest_case ksyms_cases[] = { KTEST_CASE(t_ksyms) };
KTEST_SUITE(ksyms, ksyms_cases);
