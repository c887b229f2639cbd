/* tests/host/test_core_knobs.c: the debug knobs, each in a child process started
 * with its own GOHEAPDEBUG (knobs are read once, at the first allocation): efence
 * (overflow and use-after-free fault and name the object, canary, efence=2 byte-exact,
 * efence=3 underflow, canaries found by validate and the debug walk, quarantine reuse,
 * guards that split no mapping, and the live-object limit where guards are unmapped
 * pages),
 * guardrate, allocfreetrace, scavtrace, madvdontneed=0 (lazy release), bad knob strings
 * (reported by name, the rest
 * applied), the knob table of tests/knob_cases.h, and debug=1 lock ranks. */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "test_core_common.h"
#include "../knob_cases.h"

static int aborted_with(int st, const char *out, const char *want) {
    int ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(out, want);
    if (!ok)
        printf("    # status 0x%x, stderr: %.600s\n", st, out);
    return ok;
}

static char buf[1 << 16];

static int count(const char *s, const char *w) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, w)) != 0; p++)
        n++;
    return n;
}


static void ef_overflow(void) {
    char *p = goheap_malloc(112);
    p[112] = 1; /* one past the end: the object ends at the page end, guard page next */
}
static void ef_overflow_aligned(void) {
    char *p = goheap_malloc(13); /* 8-byte aligned, 3 B of tail slack before the page end */
    p[13 + 3] = 1;
}
static void ef_overflow_slack(void) {
    char *p = goheap_malloc(100); /* 16-aligned: 12 B of slack, checked at free */
    p[100] = 1;
    goheap_free(p);
}
static void ef_overflow_exact(void) {
    char *p = goheap_malloc(100); /* efence=2: ends exactly at the page end */
    p[100] = 1;
}
static void ef_uaf(void) {
    char *p = goheap_malloc(5000);
    goheap_free(p);
    p[10] = 1;
}
static void ef_canary(void) {
    char *p = goheap_malloc(13);
    p[-1] = 0; /* into the slack in front: caught at free */
    goheap_free(p);
}
static void ef_double(void) {
    char *p = goheap_malloc(64);
    goheap_free(p);
    goheap_free(p);
}
static void ef_ok(void) {
    /* Normal use: page-end objects, no address reused, stats consistent. */
    char *prev[64];
    for (int i = 0; i < 64; i++) {
        size_t n = (size_t)(i * 97 % 20000) + 1;
        char *p = goheap_malloc(n);
        if ((8192 - ((uintptr_t)p + n) % 8192) % 8192 >= 16)
            _exit(10); /* must end within 16 B (its alignment) of the page end */
        memset(p, 1, n);
        prev[i] = p;
        goheap_free(p);
    }
    for (int i = 0; i < 64; i++) {
        char *q = goheap_malloc(100);
        for (int j = 0; j < 64; j++)
            if (q == prev[j])
                _exit(11); /* address reused */
        goheap_free(q);
    }
    void *z = goheap_calloc(10, 10);
    if (((char *)z)[99])
        _exit(12);
    goheap_free(z);
    if (goheap_validate() != 0)
        _exit(13);
}

static void ef3_underflow(void) {
    char *p = goheap_malloc(100); /* efence=3: at its page start, after a guard page */
    if ((uintptr_t)p % 8192)
        _exit(40);
    p[-1] = 1; /* faults at once */
}
/* efence=3 with an alignment above the page (16 KiB, 64 KiB): still at a start the
 * alignment allows with a guard right below it, so p[-1] faults at once. Before, such
 * an object got efence=1's layout (guard after it), and p[-1] was only a canary found
 * at free. */
static void ef3_underflow_aligned(void) {
    char *q = goheap_aligned_alloc(65536, 100);
    if (!q || (uintptr_t)q % 65536)
        _exit(40);
    memset(q, 1, 100);
    goheap_free(q);
    char *p = goheap_memalign(16384, 100);
    if (!p || (uintptr_t)p % 16384)
        _exit(40);
    memset(p, 1, 100);
    if (goheap_usable_size(p) != 100 || goheap_validate() != 0)
        _exit(41);
    p[-1] = 1; /* faults at once */
}
static void ef3_tail(void) {
    char *p = goheap_malloc(100);
    p[100] = 1; /* past the end: the tail canary, checked at free */
    goheap_free(p);
}
static void ef_validate(void) {
    char *p = goheap_malloc(13); /* efence=1: 3 B of canary between it and the page end */
    p[14] = 1;
    _exit(goheap_validate() != 0 ? 0 : 41); /* found without a free */
}
static void ef_validate_large(void) {
    /* 1 MiB + 13 B: a run of 130 pages (the guard included), mapped unpinned (mheap.h,
     * GH_MAP_UNPINNED_PAGES), whose canaries the map's last hold writes before it
     * publishes the span: validate finds them whole, then the smashed one. */
    char *p = goheap_malloc((1u << 20) + 13);
    if (!p || goheap_validate() != 0)
        _exit(44);
    p[(1u << 20) + 14] = 1;
    _exit(goheap_validate() != 0 ? 0 : 45);
}
static void ef_periodic(void) {
    char *p = goheap_malloc(13);
    p[13] = 1;
    for (int i = 0; i < 5000; i++) /* debug=1: a walk every 4096 guarded allocations */
        goheap_free(goheap_malloc(32));
    _exit(42);
}
static void ef2_exact(void) {
    /* efence=2 is byte-exact (documented as breaking alignment): 13 B end at the page. */
    char *p = goheap_malloc(13);
    if (((uintptr_t)p + 13) % 8192 != 0 || (uintptr_t)p % 16 != 3)
        _exit(43);
    /* An alignment the caller names is kept (memalign(4, 13) and aligned_alloc(2, 13)
     * gave 3 mod 16 too), as close to the page end as it allows. */
    char *q = goheap_memalign(4, 13), *r = goheap_aligned_alloc(2, 13);
    if (!q || (uintptr_t)q % 4 || (-((uintptr_t)q + 13) & 8191) > 3)
        _exit(48);
    if (!r || (uintptr_t)r % 2 || (-((uintptr_t)r + 13) & 8191) > 1)
        _exit(49);
    _exit(0);
}
static void ef_reuse(void) {
    /* arena=64M: 20000 guarded objects of 2 pages each are 312 MiB of address space, so
     * this completes only because quarantined address space is reused; the quarantine
     * (a quarter of the window here: 16 MiB) still catches a use after free of the most
     * recent ones and counts as released. */
    char *last = 0;
    for (int i = 0; i < 20000; i++) {
        char *p = goheap_malloc(100);
        if (!p)
            _exit(44);
        p[0] = 1;
        goheap_free(p);
        last = p;
    }
    struct goheap_memstats m;
    goheap_read_memstats(&m);
    if (m.heap_released < (16ull << 20) - 16384 || goheap_validate() != 0)
        _exit(45);
    last[0] = 2; /* faults: still quarantined */
}
/* Linux's guard regions (6.13): the advice efence's light guards use. */
#define T_MADV_GUARD_INSTALL 102
/* Makes madvise(MADV_GUARD_INSTALL) fail with EINVAL in this process, as on a kernel
 * without guard regions (a seccomp filter): efence falls back to unmapped pages. */
static void no_guard_regions(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, T_MADV_GUARD_INSTALL, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        _exit(60);
}
static void ef3_underflow_aligned_unmapped(void) { /* the guard pages unmapped */
    no_guard_regions();
    ef3_underflow_aligned();
}
static int have_guard_regions(void) {
    char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int ok = p != MAP_FAILED && madvise(p, 4096, T_MADV_GUARD_INSTALL) == 0;
    if (p != MAP_FAILED)
        munmap(p, 8192);
    return ok;
}
static long nmaps(void) { /* lines of /proc/self/maps */
    int fd = open("/proc/self/maps", O_RDONLY);
    char b[4096];
    long n = 0;
    ssize_t r;
    while ((r = read(fd, b, sizeof b)) > 0)
        for (ssize_t i = 0; i < r; i++)
            n += b[i] == '\n';
    close(fd);
    return n;
}
static uint64_t metric(const char *name) {
    struct goheap_metric m[128];
    size_t k = goheap_read_metrics(m, 128);
    for (size_t i = 0; i < k; i++)
        if (!strcmp(m[i].name, name))
            return m[i].value;
    return UINT64_MAX;
}
static long rss_pages(void) {
    char b[128] = {0};
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t r = read(fd, b, sizeof b - 1);
    close(fd);
    long size = 0, res = 0;
    return r > 0 && sscanf(b, "%ld %ld", &size, &res) == 2 ? res : -1;
}
static void ef_live_light(void) {
    /* Light guards: 31000 live guarded objects (the unmapped-page limit is 30000) add
     * no mapping; all stay guarded, their memory goes back when freed, and an overflow
     * of one still faults. */
    enum { N = 31000 };
    static char *p[N];
    long maps0 = nmaps();
    for (int i = 0; i < N; i++) {
        if (!(p[i] = goheap_malloc(32)))
            _exit(50);
        memset(p[i], 3, 32);
        if (((uintptr_t)p[i] + 32) % 8192 != 0)
            _exit(51); /* not guarded */
    }
    long maps1 = nmaps(), rss1 = rss_pages();
    if (metric("/goheap/efence/guarded:objects") != N || metric("/goheap/efence/unguarded:objects") != 0)
        _exit(54);
    if (maps1 > maps0 + 64) {
        fprintf(stderr, "mappings %ld -> %ld\n", maps0, maps1);
        _exit(52);
    }
    for (int i = 0; i < N; i++)
        if (i != N / 2)
            goheap_free(p[i]);
    long rss2 = rss_pages();
    if (goheap_validate() != 0 || rss2 > rss1 - N / 2) {
        fprintf(stderr, "rss %ld -> %ld pages\n", rss1, rss2);
        _exit(53);
    }
    fprintf(stderr, "figures: maps %ld -> %ld, rss %ld -> %ld pages\n", maps0, maps1, rss1, rss2);
    p[N / 2][32] = 1; /* faults */
}
static void ef_live_limit(void) {
    /* Unmapped guard pages: 30000 live guarded objects, then new ones are not guarded
     * (said once). */
    no_guard_regions();
    static char *p[30010];
    for (int i = 0; i < 30010; i++)
        if (!(p[i] = goheap_malloc(32)))
            _exit(46);
    int guarded_last = ((uintptr_t)p[30009] + 32) % 8192 == 0;
    if (metric("/goheap/efence/guarded:objects") != 30000 || metric("/goheap/efence/unguarded:objects") != 10)
        _exit(48);
    for (int i = 0; i < 30010; i++)
        goheap_free(p[i]);
    _exit(guarded_last || goheap_validate() != 0 ? 47 : 0);
}

static void t_efence_more(void) {
    int st = core_child_knobs("efence=3", ef3_underflow, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "goheap: fatal: efence: fault at 0x"), "efence=3: p[-1] faults at once");
    KT_CHECK(strstr(buf, "underflow below object 0x") && strstr(buf, "size 100"), "%s", buf);
    st = core_child_knobs("efence=3", ef3_underflow_aligned, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "goheap: fatal: efence: fault at 0x"), "efence=3, aligned 16 KiB: p[-1] faults at once");
    KT_CHECK(strstr(buf, "underflow below object 0x") && strstr(buf, "size 100"), "%s", buf);
    st = core_child_knobs("efence=3", ef3_underflow_aligned_unmapped, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "underflow below object 0x"), "efence=3, aligned, unmapped guards");
    st = core_child_knobs("efence=3", ef3_tail, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "goheap: fatal: efence: canary smashed at 0x"), "efence=3 tail canary");
    st = core_child_knobs("efence=1", ef_validate, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "efence: canary smashed at 0x"),
             "validate finds a smashed canary: 0x%x %s", st, buf);
    st = core_child_knobs("efence=1", ef_validate_large, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(buf, "efence: canary smashed at 0x"),
             "efence=1, 1 MiB mapped unpinned: canaries whole, then validate finds the smashed one: 0x%x %s", st, buf);
    st = core_child_knobs("efence=1,debug=1", ef_periodic, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "found by the periodic check"), "debug: periodic canary check");
    st = core_child_knobs("efence=2", ef2_exact, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "efence=2 byte-exact: 0x%x", st);
    if (SANITIZED) {
        /* (60000 mappings and 20000 guarded cycles: ~20 s under a sanitizer, where
         * the plain run already covers this logic.) */
        printf("    # quarantine reuse and live-object limit: plain build only\n");
        return;
    }
    st = core_child_knobs("efence=1,arena=64M", ef_reuse, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "use after free of object 0x"), "quarantine: reuse, and UAF caught");
    st = core_child_knobs("efence=1", ef_live_limit, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "live limit: 0x%x", st);
    KT_CHECK(count(buf, "goheap: efence: 30000 guarded objects live") == 1, "said once: %s", buf);
    if (!have_guard_regions()) {
        printf("    # light guards: this kernel has no guard regions (Linux < 6.13), not tested\n");
        return;
    }
    st = core_child_knobs("efence=1", ef_live_light, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "overflow past object 0x") && !strstr(buf, "guarded objects live"),
             "light guards: 31000 live, no limit: 0x%x %s", st, buf);
    const char *fig = strstr(buf, "figures: ");
    if (fig)
        printf("    # light guards, 31000 live objects: %.*s\n", (int)strcspn(fig + 9, "\n"), fig + 9);
}

/* The program's own SIGSEGV handler, installed before the heap came up (a JIT's, a
 * runtime's that maps pages on demand): under efence a fault outside the heap still
 * reaches it, and a heap fault is still reported by efence. Exit 0: the program's
 * handler ran for the outside fault (both SA_SIGINFO and plain handlers). */
static sigjmp_buf prog_jmp;
static volatile int prog_calls;
static void prog_segv_info(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)si, (void)uc;
    prog_calls++;
    siglongjmp(prog_jmp, 1);
}
static void prog_segv_plain(int sig) {
    (void)sig;
    prog_calls++;
    siglongjmp(prog_jmp, 1);
}
static void ef_program_handler(int plain) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (plain) {
        sa.sa_handler = prog_segv_plain;
    } else {
        sa.sa_sigaction = prog_segv_info;
        sa.sa_flags = SA_SIGINFO;
    }
    sigaction(SIGSEGV, &sa, 0);
    void *p = goheap_malloc(100); /* the heap comes up, efence with it */
    char *outside = mmap(0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!p || outside == MAP_FAILED)
        _exit(60);
    if (sigsetjmp(prog_jmp, 1) == 0)
        *(volatile char *)outside = 1; /* not the heap's: the program's handler */
    if (prog_calls != 1)
        _exit(61);
    goheap_free(p);
    ((volatile char *)p)[0] = 1; /* use after free: efence's report, not the program's */
    _exit(62);
}
static void ef_program_info(void) { ef_program_handler(0); }
static void ef_program_plain(void) { ef_program_handler(1); }

static void t_efence(void) {
    {
        int st = core_child_knobs("efence=1", ef_program_info, buf, sizeof buf);
        KT_CHECK(aborted_with(st, buf, "use after free of object 0x"),
                 "program's SA_SIGINFO handler chained, heap fault still reported");
        st = core_child_knobs("efence=1", ef_program_plain, buf, sizeof buf);
        KT_CHECK(aborted_with(st, buf, "use after free of object 0x"),
                 "program's plain handler chained, heap fault still reported");
    }
    int st = core_child_knobs("efence=1", ef_overflow, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "goheap: fatal: efence: fault at 0x"), "overflow faults");
    KT_CHECK(strstr(buf, "overflow past object 0x") && strstr(buf, "size 112 allocated at pc 0x"),
             "names the object");
    st = core_child_knobs("efence=1", ef_overflow_slack, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "goheap: fatal: efence: canary smashed at 0x"), "slack overflow at free");
    st = core_child_knobs("efence=2", ef_overflow_exact, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "overflow past object"), "efence=2: byte-exact");
    st = core_child_knobs("efence=1", ef_overflow_aligned, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "overflow past object"), "tail slack + 1 faults");
    st = core_child_knobs("efence=1", ef_uaf, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "use after free of object 0x"), "use after free faults");
    KT_CHECK(strstr(buf, "size 5000"), "");
    st = core_child_knobs("efence=1", ef_canary, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "goheap: fatal: efence: canary smashed at 0x"), "canary");
    st = core_child_knobs("efence=1", ef_double, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "goheap: fatal: double free: 0x"), "efence double free");
    st = core_child_knobs("efence=1", ef_ok, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "normal use under efence: status 0x%x %s", st, buf);
}

/* usable_size of a byte inside a guarded object measures to the object's end, as for
 * every other object (before: the whole size, from any byte); a byte of the guarded
 * span outside the object (canaries, slack, guard) is no object's: the interior-pointer
 * panic, as for a small span's tail. */
static void ef_usable_inner(void) {
    char *p = goheap_malloc(100);
    size_t u = goheap_usable_size(p);
    if (u < 100 || u > 112)
        _exit(70);
    if (goheap_usable_size(p + 10) != u - 10)
        _exit(71);
    if (goheap_usable_size(p + u - 1) != 1)
        _exit(72);
    goheap_free(p);
    _exit(0);
}
static void ef_usable_before(void) {
    char *p = goheap_malloc(100);
    goheap_usable_size(p - 1);
    _exit(73);
}
static void ef_usable_after(void) {
    char *p = goheap_malloc(100);
    goheap_usable_size(p + goheap_usable_size(p));
    _exit(74);
}
static void t_efence_usable_inner(void) {
    static const char *const modes[] = {"efence=1", "efence=2", "efence=3"};
    for (int m = 0; m < 3; m++) {
        int st = core_child_knobs(modes[m], ef_usable_inner, buf, sizeof buf);
        KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status 0x%x %.300s", modes[m], st, buf);
        st = core_child_knobs(modes[m], ef_usable_before, buf, sizeof buf);
        KT_CHECK(aborted_with(st, buf, "goheap: fatal: usable_size of an interior pointer: 0x"),
                 "%s: the byte before", modes[m]);
    }
    /* efence=1: the alignment slack after (a 100 B object is 112 B: the guard page);
     * efence=3: the slack up to the page end. */
    int st = core_child_knobs("efence=3", ef_usable_after, buf, sizeof buf);
    KT_CHECK(aborted_with(st, buf, "goheap: fatal: usable_size of an interior pointer: 0x"),
             "efence=3: the byte after");
}

static void gr_many(void) {
    /* guardrate=4: every 4th allocation of a CPU is fenced; use after free of one of
     * them faults, the others behave normally. */
    char *p[16];
    for (int i = 0; i < 16; i++) {
        p[i] = goheap_malloc(40);
        memset(p[i], 2, 40);
    }
    int fenced = 0;
    for (int i = 0; i < 16; i++)
        if ((8192 - ((uintptr_t)p[i] + 40) % 8192) % 8192 < 16)
            fenced++;
    if (fenced != 4)
        _exit(20 + fenced);
    for (int i = 0; i < 16; i++)
        goheap_free(p[i]);
    if (goheap_validate() != 0)
        _exit(40);
}
static void t_guardrate(void) {
    int st = core_child_knobs("guardrate=4", gr_many, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x %s", st, buf);
}

static void tr_some(void) {
    void *p = goheap_malloc(100);
    goheap_free(p);
    void *q = goheap_malloc(1 << 20);
    goheap_free(q);
    goheap_free_os_memory();
}
static void t_traces(void) {
    int st = core_child_knobs("allocfreetrace=1,scavtrace=1", tr_some, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
    KT_CHECK(strstr(buf, "goheap: alloc 0x") && strstr(buf, "size 100 class 9 cpu "), "alloc trace: %.300s", buf);
    KT_CHECK(strstr(buf, "goheap: free 0x") && strstr(buf, "size 112 class 9"), "free trace");
    KT_CHECK(strstr(buf, "size 1048576 class 0"), "large trace");
    KT_CHECK(strstr(buf, "goheap: scav: ") && strstr(buf, "(free_os_memory)"), "scavtrace line");
}

/* madvdontneed=0 hosted: a release is MADV_FREE (the OS takes the pages when it
 * needs them); the released bytes count as HeapReleasedLazy until reused, are not
 * mapped again on reuse, and calloc still reads zero on them; there is nothing for
 * goheap_reclaim_lazy to do (the kernel's pull). */
enum { LZ_N = 32, LZ_SZ = 256 << 10 };
static void lz_cycle(void) {
    static void *p[LZ_N];
    struct goheap_memstats m;
    for (unsigned i = 0; i < LZ_N; i++) {
        p[i] = goheap_malloc(LZ_SZ);
        memset(p[i], 0xa5, LZ_SZ);
    }
    for (unsigned i = 0; i < LZ_N; i++)
        goheap_free(p[i]);
    goheap_free_os_memory();
    goheap_read_memstats(&m);
    if (m.heap_released_lazy < (uint64_t)LZ_N * LZ_SZ || m.heap_released_lazy > m.heap_released)
        _exit(40);
    uint64_t lazy0 = m.heap_released_lazy;
    for (unsigned i = 0; i < LZ_N; i++) {
        unsigned char *q = p[i] = goheap_calloc(1, LZ_SZ);
        for (size_t k = 0; k < LZ_SZ; k++)
            if (q[k])
                _exit(41);
    }
    goheap_read_memstats(&m);
    if (lazy0 - m.heap_released_lazy < (uint64_t)LZ_N * LZ_SZ / 2 || goheap_reclaim_lazy(SIZE_MAX) != 0)
        _exit(42);
    for (unsigned i = 0; i < LZ_N; i++)
        goheap_free(p[i]);
    if (goheap_validate() != 0)
        _exit(43);
}
static void t_lazy_release(void) {
    int st = core_child_knobs("madvdontneed=0", lz_cycle, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x %s", st, buf);
    st = core_child_knobs("madvdontneed=1", lz_cycle, buf, sizeof buf); /* eager: nothing lazy */
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 40, "status 0x%x %s", st, buf);
}

/* madvdontneed=0 hosted, realloc's zero-copy move out of memory in the middle: its
 * destination run was released lazily first (MADV_FREE keeps the bytes until the OS
 * needs the memory), and when the tail's map then fails (RLIMIT_DATA here) the run
 * went back to the heap, with realloc's NULL, as known to read zero: the calloc
 * that took them next (at d) read d's old bytes. Now no zero-copy move runs where a
 * release leaves the bytes (docs/alloc.md): whatever realloc does, calloc reads zero. */
static void lz_remap_nomem(void) {
    const size_t mib = 1u << 20;
    unsigned char *p = goheap_malloc(mib), *blocker = goheap_malloc(mib), *d = goheap_malloc(mib);
    if (!p || !blocker || !d || d != p + 2 * mib)
        _exit(50); /* not the layout this case needs */
    memset(p, 0x11, mib);
    memset(d, 0xaa, mib);
    goheap_free(d);
    goheap_flush(); /* d's pages: free and backed in the tree, dirty */
    alarm(60); /* a child stuck in a runtime's own lock fails the case (SIGALRM) */
    long data = vm_data_bytes();
    struct rlimit old, lim;
    if (data < 0 || getrlimit(RLIMIT_DATA, &old) != 0)
        _exit(51);
    lim = old;
    /* No room for the tail's fresh pages (1 MiB and more). RLIMIT_DATA binds the
     * sanitizer runtime's own mappings too: ThreadSanitizer (clang 14, v3) maps a
     * 256 KiB trace part (TracePart, MmapOrDie) whenever a thread's trace fills one,
     * and where that map is refused its die path deadlocks the child (its CHECK
     * unwinds through pthread_getattr_np, whose getline reallocs through the
     * interceptor, which waits on the slot lock the thread already holds in
     * TraceSwitchPart). Whether a part fills between the two setrlimit calls
     * depended on how many events the heap's code records there: d2c9020's
     * per-class remote-free sums in the last-resort reclaim tipped it, and every
     * run hung. So sanitized builds first fill the trace (a thread that has mapped
     * its parts, 3 by default, recycles them: 256 K reads of distinct words are 8
     * parts of events), and leave the runtime two parts more, still short of the
     * tail (the refusal this case needs is unchanged). */
    if (SANITIZED) {
        unsigned long acc = 0;
        for (size_t k = 0; k < mib / sizeof acc; k++)
            acc += ((volatile unsigned long *)p)[k] + ((volatile unsigned long *)blocker)[k];
        __asm__ volatile("" : : "r"(acc));
    }
    const rlim_t room = (256u << 10) + (SANITIZED ? (512u << 10) : 0);
    _Static_assert((256u << 10) + (512u << 10) < (1u << 20), "the tail must not fit in the room");
    lim.rlim_cur = (rlim_t)data + room;
    if (setrlimit(RLIMIT_DATA, &lim) != 0)
        _exit(52);
    unsigned char *q = goheap_realloc(p, 2 * mib); /* the run from d's pages on */
    setrlimit(RLIMIT_DATA, &old);
    if (q) /* moved after all (a copy): the contents came along */
        p = q;
    if (p[0] != 0x11 || p[mib - 1] != 0x11)
        _exit(54); /* the old block intact, or its bytes moved */
    unsigned char *c = goheap_calloc(1, mib);
    if (!c)
        _exit(55);
    for (size_t k = 0; k < mib; k++)
        if (c[k]) {
            fprintf(stderr, "calloc byte %zu reads 0x%x\n", k, c[k]);
            _exit(56);
        }
    goheap_free(c);
    goheap_free(p);
    goheap_free(blocker);
    if (goheap_validate() != 0)
        _exit(57);
}
static void t_lazy_remap_nomem(void) {
    int st = core_child_knobs("madvdontneed=0", lz_remap_nomem, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x %s", st, buf);
}

static void bad_knob(void) {
    /* The bad token was reported; efence=1 still applies: 10 B ends within 8 B of
     * its page end. */
    char *p = goheap_malloc(10);
    if ((8192 - ((uintptr_t)p + 10) % 8192) % 8192 >= 8)
        _exit(30);
    goheap_free(p);
    if (gh_knobs.memlimit != (int64_t)(1 << 30) || gh_knobs.debug != 1)
        _exit(31);
}
static void t_bad_knob(void) {
    /* Hosted: each bad token on stderr once, by name; the process goes on with the
     * rest applied (later tokens win). arena=64GiB: under TSan the default 1 TiB
     * window is sometimes only half granted, and that notice is a fourth line of the
     * heap's own (CI, tsan-test_core_knobs), not one about these tokens. */
    int st = core_child_knobs("arena=64GiB,efence=1,nonsense=3,memlimit=1.5G,memlimit=1GiB,debug=7,debug=1", bad_knob,
                       buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x %s", st, buf);
    KT_CHECK(count(buf, "goheap: bad knob 'nonsense=3': unknown knob\n") == 1, "%s", buf);
    KT_CHECK(count(buf, "goheap: bad knob 'memlimit=1.5G': decimals are not accepted") == 1, "%s", buf);
    KT_CHECK(count(buf, "goheap: bad knob 'debug=7': out of range (accepted: 0 to 3)\n") == 1, "%s", buf);
    KT_CHECK(count(buf, "goheap: ") == 3, "three lines, nothing else: %s", buf);
}

/* arena=64TiB lets a request pass 32 TiB, where a span's 32-bit page count would
 * wrap: a request over GH_OBJ_MAX_BYTES (16 TiB) is refused before the heap grows for
 * it (before, malloc of 17,000 GiB grew the heap, mapped ~860 MiB of page-allocator
 * metadata and took 1.5 s before the system refused the memory; with
 * vm.overcommit_memory=1, past 32 TiB, it would have made a span of a wrapped size).
 * Exit status: 0, 2 when the window was not granted, or the failure. */
static void huge_window(void) {
    void *p = goheap_malloc(16);
    if (!p)
        _exit(50);
    goheap_free(p);
    if (gh_heap.arena_bytes < (32ull << 40))
        _exit(2);
    uint64_t sys0 = core_stats().heap_sys;
    size_t sizes[] = {GH_OBJ_MAX_BYTES + 1, 17000ull << 30, (32ull << 40) + 8192};
    for (unsigned i = 0; i < 3; i++) {
        errno = 0;
        if (goheap_malloc(sizes[i]) || errno != ENOMEM)
            _exit(51 + (int)i);
        void *q = 0;
        if (goheap_posix_memalign(&q, (size_t)1 << 45, 4096) != GOHEAP_ENOMEM)
            _exit(54);
    }
    void *r = goheap_malloc(1 << 20);
    if (!r || goheap_realloc(r, 17000ull << 30) || errno != ENOMEM)
        _exit(55);
    goheap_free(r);
    if (core_stats().heap_sys - sys0 > (64u << 20))
        _exit(56); /* the heap grew for a refused request */
}
static void t_obj_max(void) {
    if (SANITIZED) { /* (their shadow layouts leave no 64 TiB in one piece: init is fatal) */
        printf("    # a 64 TiB window: plain build only\n");
        return;
    }
    int st = core_child_knobs("arena=64TiB", huge_window, buf, sizeof buf);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 2) {
        printf("    # a 64 TiB window was not granted here: not checked\n");
        return;
    }
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x (exit %d) %s", st,
             WIFEXITED(st) ? WEXITSTATUS(st) : -1, buf);
}

/* goheap_set_memory_limit before the heap is up (hosted: before the first malloc)
 * keeps its limit: init stored the knob's over it (here 1 GiB; without the knob, no
 * limit at all), and the call's own result said nothing was wrong. */
static void limit_before_init(void) {
    if (goheap_set_memory_limit(32ll << 20) != INT64_MAX)
        _exit(40);
    void *p = goheap_malloc(100); /* initialises */
    goheap_free(p);
    int64_t now = goheap_set_memory_limit(-1);
    if (now != (32ll << 20)) {
        fprintf(stderr, "limit after init %lld, set 33554432 before it\n", (long long)now);
        _exit(41);
    }
}
static void t_limit_before_init(void) {
    int st = core_child_knobs("memlimit=1GiB", limit_before_init, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x %s", st, buf);
    st = core_child_knobs("", limit_before_init, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "no knob: status 0x%x %s", st, buf);
}

/* Every row of tests/knob_cases.h against the parser, as the hosted build has it
 * (ncpu= supported), and ncpu itself. */
static void t_knob_table(void) {
    struct gh_knobs k;
    unsigned failed = 0;
    int saved = dup(2), nul = open("/dev/null", O_WRONLY);
    dup2(nul, 2); /* the parser logs every bad token; the table checks the text */
    for (unsigned i = 0; i < N_KNOB_CASES; i++) {
        const char *why = knob_case_run(&knob_cases[i], GH_KNOB_FEATURES_ALL, &k);
        if (why) {
            dprintf(saved, "    # '%s': %s (first message: %s)\n", knob_cases[i].in, why,
                    gh_knobs_first_error() ? gh_knobs_first_error() : "none");
            failed++;
        }
    }
    static const struct knob_case host_only[] = {
        {"ncpu=4", 0, 0, "ncpu", 4},
        {"ncpu=4088", 0, 0, "ncpu", 4088},
        {"ncpu=0", 1, "'ncpu=0': out of range (accepted: 1 to 4088)", "ncpu", 0},
        {"ncpu=5000", 1, "out of range", "ncpu", 0},
        {"ncpu=2,ncpu=3", 0, 0, "ncpu", 3},
        {"bgthread=0", 0, 0, "bgthread", 0},
        {"bgthread=1", 0, 0, "bgthread", 1},
        {"bgthread=2", 1, "'bgthread=2': out of range (accepted: 0 to 1)", "bgthread", 1},
    };
    for (unsigned i = 0; i < sizeof host_only / sizeof host_only[0]; i++)
        if (knob_case_run(&host_only[i], GH_KNOB_FEATURES_ALL, &k))
            failed++;
    /* A platform without ncpu= (the kernel) names it. */
    static const struct knob_case no_ncpu = {"ncpu=4,debug=1", 1,
                                             "'ncpu=4': not supported on this platform", "debug", 1};
    if (knob_case_run(&no_ncpu, 0, &k))
        failed++;
    static const struct knob_case no_bg = {"bgthread=0,debug=1", 1,
                                           "'bgthread=0': not supported on this platform", "debug", 1};
    if (knob_case_run(&no_bg, 0, &k))
        failed++;
    dup2(saved, 2);
    close(saved);
    close(nul);
    KT_CHECK(failed == 0, "%u of %u cases failed", failed, (unsigned)N_KNOB_CASES + 10);
}

static void *dbg_worker(void *arg) {
    (void)arg;
    void *p[500];
    for (int r = 0; r < 20; r++) {
        for (int i = 0; i < 500; i++)
            p[i] = goheap_malloc((size_t)(i * 13 % 5000) + 1);
        for (int i = 0; i < 500; i++)
            goheap_free(p[i]);
    }
    return 0;
}
static void dbg_run(void) {
    core_on_threads(dbg_worker, 4);
    goheap_free_os_memory();
    if (goheap_validate() != 0)
        _exit(3);
}
/* scavenge=eager: a freed large span never stays in the CPU's large span cache (its
 * limit is 0 pages), so its pages go back at once; the lazy default keeps it. */
static void eager_run(void) {
    goheap_free(goheap_malloc(16));
    for (int i = 0; i < 3; i++)
        goheap_free(goheap_malloc(64 << 10));
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    goheap_sys_unpin(pin);
    int eager = gh_knobs.scavenge_eager;
    if (!c || c->lcache.limit != (eager ? 0u : GH_LCACHE_CPU_PAGES))
        _exit(51);
    if (c->lcache.pages != (eager ? 0u : 8u) || c->lcache.nbin[8] != (eager ? 0 : 1))
        _exit(52);
    _exit(goheap_validate() != 0 ? 53 : 0);
}
static void t_eager_no_lcache(void) {
    int st = core_child_knobs("scavenge=eager", eager_run, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "eager: status 0x%x %.300s", st, buf);
    st = core_child_knobs("scavenge=paced", eager_run, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "paced: status 0x%x %.300s", st, buf);
}

static void t_debug_lockrank(void) {
    int st = core_child_knobs("debug=1,scavenge=eager,memlimit=64M", dbg_run, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x %.300s", st, buf);
    st = core_child_knobs("debug=3", dbg_run, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "debug=3: status 0x%x %.300s", st, buf);
}

/* A planted out-of-order acquisition: a platform lock of class FRAME held (recorded
 * through the shared check, as the kernel's spinlocks do) while the allocator takes
 * its locks for a large object (its cache lock first). debug=1 must panic at once,
 * naming both. */
static void lo_plant(void) {
    goheap_free(goheap_malloc(16)); /* initialised, and this thread has its slot */
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    goheap_sys_unpin(pin);
    goheap_lockcheck_acquire(cpu, GOHEAP_LC_FRAME);
    void *p = goheap_malloc(1 << 20);
    (void)p;
    _exit(7); /* not detected */
}
static void t_lockorder_planted(void) {
    int st = core_child_knobs("debug=1", lo_plant, buf, sizeof buf);
    char want[120];
    snprintf(want, sizeof want, ": taking mcache (class %d) while holding frame (class %d, held classes 0x%x)",
             GOHEAP_LC_MCACHE, GOHEAP_LC_FRAME, 1u << GOHEAP_LC_FRAME);
    KT_CHECK(aborted_with(st, buf, "goheap: fatal: lock order violation on cpu ") && strstr(buf, want),
             "status 0x%x %.300s", st, buf);
    /* The order itself: the allocator's classes between the platform's. */
    KT_CHECK(GOHEAP_LC_PLATFORM_OUTER < GOHEAP_LC_MCACHE && GOHEAP_LC_MCACHE < GOHEAP_LC_CENTRAL &&
                 GOHEAP_LC_CENTRAL < GOHEAP_LC_PROFILE && GOHEAP_LC_PROFILE < GOHEAP_LC_HEAP &&
                 GOHEAP_LC_HEAP < GOHEAP_LC_META && GOHEAP_LC_META < GOHEAP_LC_PAGETABLE,
             "class order");
    KT_CHECK(!strcmp(goheap_lock_class_names[GOHEAP_LC_HEAP], "mheap"), "names");
}

/* debug>=1's periodic canary walk runs on whichever thread makes the 4096th guarded
 * allocation, while other threads are in the middle of their own: an object being set
 * up is in the span map before its canaries are written, and the walk must not take
 * its blank slack for a smashed canary. Four threads of guarded malloc/free, with no
 * overflow anywhere: about 20 walks. Under TSan (tsan-core-knobs) it also checks that
 * the walk reads no span it does not own a view of: a walk of the span map read the
 * fields of spans set up meanwhile on other threads (check_all against span_reset). */
static void *ef_walk_worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        char *p = goheap_malloc(8 + (size_t)(i % 5) * 8);
        if (!p)
            _exit(51);
        p[0] = 1;
        goheap_free(p);
    }
    return 0;
}
static void ef_walk_race(void) {
    core_on_threads(ef_walk_worker, 4);
    _exit(goheap_validate() != 0 ? 52 : 0);
}
static void t_efence_walk_race(void) {
    int st = core_child_knobs("efence=1,debug=1", ef_walk_race, buf, sizeof buf);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0 && !strstr(buf, "canary"),
             "no canary report without an overflow: 0x%x %.300s", st, buf);
}


static const struct kt_case cases[] = {
    KT_CASE(t_efence),
    KT_CASE(t_efence_more),
    KT_CASE(t_efence_walk_race),
    KT_CASE(t_efence_usable_inner),
    KT_CASE(t_guardrate),
    KT_CASE(t_traces),
    KT_CASE(t_lazy_release),
    KT_CASE(t_lazy_remap_nomem),
    KT_CASE(t_bad_knob),
    KT_CASE(t_limit_before_init),
    KT_CASE(t_knob_table),
    KT_CASE(t_obj_max),
    KT_CASE(t_eager_no_lcache),
    KT_CASE(t_debug_lockrank),
    KT_CASE(t_lockorder_planted),
};

int main(void) {
    kt_begin("core-knobs", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), 0);
}
