# tests/kernel: in-kernel test suites, linked into every kernel (selected by test=).
KERNEL_SRCS += $(sort $(wildcard tests/kernel/*.c))

# The kernel heap profile read back through pprof: the kheap-profile boot's log
# (qemu/boots.tab) through tools/kprofile.py and `go tool pprof` (the pprof cases skip
# without golang-go). One step per arch, in `make test-kernel`.
TEST_KERNEL_STEPS_x86_64 += kheap-profile-pprof
TEST_KERNEL_STEPS_aarch64 += kheap-profile-pprof
.PHONY: kheap-profile-pprof
kheap-profile-pprof: kheap-profile
	@tests/run-step.sh $@ $(RESULTS)/kernel-$(ARCH) 120 tests/kernel/test_kprofile_pprof.sh \
		$(RESULTS)/kernel-$(ARCH)/kheap-profile.log $(KELF) $(KBUILD)/kprofile-pprof
