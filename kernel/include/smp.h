/* kernel/include/smp.h: portable cross-CPU primitives built on arch_ipi_send():
 * calls run in interrupt context on every CPU (short work such as TLB flushes), work
 * runs in thread context on idle CPUs (tests, demos), and a reusable barrier. */
#ifndef KERNEL_SMP_H
#define KERNEL_SMP_H

#include <stdint.h>
#include <arch/smp.h>

/* Run fn(arg) on every online CPU, this one included, in interrupt context (IRQs
 * masked), and return when all have finished. One IPI round. Caller: interrupts
 * enabled, no spinlock held; while waiting it serves calls aimed at itself. fn must
 * not wait for other CPUs. */
void smp_call_all(void (*fn)(void *), void *arg);

/* Run fn(arg) on one online CPU (possibly this one) in interrupt context; synchronous. */
void smp_call_cpu(unsigned cpu, void (*fn)(void *), void *arg);

/* Calls rounds started so far by any CPU (a test counts one per shootdown). */
unsigned long smp_call_rounds(void);

/* Tests only: when set, called for each target of a call after the call is queued;
 * a 0 return withholds the IPI, so only the target's own poll (a CPU waiting in
 * smp_call_*) serves the call (tests/kernel/test_selftest.c). */
extern int (*smp_test_ipi_hook)(unsigned target);

/* Entry from the arch's call-IPI handler: run every call queued for this CPU. */
void smp_ipi_handler(void);

/* Run fn(cpu, arg) on every online CPU at once in thread context (interrupts enabled:
 * fn may print, map, unmap and wait for other CPUs), this CPU included, and return when
 * all have returned. The other CPUs must be idle (in kernel_ap_main's idle loop). */
void smp_run_all(void (*fn)(unsigned cpu, void *arg), void *arg);

/* A reusable barrier for n CPUs (sense-reversing). Waiters spin with interrupts as
 * they are; with interrupts enabled they keep serving shootdowns. */
struct smp_barrier {
    unsigned count;     /* arrivals in the current generation */
    unsigned gen;       /* bumped by the last arrival */
    unsigned n;                 /* participants; fixed between uses */
};
void smp_barrier_init(struct smp_barrier *b, unsigned n);
void smp_barrier_wait(struct smp_barrier *b);

/* The AP idle loop (never returns): waits for smp_run_all work with interrupts on.
 * After a tick (kernel_tick) it calls kernel_idle_work() once, in thread context with
 * interrupts on, before sleeping again. */
_Noreturn void smp_idle_loop(void);

/* From the arch's tick interrupt (arch_tick_start): marks this CPU's tick pending. */
void kernel_tick(void);
/* Idle-time work after a tick; weak, empty by default (the kernel heap defines it to
 * run goheap's paced background step). Thread context, interrupts on, no lock held. */
void kernel_idle_work(void);

#endif /* KERNEL_SMP_H */
