/* kernel/heap/kheap.h: the kernel heap's glue around goheap: initialisation from the
 * command line, the background-work tick, the platform's counters, and the baseline
 * first-fit allocator used by the benchmarks. */
#ifndef KERNEL_HEAP_KHEAP_H
#define KERNEL_HEAP_KHEAP_H

#include <stddef.h>
#include <stdint.h>

/* Counters kept by kernel/goheap_platform.c (atomics; read racily). */
struct kplat_stats {
    uint64_t reserved_bytes;    /* address space handed out by goheap_sys_reserve */
    uint64_t mapped_frames;     /* frames ever mapped by goheap_sys_map */
    uint64_t frames_now;        /* frames mapped for the heap right now (data + metadata) */
    uint64_t unmapped_bytes;    /* bytes passed to goheap_sys_unmap (holes included) */
    uint64_t map_calls, unmap_calls, map_failures, each_cpu_calls;
    uint64_t remap_calls, remapped_bytes; /* goheap_sys_remap moves (frames move, frames_now unchanged) */
    uint64_t remap_nomem;                 /* of which out of frames for the destination's tables */
    uint64_t remap_failures;              /* arch_remap refused (out of frames for tables, or cannot) */
};
extern struct kplat_stats kplat_stats;
/* Tests only (tests/kernel/heap_remap.c): when set, goheap_sys_remap calls it just before
 * arch_remap, inside realloc's move (the tail already mapped), e.g. to take every free
 * frame so that the destination's page tables cannot be allocated. NULL otherwise. */
extern void (*kplat_remap_test_hook)(void);
/* Tests only (tests/kernel/heap_maplat.c): when set, goheap_sys_map calls it first,
 * with the range, on the mapping CPU (e.g. to serve a cross-CPU call there mid-map, or
 * to take every free frame). NULL otherwise. */
extern void (*kplat_map_test_hook)(uintptr_t va, size_t bytes);
void kplat_set_ncpu(unsigned n);

/* The log tap (kernel/goheap_platform.c): while on, goheap's last log lines are kept in
 * memory too. kplat_log_tap_find copies the oldest kept line containing `needle` into
 * out (if non-NULL) and returns 1, or returns 0. 32 lines of 160 bytes: enough for the
 * traces of one test step. */
#define KPLAT_TAP_LINES 32
#define KPLAT_TAP_LEN 160
void kplat_log_tap(int on);
int kplat_log_tap_find(const char *needle, char *out, size_t n);

/* Arena reserved by kheap_init: 1 TiB of the 16 TiB heap arena range. */
#define KHEAP_ARENA_BYTES (1ull << 40)

/* Initialise goheap once (after SMP bring-up): the knobs come from `goheap=...` on
 * the kernel command line (commas inside, e.g. goheap=scavtrace=1,efence=1). Panics
 * when the knobs are malformed. Safe to call again (returns at once). */
void kheap_init(void);
/* The same, with knobs to use when the command line has no goheap= (the demo's). */
void kheap_init_default(const char *knobs);
int kheap_ready(void);

/* The "timer" for goheap_background_work: call often from long-running kernel loops
 * (and the idle path); every KHEAP_TICK_NS on each CPU it runs one paced step. */
#define KHEAP_TICK_NS 10000000ull   /* 10 ms: 100 steps/s per CPU, each a few us */
void kheap_tick(void);

/* Idle-time background work: start a periodic tick at `hz` on every CPU (once; later
 * calls do nothing). Each idle CPU then runs kheap_tick() after every tick
 * (kernel_idle_work, counted per CPU in kheap_idle_work_calls). 100 Hz matches
 * KHEAP_TICK_NS. */
#define KHEAP_TICK_HZ 100
void kheap_ticks_start(unsigned hz);
/* 1 once kheap_ticks_start ran (the bench's icount mode requires the tick off). */
int kheap_ticks_started(void);
extern uint64_t kheap_idle_work_calls[];

/* ---- heap profiles over the console (kernel/heap/kprofile.c, docs/profiling.md) ------
 * kheap_profile_serial writes goheap_write_heap_profile's profile on the console in
 * frames that survive other CPUs' lines (tools/kprofile.py takes it out of a log):
 *   goheap-profile <id> B name=<name> cpu=<cpu> format=legacy-heap encoding=base64
 *   goheap-profile <id> D <seq> <base64 of up to 48 bytes>      (seq 0, 1, ...)
 *   goheap-profile <id> E frames=<n> bytes=<n> crc32=<8 hex digits>
 * or, when no profile could be written, "goheap-profile <id> E error=<rc>". Thread
 * context, interrupts on, no lock held. Returns goheap_write_heap_profile's result.
 * memprofile=serial (kplat_memprofile_serial) writes one named "exit" at the end of the
 * boot (kernel_at_exit); goheap_profile_request one named "request". */
int kheap_profile_serial(const char *name);
extern int kplat_memprofile_serial;

/* ---- the baseline: a global-lock first-fit allocator (kernel/heap/baseline.c) -----
 * The design most hobby kernels start with: one free list sorted by address, one
 * spinlock, boundary headers, coalescing on free. For the benchmarks only. */
int baseline_init(size_t bytes);        /* 0, or -1 when the frames cannot be mapped */
void *baseline_malloc(size_t size);
void baseline_free(void *p);

/* The kernel benchmarks (bench/kernel/kbench.c), run by the `bench` command-line
 * word: prints the report, returns the number of failed checks. */
unsigned kbench_run(void);
/* The cross-CPU churn benchmark (bench/kernel/kchurn.c; `bench kbench=churn`, run by
 * kbench_run): prints its report, returns a KEXIT_ status. */
unsigned kbench_churn(void);

#endif /* KERNEL_HEAP_KHEAP_H */
