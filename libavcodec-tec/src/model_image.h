/* The tec-img v1 image model (doc/model.md): weights and transforms over
 * planar float tensors (channel, row, column). */
#ifndef TEC_MODEL_IMAGE_H
#define TEC_MODEL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "rans.h"
#include "weights.h"

#define TEC_IMG_ARCH "tec-img"
#define TEC_IMG_ARCH_VERSION 4   /* reads 1-3 too: 2 added the linear skip,
                                  * 3 the channel context, 4 the checkerboard one */
#define TEC_IMG_SCALES 64      /* Gaussian tables */
#define TEC_IMG_MAX_LEVELS 4   /* stride-2 stages of a transform */
#define TEC_IMG_MAX_SLICES 16  /* channel slices of the channel context */

typedef struct TecConv {
    float *weight, *bias;      /* [cout][cin][k][k], [cout] */
    int cin, cout, k;
} TecConv;

typedef struct TecIntConv {
    int32_t *weight, *bias;    /* [cout][cin][k][k], 12 and 20 fractional bits */
    int cin, cout, k;          /* k: 3 (hyper-synthesis) or 1 (channel context) */
} TecIntConv;

typedef struct TecGdn {
    float *beta, *gamma;       /* [c], [c][c] */
} TecGdn;

typedef struct TecImageModel {
    int slots, n, m, nh, nmid, qualities;
    int levels, downscale;     /* stride-2 stages; pixels per latent = 2^levels */
    int frame_norm;            /* 1: packets carry each frame's band statistics */
    int skip;                  /* 1: linear block transforms beside the nonlinear ones */
    int slices;                /* channel slices coded in turn (1: no channel context) */
    int ctx_hidden;            /* hidden width of the channel context */
    int spatial;               /* 1: each slice in two checkerboard passes */
    int default_quality;
    /* Encoder-only calibration of --quality (0: absent): the RMS band spread
     * at which a position means its anchor's trade-off, and the lambda ratio
     * between anchors in thousandths. */
    int quality_spread, lambda_ratio_milli;
    uint64_t checksum;

    TecConv a[TEC_IMG_MAX_LEVELS], h[3], s[TEC_IMG_MAX_LEVELS];
    float *a0_mask;            /* [n][slots] */
    float *skip_a;             /* [m][slots * downscale^2] (slot, row, column) */
    float *skip_s;             /* [slots * downscale^2][m] */
    TecGdn gdn[TEC_IMG_MAX_LEVELS - 1], igdn[TEC_IMG_MAX_LEVELS - 1];
    TecIntConv t[3];
    TecIntConv ctx[TEC_IMG_MAX_SLICES][2]; /* slice k >= 1: two 1x1 layers */
    TecIntConv sp[TEC_IMG_MAX_SLICES][2];  /* spatial: every slice, two 1x1 layers */
    float *gain, *igain;       /* [qualities][m] */
    float *band_mean, *band_std;

    int32_t thresholds[TEC_IMG_SCALES - 1];
    TecRansTable gauss[TEC_IMG_SCALES];
    TecRansTable *prior;       /* [nh] */
    uint32_t *gauss_cdf, *prior_cdf;
} TecImageModel;

/* Fetches a model's tensors one after another (the model loaders): after the
 * first failure every fetch returns NULL, and err keeps that failure's
 * message. */
typedef struct TecLoader {
    const TecWeights *w;
    char *err;
    size_t errlen;
    int failed;
} TecLoader;
/* An i32 tensor of ndim dimensions d0.. (copied; free it). */
int32_t *tec_load_i32(TecLoader *l, const char *name, int ndim, int d0, int d1, int d2, int d3);
/* PREFIX.weight ([cout][cin], or [cout][cin][k][k] for k > 1) and PREFIX.bias. */
void tec_load_int_conv(TecLoader *l, TecIntConv *c, const char *prefix, int cout, int cin, int k);
/* Each output's |bias| + sum |w| x (2^31 - 1) stays below 2^63, so that no
 * input, however corrupt, can overflow the 64-bit sums. */
int tec_int_conv_bounded(const TecIntConv *c);

/* Builds the model from loaded weights after checking the architecture, the
 * hyper-parameters, every tensor's shape and the coding tables.  TEC_EMODEL
 * (or TEC_ENOMEM) with a message on failure. */
int tec_img_load(TecImageModel **model, const TecWeights *w, char *err, size_t errlen);
void tec_img_free(TecImageModel **model);

/* Packet quality position (1/256 anchor units) for quality 1..29, 0 = the
 * model's default. */
int tec_img_quality_position(const TecImageModel *m, int quality);
/* Position for a frame whose RMS band spread is `spread`: base moved so that
 * the frame's trade-off is the one base gives at the model's quality_spread
 * in reflectance units, clamped to the anchors.  base when the model has no
 * calibration. */
int tec_img_adapted_position(const TecImageModel *m, int base, double spread);
/* The same before rounding and clamping: above (Q - 1) x 256 when the frame
 * would need more than the top anchor. */
double tec_img_wanted_position(const TecImageModel *m, int base, double spread);
/* Per-channel gain and inverse gain at a position (geometric interpolation
 * between anchors). */
void tec_img_gains(const TecImageModel *m, int position, float *gain, float *igain);
/* Scale-table index of a raw hyper-synthesis scale. */
int tec_img_scale_index(const TecImageModel *m, int32_t raw_scale);

/* Growable buffers, one set per worker; the transforms take what they need. */
enum {
    TEC_WS_ACT0, TEC_WS_ACT1, TEC_WS_CONV, TEC_WS_GDN,
    TEC_WS_USER,               /* first slot free for callers */
    TEC_WS_SLOTS = TEC_WS_USER + 8
};
typedef struct TecWorkspace {
    void *buf[TEC_WS_SLOTS];
    size_t size[TEC_WS_SLOTS];
} TecWorkspace;

/* A buffer of at least bytes in slot, contents not kept; NULL if out of memory. */
void *tec_ws_get(TecWorkspace *ws, int slot, size_t bytes);
void tec_ws_free(TecWorkspace *ws);

/* First-layer bias for a slot mask: a0.bias + a0_mask.weight . mask. */
void tec_img_input_bias(const TecImageModel *m, const float *mask, float *bias);

/* The part of an analysis input that lies inside the frame (padded to a
 * multiple of downscale): rows [y0, y1), columns [x0, x1), all multiples of
 * downscale.  Outside it every layer's input is zero, as in training, where
 * each convolution zero-pads its input at the frame's edge. */
typedef struct TecInside {
    int y0, y1, x0, x1;
} TecInside;

/* Analysis of xn[slots][h][w] (h, w multiples of downscale; zero outside
 * `inside`) into y[m][h/downscale][w/downscale]. */
int tec_img_analysis(const TecImageModel *m, const float *xn, int h, int w,
                     const TecInside *inside, const float *input_bias, float *y,
                     TecWorkspace *ws);
/* Hyper-analysis of y[m][h][w] into z[nh][hz][wz], hz = ceil(ceil(h/2)/2). */
int tec_img_hyper_analysis(const TecImageModel *m, const float *y, int h, int w,
                           float *z, TecWorkspace *ws);
/* Bit-exact hyper-synthesis of integer z[nh][hz][wz] into out[2m][4hz][4wz]:
 * the means (i32 / 256) then the raw scales. */
int tec_img_hyper_synthesis(const TecImageModel *m, const int32_t *z, int hz, int wz,
                            int32_t *out, TecWorkspace *ws);
/* Channel context of slice k (1 <= k < slices) over n positions: in holds
 * (k + 2) x m / slices rows of n, the decoded values of slices 0..k-1
 * (symbol x 256 + mean, saturated) then the slice's hyperprior means and raw
 * scales; the corrections are added to mean[m/slices][n] and scale
 * (saturated).  Bit-exact. */
int tec_img_channel_context(const TecImageModel *m, int k, const int32_t *in, int n,
                            int32_t *mean, int32_t *scale, TecWorkspace *ws);
/* Two 1x1 integer layers (ReLU between) of a context over n positions: in
 * [cin][n] -> 2 gs corrections added (saturated) to mean and scale [gs][n]. */
int tec_img_context_layers(const TecIntConv layer[2], int gs, const int32_t *in, int n,
                           int32_t *mean, int32_t *scale, TecWorkspace *ws);
/* Spatial (checkerboard) context of slice k over n non-anchor positions:
 * in holds 6 x m / slices rows of n, the slice's means and raw scales there,
 * then the decoded anchors above, below, left and right of each (0 outside
 * the block).  The corrections are added to the first two row groups of in
 * itself, which then hold the refined means and raw scales.  Bit-exact. */
int tec_img_spatial_context(const TecImageModel *m, int k, int32_t *in, int n,
                            TecWorkspace *ws);
/* Synthesis of y[m][h][w] into xn[slots][dh][dw], d = downscale, own
 * fixed-order GEMM. */
int tec_img_synthesis(const TecImageModel *m, const float *y, int h, int w,
                      float *xn, TecWorkspace *ws);
/* The same, keeping each inverse GDN's input in igdn_in[i] ([n][2^(i+1) h]
 * [2^(i+1) w], i < levels - 1) for the encoder's backward pass
 * (synthesis_grad.h); NULL keeps nothing. */
int tec_img_synthesis_taped(const TecImageModel *m, const float *y, int h, int w,
                            float *xn, float *const *igdn_in, TecWorkspace *ws);

#endif
