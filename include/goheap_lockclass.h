/* include/goheap_lockclass.h: the one table of lock classes of a system that runs
 * goheap (like Go's lockrank): the allocator's own locks and the platform locks that
 * nest with them, lowest rank first, and the debug check both sides share.
 *
 * Rule: a CPU may take a lock of class c only while every lock it holds has a class
 * below c. So a lock nests only inside the classes above it in this list, and the
 * same class never nests (the mcentral locks are one class: never two at once).
 * The allocator takes its locks inside a platform's PLATFORM_OUTER locks (e.g. around
 * goheap_init), and calls goheap_sys_map (page tables, frames) and goheap_sys_log
 * (console) while holding its own; so those platform locks rank above it.
 *
 * Checking: the core checks each of its acquisitions when its debug= knob is >= 1 or
 * the platform defines GOHEAP_SYS_LOCKCHECK to 1 (the test kernel does, in its debug
 * build); a platform checks its own locks by calling goheap_lockcheck_acquire/release
 * around them, so one per-CPU record of held classes covers both sides. A violation
 * panics naming both classes. The table is also what lock statistics count by.
 */
#ifndef GOHEAP_LOCKCLASS_H
#define GOHEAP_LOCKCLASS_H

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

/* X(ID, "name"), lowest rank first. */
#define GOHEAP_LOCK_CLASSES(X)                                                        \
    X(NONE, "unordered")           /* not checked for order (a test's private lock) */ \
    X(TEST, "test")                /* platform tests: an outer test lock */            \
    X(TEST_INNER, "test-inner")    /* platform tests: a lock taken inside TEST */      \
    X(PLATFORM_OUTER, "platform-outer") /* platform locks held across allocator calls */ \
    X(MCACHE, "mcache")            /* allocator: one per CPU cache, its drain lock */  \
    X(CENTRAL, "mcentral")         /* allocator: one per span class (mcentral.h) */    \
    X(PROFILE, "profile")          /* allocator: heap profiler buckets (profile.c) */  \
    X(HEAP, "mheap")               /* allocator: page heap, arena growth (mheap.h) */  \
    X(META, "meta")                /* allocator: span/cache structs (fixalloc.h) */    \
    X(PAGETABLE, "pagetable")      /* platform: page tables (in goheap_sys_map) */     \
    X(FRAME, "frame")              /* platform: physical frames (in goheap_sys_map) */ \
    X(CONSOLE, "console")          /* platform: log output (in goheap_sys_log) */

enum goheap_lock_class {
#define GOHEAP_LC_ENUM_(id, name) GOHEAP_LC_##id,
    GOHEAP_LOCK_CLASSES(GOHEAP_LC_ENUM_)
#undef GOHEAP_LC_ENUM_
    GOHEAP_LC_COUNT
};

/* "mheap", "frame", ... indexed by class. */
extern const char *const goheap_lock_class_names[GOHEAP_LC_COUNT];

/* CPUs (slots) 0 .. GOHEAP_LOCKCHECK_CPUS-1 are checked; higher indices are not. */
#define GOHEAP_LOCKCHECK_CPUS 512

/* Debug check: call on cpu (pinned or with interrupts of that CPU unable to migrate the
 * caller) just before taking a lock of class cls, and release just after dropping it.
 * acquire panics through goheap_sys_panic, naming both classes, when a class >= cls
 * is already held on cpu. NONE is never recorded. Usable before goheap_init. */
void goheap_lockcheck_acquire(unsigned cpu, unsigned cls);
void goheap_lockcheck_release(unsigned cpu, unsigned cls);
/* Bit c set: a lock of class c is held on cpu (0 for unchecked CPUs). */
unsigned goheap_lockcheck_held(unsigned cpu);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif /* GOHEAP_LOCKCLASS_H */
