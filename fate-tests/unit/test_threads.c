/* The thread pool: every job exactly once, worker indices exclusive and in
 * range, the lowest failing job's value returned, pools of 1 and 4. */

#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "threads.h"
#include "test.h"

enum { MAX_JOBS = 2000, MAX_WORKERS = 64 };

typedef struct Ctx {
    atomic_int runs[MAX_JOBS];
    atomic_int in_use[MAX_WORKERS];   /* a worker index held by two jobs at once? */
    atomic_int bad_worker, shared_worker;
    int threads;
    int fail_a, fail_b;               /* jobs that fail, -1 for none */
} Ctx;

static int count_job(void *arg, int job, int worker)
{
    Ctx *ctx = arg;

    if (worker < 0 || worker >= ctx->threads || worker >= MAX_WORKERS) {
        atomic_store(&ctx->bad_worker, 1);
        return 0;
    }
    if (atomic_exchange(&ctx->in_use[worker], 1))
        atomic_store(&ctx->shared_worker, 1);
    atomic_fetch_add(&ctx->runs[job], 1);
    if (job % 97 == 0)  /* let the others overtake */
        nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
    atomic_store(&ctx->in_use[worker], 0);
    if (job == ctx->fail_a)
        return -3;
    if (job == ctx->fail_b)
        return -5;
    return 0;
}

static void reset(Ctx *ctx, int threads, int fail_a, int fail_b)
{
    for (int i = 0; i < MAX_JOBS; i++)
        atomic_store(&ctx->runs[i], 0);
    for (int i = 0; i < MAX_WORKERS; i++)
        atomic_store(&ctx->in_use[i], 0);
    atomic_store(&ctx->bad_worker, 0);
    atomic_store(&ctx->shared_worker, 0);
    ctx->threads = threads;
    ctx->fail_a = fail_a;
    ctx->fail_b = fail_b;
}

static int each_ran_once(Ctx *ctx, int n)
{
    for (int i = 0; i < MAX_JOBS; i++)
        if (atomic_load(&ctx->runs[i]) != (i < n))
            return 0;
    return 1;
}

static void test_pool(int threads)
{
    static const int counts[] = { 0, 1, 2, 3, 7, 64, 1000, MAX_JOBS };
    static Ctx ctx;
    TecPool *pool;

    CHECK_EQ_INT(tec_pool_create(&pool, threads), 0);
    CHECK_EQ_INT(tec_pool_threads(pool), threads);

    for (size_t c = 0; c < sizeof(counts) / sizeof(*counts); c++) {
        const int n = counts[c];
        reset(&ctx, threads, -1, -1);
        CHECK_EQ_INT(tec_pool_run(pool, n, count_job, &ctx), 0);
        CHECK(each_ran_once(&ctx, n));
        CHECK(!atomic_load(&ctx.bad_worker));
        CHECK(!atomic_load(&ctx.shared_worker));
    }

    /* errors: the lowest failing job wins, and every job still runs */
    reset(&ctx, threads, 900, 40);
    CHECK_EQ_INT(tec_pool_run(pool, 1000, count_job, &ctx), -5);
    CHECK(each_ran_once(&ctx, 1000));
    reset(&ctx, threads, 0, -1);
    CHECK_EQ_INT(tec_pool_run(pool, 1, count_job, &ctx), -3);

    /* many small batches back to back */
    int ok = 1;
    for (int round = 0; round < 300; round++) {
        reset(&ctx, threads, -1, round % 5 == 0 ? round % 7 : -1);
        const int ret = tec_pool_run(pool, 7, count_job, &ctx);
        ok &= each_ran_once(&ctx, 7) && ret == (round % 5 == 0 ? -5 : 0);
    }
    CHECK(ok);

    tec_pool_free(&pool);
    CHECK(pool == NULL);
    tec_pool_free(&pool);  /* no-op */
}

int main(void)
{
    TecPool *pool;

    test_pool(1);
    test_pool(4);

    CHECK_EQ_INT(tec_pool_create(&pool, 0), 0);
    CHECK_EQ_INT(tec_pool_threads(pool), sysconf(_SC_NPROCESSORS_ONLN));
    tec_pool_free(&pool);
    return test_report("threads");
}
