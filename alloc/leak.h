/* alloc/leak.h: the leak scan's statistics, read by MemStats (alloc/stats.c). The scan
 * itself is goheap_leak_scan (include/goheap.h, alloc/leak.c, docs/leakscan.md). */
#ifndef GOHEAP_LEAK_H
#define GOHEAP_LEAK_H

#include <stdatomic.h>
#include <stdint.h>

/* Written by the one scan that runs at a time (leak.c), read by anyone. */
struct gh_leak_stats {
    _Atomic uint64_t scans;   /* scans completed */
    _Atomic uint64_t objects; /* leaks the last completed scan reported */
    _Atomic uint64_t bytes;   /* their bytes */
};
extern struct gh_leak_stats gh_leak_stats;

#endif /* GOHEAP_LEAK_H */
