/* tests/host/test_core_markers.c: sampled objects inside their spans (alloc/profile.c,
 * "markers" and "sampled slots"): a sampled object's slot carries a marker and only its
 * own free leaves the fast paths; the span's lanes and npover name its samples; the
 * owner's and remote frees of sampled and unsampled objects, their double frees, the
 * sweeps that leave markers alone, and a sweep racing the frees of samples. Runs at
 * memprofilerate=1 unless a case says else. */
#include <pthread.h>
#include <unistd.h>

#include "test_core_profile.h"

/* Markers (profile.c): a sampled object's slot is allocated with its remoteFree bit
 * set. */
static int marked(const struct mspan *s, const void *p) {
    unsigned i = (unsigned)gh_span_objindex(s, (uintptr_t)p - s->base);
    uint64_t both = ~s->freeBits[i >> 6] & gh_span_rpend(s, i >> 6, memory_order_seq_cst);
    return (int)((both >> (i & 63)) & 1);
}
/* Markers in s: allocated slots pending that hold a record (quiescent heap). */
static unsigned markers_in(struct mspan *s) {
    unsigned n = 0;
    for (unsigned w = 0; w < s->nwords; w++)
        for (uint64_t b = ~s->freeBits[w] & gh_span_rpend(s, w, memory_order_seq_cst); b; b &= b - 1)
            n += gh_prof_is_sampled(s, s->base + (uintptr_t)(w * 64 + __builtin_ctzll(b)) * s->elemsize) != 0;
    return n;
}

/* A sampled object carries a marker, and its span stays fast for every other object:
 * owner without GH_OWNER_SLOW, rnelems == nelems. The marker stays while the span
 * goes to mcentral (a flush sweeps it) and back, and the object's free takes both
 * its record and its marker. */
static void t_markers(void) {
    void *a = goheap_malloc(48);
    struct mspan *s = gh_span_of((uintptr_t)a);
    KT_CHECK(atomic_load(&s->nsampled) >= 1 && marked(s, a), "the sample's slot is marked");
    uint32_t own = atomic_load(&s->owner);
    KT_CHECK(own != GH_NO_OWNER && !(own & GH_OWNER_SLOW), "owned, not slow: 0x%x", own);
    KT_CHECK(atomic_load(&s->rnelems) == s->nelems, "rnelems %u, nelems %u", (unsigned)atomic_load(&s->rnelems),
             (unsigned)s->nelems);
    goheap_flush(); /* uncache: swept, filed in mcentral */
    KT_CHECK(marked(s, a) && gh_prof_is_sampled(s, (uintptr_t)a), "the marker and the record survive the sweep");
    void *b = goheap_malloc(48); /* a refill: maybe the same span again */
    KT_CHECK(marked(s, a), "and the refill");
    KT_CHECK(goheap_validate() == 0, "validate");
    struct gh_prof_counts c0 = counts();
    goheap_free(a);
    goheap_free(b);
    KT_CHECK(counts().records == c0.records - 2, "both frees found their records");
    KT_CHECK(goheap_validate() == 0, "validate after");
}

/* The owner's fast path frees a sampled object through its double-free exit
 * (gh_free_owned_bad): the record and the marker go, the slot is freed as any local
 * free (lfree), and the span's owner never changes. A second free is a double free. */
static void t_marker_owner_free(void) {
    void *a = goheap_malloc(48), *b = goheap_malloc(48);
    struct mspan *s = gh_span_of((uintptr_t)a);
    KT_CHECK(gh_span_of((uintptr_t)b) == s, "both in the current span");
    uint32_t own = atomic_load(&s->owner);
    unsigned ns = atomic_load(&s->nsampled);
    uint64_t lf = s->lfree;
    struct gh_prof_counts c0 = counts();
    goheap_free(a);
    KT_CHECK(counts().records == c0.records - 1 && atomic_load(&s->nsampled) == ns - 1, "a's record went");
    KT_CHECK(s->lfree == lf + 1 && !marked(s, a), "a freed locally, its marker gone (lfree %lu -> %lu)",
             (unsigned long)lf, (unsigned long)s->lfree);
    unsigned ia = (unsigned)gh_span_objindex(s, (uintptr_t)a - s->base);
    KT_CHECK(((s->freeBits[ia >> 6] >> (ia & 63)) & 1) && !((gh_span_rpend(s, ia >> 6, memory_order_seq_cst) >> (ia & 63)) & 1),
             "a's slot free, nothing pending");
    KT_CHECK(atomic_load(&s->owner) == own && marked(s, b), "owner unchanged, b still marked");
    goheap_free(b);
    KT_CHECK(counts().records == c0.records - 2 && atomic_load(&s->owner) == own, "b's record went");
    KT_CHECK(goheap_validate() == 0, "validate");
}

static int lanes_used(const struct mspan *s) {
    uint64_t l = atomic_load(&s->psamp);
    int n = 0;
    for (int i = 0; i < GH_PROF_LANES; i++)
        n += ((l >> (16 * i)) & 0xffff) != 0;
    return n;
}

/* Sampled slots (profile.c): a span names its sampled objects in GH_PROF_LANES lanes,
 * the rest in npover, and marks each; frees of its other objects take the fast paths
 * and leave every record alone; the sampled ones' frees drop exactly theirs, lane or
 * not. N objects of one class in one fresh span, every third sampled (7 > 4 lanes). */
enum { SLOT_N = 21, SLOT_CLS = 96 };
static void *slot_obj[SLOT_N];
/* n objects of SLOT_CLS in one fresh span, every `every`-th sampled (the first one
 * always); returns the span. */
static struct mspan *sampled_span(void **objs, int n, int every) {
    goheap_flush(); /* the next malloc of the class refills: a fresh current span */
    for (int i = 0; i < n; i++) {
        sample_next(i % every == 0);
        objs[i] = goheap_malloc(SLOT_CLS);
    }
    sample_next(1); /* back to every allocation, as the other cases expect */
    return gh_span_of((uintptr_t)objs[0]);
}
static struct mspan *slots_setup(void) { return sampled_span(slot_obj, SLOT_N, 3); }
/* p freed, then freed again: the second free must panic "double free" naming p. */
static void free_twice(void *p) {
    goheap_free(p);
    core_expect_bad_free("double free", p);
    goheap_free(p);
}
static void slots_check(struct mspan *s, unsigned nsampled, const char *when) {
    KT_CHECK(atomic_load(&s->nsampled) == nsampled, "%s: nsampled %u, want %u", when,
             (unsigned)atomic_load(&s->nsampled), nsampled);
    KT_CHECK(lanes_used(s) + atomic_load(&s->npover) == nsampled, "%s: %d lanes + %u over != %u", when,
             lanes_used(s), (unsigned)atomic_load(&s->npover), nsampled);
    /* one marker per sampled object; the span's other objects keep the fast paths:
     * the remote free's bound stays nelems, the owner stays fast */
    KT_CHECK(markers_in(s) == nsampled, "%s: %u markers with %u sampled", when, markers_in(s), nsampled);
    KT_CHECK(atomic_load(&s->rnelems) == s->nelems && !(atomic_load(&s->owner) & GH_OWNER_SLOW),
             "%s: rnelems %u, owner 0x%x", when, (unsigned)atomic_load(&s->rnelems), atomic_load(&s->owner));
    KT_CHECK(goheap_validate() == 0, "%s: validate", when);
}

static void t_sampled_slots(void) {
    struct gh_prof_counts c0 = counts();
    struct mspan *s = slots_setup();
    for (int i = 1; i < SLOT_N; i++)
        KT_CHECK(gh_span_of((uintptr_t)slot_obj[i]) == s, "object %d in the first one's span", i);
    KT_CHECK(counts().records == c0.records + 7, "7 sampled, %lu", (unsigned long)(counts().records - c0.records));
    slots_check(s, 7, "allocated");
    KT_CHECK(lanes_used(s) == GH_PROF_LANES && atomic_load(&s->npover) == 3, "lanes full, 3 over");
    uint32_t own = atomic_load(&s->owner);
    KT_CHECK(own != GH_NO_OWNER, "owned: 0x%x", own);
    /* The unsampled ones, newest first: none touches a record. */
    for (int i = SLOT_N - 1; i >= 0; i--)
        if (i % 3) {
            uint64_t lf = s->lfree;
            goheap_free(slot_obj[i]);
            KT_CHECK(counts().records == c0.records + 7, "unsampled free %d kept the records", i);
            KT_CHECK(s->lfree == lf + 1, "unsampled free %d: the owner's local free", i);
        }
    slots_check(s, 7, "unsampled freed");
    /* The sampled ones: a lane's, an overflow one's, then the rest. */
    static const int order[] = {3, 18, 0, 15, 9, 6, 12};
    for (int k = 0; k < 7; k++) {
        KT_CHECK(site(slot_obj[order[k]], 0, 0) > 0, "object %d has its record", order[k]);
        goheap_free(slot_obj[order[k]]);
        KT_CHECK(counts().records == c0.records + 6 - k, "sampled free %d dropped one record", order[k]);
        slots_check(s, 6 - k, "sampled freed");
    }
    KT_CHECK(atomic_load(&s->psamp) == 0 && atomic_load(&s->owner) == own, "lanes empty, owner 0x%x",
             atomic_load(&s->owner));
}

/* The same from another thread: remote frees of a marked span's objects. */
static void *free_unsampled(void *arg) {
    (void)arg;
    for (int i = 0; i < SLOT_N; i++)
        if (i % 3)
            goheap_free(slot_obj[i]);
    return 0;
}
static void *free_sampled(void *arg) {
    (void)arg;
    for (int i = 0; i < SLOT_N; i += 3)
        goheap_free(slot_obj[i]);
    return 0;
}
static void t_sampled_slots_remote(void) {
    struct gh_prof_counts c0 = counts();
    struct mspan *s = slots_setup();
    core_on_thread(free_unsampled, 0);
    KT_CHECK(counts().records == c0.records + 7, "remote unsampled frees kept the records");
    slots_check(s, 7, "remote unsampled freed");
    core_on_thread(free_sampled, 0);
    KT_CHECK(counts().records == c0.records, "remote sampled frees dropped theirs");
    slots_check(s, 0, "remote sampled freed");
}

/* A double free in a span holding samples, on the owner (the fast path's double-free
 * exit, then the record lookup: npover > 0 here), is still one: an unsampled
 * object's second free, and a sampled one's (no record the second time). */
static void dbl_marked_unsampled(void) {
    slots_setup();
    free_twice(slot_obj[4]);
}
static void dbl_marked_sampled(void) {
    slots_setup();
    free_twice(slot_obj[6]);
}
static void t_sampled_slots_double_free(void) {
    DEATH(dbl_marked_unsampled);
    DEATH(dbl_marked_sampled);
}

/* The owner's frees into its own span holding one sample (npover 0): the others take
 * the fast path (the owner's local free, no record touched, the owner unchanged), the
 * sample its double-free exit (free.c gh_free_owned_bad), which drops the record; a
 * second free and an interior pointer there panic as on the fast path. */
enum { MARKED_N = 8 };
static void *marked_obj[MARKED_N];
static struct mspan *marked_setup(void) {
    return sampled_span(marked_obj, MARKED_N, MARKED_N); /* the first one only */
}
static void t_owned_marked_route(void) {
    struct gh_prof_counts c0 = counts();
    struct mspan *s = marked_setup();
    for (int i = 1; i < MARKED_N; i++)
        KT_CHECK(gh_span_of((uintptr_t)marked_obj[i]) == s, "object %d in the first one's span", i);
    KT_CHECK(atomic_load(&s->nsampled) == 1 && atomic_load(&s->npover) == 0, "one sample in a lane");
    KT_CHECK(counts().records == c0.records + 1, "one record");
    uint32_t own = atomic_load(&s->owner);
    KT_CHECK(own != GH_NO_OWNER && !(own & GH_OWNER_SLOW) && marked(s, marked_obj[0]), "owned, fast, marked: 0x%x",
             own);
    for (int i = 1; i < MARKED_N; i++) {
        uint64_t lf = s->lfree;
        goheap_free(marked_obj[i]);
        KT_CHECK(s->lfree == lf + 1, "object %d: the owner's local free (lfree %lu -> %lu)", i,
                 (unsigned long)lf, (unsigned long)s->lfree);
        KT_CHECK(atomic_load(&s->owner) == own, "object %d: owner unchanged", i);
    }
    KT_CHECK(counts().records == c0.records + 1, "the record stays");
    KT_CHECK(goheap_validate() == 0, "validate");
    goheap_free(marked_obj[0]);
    KT_CHECK(counts().records == c0.records, "the sample's free drops its record");
    KT_CHECK(goheap_validate() == 0, "validate");
}
static void dbl_owned_marked(void) {
    marked_setup();
    free_twice(marked_obj[3]);
}
static void interior_owned_marked(void) {
    marked_setup();
    core_expect_bad_free("invalid free of an interior pointer", (char *)marked_obj[3] + 8);
    goheap_free((char *)marked_obj[3] + 8);
}
static void t_owned_marked_bad(void) {
    DEATH(dbl_owned_marked);
    DEATH(interior_owned_marked);
}

/* Another thread's frees into that span (one sample, npover 0): the remote fast path
 * (free.c gh_free_other: rnelems is nelems) for the others, no record lookup. The
 * record stays, the frees wait in remoteFree for the owner beside the sample's
 * marker, and a second free of one of them panics "double free" as any remote double
 * free does. */
static void t_remote_marked_route(void) {
    struct gh_prof_counts c0 = counts();
    struct mspan *s = marked_setup();
    KT_CHECK(atomic_load(&s->nsampled) == 1 && atomic_load(&s->npover) == 0 && atomic_load(&s->rnelems) == s->nelems,
             "one sample in a lane, rnelems nelems");
    struct core_frees others = {marked_obj, 1, MARKED_N};
    core_on_thread(core_free_range, &others);
    KT_CHECK(counts().records == c0.records + 1, "the record stays");
    unsigned pending = 0;
    for (unsigned w = 0; w < s->nwords; w++)
        pending += (unsigned)__builtin_popcountll(gh_span_rpend(s, w, memory_order_seq_cst));
    KT_CHECK(pending == MARKED_N && markers_in(s) == 1, "%u remote frees and markers pending, want %d", pending,
             MARKED_N);
    KT_CHECK(goheap_validate() == 0, "validate");
    goheap_free(marked_obj[0]);
    KT_CHECK(counts().records == c0.records, "the sample's free drops its record");
    KT_CHECK(goheap_validate() == 0, "validate");
}
static void *free_marked_twice(void *arg) {
    (void)arg;
    goheap_free(marked_obj[2]);
    core_expect_bad_free("double free", marked_obj[2]);
    goheap_free(marked_obj[2]);
    return 0;
}
static void dbl_remote_marked(void) {
    marked_setup();
    core_on_thread(free_marked_twice, 0);
}
static void t_remote_marked_bad(void) { DEATH(dbl_remote_marked); }

/* A sweep takes the pending remote frees and leaves the markers: the span of
 * t_sampled_slots (7 samples, 3 of them in npover, so the sweep looks the records up
 * under the profile lock), its unsampled objects freed by another thread, then
 * swept by a flush (uncache). The samples stay allocated and marked with their
 * records; the unsampled slots are free; then, after a refill of the class (which
 * may take the swept span back, samples and all), the samples' frees drop their
 * records. */
static void t_marker_sweep(void) {
    struct gh_prof_counts c0 = counts();
    struct mspan *s = slots_setup();
    core_on_thread(free_unsampled, 0);
    goheap_flush(); /* the owner's uncache sweeps */
    for (int i = 0; i < SLOT_N; i++) {
        unsigned j = (unsigned)gh_span_objindex(s, (uintptr_t)slot_obj[i] - s->base);
        int alloc = !((s->freeBits[j >> 6] >> (j & 63)) & 1);
        if (i % 3 == 0)
            KT_CHECK(alloc && marked(s, slot_obj[i]) && site(slot_obj[i], 0, 0) > 0, "sample %d kept", i);
        else
            KT_CHECK(!alloc, "unsampled %d swept free", i);
    }
    slots_check(s, 7, "swept");
    void *fresh = goheap_malloc(SLOT_CLS); /* the refill (sampled too: rate 1) */
    for (int i = 0; i < SLOT_N; i += 3)
        goheap_free(slot_obj[i]);
    KT_CHECK(counts().records == c0.records + 1, "the samples' records went (%lu left, the new object's one)",
             (unsigned long)(counts().records - c0.records));
    KT_CHECK(goheap_validate() == 0, "validate");
    goheap_free(fresh);
}

/* A tiny span's lanes hold byte offsets, not slots, so its sweeps take every pending
 * block (a tiny span has no markers: mspan.h gh_span_nmarkers). A live sampled tiny
 * object at byte offset o, and every object of block o (its slot index the same
 * number) freed by another thread: the flush's sweep frees that block. Read as a
 * marker, the block stayed pending while the sample lived. */
enum { TINY_MAX = 1 << 16 };
static void *tiny_obj[TINY_MAX];
static struct core_frees tiny_block_frees;
static void t_tiny_sweep(void) {
    /* unsampled 1-byte objects until the next one's offset is past block 0 and inside
     * its block (the sample then lands there, and block o is another block) */
    sample_next(0);
    int n = 0, inblock = 0;
    for (uintptr_t x = 0; n < 4096; n++) {
        tiny_obj[n] = goheap_malloc_flags(1, GOHEAP_NOSCAN);
        struct mspan *f = gh_span_of((uintptr_t)tiny_obj[n]);
        x = (uintptr_t)tiny_obj[n] - f->base;
        if (x >= 20 && x < 200 && (x & 15) != 15) {
            n++;
            break;
        }
    }
    sample_next(1);
    void *kept = goheap_malloc_flags(1, GOHEAP_NOSCAN); /* the sample */
    struct mspan *s = gh_span_of((uintptr_t)kept);
    uintptr_t o = (uintptr_t)kept - s->base, blo = s->base + 16 * o;
    KT_CHECK(s->spc == GH_TINY_SPC && atomic_load(&s->nsampled) == 1 && o >= 16 && o < s->nelems,
             "tiny sample at offset %lu of %u blocks", (unsigned long)o, (unsigned)s->nelems);
    /* then unsampled ones until block o is full of them and left behind */
    sample_next(0);
    int past = 0; /* (and one more, so that block o is no longer the current tiny block) */
    while (n < TINY_MAX && !past) {
        tiny_obj[n] = goheap_malloc_flags(1, GOHEAP_NOSCAN);
        inblock += (uintptr_t)tiny_obj[n] - blo < 16;
        past = inblock == 16 && (uintptr_t)tiny_obj[n] - blo >= 16;
        n++;
    }
    sample_next(1);
    KT_CHECK(inblock == 16, "block %lu holds 16 of the objects (%d of %d)", (unsigned long)o, inblock, n);
    /* block o's objects to the front, then freed by another thread */
    int k = 0;
    for (int i = 0; i < n; i++)
        if ((uintptr_t)tiny_obj[i] - blo < 16) {
            void *t = tiny_obj[k];
            tiny_obj[k++] = tiny_obj[i];
            tiny_obj[i] = t;
        }
    tiny_block_frees = (struct core_frees){tiny_obj, 0, k};
    core_on_thread(core_free_range, &tiny_block_frees);
    KT_CHECK(gh_span_rpend(s, (unsigned)(o >> 6), memory_order_seq_cst) >> (o & 63) & 1, "block %lu pending",
             (unsigned long)o);
    goheap_flush(); /* the owner's uncache sweeps */
    KT_CHECK(!(gh_span_rpend(s, (unsigned)(o >> 6), memory_order_seq_cst) >> (o & 63) & 1) &&
                 (s->freeBits[o >> 6] >> (o & 63) & 1),
             "block %lu swept free while the sample at offset %lu lives", (unsigned long)o, (unsigned long)o);
    for (int i = k; i < n; i++)
        goheap_free(tiny_obj[i]);
    goheap_free(kept);
    KT_CHECK(goheap_validate() == 0, "validate");
}

/* Markers under concurrency: one thread allocates objects, every one sampled (this
 * file runs at memprofilerate=1), and hands them over; the other frees them (remote
 * frees of sampled objects: the record, the marker off, the OR) while the first
 * keeps allocating, so its refills sweep the very spans being freed into (a sweep
 * racing the marker's removal must neither take a marker nor leave a free behind).
 * At the end every record is gone and the heap validates: a marker taken by a sweep
 * would have freed a live object (the validator's double free or a record left), one
 * left behind a slot that never comes back (live counts). */
enum { RACE_N = 4096, RACE_ROUNDS = 24 };
static void *race_obj[RACE_N];
static _Atomic int race_ready;
static void *race_freer(void *arg) {
    (void)arg;
    for (int r = 0; r < RACE_ROUNDS; r++) {
        while (atomic_load(&race_ready) <= r)
            ;
        for (int i = 0; i < RACE_N; i++)
            goheap_free(race_obj[i]);
        atomic_store(&race_ready, -(r + 1)); /* consumed */
    }
    return 0;
}
static void t_marker_race(void) {
    struct gh_prof_counts c0 = counts();
    atomic_store(&race_ready, 0);
    pthread_t t;
    pthread_create(&t, 0, race_freer, 0);
    void *keep[256];
    for (int r = 0; r < RACE_ROUNDS; r++) {
        for (int i = 0; i < RACE_N; i++)
            race_obj[i] = goheap_malloc(16 + (size_t)(i % 40) * 16);
        atomic_store(&race_ready, r + 1);
        /* allocate meanwhile (refills and their sweeps), then free locally */
        for (int i = 0; i < 256; i++)
            keep[i] = goheap_malloc(16 + (size_t)(i % 40) * 16);
        for (int i = 0; i < 256; i++)
            goheap_free(keep[i]);
        while (atomic_load(&race_ready) != -(r + 1))
            ;
    }
    pthread_join(t, 0);
    goheap_flush();
    KT_CHECK(counts().records == c0.records, "records left: %ld", (long)(counts().records - c0.records));
    KT_CHECK(goheap_validate() == 0, "validate");
}

/* A sweep racing a sample's mark (mspan.c gh_span_sweep_remote_words, the exchange
 * branch): the sweep reads nsampled 0, the mark completes and malloc returns the
 * object, the sweep's exchange takes its marker, the program frees the object, and
 * only then does the sweep re-read nsampled and put the "marker" back
 * (gh_prof_sweep_restore). A free whose remote OR finds the bit set is a plain free
 * (the record stays: freed for the program, a live sample for the allocator for
 * good); a free by a thread without a cache (this one) drops the record first, and
 * the restore, finding nsampled 0, frees the slot under the free's pending bit (the
 * validator: "double free ... with a remote free pending", the class's counts off).
 * With mark_settle (profile.c) malloc returns the object only after the sweep. A thread replays the sweep step by step on the
 * span (what another CPU does to a span that left the marking CPU's cache between
 * the allocation and the mark: an overflow slot's sharer, a flush); it waits up to
 * 300 ms for the object's free before its restore. */
static struct mspan *rr_span;
static void *_Atomic rr_obj;
static _Atomic int rr_phase; /* 1 sweep open, nsampled read 0; 2 exchanged; 3 object freed; 4 sweep done */
static void *rr_sweeper(void *arg) {
    (void)arg;
    struct mspan *s = rr_span;
    goheap_pin_t pin;
    unsigned cpu = goheap_sys_pin(&pin);
    atomic_store(&s->sweepseq, atomic_load(&s->sweepseq) + 1); /* odd: a sweep runs */
    int n0 = (int)gh_span_nmarkers(s);                         /* 0: the exchange branch */
    atomic_store(&rr_phase, 1);
    /* the mark lands meanwhile (nsampled, then the marker) */
    uint64_t pend = 0;
    for (int k = 0; k < 200000 && !pend; k++) {
        for (unsigned w = 0; w < s->nwords; w++)
            pend |= gh_span_rpend(s, w, memory_order_seq_cst);
        if (!pend)
            usleep(10);
    }
    uint64_t r[GH_MAX_WORDS];
    for (unsigned w = 0; w < s->nwords; w++)
        r[w] = atomic_exchange_explicit(&s->remoteFree[w], 0, memory_order_acq_rel);
    atomic_store(&rr_phase, 2);
    for (int ms = 0; ms < 300 && atomic_load(&rr_phase) != 3; ms++)
        usleep(1000);
    for (unsigned w = 0; w < s->nwords; w++) {
        if (r[w] && gh_span_nmarkers(s))
            r[w] = gh_prof_sweep_restore(s, w, r[w], cpu);
        KT_CHECK(!(r[w] & s->freeBits[w]), "sweep: a pending bit on a free slot (double free)");
        s->freeBits[w] |= r[w];
    }
    atomic_store(&s->sweepseq, atomic_load(&s->sweepseq) + 1); /* even: done */
    goheap_sys_unpin(pin);
    KT_CHECK(n0 == 0 && pend, "replay: nsampled %d at the sweep's start, marker seen %d", n0, pend != 0);
    atomic_store(&rr_phase, 4);
    return 0;
}
static void *rr_free_obj(void *arg) {
    (void)arg;
    goheap_free(atomic_load(&rr_obj));
    return 0;
}
static void t_sweep_restore_race(void) {
    struct gh_prof_counts c0 = counts();
    goheap_flush();
    sample_next(0);
    void *y = goheap_malloc(SLOT_CLS); /* unsampled: the span has no sample yet */
    rr_span = gh_span_of((uintptr_t)y);
    atomic_store(&rr_phase, 0);
    pthread_t t;
    pthread_create(&t, 0, rr_sweeper, 0);
    while (atomic_load(&rr_phase) < 1)
        ;
    sample_next(1);
    void *x = goheap_malloc(SLOT_CLS); /* sampled: the mark, then malloc returns */
    atomic_store(&rr_obj, x);
    KT_CHECK(gh_span_of((uintptr_t)x) == rr_span, "x in the swept span");
    while (atomic_load(&rr_phase) < 2)
        ;
    if (atomic_load(&rr_phase) == 2) { /* the sweep has not restored yet: the program frees x */
        core_on_thread(rr_free_obj, 0);
        atomic_store(&rr_phase, 3);
    } else {
        core_on_thread(rr_free_obj, 0);
    }
    pthread_join(t, 0);
    KT_CHECK(site(x, 0, 0) == 0, "x freed: its record went (records %lu over)",
             (unsigned long)(counts().records - c0.records));
    KT_CHECK(goheap_validate() == 0, "validate");
    goheap_free(y);
}

int main(void) {
    /* No background thread: t_remote_marked_bad's child frees on a thread of its own
     * (docs/testing.md, "Fork children and the background thread"). */
    if (core_init_no_bg("memprofilerate=1") != 0)
        return 1;
    static const struct kt_case cases[] = {
        KT_CASE(t_markers),          KT_CASE(t_marker_owner_free),      KT_CASE(t_sampled_slots),
        KT_CASE(t_sampled_slots_remote), KT_CASE(t_sampled_slots_double_free), KT_CASE(t_owned_marked_route),
        KT_CASE(t_owned_marked_bad), KT_CASE(t_remote_marked_route),    KT_CASE(t_remote_marked_bad),
        KT_CASE(t_marker_sweep),     KT_CASE(t_marker_race),            KT_CASE(t_tiny_sweep), KT_CASE(t_sweep_restore_race),
    };
    kt_begin("core-markers", KT_NCASES(cases));
    return kt_run_cases(cases, KT_NCASES(cases), core_recount);
}
