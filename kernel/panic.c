/* kernel/panic.c: the panic report. "KERNEL PANIC on cpu N: <message>" (tests/ktap.py
 * matches that line), registers, a symbolised frame-pointer backtrace, then QEMU exits
 * with KEXIT_FAIL. The first CPU to panic reports; later ones halt. */
#include <stdarg.h>
#include <arch/cpu.h>
#include <arch/exit.h>
#include <arch/paging.h>
#include <arch_api.h>
#include <kexit.h>
#include <ksyms.h>
#include <panic.h>
#include <percpu.h>
#include <printk.h>

static int panicking = -1;      /* CPU index that owns the panic, or -1 */

int panic_in_progress(void)
{
    return __atomic_load_n(&panicking, __ATOMIC_RELAXED) >= 0;
}

static void print_pc(uintptr_t pc)
{
    uintptr_t off;
    const char *name = ksym_lookup(pc, &off);
    if (name)
        printk("  [<%016lx>] %s+0x%lx\n", (unsigned long)pc, name, (unsigned long)off);
    else
        printk("  [<%016lx>] ?\n", (unsigned long)pc);
}

/* Frame records, the same on both arches: [fp] = the caller's fp, [fp + 8] = the
 * return address. Walks from fp (0: this function's frame); only 8-aligned addresses
 * in the kernel's half are followed, so a corrupt chain stops instead of faulting, and
 * stacks grow down, so each caller's record must sit higher. */
static int backtrace(uintptr_t fp, uintptr_t *pcs, int max)
{
    if (!fp)
        fp = (uintptr_t)__builtin_frame_address(0);
    int n = 0;
    while (n < max && fp >= ARCH_DIRECT_MAP_BASE && !(fp & 7)) {
        const uintptr_t *rec = (const uintptr_t *)fp;
        uintptr_t next = rec[0], ret = rec[1];
        if (!ret)
            break;
        pcs[n++] = ret - ARCH_RET_TO_CALL;  /* inside the call: names the caller's line */
        if (next <= fp)
            break;
        fp = next;
    }
    return n;
}

static _Noreturn void panic_common(const struct arch_trap_frame *frame, const char *fmt,
                                   va_list ap)
{
    arch_irq_disable();
    int me = (int)arch_cpu_index();
    int expected = -1;
    if (!__atomic_compare_exchange_n(&panicking, &expected, me, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        if (expected == me) {           /* panicked while panicking: just leave */
            printk_bust_lock();
            printk("KERNEL PANIC on cpu %d: nested panic\n", me);
            arch_exit(KEXIT_FAIL);
        }
        arch_halt();                    /* another CPU reports */
    }
    printk_bust_lock();
    char msg[256];
    vsnprintk(msg, sizeof msg, fmt, ap);
    printk("\nKERNEL PANIC on cpu %d: %s\n", me, msg);
    arch_dump_regs(frame);
    printk("backtrace:\n");
    uintptr_t pcs[32];
    int n;
    if (frame) {
        print_pc(arch_trap_frame_pc(frame));
        n = backtrace(arch_trap_frame_fp(frame), pcs, 32);
    } else {
        n = backtrace(0, pcs, 32);
    }
    for (int i = 0; i < n; i++)
        print_pc(pcs[i]);
    arch_exit(KEXIT_FAIL);
}

_Noreturn void panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    panic_common(0, fmt, ap);
}

_Noreturn void panic_trap(const struct arch_trap_frame *frame, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    panic_common(frame, fmt, ap);
}

_Noreturn void kernel_exit(unsigned status)
{
    arch_exit(status);
}
