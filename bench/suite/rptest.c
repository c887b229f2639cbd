/* bench/suite/rptest.c: mixed local and cross-thread frees (after rpmalloc's
 * benchmark). Each thread keeps 4096 objects of 16 B..1 KiB (sizes skewed small) and
 * replaces a random one per step; one old object in four goes, in batches of 32, to
 * the next thread, which frees it; the rest are freed locally. With one thread the
 * batches come back to the thread itself. */
#include "util.h"

#define WS 4096
#define BATCH 32
#define MAXT 64

struct batch {
    struct batch *next;
    unsigned char *obj[BATCH];
};
struct mailbox {
    pthread_mutex_t mu;
    struct batch *head; /* protected by mu */
    char pad[64];
};

static struct mailbox box[MAXT];
static int nthreads;
static long iters;

static uint64_t free_batches(struct batch *b)
{
    uint64_t sum = 0;
    while (b) {
        struct batch *n = b->next;
        for (int i = 0; i < BATCH; i++) {
            sum += b->obj[i][0];
            free(b->obj[i]);
        }
        free(b);
        b = n;
    }
    return sum;
}

static uint64_t take_mail(struct mailbox *m)
{
    pthread_mutex_lock(&m->mu);
    struct batch *b = m->head;
    m->head = NULL;
    pthread_mutex_unlock(&m->mu);
    return free_batches(b);
}

static size_t size_of(uint64_t r)
{
    /* Half the objects 16..128 B, a quarter up to 512 B, a quarter up to 1 KiB. */
    unsigned sel = (unsigned)(r & 3), v = (unsigned)(r >> 8);
    return sel < 2 ? 16 + v % 113 : sel == 2 ? 16 + v % 497 : 16 + v % 1009;
}

static void *worker(void *arg)
{
    long t = (long)arg;
    struct mailbox *next = &box[(t + 1) % nthreads];
    uint64_t seed = 0x8EBC6AF09C88C6E3ULL * (uint64_t)(t + 1), sum = 0;
    unsigned char **ws = xmalloc(WS * sizeof(*ws));
    struct batch *out = NULL;
    int nout = 0;
    for (int k = 0; k < WS; k++) {
        ws[k] = xmalloc(size_of(xorshift64s(&seed)));
        ws[k][0] = (unsigned char)k;
    }
    for (long i = 0; i < iters; i++) {
        uint64_t r = xorshift64s(&seed);
        unsigned k = (unsigned)((r >> 16) % WS);
        sum += ws[k][0];
        if ((r & 3) == 0) { /* to the next thread */
            if (!out) {
                out = xmalloc(sizeof(*out));
                nout = 0;
            }
            out->obj[nout++] = ws[k];
            if (nout == BATCH) {
                pthread_mutex_lock(&next->mu);
                out->next = next->head;
                next->head = out;
                pthread_mutex_unlock(&next->mu);
                out = NULL;
            }
        } else {
            free(ws[k]);
        }
        ws[k] = xmalloc(size_of(xorshift64s(&seed)));
        ws[k][0] = (unsigned char)r;
        if ((i & 255) == 0)
            sum += take_mail(&box[t]);
    }
    if (out) { /* a partial batch is freed here */
        for (int i = 0; i < nout; i++)
            free(out->obj[i]);
        free(out);
    }
    for (int k = 0; k < WS; k++)
        free(ws[k]);
    free(ws);
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    struct bench_args a = bench_parse(argc, argv);
    nthreads = a.threads;
    iters = scaled(4000000, a.scale);
    for (int t = 0; t < nthreads; t++)
        pthread_mutex_init(&box[t].mu, NULL);
    uint64_t sum = run_threads(nthreads, worker);
    for (int t = 0; t < nthreads; t++) /* what was posted after its owner's last look */
        sum += free_batches(box[t].head);
    return bench_done("rptest", sum);
}
