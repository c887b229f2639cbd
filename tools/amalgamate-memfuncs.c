/* ---- tools/amalgamate-memfuncs.c ----
 * memset, memcpy and memmove for a kernel that has none: the compiler may lower the
 * core's __builtin_mem* to calls. Weak, so a kernel's own definitions win; defining
 * GOHEAP_SYS_HAVE_MEMFUNCS in goheap_config.h leaves them out. Byte loops through a
 * volatile pointer, so the compiler cannot turn them back into calls to themselves. */
#ifndef GOHEAP_SYS_HAVE_MEMFUNCS
__attribute__((weak)) void *memset(void *d, int c, size_t n) {
    volatile unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}
__attribute__((weak)) void *memcpy(void *restrict d, const void *restrict s, size_t n) {
    volatile unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}
__attribute__((weak)) void *memmove(void *d, const void *s, size_t n) {
    volatile unsigned char *p = d;
    const unsigned char *q = s;
    if (p < q)
        while (n--)
            *p++ = *q++;
    else
        while (n--)
            p[n] = q[n];
    return d;
}
#endif
