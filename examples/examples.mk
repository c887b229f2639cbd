# examples/examples.mk: the adoption examples, built from the amalgamated core
# (build/goheap.c) like a foreign kernel would, and booted by `make test` (their boot
# steps are rows of qemu/boots.tab):
#   example-region-x86_64  examples/region-x86_64, a from-scratch PVH kernel with the
#     region-mode port exactly as docs/PORTING.md's quick start shows it (the blocks are
#     extracted from the document by tools/quickstart.py, which also checks they are
#     <= 60 lines and match the example's copies), compiled with clang and booted.
#   example-smp-aarch64    examples/smp-aarch64, a 4-CPU page-table-mode port (below).
EX_DIR := $(BUILD)/examples
# The examples cross-compile with clang's --target for both arches, so a CC=gcc build
# of the rest still builds them with clang.
EX_CC := $(if $(CC_IS_CLANG),$(CC),clang)
EX_CFLAGS := -std=gnu11 -ffreestanding -fno-pic -fno-stack-protector -O2 -Wall -Wextra -Werror
# The quiet build's GEN line stands for the generators' own summary lines (V=1 keeps them).
EX_QUIET := $(if $(filter 1,$(V)),,> /dev/null)
EX_R64 := $(EX_DIR)/region-x86_64
EX_R64_FLAGS := --target=x86_64-unknown-none-elf -mno-red-zone -mgeneral-regs-only

$(EX_R64)/kernel.elf: examples/region-x86_64/boot.S examples/region-x86_64/main.c \
		examples/region-x86_64/linker.ld docs/PORTING.md tools/quickstart.py tools/amalgamate.py \
		$(GOHEAP_CORE_SRCS) $(wildcard alloc/*.h) include/goheap.h
	@rm -rf $(EX_R64); mkdir -p $(EX_R64)/qs
	$(call say,GEN,$(EX_R64)/qs/goheap.c)$(PYTHON) tools/amalgamate.py $(EX_R64)/qs $(EX_QUIET)
	$(call say,GEN,$(EX_R64)/qs/heap_port.c)$(PYTHON) tools/quickstart.py $(EX_R64)/qs $(EX_QUIET)
	$(call say,CC,$(EX_R64)/qs/goheap.c)$(EX_CC) $(EX_R64_FLAGS) $(EX_CFLAGS) -I$(EX_R64)/qs -c $(EX_R64)/qs/goheap.c -o $(EX_R64)/goheap.o
	$(call say,CC,$(EX_R64)/qs/heap_port.c)$(EX_CC) $(EX_R64_FLAGS) $(EX_CFLAGS) -I$(EX_R64)/qs -c $(EX_R64)/qs/heap_port.c -o $(EX_R64)/heap_port.o
	$(call say,CC,examples/region-x86_64/main.c)$(EX_CC) $(EX_R64_FLAGS) $(EX_CFLAGS) -I$(EX_R64)/qs -c examples/region-x86_64/main.c -o $(EX_R64)/main.o
	$(call say,AS,examples/region-x86_64/boot.S)$(EX_CC) $(EX_R64_FLAGS) -c examples/region-x86_64/boot.S -o $(EX_R64)/boot.o
	$(call say,LD,$@)$(LD) -nostdlib -static -T examples/region-x86_64/linker.ld -o $@ \
		$(EX_R64)/boot.o $(EX_R64)/main.o $(EX_R64)/heap_port.o $(EX_R64)/goheap.o


# examples/smp-aarch64: a from-scratch SMP kernel (QEMU virt, 4 CPUs through PSCI,
# MMU on with its own tables) with a page-table-mode port: map/unmap over its frame
# allocator (broadcast TLBI, no IPI), pin by DAIF + TPIDR_EL1, no each_cpu. Checks that
# goheap_free_os_memory() gives the frames back, calloc zero after it, the validator.
EX_A64 := $(EX_DIR)/smp-aarch64
EX_A64_FLAGS := --target=aarch64-unknown-none-elf -mgeneral-regs-only -mno-outline-atomics

$(EX_A64)/kernel.elf: examples/smp-aarch64/boot.S examples/smp-aarch64/main.c \
		examples/smp-aarch64/port.c examples/smp-aarch64/goheap_config.h \
		examples/smp-aarch64/linker.ld tools/amalgamate.py $(GOHEAP_CORE_SRCS) \
		$(wildcard alloc/*.h) include/goheap.h
	@rm -rf $(EX_A64); mkdir -p $(EX_A64)/src
	$(call say,GEN,$(EX_A64)/src/goheap.c)$(PYTHON) tools/amalgamate.py $(EX_A64)/src $(EX_QUIET)
	$(call say,CC,$(EX_A64)/src/goheap.c)$(EX_CC) $(EX_A64_FLAGS) $(EX_CFLAGS) -Iexamples/smp-aarch64 -I$(EX_A64)/src -c $(EX_A64)/src/goheap.c -o $(EX_A64)/goheap.o
	$(call say,CC,examples/smp-aarch64/port.c)$(EX_CC) $(EX_A64_FLAGS) $(EX_CFLAGS) -Iexamples/smp-aarch64 -I$(EX_A64)/src -c examples/smp-aarch64/port.c -o $(EX_A64)/port.o
	$(call say,CC,examples/smp-aarch64/main.c)$(EX_CC) $(EX_A64_FLAGS) $(EX_CFLAGS) -Iexamples/smp-aarch64 -I$(EX_A64)/src -c examples/smp-aarch64/main.c -o $(EX_A64)/main.o
	$(call say,AS,examples/smp-aarch64/boot.S)$(EX_CC) $(EX_A64_FLAGS) -c examples/smp-aarch64/boot.S -o $(EX_A64)/boot.o
	$(call say,LD,$@)$(LD) -nostdlib -static -T examples/smp-aarch64/linker.ld -o $@ \
		$(EX_A64)/boot.o $(EX_A64)/main.o $(EX_A64)/port.o $(EX_A64)/goheap.o
