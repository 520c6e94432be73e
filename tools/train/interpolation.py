"""Interpolated bands (doc/bitstream.md, section 3): Sentinel-2's 20 m and
60 m bands brought to the 10 m grid by bilinear resampling, as SSL4EO-S12
and many other L2A stacks ship them.  Along each axis such a band is
piecewise linear between knots spaced `factor` pixels apart, at
phase2 / 2 + k * factor (half-pixel steps).  The decoder projects each
band's reconstruction onto those piecewise-linear functions, by least
squares along the rows, then along the columns of each stripe; the source
lies in that space up to its rounding, so the projection removes most of
the coding error there.

This module is the reference of libtec's interpolation.c: the same knots,
normal equations and elimination order, in float64, vectorised over lines.
"""
import numpy as np

# Factors the encoder tries, largest first: 60 m -> 10 m, 60 m -> 20 m, 20 m -> 10 m.
SEARCH_FACTORS = (6, 3, 2)
MAX_FACTOR = 16
# A band is taken as interpolated when the projection moves its samples by
# at most this much (RMS): the rounding of the resampled values.
TOLERANCE_RMS = 0.5


def knots(s0, n, factor, phase2):
    """Knots (in half pixels) whose hat touches pixels s0 .. s0 + n - 1."""
    two_f = 2 * factor
    lo, hi = 2 * (s0 - factor), 2 * (s0 + n - 1 + factor)   # exclusive bounds
    k0 = (lo - phase2) // two_f + 1
    k1 = -((phase2 - hi) // two_f) - 1      # ceil((hi - phase2) / 2f) - 1
    return [phase2 + k * two_f for k in range(k0, k1 + 1)]


def geometry(s0, n, factor, phase2):
    """Per pixel: the knot index below it and the two hat weights; the
    tridiagonal normal equations, eliminated (Thomas).  None when the
    segment is shorter than two knot intervals or the system degenerates."""
    if n < 2 * factor:
        return None
    kn = knots(s0, n, factor, phase2)
    nk, two_f = len(kn), 2 * factor
    lower = np.zeros(n, np.int64)
    w_lo = np.zeros(n)
    w_hi = np.zeros(n)
    diag = np.zeros(nk)
    off = np.zeros(nk)          # off[k]: G[k][k+1]
    for i in range(n):
        x2 = 2 * (s0 + i)
        k = (x2 - kn[0]) // two_f
        k = min(max(k, 0), nk - 2)
        lower[i] = k
        w_hi[i] = float(x2 - kn[k]) / float(two_f)
        w_lo[i] = float(kn[k + 1] - x2) / float(two_f)
        diag[k] += w_lo[i] * w_lo[i]
        diag[k + 1] += w_hi[i] * w_hi[i]
        off[k] += w_lo[i] * w_hi[i]
    piv = np.zeros(nk)
    up = np.zeros(nk)
    for k in range(nk):
        piv[k] = diag[k] - (off[k - 1] * up[k - 1] if k else 0.0)
        if not piv[k] > 1e-9 * max(diag[k], 1e-300):
            return None
        up[k] = off[k] / piv[k] if k + 1 < nk else 0.0
    return dict(lower=lower, w_lo=w_lo, w_hi=w_hi, off=off, piv=piv, up=up, nk=nk)


def project_lines(lines, geo):
    """Least-squares projection of each row of `lines` (L x n float64)."""
    L, n = lines.shape
    nk = geo["nk"]
    rhs = np.zeros((L, nk))
    for i in range(n):
        k = geo["lower"][i]
        rhs[:, k] = rhs[:, k] + geo["w_lo"][i] * lines[:, i]
        rhs[:, k + 1] = rhs[:, k + 1] + geo["w_hi"][i] * lines[:, i]
    d = np.zeros((L, nk))
    for k in range(nk):
        prev = geo["off"][k - 1] * d[:, k - 1] if k else 0.0
        d[:, k] = (rhs[:, k] - prev) / geo["piv"][k]
    c = np.zeros((L, nk))
    c[:, nk - 1] = d[:, nk - 1]
    for k in range(nk - 2, -1, -1):
        c[:, k] = d[:, k] - geo["up"][k] * c[:, k + 1]
    out = np.zeros((L, n))
    for i in range(n):
        k = geo["lower"][i]
        out[:, i] = geo["w_lo"][i] * c[:, k] + geo["w_hi"][i] * c[:, k + 1]
    return out


def to_u16(v):
    return np.clip(np.floor(v + 0.5), 0, 65535).astype(np.uint16)


def project_band(seg, y0, params):
    """libtec's decoder step on rows y0 .. y0 + len(seg) - 1 of a band:
    along each row, rounded, then along each column, rounded.  An axis
    whose segment is too short is left alone."""
    fy, py, fx, px = params
    out = seg
    gx = geometry(0, seg.shape[1], fx, px)
    if gx is not None:
        out = to_u16(project_lines(out.astype(np.float64), gx))
    gy = geometry(y0, seg.shape[0], fy, py)
    if gy is not None:
        out = to_u16(project_lines(out.T.astype(np.float64), gy)).T.copy()
    return out


def projector(n, s0, factor, phase2):
    """The projection along one axis as a dense n x n matrix (training)."""
    geo = geometry(s0, n, factor, phase2)
    if geo is None:
        return None
    return project_lines(np.eye(n), geo).T   # column j: the image of e_j


def fitted_lines(lines, factor, phase2, dense=False):
    """The lines (from pixel 0) fitted with knots every `factor` pixels from
    phase2 / 2, or None where they are too short: as the decoder does, or
    (dense) with a cached projector matrix, for training."""
    n = lines.shape[1]
    if dense:
        P = cached_projector(n, factor, phase2)
        return None if P is None else lines @ P.T
    geo = geometry(0, n, factor, phase2)
    return None if geo is None else project_lines(lines, geo)


def best_axis(lines, dense=False):
    """(factor, phase2) of the largest factor whose best phase fits the lines
    within the tolerance, else None."""
    for f in SEARCH_FACTORS:
        best = None
        for p2 in range(2 * f):
            fit = fitted_lines(lines, f, p2, dense)
            if fit is None:
                continue
            err = float(((fit - lines) ** 2).mean())
            if best is None or err < best[0]:
                best = (err, p2)
        if best is not None and best[0] <= TOLERANCE_RMS ** 2:
            return f, best[1]
    return None


def sample_lines(band, count=8):
    idx = np.unique(np.linspace(0, band.shape[0] - 1, min(count, band.shape[0])).round().astype(int))
    return band[idx].astype(np.float64)


def detect(band):
    """Interpolation parameters (fy, phase2_y, fx, phase2_x) of a band taken
    as one segment, or None: sampled lines pick the factor and phase per
    axis, the whole band must then stay within the tolerance."""
    ax = best_axis(sample_lines(band))
    ay = best_axis(sample_lines(band.T)) if ax else None
    if not ay:
        return None
    params = (ay[0], ay[1], ax[0], ax[1])
    err = float(((project_band(band, 0, params).astype(np.float64) - band) ** 2).mean())
    return params if err <= TOLERANCE_RMS ** 2 else None


_PROJECTORS = {}


def cached_projector(n, factor, phase2):
    key = (n, factor, phase2)
    if key not in _PROJECTORS:
        _PROJECTORS[key] = projector(n, 0, factor, phase2)
    return _PROJECTORS[key]


def detect_dense(band):
    """detect() for training crops, with cached dense projectors (and no
    intermediate rounding): (Py, Px) matrices, or None."""
    ax = best_axis(sample_lines(band), dense=True)
    ay = best_axis(sample_lines(band.T), dense=True) if ax else None
    if not ay:
        return None
    Py = cached_projector(band.shape[0], *ay)
    Px = cached_projector(band.shape[1], *ax)
    x = band.astype(np.float64)
    err = float(((Py @ x @ Px.T - x) ** 2).mean())
    return (Py, Px) if err <= TOLERANCE_RMS ** 2 else None
