# tests/host/host.mk: the hosted test suites of the allocator core (issue 3, item 12):
# API edge cases, multi-threaded stress, bad-input death tests, OOM, the libFuzzer
# op-sequence fuzzer, ASan+UBSan and TSan builds, and the LD_PRELOAD acceptance run.
# Every step prints KTAP through tests/run-step.sh. Documented in docs/testing.md.

H4_DIR    := $(HBUILD)/suites
H4_HDRS   := include/goheap.h tests/host/heapcheck.h tests/host/hostktap.h
H4_LIBA   := $(HBUILD)/libgoheap.a
H4_LIBSO  := $(HBUILD)/libgoheap.so
H4_DEPS   := $(HBUILD)/sanitizer-deps.status

# The hosted core's sources (allocator + hosted platform, without hosted/preload.c:
# its standard names would fight a sanitizer runtime over malloc), compiled again
# below with instrumentation. GOHEAP_HOST_SRCS comes from hosted/hosted.mk.
H4_CORE_SRCS = $(GOHEAP_HOST_SRCS)
H4_CORE_CFLAGS := -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc

# The core's own unit tests that link against it, run again under the sanitizers.
H4_UNIT_TESTS ?= $(basename $(notdir $(wildcard tests/host/test_core_*.c)))

# Sanitizer flag sets. -O1 keeps the instrumented builds quick enough; UBSan failures
# abort (no recovery), so a report cannot scroll by in a passing run.
H4_ASAN   := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
H4_TSAN   := -O1 -fsanitize=thread
H4_FUZZ   := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined

# Workloads. The plain stress run: 6 rounds x 4 threads x 60000 ops (~2 s, ~1.5
# million operations). ASan runs the same (~3 s); TSan is ~4x slower per operation
# here and runs 4 x 4 x 30000 (~8 s).
H4_STRESS_ARGS      := 6 4 60000
H4_STRESS_ASAN_ARGS := 6 4 60000
H4_STRESS_TSAN_ARGS := 4 4 30000
# The TSan stress again with about one allocation in four sampled (objects average
# ~1 KiB): sampled objects' markers (alloc/profile.c) under remote frees, sweeps and
# the background reclaim, and spans with more samples than lanes (~5 s).
H4_STRESS_TSAN_SAMPLED_ARGS := 2 4 30000
H4_STRESS_SAMPLED_KNOBS := memprofilerate=4096
H4_STRESS_KNOBS      := scavenge=eager,debug=1,memlimit=16M,memprofilerate=4096
H4_STRESS_KNOBS_ARGS := 3 4 30000
# The bounded fuzzing run: 45 s or 2 million inputs, whichever ends first.
H4_FUZZ_SECS := 45
H4_FUZZ_RUNS := 2000000

H4_STEPS := host-api host-stress host-stress-knobs host-badinput host-oom host-preload host-hardening host-fuzz \
	host-profile-pprof \
	asan-stress tsan-stress tsan-stress-sampled $(foreach t,$(H4_UNIT_TESTS),asan-$(t) tsan-$(t))
TEST_HOST_STEPS += $(H4_STEPS)
.PHONY: $(H4_STEPS) host-suites-deps

# ---- plain builds against build/host/libgoheap.a ------------------------------------
$(H4_DIR)/test_%: tests/host/test_%.c $(H4_HDRS) $(H4_LIBA)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOSTCC) $(HOST_CFLAGS) -Itests/host $< $(H4_LIBA) -o $@

host-api: $(H4_DIR)/test_api
	@tests/run-step.sh $@ $(RESULTS)/host 120 $<
host-stress: $(H4_DIR)/test_stress
	@tests/run-step.sh $@ $(RESULTS)/host 180 $< $(H4_STRESS_ARGS)
# The same stress with the scavenger releasing every free page at once, lock-rank
# checking on and a 16 MiB soft limit (the ~10 MiB live set keeps the limit path busy).
host-stress-knobs: $(H4_DIR)/test_stress
	@tests/run-step.sh $@ $(RESULTS)/host 180 env GOHEAPDEBUG=$(H4_STRESS_KNOBS) $< $(H4_STRESS_KNOBS_ARGS)
host-badinput: $(H4_DIR)/test_badinput
	@tests/run-step.sh $@ $(RESULTS)/host 120 $<
host-oom: $(H4_DIR)/test_oom
	@tests/run-step.sh $@ $(RESULTS)/host 120 $<
# Real programs under RLIMIT_AS / RLIMIT_DATA and efence (tests/host/test_hardening.sh).
host-hardening: $(H4_LIBSO)
	@tests/run-step.sh $@ $(RESULTS)/host 300 tests/host/test_hardening.sh $(H4_LIBSO) $(H4_DIR)/hardening
host-preload: $(H4_LIBSO)
	@tests/run-step.sh $@ $(RESULTS)/host 120 tests/host/test_preload.sh $(H4_LIBSO) $(H4_DIR)/preload
# The heap profile in `go tool pprof` (skips without golang-go; docs/profiling.md).
$(H4_DIR)/profile_workload: tests/host/profile_workload.c
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOSTCC) $(HOST_CFLAGS) $< -o $@
host-profile-pprof: $(H4_LIBSO) $(H4_DIR)/profile_workload
	@tests/run-step.sh $@ $(RESULTS)/host 180 tests/host/test_profile_pprof.sh $(H4_LIBSO) \
		$(H4_DIR)/profile_workload $(H4_DIR)/profile-pprof

# ---- sanitizer builds: the core compiled again with instrumentation ---------------
# Probed once per build directory; probed again while the last probe was not "ok".
H4_DEPS_AGAIN := $(if $(filter ok,$(shell cat $(H4_DEPS) 2>/dev/null)),,h4-deps-again)
.PHONY: h4-deps-again
$(H4_DEPS): tests/host/ensure-sanitizer-deps.sh $(H4_DEPS_AGAIN)
	@HOSTCC=$(HOSTCC) tests/host/ensure-sanitizer-deps.sh $@
host-suites-deps: $(H4_DEPS)

$(HBUILD)/asan/%.o: %.c $(H4_DEPS) $(HFLAGS_RECORD)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$< [asan])$(HOSTCC) $(HOST_CFLAGS) $(H4_CORE_CFLAGS) $(H4_ASAN) -MMD -MP -c $< -o $@
$(HBUILD)/tsan/%.o: %.c $(H4_DEPS) $(HFLAGS_RECORD)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$< [tsan])$(HOSTCC) $(HOST_CFLAGS) $(H4_CORE_CFLAGS) $(H4_TSAN) -MMD -MP -c $< -o $@
$(HBUILD)/fuzz/%.o: %.c $(H4_DEPS) $(HFLAGS_RECORD)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$< [fuzz])$(HOSTCC) $(HOST_CFLAGS) $(H4_CORE_CFLAGS) $(H4_FUZZ) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
-include $(wildcard $(HBUILD)/asan/*/*.d $(HBUILD)/tsan/*/*.d $(HBUILD)/fuzz/*/*.d \
	$(HBUILD)/asan/*/*/*.d $(HBUILD)/tsan/*/*/*.d $(HBUILD)/fuzz/*/*/*.d)

H4_CORE_OBJS = $(patsubst %.c,$(HBUILD)/$(1)/%.o,$(H4_CORE_SRCS))

$(HBUILD)/asan/bin/%: $(HBUILD)/asan/tests/host/%.o $(call H4_CORE_OBJS,asan)
	@mkdir -p $(dir $@)
	$(call say,HOSTLD,$@)$(HOSTCC) $(HOST_CFLAGS) $(H4_ASAN) $^ -o $@
$(HBUILD)/tsan/bin/%: $(HBUILD)/tsan/tests/host/%.o $(call H4_CORE_OBJS,tsan)
	@mkdir -p $(dir $@)
	$(call say,HOSTLD,$@)$(HOSTCC) $(HOST_CFLAGS) $(H4_TSAN) $^ -o $@
$(HBUILD)/fuzz/fuzz_ops: $(HBUILD)/fuzz/tests/host/fuzz_ops.o $(call H4_CORE_OBJS,fuzz)
	@mkdir -p $(dir $@)
	$(call say,HOSTLD,$@)$(HOSTCC) $(HOST_CFLAGS) $(H4_FUZZ) -fsanitize=fuzzer $^ -o $@

# The instrumented test objects also see tests/host (heapcheck.h) on the include path.
$(HBUILD)/asan/tests/host/%.o $(HBUILD)/tsan/tests/host/%.o $(HBUILD)/fuzz/tests/host/%.o: \
	HOST_CFLAGS += -Itests/host

# A missing sanitizer runtime that apt could not install gives a SKIP, not a failure.
# $(1) step, $(2) binary, $(3) timeout, $(4) arguments, $(5) environment for the run.
H4_SAN_RUN = if [ "$$(cat $(H4_DEPS))" = ok ]; then \
	  $(MAKE) --no-print-directory $(2) && \
	  tests/run-step.sh $(1) $(RESULTS)/host $(3) env $(5) $(2) $(4); \
	else tests/run-step.sh $(1) $(RESULTS)/host 10 \
	  tests/host/skip-step.sh $(1) "$$(cat $(H4_DEPS))"; fi
# TSan: stop at the first report, so a race can never pass as a clean log.
H4_TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
H4_ASAN_ENV := ASAN_OPTIONS=abort_on_error=0:detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1

asan-stress: $(H4_DEPS)
	+@$(call H4_SAN_RUN,$@,$(HBUILD)/asan/bin/test_stress,240,$(H4_STRESS_ASAN_ARGS),$(H4_ASAN_ENV))
tsan-stress: $(H4_DEPS)
	+@$(call H4_SAN_RUN,$@,$(HBUILD)/tsan/bin/test_stress,240,$(H4_STRESS_TSAN_ARGS),$(H4_TSAN_ENV))
tsan-stress-sampled: $(H4_DEPS)
	+@$(call H4_SAN_RUN,$@,$(HBUILD)/tsan/bin/test_stress,240,$(H4_STRESS_TSAN_SAMPLED_ARGS),$(H4_TSAN_ENV) GOHEAPDEBUG=$(H4_STRESS_SAMPLED_KNOBS))
# (Static pattern rules: make does no implicit-rule search for .PHONY targets.)
$(addprefix asan-,$(H4_UNIT_TESTS)): asan-%: $(H4_DEPS)
	+@$(call H4_SAN_RUN,$@,$(HBUILD)/asan/bin/$*,180,,$(H4_ASAN_ENV))
$(addprefix tsan-,$(H4_UNIT_TESTS)): tsan-%: $(H4_DEPS)
	+@$(call H4_SAN_RUN,$@,$(HBUILD)/tsan/bin/$*,180,,$(H4_TSAN_ENV))

host-fuzz: $(H4_DEPS)
	+@if [ "$$(cat $(H4_DEPS))" = ok ]; then $(MAKE) --no-print-directory $(HBUILD)/fuzz/fuzz_ops; fi; \
	tests/run-step.sh $@ $(RESULTS)/host $$(( $(H4_FUZZ_SECS) + 120 )) tests/host/run-fuzz.sh \
	  $(HBUILD)/fuzz/fuzz_ops tests/host/fuzz-corpus $(HBUILD)/fuzz/work $(H4_FUZZ_SECS) \
	  $(H4_FUZZ_RUNS) $(H4_DEPS)

# Keep the instrumented objects between runs (they are intermediate to make).
.PRECIOUS: $(HBUILD)/asan/%.o $(HBUILD)/tsan/%.o $(HBUILD)/fuzz/%.o
