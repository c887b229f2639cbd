/* hosted/platform.c: alloc/platform.h for Linux user space, but for the address space
 * (hosted/vm.c): threads stand in for CPUs (each thread owns a cache slot until it
 * exits), stderr takes log and panic lines, fork is made safe with atfork, and heap
 * profiles get stack bounds, /proc/self/maps and their memprofile= file. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "goheap.h"
#include "platform.h"
#include "vm.h"

/* Slots: [0, nexcl) are owned by one thread each; [nexcl, nexcl + NOVERFLOW) are
 * shared under a lock by threads that found no free slot or are exiting. 256
 * exclusive slots: a cache costs ~3 KiB once used and nothing before. */
#define DEFAULT_EXCL_SLOTS 256
#define NOVERFLOW 8
#define MAX_SLOTS GOHEAP_HOSTED_MAX_SLOTS

GOHEAP_HOSTED_TLS unsigned goheap_hosted_slot = GOHEAP_HOSTED_NO_SLOT;
GOHEAP_HOSTED_TLS unsigned goheap_hosted_saved, goheap_hosted_ret;
/* == goheap_hosted_slot_local[goheap_hosted_slot] while the thread has an exclusive
 * slot, else the core's empty cache (see goheap_sys_pin_local). */
GOHEAP_HOSTED_TLS void *goheap_hosted_local = &goheap_local_none;
static GOHEAP_HOSTED_TLS unsigned tls_exiting;
/* Set in the thread that runs our fork handlers, from prepare to parent/child. */
static GOHEAP_HOSTED_TLS unsigned tls_forking;
/* Each slot's pointer as the core last set it (goheap_sys_set_local); NULL until then,
 * which a thread taking the slot reads as the core's empty cache. Zero-initialised, not
 * filled with &goheap_local_none: as 4096 pointers that was 4096 relocations the loader
 * applied in every process (96 KiB of .rela.dyn read, 32 KiB of .data written): the
 * peak RSS of a program that mallocs and frees 16 B went 1,740 -> 1,624 KiB (median of
 * 10; glibc alone: 1,156-1,252). */
void *goheap_hosted_slot_local[GOHEAP_HOSTED_MAX_SLOTS];

/* GONE: in a fork child, the slot of a thread that does not exist there. */
enum { SLOT_FREE = 0, SLOT_OWNED = 1, SLOT_BUSY = 2, SLOT_GONE = 3 };
static _Atomic uint8_t slot_state[MAX_SLOTS];
static goheap_lock_t overflow_lock[NOVERFLOW];
static unsigned nexcl = DEFAULT_EXCL_SLOTS;
static pthread_key_t exit_key;
static _Atomic int post_init_done;
static goheap_lock_t init_lock;
static _Atomic int core_up; /* goheap_init has returned (ours or the embedder's) */
/* From goheap_sys_configure: efence's SIGSEGV handler is installed with the first
 * slot (the address space's share of the configuration: hosted/vm.c). */
static unsigned fault_reports;

/* Each exclusive slot's owner holds the slot's robust mutex from taking the slot to
 * giving it back. A thread gives it back from the destructor of exit_key, which glibc
 * runs at most PTHREAD_DESTRUCTOR_ITERATIONS rounds: a thread whose first malloc comes
 * in the last round, from the destructor of a key created after ours, sets exit_key
 * where it is never looked at again, and its slot stayed taken for good (ncpu=2: two
 * such threads and every later thread ran on an overflow slot; core-slots
 * t_slot_late_first_malloc). Such a thread dies with the mutex held; the kernel marks it
 * owner-dead (the thread's robust list), and a thread that finds no free slot, or
 * each_cpu, takes the slot over (trylock: EOWNERDEAD). Initialised by the slot's first
 * taker (owner_ready, release; nobody tries a mutex before it is set). A thread
 * exits outside malloc, so its cache is whole (a thread ended inside one, by async
 * cancellation or pthread_exit from a signal handler, is undefined under glibc too). */
/* A slot's owner mutex (above), the flag that says it was initialised, and each_cpu's
 * request queued for its thread (run_pending), in one line per slot: written by the
 * slot's thread and by requesters on others, and kept together so that a process with a
 * few threads touches one page of them (three arrays of MAX_SLOTS, each touched at its
 * start, were three pages of every process). */
struct slot {
    pthread_mutex_t owner;
    /* each_cpu's work for a slot whose thread is alive (run at its next refill) */
    void (*_Atomic fn)(unsigned, void *);
    void *_Atomic arg;           /* relaxed: a new request may overwrite it while the
                                  * slot's thread runs the previous one (the latest wins) */
    _Atomic uint8_t owner_ready; /* owner initialised (release), by the slot's first taker */
};
static struct slot slots[MAX_SLOTS] __attribute__((aligned(64)));
/* A thread without an exclusive slot pins through pin_slow at every pinned section, and
 * owner_dead is a trylock, a locked instruction on a line every such pin shares: done
 * for every exclusive slot at every such pin, 300 threads (256 slots, 44 on overflow
 * slots) doing 320 K malloc+free pairs each took 52.5 s against 1.9-4.5 s without the
 * look. One look in DEAD_OWNER_SCAN_EVERY overflow pins of a thread (its first
 * included) costs under 0.1 trylock a pin and still finds a dead owner's slot. */
#define DEAD_OWNER_SCAN_EVERY 4096
static GOHEAP_HOSTED_TLS unsigned tls_overflow_pins;

/* The caller just made exclusive slot k OWNED: it becomes the slot's owner. */
static void owner_take(unsigned k) {
    if (!atomic_load_explicit(&slots[k].owner_ready, memory_order_acquire)) {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
        pthread_mutex_init(&slots[k].owner, &a);
        pthread_mutexattr_destroy(&a);
        atomic_store_explicit(&slots[k].owner_ready, 1, memory_order_release);
    }
    /* A trylock, not a lock: the mutex is free but for a moment, while another
     * thread's owner_dead holds it. A blocking lock here, under a lock of the program
     * that the slot's last owner took while it held the slot, closed a cycle in
     * ThreadSanitizer's lock graph (slot -> program's lock -> slot) and it reported a
     * lock-order inversion where no thread waits for another (core-slots
     * t_slot_owner_lock_order); trylocks add no edge to it. */
    int r;
    while ((r = pthread_mutex_trylock(&slots[k].owner)) == EBUSY)
        sched_yield();
    if (r == EOWNERDEAD) /* (never: a FREE slot's mutex is free) */
        pthread_mutex_consistent(&slots[k].owner);
}

/* Slot k was OWNED: 1 when its owner died holding it; the caller then holds its mutex
 * and is the slot's owner. 0 for a live owner (or one taking or giving the slot back
 * right now: trylock succeeds between the state change and the lock). */
static int owner_dead(unsigned k) {
    if (!atomic_load_explicit(&slots[k].owner_ready, memory_order_acquire))
        return 0;
    int r = pthread_mutex_trylock(&slots[k].owner);
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(&slots[k].owner);
        return 1;
    }
    if (r == 0)
        pthread_mutex_unlock(&slots[k].owner);
    return 0;
}

/* Slots with work queued by each_cpu (struct slot: fn, arg). */
_Atomic uint32_t goheap_hosted_pending;

/* ---- log, panic, time ----------------------------------------------------------- */

/* open, read, write and close are cancellation points, and the calls here run inside
 * malloc and free (a log line, the profile dump a request leaves to the next slow
 * path, the first malloc's configuration), which are none: a thread with a
 * cancellation pending was cancelled there, unwinding out of a malloc that never
 * returned, maybe with an allocator lock held while it logged
 * (host-preload cancel_in_malloc). Cancellation is off around them. */
static int cancel_off(void) {
    int old = PTHREAD_CANCEL_ENABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

static void cancel_restore(int old) { pthread_setcancelstate(old, 0); }

static void write_all(const char *s, size_t n) {
    int cs = cancel_off();
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
    cancel_restore(cs);
}

void goheap_sys_log(const char *msg) {
    char line[512];
    size_t n = strlen(msg);
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    memcpy(line, msg, n);
    line[n++] = '\n';
    write_all(line, n); /* one write: lines from several threads do not interleave */
}

_Noreturn void goheap_sys_panic(const char *msg) {
    static const char prefix[] = "goheap: fatal: ";
    char line[600];
    if (!strncmp(msg, "goheap: ", 8))
        msg += 8;
    size_t n = strlen(msg), p = sizeof prefix - 1;
    if (n > sizeof line - p - 1)
        n = sizeof line - p - 1;
    memcpy(line, prefix, p);
    memcpy(line + p, msg, n);
    line[p + n] = '\n';
    write_all(line, p + n + 1);
    abort();
}

uint64_t goheap_sys_nanotime(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- locks ------------------------------------------------------------------------------ */

void goheap_hosted_lock_slow(goheap_lock_t *l) {
    for (unsigned spins = 0;; spins++) {
        while (atomic_load_explicit(&l->v, memory_order_relaxed)) {
            if (++spins > 100) {
                sched_yield();
                spins = 0;
            } else {
                goheap_sys_relax();
            }
        }
        if (!atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
            return;
    }
}

/* ---- background thread --------------------------------------------------------------
 * Runs the core's paced background step (reclaim of empty spans, scavenging) for a
 * program that never calls into the allocator again (redis idle in epoll_wait).
 * Started lazily by the core's first background poll (goheap_sys_background_wanted:
 * after 1024 refills of a CPU, or once 2 MiB of freed memory pile up; work.h), so
 * short programs never get one; started again in a
 * fork child the same way; never with bgthread=0. It sleeps 1 s after a step that
 * found nothing to do (the reclaim period) and otherwise comes back when the 1%
 * pacing allows, but not before 10 ms: at most 100 wake-ups a second while it has
 * work, one a second while idle. */
#define BG_MIN_SLEEP_NS 10000000ull
#define BG_IDLE_SLEEP_NS 1000000000ull
_Atomic int goheap_hosted_bg_state;
static unsigned bgthread_on = 1; /* goheap_sys_configure: the bgthread= knob */

static void *bg_main(void *unused) {
    (void)unused;
    /* Never an exclusive slot: its pins (short, and only in the step) use an overflow
     * slot, so the slots stay in the program's threads' order. */
    tls_exiting = 1;
    for (;;) {
        goheap_background_work();
        uint64_t ns = goheap_background_sleep_ns();
        if (ns < BG_MIN_SLEEP_NS)
            ns = BG_MIN_SLEEP_NS;
        if (ns > BG_IDLE_SLEEP_NS)
            ns = BG_IDLE_SLEEP_NS;
        struct timespec ts = {(time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    return 0;
}

void goheap_hosted_bg_start(void) {
    int z = 0;
    if (!atomic_compare_exchange_strong(&goheap_hosted_bg_state, &z, 1))
        return;
    if (!bgthread_on) {
        atomic_store(&goheap_hosted_bg_state, 2);
        return;
    }
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64u << 10);
    /* The program's signal handlers must never run on our thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(&t, &attr, bg_main, 0);
    pthread_sigmask(SIG_SETMASK, &old, 0);
    pthread_attr_destroy(&attr);
    if (err)
        atomic_store(&goheap_hosted_bg_state, 2);
}

/* ---- heap profile -------------------------------------------------------------------
 * Stack bounds without malloc (pthread_getattr_np allocates): glibc puts every thread's
 * descriptor (pthread_self()) but the main thread's at the top of the stack it
 * allocated, so [sp, self) is that thread's live stack and static TLS; otherwise, in
 * the process's first thread and within RLIMIT_STACK of it, the stack ends at
 * __libc_stack_end (ld.so's record of the initial stack pointer). A thread whose
 * descriptor is not above sp within HOSTED_STACK_MAX (a stack of its own, a coroutine
 * stack) gets no bound, and its samples record the caller only. Looked up once per
 * thread. Known gap: code running on a coroutine stack placed below its thread's
 * stack within that distance would be walked with the thread's bound. */
#define HOSTED_STACK_MAX (64ull << 20) /* 8 x the default thread stack (RLIMIT_STACK 8 MiB) */
extern void *__libc_stack_end;
GOHEAP_HOSTED_TLS uintptr_t goheap_hosted_stack_hi; /* 0: not looked up; 1: unknown */

/* goheap_sys_stack_bounds' rare case (goheap_platform_impl.h): the thread's first
 * look-up, or no bound (unknown, or sp above it: another stack). */
int goheap_hosted_stack_bounds_slow(uintptr_t *lo, uintptr_t *hi, uintptr_t sp) {
    uintptr_t h = goheap_hosted_stack_hi;
    if (!h) {
        /* The thread's own descriptor first: in the child of a fork made by a thread
         * other than the main one, that thread is the only one (its id is the
         * process's) but it runs on its thread stack, and __libc_stack_end is the
         * parent's main stack, far above: taken as the bound, the walk followed any
         * rbp value between the two stacks (code without frame pointers leaves
         * anything there) into unmapped memory, a SIGSEGV in a sampled malloc
         * (host-preload fork_thread_stack). The main thread's descriptor lies in
         * memory ld.so allocated, not above its stack pointer. */
        uintptr_t self = (uintptr_t)pthread_self(), end = (uintptr_t)__libc_stack_end;
        struct rlimit rl;
        h = 1;
        if (self > sp && self - sp < HOSTED_STACK_MAX) {
            h = self;
        } else if (syscall(SYS_gettid) == getpid() && end > sp) {
            /* The main stack: sp within its size limit of the end. */
            if (getrlimit(RLIMIT_STACK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || end - sp <= rl.rlim_cur)
                h = end;
        }
        goheap_hosted_stack_hi = h;
    }
    if (h <= sp)
        return 0;
    *lo = sp;
    *hi = h;
    return 1;
}

/* /proc/self/maps as it is, read with plain syscalls (no stdio: no malloc). */
int goheap_sys_profile_maps(int (*w)(void *ctx, const char *buf, size_t len), void *ctx) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* no /proc: pprof then needs the binary named on its command line */
    char buf[4096];
    ssize_t n;
    int r = 0;
    while (r == 0 && ((n = read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0 && w(ctx, buf, (size_t)n) != 0)
            r = -1;
    close(fd);
    return r;
}

/* The memprofile= knob's PATH (1 to 255 bytes), and the name this process writes: PATH,
 * or in the child of a fork PATH.pid<PID> (memprofile_fork_child). */
static char memprofile_base[256];
#define MEMPROFILE_PID_SUFFIX ".pid"
static char memprofile_path[sizeof memprofile_base + sizeof MEMPROFILE_PID_SUFFIX + 10];
static _Atomic unsigned memprofile_seq; /* SIGUSR2 dumps so far */

static int write_fd(void *ctx, const char *buf, size_t len) {
    int fd = *(int *)ctx;
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes the profile to path (replaced whole), logging a failure. */
static void write_profile_file(const char *path) {
    int saved = errno, cs = cancel_off();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || goheap_write_heap_profile(write_fd, &fd) != 0) {
        char line[320];
        snprintf(line, sizeof line, "goheap: memprofile: cannot write %s", path);
        goheap_sys_log(line);
    }
    if (fd >= 0)
        close(fd);
    cancel_restore(cs);
    errno = saved;
}

/* SIGUSR2 (after goheap_profile_request): PATH.1, PATH.2, ... so that the profile at
 * exit (PATH) replaces none of them. */
void goheap_sys_profile_dump(void) {
    if (!memprofile_path[0])
        return;
    char path[sizeof memprofile_path + 16];
    snprintf(path, sizeof path, "%s.%u", memprofile_path, atomic_fetch_add(&memprofile_seq, 1) + 1);
    write_profile_file(path);
}

/* In a fork child: its own names, PATH.pid<PID> and PATH.pid<PID>.1, ..., so that its
 * profile at exit and its dumps replace none of the parent's (which go on as PATH and
 * PATH.N; grandchildren are PATH.pid<PID> too). No stdio (a fork handler). */
static void memprofile_fork_child(void) {
    if (!memprofile_path[0])
        return;
    size_t n = strlen(memprofile_base);
    memcpy(memprofile_path, memprofile_base, n);
    memcpy(memprofile_path + n, MEMPROFILE_PID_SUFFIX, sizeof MEMPROFILE_PID_SUFFIX - 1);
    n += sizeof MEMPROFILE_PID_SUFFIX - 1;
    char digits[10];
    unsigned d = 0, pid = (unsigned)getpid();
    do
        digits[d++] = (char)('0' + pid % 10);
    while ((pid /= 10) && d < sizeof digits);
    while (d)
        memprofile_path[n++] = digits[--d];
    memprofile_path[n] = 0;
    atomic_store(&memprofile_seq, 0);
}

__attribute__((destructor)) static void memprofile_at_exit(void) {
    if (memprofile_path[0])
        write_profile_file(memprofile_path);
}

/* Only sets the core's request flag (one atomic OR): writing here could take a lock
 * the interrupted thread holds, or malloc. */
static void sigusr2_handler(int sig) {
    (void)sig;
    goheap_profile_request();
}

/* memprofile=PATH: SIGUSR2 asks for a profile, unless the program already handles
 * (or ignores) that signal; a handler it installs later simply replaces ours. */
static void memprofile_setup(const char *path) {
    size_t n = strlen(path);
    if (n >= sizeof memprofile_base)
        return; /* the knob's range keeps it shorter */
    memcpy(memprofile_base, path, n + 1);
    memcpy(memprofile_path, path, n + 1);
    struct sigaction old;
    if (sigaction(SIGUSR2, 0, &old) == 0 && !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = sigusr2_handler;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR2, &sa, 0);
    }
}

/* ---- slots ------------------------------------------------------------------------------- */

void goheap_sys_configure(const struct goheap_sys_config *c) {
    if (c->ncpu) /* the knob's range (knobs.c) is 1 .. MAX_SLOTS - NOVERFLOW */
        nexcl = c->ncpu < MAX_SLOTS - NOVERFLOW ? c->ncpu : MAX_SLOTS - NOVERFLOW;
    fault_reports = c->fault_reports;
    bgthread_on = c->bgthread;
    /* vm.overcommit_memory 2 (strict): released pages must give their commit charge
     * back, as glibc's shrink_heap does (hosted/vm.c). */
    int saved = errno, cs = cancel_off(), fd = open("/proc/sys/vm/overcommit_memory", O_RDONLY | O_CLOEXEC);
    int strict_commit = 0;
    if (fd >= 0) {
        char v = 0;
        strict_commit = read(fd, &v, 1) == 1 && v == '2';
        close(fd);
    }
    goheap_hosted_vm_configure(c->release, c->fault_reports, strict_commit);
    cancel_restore(cs);
    errno = saved;
    if (c->memprofile)
        memprofile_setup(c->memprofile);
}

unsigned goheap_sys_ncpu(void) { return nexcl + NOVERFLOW; }

static void run_pending(unsigned cpu) {
    /* A plain load first: while a request waits for another slot (a thread blocked in
     * pthread_join or epoll_wait polls no refill), goheap_hosted_pending stays
     * nonzero, and every refill of every other thread came here; the exchange alone
     * was 1.6% of rptest's time at 1 thread (perf), with nothing to take. */
    if (!atomic_load_explicit(&slots[cpu].fn, memory_order_relaxed))
        return;
    void (*fn)(unsigned, void *) = atomic_exchange(&slots[cpu].fn, 0);
    if (fn) {
        atomic_fetch_sub(&goheap_hosted_pending, 1);
        fn(cpu, atomic_load_explicit(&slots[cpu].arg, memory_order_relaxed));
    }
}

void goheap_hosted_poll(unsigned cpu) { run_pending(cpu); }

/* Thread exit: the slot goes back to the pool with its cache as it is (the next
 * thread inherits warm spans; free_os_memory flushes idle slots). Later mallocs of
 * this thread (other TLS destructors) use an overflow slot. */
static void thread_exit(void *unused) {
    (void)unused;
    unsigned s = goheap_hosted_slot;
    tls_exiting = 1;
    if (s == GOHEAP_HOSTED_NO_SLOT)
        return;
    run_pending(s);
    goheap_hosted_slot = GOHEAP_HOSTED_NO_SLOT;
    goheap_hosted_local = &goheap_local_none;
    pthread_mutex_unlock(&slots[s].owner);
    atomic_store_explicit(&slot_state[s], SLOT_FREE, memory_order_release);
}

static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

/* goheap_init returns 0 at once when the embedder called it first. */
static void hosted_init(void) {
    goheap_sys_lock(&init_lock);
    if (!atomic_load(&core_up)) {
        /* Bad GOHEAPDEBUG tokens were reported (once, by name) and the rest applies;
         * the process goes on. No address space at all is fatal: the core logged
         * what it asked for and the limit. */
        struct goheap_config cfg = {0, getenv("GOHEAPDEBUG")};
        if (goheap_init(&cfg) == GOHEAP_INIT_NOSPACE) {
            struct rlimit as;
            char msg[200];
            if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
                snprintf(msg, sizeof msg, "goheap: no address space for the heap (the line above "
                         "says what was asked); RLIMIT_AS is %lu bytes", (unsigned long)as.rlim_cur);
            else
                snprintf(msg, sizeof msg, "goheap: no address space for the heap (the line above "
                         "says what was asked)");
            goheap_sys_panic(msg);
        }
        atomic_store_explicit(&core_up, 1, memory_order_release);
    }
    goheap_sys_unlock(&init_lock);
}

/* The SIGSEGV action the program had when efence installed its own (a JIT's or a
 * runtime's handler, set before the first malloc): a fault outside the heap is
 * passed on to it. */
static struct sigaction prog_segv;

static void efence_segv(int sig, siginfo_t *si, void *uc) {
    char line[300];
    size_t n = goheap_efence_describe((uintptr_t)si->si_addr, line, sizeof line - 1);
    if (n) {
        if (n > sizeof line - 2)
            n = sizeof line - 2;
        goheap_sys_panic(line);
    }
    /* Not ours: the program's handler, as if it had been called for this fault (its
     * sa_mask and flags are not re-applied), or else the default action when the
     * access runs again. */
    if ((prog_segv.sa_flags & SA_SIGINFO) && prog_segv.sa_sigaction) {
        prog_segv.sa_sigaction(sig, si, uc);
        return;
    }
    if (!(prog_segv.sa_flags & SA_SIGINFO) && prog_segv.sa_handler != SIG_DFL &&
        prog_segv.sa_handler != SIG_IGN) {
        prog_segv.sa_handler(sig);
        return;
    }
    signal(sig, SIG_DFL);
}

/* After init, outside the init lock: these may call malloc themselves. */
static void post_init(void) {
    int z = 0;
    if (!atomic_compare_exchange_strong(&post_init_done, &z, 1))
        return;
    pthread_key_create(&exit_key, thread_exit);
    atomic_store(&post_init_done, 2);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    if (fault_reports) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = efence_segv;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER; /* (a chained handler may longjmp out) */
        sigaction(SIGSEGV, &sa, &prog_segv);
    }
}

/* Exclusive slot k is the calling thread's now (taken free, or from a dead owner). */
static unsigned own_slot(unsigned k) {
    goheap_hosted_slot = k;
    goheap_hosted_saved = 0;
    void *local = goheap_hosted_slot_local[k];
    goheap_hosted_local = local ? local : &goheap_local_none;
    if (atomic_load(&post_init_done) == 0)
        post_init();
    /* Another thread may be creating the key right now: wait for it, or
     * this thread's slot would never be given back at its exit. */
    while (atomic_load(&post_init_done) != 2)
        sched_yield();
    pthread_setspecific(exit_key, (void *)1);
    return k;
}

static unsigned pin_slow(void) {
    if (!atomic_load_explicit(&core_up, memory_order_acquire))
        hosted_init();
    if (!tls_exiting) {
        /* Lowest free slot first: a thread that replaces one that exited inherits its
         * warm cache, and the spans it frees into are then its own (local frees). */
        for (unsigned k = 0; k < nexcl; k++) {
            uint8_t f = SLOT_FREE;
            if (atomic_load_explicit(&slot_state[k], memory_order_relaxed) == SLOT_FREE &&
                atomic_compare_exchange_strong(&slot_state[k], &f, SLOT_OWNED)) {
                owner_take(k);
                return own_slot(k);
            }
        }
        /* None free: one whose owner died without giving it back (its owner mutex), looked
         * for at a thread's first overflow pin and every DEAD_OWNER_SCAN_EVERY after. */
        if ((tls_overflow_pins++ & (DEAD_OWNER_SCAN_EVERY - 1)) == 0)
            for (unsigned k = 0; k < nexcl; k++)
                if (atomic_load_explicit(&slot_state[k], memory_order_relaxed) == SLOT_OWNED && owner_dead(k))
                    return own_slot(k);
    }
    unsigned o = (unsigned)(((uintptr_t)&goheap_hosted_slot >> 12) % NOVERFLOW);
    if (tls_forking) {
        /* Our fork prepare holds every overflow lock: the slot is ours already. */
        goheap_hosted_saved = 0;
        return nexcl + o;
    }
    goheap_sys_lock(&overflow_lock[o]);
    goheap_hosted_saved = o + 1;
    return nexcl + o;
}

GOHEAP_HOSTED_SLOWCC void goheap_hosted_pin_slow(void) { goheap_hosted_ret = pin_slow(); }

GOHEAP_HOSTED_SLOWCC void goheap_hosted_unpin_slow(goheap_pin_t saved) { goheap_sys_unlock(&overflow_lock[saved - 1]); }

void goheap_sys_each_cpu(void (*fn)(unsigned cpu, void *arg), void *arg) {
    unsigned self = goheap_hosted_slot;
    for (unsigned i = 0; i < nexcl + NOVERFLOW; i++) {
        if (i == self) {
            run_pending(i);
            fn(i, arg);
        } else if (i >= nexcl) {
            if (tls_forking) { /* held by our fork prepare */
                fn(i, arg);
                continue;
            }
            goheap_sys_lock(&overflow_lock[i - nexcl]);
            fn(i, arg);
            goheap_sys_unlock(&overflow_lock[i - nexcl]);
        } else {
            uint8_t f = SLOT_FREE;
            if (atomic_compare_exchange_strong(&slot_state[i], &f, SLOT_BUSY)) {
                run_pending(i);
                fn(i, arg);
                atomic_store_explicit(&slot_state[i], SLOT_FREE, memory_order_release);
            } else if (f == SLOT_OWNED && owner_dead(i)) {
                /* Its owner died holding it (its owner mutex): ours now, run here, then free. */
                atomic_store_explicit(&slot_state[i], SLOT_BUSY, memory_order_relaxed);
                run_pending(i);
                fn(i, arg);
                pthread_mutex_unlock(&slots[i].owner);
                atomic_store_explicit(&slot_state[i], SLOT_FREE, memory_order_release);
            } else if (f == SLOT_OWNED) {
                /* A live thread owns it: queue (one request per slot; the latest wins). */
                atomic_store_explicit(&slots[i].arg, arg, memory_order_relaxed);
                if (!atomic_exchange(&slots[i].fn, fn))
                    atomic_fetch_add(&goheap_hosted_pending, 1);
            }
        }
    }
}

/* ---- fork ------------------------------------------------------------------------------
 * The child has one thread. Before fork take every overflow slot lock, then
 * (goheap_fork_prepare) every allocator lock in class order, so no lock is copied held;
 * in the child release them. An exclusive slot has no lock: its thread may have been
 * in the middle of a pinned section (a refill, a page-cache allocation) when fork
 * copied memory, so the child retires every slot that was in use except the forking
 * thread's (SLOT_GONE: never handed out again, nor visited by each_cpu) and names it to
 * the core (goheap_fork_child_gone), whose next reclaim pass gives that cache back
 * whole (docs/alloc.md, fork); an object or span in flight there (a pinned take, a
 * few instructions) stays counted as in use. A large malloc or realloc growth in
 * its unpinned map (up to ~100 ms, no lock held) is not lost: the core lists those
 * and goheap_fork_child gives their pages back (alloc/mheap.c gh_heap_fork_child), as
 * it does a zero-copy realloc's destination before the move; the move itself (the
 * mremap below) is never forked in the middle (the core's fork gate, alloc/fork.c). */
int goheap_sys_fork_self(void) { return tls_forking != 0; }

/* Handlers registered before ours (by a program before its first malloc) run after
 * our prepare and before our parent/child, in this thread, and may allocate: the core
 * lets this thread through the locks it holds (alloc/fork.c, gh_fork_nested), and pin
 * and each_cpu here through the overflow locks. */
static void fork_prepare(void) {
    /* The background step first: it pins overflow slots (alloc/fork.c). */
    goheap_fork_hold_background();
    tls_forking = 1;
    for (unsigned i = 0; i < NOVERFLOW; i++)
        goheap_sys_lock(&overflow_lock[i]);
    goheap_fork_prepare();
}

static void fork_parent(void) {
    goheap_fork_parent();
    for (unsigned i = 0; i < NOVERFLOW; i++)
        goheap_sys_unlock(&overflow_lock[i]);
    tls_forking = 0;
}

static void fork_child(void) {
    goheap_fork_child();
    for (unsigned i = 0; i < NOVERFLOW; i++)
        goheap_sys_unlock(&overflow_lock[i]);
    tls_forking = 0;
    unsigned self = goheap_hosted_slot;
    for (unsigned i = 0; i < nexcl; i++)
        if (i != self && atomic_load(&slot_state[i]) != SLOT_FREE) {
            atomic_store(&slot_state[i], SLOT_GONE);
            goheap_fork_child_gone(i); /* its cache comes back at the next reclaim pass */
        }
    /* Every slot's mutex is made again at its next take: the copy of one may be held
     * by a thread that is not here, the owner of a GONE slot or of the forking
     * thread's (the child's robust list, reset by glibc, does not hold it), or a
     * thread whose owner_dead held a FREE slot's for a moment at the fork (the
     * child's next taker of that slot waited for it forever: core-slots
     * t_slot_fork_probe). GONE slots are never taken. */
    for (unsigned i = 0; i < nexcl; i++)
        if (atomic_load(&slots[i].owner_ready))
            atomic_store(&slots[i].owner_ready, 0);
    if (self != GOHEAP_HOSTED_NO_SLOT)
        owner_take(self);
    /* The slots that exist (exclusive and overflow), and only the requests queued: a
     * store to every one of MAX_SLOTS wrote 64 KiB of pages the parent never touched
     * into every child. */
    for (unsigned i = 0; i < nexcl + NOVERFLOW; i++)
        if (atomic_load(&slots[i].fn))
            atomic_store(&slots[i].fn, 0);
    atomic_store(&goheap_hosted_pending, 0);
    /* The background thread did not survive the fork: the child starts its own at its
     * first background poll (goheap_fork_child reset the step's state). */
    atomic_store(&goheap_hosted_bg_state, 0);
    memprofile_fork_child();
}
