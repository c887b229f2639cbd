/* kernel/cmdline.c: the boot command line, copied once at boot and looked up by key.
 * Words are separated by spaces; `key=value` or a bare `key`. */
#include <string.h>
#include <cmdline.h>

#define CMDLINE_MAX 1024   /* QEMU -append lines in our runs are < 200 bytes */

static char line[CMDLINE_MAX];
static char value[CMDLINE_MAX];  /* value of the last cmdline_get (one caller at a time: boot) */

void cmdline_init(const char *raw)
{
    size_t n = 0;
    if (raw)
        for (; raw[n] && n + 1 < CMDLINE_MAX; n++)
            line[n] = raw[n];
    line[n] = 0;
}

const char *cmdline_raw(void)
{
    return line;
}

const char *cmdline_get(const char *key)
{
    size_t klen = strlen(key);
    const char *p = line;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p && *p != ' ')
            p++;
        size_t wlen = (size_t)(p - w);
        if (wlen >= klen && strncmp(w, key, klen) == 0) {
            if (wlen == klen) {
                value[0] = 0;
                return value;
            }
            if (w[klen] == '=') {
                size_t vl = wlen - klen - 1;
                memcpy(value, w + klen + 1, vl);
                value[vl] = 0;
                return value;
            }
        }
    }
    return 0;
}
