/* tests/host/hostktap.h: a tiny KTAP emitter for host test binaries.
 * A binary is one suite; each KT_CASE is a leaf case; KT_CHECK records a failure with
 * file:line and keeps going. Output goes to stdout, parsed by tests/ktap.py.
 *
 *   static void t_sizes(void) { KT_CHECK(x == 8, "x=%d", x); }
 *   static const struct kt_case cases[] = { KT_CASE(t_sizes) };
 *   int main(void) {
 *       kt_begin("sizeclasses", KT_NCASES(cases));
 *       return kt_run_cases(cases, KT_NCASES(cases), 0);
 *   }
 */
#ifndef HOSTKTAP_H
#define HOSTKTAP_H
#include <stdarg.h>
#include <stdio.h>

static int kt_num, kt_failed_cases, kt_case_failed;

static inline void kt_begin(const char *suite, int ncases) {
    printf("KTAP version 1\n# Subtest: %s\n1..%d\n", suite, ncases);
    fflush(stdout);
}
static inline void kt_fail_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    printf("    # %s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    kt_case_failed = 1;
}
#define KT_CHECK(cond, ...) \
    do { if (!(cond)) kt_fail_at(__FILE__, __LINE__, "check failed: " #cond " " __VA_ARGS__); } while (0)
static inline void kt_case_end(const char *name) {
    kt_num++;
    printf("%s %d %s\n", kt_case_failed ? "not ok" : "ok", kt_num, name);
    fflush(stdout);
    kt_failed_cases += kt_case_failed;
    kt_case_failed = 0;
}
static inline void kt_skip(const char *name, const char *why) {
    kt_num++;
    printf("ok %d %s # SKIP %s\n", kt_num, name, why);
    fflush(stdout);
}
static inline int kt_end(void) { return kt_failed_cases ? 1 : 0; }

/* A suite's cases as one table: the plan is the table's length, never a hand count.
 *   static const struct kt_case cases[] = { KT_CASE(t_sizes), KT_CASE_BY(t_bad, in_child) };
 *   kt_begin("suite", KT_NCASES(cases)); return kt_run_cases(cases, KT_NCASES(cases), 0);
 * run (KT_CASE_BY) runs a case its own way, e.g. in a child; after, when given, runs
 * after every case (a recount) before the case's verdict is printed. */
struct kt_case {
    const char *name;
    void (*fn)(void);
    void (*run)(const struct kt_case *c);
};
#define KT_CASE(fn) {#fn, fn, 0}
#define KT_CASE_BY(fn, run) {#fn, fn, run}
#define KT_NCASES(tab) ((int)(sizeof(tab) / sizeof((tab)[0])))
static inline int kt_run_cases(const struct kt_case *c, int n, void (*after)(const char *name)) {
    for (int i = 0; i < n; i++) {
        kt_case_failed = 0;
        if (c[i].run)
            c[i].run(&c[i]);
        else
            c[i].fn();
        if (after)
            after(c[i].name);
        kt_case_end(c[i].name);
    }
    return kt_end();
}
#endif
