/* tests/host/test_core_common.h: helpers for the core's unit tests (test_core_*.c):
 * every case ends with the stats recount (goheap_validate); forks (death tests that
 * check the exact panic line, fresh processes) that keep the background thread away. */
#ifndef TEST_CORE_COMMON_H
#define TEST_CORE_COMMON_H
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"
#include "goheap.h"
#include "hostktap.h"

/* After every case (kt_run_cases): recount every span against the counters. */
static inline void core_recount(const char *name) {
    KT_CHECK(goheap_validate() == 0, "stats recount after %s", name);
}

static inline struct goheap_memstats core_stats(void) {
    struct goheap_memstats m;
    goheap_read_memstats(&m);
    return m;
}

/* Fork children and the hosted background thread (docs/testing.md, "Fork children and
 * the background thread"): ThreadSanitizer kills a child that starts a thread when its
 * parent had more than one at the fork, and the background thread starts at the first
 * background poll (every 1024th refill of a CPU, 2 MiB of freed pages: alloc/work.h), which a
 * case may reach or not by load. So a binary whose children start threads runs with
 * bgthread=0 (core_init_no_bg), and cases that need the thread run in a fresh process
 * (core_case_fresh). */

/* goheap_init with bgthread=0 and the given knobs (NULL: none): goheap_init's result. */
static inline int core_init_no_bg(const char *knobs) {
    char all[256];
    snprintf(all, sizeof all, "bgthread=0%s%s", knobs ? "," : "", knobs ? knobs : "");
    struct goheap_config cfg = {.knobs = all};
    return goheap_init(&cfg);
}

/* With CORE_FORCE_BG set in the environment, every fork of the core tests' helpers and
 * of core_fork is preceded by a background poll's start of the thread, as if an
 * earlier case had reached one: `CORE_FORCE_BG=1 make tsan-test_core_X` shows at once
 * whether a child would die that way (a binary with bgthread=0 starts none). */
static inline void core_force_bg(void) {
    if (getenv("CORE_FORCE_BG") && __atomic_load_n(&gh_inited, __ATOMIC_ACQUIRE)) {
        atomic_store(&gh_bg_polled, 1); /* what the poll does besides its step (scavenge.c) */
        goheap_sys_background_wanted();
    }
}
/* fork() for the test process's cases, stdout flushed first (CORE_FORCE_BG applies). */
static inline pid_t core_fork(void) {
    fflush(stdout);
    core_force_bg();
    return fork();
}

/* A case that needs a fresh process (the background thread in a binary that runs with
 * bgthread=0, a heap no other case used): KT_CASE_BY(fn, core_case_fresh) runs it in
 * this binary exec'd again with CORE_FRESH_CASE=<its name>, where main's first call,
 * core_fresh_main, runs that case alone on a heap initialised as a program's (at a
 * first malloc, from GOHEAPDEBUG: the background thread allowed) and exits with its verdict. Its
 * lines go to the same stdout; a non-zero exit fails the case here. */
/* This binary exec'd again with var=val in its environment: its wait status (-1: no
 * child). */
static inline int core_exec_self(const char *var, const char *val) {
    pid_t pid = core_fork();
    if (pid == 0) {
        setenv(var, val, 1);
        char self[] = "test_core_fresh";
        char *argv[] = {self, 0};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int st = -1;
    if (pid > 0)
        waitpid(pid, &st, 0);
    return st;
}
static inline void core_case_fresh(const struct kt_case *c) {
    int st = core_exec_self("CORE_FRESH_CASE", c->name);
    KT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s in a fresh process: status 0x%x", c->name, st);
}
/* First in main: -1 in the test process; in a fresh one, runs the case it names (and the
 * recount) and returns main's status. */
static inline int core_fresh_main(const struct kt_case *c, int n) {
    const char *name = getenv("CORE_FRESH_CASE");
    if (!name)
        return -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(c[i].name, name)) {
            unsetenv("CORE_FRESH_CASE");
            unsetenv("CORE_FORCE_BG"); /* no earlier case here: its forks are the first thing */
            goheap_free(goheap_malloc(16)); /* initialised, from GOHEAPDEBUG */
            c[i].fn();
            core_recount(c[i].name);
            fflush(stdout);
            return kt_case_failed;
        }
    printf("    # no case %s\n", name);
    return 2;
}

/* Runs fn in a forked child (60 s at most) with its descriptor fd (2: stderr, 1:
 * stdout) captured in out (what does not fit is read and dropped, so the child never
 * blocks on a full pipe); returns the child's wait status, or -1 when it could not
 * start. */
static inline int core_child_fd(void (*fn)(void), int fd, char *out, size_t cap) {
    int pfd[2];
    out[0] = 0;
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = core_fork();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], fd);
        close(pfd[1]);
        alarm(60);
        fn();
        _exit(0);
    }
    close(pfd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(pfd[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = 0;
    char sink[4096];
    while (read(pfd[0], sink, sizeof sink) > 0)
        ;
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}
static inline int core_child(void (*fn)(void), char *err, size_t cap) { return core_child_fd(fn, 2, err, cap); }

/* Which sanitizer runtime the test is built with (clang's __has_feature). */
#define SANITIZED 0
#define TSAN 0
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#undef SANITIZED
#define SANITIZED 1
#endif
#if __has_feature(thread_sanitizer)
#undef TSAN
#define TSAN 1
#endif
#endif

/* fn in a child with GOHEAPDEBUG=knobs set before its first allocation (core_child:
 * stderr captured, 60 s at most). Returns the wait status; out gets stderr. */
static const char *core_child_knobs_set;
static void (*core_child_knobs_fn)(void);
static inline void core_child_knobs_run(void) {
    setenv("GOHEAPDEBUG", core_child_knobs_set, 1);
    core_child_knobs_fn();
}
static inline int core_child_knobs(const char *knobs, void (*fn)(void), char *out, size_t n) {
    core_child_knobs_set = knobs;
    core_child_knobs_fn = fn;
    return core_child(core_child_knobs_run, out, n);
}

/* A "Vm...: N kB" line of /proc/self/status in bytes (fmt: its sscanf format), or -1. */
static inline long vm_status_bytes(const char *fmt) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, fmt, &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb < 0 ? -1 : kb << 10;
}
/* The process's data segment as RLIMIT_DATA counts it (VmData), or -1: a child sets
 * the limit a little above it to make the heap's next large map fail. */
static inline long vm_data_bytes(void) { return vm_status_bytes("VmData: %ld kB"); }
/* Its address space as RLIMIT_AS counts it (VmSize), or -1. */
static inline long vm_size_bytes(void) { return vm_status_bytes("VmSize: %ld kB"); }

/* Runs fn in a forked child with stderr captured; returns 1 if the child died by
 * SIGABRT and its stderr contains `expect`. */
static inline int core_dies_with(void (*fn)(void), const char *expect) {
    char buf[4096];
    int st = core_child(fn, buf, sizeof buf);
    int ok = st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(buf, expect) != 0;
    if (!ok)
        printf("    # child status 0x%x, stderr: %s\n", st, buf);
    return ok;
}

/* Exact-message death tests. The child announces the panic line the next call must
 * print (core_expect_bad_free, through a pipe: only the child knows the addresses);
 * core_dies_exact checks that the child died of SIGABRT with exactly that line on
 * stderr. The hosted platform prints the core's message with its "goheap: " prefix
 * replaced by "goheap: fatal: " (hosted/platform.c). */
static int core_expect_fd = -1;

static inline void core_expect_bad_free(const char *reason, const void *p) {
    char buf[512];
    uintptr_t a = (uintptr_t)p;
    struct mspan *s = gh_span_of(a);
    /* gh_bad_free's forms (alloc/mspan.c), and checked_span's dead-span note (free.c) */
    int n = s && s != &gh_deadspan && s->spc < 2 && !strstr(reason, "dead span")
                ? snprintf(buf, sizeof buf, "goheap: fatal: %s: 0x%lx (span 0x%lx base 0x%lx large object of %lu pages)\n",
                           reason, (unsigned long)a, (unsigned long)(uintptr_t)s, (unsigned long)s->base,
                           (unsigned long)s->npages)
            : s && s != &gh_deadspan && !strstr(reason, "dead span")
                ? snprintf(buf, sizeof buf, "goheap: fatal: %s: 0x%lx (span 0x%lx base 0x%lx class %u objsize %u)\n",
                           reason, (unsigned long)a, (unsigned long)(uintptr_t)s, (unsigned long)s->base,
                           (unsigned)(s->spc >> 1), (unsigned)s->elemsize)
            : strstr(reason, "dead span")
                ? snprintf(buf, sizeof buf,
                           "goheap: fatal: %s: 0x%lx (no live object holds this page: a double free of a "
                           "large object, or a pointer into freed memory)\n",
                           reason, (unsigned long)a)
                : snprintf(buf, sizeof buf, "goheap: fatal: %s: 0x%lx\n", reason, (unsigned long)a);
    if (core_expect_fd < 0 || write(core_expect_fd, buf, (size_t)n) != n)
        _exit(3);
    close(core_expect_fd);
    core_expect_fd = -1;
}

/* A thread body (pthread_create's arg: a struct core_frees) that frees objs[from..n):
 * frees by a thread other than the objects' allocator. */
struct core_frees {
    void **objs;
    int from, n;
};
static inline void *core_free_range(void *arg) {
    const struct core_frees *f = arg;
    for (int i = f->from; i < f->n; i++)
        goheap_free(f->objs[i]);
    return 0;
}
/* Runs fn(arg) on a thread of its own and waits for it. */
static inline void core_on_thread(void *(*fn)(void *), void *arg) {
    pthread_t t;
    pthread_create(&t, 0, fn, arg);
    pthread_join(t, 0);
}

/* Runs fn on n threads at once (n <= 16) and joins them. */
static inline void core_on_threads(void *(*fn)(void *), unsigned n) {
    pthread_t t[16];
    for (unsigned i = 0; i < n && i < 16; i++)
        pthread_create(&t[i], 0, fn, 0);
    for (unsigned i = 0; i < n && i < 16; i++)
        pthread_join(t[i], 0);
}

/* A death test by its function's name: core_dies_exact(fn), named in the failure. */
#define DEATH(fn) KT_CHECK(core_dies_exact(fn), #fn)

static inline size_t core_read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    return n;
}

static inline int core_dies_exact(void (*fn)(void)) {
    int ep[2], errp[2];
    if (pipe(ep) || pipe(errp))
        return 0;
    pid_t pid = core_fork();
    if (pid == 0) {
        close(ep[0]), close(errp[0]);
        dup2(errp[1], 2);
        close(errp[1]);
        core_expect_fd = ep[1];
        alarm(60);
        fn();
        _exit(0); /* still alive: the case failed */
    }
    close(ep[1]), close(errp[1]);
    char want[600], err[16384];
    core_read_all(ep[0], want, sizeof want);
    core_read_all(errp[0], err, sizeof err);
    close(ep[0]), close(errp[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    int found = 0;
    size_t wl = strlen(want);
    for (const char *l = err; wl && *l;) { /* one whole line of stderr must be it */
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l + 1) : strlen(l);
        if (len == wl && memcmp(l, want, wl) == 0)
            found = 1;
        l += len;
    }
    int ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && found;
    if (!ok) { /* (masked: the KTAP parser must not count an expected panic) */
        for (char *f; (f = strstr(err, "goheap: fatal"));)
            memcpy(f, "goheap(fatal)", 13);
        for (char *f; (f = strstr(want, "goheap: fatal"));)
            memcpy(f, "goheap(fatal)", 13);
        printf("    # child status 0x%x\n    # want: %s    # got: %s\n", st, wl ? want : "(nothing)\n",
               err[0] ? err : "(nothing)\n");
    }
    return ok;
}

#endif
