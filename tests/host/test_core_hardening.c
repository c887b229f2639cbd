/* tests/host/test_core_hardening.c: the double-free matrix for large objects (local
 * and remote, in all four orders, for a size the per-CPU large cache keeps, one the
 * heap's keeps and one neither does), each aborting with the exact message computed
 * from the span's state ("double free" while cached), and
 * the heap under RLIMIT_DATA. Small and tiny objects have their matrix in
 * test_core_doublefree.c. */
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>

#include "test_core_common.h"

#define SANITIZED_BUILD 0
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#undef SANITIZED_BUILD
#define SANITIZED_BUILD 1
#endif
#endif

/* A remote free: by a thread of its own, joined. */
static void *free_it(void *p) {
    goheap_free(p);
    return 0;
}
static void free_remote(void *p) {
    pthread_t t;
    pthread_create(&t, 0, free_it, p);
    pthread_join(t, 0);
}

/* The reason a second free of p must give, from the state its span is in now: kept
 * whole in a large cache -> "double free" (naming the span); pages back in the page
 * heap -> "free into a dead span". The child announces the exact line
 * (core_expect_bad_free) and core_dies_exact checks it. */
static const char *second_free_reason(void *p) {
    struct mspan *s = gh_span_of((uintptr_t)p);
    uint8_t st = s ? atomic_load(&s->state) : 0;
    return s && s != &gh_deadspan && st == GH_SPAN_LCACHED ? "double free" : "free into a dead span";
}

static size_t cur_size;
static int cur_order; /* bit 0: first free remote; bit 1: second free remote */

static void second_free_child(void) {
    void *keep = goheap_malloc(cur_size); /* the heap stays in use around p */
    void *p = goheap_malloc(cur_size);
    if (cur_order & 1)
        free_remote(p);
    else
        goheap_free(p);
    const char *why = second_free_reason(p);
    if ((cur_size <= (GH_HCACHE_PAGES << GOHEAP_PAGE_SHIFT)) != (strcmp(why, "double free") == 0)) {
        printf("    # %zu bytes: freed span not where expected (%s)\n", cur_size, why);
        fflush(stdout);
        _exit(9); /* not the expected death: the case fails */
    }
    printf("    # %s\n", why);
    fflush(stdout);
    core_expect_bad_free(why, p);
    if (cur_order & 2)
        free_remote(p);
    else
        goheap_free(p);
    (void)keep;
}

static void t_large_matrix(void) {
    /* 40 KiB: 5 pages, kept by the per-CPU large cache; 1 MiB: kept by the heap's
     * large cache; 20 MiB: above its bound, straight back. */
    static const size_t sizes[] = {40 << 10, 1 << 20, 20 << 20};
    static const char *orders[] = {"local, local", "remote, local", "local, remote", "remote, remote"};
    for (unsigned i = 0; i < 3; i++)
        for (int o = 0; o < 4; o++) {
            cur_size = sizes[i];
            cur_order = o;
            KT_CHECK(core_dies_exact(second_free_child), "size %zu, frees %s", sizes[i], orders[o]);
        }
}

/* RLIMIT_DATA counts the pages goheap backs (read-write private mappings): the heap
 * grows to the limit, then NULL with errno ENOMEM, objects intact, room after a free. */
static void t_rlimit_data(void) {
    pid_t pid = core_fork();
    if (pid == 0) {
        struct rlimit r;
        getrlimit(RLIMIT_DATA, &r);
        r.rlim_cur = 256u << 20;
        if (setrlimit(RLIMIT_DATA, &r) != 0)
            _exit(2);
        void *p[64];
        unsigned n = 0;
        errno = 0;
        while (n < 64 && (p[n] = goheap_malloc(8u << 20)) != 0) {
            memset(p[n], (int)n, 8u << 20); /* backed for real */
            n++;
        }
        if (n == 64 || n < 8)
            _exit(3);
        for (unsigned i = 0; i < n; i++)
            if (((unsigned char *)p[i])[12345] != (unsigned char)i)
                _exit(4);
        goheap_free(p[n - 1]);
        goheap_free_os_memory();
        if (!goheap_malloc(8u << 20))
            _exit(5);
        printf("    # %u x 8 MiB under RLIMIT_DATA 256 MiB\n", n);
        _exit(goheap_validate() ? 6 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    KT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
}

static const struct kt_case cases[] = {KT_CASE(t_large_matrix), KT_CASE(t_rlimit_data)};

int main(void) {
    /* No background thread: t_large_matrix's children free on threads of their own
     * (docs/testing.md, "Fork children and the background thread"). */
    if (core_init_no_bg(0) != 0)
        return 1;
    goheap_free(goheap_malloc(100)); /* children fork from a used heap */
    kt_begin("core-hardening", KT_NCASES(cases));
    for (int i = 0; i < KT_NCASES(cases); i++) {
        if (SANITIZED_BUILD && cases[i].fn == t_rlimit_data) {
            kt_skip(cases[i].name, "a sanitizer's own mappings do not fit RLIMIT_DATA");
            continue;
        }
        kt_case_failed = 0;
        cases[i].fn();
        kt_case_end(cases[i].name);
    }
    return kt_end();
}
