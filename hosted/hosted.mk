# hosted/hosted.mk: the core on Linux user space. `make host-lib` builds
# build/host/libgoheap.a (goheap_* API, for tests and benchmarks) and
# build/host/libgoheap.so (the same plus malloc & co., for LD_PRELOAD).
GOHEAP_HOST_CFLAGS := -fPIC -fvisibility=hidden -fno-builtin-malloc -fno-builtin-free \
	-fno-builtin-calloc -fno-builtin-realloc
GOHEAP_HOST_SRCS := $(GOHEAP_CORE_SRCS) hosted/platform.c
GOHEAP_HOST_OBJS := $(patsubst %.c,$(HBUILD)/goheap/%.o,$(GOHEAP_HOST_SRCS))
GOHEAP_SHIM_OBJ := $(HBUILD)/goheap/hosted/shim.o

.PHONY: host-lib
host-lib: $(HBUILD)/libgoheap.a $(HBUILD)/libgoheap.so

$(HBUILD)/goheap/%.o: %.c
	@mkdir -p $(dir $@)
	$(HOSTCC) $(HOST_CFLAGS) $(GOHEAP_HOST_CFLAGS) -MMD -MP -c $< -o $@

$(HBUILD)/libgoheap.a: $(GOHEAP_HOST_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(HBUILD)/libgoheap.so: $(GOHEAP_HOST_OBJS) $(GOHEAP_SHIM_OBJ)
	$(HOSTCC) -shared -pthread -Wl,-z,nodelete -o $@ $^

-include $(wildcard $(HBUILD)/goheap/*/*.d)
