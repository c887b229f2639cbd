/* kernel/include/cmdline.h: the boot command line, split into words. `test=<prefix>`
 * selects test suites, `goheap=<knobs>` is kept for the heap, `expect_panic=...` is
 * the runner's business (the kernel ignores it). */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

#include <stddef.h>

/* The longest line kept, with its NUL: twice Linux's COMMAND_LINE_SIZE (2048 on x86
 * and arm64), far above our QEMU runs (< 300 bytes). The arch copies (PVH start_info,
 * DTB bootargs) hold CMDLINE_MAX bytes plus a NUL, so a longer line reaches
 * cmdline_init at CMDLINE_MAX bytes and is refused there, not cut. */
#define CMDLINE_MAX 4096

/* Copies raw (panics if it is CMDLINE_MAX bytes or longer). */
void cmdline_init(const char *raw);
const char *cmdline_raw(void);
/* Value of key=value (first occurrence), or NULL; "" for a bare `key`. */
const char *cmdline_get(const char *key);
/* Every non-empty value of key=, in order, joined with sep into out[n]. Returns how
 * many, or -1 if they do not fit. (goheap=a goheap=b gives "a,b".) */
int cmdline_join(const char *key, char sep, char *out, size_t n);

#endif /* KERNEL_CMDLINE_H */
