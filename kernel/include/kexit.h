/* kernel/include/kexit.h: the QEMU exit statuses the kernel reports. A triple fault
 * (x86) exits with 0, so a pass must be a distinct non-zero status. */
#ifndef KERNEL_KEXIT_H
#define KERNEL_KEXIT_H

#define KEXIT_PASS 33   /* every test passed / the demo finished */
#define KEXIT_FAIL 1    /* a test failed, or a panic */

/* Runs once when the tests or the demo are done, just before the exit (kernel/main.c):
 * weak there, the heap's (kernel/heap/kheap.c) writes its profile with
 * goheap=memprofile=serial. */
void kernel_at_exit(void);

/* Exit QEMU (arch_exit) after flushing nothing: the console is synchronous. */
_Noreturn void kernel_exit(unsigned status);

#endif /* KERNEL_KEXIT_H */
