/* alloc/lockrank.c: the debug-build lock order check (see lockrank.h). */
#include "lockrank.h"

uint32_t *gh_held_ranks;

static const char *rank_name(unsigned r) {
    switch (r) {
    case GH_RANK_SCAV: return "scav";
    case GH_RANK_CENTRAL: return "mcentral";
    case GH_RANK_HEAP: return "mheap";
    case GH_RANK_META: return "meta";
    default: return "?";
    }
}

void gh_lockrank_violation(const struct gh_mutex *m, unsigned cpu, uint32_t held) {
    unsigned top = 31 - (unsigned)__builtin_clz(held);
    gh_panicf("goheap: lock order violation on cpu %u: taking %s (rank %u) while holding %s "
              "(rank %u, held mask 0x%x)", cpu, rank_name(m->rank), m->rank, rank_name(top), top, held);
}
