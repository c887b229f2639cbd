# bench/bench.mk: `make bench` builds the benchmark programs, installs the allocators
# compared against when missing, and runs the fast-path probe and the workload suite.
# Outputs land in $(BUILD)/bench/ (tables, JSON, SVG); bench/RESULTS.md is the report.
# Benchmarks are never part of `make test`.
#
#   make bench-fastpath [BENCH_ALLOC=glibc,mimalloc,goheap] [BENCH_SIZES=16,64]
#   make bench-suite    [BENCH_ALLOC=...] [BENCH_ROUNDS=5]
#   make bench-scaling  [BENCH_ALLOC=...]  (1..nproc threads and 2x nproc; not in `make bench`)
#   make bench-pairs    [BENCH_ALLOC=...]  (callgrind instructions per pair in the workloads)
#   make bench-inproc   (time side by side in one process: bench/inproc.c; not in `make bench`)

BENCH_OUT    := $(BUILD)/bench
BENCH_CFLAGS := -std=gnu11 -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror \
	-Iinclude -Itests -pthread
BENCH_ALLOC  ?=
BENCH_SIZES  ?=
BENCH_ROUNDS ?= 5
BENCH_ARGS_ALLOC = $(if $(BENCH_ALLOC),--alloc $(BENCH_ALLOC))
BENCH_ARGS_SIZES = $(if $(BENCH_SIZES),--sizes $(BENCH_SIZES))

BENCH_SCALE  ?= 1
BENCH_WORKLOADS := churn larson xmalloc scratch pareto bigalloc realloc rptest glibcthread
BENCH_SUITE_BINS := $(patsubst %,$(BENCH_OUT)/suite/%,$(BENCH_WORKLOADS))

BENCH_STEPS += bench-fastpath bench-suite
.PHONY: bench-deps bench-progs bench-fastpath bench-suite bench-scaling bench-pairs

# The allocators to compare (apt-get when root), and goheap's host library when the
# core provides the host-lib target.
bench-deps:
	@bench/ensure-deps.sh
	@if $(MAKE) -n host-lib >/dev/null 2>&1; then $(MAKE) --no-print-directory host-lib; \
	 else echo "bench: no host-lib target yet; goheap is left out" >&2; fi

$(BENCH_OUT)/fastpath: bench/fastpath.c
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOSTCC) $(BENCH_CFLAGS) $< -o $@

# The same probe calling goheap_malloc/goheap_free from libgoheap.a, built only when
# the library exists.
$(BENCH_OUT)/suite/%: bench/suite/%.c bench/suite/util.h tests/xorshift.h
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOSTCC) $(BENCH_CFLAGS) $< -o $@ -lm

bench-progs: $(BENCH_OUT)/fastpath $(BENCH_SUITE_BINS)
	@if [ -f $(HBUILD)/libgoheap.a ]; then \
	  $(HOSTCC) $(BENCH_CFLAGS) -DGOHEAP_DIRECT bench/fastpath.c $(HBUILD)/libgoheap.a \
	    -o $(BENCH_OUT)/fastpath-direct || echo "bench: fastpath-direct did not build" >&2; \
	fi

bench-fastpath: bench-deps bench-progs
	$(PYTHON) bench/fastpath.py --exe $(BENCH_OUT)/fastpath \
	  --direct $(BENCH_OUT)/fastpath-direct --build $(BUILD) --out $(BENCH_OUT) \
	  $(BENCH_ARGS_ALLOC) $(BENCH_ARGS_SIZES)

# Throughput at 1, 2, 4 .. nproc threads and 2x nproc, every allocator; the table and
# the larson chart go into bench/RESULTS.md (BENCH_PUBLISH=0: only $(BENCH_OUT)).
bench-scaling: bench-deps bench-progs
	$(PYTHON) bench/scaling.py --bindir $(BENCH_OUT)/suite --build $(BUILD) --out $(BENCH_OUT) \
	  $(BENCH_ARGS_ALLOC) $(if $(filter 0,$(BENCH_PUBLISH)),,--publish bench/RESULTS.md)

# Allocator instructions per malloc+free pair inside the workloads (callgrind, exact).
BENCH_PAIRS_WORKLOADS ?= larson,pareto,glibcthread,rptest,xmalloc
bench-pairs: bench-deps bench-progs
	$(PYTHON) bench/callgrind_pairs.py --bindir $(BENCH_OUT)/suite --build $(BUILD) \
	  --workloads $(BENCH_PAIRS_WORKLOADS) $(BENCH_ARGS_ALLOC)

# Time side by side inside one process (bench/inproc.c): each allocator dlopen'ed, rounds
# in a random order, ratios to mimalloc taken round by round, so this host's 2x
# per-process speed modes cancel. Writes $(BENCH_OUT)/inproc.md. Not in `make bench`.
BENCH_INPROC_ROUNDS ?= 40
BENCH_INPROC_ITERS  ?= 500000
$(BENCH_OUT)/inproc: bench/inproc.c tests/xorshift.h
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOSTCC) $(BENCH_CFLAGS) $< -o $@ -ldl

.PHONY: bench-inproc
bench-inproc: bench-deps $(BENCH_OUT)/inproc
	@libs=$$($(PYTHON) -c 'import sys; sys.path.insert(0, "bench"); from allocators import allocators; \
	  d = dict(allocators("$(BUILD)")); order = ["mimalloc", "goheap", "glibc", "jemalloc", "tcmalloc"]; \
	  print(" ".join("%s=%s" % (n, d[n] or "libc") for n in order if n in d))'); \
	for w in local pareto xthread; do \
	  $(BENCH_OUT)/inproc $$w 2 $(BENCH_INPROC_ROUNDS) $(BENCH_INPROC_ITERS) $$libs || exit 1; echo; \
	done | tee $(BENCH_OUT)/inproc.md

# `make bench` runs its steps in order (do not use -j: the timings would compete).
bench-suite: bench-deps bench-progs
	$(PYTHON) bench/suite.py --bindir $(BENCH_OUT)/suite --build $(BUILD) \
	  --out $(BENCH_OUT) --rounds $(BENCH_ROUNDS) --scale $(BENCH_SCALE) $(BENCH_ARGS_ALLOC)

# The generated report: $(BENCH_OUT)/report.md, and (unless BENCH_PUBLISH=0) its
# tables and charts replace the generated region of bench/RESULTS.md; the
# commentary around that region is written by hand.
BENCH_PUBLISH ?= 1
BENCH_STEPS += bench-report
.PHONY: bench-report
bench-report:
	$(PYTHON) bench/report.py --out $(BENCH_OUT) \
	  $(if $(filter 1,$(BENCH_PUBLISH)),--publish bench/RESULTS.md) >/dev/null
	@echo "bench: report in $(BENCH_OUT)/report.md$(if $(filter 1,$(BENCH_PUBLISH)), and bench/RESULTS.md)"
