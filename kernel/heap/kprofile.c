/* kernel/heap/kprofile.c: the heap profile over the console (docs/profiling.md,
 * "Kernel"): goheap_write_heap_profile's text in numbered base64 frames between a begin
 * line and an end line carrying its length and CRC-32 (kheap.h has the format). */
#include <goheap.h>
#include <percpu.h>
#include <printk.h>

#include <kheap.h>

/* Payload bytes per frame line: 64 base64 characters, ~90 with the prefix, well inside
 * printk's 512-byte line (one printk is one line under the console lock, so another
 * CPU's output can come only between frames, never inside one). */
#define KPROF_CHUNK 48
#define KPROF_CRC_POLY 0xedb88320u /* CRC-32 (IEEE 802.3, reflected): zlib's crc32 */

struct kprof_out {
    unsigned id;
    unsigned seq;   /* frames written */
    uint64_t bytes; /* payload bytes */
    uint32_t crc;   /* running CRC-32, not yet inverted */
    unsigned n;     /* bytes waiting in buf */
    unsigned char buf[KPROF_CHUNK];
};

static unsigned kprof_ids; /* profiles written since boot: each gets the next id */

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (KPROF_CRC_POLY & (0u - (crc & 1)));
    }
    return crc;
}

static void frame_emit(struct kprof_out *o)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char line[KPROF_CHUNK / 3 * 4 + 4 + 1];
    unsigned j = 0;
    for (unsigned i = 0; i < o->n; i += 3) {
        unsigned rest = o->n - i;
        uint32_t v = (uint32_t)o->buf[i] << 16;
        if (rest > 1)
            v |= (uint32_t)o->buf[i + 1] << 8;
        if (rest > 2)
            v |= o->buf[i + 2];
        line[j++] = b64[(v >> 18) & 63];
        line[j++] = b64[(v >> 12) & 63];
        line[j++] = rest > 1 ? b64[(v >> 6) & 63] : '=';
        line[j++] = rest > 2 ? b64[v & 63] : '=';
    }
    line[j] = 0;
    printk("goheap-profile %u D %u %s\n", o->id, o->seq++, line);
    o->n = 0;
}

static int kprof_write(void *ctx, const char *buf, size_t len)
{
    struct kprof_out *o = ctx;
    o->crc = crc32_update(o->crc, (const unsigned char *)buf, len);
    o->bytes += len;
    for (size_t i = 0; i < len; i++) {
        o->buf[o->n++] = (unsigned char)buf[i];
        if (o->n == KPROF_CHUNK)
            frame_emit(o);
    }
    return 0;
}

int kheap_profile_serial(const char *name)
{
    struct kprof_out o = { .id = __atomic_add_fetch(&kprof_ids, 1, __ATOMIC_RELAXED),
                           .crc = 0xffffffffu };
    printk("goheap-profile %u B name=%s cpu=%u format=legacy-heap encoding=base64\n", o.id,
           name, cpu_index());
    int rc = goheap_write_heap_profile(kprof_write, &o);
    if (rc != 0) {
        printk("goheap-profile %u E error=%d\n", o.id, rc);
        return rc;
    }
    if (o.n)
        frame_emit(&o);
    printk("goheap-profile %u E frames=%u bytes=%llu crc32=%08x\n", o.id, o.seq,
           (unsigned long long)o.bytes, ~o.crc);
    return 0;
}
