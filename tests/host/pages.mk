# tests/host/pages.mk: host tests of the size classes and the page allocator.
TEST_HOST_STEPS += sizeclasses-gen sizeclasses-table
.PHONY: sizeclasses-gen sizeclasses-table

# The committed header is what the generator writes today (and the generator's own
# exhaustive divmagic check passes).
sizeclasses-gen:
	@tests/run-host-test.sh $@ $(RESULTS)/host 60 $(PYTHON) tools/mksizeclasses.py --check alloc/sizeclasses.h

sizeclasses-table: $(HBUILD)/test_sizeclasses
	@tests/run-host-test.sh $@ $(RESULTS)/host 60 $<

$(HBUILD)/test_sizeclasses: tests/host/test_sizeclasses.c alloc/sizeclasses.h tests/host/hostktap.h
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) $< -o $@

# The page allocator against the strict test-only platform (tests/host/testplatform.c).
TEST_HOST_STEPS += pagealloc
.PHONY: pagealloc
PA_SRCS := alloc/pagealloc.c alloc/pallocbits.c alloc/fmt.c alloc/knobs.c tests/host/testplatform.c
PA_HDRS := alloc/pagealloc.h alloc/pallocbits.h alloc/sizeclasses.h alloc/platform.h \
	tests/host/testplatform.h tests/host/testplat/goheap_platform_impl.h tests/host/hostktap.h
pagealloc: $(HBUILD)/test_pagealloc
	@tests/run-host-test.sh $@ $(RESULTS)/host 120 $<

$(HBUILD)/test_pagealloc: tests/host/test_pagealloc.c $(PA_SRCS) $(PA_HDRS)
	@mkdir -p $(dir $@)
	$(HOSTCC) -Itests/host/testplat -Itests/host $(HOST_CFLAGS) $< $(PA_SRCS) -o $@
