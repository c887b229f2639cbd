/* bench/lifecycle.c: memory given back without being asked (issue 10's RSS targets),
 * for any allocator under LD_PRELOAD; prints RSS figures, never asserts timings.
 *   classswap N SIZE1 SIZE2  N objects of SIZE1, all freed, then the same bytes in
 *                            SIZE2 objects: RSS after the frees and peak RSS (VmHWM)
 *   churn LIVE_MiB OPS [shift]  random replacement keeping LIVE_MiB live, objects of
 *                            16..4096 bytes log-uniform (shift: 3 octaves at a time,
 *                            the mix moving every OPS/8): final and peak RSS
 *   idle N SECONDS           N objects of 16..512 bytes, all freed, then sleep without
 *                            calling the allocator: RSS right after and after SECONDS */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long status_kib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':')
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static unsigned phase = 99; /* churn shift: the size mix moves every OPS/8 replacements */
static size_t rand_size(void) { /* log-uniform over 16..4096, or 3 octaves by phase */
    unsigned e = phase == 99 ? 4 + (unsigned)(next() % 9) : 4 + (phase + (unsigned)(next() % 3)) % 9;
    size_t lo = (size_t)1 << e;
    return lo + (size_t)(next() % lo) / 2;
}

static void classswap(long n, size_t s1, size_t s2) {
    char **p = malloc(sizeof(char *) * (size_t)n);
    for (long i = 0; i < n; i++) {
        p[i] = malloc(s1);
        memset(p[i], 1, s1);
    }
    long full = status_kib("VmRSS");
    for (long i = 0; i < n; i++)
        free(p[i]);
    long after_free = status_kib("VmRSS");
    long n2 = (long)((size_t)n * s1 / s2);
    char **q = malloc(sizeof(char *) * (size_t)n2);
    for (long i = 0; i < n2; i++) {
        q[i] = malloc(s2);
        memset(q[i], 2, s2);
    }
    printf("classswap n=%ld %zu->%zu: rss_full_kib=%ld rss_after_free_kib=%ld "
           "rss_refilled_kib=%ld peak_kib=%ld\n",
           n, s1, s2, full, after_free, status_kib("VmRSS"), status_kib("VmHWM"));
}

static void churn(long live_mib, long ops, int shift) {
    long cap = live_mib << 16; /* slots: enough for 16 B objects */
    char **p = calloc((size_t)cap, sizeof(char *));
    size_t *sz = calloc((size_t)cap, sizeof(size_t));
    size_t live = 0, want = (size_t)live_mib << 20;
    long n = 0;
    for (long k = 0; k <= ops; k++) {
        phase = shift ? (unsigned)(k / (ops / 8 + 1)) * 2 : 99;
        if (getenv("LIFECYCLE_TRACE") && k % (ops / 32 + 1) == 0)
            fprintf(stderr, "  op %ld phase %u objects %ld rss_kib %ld\n", k, phase, n, status_kib("VmRSS"));
        if (n && k) { /* free one at random, then refill up to the live target */
            long i = (long)(next() % (uint64_t)n);
            live -= sz[i];
            free(p[i]);
            p[i] = p[--n];
            sz[i] = sz[n];
        }
        while (live < want && n < cap) {
            sz[n] = rand_size();
            p[n] = malloc(sz[n]);
            memset(p[n], 3, sz[n]);
            live += sz[n++];
        }
    }
    printf("churn%s live=%ldMiB ops=%ld: rss_kib=%ld peak_kib=%ld\n", shift ? "-shift" : "", live_mib, ops,
           status_kib("VmRSS"), status_kib("VmHWM"));
}

static void idle(long n, int secs) {
    char **p = malloc(sizeof(char *) * (size_t)n);
    for (long i = 0; i < n; i++) {
        size_t s = 16 + (size_t)(next() % 497);
        p[i] = malloc(s);
        memset(p[i], 5, s);
    }
    long full = status_kib("VmRSS");
    for (long i = 0; i < n; i++)
        free(p[i]);
    free(p);
    long after = status_kib("VmRSS");
    fflush(stdout);
    sleep((unsigned)secs);
    printf("idle n=%ld: rss_full_kib=%ld rss_after_free_kib=%ld rss_after_%ds_kib=%ld\n", n, full,
           after, secs, status_kib("VmRSS"));
}

int main(int argc, char **argv) {
    if (argc >= 5 && !strcmp(argv[1], "classswap"))
        classswap(atol(argv[2]), (size_t)atol(argv[3]), (size_t)atol(argv[4]));
    else if (argc >= 4 && !strcmp(argv[1], "churn"))
        churn(atol(argv[2]), atol(argv[3]), argc >= 5 && !strcmp(argv[4], "shift"));
    else if (argc >= 4 && !strcmp(argv[1], "idle"))
        idle(atol(argv[2]), atoi(argv[3]));
    else {
        fprintf(stderr, "usage: lifecycle classswap N S1 S2 | churn LIVE_MiB OPS [shift] | idle N SECS\n");
        return 2;
    }
    return 0;
}
