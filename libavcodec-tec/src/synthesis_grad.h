/* The image model's synthesis run backwards: the gradient of a loss on its
 * output with respect to its input latents.  Encoder-only (the latent
 * refinement, refine.h): the decoder never runs it and no symbol's entropy
 * model depends on it, so it may be plain float. */
#ifndef TEC_SYNTHESIS_GRAD_H
#define TEC_SYNTHESIS_GRAD_H

#include <stddef.h>

#include "model_image.h"

/* The synthesis weights rearranged for the backward pass, made once. */
typedef struct TecSynthGrad {
    const TecImageModel *m;
    float *flipped[TEC_IMG_MAX_LEVELS];     /* stage i: [cin][cout][3][3], taps reversed */
    float *gamma_t[TEC_IMG_MAX_LEVELS - 1]; /* each inverse GDN's gamma, transposed */
    float *skip_t;                          /* [m][slots d^2]: the linear skip, transposed */
} TecSynthGrad;

int tec_sgrad_init(TecSynthGrad *g, const TecImageModel *m);
void tec_sgrad_free(TecSynthGrad *g);

/* Floats of the tape that a forward pass over h x w latents keeps (each
 * inverse GDN's input), and where stage i's part starts. */
size_t tec_sgrad_tape_floats(const TecImageModel *m, int h, int w);
void tec_sgrad_tape_split(const TecImageModel *m, int h, int w, float *tape,
                          float *parts[TEC_IMG_MAX_LEVELS - 1]);

/* From the gradient at the synthesis output, grad_xn[slots][dh][dw] (d =
 * downscale), and the tape of the forward pass (tec_img_synthesis_taped
 * over the same h x w latents), the gradient at its input latents,
 * grad_y[m][h][w]. */
int tec_sgrad_backward(const TecSynthGrad *g, const float *tape, int h, int w,
                       const float *grad_xn, float *grad_y, TecWorkspace *ws);

#endif
