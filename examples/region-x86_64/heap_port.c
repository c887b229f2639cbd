/* heap_port.c: the out-of-line half: log, panic, and the region. */
#include "goheap.h"

void console_write(const char *s); /* your kernel's console */

void goheap_sys_log(const char *msg) {
    console_write(msg);
    console_write("\n");
}

_Noreturn void goheap_sys_panic(const char *msg) {
    console_write("goheap panic: ");
    goheap_sys_log(msg);
    for (;;)
        ;
}

/* 32 MiB of memory your kernel has mapped and gives to the heap for good. */
static char heap_region[32 << 20] __attribute__((aligned(4096)));

void heap_init(void) {
    if (goheap_init_region(heap_region, sizeof heap_region, 0) != 0)
        goheap_sys_panic("goheap_init_region failed (the log says why)");
}
