/* kernel/cmdline.c: the boot command line, copied once at boot and looked up by key.
 * Words are separated by spaces; `key=value` or a bare `key`. Values point into a
 * split copy, so they stay valid until the next cmdline_init. */
#include <string.h>
#include <cmdline.h>

#define CMDLINE_MAX 1024   /* QEMU -append lines in our runs are < 200 bytes */

static char line[CMDLINE_MAX];
static char words[CMDLINE_MAX];     /* line with every space turned into NUL */
static size_t len;

void cmdline_init(const char *raw)
{
    size_t n = 0;
    if (raw)
        for (; raw[n] && n + 1 < CMDLINE_MAX; n++)
            line[n] = raw[n];
    line[n] = 0;
    len = n;
    for (size_t i = 0; i <= n; i++)
        words[i] = line[i] == ' ' ? 0 : line[i];
}

const char *cmdline_raw(void)
{
    return line;
}

const char *cmdline_get(const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < len; i++) {
        if (!words[i] || (i > 0 && words[i - 1]))
            continue;               /* not the start of a word */
        const char *w = &words[i];
        if (strncmp(w, key, klen) != 0)
            continue;
        if (w[klen] == 0)
            return &w[klen];        /* bare key: "" */
        if (w[klen] == '=')
            return &w[klen + 1];
    }
    return 0;
}
