/* bench/suite/xmalloc.c: producer/consumer (after xmalloc-test). Each thread allocates
 * batches of 64 objects and posts them to the next thread's mailbox, then frees the
 * batches posted to its own; with 2+ threads every free is a remote free. With one
 * thread the mailbox is its own and the frees are local. */
#include <sched.h>
#include "util.h"

#define BATCH 64
#define MAXQ 32 /* batches a mailbox may hold before the producer waits */
#define MAXT 64

struct batch {
    struct batch *next;
    unsigned char *obj[BATCH];
};
struct mailbox {
    pthread_mutex_t mu;
    struct batch *head; /* protected by mu */
    int count;          /* protected by mu */
    char pad[64];
};

static struct mailbox box[MAXT];
static int nthreads;
static long batches;
static int producers_done; /* atomic: threads that have posted all their batches */

static uint64_t drain(struct mailbox *m)
{
    uint64_t sum = 0;
    pthread_mutex_lock(&m->mu);
    struct batch *b = m->head;
    m->head = NULL;
    m->count = 0;
    pthread_mutex_unlock(&m->mu);
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

static void *worker(void *arg)
{
    long t = (long)arg;
    uint64_t seed = 0xA0761D6478BD642FULL * (uint64_t)(t + 1), sum = 0;
    struct mailbox *mine = &box[t], *next = &box[(t + 1) % nthreads];
    for (long i = 0; i < batches; i++) {
        struct batch *b = xmalloc(sizeof(*b));
        for (int j = 0; j < BATCH; j++) {
            size_t sz = rng_range(&seed, 16, 256);
            b->obj[j] = xmalloc(sz);
            b->obj[j][0] = (unsigned char)j;
        }
        for (;;) {
            pthread_mutex_lock(&next->mu);
            int full = next->count >= MAXQ;
            if (!full) {
                b->next = next->head;
                next->head = b;
                next->count++;
            }
            pthread_mutex_unlock(&next->mu);
            if (!full)
                break;
            sum += drain(mine);
            sched_yield();
        }
        sum += drain(mine);
    }
    /* Keep consuming until every producer is done, so none waits on a full mailbox
     * whose owner has left. */
    __atomic_add_fetch(&producers_done, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&producers_done, __ATOMIC_SEQ_CST) < nthreads) {
        sum += drain(mine);
        sched_yield();
    }
    return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
    struct bench_args a = bench_parse(argc, argv);
    nthreads = a.threads;
    batches = scaled(150000, a.scale);
    for (int t = 0; t < nthreads; t++)
        pthread_mutex_init(&box[t].mu, NULL);
    uint64_t sum = run_threads(nthreads, worker);
    for (int t = 0; t < nthreads; t++)
        sum += drain(&box[t]);
    return bench_done("xmalloc", sum);
}
