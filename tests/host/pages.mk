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

# The page allocator against the strict test-only platform (tests/host/testplatform.c).
TEST_HOST_STEPS += pagealloc
.PHONY: pagealloc
PA_SRCS := alloc/pagealloc.c alloc/pallocbits.c alloc/fmt.c alloc/sysmem.c tests/host/testplatform.c
PA_HDRS := alloc/util.h alloc/sysmem.h alloc/pagealloc.h alloc/pallocbits.h alloc/sizeclasses.h alloc/platform.h \
	tests/host/testplatform.h tests/host/testplat/goheap_platform_impl.h tests/host/hostktap.h \
	tests/xorshift.h
pagealloc: $(HBUILD)/test_pagealloc
	@tests/run-step.sh $@ $(RESULTS)/host 120 $<

$(HBUILD)/test_pagealloc: tests/host/test_pagealloc.c $(PA_SRCS) $(PA_HDRS)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOSTCC) -Itests/host/testplat -Itests/host -Itests $(HOST_CFLAGS) $< $(PA_SRCS) -o $@

# The same test under ASan+UBSan (runtime availability and SKIP handling come from
# tests/host/host.mk: H4_DEPS, H4_SAN_RUN).
TEST_HOST_STEPS += pagealloc-asan
.PHONY: pagealloc-asan
pagealloc-asan: $(H4_DEPS)
	+@$(call H4_SAN_RUN,$@,$(HBUILD)/asan-pa/test_pagealloc,180,,$(H4_ASAN_ENV))

$(HBUILD)/asan-pa/test_pagealloc: tests/host/test_pagealloc.c $(PA_SRCS) $(PA_HDRS)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$< [asan])$(HOSTCC) -Itests/host/testplat -Itests/host -Itests $(HOST_CFLAGS) -O1 \
		-fsanitize=address,undefined -fno-sanitize-recover=undefined $< $(PA_SRCS) -o $@
