# tests/host/core.mk: the allocator core's unit tests, one binary per tier, each
# linked against build/host/libgoheap.a and white-box (alloc/ internals on the path).
CORE_TESTS := $(basename $(notdir $(wildcard tests/host/test_core_*.c)))
CORE_STEPS := $(patsubst test_core_%,core-%,$(CORE_TESTS))
TEST_HOST_STEPS += $(CORE_STEPS)
.PHONY: $(CORE_STEPS)

$(HBUILD)/core/test_core_%: tests/host/test_core_%.c tests/host/test_core_common.h tests/host/test_core_profile.h tests/host/test_core_large.h tests/host/test_core_fork.h tests/knob_cases.h \
		tests/host/hostktap.h $(HBUILD)/libgoheap.a
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOSTCC) $(HOST_CFLAGS) -Itests/host $< $(HBUILD)/libgoheap.a -o $@

$(CORE_STEPS): core-%: $(HBUILD)/core/test_core_%
	@tests/run-step.sh $@ $(RESULTS)/host 120 $<
