/* kernel/fault.c: the expected-fault hook. fault_expect pushes a catch on this CPU;
 * the arch exception handler resumes a faulting access there instead of panicking. */
#include <arch/cpu.h>
#include <arch_api.h>
#include <fault.h>
#include <percpu.h>
#include <string.h>

struct fault_catch *fault_catch_current(void)
{
    return this_cpu()->catch;
}

void fault_catch_pop(struct fault_catch *c)
{
    this_cpu()->catch = c->prev;
}

int fault_expect(void (*fn)(void *), void *arg, struct fault_info *info)
{
    struct fault_catch c;
    memset(&c, 0, sizeof c);
    struct cpu *me = this_cpu();
    c.prev = me->catch;
    me->catch = &c;
    int faulted = arch_fault_catch_call(c.regs, fn, arg);
    if (!faulted)
        me->catch = c.prev;     /* on a fault the handler already popped it */
    if (info)
        *info = c.info;
    return faulted;
}

struct probe {
    volatile uint64_t *p;
    uint64_t v;
};

static void do_read(void *arg)
{
    struct probe *pr = arg;
    pr->v = *pr->p;
}

static void do_write(void *arg)
{
    struct probe *pr = arg;
    *pr->p = pr->v;
}

int fault_probe_read(const volatile void *p, uint64_t *out, struct fault_info *info)
{
    struct probe pr = { (volatile uint64_t *)(uintptr_t)p, 0 };
    int f = fault_expect(do_read, &pr, info);
    if (!f && out)
        *out = pr.v;
    return f;
}

int fault_probe_write(volatile void *p, uint64_t v, struct fault_info *info)
{
    struct probe pr = { p, v };
    return fault_expect(do_write, &pr, info);
}
