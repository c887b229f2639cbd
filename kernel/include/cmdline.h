/* kernel/include/cmdline.h: the boot command line, split into words. `test=<prefix>`
 * selects test suites, `goheap=<knobs>` is kept for the heap, `expect_panic=...` is
 * the runner's business (the kernel ignores it). */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

#include <stddef.h>

void cmdline_init(const char *raw);
const char *cmdline_raw(void);
/* Value of key=value (first occurrence), or NULL; "" for a bare `key`. */
const char *cmdline_get(const char *key);

#endif /* KERNEL_CMDLINE_H */
