/* kernel/include/panic.h: stop the machine with a report: "KERNEL PANIC on cpu N:
 * <message>" (the line tests/ktap.py looks for), registers, a symbolised backtrace,
 * then QEMU exits with KEXIT_FAIL. Other CPUs stop at their next interrupt. */
#ifndef KERNEL_PANIC_H
#define KERNEL_PANIC_H

#include <stdint.h>

struct arch_trap_frame;

_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* From an exception handler: registers and backtrace of the interrupted context. */
_Noreturn void panic_trap(const struct arch_trap_frame *frame, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Nonzero once any CPU panicked. */
int panic_in_progress(void);

#define KASSERT(c) \
    do { if (!(c)) panic("assertion failed: %s at %s:%d", #c, __FILE__, __LINE__); } while (0)

#endif /* KERNEL_PANIC_H */
