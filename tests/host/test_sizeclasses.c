/* tests/host/test_sizeclasses.c: checks the generated alloc/sizeclasses.h against Go's
 * published 68-class table and goheap's two deviations from it (larger spans for the
 * 144-512 B and 4-8 KiB classes), and the reciprocal multipliers against true division. */
#include <stdint.h>
#include <stdio.h>

#include "hostktap.h"
#include "pagealloc.h"
#include "sizeclasses.h"

/* Go's table (facts file, section 1), transcribed: class, bytes/obj, bytes/span,
 * objects, tail waste, max waste in 1/100 %, min align. */
struct go_class {
    unsigned cl, size, span, objs, tail, maxwaste_x100, align;
};
static const struct go_class go_table[] = {
    {1, 8, 8192, 1024, 0, 8750, 8},
    {2, 16, 8192, 512, 0, 4375, 16},
    {3, 24, 8192, 341, 8, 2924, 8},
    {4, 32, 8192, 256, 0, 2188, 32},
    {5, 48, 8192, 170, 32, 3152, 16},
    {6, 64, 8192, 128, 0, 2344, 64},
    {7, 80, 8192, 102, 32, 1907, 16},
    {8, 96, 8192, 85, 32, 1595, 32},
    {9, 112, 8192, 73, 16, 1356, 16},
    {10, 128, 8192, 64, 0, 1172, 128},
    {11, 144, 8192, 56, 128, 1182, 16},
    {12, 160, 8192, 51, 32, 973, 32},
    {13, 176, 8192, 46, 96, 959, 16},
    {14, 192, 8192, 42, 128, 925, 64},
    {15, 208, 8192, 39, 80, 812, 16},
    {16, 224, 8192, 36, 128, 815, 32},
    {17, 240, 8192, 34, 32, 662, 16},
    {18, 256, 8192, 32, 0, 586, 256},
    {19, 288, 8192, 28, 128, 1216, 32},
    {20, 320, 8192, 25, 192, 1180, 64},
    {21, 352, 8192, 23, 96, 988, 32},
    {22, 384, 8192, 21, 128, 951, 128},
    {23, 416, 8192, 19, 288, 1071, 32},
    {24, 448, 8192, 18, 128, 837, 64},
    {25, 480, 8192, 17, 32, 682, 32},
    {26, 512, 8192, 16, 0, 605, 512},
    {27, 576, 8192, 14, 128, 1233, 64},
    {28, 640, 8192, 12, 512, 1548, 128},
    {29, 704, 8192, 11, 448, 1393, 64},
    {30, 768, 8192, 10, 512, 1394, 256},
    {31, 896, 8192, 9, 128, 1552, 128},
    {32, 1024, 8192, 8, 0, 1240, 1024},
    {33, 1152, 8192, 7, 128, 1241, 128},
    {34, 1280, 8192, 6, 512, 1555, 256},
    {35, 1408, 16384, 11, 896, 1400, 128},
    {36, 1536, 8192, 5, 512, 1400, 512},
    {37, 1792, 16384, 9, 256, 1557, 256},
    {38, 2048, 8192, 4, 0, 1245, 2048},
    {39, 2304, 16384, 7, 256, 1246, 256},
    {40, 2688, 8192, 3, 128, 1559, 128},
    {41, 3072, 24576, 8, 0, 1247, 1024},
    {42, 3200, 16384, 5, 384, 622, 128},
    {43, 3456, 24576, 7, 384, 883, 128},
    {44, 4096, 8192, 2, 0, 1560, 4096},
    {45, 4864, 24576, 5, 256, 1665, 256},
    {46, 5376, 16384, 3, 256, 1092, 256},
    {47, 6144, 24576, 4, 0, 1248, 2048},
    {48, 6528, 32768, 5, 128, 623, 128},
    {49, 6784, 40960, 6, 256, 436, 128},
    {50, 6912, 49152, 7, 768, 337, 256},
    {51, 8192, 8192, 1, 0, 1561, 8192},
    {52, 9472, 57344, 6, 512, 1428, 256},
    {53, 9728, 49152, 5, 512, 364, 512},
    {54, 10240, 40960, 4, 0, 499, 2048},
    {55, 10880, 32768, 3, 128, 624, 128},
    {56, 12288, 24576, 2, 0, 1145, 4096},
    {57, 13568, 40960, 3, 256, 999, 256},
    {58, 14336, 57344, 4, 0, 535, 2048},
    {59, 16384, 16384, 1, 0, 1249, 8192},
    {60, 18432, 73728, 4, 0, 1111, 2048},
    {61, 19072, 57344, 3, 128, 357, 128},
    {62, 20480, 40960, 2, 0, 687, 4096},
    {63, 21760, 65536, 3, 256, 625, 256},
    {64, 24576, 24576, 1, 0, 1145, 8192},
    {65, 27264, 81920, 3, 128, 1000, 128},
    {66, 28672, 57344, 2, 0, 491, 4096},
    {67, 32768, 32768, 1, 0, 1250, 8192},
};
#define NGO (sizeof go_table / sizeof go_table[0])

/* goheap's spans where they are not Go's (tools/mksizeclasses.py, rules 5 and 6),
 * transcribed from the generated header: same columns, same sizes and alignments as
 * Go's. */
static const struct go_class mid_table[] = {
    {11, 144, 16384, 113, 112, 1103, 16},  {12, 160, 16384, 102, 64, 973, 32},
    {13, 176, 16384, 93, 16, 861, 16},  {14, 192, 16384, 85, 64, 817, 64},
    {15, 208, 16384, 78, 160, 812, 16},  {16, 224, 16384, 73, 32, 688, 32},
    {17, 240, 16384, 68, 64, 662, 16},  {18, 256, 16384, 64, 0, 586, 256},
    {19, 288, 24576, 85, 96, 1111, 32},  {20, 320, 24576, 76, 256, 1063, 64},
    {21, 352, 24576, 69, 288, 988, 32},  {22, 384, 24576, 64, 0, 807, 128},
    {23, 416, 32768, 78, 320, 836, 32},  {24, 448, 32768, 73, 64, 710, 64},
    {25, 480, 32768, 68, 128, 682, 32},  {26, 512, 32768, 64, 0, 605, 512},
    {44, 4096, 122880, 30, 0, 1560, 4096},  {45, 4864, 122880, 25, 1280, 1665, 256},
    {46, 5376, 114688, 21, 1792, 1092, 256},  {47, 6144, 122880, 20, 0, 1248, 2048},
    {48, 6528, 122880, 18, 5376, 999, 128},  {49, 6784, 122880, 18, 768, 436, 128},
    {50, 6912, 122880, 17, 5376, 613, 256},  {51, 8192, 122880, 15, 0, 1561, 8192},
};
#define NMID (sizeof mid_table / sizeof mid_table[0])

static const struct go_class *mid_class(unsigned cl) {
    for (unsigned i = 0; i < NMID; i++)
        if (mid_table[i].cl == cl)
            return &mid_table[i];
    return 0;
}

/* max waste = ((size - prev - 1) * objs + tail) / span, in 1/100 %, rounded. */
static unsigned max_waste_x100(unsigned size, unsigned prev, unsigned span) {
    uint64_t num = ((uint64_t)(size - prev - 1) * (span / size) + span % size) * 100000;
    return (unsigned)((num / span + 5) / 10);
}

static void t_constants(void) {
    KT_CHECK(GOHEAP_PAGE_SHIFT == 13, "%d", GOHEAP_PAGE_SHIFT);
    KT_CHECK(GOHEAP_PAGE_SIZE == 8192, "%lu", GOHEAP_PAGE_SIZE);
    KT_CHECK(GOHEAP_MAX_SMALL_SIZE == 32768, "%d", GOHEAP_MAX_SMALL_SIZE);
    KT_CHECK(GOHEAP_TINY_SIZE == 16, "%d", GOHEAP_TINY_SIZE);
    KT_CHECK(GOHEAP_NUM_SIZE_CLASSES == 68, "%d", GOHEAP_NUM_SIZE_CLASSES);
    KT_CHECK(NGO == GOHEAP_NUM_SIZE_CLASSES - 1, "%zu", NGO);
    KT_CHECK(goheap_class_to_size[GOHEAP_TINY_SIZE_CLASS] == GOHEAP_TINY_SIZE, "");
    KT_CHECK(goheap_class_to_size[0] == 0 && goheap_class_to_npages[0] == 0 &&
                 goheap_class_to_divmagic[0] == 0, "class 0 must be the large dummy");
}

/* Every column of Go's table (of goheap's where it deviates), including the waste
 * figures recomputed from ours. */
static void t_matches_go_table(void) {
    unsigned prev = 0;
    for (unsigned i = 0; i < NGO; i++) {
        const struct go_class *g = mid_class(go_table[i].cl) ? mid_class(go_table[i].cl) : &go_table[i];
        unsigned cl = g->cl;
        KT_CHECK(go_table[i].size == g->size && go_table[i].align == g->align, "class %u", cl);
        unsigned size = goheap_class_to_size[cl];
        unsigned span = goheap_class_to_npages[cl] * 8192u;
        KT_CHECK(size == g->size, "class %u: size %u, Go %u", cl, size, g->size);
        KT_CHECK(span == g->span, "class %u: span %u, Go %u", cl, span, g->span);
        KT_CHECK(goheap_class_to_nobjs[cl] == g->objs, "class %u: objs %u, Go %u", cl,
                 goheap_class_to_nobjs[cl], g->objs);
        KT_CHECK(span / size == g->objs && span % size == g->tail, "class %u", cl);
        KT_CHECK(goheap_class_min_align[cl] == g->align, "class %u: align %u, Go %u", cl,
                 goheap_class_min_align[cl], g->align);
        unsigned w = max_waste_x100(size, prev, span);
        KT_CHECK(w == g->maxwaste_x100, "class %u: max waste %u, Go %u", cl, w, g->maxwaste_x100);
        KT_CHECK(goheap_class_to_npages[cl] <= GOHEAP_MAX_SIZE_CLASS_NPAGES, "class %u", cl);
        KT_CHECK(goheap_class_to_nobjs[cl] <= GOHEAP_MAX_OBJS_PER_SPAN, "class %u", cl);
        prev = size;
    }
}

/* The deviations' rules: rule 5, 4-8 KiB classes whose Go span held < 32 objects, a
 * span of up to 15 pages holding 32 or the most that fit; rule 6, classes up to 512 B
 * whose Go span held < 64 objects (one bitmap word), a span of up to 4 pages holding
 * 64 or the most that fit. Both: a span at least Go's and the smallest that holds the
 * count, below the page cache's limit (so it still comes without the heap lock), max
 * waste at most max(Go's, 12.5%); span bytes * size < 2^32 (the interior-pointer test,
 * mspan.h). Every other class keeps Go's span. */
static void t_mid_spans(void) {
    unsigned prev = 0;
    for (unsigned i = 0; i < NGO; i++) {
        const struct go_class *g = &go_table[i], *m = mid_class(g->cl);
        unsigned cl = g->cl, size = g->size;
        unsigned span = goheap_class_to_npages[cl] * 8192u, objs = span / size;
        KT_CHECK((uint64_t)span * size < (1ull << 32), "class %u", cl);
        KT_CHECK(goheap_class_to_npages[cl] < PAGECACHE_MAX_ALLOC, "class %u", cl);
        unsigned want = 0, maxnp = 0;
        if (size >= 4096 && size <= 8192)
            want = 32, maxnp = 15;
        else if (size <= 512)
            want = 64, maxnp = 4;
        if (!m) {
            KT_CHECK(g->objs >= want, "class %u (%u objects) should have a grown span", cl, g->objs);
            prev = size;
            continue;
        }
        KT_CHECK(want && g->objs < want, "class %u is not a grown class", cl);
        KT_CHECK(span >= g->span && goheap_class_to_npages[cl] <= maxnp, "class %u: span %u", cl, span);
        unsigned bound = g->maxwaste_x100 > 1250 ? g->maxwaste_x100 : 1250;
        KT_CHECK(max_waste_x100(size, prev, span) <= bound, "class %u", cl);
        for (unsigned n = g->span / 8192u; n < goheap_class_to_npages[cl]; n++)
            KT_CHECK(max_waste_x100(size, prev, n * 8192u) > bound || n * 8192u / size < want,
                     "class %u: %u pages would already hold %u objects", cl, n, n * 8192u / size);
        /* no span of up to maxnp pages within the bound holds more objects (when < want) */
        for (unsigned n = g->span / 8192u; objs < want && n <= maxnp; n++)
            KT_CHECK(max_waste_x100(size, prev, n * 8192u) > bound || n * 8192u / size <= objs,
                     "class %u: %u pages would hold %u objects", cl, n, n * 8192u / size);
        prev = size;
    }
}

/* The lookup picks the smallest class that holds the size, for every small size. */
static void t_size_to_class(void) {
    unsigned bad = 0;
    for (unsigned s = 1; s <= GOHEAP_MAX_SMALL_SIZE; s++) {
        unsigned want = 1;
        while (goheap_class_to_size[want] < s)
            want++;
        unsigned got = goheap_size_to_class(s);
        if (got != want && bad++ < 5)
            KT_CHECK(got == want, "size %u: class %u, want %u", s, got, want);
    }
    KT_CHECK(bad == 0, "%u sizes map to the wrong class", bad);
    KT_CHECK(goheap_size_to_class(1017) == 32 && goheap_size_to_class(1024) == 32, "");
    KT_CHECK(goheap_size_to_class(1025) == 33, "");
    KT_CHECK(goheap_size_to_class8[0] == 0, "");
}

/* (off * magic) >> 32 == off / size for every offset in the span, end included. */
static void t_divmagic_exhaustive(void) {
    for (unsigned cl = 1; cl < GOHEAP_NUM_SIZE_CLASSES; cl++) {
        uint32_t size = goheap_class_to_size[cl], span = goheap_class_to_npages[cl] * 8192u;
        KT_CHECK(goheap_class_to_divmagic[cl] == 0xFFFFFFFFu / size + 1, "class %u", cl);
        unsigned bad = 0;
        for (uint32_t off = 0; off <= span; off++)
            if (goheap_class_divide(off, cl) != off / size && bad++ == 0)
                KT_CHECK(0, "class %u size %u: offset %u gives %u, want %u", cl, size, off,
                         goheap_class_divide(off, cl), off / size);
    }
}

/* Facts: smallest object size guaranteeing each alignment (8->8, 16->32, 32->256,
 * 64->512, 128->768, 4096->28672, 8192->32768). */
static void t_alignment_table(void) {
    static const unsigned want[][2] = {{8, 8},     {16, 32},      {32, 256},    {64, 512},
                                       {128, 768}, {4096, 28672}, {8192, 32768}};
    for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++) {
        unsigned a = want[i][0], first = 0;
        /* the smallest size from which on every class is a-aligned */
        for (unsigned cl = GOHEAP_NUM_SIZE_CLASSES - 1; cl >= 1; cl--) {
            if (goheap_class_min_align[cl] < a)
                break;
            first = goheap_class_to_size[cl];
        }
        KT_CHECK(first == want[i][1], "align %u from size %u, want %u", a, first, want[i][1]);
    }
}

static const struct kt_case cases[] = {
    KT_CASE(t_constants),
    KT_CASE(t_matches_go_table),
    KT_CASE(t_mid_spans),
    KT_CASE(t_size_to_class),
    KT_CASE(t_divmagic_exhaustive),
    KT_CASE(t_alignment_table),
};

int main(void) {
    kt_begin("sizeclasses", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), 0);
}
