/* A fixed pool of helper threads.  The caller of tec_pool_run works too (as
 * worker 0), so a pool of T threads starts T - 1 helpers.  Jobs are handed
 * out by an atomic counter; everything else is under one mutex, and every
 * helper checks out of a batch before tec_pool_run returns, so the jobs'
 * writes happen-before the caller's next reads. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "tec/tec.h"
#include "threads.h"

enum { MAX_THREADS = 1024 };

typedef int (*JobFn)(void *ctx, int job, int worker);

typedef struct Helper {
    TecPool *pool;
    int worker;
    pthread_t thread;
} Helper;

struct TecPool {
    int threads;              /* workers, the caller included */
    Helper *helpers;          /* threads - 1 of them */

    pthread_mutex_t lock;
    pthread_cond_t wake;      /* a new batch, or quit */
    pthread_cond_t done;      /* the last helper left the batch */
    unsigned batch;           /* counts tec_pool_run calls */
    int quit;
    int busy;                 /* helpers not yet through the batch */

    /* The current batch, set under lock before the wake-up. */
    JobFn fn;
    void *ctx;
    int njobs;
    atomic_int next_job;
    int err, err_job;         /* lowest failing job and its value */
};

static void run_jobs(TecPool *pool, JobFn fn, void *ctx, int njobs, int worker)
{
    for (;;) {
        const int job = atomic_fetch_add(&pool->next_job, 1);
        if (job >= njobs)
            break;
        const int ret = fn(ctx, job, worker);
        if (ret) {
            pthread_mutex_lock(&pool->lock);
            if (job < pool->err_job) {
                pool->err_job = job;
                pool->err = ret;
            }
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

static void *helper_main(void *arg)
{
    Helper *self = arg;
    TecPool *pool = self->pool;

    /* Batch 0 is the idle state at creation: a helper that starts late
     * must still join a batch begun before it ran. */
    unsigned seen = 0;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->quit && pool->batch == seen)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->quit)
            break;
        seen = pool->batch;
        JobFn fn = pool->fn;
        void *ctx = pool->ctx;
        const int njobs = pool->njobs;
        pthread_mutex_unlock(&pool->lock);

        run_jobs(pool, fn, ctx, njobs, self->worker);

        pthread_mutex_lock(&pool->lock);
        if (--pool->busy == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

static int online_cores(void)
{
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

int tec_pool_create(TecPool **out, int threads)
{
    TecPool *pool = calloc(1, sizeof(*pool));

    *out = NULL;
    if (!pool)
        return TEC_ENOMEM;
    threads = threads <= 0 ? online_cores() : threads > MAX_THREADS ? MAX_THREADS : threads;
    if (threads > 1 && !(pool->helpers = calloc(threads - 1, sizeof(*pool->helpers)))) {
        free(pool);
        return TEC_ENOMEM;
    }
    if (pthread_mutex_init(&pool->lock, NULL)) {
        free(pool->helpers);
        free(pool);
        return TEC_ENOMEM;
    }
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    atomic_init(&pool->next_job, 0);

    /* The caller is worker 0.  If the system refuses a thread, the pool
     * simply has fewer workers: tec_pool_threads tells. */
    pool->threads = 1;
    for (int i = 0; i < threads - 1; i++) {
        Helper *h = &pool->helpers[i];
        h->pool = pool;
        h->worker = i + 1;
        if (pthread_create(&h->thread, NULL, helper_main, h))
            break;
        pool->threads++;
    }
    *out = pool;
    return 0;
}

int tec_pool_threads(const TecPool *pool)
{
    return pool->threads;
}

int tec_pool_run(TecPool *pool, int n, int (*fn)(void *ctx, int job, int worker), void *ctx)
{
    int err = 0;

    if (n <= 0)
        return 0;
    if (pool->threads == 1 || n == 1) {
        for (int job = 0; job < n; job++) {
            const int ret = fn(ctx, job, 0);
            if (ret && !err)
                err = ret;
        }
        return err;
    }

    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->njobs = n;
    atomic_store(&pool->next_job, 0);
    pool->err = 0;
    pool->err_job = n;
    pool->busy = pool->threads - 1;
    pool->batch++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);

    run_jobs(pool, fn, ctx, n, 0);

    pthread_mutex_lock(&pool->lock);
    while (pool->busy)
        pthread_cond_wait(&pool->done, &pool->lock);
    err = pool->err;
    pthread_mutex_unlock(&pool->lock);
    return err;
}

void tec_pool_free(TecPool **ppool)
{
    TecPool *pool = *ppool;

    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->threads - 1; i++)
        pthread_join(pool->helpers[i].thread, NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_cond_destroy(&pool->done);
    pthread_mutex_destroy(&pool->lock);
    free(pool->helpers);
    free(pool);
    *ppool = NULL;
}
