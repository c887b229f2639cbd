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
