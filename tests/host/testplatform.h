/* tests/host/testplatform.h: knobs and counters of the test-only platform
 * (testplatform.c): it checks that every map hits unbacked frames and every unmap
 * backed ones, counts mapped bytes, can fail maps on demand, and turns a panic into
 * a longjmp so tests can assert the message. */
#ifndef TESTPLATFORM_H
#define TESTPLATFORM_H
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

extern size_t tp_backed_bytes;   /* currently mapped (backed) bytes, all reservations */
extern unsigned long tp_map_calls;
extern unsigned long tp_errors;  /* contract violations seen (double map, bad unmap) */
extern unsigned long tp_reserve_at_calls;
extern size_t tp_reserved_at_bytes; /* reserved by goheap_sys_reserve_at, in all */
extern long tp_fail_maps_after;  /* >= 0: that many maps succeed, then all fail; -1: never */
extern jmp_buf *tp_panic_jmp;    /* non-NULL: goheap_sys_panic longjmps here */
extern char tp_last_panic[512];
extern char tp_last_log[512];

/* Backed bytes inside [addr, addr + bytes). */
size_t tp_backed_in(uintptr_t addr, size_t bytes);
#endif
