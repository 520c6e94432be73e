"""The spectral KLT of the j2k_klt baseline and its side information."""
import numpy as np


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
