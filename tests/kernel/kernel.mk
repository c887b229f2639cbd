# tests/kernel: in-kernel test suites, linked into every kernel (selected by test=).
KERNEL_SRCS += $(sort $(wildcard tests/kernel/*.c))
