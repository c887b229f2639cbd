/* tests/host/preload_atfork.c: fork handlers that allocate, registered with
 * pthread_atfork before the process's first malloc. glibc runs prepare handlers in
 * the reverse order of registration, so the preloaded heap's own handler (registered
 * at its first malloc) runs before them and holds every allocator lock while they
 * allocate; under glibc's malloc this just works. test_preload.sh runs it with and
 * without the preload (under a timeout) and compares the output.
 * usage: preload_atfork [thread]   (thread: fork from a second thread; with
 * GOHEAPDEBUG=ncpu=1 it has no cache slot of its own, so it forks on a shared one) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile kept;
static volatile int stop;

/* A small block, a large one (its own span: the heap lock) and a block of a size no
 * earlier call used (a refill from mcentral), freed and kept across the fork. */
static void churn(size_t seed) {
    char *a = malloc(24), *b = malloc((3u << 20) + seed), *c = malloc(3000 + seed);
    memset(b, 7, 4096);
    memset(c, 1, 3000);
    free(a);
    free(b);
    free(kept);
    kept = c;
}

static void prepare(void) { churn(1); }
static void parent(void) { churn(2); }
static void child(void) { churn(3); }

static void *spinner(void *arg) {
    (void)arg;
    while (!stop) {
        void *p = malloc(100), *q = malloc(70000);
        free(p);
        free(q);
    }
    return 0;
}

static int forks(void) {
    int bad = 0;
    for (int i = 0; i < 20; i++) {
        pid_t p = fork();
        if (p == 0) {
            churn(4);
            char *s = malloc(5u << 20);
            memset(s, 2, 5u << 20);
            free(s);
            _exit(0);
        }
        int st = 0;
        if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad++;
    }
    return bad;
}

static void *forker(void *arg) {
    (void)arg;
    return (void *)(long)forks();
}

int main(int argc, char **argv) {
    /* Before anything allocates: the handlers go first in glibc's list. */
    pthread_atfork(prepare, parent, child);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], 0, spinner, 0);
    long bad;
    if (argc > 1 && !strcmp(argv[1], "thread")) {
        pthread_t f;
        void *r;
        pthread_create(&f, 0, forker, 0);
        pthread_join(f, &r);
        bad = (long)r;
    } else {
        bad = forks();
    }
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], 0);
    printf("20 forks with allocating handlers: %ld failed\n", bad);
    return bad != 0;
}
