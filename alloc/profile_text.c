/* alloc/profile_text.c: the heap profile written out (Go's legacy text format, which
 * `go tool pprof` reads) from the profiler's buckets, and the profile requests that
 * ask the platform to write it. The sampling and records are profile.c's. */
#include "profile.h"
#include "core.h"

/* ---- the profile ------------------------------------------------------------------
 * Go's legacy text heap profile, which `go tool pprof` parses (its legacy_profile.go):
 *   heap profile: <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ heap/<2*rate>
 *   <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ 0x<pc> 0x<pc> ...
 * raw sampled counts; "heap/<2*rate>" tells pprof to scale each line by Go's
 * 1 / (1 - exp(-avgsize / rate)) (rate 1: unscaled), exactly as runtime/pprof's own
 * writer does. The platform may append the mappings pprof symbolises with
 * (goheap_sys_profile_maps: /proc/self/maps hosted, the kernel image in the kernel). */

struct pbuf {
    goheap_profile_writer w;
    void *ctx;
    char buf[512];
    size_t n;
    int err;
};

static void pb_flush(struct pbuf *b) {
    if (b->n && !b->err && b->w(b->ctx, b->buf, b->n) != 0)
        b->err = 1;
    b->n = 0;
}

static void pb_str(struct pbuf *b, const char *s) {
    for (; *s; s++) {
        if (b->n == sizeof b->buf)
            pb_flush(b);
        b->buf[b->n++] = *s;
    }
}

static void pb_num(struct pbuf *b, uint64_t v, unsigned base) {
    char t[24];
    int k = 0;
    do {
        unsigned d = (unsigned)(v % base);
        t[k++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    char s[26];
    unsigned i = 0;
    if (base == 16)
        s[i++] = '0', s[i++] = 'x';
    while (k)
        s[i++] = t[--k];
    s[i] = 0;
    pb_str(b, s);
}

static void pb_counts(struct pbuf *b, uint64_t io, uint64_t ib, uint64_t ao, uint64_t ab) {
    pb_num(b, io, 10);
    pb_str(b, ": ");
    pb_num(b, ib, 10);
    pb_str(b, " [");
    pb_num(b, ao, 10);
    pb_str(b, ": ");
    pb_num(b, ab, 10);
    pb_str(b, "] @");
}

static void bucket_read(const struct gh_prof_bucket *bk, uint64_t v[4]) {
    uint64_t ao = __atomic_load_n(&bk->allocs, __ATOMIC_RELAXED);
    uint64_t ab = __atomic_load_n(&bk->alloc_bytes, __ATOMIC_RELAXED);
    uint64_t fo = __atomic_load_n(&bk->frees, __ATOMIC_RELAXED);
    uint64_t fb = __atomic_load_n(&bk->free_bytes, __ATOMIC_RELAXED);
    /* read racily: a free counted before its alloc is seen reads as none in use */
    v[0] = ao > fo ? ao - fo : 0;
    v[1] = ab > fb ? ab - fb : 0;
    v[2] = ao;
    v[3] = ab;
}

static int write_profile_text(struct pbuf *b) {
    struct gh_prof_bucket *all = gh_prof_buckets();
    uint64_t tot[4] = {0};
    for (struct gh_prof_bucket *bk = all; bk; bk = bk->allnext) {
        uint64_t v[4];
        bucket_read(bk, v);
        for (int i = 0; i < 4; i++)
            tot[i] += v[i];
    }
    pb_str(b, "heap profile: ");
    pb_counts(b, tot[0], tot[1], tot[2], tot[3]);
    pb_str(b, " heap/");
    pb_num(b, 2 * gh_prof_rate, 10);
    pb_str(b, "\n");
    for (struct gh_prof_bucket *bk = all; bk; bk = bk->allnext) {
        uint64_t v[4];
        bucket_read(bk, v);
        pb_counts(b, v[0], v[1], v[2], v[3]);
        for (uint32_t i = 0; i < bk->nstk; i++) {
            pb_str(b, " ");
            pb_num(b, bk->stk[i], 16);
        }
        pb_str(b, "\n");
    }
    pb_flush(b);
    return b->err;
}

int goheap_write_heap_profile(goheap_profile_writer w, void *ctx) {
    if (!w)
        return GOHEAP_EINVAL;
    if (!GOHEAP_PROFILE)
        return -1;
    struct pbuf b = {.w = w, .ctx = ctx};
    if (write_profile_text(&b))
        return -1;
#ifdef GOHEAP_SYS_HAVE_PROFILE_MAPS
    if (w(ctx, "\nMAPPED_LIBRARIES:\n", 19) != 0 || goheap_sys_profile_maps(w, ctx) != 0)
        return -1;
#endif
    return 0;
}

void goheap_profile_request(void) { gh_want_work(GH_WORK_PROFILE); }

void gh_prof_run_request(void) {
#ifdef GOHEAP_SYS_HAVE_PROFILE_DUMP
    goheap_sys_profile_dump();
#endif
}
