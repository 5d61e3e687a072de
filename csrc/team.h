/* A team of two: the calling thread and one helper thread, for the GEMMs of
 * a net's compiled calls (an epoch, a prediction) that are cut into pieces.
 *
 * OpenBLAS runs a mini-batch GEMM of a small network fastest as pieces under
 * its small-kernel limit (csrc/blas.pxd), but those kernels never use a
 * second thread. The team runs the pieces of one product on both cores.
 * The caller publishes a job (a function, its argument, the number of
 * pieces) and both threads claim pieces from one atomic ticket until none is
 * left; the caller then waits only for the pieces the helper has claimed.
 * A helper that is asleep or descheduled (waking one on a virtual machine
 * can take a hundred microseconds) claims nothing and costs nothing: the
 * caller runs every piece itself. Every piece writes its own block of the
 * output, so the result does not depend on which thread ran which piece: it
 * is bitwise the one-thread result.
 *
 * Life cycle: ``fastnn_team_start`` at the first product that wants the
 * team, ``fastnn_team_rest`` when a compiled call ends (threads.pxd's
 * restore_threads: the helper goes to sleep at once instead of spinning
 * while Python runs), ``fastnn_team_stop`` when the net is freed. Between
 * two jobs of a call the helper spins for about FASTNN_TEAM_SPINS pauses
 * (the gap between two GEMMs of a step is a few microseconds), then sleeps
 * on a condition variable. A new thread per call would cost milliseconds:
 * its first BLAS call sets up the BLAS's per-thread buffers. A forked child
 * has no helper: ``fastnn_team_usable`` notices (another pid) and the child
 * starts its own. A team is used by one thread at a time (a net's compiled
 * calls never overlap: see fastnn/sequential.py).
 */
#ifndef FASTNN_TEAM_H
#define FASTNN_TEAM_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTNN_PAUSE() _mm_pause()
#else
#define FASTNN_PAUSE() ((void)0)
#endif

/* About 50-200 us of pauses before an idle helper sleeps. */
#define FASTNN_TEAM_SPINS 20000
/* Pauses the caller waits for the helper's last piece before yielding. */
#define FASTNN_TEAM_WAIT_SPINS 4000
/* The most pieces a job may have (the ticket's 16-bit count). */
#define FASTNN_TEAM_MAX_PIECES 0xffff

typedef void (*fastnn_piece_fn)(void* job, int piece);

typedef struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    fastnn_piece_fn fn;     /* the current job, valid while its pieces run */
    void* job;
    /* job number (bits 48-63) | piece count (32-47) | next piece (0-31) */
    _Atomic uint64_t ticket;
    atomic_int finished;    /* pieces of the current job done, by either thread */
    atomic_uint posted;     /* wake-ups sent (jobs, rests, the stop) */
    atomic_int sleeping;
    atomic_int resting;
    int quit;
    int running;
    unsigned jobs;          /* the caller's job counter */
    pid_t pid;              /* the process that started the helper */
} fastnn_team;

/* Claim and run pieces of the current job until none is left. A claim is a
 * compare-and-swap of the whole ticket, so a stale ticket (an earlier job)
 * never claims a piece of the next one; the job's fn and argument are read
 * after the claim, and stay valid until the caller has seen the piece done. */
static inline void fastnn_team_claim(fastnn_team* team) {
    uint64_t t = atomic_load(&team->ticket);
    for (;;) {
        uint32_t next = (uint32_t)(t & 0xffffffffu);
        uint32_t count = (uint32_t)((t >> 32) & 0xffffu);
        if (next >= count)
            return;
        if (!atomic_compare_exchange_weak(&team->ticket, &t, t + 1))
            continue;                       /* t now holds the current ticket */
        team->fn(team->job, (int)next);
        atomic_fetch_add(&team->finished, 1);
        t = atomic_load(&team->ticket);
    }
}

static inline void* fastnn_team_helper(void* arg) {
    fastnn_team* team = (fastnn_team*)arg;
    unsigned seen = 0, posted;
    int spins, rest = 1;
    /* Its BLAS calls are small-kernel pieces, which never use a BLAS thread.
     * (It sets no thread count: OpenBLAS's openblas_set_num_threads_local is
     * process-wide in its pthreads build, so that would change the caller's.) */
    for (;;) {
        spins = 0;
        while ((posted = atomic_load(&team->posted)) == seen) {
            if (!rest && ++spins < FASTNN_TEAM_SPINS) {
                FASTNN_PAUSE();
                continue;
            }
            pthread_mutex_lock(&team->lock);
            atomic_store(&team->sleeping, 1);
            while (atomic_load(&team->posted) == seen)
                pthread_cond_wait(&team->wake, &team->lock);
            atomic_store(&team->sleeping, 0);
            pthread_mutex_unlock(&team->lock);
        }
        seen = posted;
        if (team->quit)
            return NULL;
        rest = atomic_load(&team->resting);
        if (!rest)
            fastnn_team_claim(team);
    }
}

/* Wake the helper (it spins, or sleeps on the condition variable). */
static inline void fastnn_team_post(fastnn_team* team) {
    atomic_fetch_add(&team->posted, 1);
    if (atomic_load(&team->sleeping)) {
        pthread_mutex_lock(&team->lock);
        pthread_cond_signal(&team->wake);
        pthread_mutex_unlock(&team->lock);
    }
}

/* Start the helper; 0 on success, -1 when no thread could be made (then the
 * caller runs everything itself). */
static inline int fastnn_team_start(fastnn_team* team) {
    memset(team, 0, sizeof(*team));
    atomic_store(&team->resting, 1);
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
    team->pid = getpid();
    return 0;
}

/* Whether the helper runs in this process (a forked child's copy of the
 * struct names its parent's thread: forget it, unjoined). */
static inline int fastnn_team_usable(fastnn_team* team) {
    if (team->running && team->pid != getpid())
        team->running = 0;
    return team->running;
}

/* Run fn(job, i) for every piece i < count, on this thread and the helper;
 * return when all are done. */
static inline void fastnn_team_run(fastnn_team* team, fastnn_piece_fn fn, void* job, int count) {
    int spins = 0;
    if (count > FASTNN_TEAM_MAX_PIECES) {
        for (int i = 0; i < count; i++)
            fn(job, i);
        return;
    }
    team->fn = fn;
    team->job = job;
    atomic_store(&team->finished, 0);
    team->jobs++;
    atomic_store(&team->ticket, ((uint64_t)(team->jobs & 0xffffu) << 48) |
                                ((uint64_t)count << 32));
    if (atomic_load(&team->resting))
        atomic_store(&team->resting, 0);
    fastnn_team_post(team);
    fastnn_team_claim(team);
    while (atomic_load(&team->finished) != count) {
        if (++spins < FASTNN_TEAM_WAIT_SPINS)
            FASTNN_PAUSE();
        else
            sched_yield();      /* the helper may be waiting for this core */
    }
}

/* Send the helper to sleep without spinning, until the next job. */
static inline void fastnn_team_rest(fastnn_team* team) {
    if (!team->running || atomic_load(&team->resting))
        return;
    atomic_store(&team->resting, 1);
    fastnn_team_post(team);
}

static inline void fastnn_team_stop(fastnn_team* team) {
    if (!fastnn_team_usable(team))
        return;
    team->quit = 1;
    fastnn_team_post(team);
    pthread_join(team->thread, NULL);
    pthread_cond_destroy(&team->wake);
    pthread_mutex_destroy(&team->lock);
    team->running = 0;
}

#endif
