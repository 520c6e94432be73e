"""The error-bounded residual layer, as libtec decodes it
(libavcodec-tec/src/residual.c and error_bound.c; doc/bitstream.md, 3,
"Residual"): a plain reading of the spec for the independent decoder
(reference.py), sample by sample, so slow but short."""
import struct

import numpy as np

RESIDUAL_MAX = 65535
RESET = 64
N_REGULAR = 5 * 9 * 9
CTX_RUN_EQUAL, CTX_RUN_EDGE = N_REGULAR, N_REGULAR + 1
ESCAPE, ESCAPE_BITS = 31, 19
RUN_ORDER = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,
             4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15]


class Bits:
    """MSB-first bits; past the end, zeros and `overrun`."""

    def __init__(self, data):
        self.data, self.pos, self.overrun = data, 0, False

    def bit(self):
        if self.pos >= 8 * len(self.data):
            self.overrun = True
            return 0
        b = self.data[self.pos >> 3] >> (7 - (self.pos & 7)) & 1
        self.pos += 1
        return b

    def bits(self, n):
        v = 0
        for _ in range(n):
            v = v << 1 | self.bit()
        return v


def halve(v):
    return v // 2  # floor, as the C code's halve()


def clamp(v):
    return max(-RESIDUAL_MAX, min(RESIDUAL_MAX, v))


def decode_plane(data, w, h, max_error, predictor, above=None):
    """One residual plane (h x w int64), or raise on damaged data."""
    step = 2 * max_error + 1
    rng = 2 * RESIDUAL_MAX // step + 1
    a0 = max(2, (rng + 32) // 64)
    ctx = [[a0, 0, 1, 0] for _ in range(N_REGULAR + 2)]  # A, B, N, C
    t1, t2, t3 = 18 + 3 * max_error, 67 + 5 * max_error, 276 + 7 * max_error
    run_index = 0
    br = Bits(data)
    out = np.zeros((h, w), np.int64)
    prev = list(above) if above is not None else [0] * w
    prev_first_a = prev[0]

    def grad(d):
        if d <= -t3: return -4
        if d <= -t2: return -3
        if d <= -t1: return -2
        if d < -max_error: return -1
        if d <= max_error: return 0
        if d < t1: return 1
        if d < t2: return 2
        if d < t3: return 3
        return 4

    def sample(c_idx, sign, pred):
        c = ctx[c_idx]
        k = 0
        while k < 24 and (c[2] << k) < c[0]:
            k += 1
        high = 0
        while high < ESCAPE and not br.bit():
            high += 1
        if high == ESCAPE:
            if not br.bit():
                br.overrun = True
            mapped = br.bits(ESCAPE_BITS)
        else:
            mapped = high << k | br.bits(k)
        q = -((mapped + 1) // 2) if mapped & 1 else mapped // 2
        c[0] += abs(q)
        c[1] += q * step
        if c[2] == RESET:
            c[0], c[1], c[2] = halve(c[0]), halve(c[1]), halve(c[2])
        c[2] += 1
        if c[1] <= -c[2]:
            c[1] += c[2]
            if c[3] > -128:
                c[3] -= 1
            if c[1] <= -c[2]:
                c[1] = -c[2] + 1
        elif c[1] > 0:
            c[1] -= c[2]
            if c[3] < 127:
                c[3] += 1
            if c[1] > 0:
                c[1] = 0
        return clamp(pred + sign * q * step)

    for y in range(h):
        if br.overrun:
            break
        cur = out[y]
        x = 0
        while x < w:
            b = prev[x]
            a = int(cur[x - 1]) if x > 0 else prev[0]
            cc = prev[x - 1] if x > 0 else prev_first_a
            d = prev[x + 1] if x + 1 < w else prev[x]
            q1, q2, q3 = grad(d - b), grad(b - cc), grad(cc - a)
            if q1 or q2 or q3:
                sign = 1
                if q1 < 0 or (q1 == 0 and (q2 < 0 or (q2 == 0 and q3 < 0))):
                    q1, q2, q3, sign = -q1, -q2, -q3, -1
                c_idx = q1 * 81 + (q2 + 4) * 9 + (q3 + 4)
                if predictor == 1:
                    lo, hi = min(a, b), max(a, b)
                    base = lo if cc >= hi else hi if cc <= lo else a + b - cc
                else:
                    base = 0
                pred = clamp(base + sign * ctx[c_idx][3])
                cur[x] = sample(c_idx, sign, pred)
                x += 1
                continue
            ended = False
            while br.bit():
                block = 1 << RUN_ORDER[run_index]
                n = min(block, w - x)
                cur[x:x + n] = a
                x += n
                if n == block and run_index < 31:
                    run_index += 1
                if x == w:
                    ended = True
                    break
            if ended:
                continue
            run = br.bits(RUN_ORDER[run_index])
            if run >= w - x:
                raise AssertionError("residual run past the row")
            cur[x:x + run] = a
            x += run
            b = prev[x]
            a = int(cur[x - 1]) if x > 0 else prev[0]
            if abs(a - b) <= max_error:
                cur[x] = sample(CTX_RUN_EQUAL, 1, a)
            else:
                cur[x] = sample(CTX_RUN_EDGE, 1, b)
            x += 1
            if run_index > 0:
                run_index -= 1
        prev_first_a = prev[0]
        prev = [int(v) for v in cur]
    if br.overrun:
        raise AssertionError("residual plane runs past its bytes")
    return out


def parse_section(data, bands, n_stripes):
    """The section: max error and, per stripe and band, (predictor, bytes)."""
    assert len(data) >= 8 + 5 * n_stripes * bands, "residual section too short"
    assert struct.unpack("<I", data[-4:])[0] == len(data), "residual section size"
    data = data[:-4]
    version, max_error, stripes = struct.unpack("<BBH", data[:4])
    assert version == 0, "unknown residual section version"
    assert stripes == n_stripes, "residual section for another number of stripes"
    pos, entries = 4, []
    for _ in range(n_stripes * bands):
        pred, size = struct.unpack("<BI", data[pos:pos + 5])
        assert pred in (0, 1), "unknown residual predictor"
        entries.append((pred, size))
        pos += 5
    pieces = []
    for pred, size in entries:
        assert pos + size <= len(data), "residual piece past the packet"
        pieces.append((pred, data[pos:pos + size]))
        pos += size
    assert pos == len(data), "stray bytes after the residual pieces"
    return dict(max_error=max_error, pieces=pieces)


def apply(out, section, replicated, stripe_rows):
    """out (C x H x W uint16, after the replicated and interpolated bands'
    steps) += the decoded residuals, cell by cell, stripe by stripe."""
    if section is None:
        return
    C, H, W = out.shape
    n_stripes = -(-H // stripe_rows)
    above = [None] * C
    for s in range(n_stripes):
        y0, y1 = s * stripe_rows, min(H, (s + 1) * stripe_rows)
        for b in range(C):
            maps = replicated[b] if replicated else None
            if maps is not None:
                rows = [y for y in range(y0, y1) if y == y0 or not maps[0][y]]
                cols = [x for x in range(W) if x == 0 or not maps[1][x]]
            else:
                rows, cols = list(range(y0, y1)), list(range(W))
            pred, data = section["pieces"][s * C + b]
            u = decode_plane(data, len(cols), len(rows), section["max_error"], pred, above[b])
            above[b] = [int(v) for v in u[-1]]
            re, ce = rows[1:] + [y1], cols[1:] + [W]
            for i, (ya, yb) in enumerate(zip(rows, re)):
                for j, (xa, xb) in enumerate(zip(cols, ce)):
                    blk = out[b, ya:yb, xa:xb].astype(np.int64) + u[i, j]
                    out[b, ya:yb, xa:xb] = np.clip(blk, 0, 65535).astype(np.uint16)
