# tests/: shared test plumbing. The KTAP parser checks itself against its fixtures.
TEST_HOST_STEPS += ktap-selftest
.PHONY: ktap-selftest
ktap-selftest:
	@tests/run-step.sh $@ $(RESULTS)/host 60 $(PYTHON) tests/ktap.py --self-test tests/ktap-fixtures
