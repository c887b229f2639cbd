/* tests/host/preload_forkstack.c: the heap profile's stack walk in the child of a fork
 * made by a thread other than the main one. There the forking thread is the child's
 * only thread, so its thread id equals the process id, yet it runs on its thread
 * stack, not on the stack that __libc_stack_end ends. Code without frame pointers
 * leaves any value in rbp: here an unmapped address between the thread's stack and
 * the main stack. A sampled malloc (memprofilerate=1) must not read it:
 * the walk has to stay within the thread's own stack. test_preload.sh runs this with
 * and without the preload and compares the output. x86_64 only (rbp set by hand);
 * elsewhere it prints the same line without the fake frame. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A 16-byte aligned address in an unmapped gap above `above` (this thread's stack)
 * and below the main stack: 16 MiB into the first gap of 64 MiB or more, far from the
 * main stack's bottom (a touch just below it would grow the stack, not fault). */
static uintptr_t hole_above(uintptr_t above) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long lo, hi, prev_end = 0;
    uintptr_t hole = 0;
    while (f && fgets(line, sizeof line, f) && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
        if (prev_end > above && lo - prev_end >= (64ul << 20) && !hole)
            hole = prev_end + (16ul << 20);
        prev_end = hi;
    }
    if (f)
        fclose(f);
    return hole;
}

/* malloc(n) called with rbp = fake, as code built without frame pointers may do. */
static void *malloc_with_rbp(size_t n, uintptr_t fake) {
#if defined(__x86_64__)
    register void *(*fn)(size_t) __asm__("rax") = malloc;
    register size_t arg __asm__("rdi") = n;
    register uintptr_t fk __asm__("r13") = fake;
    __asm__ volatile("mov %%rsp, %%r12\n\t"
                     "sub $128, %%rsp\n\t" /* past the red zone */
                     "and $-16, %%rsp\n\t"
                     "push %%rbp\n\t"
                     "push %%rbp\n\t"
                     "mov %%r13, %%rbp\n\t"
                     "call *%%rax\n\t"
                     "pop %%rbp\n\t"
                     "pop %%rbp\n\t"
                     "mov %%r12, %%rsp\n\t"
                     : "+r"(fn), "+r"(arg), "+r"(fk)
                     :
                     : "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "r12", "memory", "cc", "xmm0",
                       "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                       "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    return (void *)fn;
#else
    (void)fake;
    return malloc(n);
#endif
}

static int in_child(void) {
    char here;
    uintptr_t hole = hole_above((uintptr_t)&here);
    int bad = 0;
    for (int i = 0; i < 50; i++) {
        char *p = malloc_with_rbp(64 + (size_t)i * 40, hole);
        if (!p)
            bad++;
        else
            memset(p, 1, 64);
        free(p);
    }
    return bad;
}

static void *thread_main(void *arg) {
    (void)arg;
    /* Nothing allocated in this thread before the fork: its stack is looked up in
     * the child. */
    pid_t p = fork();
    if (p == 0)
        _exit(in_child() ? 1 : 0);
    int st = 0;
    if (p < 0 || waitpid(p, &st, 0) != p)
        return (void *)"fork failed";
    if (WIFSIGNALED(st))
        return (void *)"child killed by a signal";
    return WEXITSTATUS(st) ? (void *)"child failed" : (void *)"child ok";
}

int main(void) {
    pthread_t t;
    void *r;
    pthread_create(&t, 0, thread_main, 0);
    pthread_join(t, &r);
    /* The same calls in a thread of the parent, whose stack is found right. */
    printf("fork from a thread, sampled mallocs in the child: %s\n", (const char *)r);
    return 0;
}
