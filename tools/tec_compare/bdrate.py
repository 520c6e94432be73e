"""Bjontegaard delta rate and interpolation along rate-distortion curves."""
import math

import numpy as np


def rd_curve(rates, psnrs):
    """Points usable for a rate-PSNR curve: finite, rate > 0, sorted by rate,
    keeping only points that raise the PSNR (the monotone upper envelope)."""
    pts = sorted((float(r), float(p)) for r, p in zip(rates, psnrs)
                 if r is not None and p is not None and math.isfinite(r) and r > 0
                 and math.isfinite(p))
    out = []
    for r, p in pts:
        if out and r == out[-1][0]:
            if p > out[-1][1]:
                out[-1] = (r, p)
            continue
        if not out or p > out[-1][1]:
            out.append((r, p))
    return out


def bd_rate(ref_rates, ref_psnr, test_rates, test_psnr, lo=None, hi=None):
    """Bjontegaard delta rate (VCEG-M33) of the test curve against the
    reference: log(rate) fitted as a cubic polynomial of PSNR for each curve
    (lower degree with fewer than 4 points), both integrated over the PSNR
    interval they share (intersected with [lo, hi] when given).
    Returns (percent, lo_used, hi_used, note); percent < 0 means the test
    codec needs less rate.  NaN with a note when there is no overlap."""
    a = rd_curve(ref_rates, ref_psnr)
    b = rd_curve(test_rates, test_psnr)
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan, math.nan, "fewer than 2 points"
    pa = np.array([p for _, p in a])
    pb = np.array([p for _, p in b])
    la = np.log(np.array([r for r, _ in a]))
    lb = np.log(np.array([r for r, _ in b]))
    low = max(pa.min(), pb.min())
    high = min(pa.max(), pb.max())
    if lo is not None:
        low = max(low, lo)
    if hi is not None:
        high = min(high, hi)
    if not high - low > 1e-9:
        return math.nan, math.nan, math.nan, "no overlap"
    note = ""
    if len(a) < 4 or len(b) < 4:
        note = "fit of degree < 3 (fewer than 4 points)"
    fa = np.polyint(np.polyfit(pa, la, min(3, len(a) - 1)))
    fb = np.polyint(np.polyfit(pb, lb, min(3, len(b) - 1)))
    ia = np.polyval(fa, high) - np.polyval(fa, low)
    ib = np.polyval(fb, high) - np.polyval(fb, low)
    avg = (ib - ia) / (high - low)
    return (math.exp(avg) - 1.0) * 100.0, float(low), float(high), note


def interp_psnr_at_rate(curve, rate):
    """PSNR at `rate` on the curve, linear in log-rate between points; None
    outside the curve (no extrapolation)."""
    if len(curve) < 1 or not (curve[0][0] <= rate <= curve[-1][0]):
        return None
    for (r0, p0), (r1, p1) in zip(curve, curve[1:]):
        if r0 <= rate <= r1:
            t = (math.log(rate) - math.log(r0)) / (math.log(r1) - math.log(r0))
            return p0 + t * (p1 - p0)
    return curve[0][1] if rate == curve[0][0] else None


def interp_rate_at_psnr(curve, target):
    if len(curve) < 1 or not (curve[0][1] <= target <= curve[-1][1]):
        return None
    for (r0, p0), (r1, p1) in zip(curve, curve[1:]):
        if p0 <= target <= p1:
            t = (target - p0) / (p1 - p0)
            return math.exp(math.log(r0) + t * (math.log(r1) - math.log(r0)))
    return curve[0][0] if target == curve[0][1] else None
