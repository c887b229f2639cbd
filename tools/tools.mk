# tools/: host tools. `make sizeclasses` regenerates alloc/sizeclasses.h (committed).
.PHONY: sizeclasses
sizeclasses:
	$(PYTHON) tools/mksizeclasses.py -o alloc/sizeclasses.h
