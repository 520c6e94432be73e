/* Encoder-side latent refinement (issue 24, doc/design.md): a few Adam
 * steps on a block's gained latents against its own rate + lambda x
 * distortion, the decoder and the weights unchanged (only the symbols
 * move).  The gradient holds the entropy parameters of the block's first
 * coding fixed, prices each latent by its Gaussian's density, and runs the
 * distortion back through the synthesis (synthesis_grad.h) after the
 * decoder's averaging of replicated blocks; every second step the block is
 * coded for real and the iterate of lowest true cost is kept, so a block
 * never ends costlier than without refinement. */
#ifndef TEC_REFINE_H
#define TEC_REFINE_H

#include "frame_codec.h"
#include "replication.h"
#include "synthesis_grad.h"

/* A block and what refining it needs. */
typedef struct TecRefineJob {
    const TecImageModel *m;
    const TecSynthGrad *sg;
    int steps;
    double lambda;               /* bits + lambda x sum ((x^ - x) / 10^4)^2 */
    const TecBlockRect *r;
    int lat_h, lat_w;            /* the frame's latent grid (zeros beyond, as the decoder's) */
    /* The analysis' latents (ungained) of the block and a halo of `halo`
     * latents around it, [m][bh + 2 halo][bw + 2 halo], and the
     * standardised source under them, [slots][D x that][D x that]. */
    const float *y, *xn;
    int halo;
    int rows, cols;              /* the block's pixels inside the frame */
    int py0, px0;                /* its first pixel in the frame */
    const TecBandGroup *group;
    const TecFrameNorm *norm;
    const TecReplication *repl;  /* or NULL */
    const float *gain, *igain;
    const float *z;
    const TecFcInter *how;       /* the coding: intra or inter, no leans */
    TecRansEncoder *re;
    TecWorkspace *ws;
} TecRefineJob;

/* Refines yg[m][bh][bw] in place. */
int tec_refine_block(const TecRefineJob *job, float *yg);

/* The block coded for real as yg stands (job->steps unused): *cost = its
 * bits + job->lambda x its distortion, as the refinement weighs them. */
int tec_refine_cost(const TecRefineJob *job, const float *yg, double *cost);

/* The training objective's lambda for a frame at packet position
 * `position` whose RMS band spread is `spread` (tools/train/train.py
 * --spread-lambda; meta quality_spread and lambda_ratio_milli). */
double tec_refine_lambda(const TecImageModel *m, int position, double spread);

/* d(-log2 P(round(v)))/dv for a latent v from its mean under a Gaussian of
 * scale s (P clamped to 1e-9 as in training, where the gradient is 0). */
double tec_refine_rate_gradient(double v, double s);

#endif
