"""Distortion measures of tec compare: PSNR, SAM and MS-SSIM on
reflectance x 10000, and the true-colour bands MS-SSIM is computed on."""
import math

import numpy as np


PEAK = 10000.0          # reflectance x 10000: PSNR peak, values clipped to [0, PEAK]
RGB_MAX = 4000.0        # true-colour stretch for MS-SSIM: reflectance 0..0.4 -> 0..1
MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def clip_peak(x):
    return np.clip(np.asarray(x, dtype=np.float64), 0.0, PEAK)


def mse(ref, rec):
    d = clip_peak(ref) - clip_peak(rec)
    return float(np.mean(d * d))


def psnr_from_mse(m, peak=PEAK):
    if m <= 0:
        return math.inf
    return 10.0 * math.log10(peak * peak / m)


def psnr(ref, rec):
    """PSNR over all samples, peak 10000, both clipped to [0, 10000]."""
    return psnr_from_mse(mse(ref, rec))


def psnr_per_band(ref, rec):
    """PSNR of each band of T x C x H x W cubes."""
    ref = np.asarray(ref)
    rec = np.asarray(rec)
    out = []
    for c in range(ref.shape[1]):
        out.append(psnr(ref[:, c], rec[:, c]))
    return out


def sam_degrees(ref, rec, axis=1):
    """Mean spectral angle in degrees between the band vectors (along `axis`)
    of ref and rec, both clipped to [0, 10000]; pixels where either vector
    is zero are skipped.  NaN when no pixel is left."""
    a = clip_peak(ref)
    b = clip_peak(rec)
    dot = np.sum(a * b, axis=axis)
    na = np.sqrt(np.sum(a * a, axis=axis))
    nb = np.sqrt(np.sum(b * b, axis=axis))
    ok = (na > 0) & (nb > 0)
    if not np.any(ok):
        return math.nan
    cos = np.clip(dot[ok] / (na[ok] * nb[ok]), -1.0, 1.0)
    return float(np.degrees(np.mean(np.arccos(cos))))


def _gauss_kernel(size=SSIM_WINDOW, sigma=SSIM_SIGMA):
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(x, g):
    """Separable 'valid' filtering of the last two axes of x."""
    n = len(g)
    w = x.shape[-1] - n + 1
    out = g[0] * x[..., 0:w]
    for k in range(1, n):
        out = out + g[k] * x[..., k:k + w]
    h = out.shape[-2] - n + 1
    res = g[0] * out[..., 0:h, :]
    for k in range(1, n):
        res = res + g[k] * out[..., k:k + h, :]
    return res


def _ssim_cs(x, y, data_range):
    """Mean SSIM and contrast-structure of each image of x, y (N x H x W)."""
    g = _gauss_kernel()
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    mx = _filter_valid(x, g)
    my = _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mx * mx
    syy = _filter_valid(y * y, g) - my * my
    sxy = _filter_valid(x * y, g) - mx * my
    cs_map = (2.0 * sxy + c2) / (sxx + syy + c2)
    ssim_map = ((2.0 * mx * my + c1) / (mx * mx + my * my + c1)) * cs_map
    return ssim_map.mean(axis=(-2, -1)), cs_map.mean(axis=(-2, -1))


def msssim_scales(h, w, max_scales=5):
    """How many scales fit an h x w image with an 11 x 11 window (each scale
    halves the size); 0 when the image is smaller than the window."""
    m = 0
    s = min(h, w)
    while m < max_scales and s >= SSIM_WINDOW:
        m += 1
        s //= 2
    return m


def ms_ssim(x, y, data_range=1.0, max_scales=5):
    """MS-SSIM (Wang, Simoncelli, Bovik 2003) of each image of x, y
    (N x H x W or H x W): Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03,
    2x2 average pooling between scales, the standard 5 weights.  Images too
    small for 5 scales use fewer, with the first weights renormalised.
    Negative contrast-structure terms are clamped to 0.  Returns
    (values, scales); values is NaN when not even one scale fits."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    single = x.ndim == 2
    if single:
        x, y = x[None], y[None]
    m = msssim_scales(x.shape[-2], x.shape[-1], max_scales)
    if m == 0:
        vals = np.full(x.shape[0], np.nan)
        return (float(vals[0]) if single else vals), 0
    weights = np.array(MSSSIM_WEIGHTS[:m])
    weights = weights / weights.sum()
    result = np.ones(x.shape[0])
    for i in range(m):
        ssim, cs = _ssim_cs(x, y, data_range)
        if i < m - 1:
            result *= np.maximum(cs, 0.0) ** weights[i]
            h2 = x.shape[-2] // 2 * 2
            w2 = x.shape[-1] // 2 * 2
            x = 0.25 * (x[..., 0:h2:2, 0:w2:2] + x[..., 1:h2:2, 0:w2:2]
                        + x[..., 0:h2:2, 1:w2:2] + x[..., 1:h2:2, 1:w2:2])
            y = 0.25 * (y[..., 0:h2:2, 0:w2:2] + y[..., 1:h2:2, 0:w2:2]
                        + y[..., 0:h2:2, 1:w2:2] + y[..., 1:h2:2, 1:w2:2])
        else:
            result *= np.maximum(ssim, 0.0) ** weights[i]
    return (float(result[0]) if single else result), m


def true_colour(cube, rgb, offset=0):
    """True-colour composite (T*3 x H x W, 0..1) of a T x C x H x W cube:
    bands rgb = (red, green, blue) indices, offset subtracted, reflectance
    0..RGB_MAX mapped to 0..1."""
    x = np.asarray(cube[:, list(rgb)], dtype=np.float64) - offset
    x = np.clip(x / RGB_MAX, 0.0, 1.0)
    return x.reshape(-1, x.shape[-2], x.shape[-1])


def rgb_bands(bands, c):
    """(indices, how) of B04, B03, B02 from the band names, else 3, 2, 1
    (13-band L1C / 12-band L2A order), else None."""
    if bands:
        names = [b.upper().replace("B0", "B") for b in bands]
        want = ["B4", "B3", "B2"]
        if all(w in names for w in want):
            return tuple(names.index(w) for w in want), "B04,B03,B02"
    if c >= 4:
        return (3, 2, 1), "bands 3,2,1 (no band names: L1C order assumed)"
    return None, "no true-colour bands"


def to_uint16(x):
    return np.clip(np.rint(x), 0, 65535).astype(np.uint16)
