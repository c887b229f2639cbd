/* kernel/include/kconfig.h: build-time switches. GOHEAP_DEBUG (default 1 in the test
 * kernel) turns on lock checks and extra assertions; use `if (GOHEAP_DEBUG)`. */
#ifndef KERNEL_KCONFIG_H
#define KERNEL_KCONFIG_H

#ifndef GOHEAP_DEBUG
#define GOHEAP_DEBUG 1
#endif

#endif /* KERNEL_KCONFIG_H */
