/* kernel/cmdline.c: the boot command line, copied once at boot and looked up by key.
 * Words are separated by spaces; `key=value` or a bare `key`. Values point into a
 * split copy, so they stay valid until the next cmdline_init. A line longer than
 * CMDLINE_MAX - 1 is refused with a panic, never cut. */
#include <string.h>
#include <cmdline.h>
#include <panic.h>

static char line[CMDLINE_MAX];
static char words[CMDLINE_MAX];     /* line with every space turned into NUL */
static size_t len;

void cmdline_init(const char *raw)
{
    size_t n = raw ? strlen(raw) : 0;
    /* The arch copies at most CMDLINE_MAX bytes of what the boot protocol gave: a
     * string that long had more behind it (or is one byte short of it). */
    if (n >= CMDLINE_MAX)
        panic("cmdline: the boot command line is %zu bytes or longer; this kernel keeps at "
              "most %u: refusing to cut it (raise CMDLINE_MAX in kernel/include/cmdline.h)",
              n, CMDLINE_MAX - 1);
    memcpy(line, raw ? raw : "", n + 1);
    len = n;
    for (size_t i = 0; i <= n; i++)
        words[i] = line[i] == ' ' ? 0 : line[i];
}

const char *cmdline_raw(void)
{
    return line;
}

/* The value of the first key= (or bare key) word at or after words[*pos]; *pos moves
 * past it. */
static const char *next_value(const char *key, size_t *pos)
{
    size_t klen = strlen(key);
    for (size_t i = *pos; i < len; i++) {
        if (!words[i] || (i > 0 && words[i - 1]))
            continue;               /* not the start of a word */
        const char *w = &words[i];
        if (strncmp(w, key, klen) != 0 || (w[klen] != 0 && w[klen] != '='))
            continue;
        *pos = i + 1;
        return w[klen] == 0 ? &w[klen] : &w[klen + 1];   /* bare key: "" */
    }
    *pos = len;
    return 0;
}

const char *cmdline_get(const char *key)
{
    size_t pos = 0;
    return next_value(key, &pos);
}

int cmdline_join(const char *key, char sep, char *out, size_t n)
{
    size_t pos = 0, k = 0;
    int count = 0;
    const char *v;
    if (n == 0)
        return -1;
    out[0] = 0;
    while ((v = next_value(key, &pos)) != 0) {
        size_t vl = strlen(v);
        if (!vl)
            continue;
        if (k + (k ? 1 : 0) + vl + 1 > n)
            return -1;
        if (k)
            out[k++] = sep;
        memcpy(out + k, v, vl + 1);
        k += vl;
        count++;
    }
    return count;
}
