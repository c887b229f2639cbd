/* arch/aarch64/exit.c: QEMU exit with a status through semihosting SYS_EXIT
 * (AArch64 form: x0 = 0x18, x1 = &{ADP_Stopped_ApplicationExit, code}, HLT #0xF000). */
#include <arch/cpu.h>
#include <arch/exit.h>
#include <stdint.h>

#define SEMIHOST_SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

_Noreturn void arch_exit(unsigned status)
{
    static uint64_t block[2];     /* in .bss: mapped on every CPU, unlike a dead stack */
    static int tried;
    /* Without -semihosting HLT is an undefined instruction: the exception handler
     * panics and lands here again. Stop then (the runner's timeout fails the run). */
    if (__atomic_exchange_n(&tried, 1, __ATOMIC_ACQ_REL))
        arch_halt();
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = status;
    register uint64_t x0 __asm__("x0") = SEMIHOST_SYS_EXIT;
    register uint64_t x1 __asm__("x1") = (uint64_t)(uintptr_t)block;
    __asm__ volatile("hlt #0xf000" : : "r"(x0), "r"(x1) : "memory");
    arch_halt();
}
