/* kernel/include/fault.h: the expected-fault hook. A test (or a guard-page check)
 * runs code that should fault; the fault is caught instead of panicking, and the test
 * sees where and how it faulted. Any other fault still panics. */
#ifndef KERNEL_FAULT_H
#define KERNEL_FAULT_H

#include <stdint.h>
#include <arch/cpu.h>

/* Decoded access kinds (x86 page-fault error code; aarch64 ESR data/instr abort). */
#define FAULT_PROTECTION 0x1u   /* the page was present (a permission fault) */
#define FAULT_WRITE      0x2u
#define FAULT_USER       0x4u
#define FAULT_EXEC       0x8u   /* instruction fetch */

struct fault_info {
    uintptr_t addr;     /* faulting data address (CR2 / FAR), 0 when none */
    uintptr_t pc;       /* instruction that faulted */
    unsigned vector;    /* arch exception number (14 = #PF on x86, ESR.EC on aarch64) */
    unsigned flags;     /* FAULT_* */
};

struct fault_catch {
    uint64_t regs[ARCH_CATCH_REGS];  /* arch_fault_catch_call's saved context */
    struct fault_info info;          /* filled when a fault was caught */
    struct fault_catch *prev;        /* enclosing catch on this CPU */
};

/* Run fn(arg). Returns 0 if it returned normally, 1 if it faulted (fn is abandoned at
 * the fault; locks it held stay held, so keep fn small). *info (may be NULL) gets the
 * fault. Nests. Usable from tests on any CPU, interrupts enabled or not. */
int fault_expect(void (*fn)(void *), void *arg, struct fault_info *info);

/* Convenience probes: one 8-byte load or store. Return 0 when it succeeded, 1 when it
 * faulted (info filled if non-NULL). */
int fault_probe_read(const volatile void *p, uint64_t *out, struct fault_info *info);
int fault_probe_write(volatile void *p, uint64_t v, struct fault_info *info);

/* For the arch exception handler: the innermost active catch on this CPU, or NULL.
 * The handler fills ->info and resumes from ->regs (arch_fault_catch_call returns 1). */
struct fault_catch *fault_catch_current(void);
/* Pops the catch the handler is about to resume to. */
void fault_catch_pop(struct fault_catch *c);

#endif /* KERNEL_FAULT_H */
