/* A test band resampled bilinearly (an interpolated band, doc/bitstream.md
 * section 3), shared by the unit tests and the decoder fuzzer. */
#ifndef TEC_TEST_BILINEAR_H
#define TEC_TEST_BILINEAR_H

#include <stdint.h>

/* Sample (y, x) of knot values resampled bilinearly: knots 2 rows apart
 * from row 0.5, 6 columns apart from column 2.5, values from a hash.  The
 * first two knot rows are equal, so rows 0..2 are too, as if replicated. */
static inline uint16_t bilinear_sample(int y, int x)
{
    const double py = (y - 0.5) / 2 + 1, px = (x - 2.5) / 6 + 1;
    const int ky = (int)py, kx = (int)px;
    const double ty = py - ky, tx = px - kx;
    double v[2][2];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            const unsigned row = ky + i <= 2 ? 2u : (unsigned)(ky + i);
            v[i][j] = 1000 + ((row * 131u + (unsigned)(kx + j) * 71u) * 2654435761u >> 20) % 4000;
        }
    const double top = v[0][0] * (1 - tx) + v[0][1] * tx, bottom = v[1][0] * (1 - tx) + v[1][1] * tx;
    return (uint16_t)(top * (1 - ty) + bottom * ty + 0.5);
}

#endif
