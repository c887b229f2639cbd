/* tests/kernel/heap_trace.c: allocfreetrace and scavtrace print what they promise,
 * checked through the platform's log tap. */

/* The trace knobs print what they promise (boot: goheap=allocfreetrace=1,scavtrace=1).
 * allocfreetrace gives one line per malloc and free with address, size, class, CPU and
 * a caller that symbolises to the calling function; scavtrace gives a line per release
 * with the amount. Checked through the platform's log tap. Skipped (not passed)
 * without the knobs. */
#include <goheap.h>
#include <ksyms.h>
#include <ktest.h>
#include <percpu.h>
#include <printk.h>
#include <string.h>

#include "heap_util.h"
#include "knobs.h"      /* the core's parsed knobs */

static __attribute__((noinline)) void *traced_site(size_t sz)
{
    void *p = goheap_malloc(sz);
    __asm__ volatile("" ::: "memory");  /* not a tail call: the caller is this function */
    return p;
}

/* The caller field of a trace line, symbolised. */
static const char *caller_sym(const char *line)
{
    const char *c = hu_strstr(line, "caller 0x");
    if (!c)
        return "?";
    uintptr_t v = 0;
    for (c += 9; (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'); c++)
        v = v * 16 + (uintptr_t)(*c <= '9' ? *c - '0' : *c - 'a' + 10);
    uintptr_t off;
    const char *sym = ksym_lookup(v, &off);
    return sym ? sym : "?";
}

static void t_allocfreetrace(struct ktest *t)
{
    if (!gh_knobs.allocfreetrace)
        KT_SKIP(t, "boot with goheap=allocfreetrace=1");
    char want[96], line[KPLAT_TAP_LEN];
    kplat_log_tap(1);
    void *p = traced_site(100);
    KT_ASSERT(t, p != 0);
    goheap_free(p);
    kplat_log_tap(0);
    snprintk(want, sizeof want, "goheap: alloc 0x%lx size 100 class ", (unsigned long)(uintptr_t)p);
    if (!kplat_log_tap_find(want, line, sizeof line)) {
        ktest_fail(t, __FILE__, __LINE__, "no trace line '%s...'", want);
    } else {
        ktest_log("%s", line);
        snprintk(want, sizeof want, " cpu %u caller ", cpu_index());
        KT_EXPECT(t, hu_strstr(line, want) != 0);
        const char *sym = caller_sym(line);
        if (strcmp(sym, "traced_site") != 0)
            ktest_fail(t, __FILE__, __LINE__, "alloc caller is <%s>, not traced_site", sym);
    }
    snprintk(want, sizeof want, "goheap: free 0x%lx size ", (unsigned long)(uintptr_t)p);
    if (!kplat_log_tap_find(want, line, sizeof line)) {
        ktest_fail(t, __FILE__, __LINE__, "no trace line '%s...'", want);
    } else {
        ktest_log("%s", line);
        const char *sym = caller_sym(line);
        if (strcmp(sym, "t_allocfreetrace") != 0)
            ktest_fail(t, __FILE__, __LINE__, "free caller is <%s>, not t_allocfreetrace", sym);
    }
}

static void t_scavtrace(struct ktest *t)
{
    if (!gh_knobs.scavtrace)
        KT_SKIP(t, "boot with goheap=scavtrace=1");
    char line[KPLAT_TAP_LEN];
    uint8_t *p = goheap_malloc(1u << 20);
    KT_ASSERT(t, p != 0);
    p[0] = 1;
    goheap_free(p);
    kplat_log_tap(1);
    goheap_free_os_memory();
    kplat_log_tap(0);
    if (!kplat_log_tap_find("KiB released (free_os_memory)", line, sizeof line))
        ktest_fail(t, __FILE__, __LINE__, "no scavtrace line for goheap_free_os_memory");
    else
        ktest_log("%s", line);
}

static void t_validate(struct ktest *t) { hu_validate(t); }

static const struct ktest_case heap_trace_cases[] = {
    KTEST_CASE(t_allocfreetrace), KTEST_CASE(t_scavtrace), KTEST_CASE(t_validate),
};
KTEST_SUITE_FULL(heap_trace, "heap_trace", heap_trace_cases, hu_init, 0);
