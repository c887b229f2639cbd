/* tests/host/preload_cancel.c: malloc is no cancellation point (POSIX lists it neither
 * as one nor as one that may be), so a thread with a cancellation pending must come
 * back from every malloc and be cancelled only at its next cancellation point. The
 * preloaded heap writes the memprofile= file (after goheap_profile_request, what
 * SIGUSR2 calls) from within the malloc that notices the request, with open and
 * write, which are cancellation points. test_preload.sh runs this with and without
 * the preload (memprofile= set) and compares the output. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile int returned;
static void *v[20000];

static void *thread_main(void *arg) {
    (void)arg;
    pthread_cancel(pthread_self()); /* deferred: pending until a cancellation point */
    void (*request)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "goheap_profile_request");
    if (request)
        request();
    /* Enough refills of many classes that one of them runs the heap's deferred work. */
    for (int i = 0; i < 20000; i++) {
        v[i] = malloc(16 + (size_t)(i % 200) * 16);
        memset(v[i], 1, 16);
    }
    for (int i = 0; i < 20000; i++)
        free(v[i]);
    returned = 1;
    pthread_testcancel();
    return 0;
}

int main(void) {
    pthread_t t;
    void *r;
    pthread_create(&t, 0, thread_main, 0);
    pthread_join(t, &r);
    printf("mallocs returned before the cancellation point: %s; thread %s\n", returned ? "yes" : "no",
           r == PTHREAD_CANCELED ? "cancelled" : "not cancelled");
    return 0;
}
