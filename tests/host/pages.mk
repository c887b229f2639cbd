# tests/host/pages.mk: host tests of the size classes and the page allocator.
TEST_HOST_STEPS += sizeclasses-gen sizeclasses-table
.PHONY: sizeclasses-gen sizeclasses-table

# The committed header is what the generator writes today (and the generator's own
# exhaustive divmagic check passes).
sizeclasses-gen:
	@tests/run-step.sh $@ $(RESULTS)/host 60 $(PYTHON) tools/mksizeclasses.py --check alloc/sizeclasses.h

sizeclasses-table: $(HBUILD)/test_sizeclasses
	@tests/run-step.sh $@ $(RESULTS)/host 60 $<

$(HBUILD)/test_sizeclasses: tests/host/test_sizeclasses.c alloc/sizeclasses.h tests/host/hostktap.h
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOSTCC) $(HOST_CFLAGS) $< -o $@

# The page allocator against the strict test-only platform (tests/host/testplatform.c):
# its allocation and its backing/metadata, and its chunk bitmaps on their own; each
# also under ASan+UBSan (runtime availability and SKIP handling come from
# tests/host/host.mk: H4_DEPS, H4_SAN_RUN).
PA_TESTS := pagealloc pagealloc_backing pallocbits
TEST_HOST_STEPS += $(PA_TESTS) $(addsuffix -asan,$(PA_TESTS))
.PHONY: $(PA_TESTS) $(addsuffix -asan,$(PA_TESTS))
PA_SRCS := alloc/pagealloc.c alloc/pallocbits.c alloc/fmt.c alloc/sysmem.c tests/host/testplatform.c
PA_HDRS := alloc/util.h alloc/sysmem.h alloc/pagealloc.h alloc/pallocbits.h alloc/sizeclasses.h alloc/platform.h \
	tests/host/testplatform.h tests/host/testplat/goheap_platform_impl.h tests/host/hostktap.h \
	tests/host/pagealloc_fx.h tests/xorshift.h
$(PA_TESTS): %: $(HBUILD)/test_%
	@tests/run-step.sh $@ $(RESULTS)/host 120 $<

$(addprefix $(HBUILD)/test_,$(PA_TESTS)): $(HBUILD)/test_%: tests/host/test_%.c $(PA_SRCS) $(PA_HDRS)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOSTCC) -Itests/host/testplat -Itests/host -Itests $(HOST_CFLAGS) $< $(PA_SRCS) -o $@

$(addsuffix -asan,$(PA_TESTS)): %-asan: $(H4_DEPS)
	+@$(call H4_SAN_RUN,$@,$(HBUILD)/asan-pa/test_$*,180,,$(H4_ASAN_ENV))

$(addprefix $(HBUILD)/asan-pa/test_,$(PA_TESTS)): $(HBUILD)/asan-pa/test_%: tests/host/test_%.c $(PA_SRCS) $(PA_HDRS)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$< [asan])$(HOSTCC) -Itests/host/testplat -Itests/host -Itests $(HOST_CFLAGS) -O1 \
		-fsanitize=address,undefined -fno-sanitize-recover=undefined $< $(PA_SRCS) -o $@
