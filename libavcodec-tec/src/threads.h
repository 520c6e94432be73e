/* A small fixed-size thread pool: run n jobs of one function, wait for all. */
#ifndef TEC_THREADS_H
#define TEC_THREADS_H

typedef struct TecPool TecPool;

/* threads <= 0: one per online core.  A pool of 1 runs jobs inline. */
int tec_pool_create(TecPool **pool, int threads);
int tec_pool_threads(const TecPool *pool);
/* Calls fn(ctx, job, worker) for job in 0..n-1 across the workers
 * (worker in 0..threads-1, for per-worker scratch) and returns when all are
 * done.  Returns the first non-zero value a job returned, else 0. */
int tec_pool_run(TecPool *pool, int n, int (*fn)(void *ctx, int job, int worker), void *ctx);
void tec_pool_free(TecPool **pool);

#endif
