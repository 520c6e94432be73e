/* Tensor kernels of the models.  Tensors are float32 planar: channel, row,
 * column, contiguous.  Weights are [cout][cin][k][k] as in PyTorch. */
#ifndef TEC_KERNELS_H
#define TEC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* C[m x n] = A[m x k] * B[k x n] (+ C when accumulate), row-major, leading
 * dimensions lda, ldb, ldc.  Single-threaded.  Every element is summed in
 * one fixed order with each product and sum rounded to float (no fused
 * multiply-add), so the result is the same bits on every CPU, SIMD path
 * and thread split: both transforms use it, the encoder's analysis as well
 * as the decoder's synthesis. */
void tec_gemm_f32(int m, int n, int k,
                  const float *a, int lda, const float *b, int ldb,
                  float *c, int ldc, int accumulate);

/* Scratch floats needed by tec_conv2d_f32 for these shapes. */
size_t tec_conv2d_scratch(int cin, int h, int w, int k, int stride, int pad);
/* out[cout][oh][ow], oh = (h + 2 pad - k) / stride + 1 (same for ow);
 * zero padding; bias may be NULL. */
void tec_conv2d_f32(const float *in, int cin, int h, int w,
                    const float *weight, const float *bias, int cout, int k,
                    int stride, int pad, float *out, float *scratch);

/* in[4c][h][w] -> out[c][2h][2w]; channel 4c+2dy+dx goes to (2y+dy, 2x+dx). */
void tec_pixel_shuffle2_f32(const float *in, int c, int h, int w, float *out);
void tec_pixel_shuffle2_i32(const int32_t *in, int c, int h, int w, int32_t *out);

/* GDN in place over x[c][n]: x_i / sqrt(beta_i + sum_j gamma[i][j] x_j^2),
 * inverse: x_i * sqrt(...).  scratch: 2 * c * n floats. */
void tec_gdn_f32(float *x, int c, int n, const float *beta, const float *gamma,
                 int inverse, float *scratch);

void tec_relu_f32(float *x, size_t n);
void tec_relu_i32(int32_t *x, size_t n);

/* v clamped to [-2^31 + 1, 2^31 - 1], the range of every activation of the
 * integer layers. */
static inline int32_t tec_saturate_i32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < -INT32_MAX ? -INT32_MAX : (int32_t)v;
}

/* Bit-exact integer 3x3 convolution, stride 1, zero padding 1
 * (doc/bitstream.md, 4): acts have 8 fractional bits, weights 12, bias 20. */
void tec_conv3x3_i32(const int32_t *in, int cin, int h, int w,
                     const int32_t *weight, const int32_t *bias, int cout,
                     int32_t *out);

/* The same arithmetic for a 1x1 layer over n positions:
 * out[cout][n] from in[cin][n], weight[cout][cin]. */
void tec_dense_i32(const int32_t *in, int cin, int n, const int32_t *weight,
                   const int32_t *bias, int cout, int32_t *out);

#endif
