/* tests/host/test_badinput.c: heap corruption and bad arguments. Each corruption case
 * is a death test: a forked child computes the exact panic message (address, span,
 * class, object size) and then makes the bad call; the parent checks that the child
 * died of SIGABRT with exactly that line on stderr. Argument errors (overflow, bad
 * alignment) run in a child too and must return NULL/EINVAL/ENOMEM without aborting.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "goheap.h"
#include "heapcheck.h"
#include "hostktap.h"
#include "mheap.h" /* the core's span map: only to name the span in the expected text */

/* How the hosted platform prints a panic (hosted/platform.c: goheap_sys_panic): the
 * core's message with its own "goheap: " prefix replaced by "goheap: fatal: ". */
#define FATAL_PREFIX "goheap: fatal: "
#define CORE_PREFIX "goheap: "

/* ---- the harness ------------------------------------------------------------------ */
static int expect_fd = -1;          /* child: where the expected message goes */
static char child_notes[4096];      /* child: failed checks of a non-abort case */
static size_t child_notes_len;

/* Child: announce the exact panic message the next call must produce. */
static void expect(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (write(expect_fd, buf, (size_t)n) != n)
        _exit(3);
    close(expect_fd);
}

/* The message the core gives for a bad free of p whose address falls in a live span
 * (alloc/mspan.c: gh_bad_free), or outside any span in use. */
static void expect_bad_free(const char *reason, const void *p) {
    uintptr_t a = (uintptr_t)p;
    struct mspan *s = gh_span_of(a);
    if (strstr(reason, "dead span"))
        expect("goheap: %s: 0x%lx %s", reason, (unsigned long)a,
               "(no live object holds this page: a double free of a large object, or a pointer into freed memory)");
    else if (s && s != &gh_deadspan && s->spc < 2)
        expect("goheap: %s: 0x%lx (span 0x%lx base 0x%lx large object of %lu pages)", reason,
               (unsigned long)a, (unsigned long)(uintptr_t)s, (unsigned long)s->base,
               (unsigned long)s->npages);
    else if (s && s != &gh_deadspan)
        expect("goheap: %s: 0x%lx (span 0x%lx base 0x%lx class %u objsize %u)", reason,
               (unsigned long)a, (unsigned long)(uintptr_t)s, (unsigned long)s->base,
               (unsigned)(s->spc >> 1), (unsigned)s->elemsize);
    else
        expect("goheap: %s: 0x%lx", reason, (unsigned long)a);
}

/* Child, non-abort cases: record a failed check (reported by the parent). */
#define CHILD_CHECK(cond, ...)                                                           \
    do {                                                                                 \
        if (!(cond) && child_notes_len < sizeof child_notes - 200)                       \
            child_notes_len += (size_t)snprintf(child_notes + child_notes_len,           \
                sizeof child_notes - child_notes_len, "line %d: %s ", __LINE__, #cond),  \
            child_notes_len += (size_t)snprintf(child_notes + child_notes_len,           \
                sizeof child_notes - child_notes_len, __VA_ARGS__),                      \
            child_notes[child_notes_len++] = '\n';                                       \
    } while (0)

static size_t read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        n += (size_t)r;
    }
    buf[n] = 0;
    return n;
}

/* Echo text into the log as comments, masking the panic prefix so that the KTAP parser
 * does not count an expected panic as a real one. */
static void note_masked(const char *label, const char *text) {
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *f = strstr(line, "goheap: fatal");
        if (f && f < line + len)
            printf("    # %s: %.*sgoheap(fatal)%.*s\n", label, (int)(f - line), line,
                   (int)(len - (size_t)(f - line) - 13), f + 13);
        else
            printf("    # %s: %.*s\n", label, (int)len, line);
        line += len + (end != NULL);
    }
}

/* Runs fn in a fresh child. must_abort: the child must die of SIGABRT after printing
 * exactly FATAL_PREFIX + the message it announced; else it must exit 0 and leave no
 * failed checks. */
static void run_child(const char *name, void (*fn)(void), int must_abort) {
    int ep[2], errp[2], np[2];
    if (pipe(ep) || pipe(errp) || pipe(np)) {
        KT_CHECK(0, "pipe failed");
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(ep[0]), close(errp[0]), close(np[0]);
        dup2(errp[1], 2);
        close(errp[1]);
        expect_fd = ep[1];
        alarm(20);
        fn();
        /* Still alive: a non-abort case reports its notes; an abort case failed. */
        if (expect_fd >= 0)
            close(expect_fd);
        if (write(np[1], child_notes, child_notes_len) < 0)
            _exit(4);
        _exit(child_notes_len ? 1 : 0);
    }
    close(ep[1]), close(errp[1]), close(np[1]);
    char want[600], err[8192], notes[4096];
    read_all(ep[0], want, sizeof want);
    read_all(np[0], notes, sizeof notes);
    read_all(errp[0], err, sizeof err);
    close(ep[0]), close(errp[0]), close(np[0]);
    int st = 0;
    waitpid(pid, &st, 0);

    if (!must_abort) {
        KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child status 0x%x", name, st);
        if (notes[0])
            note_masked("child", notes);
        if (err[0])
            note_masked("stderr", err);
        KT_CHECK(err[0] == 0, "%s: unexpected output on stderr", name);
        return;
    }
    KT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "%s: child status 0x%x, want SIGABRT",
             name, st);
    KT_CHECK(want[0] != 0, "%s: the child announced no message", name);
    /* Exactly one line of stderr must be the expected panic. */
    char line[700];
    const char *msg = want;
    if (strncmp(msg, CORE_PREFIX, strlen(CORE_PREFIX)) == 0)
        msg += strlen(CORE_PREFIX);
    snprintf(line, sizeof line, FATAL_PREFIX "%s\n", msg);
    int found = 0;
    for (const char *p = err; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p + 1) : strlen(p);
        if (len == strlen(line) && memcmp(p, line, len) == 0)
            found = 1;
        p += len;
    }
    if (!found) {
        note_masked("want", line);
        note_masked("got", err[0] ? err : "(nothing)\n");
    }
    KT_CHECK(found, "%s: exact panic message not seen", name);
}

/* Case runners (kt_run_cases): must abort with the exact message / must not abort. */
static void death(const struct kt_case *c) { run_child(c->name, c->fn, 1); }
static void noabort(const struct kt_case *c) { run_child(c->name, c->fn, 0); }

/* ---- heap corruption: each must abort with an exact message ----------------------- */

/* A slot of a small class no other case touches; later slots in its span are unused. */
static void *lone_object(size_t size) {
    void *p = goheap_malloc(size);
    if (!p)
        _exit(5);
    return p;
}

static void double_free_local(void) {
    void *p = lone_object(64);
    goheap_free(p);
    expect_bad_free("double free", p);
    goheap_free(p);
}

/* Remote: allocated on the main thread's cache slot, freed twice by another thread,
 * where the second atomic OR finds the bit already set (pending). */
static void *remote_free_twice(void *p) {
    goheap_free(p);
    expect_bad_free("double free", p);
    goheap_free(p);
    return NULL;
}
static void double_free_remote(void) {
    void *p = lone_object(96);
    pthread_t t;
    pthread_create(&t, NULL, remote_free_twice, p);
    pthread_join(t, NULL);
}

/* Local, then remote: the remote freer finds the slot already free in the owner's
 * maps (gh_span_slot_free) and aborts before its OR. */
static void *remote_free_once(void *p) {
    goheap_free(p);
    return NULL;
}
static void double_free_local_then_remote(void) {
    void *keep = lone_object(112), *p = lone_object(112);
    goheap_free(p);
    expect_bad_free("double free", p);
    pthread_t t;
    pthread_create(&t, NULL, remote_free_once, p);
    pthread_join(t, NULL);
    goheap_free(keep);
}

static int global_object[16];
static void invalid_global(void) {
    expect_bad_free("invalid free of a non-heap pointer", &global_object[4]);
    goheap_free(&global_object[4]);
}

static void invalid_stack(void) {
    volatile char buf[64];
    buf[0] = 1;
    expect_bad_free("invalid free of a non-heap pointer", (void *)&buf[16]);
    goheap_free((void *)&buf[16]);
}

static void misaligned_pointer(void) {
    char *p = lone_object(128);
    expect_bad_free("invalid free of an interior pointer", p + 1);
    goheap_free(p + 1);
}

static void interior_small(void) {
    char *p = lone_object(256);
    expect_bad_free("invalid free of an interior pointer", p + 64);
    goheap_free(p + 64);
}

static void interior_large(void) {
    char *p = lone_object(200000);
    expect_bad_free("invalid free of an interior pointer", p + 8192);
    goheap_free(p + 8192);
}

/* A slot in a live span that was never handed out. The 27264 B class holds 3 objects
 * per 80 KiB span, so the one after a lone object is untouched. The bitmaps only know
 * "free", not "never allocated", so the core reports it as a double free. */
static void never_allocated_slot(void) {
    char *p = lone_object(27264);
    expect_bad_free("double free", p + 27264);
    goheap_free(p + 27264);
}

/* The span was returned to the heap (everything freed, free_os_memory swept it). */
static void free_into_dead_span_small(void) {
    void *p = lone_object(20480);
    goheap_free(p);
    goheap_free_os_memory();
    expect_bad_free("free into a dead span", p);
    goheap_free(p);
}

static void free_into_dead_span_large(void) {
    void *p = lone_object(1 << 20);
    goheap_free(p);
    goheap_free_os_memory();
    expect_bad_free("free into a dead span", p);
    goheap_free(p);
}

/* realloc allocates the new block first and then frees the old one, which is where
 * the freed pointer is caught. */
static void realloc_of_freed(void) {
    void *p = lone_object(48);
    goheap_free(p);
    expect_bad_free("double free", p);
    (void)goheap_realloc(p, 200);
}

/* realloc's own checks name realloc: a freed large block (kept whole in the heap's
 * large span cache, then with its span dead after the caches were drained), a
 * non-heap pointer, an interior one. */
static void realloc_of_freed_large_cached(void) {
    void *keep = lone_object(1 << 20);
    void *p = lone_object(1 << 20);
    goheap_free(p);
    expect_bad_free("realloc of a freed object", p);
    (void)goheap_realloc(p, 200);
    (void)keep;
}
static void realloc_of_freed_large(void) {
    void *keep = lone_object(1 << 20);
    void *p = lone_object(1 << 20);
    goheap_free(p);
    goheap_free_os_memory(); /* the large span caches give the pages back */
    expect_bad_free("realloc of a freed object (dead span)", p);
    (void)goheap_realloc(p, 200);
    (void)keep;
}
static char not_heap[64];
static void realloc_non_heap(void) {
    expect_bad_free("realloc of a non-heap pointer", not_heap);
    (void)goheap_realloc(not_heap, 10);
}
static void realloc_interior(void) {
    char *p = lone_object(100000);
    expect_bad_free("realloc of an interior pointer", p + 8192 * 5);
    (void)goheap_realloc(p + 8192 * 5, 10);
}
/* A small object's interior: found by realloc's checks before it allocates (before,
 * only by the free after the copy: "invalid free of an interior pointer"). */
static void realloc_interior_small(void) {
    char *p = lone_object(256);
    expect_bad_free("realloc of an interior pointer", p + 64);
    (void)goheap_realloc(p + 64, 1000);
}
/* malloc_usable_size: NULL is 0 (glibc); a non-heap pointer aborts naming it. */
static void usable_size_non_heap(void) {
    if (goheap_usable_size(NULL) != 0)
        _exit(5);
    expect_bad_free("usable_size of a non-heap pointer", not_heap);
    (void)goheap_usable_size(not_heap);
}

/* ---- argument errors: no abort, the C standard's answers ----------------------- */

static void calloc_overflow(void) {
    CHILD_CHECK(goheap_calloc(SIZE_MAX / 2 + 2, 2) == NULL, "(SIZE_MAX/2+2) x 2");
    CHILD_CHECK(goheap_calloc((size_t)1 << 32, (size_t)1 << 32) == NULL, "2^32 x 2^32");
    CHILD_CHECK(goheap_calloc(SIZE_MAX, SIZE_MAX) == NULL, "SIZE_MAX^2");
    CHILD_CHECK(goheap_calloc(3, SIZE_MAX / 3 + 1) == NULL, "3 x (SIZE_MAX/3+1)");
}

static void malloc_size_max(void) {
    CHILD_CHECK(goheap_malloc(SIZE_MAX) == NULL, "malloc(SIZE_MAX)");
    CHILD_CHECK(goheap_malloc(SIZE_MAX - 8192) == NULL, "malloc(SIZE_MAX-8192)");
    CHILD_CHECK(goheap_malloc((size_t)1 << 63) == NULL, "malloc(2^63)");
    CHILD_CHECK(goheap_malloc_flags(SIZE_MAX, GOHEAP_ZERO | GOHEAP_NOSCAN) == NULL, "flags");
    void *p = goheap_malloc(10);
    CHILD_CHECK(p != NULL, "malloc still works");
    goheap_free(p);
}

static void aligned_bad_alignment(void) {
    void *p = NULL;
    static const size_t notpow2[] = {0, 3, 24, 48, 4095, 12288, ((size_t)1 << 20) + 16};
    for (unsigned i = 0; i < sizeof notpow2 / sizeof notpow2[0]; i++) {
        size_t a = notpow2[i];
        CHILD_CHECK(goheap_aligned_alloc(a, a ? a * 2 : 16) == NULL, "aligned_alloc(%zu)", a);
        int err = goheap_posix_memalign(&p, a, 64);
        CHILD_CHECK(err == GOHEAP_EINVAL, "posix_memalign(%zu) = %d", a, err);
    }
    for (size_t a = 1; a < sizeof(void *); a <<= 1) { /* below sizeof(void *) */
        int err = goheap_posix_memalign(&p, a, 64);
        CHILD_CHECK(err == GOHEAP_EINVAL, "posix_memalign(%zu) = %d", a, err);
    }
}

static void aligned_huge_alignment(void) {
    void *p = NULL;
    int err = goheap_posix_memalign(&p, (size_t)1 << 62, 64);
    CHILD_CHECK(err == GOHEAP_ENOMEM, "posix_memalign(2^62) = %d", err);
    err = goheap_posix_memalign(&p, (size_t)1 << 63, 64);
    CHILD_CHECK(err == GOHEAP_ENOMEM, "posix_memalign(2^63) = %d", err);
    err = goheap_posix_memalign(&p, 4096, SIZE_MAX - 100);
    CHILD_CHECK(err == GOHEAP_ENOMEM, "posix_memalign(4096, SIZE_MAX-100) = %d", err);
    CHILD_CHECK(goheap_aligned_alloc((size_t)1 << 62, (size_t)1 << 62) == NULL, "aligned_alloc(2^62)");
    CHILD_CHECK(goheap_memalign((size_t)1 << 62, 64) == NULL, "memalign(2^62)");
}

static void reallocarray_overflow(void) {
    unsigned char *p = goheap_malloc(300);
    for (int i = 0; i < 300; i++)
        p[i] = (unsigned char)(i * 7);
    void *q = goheap_reallocarray(p, SIZE_MAX / 8 + 1, 16);
    CHILD_CHECK(q == NULL, "reallocarray overflow returned %p", q);
    q = goheap_reallocarray(p, (size_t)1 << 33, (size_t)1 << 31);
    CHILD_CHECK(q == NULL, "reallocarray 2^33 x 2^31 returned %p", q);
    q = goheap_realloc(p, SIZE_MAX - 64);
    CHILD_CHECK(q == NULL, "realloc(SIZE_MAX-64) returned %p", q);
    int intact = goheap_usable_size(p) >= 300;
    for (int i = 0; i < 300; i++)
        intact &= p[i] == (unsigned char)(i * 7);
    CHILD_CHECK(intact, "the old block changed");
    goheap_free(p); /* and it is still a live, freeable object */
    CHILD_CHECK(goheap_validate() == 0, "validate");
}

static const struct kt_case cases[] = {
    KT_CASE_BY(double_free_local, death),
    KT_CASE_BY(double_free_remote, death),
    KT_CASE_BY(double_free_local_then_remote, death),
    KT_CASE_BY(invalid_global, death),
    KT_CASE_BY(invalid_stack, death),
    KT_CASE_BY(misaligned_pointer, death),
    KT_CASE_BY(interior_small, death),
    KT_CASE_BY(interior_large, death),
    KT_CASE_BY(never_allocated_slot, death),
    KT_CASE_BY(free_into_dead_span_small, death),
    KT_CASE_BY(free_into_dead_span_large, death),
    KT_CASE_BY(realloc_of_freed, death),
    KT_CASE_BY(realloc_of_freed_large_cached, death),
    KT_CASE_BY(realloc_of_freed_large, death),
    KT_CASE_BY(realloc_non_heap, death),
    KT_CASE_BY(realloc_interior, death),
    KT_CASE_BY(realloc_interior_small, death),
    KT_CASE_BY(usable_size_non_heap, death),
    KT_CASE_BY(calloc_overflow, noabort),
    KT_CASE_BY(malloc_size_max, noabort),
    KT_CASE_BY(aligned_bad_alignment, noabort),
    KT_CASE_BY(aligned_huge_alignment, noabort),
    KT_CASE_BY(reallocarray_overflow, noabort),
};

int main(void) {
    /* Warm the heap up in the parent, so children fork from a used allocator. */
    void *warm = goheap_malloc(100);
    goheap_free(warm);
    kt_begin("badinput", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), 0);
}
