/* A team of two: the calling thread and one helper thread, for the GEMMs of
 * one compiled call (an epoch, a prediction) that are cut into pieces.
 *
 * OpenBLAS runs a mini-batch GEMM of a small network fastest as pieces under
 * its small-kernel limit (csrc/blas.pxd), but those kernels never use a
 * second thread. The team runs the pieces of one product on both cores: the
 * caller posts a job, runs its share, and waits for the helper's share.
 * Every piece writes its own block of the output, so the result does not
 * depend on which thread ran which piece: it is bitwise the one-thread result.
 *
 * Life cycle: ``fastnn_team_start`` (at the first product that wants it) and
 * ``fastnn_team_stop`` (when the compiled call ends, threads.pxd's
 * restore_threads): no thread outlives the call that made it. Between jobs the
 * helper spins for about FASTNN_TEAM_SPINS pauses (the gap between two GEMMs
 * of a step is a few microseconds), then sleeps on a condition variable.
 * A team is used by one thread at a time (a net's compiled calls never
 * overlap: see fastnn/sequential.py).
 */
#ifndef FASTNN_TEAM_H
#define FASTNN_TEAM_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTNN_PAUSE() _mm_pause()
#else
#define FASTNN_PAUSE() ((void)0)
#endif

/* About 50-200 us of pauses before the helper sleeps. */
#define FASTNN_TEAM_SPINS 20000
/* Pauses the caller waits for the helper before yielding its core. */
#define FASTNN_TEAM_WAIT_SPINS 4000

typedef void (*fastnn_team_fn)(void* job, int part);   /* part 0: caller, 1: helper */
typedef int (*fastnn_set_threads_fn)(int);

typedef struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    fastnn_team_fn fn;
    void* job;
    fastnn_set_threads_fn set_local;
    atomic_uint posted;     /* jobs posted (and the stop request) */
    atomic_uint done;       /* jobs the helper finished */
    atomic_int sleeping;
    int quit;
    int running;
} fastnn_team;

static void* fastnn_team_helper(void* arg) {
    fastnn_team* team = (fastnn_team*)arg;
    unsigned seen = 0, posted;
    int spins;
    if (team->set_local != NULL)
        team->set_local(1);     /* its BLAS calls are pieces: one thread each */
    for (;;) {
        spins = 0;
        while ((posted = atomic_load(&team->posted)) == seen) {
            if (++spins < FASTNN_TEAM_SPINS) {
                FASTNN_PAUSE();
                continue;
            }
            pthread_mutex_lock(&team->lock);
            atomic_store(&team->sleeping, 1);
            while (atomic_load(&team->posted) == seen)
                pthread_cond_wait(&team->wake, &team->lock);
            atomic_store(&team->sleeping, 0);
            pthread_mutex_unlock(&team->lock);
            spins = 0;
        }
        seen = posted;
        if (team->quit)
            return NULL;
        team->fn(team->job, 1);
        atomic_store(&team->done, seen);
    }
}

/* Post the next job number (fn and job are written before it). */
static void fastnn_team_post(fastnn_team* team) {
    atomic_fetch_add(&team->posted, 1);
    if (atomic_load(&team->sleeping)) {
        pthread_mutex_lock(&team->lock);
        pthread_cond_signal(&team->wake);
        pthread_mutex_unlock(&team->lock);
    }
}

/* Start the helper; 0 on success, -1 when no thread could be made (then the
 * caller runs everything itself). */
static int fastnn_team_start(fastnn_team* team, fastnn_set_threads_fn set_local) {
    memset(team, 0, sizeof(*team));
    team->set_local = set_local;
    if (pthread_mutex_init(&team->lock, NULL) != 0)
        return -1;
    if (pthread_cond_init(&team->wake, NULL) != 0) {
        pthread_mutex_destroy(&team->lock);
        return -1;
    }
    if (pthread_create(&team->thread, NULL, fastnn_team_helper, team) != 0) {
        pthread_cond_destroy(&team->wake);
        pthread_mutex_destroy(&team->lock);
        return -1;
    }
    team->running = 1;
    return 0;
}

/* Run fn(job, 0) here and fn(job, 1) on the helper; return when both are done. */
static void fastnn_team_run(fastnn_team* team, fastnn_team_fn fn, void* job) {
    unsigned number;
    int spins = 0;
    team->fn = fn;
    team->job = job;
    number = atomic_load(&team->posted) + 1;
    fastnn_team_post(team);
    fn(job, 0);
    while (atomic_load(&team->done) != number) {
        if (++spins < FASTNN_TEAM_WAIT_SPINS)
            FASTNN_PAUSE();
        else
            sched_yield();      /* the helper may be waiting for this core */
    }
}

static void fastnn_team_stop(fastnn_team* team) {
    if (!team->running)
        return;
    team->quit = 1;
    fastnn_team_post(team);
    pthread_join(team->thread, NULL);
    pthread_cond_destroy(&team->wake);
    pthread_mutex_destroy(&team->lock);
    team->running = 0;
}

#endif
