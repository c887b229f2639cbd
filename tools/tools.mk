# tools/: host tools. `make sizeclasses` regenerates alloc/sizeclasses.h (committed).
.PHONY: sizeclasses
sizeclasses:
	$(call say,GEN,alloc/sizeclasses.h)$(PYTHON) tools/mksizeclasses.py -o alloc/sizeclasses.h
