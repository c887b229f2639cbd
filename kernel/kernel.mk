# kernel/: the portable test kernel and its link. `make kernel` builds
# $(KBUILD)/goheap.elf for $(ARCH) with linker/$(ARCH).ld, in two passes: pass 1
# links with an empty symbol table, kernel/mksyms.py turns its `llvm-nm -n` into
# .ksyms, pass 2 links that in (the .ksyms section sits after code and rodata, so no
# function moves; --check proves it).
KERNEL_SRCS += kernel/main.c kernel/printk.c kernel/panic.c kernel/string.c \
	kernel/ksyms.c kernel/cmdline.c kernel/percpu.c kernel/spinlock.c kernel/fault.c \
	kernel/smp.c kernel/ktest.c kernel/frame.c kernel/vm.c

KELF := $(KBUILD)/goheap.elf
LINKER_SCRIPT := linker/$(ARCH).ld

.PHONY: kernel
# KERNEL_OBJS is complete only after every fragment is read: expand it late.
.SECONDEXPANSION:
kernel: $(KELF)

$(KBUILD)/ksyms0.S: kernel/mksyms.py
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)$(PYTHON) kernel/mksyms.py /dev/null > $@

$(KBUILD)/ksyms%.o: $(KBUILD)/ksyms%.S
	$(call say,AS,$<)$(KCC) $(KASFLAGS) -c $< -o $@

$(KBUILD)/goheap.pass1.elf: $$(KERNEL_OBJS) $(KBUILD)/ksyms0.o $(LINKER_SCRIPT)
	$(call say,LD,$@)$(LD) $(KLDFLAGS) -T $(LINKER_SCRIPT) -o $@ $(KERNEL_OBJS) $(KBUILD)/ksyms0.o

$(KBUILD)/ksyms1.S: $(KBUILD)/goheap.pass1.elf kernel/mksyms.py
	$(call say,NM,$<)$(NM) -n $< > $(KBUILD)/goheap.pass1.nm
	$(call say,GEN,$@)$(PYTHON) kernel/mksyms.py $(KBUILD)/goheap.pass1.nm > $@

$(KELF): $$(KERNEL_OBJS) $(KBUILD)/ksyms1.o $(LINKER_SCRIPT)
	$(call say,LD,$@)$(LD) $(KLDFLAGS) -T $(LINKER_SCRIPT) -o $@ $(KERNEL_OBJS) $(KBUILD)/ksyms1.o
	$(Q)$(NM) -n $@ > $(KBUILD)/goheap.nm
	$(Q)$(PYTHON) kernel/mksyms.py --check $(KBUILD)/goheap.pass1.nm $(KBUILD)/goheap.nm
