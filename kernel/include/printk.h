/* kernel/include/printk.h: formatted console output, one lock for whole calls so lines
 * from different CPUs never interleave. Formats: %d %i %u %x %X %o %p %s %c %%, length
 * modifiers l ll z, flags '-' '0', field width (number or *), precision for %s. */
#ifndef KERNEL_PRINTK_H
#define KERNEL_PRINTK_H

#include <stdarg.h>
#include <stddef.h>

int printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintk(const char *fmt, va_list ap);
/* Format into buf (always NUL-terminated when n > 0); returns the untruncated length. */
int snprintk(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintk(char *buf, size_t n, const char *fmt, va_list ap);

/* Panic path: take the console even if a dead CPU holds its lock (after a timeout). */
void printk_bust_lock(void);

#endif /* KERNEL_PRINTK_H */
