# hosted/hosted.mk: the core on Linux user space. `make host-lib` builds
# build/host/libgoheap.a (goheap_* API, for tests and benchmarks) and
# build/host/libgoheap.so (the same plus malloc & co., for LD_PRELOAD).
# DWARF 4: valgrind (callgrind benchmarks) cannot read clang 14's default DWARF 5.
# No frame pointer: the malloc/free fast paths then need no frame set-up at all.
GOHEAP_HOST_CFLAGS := -gdwarf-4 -fomit-frame-pointer -fvisibility=hidden -fno-builtin-malloc -fno-builtin-free \
	-fno-builtin-calloc -fno-builtin-realloc
# (hosted/preload.c, the standard names, goes only into the .so.)
GOHEAP_HOST_SRCS := $(GOHEAP_CORE_SRCS) hosted/platform.c hosted/vm.c
# Two object sets: PIC for the .so, each function in its own section for the .so's text
# order (below), and non-PIC with local-exec TLS for the .a (linked into executables
# only), whose pin is one instruction shorter.
GOHEAP_HOST_OBJS := $(patsubst %.c,$(HBUILD)/goheap/%.o,$(GOHEAP_HOST_SRCS))
GOHEAP_STATIC_OBJS := $(patsubst %.c,$(HBUILD)/goheap-static/%.o,$(GOHEAP_HOST_SRCS))
GOHEAP_SHIM_OBJ := $(HBUILD)/goheap/hosted/preload.o

GOHEAP_COMMA := ,
.PHONY: host-lib
host-lib: $(HBUILD)/libgoheap.a $(HBUILD)/libgoheap.so

# The profiler's frame-pointer walk starts in these (alloc.c's gh_alloc is where the
# public entry points land by a tail call): frames there, none on the fast paths.
GOHEAP_HOST_FP_OBJS := alloc/alloc.o alloc/profile.o
$(addprefix $(HBUILD)/goheap/,$(GOHEAP_HOST_FP_OBJS)) $(addprefix $(HBUILD)/goheap-static/,$(GOHEAP_HOST_FP_OBJS)): \
	GOHEAP_HOST_CFLAGS += -fno-omit-frame-pointer

$(HBUILD)/goheap/%.o: %.c hosted/hosted.mk $(HFLAGS_RECORD)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$< [pic])$(HOSTCC) $(HOST_CFLAGS_LIB) $(GOHEAP_HOST_CFLAGS) -fPIC -ffunction-sections -fdata-sections -MMD -MP -c $< -o $@

$(HBUILD)/goheap-static/%.o: %.c hosted/hosted.mk $(HFLAGS_RECORD)
	@mkdir -p $(dir $@)
	$(call say,HOSTCC,$<)$(HOSTCC) $(HOST_CFLAGS_LIB) $(GOHEAP_HOST_CFLAGS) -DGOHEAP_HOSTED_TLS_MODEL='"local-exec"' \
		-MMD -MP -c $< -o $@

$(HBUILD)/libgoheap.a: $(GOHEAP_STATIC_OBJS)
	@rm -f $@
	$(call say,AR,$@)$(AR) rcs $@ $^

# The hot standard names are aliases of the goheap_* entry points (no wrapper call).
# cfree: glibc's compat name for free (no header since 2.26), still called by binaries
# linked against an older glibc; an unversioned definition here takes their
# cfree@GLIBC_* references as it takes malloc's.
GOHEAP_ALIASES := malloc=goheap_malloc free=goheap_free calloc=goheap_calloc \
	realloc=goheap_realloc reallocarray=goheap_reallocarray \
	malloc_usable_size=goheap_usable_size cfree=goheap_free \
	__libc_malloc=goheap_malloc __libc_free=goheap_free __libc_calloc=goheap_calloc \
	__libc_realloc=goheap_realloc

# Text layout (docs/alloc.md, "The hosted platform", "Text layout"): the kernel maps a
# file's pages in 64 KiB windows around each fault, so the functions a process runs
# (hosted/text-order.ld, made by bench/text_order.py; each function in its own section)
# go first in .text, .fini beside .init, and the segments and the load address are aligned to 64 KiB: a small
# program's text is one window instead of all of it. The script is the linker's own
# default for these flags (ld --verbose) with that order put in (hosted/text-order.awk).
# Likewise .bss (each object in its own section: -fdata-sections): the objects every
# process writes go first, in the page .bss shares with .data, and the arrays written
# at their start follow each other, so each begins on a page already written
# (hosted/bss-order.ld; "Data layout").
GOHEAP_SO_LDFLAGS := -shared -pthread -Wl,-z,nodelete -Wl,-z,max-page-size=0x10000

# A linker that prints no default script (lld, gold) gets an empty one, and the .so is
# linked without the order, said once here: correct, only the layout is lost.
$(HBUILD)/libgoheap.ld: hosted/text-order.ld hosted/bss-order.ld hosted/text-order.awk hosted/hosted.mk $(HFLAGS_RECORD)
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)if $(HOSTCC) $(GOHEAP_SO_LDFLAGS) -Wl,--verbose -o $@.probe.so -x c /dev/null > $@.verbose \
		&& awk -v order=hosted/text-order.ld -v bss=hosted/bss-order.ld -f hosted/text-order.awk $@.verbose > $@.tmp; \
	then mv $@.tmp $@; \
	else echo "hosted: the linker printed no default script to order: libgoheap.so is linked without its text and bss order" >&2; \
		: > $@; fi; rm -f $@.probe.so $@.verbose $@.tmp

$(HBUILD)/libgoheap.so: $(GOHEAP_HOST_OBJS) $(GOHEAP_SHIM_OBJ) $(HBUILD)/libgoheap.ld
	$(call say,HOSTLD,$@)$(HOSTCC) $(GOHEAP_SO_LDFLAGS) $$(test -s $(HBUILD)/libgoheap.ld && echo -Wl,-T,$(HBUILD)/libgoheap.ld) \
		$(patsubst %,-Wl$(GOHEAP_COMMA)--defsym=%,$(GOHEAP_ALIASES)) -o $@ $(filter %.o,$^)

-include $(wildcard $(HBUILD)/goheap/*/*.d $(HBUILD)/goheap-static/*/*.d)
