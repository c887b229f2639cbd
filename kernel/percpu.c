/* kernel/percpu.c: the per-CPU records and the online count. */
#include <arch/cpu.h>
#include <goheap_platform_impl.h> /* goheap_local_none: cpu.goheap_local until the cache exists */
#include <percpu.h>

struct cpu cpus[MAX_CPUS];
extern char boot_stack_top[]; /* boot/<arch>: the boot CPU's stack */
static unsigned ncpus_online;

unsigned cpus_online(void)
{
    return __atomic_load_n(&ncpus_online, __ATOMIC_ACQUIRE);
}

void percpu_init_cpu(unsigned index, uint64_t hwid)
{
    struct cpu *c = &cpus[index];
    c->self = c;
    c->index = index;
    c->hwid = hwid;
    c->catch = 0;
    c->nheld = 0;
    c->goheap_local = &goheap_local_none;
    if (index == 0)
        c->stack_top = (uintptr_t)boot_stack_top;
    arch_percpu_set(c);
}

void percpu_mark_online(void)
{
    struct cpu *c = this_cpu();
    __atomic_store_n(&c->online, 1, __ATOMIC_RELEASE);
    __atomic_fetch_add(&ncpus_online, 1, __ATOMIC_ACQ_REL);
}
