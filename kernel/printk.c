/* kernel/printk.c: a small vsnprintf and the console printk. The console lock is the
 * innermost lock (LOCK_RANK_CONSOLE) and is taken with interrupts saved, so a whole
 * printk line from one CPU is never interleaved with another's. */
#include <stdint.h>
#include <string.h>
#include <arch/console.h>
#include <percpu.h>
#include <printk.h>
#include <spinlock.h>

struct out {
    char *buf;
    size_t cap, len;        /* len counts every byte, cap bounds what is stored */
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->cap)
        o->buf[o->len] = c;
    o->len++;
}

static void put_num(struct out *o, unsigned long long v, unsigned base, int upper,
                    int neg, int width, char pad, int left)
{
    char tmp[24];
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    int len = n + (neg ? 1 : 0);
    if (!left && pad == ' ')
        for (; width > len; width--)
            put(o, ' ');
    if (neg)
        put(o, '-');
    if (!left && pad == '0')
        for (; width > len; width--)
            put(o, '0');
    while (n)
        put(o, tmp[--n]);
    if (left)
        for (; width > len; width--)
            put(o, ' ');
}

int vsnprintk(char *buf, size_t cap, const char *fmt, va_list ap)
{
    struct out o = { buf, cap, 0 };
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            put(&o, *f);
            continue;
        }
        f++;
        int left = 0, width = 0, prec = -1, lng = 0;
        char pad = ' ';
        for (;; f++) {
            if (*f == '-')
                left = 1;
            else if (*f == '0')
                pad = '0';
            else
                break;
        }
        if (*f == '*') {
            width = va_arg(ap, int);
            f++;
        } else {
            while (*f >= '0' && *f <= '9')
                width = width * 10 + (*f++ - '0');
        }
        if (*f == '.') {
            f++;
            prec = 0;
            if (*f == '*') {
                prec = va_arg(ap, int);
                f++;
            } else {
                while (*f >= '0' && *f <= '9')
                    prec = prec * 10 + (*f++ - '0');
            }
        }
        for (;; f++) {
            if (*f == 'l')
                lng++;
            else if (*f == 'z')
                lng = 2;
            else if (*f == 'h')
                ;
            else
                break;
        }
        unsigned long long u;
        long long s;
        switch (*f) {
        case 'd':
        case 'i':
            s = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
            put_num(&o, s < 0 ? -(unsigned long long)s : (unsigned long long)s, 10, 0, s < 0,
                    width, pad, left);
            break;
        case 'u':
        case 'x':
        case 'X':
        case 'o':
            u = lng >= 2 ? va_arg(ap, unsigned long long)
                : lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            put_num(&o, u, *f == 'u' ? 10 : *f == 'o' ? 8 : 16, *f == 'X', 0, width, pad, left);
            break;
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_num(&o, (uintptr_t)va_arg(ap, void *), 16, 0, 0, width > 2 ? width - 2 : 0,
                    '0', 0);
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            int n = 0;
            while (str[n] && (prec < 0 || n < prec))
                n++;
            if (!left)
                for (; width > n; width--)
                    put(&o, ' ');
            for (int i = 0; i < n; i++)
                put(&o, str[i]);
            for (; left && width > n; width--)
                put(&o, ' ');
            break;
        }
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case '%':
            put(&o, '%');
            break;
        case 0:
            f--;
            break;
        default:
            put(&o, '%');
            put(&o, *f);
            break;
        }
    }
    if (cap)
        buf[o.len < cap ? o.len : cap - 1] = 0;
    return (int)o.len;
}

int snprintk(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintk(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

/* The console wants CR LF line ends. */
static void console_write(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            arch_console_putc('\r');
        arch_console_putc(s[i]);
    }
}

static struct spinlock console_lock = SPINLOCK_INIT("console", LOCK_RANK_CONSOLE);
static int lock_busted;

void printk_bust_lock(void)
{
    lock_busted = 1;
}

int vprintk(const char *fmt, va_list ap)
{
    char buf[512];
    int n = vsnprintk(buf, sizeof buf, fmt, ap);
    size_t len = n < (int)sizeof buf ? (size_t)n : sizeof buf - 1;
    if (__atomic_load_n(&lock_busted, __ATOMIC_RELAXED)) {
        console_write(buf, len);
        return n;
    }
    /* The raw lock, not spin_lock: the checked lock prints when it finds a problem. */
    arch_irqflags_t f = arch_spin_lock_irqsave(&console_lock.raw);
    console_write(buf, len);
    arch_spin_unlock_irqrestore(&console_lock.raw, f);
    return n;
}

int printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vprintk(fmt, ap);
    va_end(ap);
    return r;
}
