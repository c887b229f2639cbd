# alloc/alloc.mk: the allocator core. Its sources are one list that both the kernel
# (freestanding, via KERNEL_SRCS) and the hosted library (hosted/hosted.mk) build.
GOHEAP_CORE_SRCS := $(sort $(wildcard alloc/*.c))
KERNEL_SRCS += $(GOHEAP_CORE_SRCS)
# The kernel's allocator objects: KCFLAGS_ALLOC (the Makefile says why).
$(KBUILD)/alloc/%.o: KCFLAGS += $(KCFLAGS_ALLOC)
