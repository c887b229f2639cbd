/* tests/host/test_core_common.h: helpers for the core's unit tests (test_core_*.c):
 * every case ends with the stats recount (goheap_validate) and a death-test helper
 * that runs a function in a child and checks the exact panic line. */
#ifndef TEST_CORE_COMMON_H
#define TEST_CORE_COMMON_H
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

/* Run a case, then recount every span against the counters. */
#define CORE_RUN(fn)                                                                   \
    do {                                                                               \
        kt_case_failed = 0;                                                            \
        fn();                                                                          \
        KT_CHECK(goheap_validate() == 0, "stats recount after " #fn);                  \
        kt_case_end(#fn);                                                              \
    } while (0)

static inline struct goheap_memstats core_stats(void) {
    struct goheap_memstats m;
    goheap_read_memstats(&m);
    return m;
}

/* Runs fn in a forked child with stderr captured; returns 1 if the child died by
 * SIGABRT and its stderr contains `expect`. */
static inline int core_dies_with(void (*fn)(void), const char *expect) {
    int pfd[2];
    if (pipe(pfd) != 0)
        return 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], 2);
        fn();
        _exit(0);
    }
    close(pfd[1]);
    char buf[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(pfd[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    int ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(buf, expect) != 0;
    if (!ok)
        printf("    # child status 0x%x, stderr: %s\n", st, buf);
    return ok;
}

#endif
