#!/usr/bin/python3
"""tec compare: rate-distortion, speed and memory of tec against the codecs a
user would pick instead, on the user's own Sentinel-2 cubes.

    compare.py CUBE... [--out DIR] [--codecs LIST] [--qualities LIST]
               [--ladder CODEC=V1,V2,..] [--tec PATH] [--ffmpeg PATH]
               [--frames N] [--crop H[xW][+Y+X]] [--threads N] [--resume]

CUBE is a .npy (T x C x H x W or C x H x W, uint16), a place directory of
../shared/data (cube.npz + meta.json), a cube.npz, or a .tecv (raw bands, or
tec-coded when the tec tool is there to decode it).

Writes into DIR (default compare-out/): results.csv (one row per point,
written as it goes), bdrate.csv and bdrate.md (Bjontegaard delta rate),
summary.md (PSNR at fixed rates, rate at fixed PSNR), rd_<cube>.png,
rd_all.png and speed.png.  See doc/compare.md for what every codec does.
"""
import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PEAK = 10000.0          # reflectance x 10000: PSNR peak, values clipped to [0, PEAK]
RGB_MAX = 4000.0        # true-colour stretch for MS-SSIM: reflectance 0..0.4 -> 0..1
MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5

CSV_COLUMNS = [
    "cube", "codec", "setting", "T", "C", "H", "W", "bytes", "bpppb", "bpp",
    "psnr", "mse", "sam", "msssim", "msssim_scales",
    "enc_seconds", "dec_seconds", "enc_cpu_seconds", "dec_cpu_seconds",
    "enc_mpxb_per_s", "dec_mpxb_per_s",
    "enc_rss_mb", "dec_rss_mb", "peak_rss_mb", "scale_psnr", "psnr_bands", "notes",
]

ALL_CODECS = ["tec", "j2k", "j2k_klt", "x265", "aom", "svtav1", "jxl", "zstd"]

DEFAULT_LADDERS = {
    # tec: --quality
    "tec": "1,5,9,13,17,21,25,29",
    # j2k, j2k_klt: target bpppb of the codestream (opj_compress -r 16/target)
    "j2k": "0.03,0.05,0.1,0.2,0.35,0.5,0.75,1,1.5,2.5,lossless",
    "j2k_klt": "0.03,0.05,0.1,0.2,0.35,0.5,0.75,1,1.5,2.5",
    # x265, aom, svtav1: CRF
    "x265": "50,44,38,32,26,20,14,8",
    "aom": "60,52,44,36,28,20,12,4",
    "svtav1": "60,52,44,36,28,20,12,4",
    # jxl: butteraugli distance (cjxl -d); lossless = -d 0 on the raw values
    "jxl": "8,4,2,1,0.5,0.25,0.1,lossless",
    # zstd: compression level
    "zstd": "3,19",
}


class CodecError(Exception):
    pass


# ============================================================== measures

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


# ============================================================== BD-rate

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


# ============================================================== KLT

def klt_forward(frame):
    """Spectral KLT of one acquisition (C x H x W).  Returns (mean, vecs, y):
    mean (C,) and vecs (C x C, columns = principal directions, by decreasing
    variance) as float32, the side information the decoder gets, and the
    components y (C x H x W float64) computed with exactly those float32
    values."""
    c = frame.shape[0]
    x = np.asarray(frame, dtype=np.float64).reshape(c, -1)
    mean = x.mean(axis=1)
    xc = x - mean[:, None]
    cov = xc @ xc.T / max(1, x.shape[1])
    w, v = np.linalg.eigh(cov)
    v = v[:, np.argsort(w)[::-1]]
    # deterministic signs: the largest entry of each vector is positive
    big = np.argmax(np.abs(v), axis=0)
    v = v * np.where(v[big, np.arange(c)] < 0, -1.0, 1.0)
    mean32 = mean.astype(np.float32)
    v32 = v.astype(np.float32)
    y = v32.astype(np.float64).T @ (x - mean32.astype(np.float64)[:, None])
    return mean32, v32, y.reshape(frame.shape)


def klt_inverse(mean32, v32, y):
    c = y.shape[0]
    x = v32.astype(np.float64) @ y.reshape(c, -1) + mean32.astype(np.float64)[:, None]
    return x.reshape(y.shape)


def klt_to_uint16(y):
    """Components -> uint16 with one common step (so that JPEG 2000's
    rate allocation, which minimises the squared error of the integer
    samples, minimises the band error too: the KLT is orthonormal) and a
    per-component offset.  Returns (q, offsets float32, step float32)."""
    c = y.shape[0]
    flat = y.reshape(c, -1)
    lo = flat.min(axis=1)
    span = float((flat.max(axis=1) - lo).max())
    step = np.float32(max(span / 65535.0, 1e-6))
    while float(step) * 65535.0 < span:        # float32 rounding must still cover the span
        step = np.nextafter(step, np.float32(np.inf))
    off = lo.astype(np.float32)
    q = np.rint((flat - off.astype(np.float64)[:, None]) / float(step))
    q = np.clip(q, 0, 65535).astype(np.uint16).reshape(y.shape)
    return q, off, step


def klt_from_uint16(q, off, step):
    c = q.shape[0]
    y = q.reshape(c, -1).astype(np.float64) * float(step) + off.astype(np.float64)[:, None]
    return y.reshape(q.shape)


def klt_side_bytes(c):
    """Side information per acquisition: mean (C), vectors (C x C), offsets
    (C) and the step (1), all float32."""
    return 4 * (c + c * c + c + 1)


def to_uint16(x):
    return np.clip(np.rint(x), 0, 65535).astype(np.uint16)


# ============================================================== child processes

class Meter:
    """Seconds and peak RSS of the child processes (and timed in-process
    transforms) of the encode and the decode side of one point."""

    def __init__(self):
        self.seconds = {"enc": 0.0, "dec": 0.0}
        self.cpu = {"enc": 0.0, "dec": 0.0}
        self.rss_kb = {"enc": 0, "dec": 0}

    def timed(self, side):
        """Context manager: count an in-process transform on `side`."""
        meter = self

        class _T:
            def __enter__(self):
                self.t0, self.c0 = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                meter.seconds[side] += time.perf_counter() - self.t0
                meter.cpu[side] += time.process_time() - self.c0
        return _T()

    def run(self, side, cmd, stdout_path=None):
        """Run cmd; count its wall time, CPU time and peak RSS on `side`.

        A child forked from this (large) Python process starts with a copy
        of its memory, and Linux counts that in the child's ru_maxrss.  So
        the command runs under GNU time, which forks it from a small
        process and writes its own child's peak RSS ('%M'); without GNU
        time, VmHWM of the command is sampled from /proc while it runs."""
        err = tempfile.TemporaryFile()
        out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
        rss_path = None
        argv = cmd
        if gnu_time():
            fd, rss_path = tempfile.mkstemp(prefix="tec-compare-rss-")
            os.close(fd)
            argv = [gnu_time(), "-q", "-f", "%M", "-o", rss_path] + list(cmd)
        try:
            t0 = time.perf_counter()
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            except OSError as e:
                raise CodecError("cannot run %s: %s" % (argv[0], e))
            hwm = 0
            if rss_path:
                _, status, usage = os.wait4(proc.pid, 0)
            else:
                while True:
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid:
                        break
                    hwm = max(hwm, proc_hwm_kb(proc.pid))
                    time.sleep(0.002)
            self.seconds[side] += time.perf_counter() - t0
            self.cpu[side] += usage.ru_utime + usage.ru_stime
            proc.returncode = os.waitstatus_to_exitcode(status)
            if rss_path:
                try:
                    with open(rss_path) as f:
                        hwm = int(f.read().split()[-1])
                except (OSError, ValueError, IndexError):
                    hwm = 0
            self.rss_kb[side] = max(self.rss_kb[side], hwm)
            if proc.returncode == 127 and rss_path and not shutil.which(cmd[0]):
                raise CodecError("cannot run %s" % cmd[0])
            if proc.returncode != 0:
                err.seek(0)
                tail = err.read().decode("utf-8", "replace").strip().splitlines()[-6:]
                raise CodecError("%s exited with %d: %s"
                                 % (" ".join(cmd), proc.returncode, " | ".join(tail)))
        finally:
            err.close()
            if stdout_path:
                out.close()
            if rss_path:
                os.remove(rss_path)


_GNU_TIME = []


def gnu_time():
    """Path of GNU time (Debian package 'time'), or None."""
    if not _GNU_TIME:
        path = None
        for p in ("/usr/bin/time", shutil.which("time") or ""):
            if p and os.access(p, os.X_OK):
                try:
                    r = subprocess.run([p, "--version"], capture_output=True, text=True,
                                       timeout=10)
                    if "GNU" in r.stdout + r.stderr:
                        path = p
                        break
                except (OSError, subprocess.SubprocessError):
                    pass
        _GNU_TIME.append(path)
    return _GNU_TIME[0]


def proc_hwm_kb(pid):
    """VmHWM of a running process in kB (0 when it cannot be read)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def pad_edges(x, min_h, min_w, align=1):
    """Pad the last two axes by edge replication to at least min_h x min_w
    and a multiple of align."""
    h, w = x.shape[-2:]
    H = max(min_h, -(-h // align) * align)
    W = max(min_w, -(-w // align) * align)
    if (H, W) == (h, w):
        return x
    pads = [(0, 0)] * (x.ndim - 2) + [(0, H - h), (0, W - w)]
    return np.pad(x, pads, mode="edge")


def scale_to_bits(x, bits):
    """Reflectance -> `bits`-bit samples: round(clip(x, 0, 10000) / s) with
    s = 10000 / (2^bits - 1), so 0..10000 fills the whole range."""
    s = PEAK / (2 ** bits - 1)
    return np.rint(np.clip(np.asarray(x, dtype=np.float64), 0, PEAK) / s).astype(np.uint16)


def unscale_from_bits(v, bits):
    s = PEAK / (2 ** bits - 1)
    return to_uint16(np.asarray(v, dtype=np.float64) * s)


def write_pgm16(path, img):
    h, w = img.shape
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n65535\n" % (w, h))
        f.write(np.ascontiguousarray(img, dtype=">u2").tobytes())


def read_pgm(path):
    data = open(path, "rb").read()
    fields = []
    pos = 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    pos += 1
    if fields[0] != b"P5":
        raise CodecError("%s: not a binary PGM" % path)
    w, h, maxval = int(fields[1]), int(fields[2]), int(fields[3])
    dt = ">u2" if maxval > 255 else "u1"
    img = np.frombuffer(data[pos:pos + w * h * np.dtype(dt).itemsize], dtype=dt)
    return img.reshape(h, w).astype(np.float64), maxval


# ============================================================== codecs

class Codec:
    name = ""
    lossy = True

    def __init__(self, opts):
        self.opts = opts

    def check(self):
        """None when usable, else why not."""
        return None

    def label(self, setting):
        return setting

    def scale_roundtrip(self, cube):
        """The cube after the codec's sample conversion alone (no coding)."""
        return cube

    def code(self, cube, setting, work, meter, bands=None):
        """Encode and decode; returns (reconstruction, bytes, notes).  bands:
        the cube's band names where known, for codecs that use them."""
        raise NotImplementedError


def tool_missing(*names):
    for n in names:
        if not (shutil.which(n) or (os.path.sep in n and os.access(n, os.X_OK))):
            return n
    return None


class J2K(Codec):
    """All bands of an acquisition as one multi-component 16-bit JPEG 2000
    codestream (OpenJPEG), no component transform."""
    name = "j2k"

    def check(self):
        m = tool_missing("opj_compress", "opj_decompress")
        return ("%s not found (Debian: libopenjp2-tools)" % m) if m else None

    def label(self, setting):
        return "lossless" if setting == "lossless" else "rate=%s" % setting

    @staticmethod
    def numres(h, w):
        return max(1, min(6, int(math.floor(math.log2(max(1, min(h, w))))) + 1))

    def opj(self, comps, setting, work, meter, tag):
        """Code one C x H x W uint16 image; returns (decoded, bytes)."""
        c, h, w = comps.shape
        src = os.path.join(work, tag + ".rawl")
        j2k = os.path.join(work, tag + ".j2k")
        dec = os.path.join(work, tag + ".dec.rawl")
        np.ascontiguousarray(comps, dtype="<u2").tofile(src)
        cmd = ["opj_compress", "-i", src, "-o", j2k, "-F", "%d,%d,%d,16,u" % (w, h, c),
               "-mct", "0", "-n", str(self.numres(h, w)),
               "-threads", str(self.opts.threads)]
        if setting != "lossless":
            ratio = 16.0 / float(setting)
            cmd += ["-I", "-r", "%.6g" % ratio]
        meter.run("enc", cmd)
        nbytes = os.path.getsize(j2k)
        meter.run("dec", ["opj_decompress", "-i", j2k, "-o", dec,
                          "-threads", str(self.opts.threads)])
        out = np.fromfile(dec, dtype="<u2")
        if out.size != comps.size:
            raise CodecError("opj_decompress gave %d samples, expected %d" % (out.size, comps.size))
        for p in (src, j2k, dec):
            os.remove(p)
        return out.reshape(comps.shape), nbytes

    def code(self, cube, setting, work, meter, bands=None):
        rec = np.empty_like(cube)
        total = 0
        for t in range(cube.shape[0]):
            rec[t], n = self.opj(cube[t], setting, work, meter, "f%d" % t)
            total += n
        return rec, total, ""


class J2KKLT(J2K):
    """Per acquisition: KLT across bands, the components as one
    multi-component JPEG 2000 image, the transform sent as float32."""
    name = "j2k_klt"

    def label(self, setting):
        return "rate=%s" % setting

    def scale_roundtrip(self, cube):
        rec = np.empty_like(cube)
        for t in range(cube.shape[0]):
            mean, vecs, y = klt_forward(cube[t])
            q, off, step = klt_to_uint16(y)
            rec[t] = to_uint16(klt_inverse(mean, vecs, klt_from_uint16(q, off, step)))
        return rec

    def code(self, cube, setting, work, meter, bands=None):
        if setting == "lossless":
            raise CodecError("j2k_klt has no lossless mode (the float KLT is not reversible)")
        rec = np.empty_like(cube)
        total = 0
        for t in range(cube.shape[0]):
            with meter.timed("enc"):
                mean, vecs, y = klt_forward(cube[t])
                q, off, step = klt_to_uint16(y)
            dq, n = self.opj(q, setting, work, meter, "f%d" % t)
            with meter.timed("dec"):
                rec[t] = to_uint16(klt_inverse(mean, vecs, klt_from_uint16(dq, off, step)))
            total += n + klt_side_bytes(cube.shape[1])
        return rec, total, "side info %d B/frame" % klt_side_bytes(cube.shape[1])


class FFmpegVideo(Codec):
    """Each band's time series as one monochrome video through ffmpeg."""
    bits = 12
    encoder = ""
    min_size = 16
    align = 1
    muxer = ""
    ext = ""

    decoders = ("hevc",)

    def check(self):
        ff = self.opts.ffmpeg
        if tool_missing(ff):
            return "ffmpeg not found at %s" % ff
        lst = self.opts.ffmpeg_list
        missing = ["%s %s" % (what[1:-1], name) for what, name in (
            ("-encoders", self.encoder), ("-muxers", self.muxer), ("-demuxers", self.muxer),
            ("-muxers", "rawvideo"), ("-demuxers", "rawvideo")) if name not in lst(what)]
        if not any(d in lst("-decoders") for d in self.decoders):
            missing.append("decoder %s" % " or ".join(self.decoders))
        if missing:
            return "%s lacks %s (another ffmpeg: --ffmpeg PATH)" % (ff, ", ".join(missing))
        return None

    def decoder_args(self):
        """The first of self.decoders that this ffmpeg has."""
        have = self.opts.ffmpeg_list("-decoders")
        for d in self.decoders:
            if d in have:
                return ["-c:v", d]
        return []

    def label(self, setting):
        return "crf=%s" % setting

    def scale_roundtrip(self, cube):
        return unscale_from_bits(scale_to_bits(cube, self.bits), self.bits)

    def enc_args(self, setting):
        raise NotImplementedError

    def to_frames(self, v):
        """T x H x W samples -> the raw input file's bytes and pix_fmt."""
        return np.ascontiguousarray(v, dtype="<u2").tobytes(), "gray12le"

    def from_frames(self, raw, t, h, w):
        return np.frombuffer(raw, dtype="<u2").reshape(t, h, w)

    def code(self, cube, setting, work, meter, bands=None):
        t, c, h, w = cube.shape
        ff = self.opts.ffmpeg
        rec = np.empty_like(cube)
        total = 0
        for b in range(c):
            v = pad_edges(scale_to_bits(cube[:, b], self.bits), self.min_size, self.min_size,
                          self.align)
            hp, wp = v.shape[-2:]
            data, pix_fmt = self.to_frames(v)
            src = os.path.join(work, "b%d.raw" % b)
            bs = os.path.join(work, "b%d.%s" % (b, self.ext))
            dec = os.path.join(work, "b%d.dec.raw" % b)
            with open(src, "wb") as f:
                f.write(data)
            meter.run("enc", [ff, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                              "-f", "rawvideo", "-pix_fmt", pix_fmt, "-s", "%dx%d" % (wp, hp),
                              "-r", "1", "-i", src] + self.enc_args(setting)
                      + ["-f", self.muxer, bs])
            total += os.path.getsize(bs)
            meter.run("dec", [ff, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
                      + self.decoder_args() + ["-i", bs, "-fps_mode", "passthrough",
                                               "-f", "rawvideo", "-pix_fmt", pix_fmt, dec])
            raw = open(dec, "rb").read()
            if len(raw) != len(data):
                raise CodecError("band %d: decoded %d bytes, expected %d (frame count?)"
                                 % (b, len(raw), len(data)))
            dv = self.from_frames(raw, t, hp, wp)[:, :h, :w]
            rec[:, b] = unscale_from_bits(dv, self.bits)
            for p in (src, bs, dec):
                os.remove(p)
        return rec, total, self.notes(h, w)

    def notes(self, h, w):
        hp, wp = pad_edges(np.zeros((h, w)), self.min_size, self.min_size, self.align).shape
        pad = "" if (hp, wp) == (h, w) else "; padded to %dx%d" % (wp, hp)
        return "%d-bit, s=%.4f%s" % (self.bits, PEAK / (2 ** self.bits - 1), pad)


class X265(FFmpegVideo):
    name = "x265"
    encoder = "libx265"
    muxer = "hevc"
    ext = "hevc"

    def enc_args(self, setting):
        return ["-c:v", "libx265", "-preset", self.opts.x265_preset, "-crf", setting,
                "-x265-params", "log-level=error:info=0:pools=%d:frame-threads=1"
                % self.opts.threads]


class AOM(FFmpegVideo):
    name = "aom"
    encoder = "libaom-av1"
    min_size = 1
    muxer = "obu"
    ext = "obu"
    decoders = ("libdav1d", "libaom-av1")     # FFmpeg's own av1 decoder needs hwaccel

    def enc_args(self, setting):
        return ["-c:v", "libaom-av1", "-crf", setting, "-b:v", "0",
                "-cpu-used", str(self.opts.aom_cpu_used), "-threads", str(self.opts.threads)]


class SVTAV1(FFmpegVideo):
    """10-bit 4:2:0 with the band in luma and constant (512) chroma; SVT-AV1
    needs at least 64 x 64 and even sizes."""
    name = "svtav1"
    encoder = "libsvtav1"
    bits = 10
    min_size = 64
    align = 2
    muxer = "obu"
    ext = "obu"
    decoders = ("libdav1d", "libaom-av1")

    def enc_args(self, setting):
        return ["-c:v", "libsvtav1", "-crf", setting, "-preset", str(self.opts.svtav1_preset),
                "-svtav1-params", "lp=%d" % self.opts.threads]

    def to_frames(self, v):
        t, h, w = v.shape
        chroma = np.full((t, 2 * (h // 2) * (w // 2)), 512, dtype="<u2")
        frames = np.concatenate([v.reshape(t, -1).astype("<u2"), chroma], axis=1)
        return frames.tobytes(), "yuv420p10le"

    def from_frames(self, raw, t, h, w):
        f = np.frombuffer(raw, dtype="<u2").reshape(t, -1)
        return f[:, :h * w].reshape(t, h, w)


class JXL(Codec):
    """Each band of each acquisition as one 16-bit grey JPEG XL image (cjxl);
    lossy: 0..10000 stretched to 0..65535; lossless: the raw values."""
    name = "jxl"

    def check(self):
        m = tool_missing("cjxl", "djxl")
        return ("%s not found (Debian: libjxl-tools)" % m) if m else None

    def label(self, setting):
        return "lossless" if setting == "lossless" else "d=%s" % setting

    @staticmethod
    def stretch(x):
        return np.rint(np.clip(np.asarray(x, np.float64), 0, PEAK) * (65535.0 / PEAK))

    def scale_roundtrip(self, cube):
        return to_uint16(self.stretch(cube) * (PEAK / 65535.0))

    def code(self, cube, setting, work, meter, bands=None):
        t, c, h, w = cube.shape
        lossless = setting == "lossless"
        rec = np.empty_like(cube)
        total = 0
        for i in range(t):
            for b in range(c):
                src = os.path.join(work, "in.pgm")
                bs = os.path.join(work, "x.jxl")
                dec = os.path.join(work, "out.pgm")
                write_pgm16(src, cube[i, b] if lossless else self.stretch(cube[i, b]))
                meter.run("enc", ["cjxl", src, bs, "-d", "0" if lossless else setting,
                                  "-e", str(self.opts.jxl_effort),
                                  "--num_threads=%d" % self.opts.threads, "--quiet"])
                total += os.path.getsize(bs)
                meter.run("dec", ["djxl", bs, dec, "--bits_per_sample=16",
                                  "--num_threads=%d" % self.opts.threads, "--quiet"])
                img, maxval = read_pgm(dec)
                if img.shape != (h, w):
                    raise CodecError("djxl gave %s, expected %s" % (img.shape, (h, w)))
                if lossless:
                    rec[i, b] = to_uint16(img * (65535.0 / maxval))
                else:
                    rec[i, b] = to_uint16(img * (PEAK / maxval))
        note = "lossless on raw values" if lossless else "0..10000 -> 0..65535 grey"
        return rec, total, note


class ZSTD(Codec):
    """The raw planes (T x C x H x W, uint16 little-endian) through zstd."""
    name = "zstd"
    lossy = False

    def check(self):
        return "zstd not found" if tool_missing("zstd") else None

    def label(self, setting):
        return "level=%s" % setting

    def code(self, cube, setting, work, meter, bands=None):
        src = os.path.join(work, "cube.raw")
        bs = src + ".zst"
        dec = os.path.join(work, "dec.raw")
        np.ascontiguousarray(cube, dtype="<u2").tofile(src)
        lvl = int(setting)
        meter.run("enc", ["zstd", "-q", "-f", "-%d" % lvl] + (["--ultra"] if lvl > 19 else [])
                  + ["-T%d" % self.opts.threads, src, "-o", bs])
        n = os.path.getsize(bs)
        meter.run("dec", ["zstd", "-q", "-d", "-f", bs, "-o", dec])
        rec = np.fromfile(dec, dtype="<u2").reshape(cube.shape)
        return rec, n, "lossless"


class TEC(Codec):
    name = "tec"

    def check(self):
        p = self.opts.tec
        if not p or not os.access(p, os.X_OK):
            return "tec tool not found at %s (build it with ./configure && make)" % p
        return None

    def label(self, setting):
        return "q=%s" % setting

    def code(self, cube, setting, work, meter, bands=None):
        src = os.path.join(work, "in.npy")
        bs = os.path.join(work, "out.tecv")
        dec = os.path.join(work, "dec.npy")
        np.save(src, np.ascontiguousarray(cube))
        # The band names place each band in the model's slots, as tec encode
        # --bands does for a user; without them tec assumes Sentinel-2 order.
        names = ["--bands", ",".join(bands)] if bands else []
        meter.run("enc", [self.opts.tec, "encode", src, "-o", bs, "--quality", setting,
                          "--threads", str(self.opts.threads)] + names)
        n = os.path.getsize(bs)
        meter.run("dec", [self.opts.tec, "decode", bs, "-o", dec,
                          "--threads", str(self.opts.threads)])
        rec = np.load(dec)
        if rec.shape != cube.shape:
            if rec.size == cube.size:
                rec = rec.reshape(cube.shape)
            else:
                raise CodecError("tec decode gave shape %s, expected %s" % (rec.shape, cube.shape))
        return rec.astype(np.uint16), n, "whole .tecv file"


CODEC_CLASSES = {c.name: c for c in (TEC, J2K, J2KKLT, X265, AOM, SVTAV1, JXL, ZSTD)}


# ============================================================== inputs

class Cube:
    def __init__(self, name, data, bands=None, offset=0, source=""):
        self.name = name
        self.data = data
        self.bands = bands
        self.offset = offset
        self.source = source


def _meta_bands(meta):
    b = meta.get("band_names") or meta.get("bands")
    if isinstance(b, str):
        b = [s.strip() for s in b.split(",") if s.strip()]
    return list(b) if b else None


def _meta_offset(meta):
    v = meta.get("radiometric_offset_1000", meta.get("radiometric_offset"))
    if v in (True, "true", "True", "1", 1):
        return 1000
    try:
        return int(float(v)) if v not in (None, False, "", "false", "False") else 0
    except (TypeError, ValueError):
        return 0


def load_cube(path, opts):
    """Read one input into a Cube (T x C x H x W uint16)."""
    meta = {}
    p = path.rstrip("/")
    if os.path.isdir(p):
        name = os.path.basename(p)
        npz = os.path.join(p, "cube.npz")
        if not os.path.exists(npz):
            raise SystemExit("compare: %s has no cube.npz" % p)
        data = np.load(npz)["cube"]
        mp = os.path.join(p, "meta.json")
        if os.path.exists(mp):
            meta = json.load(open(mp))
    elif p.endswith(".npz"):
        d = os.path.dirname(os.path.abspath(p))
        base = os.path.splitext(os.path.basename(p))[0]
        name = os.path.basename(d) if base == "cube" else base
        z = np.load(p)
        data = z["cube"] if "cube" in z else z[z.files[0]]
        mp = os.path.join(d, "meta.json")
        if os.path.exists(mp):
            meta = json.load(open(mp))
    elif p.endswith(".tecv"):
        name = os.path.splitext(os.path.basename(p))[0]
        data, meta = read_tecv_cube(p, opts)
    else:
        name = os.path.splitext(os.path.basename(p))[0]
        data = np.load(p)
        for side in (os.path.splitext(p)[0] + ".json", os.path.join(os.path.dirname(p) or ".",
                                                                  "meta.json")):
            if os.path.exists(side):
                try:
                    meta = json.load(open(side))
                except ValueError:
                    meta = {}
                break
    data = np.asarray(data)
    if data.ndim == 3:
        data = data[None]
    if data.ndim != 4:
        raise SystemExit("compare: %s: expected T x C x H x W or C x H x W, got %s"
                         % (path, data.shape))
    if data.dtype != np.uint16:
        if np.issubdtype(data.dtype, np.integer) and data.min() >= 0 and data.max() <= 65535:
            data = data.astype(np.uint16)
        else:
            raise SystemExit("compare: %s: expected uint16, got %s" % (path, data.dtype))
    bands = opts.bands or _meta_bands(meta)
    if bands and len(bands) != data.shape[1]:
        bands = None
    if opts.frames:
        data = data[:opts.frames]
    if opts.crop:
        data = crop(data, opts.crop)
    return Cube(name, np.ascontiguousarray(data), bands, _meta_offset(meta), path)


def crop(data, spec):
    """H[xW][+Y+X]: an H x W window at row Y, column X (centred without them)."""
    size, _, off = spec.partition("+")
    hs, _, ws = size.partition("x")
    h = int(hs)
    w = int(ws) if ws else h
    H, W = data.shape[-2:]
    h, w = min(h, H), min(w, W)
    if off:
        ys, _, xs = off.partition("+")
        y, x = int(ys), int(xs)
    else:
        y, x = (H - h) // 2, (W - w) // 2
    y = max(0, min(y, H - h))
    x = max(0, min(x, W - w))
    return data[..., y:y + h, x:x + w]


def read_tecv_cube(path, opts):
    sys.path.insert(0, HERE)
    try:
        import tecio
    except ImportError as e:
        raise SystemExit("compare: reading %s needs tools/tecio.py (%s)" % (path, e))
    info, packets = tecio.read_tecv(path)
    meta = dict(info.get("meta") or {})
    c, h, w = info["bands"], info["height"], info["width"]
    if info["codec"] == 0:
        frames = [np.frombuffer(pl, dtype="<u2").reshape(c, h, w) for _, _, pl in packets]
        if not frames:
            raise SystemExit("compare: %s has no frames" % path)
        return np.stack(frames), meta
    tec = TEC(opts)
    why = tec.check()
    if why:
        raise SystemExit("compare: %s is tec-coded and %s" % (path, why))
    out = os.path.join(tempfile.mkdtemp(prefix="tec-compare-"), "dec.npy")
    Meter().run("dec", [opts.tec, "decode", path, "-o", out])
    data = np.load(out)
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    return data, meta


# ============================================================== measuring a point

def measure(cube, rec):
    """The distortion columns of one point."""
    ref = cube.data
    t, c, h, w = ref.shape
    m = mse(ref, rec)
    row = {"psnr": psnr_from_mse(m), "mse": m, "sam": sam_degrees(ref, rec, axis=1),
           "psnr_bands": ";".join("%.3f" % p for p in psnr_per_band(ref, rec))}
    rgb, _how = rgb_bands(cube.bands, c)
    if rgb is None:
        row["msssim"], row["msssim_scales"] = math.nan, 0
    else:
        vals, scales = ms_ssim(true_colour(ref, rgb, cube.offset),
                               true_colour(rec, rgb, cube.offset), 1.0)
        row["msssim"] = float(np.mean(vals)) if scales else math.nan
        row["msssim_scales"] = scales
    return row


def fmt(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf"
        return "%.6g" % v
    return str(v)


def run_point(codec, cube, setting, opts, scale_psnr):
    t, c, h, w = cube.data.shape
    work = tempfile.mkdtemp(prefix="tec-compare-", dir=opts.workdir)
    try:
        meter = Meter()
        rec, nbytes, notes = codec.code(cube.data, setting, work, meter, cube.bands)
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
    if rec.shape != cube.data.shape:
        raise CodecError("reconstruction has shape %s, expected %s" % (rec.shape, cube.data.shape))
    samples = t * c * h * w
    row = {"cube": cube.name, "codec": codec.name, "setting": codec.label(setting),
           "T": t, "C": c, "H": h, "W": w, "bytes": nbytes,
           "bpppb": nbytes * 8.0 / samples, "bpp": nbytes * 8.0 / (t * h * w)}
    row.update(measure(cube, rec))
    enc_s, dec_s = meter.seconds["enc"], meter.seconds["dec"]
    row.update({
        "enc_seconds": enc_s, "dec_seconds": dec_s,
        "enc_cpu_seconds": meter.cpu["enc"], "dec_cpu_seconds": meter.cpu["dec"],
        "enc_mpxb_per_s": samples / 1e6 / enc_s if enc_s > 0 else math.nan,
        "dec_mpxb_per_s": samples / 1e6 / dec_s if dec_s > 0 else math.nan,
        "enc_rss_mb": meter.rss_kb["enc"] / 1024.0, "dec_rss_mb": meter.rss_kb["dec"] / 1024.0,
        "peak_rss_mb": max(meter.rss_kb.values()) / 1024.0,
        "scale_psnr": scale_psnr, "notes": notes,
    })
    return row


# ============================================================== reports

def read_rows(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            for k in ("bpppb", "bpp", "psnr", "mse", "sam", "msssim", "enc_seconds",
                      "dec_seconds", "enc_cpu_seconds", "dec_cpu_seconds", "enc_mpxb_per_s",
                      "dec_mpxb_per_s", "peak_rss_mb"):
                try:
                    r[k] = float(r[k])
                except (KeyError, TypeError, ValueError):
                    r[k] = math.nan
            for k in ("T", "C", "H", "W", "bytes"):
                try:
                    r[k] = int(r[k])
                except (KeyError, TypeError, ValueError):
                    r[k] = 0
            rows.append(r)
    return rows


def group(rows):
    """{cube: {codec: [rows]}} in first-seen order."""
    out = {}
    for r in rows:
        out.setdefault(r["cube"], {}).setdefault(r["codec"], []).append(r)
    return out


def pooled_rows(rows):
    """The 'all cubes' curve: for each codec and setting run on every cube,
    total bits / total samples and the PSNR of the pooled squared error."""
    cubes = list(dict.fromkeys(r["cube"] for r in rows))
    acc = {}
    for r in rows:
        n = r["T"] * r["C"] * r["H"] * r["W"]
        a = acc.setdefault((r["codec"], r["setting"]), {"cubes": set(), "bits": 0.0, "n": 0,
                                                        "se": 0.0, "sam": 0.0, "ms": 0.0})
        a["cubes"].add(r["cube"])
        a["bits"] += r["bytes"] * 8.0
        a["n"] += n
        a["se"] += r["mse"] * n
        a["sam"] += r["sam"] * n
        a["ms"] += r["msssim"] * n
    out = []
    for (codec, setting), a in acc.items():
        if len(a["cubes"]) != len(cubes) or a["n"] == 0:
            continue
        out.append({"cube": "all", "codec": codec, "setting": setting,
                    "bpppb": a["bits"] / a["n"], "psnr": psnr_from_mse(a["se"] / a["n"]),
                    "sam": a["sam"] / a["n"], "msssim": a["ms"] / a["n"]})
    return out


def curve_of(rows):
    return rd_curve([r["bpppb"] for r in rows], [r["psnr"] for r in rows])


BD_RANGES = (("40-50 dB", 40.0, 50.0), ("common", None, None))


def bd_table(rows, test, refs):
    """Rows of bdrate.csv: test against each reference, per cube, the mean
    over cubes and on the pooled curve."""
    out = []
    g = group(rows)
    pooled = group(pooled_rows(rows)).get("all", {})
    for ref in refs:
        if ref == test:
            continue
        for rname, lo, hi in BD_RANGES:
            vals = []
            for cube, codecs in g.items():
                a, b = codecs.get(ref, []), codecs.get(test, [])
                if not a or not b:
                    continue
                v, l, h, note = bd_rate([r["bpppb"] for r in a], [r["psnr"] for r in a],
                                        [r["bpppb"] for r in b], [r["psnr"] for r in b], lo, hi)
                out.append({"test": test, "reference": ref, "cube": cube, "range": rname,
                            "lo_db": l, "hi_db": h, "bd_rate_percent": v, "note": note})
                if math.isfinite(v):
                    vals.append(v)
            if vals:
                out.append({"test": test, "reference": ref, "cube": "mean of cubes",
                            "range": rname, "lo_db": math.nan, "hi_db": math.nan,
                            "bd_rate_percent": float(np.mean(vals)),
                            "note": "%d cube(s) with overlap" % len(vals)})
            a, b = pooled.get(ref, []), pooled.get(test, [])
            if a and b and len(g) > 1:
                v, l, h, note = bd_rate([r["bpppb"] for r in a], [r["psnr"] for r in a],
                                        [r["bpppb"] for r in b], [r["psnr"] for r in b], lo, hi)
                out.append({"test": test, "reference": ref, "cube": "pooled", "range": rname,
                            "lo_db": l, "hi_db": h, "bd_rate_percent": v,
                            "note": ("pooled curve; " + note).rstrip("; ")})
    return out


def bd_cell(r):
    v = r["bd_rate_percent"]
    if not math.isfinite(v):
        return r["note"] or "n/a"
    s = "%+.1f%%" % v
    if r["range"] != "common" and math.isfinite(r["lo_db"]) and (r["lo_db"] > 40.0 + 1e-6
                                                                 or r["hi_db"] < 50.0 - 1e-6):
        s += " (%.1f-%.1f dB)" % (r["lo_db"], r["hi_db"])
    elif r["range"] == "common" and math.isfinite(r["lo_db"]):
        s += " (%.1f-%.1f dB)" % (r["lo_db"], r["hi_db"])
    return s


def bd_markdown(table, test, title):
    """Tables of cubes x pairs; a column per 'test vs reference' pair."""
    lines = ["## %s" % title, ""]
    if not table:
        return lines + ["No points of %s and a reference on the same cube." % test, ""]
    pairs = list(dict.fromkeys((r["test"], r["reference"]) for r in table))
    for rname, _, _ in BD_RANGES:
        sub = [r for r in table if r["range"] == rname]
        if not sub:
            continue
        cubes = list(dict.fromkeys(r["cube"] for r in sub))
        lines += ["### PSNR range %s" % rname, "",
                  "| cube | " + " | ".join("%s vs %s" % p for p in pairs) + " |",
                  "|---|" + "---|" * len(pairs)]
        for cube in cubes:
            cells = []
            for t, ref in pairs:
                hit = [r for r in sub if r["cube"] == cube and r["test"] == t
                       and r["reference"] == ref]
                cells.append(bd_cell(hit[0]) if hit else "-")
            lines.append("| %s | %s |" % (cube, " | ".join(cells)))
        lines.append("")
    return lines


def write_bdrate(rows, out_dir, test="tec", anchor="j2k_klt"):
    codecs = list(dict.fromkeys(r["codec"] for r in rows))
    lossy = [r for r in rows if math.isfinite(r["psnr"])]
    main = bd_table(lossy, test, codecs) if test in codecs else []
    # each baseline (the test codec excluded) against the anchor
    flipped = []
    if anchor in codecs:
        for codec in dict.fromkeys(r["codec"] for r in lossy):
            if codec not in (anchor, test):
                flipped += bd_table(lossy, codec, [anchor])
    cols = ["test", "reference", "cube", "range", "lo_db", "hi_db", "bd_rate_percent", "note"]
    with open(os.path.join(out_dir, "bdrate.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=cols)
        wr.writeheader()
        for r in main + flipped:
            wr.writerow({k: fmt(r[k]) for k in cols})
    lines = ["# BD-rate", "",
             "Bjontegaard delta rate (cubic fit of log bpppb against PSNR, integrated over "
             "the PSNR interval both curves cover, intersected with the range named). "
             "Negative: the test codec needs that much less rate for the same PSNR. "
             "A narrower interval than asked is given in brackets; 'no overlap' means the "
             "curves share no PSNR in that range. 'mean of cubes' averages the cubes with "
             "a value; 'pooled' uses the curve of total bits against pooled squared error.",
             ""]
    if test in codecs:
        lines += bd_markdown(main, test, "%s against each baseline" % test)
    else:
        lines += ["## %s against each baseline" % test, "",
                  "No %s points in results.csv: nothing to report." % test, ""]
    lines += bd_markdown(flipped, "each baseline",
                         "Each baseline against the %s anchor (reference = %s)" % (anchor, anchor))
    with open(os.path.join(out_dir, "bdrate.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


RATE_POINTS = (0.05, 0.1, 0.2, 0.5, 1.0)
PSNR_POINTS = (40.0, 45.0, 50.0)


def write_summary(rows, out_dir):
    g = group(rows)
    if len(g) > 1:
        g["all (pooled)"] = group(pooled_rows(rows)).get("all", {})
    lines = ["# Summary", "", "Interpolated linearly in log-rate between measured points; "
             "'-' where the codec's points do not reach that rate or PSNR (no extrapolation).",
             "", "## PSNR (dB) at a given rate (bpppb)", "",
             "| cube | codec | " + " | ".join("%g" % r for r in RATE_POINTS) + " |",
             "|---|---|" + "---|" * len(RATE_POINTS)]
    for cube, codecs in g.items():
        for codec, rs in codecs.items():
            cur = curve_of(rs)
            cells = [interp_psnr_at_rate(cur, r) for r in RATE_POINTS]
            lines.append("| %s | %s | %s |" % (cube, codec, " | ".join(
                "-" if v is None else "%.2f" % v for v in cells)))
    lines += ["", "## Rate (bpppb) at a given PSNR", "",
              "| cube | codec | " + " | ".join("%g dB" % p for p in PSNR_POINTS) + " |",
              "|---|---|" + "---|" * len(PSNR_POINTS)]
    for cube, codecs in g.items():
        for codec, rs in codecs.items():
            cur = curve_of(rs)
            cells = [interp_rate_at_psnr(cur, p) for p in PSNR_POINTS]
            lines.append("| %s | %s | %s |" % (cube, codec, " | ".join(
                "-" if v is None else "%.4f" % v for v in cells)))
    lossless = [r for r in rows if math.isinf(r["psnr"])]
    if lossless:
        lines += ["", "## Lossless points", "", "| cube | codec | setting | bpppb |",
                  "|---|---|---|---|"]
        for r in lossless:
            lines.append("| %s | %s | %s | %.4f |" % (r["cube"], r["codec"], r["setting"],
                                                     r["bpppb"]))
    lines += ["", "## Speed and memory (median over the points of each codec)", "",
              "Megapixels x bands per second, from wall-clock time and from the CPU time "
              "(user + system) of the codec's processes; the CPU figure is the steadier one "
              "on a shared machine.  Peak RSS: the largest child process.", "",
              "| codec | points | enc wall | enc CPU | dec wall | dec CPU | peak RSS MB |",
              "|---|---|---|---|---|---|---|"]
    by_codec = {}
    for r in rows:
        by_codec.setdefault(r["codec"], []).append(r)

    def per_cpu(r, side):
        n = r["T"] * r["C"] * r["H"] * r["W"] / 1e6
        c = r["%s_cpu_seconds" % side]
        return n / c if c > 0 else math.nan

    for codec, rs in by_codec.items():
        lines.append("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.0f |" % (
            codec, len(rs), np.nanmedian([r["enc_mpxb_per_s"] for r in rs]),
            np.nanmedian([per_cpu(r, "enc") for r in rs]),
            np.nanmedian([r["dec_mpxb_per_s"] for r in rs]),
            np.nanmedian([per_cpu(r, "dec") for r in rs]),
            np.nanmax([r["peak_rss_mb"] for r in rs])))
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


STYLE = {"tec": ("black", "o"), "j2k": ("tab:blue", "s"), "j2k_klt": ("tab:orange", "D"),
         "x265": ("tab:green", "^"), "aom": ("tab:red", "v"), "svtav1": ("tab:purple", "<"),
         "jxl": ("tab:brown", ">"), "zstd": ("tab:gray", "x")}


def write_plots(rows, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("compare: matplotlib missing: no plots", file=sys.stderr)
        return
    g = group(rows)
    written = []

    def panel(ax, codecs, key, ylabel, lossless_note=True):
        notes = []
        for codec, rs in codecs.items():
            color, marker = STYLE.get(codec, (None, "o"))
            fin = sorted((r for r in rs if math.isfinite(r["psnr"]) and math.isfinite(r[key])),
                         key=lambda r: r["bpppb"])
            if fin:
                ax.plot([r["bpppb"] for r in fin], [r[key] for r in fin], marker=marker,
                        color=color, label=codec, markersize=4, linewidth=1.2)
            for r in rs:
                if math.isinf(r["psnr"]):
                    notes.append("%s %s: %.3f" % (codec, r["setting"], r["bpppb"]))
        ax.set_xscale("log")
        ax.set_xlabel("bpppb (bits per pixel per band)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        if lossless_note and notes:
            ax.text(0.99, 0.02, "lossless (bpppb):\n" + "\n".join(notes), transform=ax.transAxes,
                    ha="right", va="bottom", fontsize=7,
                    bbox=dict(boxstyle="round", fc="white", alpha=0.8))

    for cube, codecs in g.items():
        r0 = next(iter(codecs.values()))[0]
        fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
        panel(axes[0], codecs, "psnr", "PSNR (dB, peak 10000)")
        panel(axes[1], codecs, "sam", "SAM (degrees, lower is better)", False)
        panel(axes[2], codecs, "msssim", "MS-SSIM, true colour", False)
        axes[0].legend(loc="upper left", fontsize=8)
        fig.suptitle("%s  (T=%d, C=%d, %dx%d)" % (cube, r0["T"], r0["C"], r0["H"], r0["W"]))
        fig.tight_layout()
        path = os.path.join(out_dir, "rd_%s.png" % "".join(
            ch if ch.isalnum() or ch in "-_." else "_" for ch in cube))
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    pooled = group(pooled_rows(rows)).get("all", {})
    if pooled:
        fig, ax = plt.subplots(figsize=(8, 6))
        panel(ax, pooled, "psnr", "PSNR (dB) of the pooled squared error")
        ax.legend(loc="upper left", fontsize=9)
        ax.set_title("all cubes (%d): total bits / total samples" % len(g))
        fig.tight_layout()
        path = os.path.join(out_dir, "rd_all.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    by_codec = {}
    for r in rows:
        by_codec.setdefault(r["codec"], []).append(r)
    if by_codec:
        fig, ax = plt.subplots(figsize=(8, 5))
        names = list(by_codec)
        x = np.arange(len(names))
        enc = [np.nanmedian([r["enc_mpxb_per_s"] for r in by_codec[n]]) for n in names]
        dec = [np.nanmedian([r["dec_mpxb_per_s"] for r in by_codec[n]]) for n in names]
        ax.bar(x - 0.2, enc, 0.4, label="encode")
        ax.bar(x + 0.2, dec, 0.4, label="decode")
        ax.set_xticks(x)
        ax.set_xticklabels(names)
        ax.set_yscale("log")
        ax.set_ylabel("megapixels x bands per second (median over points)")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = os.path.join(out_dir, "speed.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def write_reports(out_dir, plots=True):
    rows = read_rows(os.path.join(out_dir, "results.csv"))
    if not rows:
        return
    write_bdrate(rows, out_dir)
    write_summary(rows, out_dir)
    if plots:
        write_plots(rows, out_dir)


# ============================================================== main

class Options:
    pass


def default_ffmpeg():
    for p in (os.path.join(ROOT, "ffmpeg-src", "ffmpeg"), os.path.join(ROOT, "build", "ffmpeg",
                                                                      "ffmpeg")):
        if os.access(p, os.X_OK) and os.path.isfile(p):
            return p
    return shutil.which("ffmpeg") or "ffmpeg"


def default_tec():
    env = os.environ.get("TEC")
    if env:
        return env
    for p in (os.path.join(ROOT, "tools", "tec"), os.path.join(ROOT, "build", "tec")):
        if os.access(p, os.X_OK) and os.path.isfile(p):
            return p
    return os.path.join(ROOT, "tools", "tec")


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="tec compare",
        description="Rate-distortion, speed and memory of tec against the codecs users would "
                    "pick instead (see doc/compare.md).")
    ap.add_argument("cubes", nargs="+", metavar="CUBE",
                    help=".npy (T x C x H x W or C x H x W uint16), a place directory or "
                         "cube.npz of ../shared/data, or a .tecv")
    ap.add_argument("--out", default="compare-out", help="output directory (compare-out)")
    ap.add_argument("--codecs", default=",".join(ALL_CODECS),
                    help="comma-separated list of %s (all)" % ",".join(ALL_CODECS))
    ap.add_argument("--qualities", help="tec qualities (%s)" % DEFAULT_LADDERS["tec"])
    ap.add_argument("--ladder", action="append", default=[], metavar="CODEC=V1,V2,..",
                    help="settings of a baseline, e.g. x265=30,20,10 or j2k=0.1,0.5,lossless")
    ap.add_argument("--tec", default=None, help="the tec tool ($TEC, tools/tec, build/tec)")
    ap.add_argument("--ffmpeg", default=None,
                    help="ffmpeg for x265/aom/svtav1 (ffmpeg-src/ffmpeg, build/ffmpeg/ffmpeg, "
                         "else ffmpeg on PATH)")
    ap.add_argument("--frames", type=int, help="use the first N frames of each cube")
    ap.add_argument("--crop", help="H[xW][+Y+X]: crop each cube (centred without +Y+X)")
    ap.add_argument("--bands", help="band names, comma-separated (else from meta.json)")
    ap.add_argument("--threads", type=int, default=1, help="threads per codec (1)")
    ap.add_argument("--x265-preset", default="medium")
    ap.add_argument("--aom-cpu-used", type=int, default=4)
    ap.add_argument("--svtav1-preset", type=int, default=8)
    ap.add_argument("--jxl-effort", type=int, default=7)
    ap.add_argument("--resume", action="store_true",
                    help="keep results.csv and skip the points already in it")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the coded files (in --workdir)")
    ap.add_argument("--workdir", default=None, help="scratch directory (system temp)")
    ap.add_argument("--report-only", action="store_true",
                    help="only rewrite bdrate/summary/plots from --out/results.csv")
    a = ap.parse_args(argv)
    o = Options()
    o.__dict__.update(vars(a))
    o.tec = a.tec or default_tec()
    o.ffmpeg = a.ffmpeg or default_ffmpeg()
    o.bands = [b.strip() for b in a.bands.split(",")] if a.bands else None
    o.codecs = [c.strip() for c in a.codecs.split(",") if c.strip()]
    for c in o.codecs:
        if c not in CODEC_CLASSES:
            ap.error("unknown codec %r (known: %s)" % (c, ", ".join(ALL_CODECS)))
    o.ladders = dict(DEFAULT_LADDERS)
    if a.qualities:
        o.ladders["tec"] = a.qualities
    for spec in a.ladder:
        name, eq, vals = spec.partition("=")
        if not eq or name not in CODEC_CLASSES:
            ap.error("--ladder wants CODEC=V1,V2,.. with a known codec, got %r" % spec)
        o.ladders[name] = vals
    if a.threads < 1:
        ap.error("--threads must be >= 1")
    cache = {}

    def ffmpeg_list(what):
        """Names listed by `ffmpeg -encoders|-decoders|-muxers|-demuxers`."""
        if what not in cache:
            names = set()
            try:
                res = subprocess.run([o.ffmpeg, "-hide_banner", what], capture_output=True,
                                     text=True, timeout=60)
                body = res.stdout.split("\n --", 1)[-1].splitlines()[1:]
                for ln in body:
                    tok = ln.split()
                    if len(tok) > 1:
                        names.update(tok[1].split(","))
            except (OSError, subprocess.SubprocessError):
                pass
            cache[what] = names
        return cache[what]

    o.ffmpeg_list = ffmpeg_list
    return o


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(opts.out, exist_ok=True)
    if opts.report_only:
        write_reports(opts.out, not opts.no_plots)
        return 0

    codecs = []
    for name in opts.codecs:
        codec = CODEC_CLASSES[name](opts)
        why = codec.check()
        if why:
            print("compare: skipping %s: %s" % (name, why), flush=True)
        else:
            codecs.append(codec)
    if not codecs:
        print("compare: no codec is usable", file=sys.stderr)
        return 1

    cubes = []
    seen = set()
    for p in opts.cubes:
        cube = load_cube(p, opts)
        base, k = cube.name, 2
        while cube.name in seen:
            cube.name = "%s_%d" % (base, k)
            k += 1
        seen.add(cube.name)
        cubes.append(cube)

    csv_path = os.path.join(opts.out, "results.csv")
    done = set()
    if opts.resume and os.path.exists(csv_path):
        with open(csv_path, newline="") as f:
            header = next(csv.reader(f), None)
        if header != CSV_COLUMNS:
            print("compare: %s has other columns than this version writes; "
                  "move it away or run without --resume" % csv_path, file=sys.stderr)
            return 1
        done = {(r["cube"], r["codec"], r["setting"]) for r in read_rows(csv_path)}
        f = open(csv_path, "a", newline="")
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
    else:
        f = open(csv_path, "w", newline="")
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        f.flush()

    plan = []
    for cube in cubes:
        for codec in codecs:
            for s in [v.strip() for v in opts.ladders[codec.name].split(",") if v.strip()]:
                if (cube.name, codec.name, codec.label(s)) not in done:
                    plan.append((cube, codec, s))
    for cube in cubes:
        t, c, h, w = cube.data.shape
        rgb, how = rgb_bands(cube.bands, c)
        m = msssim_scales(h, w)
        print("compare: %s: %d x %d x %d x %d from %s; MS-SSIM on %s, %d scale(s)%s"
              % (cube.name, t, c, h, w, cube.source, how, m,
                 "" if m == 5 else " (image too small for 5)"), flush=True)
    print("compare: %d point(s) to run, results in %s" % (len(plan), csv_path), flush=True)

    scale_cache = {}
    failures = []
    interrupted = False
    try:
        for i, (cube, codec, s) in enumerate(plan, 1):
            key = (cube.name, codec.name)
            if key not in scale_cache:
                scale_cache[key] = psnr(cube.data, codec.scale_roundtrip(cube.data))
            try:
                row = run_point(codec, cube, s, opts, scale_cache[key])
            except CodecError as e:
                failures.append("%s %s %s: %s" % (cube.name, codec.name, s, e))
                print("[%d/%d] %s %s %s: FAILED: %s" % (i, len(plan), cube.name, codec.name,
                                                      codec.label(s), e), flush=True)
                continue
            writer.writerow({k: fmt(row.get(k, "")) for k in CSV_COLUMNS})
            f.flush()
            print("[%d/%d] %s %s %s: %.4f bpppb  %s dB  SAM %.3f  MS-SSIM %.4f  "
                  "enc %.2fs dec %.2fs  %.0f MB" % (
                      i, len(plan), cube.name, codec.name, row["setting"], row["bpppb"],
                      fmt(round(row["psnr"], 2)) if math.isfinite(row["psnr"]) else "inf",
                      row["sam"], row["msssim"], row["enc_seconds"], row["dec_seconds"],
                      row["peak_rss_mb"]), flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("\ncompare: interrupted; the points done are in %s" % csv_path, flush=True)
    finally:
        f.close()
    for (cube_name, codec_name), v in scale_cache.items():
        if math.isfinite(v):
            print("compare: %s %s: the sample conversion alone gives %.2f dB"
                  % (cube_name, codec_name, v))
    write_reports(opts.out, not opts.no_plots)
    print("compare: wrote %s" % ", ".join(sorted(os.listdir(opts.out))))
    if failures:
        print("compare: %d point(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)),
              file=sys.stderr)
    return 130 if interrupted else (1 if failures else 0)


if __name__ == "__main__":
    sys.exit(main())
