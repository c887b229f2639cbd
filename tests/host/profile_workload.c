/* tests/host/profile_workload.c: a workload with three known allocation sites for the
 * pprof test (test_profile_pprof.sh): site_one, site_two and site_four keep 1 : 2 : 4
 * bytes live (with plain malloc, under LD_PRELOAD), and site_churn allocates and frees
 * as much as all three together (alloc_space only). usage: profile_workload <MiB> */
#include <stdio.h>
#include <stdlib.h>

#define OBJ 1024 /* bytes per object: one size class, no rounding */

static void **keep;
static size_t nkeep;

static __attribute__((noinline)) void site_one(size_t n) {
    for (size_t i = 0; i < n; i++)
        keep[nkeep++] = malloc(OBJ);
}
static __attribute__((noinline)) void site_two(size_t n) {
    for (size_t i = 0; i < 2 * n; i++)
        keep[nkeep++] = malloc(OBJ);
}
static __attribute__((noinline)) void site_four(size_t n) {
    for (size_t i = 0; i < 4 * n; i++)
        keep[nkeep++] = malloc(OBJ);
}
static __attribute__((noinline)) void site_churn(size_t n) {
    for (size_t i = 0; i < 7 * n; i++) {
        char *p = malloc(OBJ);
        __asm__ volatile("" : : "r"(p) : "memory"); /* the compiler may not elide the pair */
        free(p);
    }
}

int main(int argc, char **argv) {
    size_t mib = argc > 1 ? strtoul(argv[1], 0, 10) : 1;
    size_t n = mib * (1u << 20) / OBJ; /* site_one's objects */
    keep = calloc(7 * n, sizeof(void *));
    if (!keep)
        return 1;
    site_one(n);
    site_two(n);
    site_four(n);
    site_churn(n);
    printf("%zu objects kept\n", nkeep);
    return 0; /* the profile is written at exit (memprofile=) */
}
