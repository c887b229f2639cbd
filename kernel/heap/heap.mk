# kernel/heap/heap.mk: goheap as the kernel heap: the platform (kernel/goheap_platform.c),
# the heap glue, demo and baseline (kernel/heap/), the allocator test boots, the kernel
# benchmarks (bench/kernel/) and `make lib`. Everything here needs the allocator core
# in the kernel link (alloc/alloc.mk adds it to KERNEL_SRCS), so it is only switched on
# once the core's sources are there.
KHEAP_CORE_IN := $(filter alloc/%,$(KERNEL_SRCS))

ifneq ($(KHEAP_CORE_IN),)
KCFLAGS += -Ikernel/heap
KERNEL_SRCS += kernel/goheap_platform.c $(sort $(wildcard kernel/heap/*.c)) \
	$(sort $(wildcard bench/kernel/*.c))
endif
