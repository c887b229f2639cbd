# tests/host/region.mk: `make amalgamation` (build/goheap.c + build/goheap.h, one file
# any kernel adds to its build) and its host test: generated with unique static names,
# warning-free with gcc and clang as freestanding code, and region mode's tests
# (tests/host/test_region.c) against the gcc and the clang build.
.PHONY: amalgamation host-amalgamation
amalgamation:
	@$(PYTHON) tools/amalgamate.py $(BUILD)

TEST_HOST_STEPS += host-amalgamation
host-amalgamation:
	@tests/run-step.sh $@ $(RESULTS)/host 300 tests/host/amalgamation.sh $(BUILD)
