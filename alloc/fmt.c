/* alloc/fmt.c: the core's tiny printf-alike for log and panic messages, so the
 * core needs no libc. Lines are bounded (256 bytes) and built on the stack. */
#include "util.h"
#include "platform.h"

static void put(char *buf, size_t n, size_t *i, char c) {
    if (*i + 1 < n)
        buf[*i] = c;
    (*i)++;
}

static void put_num(char *buf, size_t n, size_t *i, uint64_t v, unsigned base, int neg) {
    char tmp[24];
    int k = 0;
    if (neg)
        put(buf, n, i, '-');
    do {
        unsigned d = (unsigned)(v % base);
        tmp[k++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    while (k)
        put(buf, n, i, tmp[--k]);
}

size_t gh_vfmt(char *buf, size_t n, const char *fmt, va_list ap) {
    size_t i = 0;
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(buf, n, &i, *fmt);
            continue;
        }
        fmt++;
        int lng = 0;
        while (*fmt == 'l' || *fmt == 'z') {
            lng = 1;
            fmt++;
        }
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            while (*s)
                put(buf, n, &i, *s++);
            break;
        }
        case 'c': put(buf, n, &i, (char)va_arg(ap, int)); break;
        case 'd': {
            int64_t v = lng ? va_arg(ap, long) : va_arg(ap, int);
            put_num(buf, n, &i, v < 0 ? (uint64_t)-v : (uint64_t)v, 10, v < 0);
            break;
        }
        case 'u': put_num(buf, n, &i, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, 0); break;
        case 'x': put_num(buf, n, &i, lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, 0); break;
        case 'p':
            put(buf, n, &i, '0');
            put(buf, n, &i, 'x');
            put_num(buf, n, &i, (uintptr_t)va_arg(ap, void *), 16, 0);
            break;
        case '%': put(buf, n, &i, '%'); break;
        case 0: fmt--; break;
        default: put(buf, n, &i, '%'); put(buf, n, &i, *fmt); break;
        }
    }
    if (n)
        buf[i < n ? i : n - 1] = 0;
    return i;
}

size_t gh_fmt(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t r = gh_vfmt(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

void gh_logf(const char *fmt, ...) {
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    gh_vfmt(line, sizeof line, fmt, ap);
    va_end(ap);
    goheap_sys_log(line);
}

_Noreturn void gh_panicf(const char *fmt, ...) {
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    gh_vfmt(line, sizeof line, fmt, ap);
    va_end(ap);
    goheap_sys_panic(line);
}
