/* tests/host/test_core_doublefree.c: the double-free rule across threads (docs/alloc.md
 * "Double frees"): a threaded model run that must never abort, and planted double frees
 * in every order of local and remote frees, each of which must abort with the exact
 * "double free" message. Threads stand in for CPUs (each has its own cache slot). */
#include <pthread.h>
#include <stdatomic.h>

#include "test_core_common.h"

/* ---- the threaded model run ----------------------------------------------------------
 * MODEL_THREADS threads run random ops: malloc, local free, realloc, and a swap with a
 * shared array through which objects pass to other threads (who free them remotely, or
 * keep them and free them later). A shadow set of live addresses catches an address
 * handed out twice at once; every object carries a pattern derived from its id,
 * checked before each free and realloc, which catches a slot reused under a live
 * owner. No double free is planted: the run must not abort. */
enum { MODEL_THREADS = 4, MODEL_OPS = 20000, MODEL_SHARED = 64, MODEL_OWN = 128 };
#define SHADOW_N 65536u /* > 4 threads x 128 owned + 64 shared live objects, load < 1/64 */

struct obj {
    uint64_t id;
    size_t size;
};
static _Atomic(void *) shared[MODEL_SHARED];
static pthread_mutex_t shadow_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t shadow[SHADOW_N]; /* open addressing; 1 = deleted */
static _Atomic uint64_t next_id = 1;
static _Atomic int model_bad;

static unsigned shadow_slot(uintptr_t a) { return (unsigned)((a >> 4) * 0x9E3779B97F4A7C15ull >> 48) % SHADOW_N; }

/* 1 when a was not live (and is now). */
static int shadow_add(uintptr_t a) {
    pthread_mutex_lock(&shadow_lock);
    unsigned i = shadow_slot(a), tomb = SHADOW_N;
    int fresh = 1;
    for (; shadow[i]; i = (i + 1) % SHADOW_N) {
        if (shadow[i] == a) {
            fresh = 0;
            break;
        }
        if (shadow[i] == 1 && tomb == SHADOW_N)
            tomb = i;
    }
    if (fresh)
        shadow[tomb != SHADOW_N ? tomb : i] = a;
    pthread_mutex_unlock(&shadow_lock);
    return fresh;
}

/* 1 when a was live (and is not any more). */
static int shadow_del(uintptr_t a) {
    pthread_mutex_lock(&shadow_lock);
    unsigned i = shadow_slot(a);
    int found = 0;
    for (; shadow[i]; i = (i + 1) % SHADOW_N)
        if (shadow[i] == a) {
            shadow[i] = 1;
            found = 1;
            break;
        }
    pthread_mutex_unlock(&shadow_lock);
    return found;
}

static uint8_t pattern(uint64_t id, size_t i) { return (uint8_t)(id * 131 + i * 7 + 1); }

static void fill(struct obj *o) {
    uint8_t *b = (uint8_t *)o;
    for (size_t i = sizeof *o; i < o->size; i++)
        b[i] = pattern(o->id, i);
}

static int intact(const struct obj *o, size_t upto) {
    const uint8_t *b = (const uint8_t *)o;
    for (size_t i = sizeof *o; i < upto; i++)
        if (b[i] != pattern(o->id, i))
            return 0;
    return 1;
}

static void model_fail(const char *what, const void *p) {
    if (atomic_fetch_add(&model_bad, 1) < 8)
        printf("    # model: %s: %p\n", what, p);
}

static struct obj *model_new(size_t size) {
    struct obj *o = goheap_malloc(size);
    if (!o) {
        model_fail("malloc returned NULL", 0);
        return 0;
    }
    if (!shadow_add((uintptr_t)o))
        model_fail("address handed out while live", o);
    o->id = atomic_fetch_add(&next_id, 1);
    o->size = size;
    fill(o);
    return o;
}

static void model_free(struct obj *o) {
    if (!intact(o, o->size))
        model_fail("object changed under its owner", o);
    if (!shadow_del((uintptr_t)o))
        model_fail("freeing an address that is not live", o);
    goheap_free(o);
}

static const size_t model_sizes[] = {16, 24, 32, 48, 64, 100, 256, 1000, 3000, 9000, 40000};

static void *model_thread(void *arg) {
    uint64_t x = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 12345;
    struct obj *own[MODEL_OWN] = {0};
    for (int op = 0; op < MODEL_OPS; op++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned k = (unsigned)(x >> 40) % MODEL_OWN, r = (unsigned)(x % 100);
        size_t size = model_sizes[(x >> 20) % (sizeof model_sizes / sizeof model_sizes[0])];
        if (r < 35) { /* malloc (a full slot: free the old one locally first) */
            if (own[k])
                model_free(own[k]);
            own[k] = model_new(size);
        } else if (r < 60) { /* local free */
            if (own[k])
                model_free(own[k]), own[k] = 0;
        } else if (r < 75) { /* realloc */
            if (!own[k])
                continue;
            struct obj *o = own[k];
            size_t keep = o->size < size ? o->size : size;
            if (!intact(o, o->size))
                model_fail("object changed before realloc", o);
            /* Out of the shadow first: a moving realloc frees the old address,
             * which another thread may get before realloc returns. */
            if (!shadow_del((uintptr_t)o))
                model_fail("realloc of an address that is not live", o);
            struct obj *n = goheap_realloc(o, size);
            if (!n) {
                model_fail("realloc returned NULL", o);
                continue;
            }
            if (!shadow_add((uintptr_t)n))
                model_fail("realloc returned a live address", n);
            if (!intact(n, keep))
                model_fail("realloc lost the contents", n);
            n->size = size;
            n->id = atomic_fetch_add(&next_id, 1);
            fill(n);
            own[k] = n;
        } else { /* swap with the shared array: objects move between threads */
            struct obj *got = atomic_exchange(&shared[(x >> 8) % MODEL_SHARED], (void *)own[k]);
            own[k] = 0;
            if (got && (x & (1u << 30)))
                model_free(got); /* usually a remote free */
            else
                own[k] = got;   /* freed later by this thread */
        }
    }
    for (int k = 0; k < MODEL_OWN; k++)
        if (own[k])
            model_free(own[k]);
    return 0;
}

static void t_model(void) {
    struct goheap_memstats m0 = core_stats();
    pthread_t t[MODEL_THREADS];
    for (uintptr_t i = 0; i < MODEL_THREADS; i++)
        pthread_create(&t[i], 0, model_thread, (void *)(i + 1));
    for (int i = 0; i < MODEL_THREADS; i++)
        pthread_join(t[i], 0);
    for (int i = 0; i < MODEL_SHARED; i++) {
        struct obj *o = atomic_exchange(&shared[i], 0);
        if (o)
            model_free(o);
    }
    KT_CHECK(atomic_load(&model_bad) == 0, "%d model violations", atomic_load(&model_bad));
    struct goheap_memstats m1 = core_stats();
    KT_CHECK(m1.heap_objects == m0.heap_objects, "live objects %llu before, %llu after",
             (unsigned long long)m0.heap_objects, (unsigned long long)m1.heap_objects);
}

/* ---- planted double frees ------------------------------------------------------------
 * Each runs in a forked child (core_dies_exact), announces the exact message and makes
 * the second free; the order of the two frees is fixed by joins and barriers, so every
 * run takes the same path. The main thread owns the spans it allocates from. */

static void *free_it(void *p) {
    goheap_free(p);
    return 0;
}
static void *free_it_expect(void *p) {
    core_expect_bad_free("double free", p);
    goheap_free(p);
    return 0;
}
/* A remote free by a thread of its own (joined: it happens-before what follows). */
static void remote_free(void *p, int expect_death) {
    pthread_t t;
    pthread_create(&t, 0, expect_death ? free_it_expect : free_it, p);
    pthread_join(t, 0);
}

enum { CLS = 48, PER_SPAN = 8192 / CLS }; /* the issue's class: 170 objects per span */

/* p, then enough objects that p's word is no longer the cached one. */
static void *alloc_then_move_word(void) {
    void *p = goheap_malloc(CLS);
    for (int i = 0; i < 130; i++)
        (void)goheap_malloc(CLS);
    return p;
}

static void dbl_local_local(void) {
    void *p = goheap_malloc(CLS);
    goheap_free(p);
    core_expect_bad_free("double free", p);
    goheap_free(p);
}
static void dbl_local_local_word(void) {
    void *p = alloc_then_move_word();
    goheap_free(p);
    core_expect_bad_free("double free", p);
    goheap_free(p);
}
static void dbl_local_remote(void) {
    void *p = goheap_malloc(CLS);
    goheap_free(p); /* into the current word */
    remote_free(p, 1);
}
static void dbl_local_remote_word(void) {
    void *p = alloc_then_move_word();
    goheap_free(p); /* into freeBits */
    remote_free(p, 1);
}
static void dbl_remote_local(void) { /* the fast path's remoteFree test, current word */
    void *p = goheap_malloc(CLS);
    remote_free(p, 0);
    core_expect_bad_free("double free", p);
    goheap_free(p);
}
static void dbl_remote_local_word(void) {
    void *p = alloc_then_move_word();
    remote_free(p, 0);
    core_expect_bad_free("double free", p);
    goheap_free(p);
}
static void dbl_remote_local_parked(void) {
    void *p = goheap_malloc(CLS);
    for (int i = 0; i < PER_SPAN + 10; i++) /* fill p's span: it is parked, still ours */
        (void)goheap_malloc(CLS);
    remote_free(p, 0);
    core_expect_bad_free("double free", p);
    goheap_free(p);
}
static void dbl_remote_remote(void) {
    void *p = goheap_malloc(CLS);
    remote_free(p, 0);
    remote_free(p, 1); /* the OR's old value */
}
static void dbl_remote_sweep_remote(void) {
    void *keep = goheap_malloc(CLS), *p = goheap_malloc(CLS);
    remote_free(p, 0);
    goheap_flush(); /* uncache: the sweep applies the first free, p is free in freeBits */
    remote_free(p, 1);
    (void)keep;
}
static void dbl_remote_local_load_word(void) {
    /* The remote free is pending on a slot the owner freed before (free in
     * freeBits): the sweep finds it in both maps. */
    void *p = alloc_then_move_word();
    goheap_free(p); /* freeBits */
    pthread_t t;
    /* (a remote free now would abort in the remote freer's own check; reach the
     * load_word check directly by planting the remote bit the way a racing freer
     * that passed its check before this free would have) */
    struct mspan *s = gh_span_of((uintptr_t)p);
    unsigned idx = (unsigned)(((uintptr_t)p - s->base) / s->elemsize);
    atomic_fetch_or(&s->remoteFree[idx / 64], 1ull << (idx % 64)); /* pending (R) */
    (void)t;
    core_expect_bad_free("double free", p);
    goheap_flush(); /* uncache: the sweep sees the remote bit on a free slot */
}
static void dbl_central_remote_remote(void) {
    void *keep = goheap_malloc(CLS), *p = goheap_malloc(CLS);
    goheap_flush(); /* p's span to mcentral: no owner, every free is remote */
    goheap_free(p); /* main's free is remote now too */
    remote_free(p, 1);
    (void)keep;
}

/* A remote second free racing the sweep that applies the first one: its check (the
 * owner's view) is taken before the owner's refill sweeps the first free and makes
 * the word current again, its OR lands after. Thread B takes the view, main refills,
 * then B frees with that view: the freer's re-check after its OR (sweepseq moved)
 * finds the slot free in freeBits with its bit pending. */
static struct mspan *race_s;
static unsigned race_idx;
static int race_view;
static uint32_t race_seq;
static void *race_take_view(void *arg) {
    (void)arg;
    goheap_pin_t pin;
    (void)goheap_sys_pin(&pin);
    race_view = gh_span_slot_view(race_s, race_idx / 64, race_idx % 64, &race_seq);
    goheap_sys_unpin(pin);
    return 0;
}
static void *race_free_with_view(void *p) {
    goheap_free(goheap_malloc(CLS)); /* this thread's cache exists */
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    struct mcache *c = gh_mcache_get(cpu);
    core_expect_bad_free("double free", p);
    gh_free_remote(c ? c : &gh_emptycache, cpu, race_s, race_idx / 64, 1ull << (race_idx % 64),
                   (uintptr_t)p, race_s->spc, race_view, race_seq);
    goheap_sys_unpin(pin);
    return 0;
}
static int race_span_has_room(void) {
    for (unsigned w = 0; w < race_s->nwords; w++)
        if (race_s->freeBits[w])
            return 1;
    return 0;
}
static void race_setup_failed(const char *why) {
    fprintf(stderr, "dbl_remote_raced_sweep: setup failed: %s\n", why);
    _exit(3); /* not the expected death: the test fails */
}
static void dbl_remote_raced_sweep(void) {
    enum { MAXO = 2 * PER_SPAN + 8 };
    static void *objs[MAXO];
    goheap_flush(); /* (earlier runs' remote frees swept: only q's and p's pend below) */
    objs[0] = goheap_malloc(CLS);
    race_s = gh_span_of((uintptr_t)objs[0]);
    /* Fill race_s (main's current span of the class) to its last slot. */
    int n = 1;
    while (n < MAXO && race_span_has_room())
        objs[n++] = goheap_malloc(CLS);
    if (race_span_has_room())
        race_setup_failed("span not full");
    /* q < p in one word, both race_s's: the first frees, remote. */
    void *q = 0, *p = 0;
    for (int i = 0; i < n && !p; i++) {
        if (gh_span_of((uintptr_t)objs[i]) != race_s)
            continue;
        unsigned idx = (unsigned)(((uintptr_t)objs[i] - race_s->base) / race_s->elemsize);
        if (!q)
            q = objs[i], race_idx = idx;
        else if (idx / 64 == race_idx / 64 && idx > race_idx)
            p = objs[i], race_idx = idx;
    }
    if (!p)
        race_setup_failed("no two objects in one word");
    remote_free(q, 0);
    remote_free(p, 0);
    pthread_t t;
    pthread_create(&t, 0, race_take_view, 0); /* B's check: p allocated, pending */
    pthread_join(t, 0);
    if (race_view == GH_SLOT_FREE)
        race_setup_failed("view");
    /* main's refill: sweep (q and p free), p's word current; the malloc takes q or a
     * lower slot, so p stays free. */
    void *r = goheap_malloc(CLS);
    if (r == p || race_s->curword != race_idx / 64 || !(race_s->freeBits[race_idx / 64] & (1ull << (race_idx % 64))))
        race_setup_failed("refill did not sweep and reload p's word");
    pthread_create(&t, 0, race_free_with_view, p); /* B's OR, with the stale view */
    pthread_join(t, 0);
}

/* The span cached by another CPU: main allocates p, gives the span up, thread X takes
 * it over (its next malloc of the class gets the partial span from mcentral). */
static pthread_barrier_t bar;
static void *xp;
static int x_first; /* 1: X frees first (locally, it owns the span), then main */
static void *x_thread(void *arg) {
    (void)arg;
    goheap_flush();               /* (a thread may inherit an exited thread's cache) */
    pthread_barrier_wait(&bar);   /* 0: main gives p's span up after this */
    pthread_barrier_wait(&bar);   /* 1: p's span is first in mcentral's partial list */
    void *q = goheap_malloc(CLS); /* X now caches p's span */
    pthread_barrier_wait(&bar);   /* 2: X owns the span */
    if (x_first)
        goheap_free(xp); /* local to X */
    pthread_barrier_wait(&bar);   /* 3: first free done */
    pthread_barrier_wait(&bar);   /* 4: main's free done */
    if (!x_first) {
        core_expect_bad_free("double free", xp);
        goheap_free(xp); /* local to X, with main's remote free pending */
    }
    pthread_barrier_wait(&bar);
    (void)q;
    return 0;
}
static void cached_elsewhere(int xfirst) {
    x_first = xfirst;
    pthread_barrier_init(&bar, 0, 2);
    pthread_t t;
    pthread_create(&t, 0, x_thread, 0);
    pthread_barrier_wait(&bar); /* 0 */
    void *keep = goheap_malloc(CLS);
    xp = goheap_malloc(CLS);
    goheap_flush(); /* the span (partial) to the front of mcentral's partial list */
    pthread_barrier_wait(&bar); /* 1 */
    pthread_barrier_wait(&bar); /* 2 */
    if ((atomic_load(&gh_span_of((uintptr_t)xp)->owner) & ~GH_OWNER_SLOW) == GH_NO_OWNER)
        _exit(7); /* X did not take the span over: the case would test nothing */
    pthread_barrier_wait(&bar); /* 3 */
    if (xfirst)
        core_expect_bad_free("double free", xp);
    goheap_free(xp); /* remote: X owns the span */
    pthread_barrier_wait(&bar); /* 4 */
    pthread_barrier_wait(&bar);
    pthread_join(t, 0);
    (void)keep;
}
static void dbl_cached_elsewhere_local_remote(void) { cached_elsewhere(1); }
static void dbl_cached_elsewhere_remote_local(void) { cached_elsewhere(0); }

/* A remote freer that found p's span in the span map just before the span died (p
 * freed, its span given back by a flush) makes its free with that stale view. The
 * remote path tests no state of its own: the dead span's rnelems is 0 (stored before
 * its state went DEAD, gh_span_dead; checked here, the child exits 7 otherwise), and
 * once the struct is on its free list its base is the list's link too, so the index
 * test sends the free to the slow path, which names it. */
static struct mspan *dead_s;
static void *dead_p;
static void *free_with_dead_view(void *arg) {
    (void)arg;
    goheap_free(goheap_malloc(16)); /* this thread's slot and cache, before the death */
    pthread_barrier_wait(&bar);     /* 0: main gives p's span back */
    pthread_barrier_wait(&bar);     /* 1: dead */
    core_expect_bad_free("free into a dead span", dead_p);
    goheap_pin_t pin = 0;
    gh_free_other((uintptr_t)dead_p, dead_s, pin);
    return 0;
}
static void dbl_remote_dead_span_view(void) {
    pthread_t t;
    pthread_barrier_init(&bar, 0, 2);
    pthread_create(&t, 0, free_with_dead_view, 0);
    goheap_flush();
    dead_p = goheap_malloc(CLS);
    dead_s = gh_span_of((uintptr_t)dead_p);
    pthread_barrier_wait(&bar); /* 0 */
    goheap_free(dead_p);
    goheap_flush(); /* the empty span goes home */
    if (gh_span_of((uintptr_t)dead_p) != &gh_deadspan || atomic_load(&dead_s->state) != GH_SPAN_DEAD ||
        dead_s->spc < 2 || atomic_load(&dead_s->rnelems) != 0)
        _exit(7); /* p's span did not go home with rnelems 0 (or its struct was reused) */
    pthread_barrier_wait(&bar); /* 1 */
    pthread_join(t, 0);
}

/* A remote freer's re-check on a span struct recycled for another class of its
 * bucket (a correct program: no double free anywhere). The freer of p (slot in word 3
 * of a 32 B span: 4 bitmap words) is preempted after its OR; meanwhile the owner
 * sweeps the span empty, it goes home, its struct comes back as a 48 B span (3 words,
 * the same spanalloc bucket) and that span is swept once (sweepseq 2, even). The
 * freer's re-check (sweepseq moved since its view) then reads its remoteFree word and
 * freeBits word 3 through the old layout: in the 3-word span both are unused words.
 * It must give no verdict. */
static void recycle_recheck(void) {
    enum { N = 4096 };
    static void *objs[N];
    goheap_flush();
    int n = 0;
    objs[n++] = goheap_malloc(32);
    struct mspan *s = gh_span_of((uintptr_t)objs[0]);
    if (s->nwords != 4)
        _exit(7);
    for (;;) { /* fill s to its last slot */
        unsigned w, room = 0;
        for (w = 0; w < s->nwords; w++)
            room |= s->freeBits[w] != 0;
        if (!room || n == N)
            break;
        objs[n++] = goheap_malloc(32);
    }
    void *p = 0;
    unsigned pidx = 0;
    for (int i = 0; i < n && !p; i++) {
        if (gh_span_of((uintptr_t)objs[i]) != s)
            continue;
        unsigned idx = (unsigned)(((uintptr_t)objs[i] - s->base) / s->elemsize);
        if (idx / 64 == 3)
            p = objs[i], pidx = idx, objs[i] = 0;
    }
    if (!p)
        _exit(8);
    /* the freer: its OR (a real remote free), then preempted before its re-check */
    _Atomic uint64_t *rw = &s->remoteFree[pidx / 64];
    remote_free(p, 0);
    for (int i = 0; i < n; i++) /* the rest, by the owner */
        if (objs[i])
            goheap_free(objs[i]);
    goheap_flush(); /* the sweep takes p's bit: s is empty and goes home */
    if (atomic_load(&s->state) != GH_SPAN_DEAD)
        _exit(9);
    /* the struct comes back as a 48 B span (LIFO free list of its bucket) */
    void *q1 = 0, *q2 = 0;
    for (int i = 0; i < N && !q2; i++) {
        void *q = goheap_malloc(48);
        if (gh_span_of((uintptr_t)q) == s)
            q1 ? (void)(q2 = q) : (void)(q1 = q);
    }
    if (!q2 || s->nwords != 3)
        _exit(10);
    remote_free(q1, 0);
    goheap_flush(); /* the new span's first sweep: sweepseq 0 -> 2 */
    if (atomic_load(&s->sweepseq) != 2)
        _exit(11);
    /* the freer resumes: sweepseq moved since its view, so it re-checks */
    gh_span_remote_recheck(s, rw, pidx / 64, 1ull << (pidx % 64), (uintptr_t)p);
    goheap_free(q2);
    _exit(0);
}
/* Runs fn in a child: 1 when it exits 0 (no panic). */
static int core_lives(void (*fn)(void)) {
    char err[4096];
    int st = core_child(fn, err, sizeof err);
    int ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok) {
        for (char *f; (f = strstr(err, "goheap: fatal"));)
            memcpy(f, "goheap(fatal)", 13);
        printf("    # child status 0x%x, stderr: %s\n", st, err[0] ? err : "(nothing)");
    }
    return ok;
}
static void t_recheck_recycled(void) { KT_CHECK(core_lives(recycle_recheck), "recycle_recheck"); }

/* The issue's reproduction: 200,000 objects of 48 B, each freed by a second thread,
 * then by its owner, newest first: the first of the owner's frees hits its current word
 * (the fast path's remoteFree test) and must abort. (Before the fix the owner's frees into
 * its cached word and parked spans all passed, and the first abort came from an
 * object whose span had gone to mcentral.) */
enum { REPRO_N = 200000 };
static void *repro_objs[REPRO_N];
static void *repro_free_all(void *arg) {
    (void)arg;
    for (int i = 0; i < REPRO_N; i++)
        goheap_free(repro_objs[i]);
    return 0;
}
static void dbl_issue_repro(void) {
    for (int i = 0; i < REPRO_N; i++)
        repro_objs[i] = goheap_malloc(48);
    pthread_t t;
    pthread_create(&t, 0, repro_free_all, 0);
    pthread_join(t, 0);
    core_expect_bad_free("double free", repro_objs[REPRO_N - 1]);
    for (int i = REPRO_N - 1; i >= 0; i--)
        goheap_free(repro_objs[i]);
}

/* Tiny objects (docs/alloc.md "Double frees", tiny): a and b fill one 16 B block,
 * c starts the next one, which retires a and b's block with a count of 2. */
static void *ta, *tb, *tc;
static void tiny_setup(void) {
    goheap_flush(); /* a fresh current block */
    ta = goheap_malloc_flags(8, GOHEAP_NOSCAN);
    tb = goheap_malloc_flags(8, GOHEAP_NOSCAN);
    tc = goheap_malloc_flags(8, GOHEAP_NOSCAN);
    if ((uintptr_t)tb != (uintptr_t)ta + 8 || ((uintptr_t)ta & 15))
        _exit(8); /* not the layout the cases assume */
}
static void dbl_tiny_live_block(void) { /* b still live: the count alone would not see it */
    tiny_setup();
    goheap_free(ta);
    core_expect_bad_free("double free of a tiny object", ta);
    goheap_free(ta);
}
static void dbl_tiny_current_block(void) { /* the block is still some CPU's current one */
    tiny_setup();
    goheap_free(tc);
    core_expect_bad_free("double free of a tiny object", tc);
    goheap_free(tc);
}
static void dbl_tiny_remote_local(void) {
    tiny_setup();
    remote_free(tb, 0);
    core_expect_bad_free("double free of a tiny object", tb);
    goheap_free(tb);
}
static void dbl_tiny_dead_block_inner(void) { /* both freed: the block died (slot free) */
    tiny_setup();
    goheap_free(ta);
    goheap_free(tb);
    core_expect_bad_free("double free of a tiny object", tb);
    goheap_free(tb);
}
static void dbl_tiny_dead_block_first(void) { /* the block's first byte: the slot rules */
    tiny_setup();
    goheap_free(ta);
    goheap_free(tb);
    core_expect_bad_free("double free", ta);
    goheap_free(ta);
}
/* The block died by remote frees (its slot's free pending in remoteFree, not swept
 * yet), then a second free of an inner byte: a double free of a tiny object, not an
 * interior pointer of a live 16 B object. */
static void *free_two(void *arg) {
    (void)arg;
    goheap_free(ta);
    goheap_free(tb);
    return 0;
}
static void dbl_tiny_dead_block_remote_inner(void) {
    tiny_setup();
    core_on_thread(free_two, 0); /* the block's count reaches 0 there: a remote free of its slot */
    core_expect_bad_free("double free of a tiny object", tb);
    goheap_free(tb);
}
static void *free_tb_expect(void *arg) {
    (void)arg;
    core_expect_bad_free("double free of a tiny object", tb);
    goheap_free(tb);
    return 0;
}
static void dbl_tiny_dead_block_remote_inner_remote(void) {
    tiny_setup();
    core_on_thread(free_two, 0);
    core_on_thread(free_tb_expect, 0); /* the second free remote too */
}
static void t_planted_tiny(void) {
    DEATH(dbl_tiny_dead_block_remote_inner);
    DEATH(dbl_tiny_dead_block_remote_inner_remote);
    DEATH(dbl_tiny_live_block);
    DEATH(dbl_tiny_current_block);
    DEATH(dbl_tiny_remote_local);
    DEATH(dbl_tiny_dead_block_inner);
    DEATH(dbl_tiny_dead_block_first);
}

static void t_planted_local(void) {
    DEATH(dbl_local_local);
    DEATH(dbl_local_local_word);
}
static void t_planted_local_remote(void) {
    DEATH(dbl_local_remote);
    DEATH(dbl_local_remote_word);
}
static void t_planted_remote_local(void) {
    DEATH(dbl_remote_local);
    DEATH(dbl_remote_local_word);
    DEATH(dbl_remote_local_parked);
    DEATH(dbl_remote_local_load_word);
}
static void t_planted_remote_remote(void) {
    DEATH(dbl_remote_remote);
    DEATH(dbl_remote_sweep_remote);
    DEATH(dbl_remote_raced_sweep);
    DEATH(dbl_remote_dead_span_view);
}
static void t_planted_central_and_elsewhere(void) {
    DEATH(dbl_central_remote_remote);
    DEATH(dbl_cached_elsewhere_local_remote);
    DEATH(dbl_cached_elsewhere_remote_local);
}
static void t_issue_repro(void) { DEATH(dbl_issue_repro); }

static const struct kt_case cases[] = {
    KT_CASE(t_model),
    KT_CASE(t_planted_local),
    KT_CASE(t_planted_local_remote),
    KT_CASE(t_planted_remote_local),
    KT_CASE(t_planted_remote_remote),
    KT_CASE(t_planted_central_and_elsewhere),
    KT_CASE(t_issue_repro),
    KT_CASE(t_planted_tiny),
    KT_CASE(t_recheck_recycled),
};

int main(void) {
    /* No background thread: the planted cases fork children that start threads, which
     * ThreadSanitizer refuses in the child of a multi-threaded process, and t_model's
     * frees can start the thread when the pacing allows (a loaded host made 7 of
     * tsan-test_core_doublefree's cases die that way). Nothing here needs it. */
    if (core_init_no_bg(0) != 0)
        return 1;
    kt_begin("core-doublefree", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
