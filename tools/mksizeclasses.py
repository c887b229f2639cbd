#!/usr/bin/env python3
"""tools/mksizeclasses.py: generates alloc/sizeclasses.h, Go's 68 size classes.

Re-implements the rules of Go's size-class generator (facts file, section 1), then
applies goheap's two deviations (rules 5 and 6: larger spans for the 4-8 KiB classes and
for the 144-512 B classes), and
verifies every reciprocal multiplier and interior-pointer test exhaustively before
writing anything.

usage: mksizeclasses.py [-o alloc/sizeclasses.h]     write the header (stdout if no -o)
       mksizeclasses.py --check alloc/sizeclasses.h  KTAP: is the committed header fresh?
"""
import argparse
import sys

PAGE_SHIFT = 13
PAGE_SIZE = 1 << PAGE_SHIFT
MAX_SMALL_SIZE = 32768
SMALL_SIZE_DIV = 8
SMALL_SIZE_MAX = 1024
LARGE_SIZE_DIV = 128
NUM_SIZE_CLASSES = 68
TINY_SIZE = 16
TINY_SIZE_CLASS = 2
MAX_OBJS_PER_SPAN = 1024
MAX_SIZE_CLASS_NPAGES = 15  # Go: 10; rule 5's spans reach 15
MIN_HEAP_ALIGN = 8

# Rule 5 (goheap, not Go): a class of MID_MIN_SIZE..MID_MAX_SIZE bytes whose Go span
# holds fewer than MID_MIN_OBJS objects gets the smallest span of at most
# MID_MAX_NPAGES pages that holds MID_MIN_OBJS, or else the one holding the most
# objects, never with more max waste than max(Go's span's, 12.5%). With Go's spans
# the 4 KiB class has 2 objects per span and a refill goes to mcentral every second
# malloc (bench-fastpath batch at 4 KiB: 730 instructions per pair; with these
# spans: 133). 32 objects: a batch of 256 then needs 9 spans, well inside the current
# span plus GH_PARK_MAX (16) parked ones (16 objects per span: 151). 15 pages: below
# PAGECACHE_MAX_ALLOC (16), so the spans still come from the per-CPU page cache
# without the heap lock. Why not above 8 KiB: the same rule for 8-32 KiB took the
# 16/32 KiB batch from 1,345/1,370 to 324/580 (16 objects) but raised the realloc
# workload's peak RSS by 4% / 9% (1 / 2 threads; 32 objects, measured on 570bc73);
# 4-8 KiB alone cost +1% / +5% (about 1 MiB) there, more than offset since by the large span
# cache's per-bin bound, GH_LCACHE_BIN_SPANS (bench/RESULTS.md, issue 11;
# docs/alloc.md "Size classes").
MID_MIN_SIZE = 4096
MID_MAX_SIZE = 8192
MID_MIN_OBJS = 32
MID_MAX_NPAGES = 15
MID_WASTE_FLOOR = 0.125

# Rule 6 (goheap, not Go): a class of at most WORD_MAX_SIZE bytes whose Go span holds
# fewer than WORD_MIN_OBJS objects (144 B and up) gets the smallest span of at most
# WORD_MAX_NPAGES pages that holds WORD_MIN_OBJS, else the one holding the most, under
# rule 5's waste bound. 64 objects: one whole allocation-bitmap word, which is what a
# refill loads; with Go's 8 KiB spans a 256 B span is half a word (32 slots) and a
# 512 B one a quarter, so under random replacement a refill found a few free slots
# and came back after a handful of mallocs. Measured (bench/RESULTS.md "Spans of a
# whole word"; callgrind per pair at 2 threads, scale 0.05, and time at 2 threads,
# scale 1, 3 alternating runs): larson 93 -> 71 per pair, 0.69-0.79 -> 0.57-0.58 s.
# Why only up to 512 B and 4 pages: the same rule for every class below 4 KiB with
# spans of up to 4 / 8 pages also took glibcthread's 2-thread time from 0.170 to
# 0.147 s, but it strands free slots in more half-used spans when the size mix moves:
# core-lifecycle's memory-limit case (24 MiB live moving through 512 B - 1.5 KiB under
# a 40 MiB limit) mapped at most 40.3 MiB with Go's spans, 40.5 MiB with this rule,
# 43.9 / 47.1 MiB with it for every class to 4 / 8 pages (its bound is 44 MiB).
WORD_MAX_SIZE = 512
WORD_MIN_OBJS = 64
WORD_MAX_NPAGES = 4


class GenError(Exception):
    pass


def is_pow2(x):
    return x > 0 and (x & (x - 1)) == 0


def make_classes():
    """Returns [(size, npages)], index = class, class 0 = (0, 0) meaning large."""
    classes = [[0, 0]]
    align = MIN_HEAP_ALIGN
    size = align
    while size <= MAX_SMALL_SIZE:
        # Rule 1: the step between classes grows with the size, at powers of two.
        if is_pow2(size):
            if size >= 2048:
                align = 256
            elif size >= 128:
                align = size // 8
            elif size >= 32:
                align = 16
        if not is_pow2(align):
            raise GenError("alignment %d is not a power of two" % align)
        # Rule 2: smallest span whose tail leftover is at most 1/8 of the span.
        allocsize = PAGE_SIZE
        while allocsize % size > allocsize // 8:
            allocsize += PAGE_SIZE
        npages = allocsize // PAGE_SIZE
        # Rule 3: a class with the same span and object count as the previous one
        # replaces it (the bigger size wastes nothing more).
        prev = classes[-1]
        if len(classes) > 1 and npages == prev[1] and allocsize // size == allocsize // prev[0]:
            prev[0] = size
        else:
            classes.append([size, npages])
        size += align
    # Rule 4: grow each size to the largest 128-multiple with the same object count.
    for c in classes[1:]:
        psize = c[1] * PAGE_SIZE
        new = (psize // (psize // c[0])) & ~(LARGE_SIZE_DIV - 1)
        if new > c[0]:
            c[0] = new
    if len(classes) != NUM_SIZE_CLASSES:
        raise GenError("got %d classes, want %d" % (len(classes), NUM_SIZE_CLASSES))
    return [tuple(c) for c in classes]


def max_waste(size, prev, spanbytes):
    """Worst-case share of a span lost to rounding up from prev + 1 bytes, plus the tail."""
    return ((size - prev - 1) * (spanbytes // size) + spanbytes % size) / spanbytes


def grown_span(size, prev, npages, want, maxnp):
    """Pages of the smallest span of npages..maxnp pages that holds `want` objects of
    `size`, or else of the one holding the most, never with more max waste than
    max(Go's span's, MID_WASTE_FLOOR) nor span bytes * size >= 2^32."""
    bound = max(max_waste(size, prev, npages * PAGE_SIZE), MID_WASTE_FLOOR)
    fits = [n for n in range(npages, max(npages, maxnp) + 1)
            if n * PAGE_SIZE * size < 1 << 32
            and max_waste(size, prev, n * PAGE_SIZE) <= bound]
    enough = [n for n in fits if n * PAGE_SIZE // size >= want]
    if enough:
        return enough[0]
    most = max(n * PAGE_SIZE // size for n in fits)
    return min(n for n in fits if n * PAGE_SIZE // size == most)


def grow_spans(go_classes):
    """Rules 5 and 6: the spans of the 4-8 KiB and 144-512 B classes whose Go span holds
    few objects (see MID_MIN_SIZE and WORD_MAX_SIZE). Sizes, and so every lookup table and
    alignment, stay Go's; only pages (and objects) per span change."""
    classes = [list(c) for c in go_classes]
    prev = 0
    for c in classes[1:]:
        size, npages = c
        if MID_MIN_SIZE <= size <= MID_MAX_SIZE:
            want, maxnp = MID_MIN_OBJS, MID_MAX_NPAGES  # rule 5
        elif size <= WORD_MAX_SIZE:
            want, maxnp = WORD_MIN_OBJS, WORD_MAX_NPAGES  # rule 6
        else:
            want = 0
        if want and npages * PAGE_SIZE // size < want:
            c[1] = grown_span(size, prev, npages, want, maxnp)
        prev = size
    return [tuple(c) for c in classes]


def div_magic(size):
    return 0 if size == 0 else (0xFFFFFFFF // size) + 1


def verify_magic(classes):
    """Checks (n * magic) >> 32 == n / size for every offset n in [0, span bytes]."""
    for cl, (size, npages) in enumerate(classes):
        if cl == 0:
            continue
        m = div_magic(size)
        if m > 0xFFFFFFFF:
            raise GenError("class %d: magic %#x does not fit 32 bits" % (cl, m))
        for n in range(npages * PAGE_SIZE + 1):
            if (n * m) >> 32 != n // size:
                raise GenError("class %d size %d: magic %#x wrong at offset %d" % (cl, size, m, n))
            # the interior-pointer test: low 32 bits below m iff a slot start
            if (((n * m) & 0xFFFFFFFF) < m) != (n % size == 0):
                raise GenError("class %d size %d: interior test wrong at offset %d" % (cl, size, n))


def verify_shape(classes):
    for cl, (size, npages) in enumerate(classes[1:], 1):
        # gh_span_objindex's one-multiply interior-pointer test needs it (mspan.h).
        if npages * PAGE_SIZE * size >= 1 << 32:
            raise GenError("class %d: span bytes * size >= 2^32" % cl)
        if npages > MAX_SIZE_CLASS_NPAGES:
            raise GenError("class %d: %d pages > %d" % (cl, npages, MAX_SIZE_CLASS_NPAGES))
        if (npages * PAGE_SIZE) // size > MAX_OBJS_PER_SPAN:
            raise GenError("class %d: too many objects" % cl)
        if size > SMALL_SIZE_MAX and size % LARGE_SIZE_DIV:
            raise GenError("class %d size %d is not a multiple of %d" % (cl, size, LARGE_SIZE_DIV))
        if size <= classes[cl - 1][0]:
            raise GenError("class %d size %d is not increasing" % (cl, size))
    if classes[TINY_SIZE_CLASS][0] != TINY_SIZE:
        raise GenError("tiny class %d has size %d" % (TINY_SIZE_CLASS, classes[TINY_SIZE_CLASS][0]))


def first_class_at_least(classes, nbytes):
    for cl, (size, _) in enumerate(classes):
        if size >= nbytes:
            return cl
    raise GenError("no class holds %d bytes" % nbytes)


def lookup_tables(classes):
    t8 = [first_class_at_least(classes, i * SMALL_SIZE_DIV)
          for i in range(SMALL_SIZE_MAX // SMALL_SIZE_DIV + 1)]
    t128 = [first_class_at_least(classes, SMALL_SIZE_MAX + i * LARGE_SIZE_DIV)
            for i in range((MAX_SMALL_SIZE - SMALL_SIZE_MAX) // LARGE_SIZE_DIV + 1)]
    return t8, t128


def min_align(size):
    ctz = (size & -size).bit_length() - 1
    return 1 << min(ctz, PAGE_SHIFT)


def c_array(ctype, name, values, per_line=12):
    out = ["static const %s %s[%d] = {" % (ctype, name, len(values))]
    for i in range(0, len(values), per_line):
        out.append("    " + ", ".join(str(v) for v in values[i:i + per_line]) + ",")
    out.append("};")
    return out


def render(classes, go_classes):
    t8, t128 = lookup_tables(classes)
    L = []
    L.append("/* alloc/sizeclasses.h: Go's 68 size classes (larger spans for 144-512 B and")
    L.append(" * 4-8 KiB), lookup tables and reciprocal multipliers. GENERATED by")
    L.append(" * tools/mksizeclasses.py (`make sizeclasses`); do not edit.")
    L.append(" *")
    L.append(" * class  bytes/obj  bytes/span  objects  tail waste  max waste  min align   Go span  Go max waste")
    prev = 0
    for cl, (size, npages) in enumerate(classes):
        if cl == 0:
            continue
        span = npages * PAGE_SIZE
        objs = span // size
        tail = span % size
        maxw = max_waste(size, prev, span) * 100.0
        line = (" * %5d  %9d  %10d  %7d  %10d  %8.2f%%  %9d"
                % (cl, size, span, objs, tail, maxw, min_align(size)))
        gnp = go_classes[cl][1]
        if gnp != npages:
            line += "  %8d  %11.2f%%" % (gnp * PAGE_SIZE, max_waste(size, prev, gnp * PAGE_SIZE) * 100.0)
        L.append(line)
        prev = size
    L.append(" *")
    L.append(" * tail waste: bytes left at the end of a span; max waste: the worst case of")
    L.append(" * rounding a request (one byte above the previous class) up to this class plus")
    L.append(" * the tail, as a share of the span. Design target: each <= 12.5%. Go span: the")
    L.append(" * classes whose span is goheap's, not Go's (rule 5 in the generator, 4-8 KiB: at")
    L.append(" * least 32 objects or the most that fit in 15 pages; rule 6, up to 512 B: at least")
    L.append(" * 64 objects, one bitmap word, in at most 4 pages; waste <= max(Go's, 12.5%)).")
    L.append(" */")
    L.append("#ifndef GOHEAP_SIZECLASSES_H")
    L.append("#define GOHEAP_SIZECLASSES_H")
    L.append("")
    L.append("#include <stdint.h>")
    L.append("")
    L.append("#define GOHEAP_PAGE_SHIFT %d /* the allocator page: 8 KiB (a frame is 4 KiB) */" % PAGE_SHIFT)
    L.append("#define GOHEAP_PAGE_SIZE (1ul << GOHEAP_PAGE_SHIFT)")
    L.append("#define GOHEAP_MAX_SMALL_SIZE %d /* larger objects get their own span */" % MAX_SMALL_SIZE)
    L.append("#define GOHEAP_SMALL_SIZE_DIV %d /* step of goheap_size_to_class8 */" % SMALL_SIZE_DIV)
    L.append("#define GOHEAP_SMALL_SIZE_MAX %d /* last size goheap_size_to_class8 covers */" % SMALL_SIZE_MAX)
    L.append("#define GOHEAP_LARGE_SIZE_DIV %d /* step of goheap_size_to_class128 */" % LARGE_SIZE_DIV)
    L.append("#define GOHEAP_NUM_SIZE_CLASSES %d /* class 0 means \"large\" */" % NUM_SIZE_CLASSES)
    L.append("#define GOHEAP_TINY_SIZE %d /* tiny blocks pack noscan objects < 16 B */" % TINY_SIZE)
    L.append("#define GOHEAP_TINY_SIZE_CLASS %d" % TINY_SIZE_CLASS)
    L.append("#define GOHEAP_MAX_OBJS_PER_SPAN %d" % MAX_OBJS_PER_SPAN)
    L.append("#define GOHEAP_MAX_SIZE_CLASS_NPAGES %d" % MAX_SIZE_CLASS_NPAGES)
    L.append("")
    L.append("/* Object size of each class (0 for class 0). */")
    L += c_array("uint16_t", "goheap_class_to_size", [c[0] for c in classes])
    L.append("")
    L.append("/* Pages (8 KiB) per span of each class. */")
    L += c_array("uint8_t", "goheap_class_to_npages", [c[1] for c in classes], 20)
    L.append("")
    L.append("/* Objects per span: npages * 8192 / size. */")
    L += c_array("uint16_t", "goheap_class_to_nobjs",
                 [0] + [c[1] * PAGE_SIZE // c[0] for c in classes[1:]])
    L.append("")
    L.append("/* Natural alignment of every object of the class: 1 << min(ctz(size), 13). */")
    L += c_array("uint16_t", "goheap_class_min_align", [0] + [min_align(c[0]) for c in classes[1:]])
    L.append("")
    L.append("/* Reciprocal multipliers: for every offset n in [0, npages * 8192],")
    L.append(" * (uint32_t)(((uint64_t)n * magic) >> 32) == n / size. magic = ~0u / size + 1;")
    L.append(" * verified exhaustively by the generator and by tests/host/test_sizeclasses.c. */")
    L += c_array("uint32_t", "goheap_class_to_divmagic", [div_magic(c[0]) for c in classes], 6)
    L.append("")
    L.append("/* size_to_class8[ceil(size / 8)]: first class with size >= the index's bytes. */")
    L += c_array("uint8_t", "goheap_size_to_class8", t8, 20)
    L.append("")
    L.append("/* size_to_class128[ceil((size - 1024) / 128)], for 1024 < size <= 32768. */")
    L += c_array("uint8_t", "goheap_size_to_class128", t128, 20)
    L.append("")
    L.append("/* The class for 0 < size <= GOHEAP_MAX_SMALL_SIZE. Sizes up to 1016 use the")
    L.append(" * 8-byte table; 1017..1024 fall to index 0 of the 128-byte table (class 32). */")
    L.append("static inline unsigned goheap_size_to_class(uint64_t size) {")
    L.append("    if (size <= GOHEAP_SMALL_SIZE_MAX - 8)")
    L.append("        return goheap_size_to_class8[(size + GOHEAP_SMALL_SIZE_DIV - 1) / GOHEAP_SMALL_SIZE_DIV];")
    L.append("    return goheap_size_to_class128[(size - GOHEAP_SMALL_SIZE_MAX + GOHEAP_LARGE_SIZE_DIV - 1) /")
    L.append("                                   GOHEAP_LARGE_SIZE_DIV];")
    L.append("}")
    L.append("")
    L.append("/* Object index of byte offset `off` (< span bytes) in a span of class `cl`. */")
    L.append("static inline uint32_t goheap_class_divide(uint32_t off, unsigned cl) {")
    L.append("    return (uint32_t)(((uint64_t)off * goheap_class_to_divmagic[cl]) >> 32);")
    L.append("}")
    L.append("")
    L.append("#endif /* GOHEAP_SIZECLASSES_H */")
    return "\n".join(L) + "\n"


def generate():
    go_classes = make_classes()
    verify_shape(go_classes)
    classes = grow_spans(go_classes)
    verify_shape(classes)
    verify_magic(classes)
    return render(classes, go_classes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output")
    ap.add_argument("--check", metavar="HEADER")
    args = ap.parse_args()
    if args.check:
        print("KTAP version 1\n# Subtest: sizeclasses-gen\n1..2")
        try:
            text = generate()
            print("ok 1 generator_rules_and_exhaustive_divmagic")
        except GenError as e:
            print("    # %s\nnot ok 1 generator_rules_and_exhaustive_divmagic" % e)
            print("not ok 2 committed_header_is_fresh # generator failed")
            return 1
        with open(args.check) as f:
            fresh = f.read() == text
        if not fresh:
            print("    # %s differs from the generator output; run `make sizeclasses`" % args.check)
        print("%s 2 committed_header_is_fresh" % ("ok" if fresh else "not ok"))
        return 0 if fresh else 1
    try:
        text = generate()
    except GenError as e:
        print("mksizeclasses: %s" % e, file=sys.stderr)
        return 1
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
