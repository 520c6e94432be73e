"""An independent Python decoder of tec streams (doc/bitstream.md), used to
check libtec against the PyTorch model: same symbols, same entropy
parameters (exact integer hyper-synthesis), float synthesis in PyTorch.

Slow (pure-Python rANS): meant for small test frames.
"""
import bisect
import math
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import interpolation  # noqa: E402
import residual  # noqa: E402
from tecmodel import S2_SLOTS, gaussian_likelihood  # noqa: E402

PREC = 16
RANS_L = 1 << 23


class Table:
    def __init__(self, cdf, n, lo):
        self.cdf = [int(v) for v in cdf]
        self.n = int(n)
        self.lo = int(lo)


def tables(family, t):
    out = []
    for i in range(len(t[family + ".n"])):
        off, n = int(t[family + ".offset"][i]), int(t[family + ".n"][i])
        out.append(Table(t[family + ".cdf"][off:off + n + 2], n, t[family + ".lo"][i]))
    return out


class RansDecoder:
    def __init__(self, data):
        if len(data) < 4:
            raise ValueError("rANS stream shorter than 4 bytes")
        self.data = data
        self.pos = 4
        self.x = struct.unpack("<I", data[:4])[0]

    def _symbol(self, cdf):
        slot = self.x & ((1 << PREC) - 1)
        s = bisect.bisect_right(cdf, slot) - 1
        start, freq = cdf[s], cdf[s + 1] - cdf[s]
        self.x = freq * (self.x >> PREC) + slot - start
        while self.x < RANS_L:
            if self.pos >= len(self.data):
                raise ValueError("rANS stream ended early")
            self.x = ((self.x << 8) | self.data[self.pos]) & 0xFFFFFFFF
            self.pos += 1
        return s

    def bits(self, k):
        cdf = [i << (PREC - k) for i in range((1 << k) + 1)]
        return self._symbol(cdf)

    def get(self, t):
        s = self._symbol(t.cdf)
        if s < t.n:
            return t.lo + s
        nbits = self.bits(5)
        if not 1 <= nbits <= 31:
            raise ValueError("bad escape length")
        d = 1
        left = nbits - 1
        while left > 0:
            k = min(left, 8)
            d = (d << k) | self.bits(k)
            left -= k
        below = self.bits(1)
        return t.lo - d if below else t.lo + t.n - 1 + d


def floor_div_pow2(acc, bits):
    return np.floor_divide(acc + (1 << (bits - 1)), 1 << bits)


def conv3x3_int(a, w, b):
    """Exact integer 3x3 convolution, zero padding (doc/bitstream.md, 4)."""
    cin, h, wd = a.shape
    pad = np.zeros((cin, h + 2, wd + 2), np.int64)
    pad[:, 1:-1, 1:-1] = a
    acc = np.zeros((w.shape[0], h, wd), np.int64) + b.astype(np.int64)[:, None, None]
    w = w.astype(np.int64)
    for ky in range(3):
        for kx in range(3):
            acc += np.einsum("oi,ihw->ohw", w[:, :, ky, kx], pad[:, ky:ky + h, kx:kx + wd])
    out = floor_div_pow2(acc, 12)
    return np.clip(out, -(2 ** 31 - 1), 2 ** 31 - 1)


def pixel_shuffle_int(a):
    c4, h, w = a.shape
    c = c4 // 4
    return a.reshape(c, 2, 2, h, w).transpose(0, 3, 1, 4, 2).reshape(c, 2 * h, 2 * w)


def hyper_synthesis_int(z, t):
    a = z.astype(np.int64) * 256
    a = np.maximum(pixel_shuffle_int(conv3x3_int(a, t["hs.t0.weight"], t["hs.t0.bias"])), 0)
    a = np.maximum(pixel_shuffle_int(conv3x3_int(a, t["hs.t1.weight"], t["hs.t1.bias"])), 0)
    a = conv3x3_int(a, t["hs.t2.weight"], t["hs.t2.bias"])
    m = a.shape[0] // 2
    return a[:m], a[m:]


def saturate32(a):
    return np.clip(a, -(2 ** 31 - 1), 2 ** 31 - 1)


def dense_int(a, w, b):
    """Exact integer 1x1 layer over a[cin][n] (the 3x3 format's arithmetic)."""
    acc = w.astype(np.int64) @ a.astype(np.int64) + b.astype(np.int64)[:, None]
    return saturate32(floor_div_pow2(acc, 12))


def channel_context(k, values, mean, raw, t):
    """Corrections of slice k's mean and raw scale (doc/model.md): values are
    the decoded values of slices 0..k-1 (symbol x 256 + mean, saturated),
    mean and raw the slice's hyperprior parameters, all [channels][n]."""
    a = np.concatenate([values, mean, raw], 0)
    h = np.maximum(dense_int(a, t[f"ctx{k}.l0.weight"], t[f"ctx{k}.l0.bias"]), 0)
    d = dense_int(h, t[f"ctx{k}.l1.weight"], t[f"ctx{k}.l1.bias"])
    gs = mean.shape[0]
    return saturate32(mean + d[:gs]), saturate32(raw + d[gs:])


def spatial_context(k, values, mean, raw, bh, bw, t, family="sp"):
    """Corrections of slice k's mean and raw scale at the non-anchor
    positions (doc/model.md): from the slice's own parameters there and the
    decoded anchors above, below, left and right (zero outside the block)."""
    gs = mean.shape[0]
    yy, xx = np.divmod(np.arange(bh * bw), bw)
    odd = np.nonzero((yy + xx) % 2 == 1)[0]
    a = np.where(((yy + xx) % 2 == 0)[None], values, 0).reshape(gs, bh, bw)
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)))
    ny, nx = yy[odd] + 1, xx[odd] + 1
    nb = [p[:, ny - 1, nx], p[:, ny + 1, nx], p[:, ny, nx - 1], p[:, ny, nx + 1]]
    inp = np.concatenate([mean[:, odd], raw[:, odd]] + nb, 0)
    h = np.maximum(dense_int(inp, t[f"{family}{k}.l0.weight"], t[f"{family}{k}.l0.bias"]), 0)
    d = dense_int(h, t[f"{family}{k}.l1.weight"], t[f"{family}{k}.l1.bias"])
    mean, raw = mean.copy(), raw.copy()
    mean[:, odd] = saturate32(mean[:, odd] + d[:gs])
    raw[:, odd] = saturate32(raw[:, odd] + d[gs:])
    return mean, raw


# ------------------------------------------------------------ TEC-TT (inter)

def reference_latents(sym, mu):
    """What a decoded frame leaves for the frames after it: each latent as
    the integer symbol + round(mean), clamped to 16 bits (doc/model.md)."""
    return np.clip(sym + np.floor_divide(mu + 128, 256), -32768, 32767)


def convert_reference_int(r, lg_cur, lg_ref, exp2):
    """r (M, ...) integers of a reference coded at another position, in the
    current frame's gained domain, Q8: r * 2^d, d = lg_cur - lg_ref (Q16):
    the analysis latent y times the current gain instead of the reference's."""
    d = np.clip(lg_cur - lg_ref, -20 << 16, 20 << 16)
    e = d >> 16
    mant = exp2[(d >> 8) & 255].astype(np.int64)
    shape = (-1,) + (1,) * (r.ndim - 1)
    prod = r.astype(np.int64) * mant.reshape(shape)
    sh = (7 - e).reshape(shape)
    down = (prod + (np.int64(1) << np.maximum(sh - 1, 0))) >> np.maximum(sh, 0)
    up = prod << np.maximum(-sh, 0)
    return saturate32(np.where(sh > 0, down, up))


def log_gain_at_int(lg, pos):
    q = lg.shape[0]
    a = min(pos >> 8, q - 1)
    t = pos & 255 if a + 1 < q else 0
    if t == 0:
        return lg[a].astype(np.int64)
    return lg[a].astype(np.int64) + (((lg[a + 1].astype(np.int64) - lg[a]) * t) >> 8)


def temporal_attention(rc, inside, tau, mean, raw, bh, bw, t, hp):
    """The attention output (heads x value, n) of a block: rc[j] the
    converted references over the block and a halo of one (M, bh+2, bw+2),
    inside[j] 1 where that position lies in the frame, tau[j] the time
    features of reference j."""
    heads, dkh, dvh = hp["tt_heads"], hp["tt_key"], hp["tt_value"]
    dk, dv = heads * dkh, heads * dvh
    n = bh * bw
    exp = t["tt.exp"].astype(np.int64)
    lim = 1 << 20          # queries, keys and values are clamped (no 64-bit overflow)
    query = np.clip(dense_int(np.concatenate([mean, raw], 0), t["tt.q.weight"], t["tt.q.bias"]), -lim, lim)
    pos = t["tt.pos"].astype(np.int64)                       # (9, dk)
    scores, values, oks = [], [], []
    for j in range(len(rc)):
        m = rc[j].shape[0]
        kv = dense_int(rc[j].reshape(m, -1), t["tt.kv.weight"], t["tt.kv.bias"]).reshape(dk + dv, bh + 2, bw + 2)
        tk = dense_int(np.asarray(tau[j], np.int64)[:, None], t["tt.tk.weight"], t["tt.tk.bias"])[:, 0]
        for wi in range(9):
            dy, dx = divmod(wi, 3)
            win = kv[:, dy:dy + bh, dx:dx + bw].reshape(dk + dv, n)
            key = np.clip(win[:dk] + tk[:, None] + pos[wi][:, None], -lim, lim)
            prod = (query * key).reshape(heads, dkh, n).sum(1)
            scores.append((prod + 512) >> 10)                # (heads, n)
            values.append(np.clip(win[dk:], -lim, lim).reshape(heads, dvh, n))
            oks.append(np.broadcast_to(inside[j][dy:dy + bh, dx:dx + bw].reshape(1, n), (heads, n)))
    s = np.stack(scores)                                     # (T, heads, n)
    ok = np.stack(oks).astype(bool)
    mx = np.where(ok, s, np.iinfo(np.int64).min).max(0)
    e = np.where(ok, exp[np.minimum((mx[None] - np.where(ok, s, mx[None])) >> 2, len(exp) - 1)], 0)
    e = np.where(ok & (((mx[None] - s) >> 2) < len(exp)), e, 0)
    den = e.sum(0)                                           # (heads, n)
    num = (e[:, :, None, :] * np.stack(values)).sum(0)       # (heads, dvh, n)
    o = np.floor_divide(2 * num + den[:, None, :], 2 * den[:, None, :])
    return saturate32(o.reshape(dv, n))


def temporal_slice_context(k, values, mean, raw, latest, o, tau0, t):
    """Slice k's mean and raw scale in an inter frame: [decoded slices < k,
    the slice's hyperprior mean and scale, the latest reference's slice k,
    the attention output, the latest reference's time features]."""
    n = mean.shape[1]
    tau_b = np.broadcast_to(np.asarray(tau0, np.int64)[:, None], (len(tau0), n))
    a = np.concatenate([values, mean, raw, latest, o, tau_b], 0)
    h = np.maximum(dense_int(a, t[f"tt.c{k}.l0.weight"], t[f"tt.c{k}.l0.bias"]), 0)
    d = dense_int(h, t[f"tt.c{k}.l1.weight"], t[f"tt.c{k}.l1.bias"])
    gs = mean.shape[0]
    mean, raw = saturate32(mean + d[:gs]), saturate32(raw + d[gs:])
    d = dense_int(a[values.shape[0]:], t[f"tt.c{k}.lin.weight"], t[f"tt.c{k}.lin.bias"])
    return saturate32(mean + d[:gs]), saturate32(raw + d[gs:])


def parse_seq_header(data):
    if data[:4] != b"TECS":
        raise ValueError("not a sequence header")
    if zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        raise ValueError("sequence header CRC mismatch")
    bands, width, height, kint = struct.unpack("<HIIH", data[6:18])
    p = 18
    nlen = data[p]
    model = data[p + 1:p + 1 + nlen].decode()
    p += 1 + nlen
    checksum = struct.unpack("<Q", data[p:p + 8])[0]
    p += 8
    names = [data[p + 16 * i:p + 16 * (i + 1)].rstrip(b"\0").decode() for i in range(bands)]
    p += 16 * bands
    groups = []
    for _ in range(data[p]):
        p += 1
        k = data[p]
        pairs = [(data[p + 1 + 2 * j], data[p + 2 + 2 * j]) for j in range(k)]
        p += 2 * k
        groups.append(pairs)
    return dict(bands=bands, width=width, height=height, model=model, checksum=checksum,
                names=names, groups=groups)


def parse_inter(packet, pos, nchunks):
    """The inter section of an inter packet (doc/bitstream.md, 3)."""
    gop_index, n_refs, iflags, doy = struct.unpack("<HBBH", packet[pos:pos + 6])
    assert 1 <= n_refs <= 4 and n_refs <= gop_index and iflags & ~1 == 0, "bad inter section"
    gaps = struct.unpack("<%dH" % n_refs, packet[pos + 6:pos + 6 + 2 * n_refs])
    crcs = struct.unpack("<%dI" % n_refs, packet[pos + 6 + 2 * n_refs:pos + 6 + 6 * n_refs])
    p = pos + 6 + 6 * n_refs
    bits = np.unpackbits(np.frombuffer(packet[p:p + (nchunks + 7) // 8], np.uint8), bitorder="little")
    return dict(gop_index=gop_index, n_refs=n_refs, doy=doy, gaps=gaps, crcs=crcs,
                modes=bits[:nchunks], leans=bool(iflags & 1)), p + (nchunks + 7) // 8


def parse_leans(chunk, m):
    """An inter chunk's lean table: (leans[m] in 1/16, its size)."""
    nb = (m + 7) // 8
    leans = np.zeros(m, np.int64)
    assert len(chunk) >= 1 and chunk[0] <= 1, "bad lean table form"
    if chunk[0] == 0:
        return leans, 1
    assert len(chunk) >= 1 + nb, "chunk cut in its lean table"
    present = np.unpackbits(np.frombuffer(chunk[1:1 + nb], np.uint8), bitorder="little")
    assert not present[m:].any() and present.any(), "bad lean presence bits"
    p = 1 + nb
    for c in np.nonzero(present[:m])[0]:
        assert p < len(chunk), "chunk cut in its lean table"
        v = struct.unpack("<b", chunk[p:p + 1])[0]
        assert v != 0 and -16 <= v <= 32, "bad lean"
        leans[c] = v
        p += 1
    return leans, p


def lean_means(mean, latest, leans):
    """The means moved by each channel's lean towards the latest reference:
    mu + floor((l (r - mu) + 8) / 16) (lean.h)."""
    return saturate32(mean + ((leans[:, None] * (latest - mean) + 8) >> 4))


class Stream:
    """What an inter frame needs of the frames before it: each decoded
    frame's reference latents (per group), quality position, keyframe
    distance and packet CRC, as libtec's decoder keeps them."""

    def __init__(self):
        self.frames = []

    def find(self, gop_index, crc):
        for f in self.frames:
            if f["gop_index"] == gop_index and f["crc"] == crc:
                return f
        raise ValueError(f"reference {gop_index} (CRC {crc:08x}) was not decoded")

    def add(self, decoded, packet):
        if decoded.get("prediction") is not None:
            return  # predicted frames take no part in the temporal model's groups
        gi = decoded["inter"]["gop_index"] if decoded["inter"] else 0
        if gi == 0:
            self.frames = []
        self.frames = (self.frames + [dict(gop_index=gi, crc=zlib.crc32(packet), qpos=decoded["qpos"],
                                           refs=[reference_latents(g["sym"], g["mu"])
                                                 for g in decoded["groups"]])])[-5:]


def tt_hp(t, meta_hp):
    return dict(tt_heads=meta_hp["tt_heads"], tt_key=meta_hp["tt_key"], tt_value=meta_hp["tt_value"])


def decode_symbols(packet, seq, t, hp, stream=None):
    """Decode every chunk of a frame packet: per group the integer symbols,
    means (i32/256) and scale indices of the whole latent grid, and z.
    Inter packets need the Stream of the frames before them."""
    import temporal
    ftype, flags, qpos, nchunks = struct.unpack("<BBHI", packet[:8])
    assert flags & ~15 == 0, "unknown packet flags"
    pos = 8
    inter = None
    if ftype == 1:
        assert stream is not None and hp.get("tt_heads"), "inter frame without a temporal model"
        inter, pos = parse_inter(packet, pos, nchunks)
        refs = [stream.find(inter["gop_index"] - 1 - j, inter["crcs"][j]) for j in range(inter["n_refs"])]
        exp2 = t["tt.exp2"].astype(np.int64)
        factors = [(log_gain_at_int(t["tt.log_gain"], qpos), log_gain_at_int(t["tt.log_gain"], f["qpos"]))
                   for f in refs]
        taus = [temporal.time_features(None if g == 0xFFFF else g, None if inter["doy"] == 0xFFFF
                                       else inter["doy"], qpos, f["qpos"], j)
                for j, (g, f) in enumerate(zip(inter["gaps"], refs))]
    else:
        assert ftype in (0, 2), "unknown frame type"
    mask = None
    if flags & 4:
        mask, pos = parse_mask(packet, pos, seq)
    prediction = None
    if ftype == 2:
        # Predicted frame: the CRC of the frame before, a line per band.
        crc = struct.unpack("<I", packet[pos:pos + 4])[0]
        vals = struct.unpack("<%di" % (2 * seq["bands"]), packet[pos + 4:pos + 4 + 8 * seq["bands"]])
        prediction = dict(crc=crc, gain=vals[0::2], offset=vals[1::2])
        assert all(abs(g) <= 4 * 65536 for g in prediction["gain"]), "prediction gain out of range"
        assert all(abs(o) <= 1 << 22 for o in prediction["offset"]), "prediction offset out of range"
        pos += 4 + 8 * seq["bands"]
    stats = []
    for pairs in seq["groups"]:
        if hp.get("frame_norm"):
            vals = struct.unpack("<%dH" % (2 * len(pairs)), packet[pos:pos + 4 * len(pairs)])
            pos += 4 * len(pairs)
            stats.append([(vals[2 * i], vals[2 * i + 1]) for i in range(len(pairs))])
        else:
            stats.append(None)
    replicated = None
    if flags & 1:
        replicated, pos = parse_replication(packet, pos, seq)
    interpolated = None
    if flags & 2:
        interpolated, pos = parse_interpolation(packet, pos, seq, replicated)
    table_offset = pos
    sizes = struct.unpack("<%dI" % nchunks, packet[pos:pos + 4 * nchunks])
    pos += 4 * nchunks
    H, W = seq["height"], seq["width"]
    D = 1 << hp.get("levels", 4)
    Hl, Wl = -(-H // D), -(-W // D)
    bh_n, bw_n = -(-Hl // 32), -(-Wl // 32)
    gauss, prior = tables("gauss", t), tables("prior", t)
    thr = t["gauss.thresholds"].astype(np.int64)
    m, nh = hp["m"], hp["nh"]
    groups = []
    ci = 0
    for gi, _ in enumerate(seq["groups"]):
        sym = np.zeros((m, Hl, Wl), np.int64)
        mu = np.zeros((m, Hl, Wl), np.int64)
        sidx = np.zeros((m, Hl, Wl), np.int64)
        raws = np.zeros((m, Hl, Wl), np.int64)
        zs = []
        for by in range(bh_n):
            for bx in range(bw_n):
                chunk = packet[pos:pos + sizes[ci]]
                pos += sizes[ci]
                ci += 1
                y0, x0 = by * 32, bx * 32
                bh, bw = min(32, Hl - y0), min(32, Wl - x0)
                zh, zw = -(-(-(-bh // 2)) // 2), -(-(-(-bw // 2)) // 2)
                tt = inter is not None and inter["modes"][ci - 1]
                leans = None
                if tt and inter["leans"]:
                    leans, used = parse_leans(chunk, m)
                    chunk = chunk[used:]
                dec = RansDecoder(chunk)
                z = np.zeros((nh, zh, zw), np.int64)
                for c in range(nh):
                    for i in range(zh):
                        for j in range(zw):
                            z[c, i, j] = dec.get(prior[c])
                mean, raw = hyper_synthesis_int(z, t)
                n = bh * bw
                mean = mean[:, :bh, :bw].reshape(m, n).copy()
                raw = raw[:, :bh, :bw].reshape(m, n).copy()
                slices = hp.get("ctx_groups") or 1
                gs = m // slices
                values = np.zeros((m, n), np.int64)
                block = np.zeros((m, n), np.int64)
                idx = np.zeros((m, n), np.int64)
                if tt:
                    # The references over the block and a halo of one, in the
                    # current frame's domain; zero and left out beyond the frame.
                    rc, inside = [], np.zeros((bh + 2, bw + 2), np.int64)
                    ys, xs = np.arange(y0 - 1, y0 + bh + 1), np.arange(x0 - 1, x0 + bw + 1)
                    ok_y, ok_x = (ys >= 0) & (ys < Hl), (xs >= 0) & (xs < Wl)
                    inside[np.ix_(ok_y, ok_x)] = 1
                    for f, (lg_cur, lg_ref) in zip(refs, factors):
                        win = np.zeros((m, bh + 2, bw + 2), np.int64)
                        win[:, ok_y[:, None] & ok_x[None, :]] = \
                            f["refs"][gi][:, ys[ok_y]][:, :, xs[ok_x]].reshape(m, -1)
                        rc.append(convert_reference_int(win, lg_cur, lg_ref, exp2) * inside[None])
                    o = temporal_attention(rc, [inside] * len(rc), taus, mean, raw, bh, bw, t, hp)
                    latest = rc[0][:, 1:-1, 1:-1].reshape(m, n)
                for k in range(slices):
                    sl = slice(k * gs, (k + 1) * gs)
                    if tt:
                        mean[sl], raw[sl] = temporal_slice_context(k, values[:k * gs], mean[sl], raw[sl],
                                                                   latest[sl], o, taus[0], t)
                    elif k:
                        mean[sl], raw[sl] = channel_context(k, values[:k * gs], mean[sl], raw[sl], t)
                    # Without the spatial context one pass over every
                    # position; with it the anchors (y + x even), then the rest.
                    parity = (np.add.outer(np.arange(bh), np.arange(bw)) % 2).reshape(n)
                    passes = [parity == 0, parity == 1] if hp.get("ctx_spatial") else [parity >= 0]
                    for second, todo in enumerate(passes):
                        if second:
                            mean[sl], raw[sl] = spatial_context(k, values[sl], mean[sl], raw[sl],
                                                                bh, bw, t, "tt.sp" if tt else "sp")
                        idx[sl] = np.searchsorted(thr, raw[sl], side="right")
                        if leans is not None:
                            moved = lean_means(mean[sl], latest[sl], leans[sl])
                            mean[sl] = np.where(todo[None, :], moved, mean[sl])
                        for c in range(k * gs, (k + 1) * gs):
                            for i in np.nonzero(todo)[0]:
                                block[c, i] = dec.get(gauss[int(idx[c, i])])
                        values[sl] = saturate32(block[sl] * 256 + mean[sl])
                sym[:, y0:y0 + bh, x0:x0 + bw] = block.reshape(m, bh, bw)
                mean, raw, idx = (a.reshape(m, bh, bw) for a in (mean, raw, idx))
                mu[:, y0:y0 + bh, x0:x0 + bw] = mean
                sidx[:, y0:y0 + bh, x0:x0 + bw] = idx
                raws[:, y0:y0 + bh, x0:x0 + bw] = raw
                zs.append(z)
        groups.append(dict(sym=sym, mu=mu, sidx=sidx, raw_scale=raws, z=zs, stats=stats[gi]))
    res = None
    if flags & 8:
        res = residual.parse_section(packet[pos:], seq["bands"], -(-H // (32 * D)))
    else:
        assert pos == len(packet), "stray bytes after the last chunk"
    return dict(frame_type=ftype, qpos=qpos, groups=groups, replicated=replicated, inter=inter,
                interpolated=interpolated, mask=mask, residual=res, prediction=prediction,
                chunk_bytes=pos - table_offset - 4 * nchunks)


def parse_replication(packet, pos, seq):
    """The packet's replicated blocks: per band None or (row_same, col_same),
    boolean arrays, True where a line continues the block of the one before."""
    def read_map(n):
        nonlocal pos
        form = packet[pos]
        pos += 1
        same = np.zeros(n, bool)
        if form == 1:
            period, phase = packet[pos], packet[pos + 1]
            pos += 2
            assert 2 <= period and phase < period, "bad periodic map"
            same[1:] = (np.arange(1, n) + phase) % period != 0
        elif form == 2:
            nbytes = (n + 7) // 8
            bits = np.unpackbits(np.frombuffer(packet[pos:pos + nbytes], np.uint8), bitorder="little")
            pos += nbytes
            assert not bits[0] and not bits[n:].any(), "bad explicit map"
            same[:] = bits[:n].astype(bool)
        else:
            assert form == 0, "unknown map form"
        return same

    maps = []
    for b in range(seq["bands"]):
        kind = packet[pos]
        pos += 1
        if kind == 0:
            maps.append(None)
        elif kind == 1:
            maps.append((read_map(seq["height"]), read_map(seq["width"])))
        else:
            assert kind - 2 < b and maps[kind - 2] is not None, "bad band reference"
            maps.append(maps[kind - 2])
    return maps, pos


def _mask_rows(body, pos, H, W):
    """One plane of a mask body: H row tokens -> H x W bool, the new pos."""
    def uvarint():
        nonlocal pos
        v = 0
        for i in range(3):
            b = body[pos]
            pos += 1
            v |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                return v
        raise AssertionError("mask varint longer than 3 bytes")

    plane = np.zeros((H, W), bool)
    start, trans = 0, []
    for y in range(H):
        token = body[pos]
        pos += 1
        if token == 1:
            v = uvarint()
            n, start = v >> 1, v & 1
            trans, x = [], 0
            for _ in range(n):
                x += uvarint()
                trans.append(x)
            assert n < W and all(b > a for a, b in zip([0] + trans, trans)) and (not trans or trans[-1] < W), \
                "bad mask runs"
        elif token == 2:
            assert trans, "mask shift of a row without transitions"
            new = []
            for t in trans:
                z = uvarint()
                new.append(t + (-((z + 1) >> 1) if z & 1 else z >> 1))
            assert all(b > a for a, b in zip([0] + new, new)) and new[-1] < W, "bad mask shift"
            trans = new
        elif token == 3:
            nbytes = (W + 7) // 8
            bits = np.unpackbits(np.frombuffer(body[pos:pos + nbytes], np.uint8), bitorder="little")
            assert len(bits) == 8 * nbytes and not bits[W:].any(), "bad mask bitmap"
            pos += nbytes
            row = bits[:W].astype(bool)
            start = int(row[0])
            trans = [x for x in range(1, W) if row[x] != row[x - 1]]
        else:
            assert token == 0, "unknown mask row token"
        edges = [0] + trans + [W]
        for i in range(len(edges) - 1):
            if (start + i) % 2:
                plane[y, edges[i]:edges[i + 1]] = True
    return plane, pos


def parse_mask(packet, pos, seq):
    """The packet's mask section: the nodata value and the C x H x W bool
    array of masked samples (the pixel plane or the band's own plane)."""
    import zstandard
    C, H, W = seq["bands"], seq["height"], seq["width"]
    count = packet[pos]
    pos += 1
    assert count >= 1, "empty mask section"
    out, last = None, 0
    for _ in range(count):
        kind, value, coding, body_size, coded_size = struct.unpack("<BHBII", packet[pos:pos + 12])
        pos += 12
        assert kind > last, "mask kinds out of order"
        last = kind
        coded = packet[pos:pos + coded_size]
        assert len(coded) == coded_size, "mask runs past the packet"
        pos += coded_size
        assert coding in (0, 1), "unknown mask coding"
        if kind >= 128:
            continue        # informational: does not change samples
        assert kind == 1, "unknown mask kind"
        if coding == 0:
            assert coded_size == body_size, "stored mask body size"
            body = bytes(coded)
        else:
            body = zstandard.ZstdDecompressor().decompress(bytes(coded))
        assert len(body) == body_size, "mask body size"
        head = (C + 1 + 7) // 8
        present = np.unpackbits(np.frombuffer(body[:head], np.uint8), bitorder="little")
        assert not present[C + 1:].any(), "mask presence bits past the last band"
        masked = np.zeros((C, H, W), bool)
        bpos = head
        for p in range(C + 1):
            if not present[p]:
                continue
            plane, bpos = _mask_rows(body, bpos, H, W)
            assert plane.any(), "mask plane that masks nothing"
            if p == 0:
                masked |= plane[None]
            else:
                masked[p - 1] |= plane
        assert bpos == len(body), "stray bytes in the mask body"
        out = dict(value=value, masked=masked)
    return out, pos


def apply_mask(out, mask):
    """Masked samples become the nodata value V; an unmasked sample that
    decoded to V moves one unit: to 1 (V = 0), 65534 (V = 65535), else to V - 1
    when the mean of its unmasked left and right neighbours (as decoded) is
    below V, V + 1 otherwise (doc/bitstream.md)."""
    if mask is None:
        return
    v, masked = mask["value"], mask["masked"]
    for b in range(out.shape[0]):
        s = out[b].astype(np.int64)
        m = masked[b]
        hit = ~m & (s == v)
        if v == 0:
            new = np.ones_like(s)
        elif v == 65535:
            new = np.full_like(s, 65534)
        else:
            left_ok = np.zeros_like(m)
            left_ok[:, 1:] = ~m[:, :-1]
            right_ok = np.zeros_like(m)
            right_ok[:, :-1] = ~m[:, 1:]
            total = np.zeros_like(s)
            total[:, 1:] += np.where(left_ok[:, 1:], s[:, :-1], 0)
            total[:, :-1] += np.where(right_ok[:, :-1], s[:, 1:], 0)
            n = left_ok.astype(np.int64) + right_ok
            new = np.where((n > 0) & (total < n * v), v - 1, v + 1)
        res = np.where(hit, new, s)
        res[m] = v
        out[b] = res.astype(np.uint16)


def parse_interpolation(packet, pos, seq, replicated):
    """The packet's interpolated bands: per band None or (row factor, row
    phase in half pixels, column factor, column phase)."""
    params = []
    for b in range(seq["bands"]):
        kind = packet[pos]
        pos += 1
        if kind == 0:
            params.append(None)
            continue
        if kind == 1:
            p = tuple(packet[pos:pos + 4])
            pos += 4
            assert all(2 <= f <= 16 and ph < 2 * f for f, ph in (p[:2], p[2:])), "bad interpolation"
        else:
            assert kind - 2 < b and params[kind - 2] is not None, "bad band reference"
            p = params[kind - 2]
        assert not (replicated and replicated[b] is not None), "band both replicated and interpolated"
        params.append(p)
    return params, pos


def apply_interpolation(out, params, stripe_rows):
    """The least-squares projection of each interpolated band, stripe by
    stripe, as libtec's decoder does (interpolation.py)."""
    for band, p in enumerate(params or []):
        if p is None:
            continue
        for y0 in range(0, out.shape[1], stripe_rows):
            out[band, y0:y0 + stripe_rows] = interpolation.project_band(out[band, y0:y0 + stripe_rows], y0, p)


def apply_replication(out, maps, stripe_rows):
    """Each block of replicated pixels (cut at the stripes' edges) takes the
    rounded mean of its samples, as libtec's decoder does."""
    for band, m in enumerate(maps or []):
        if m is None:
            continue
        row_same, col_same = m[0].copy(), m[1]
        row_same[::stripe_rows] = False
        rid = np.cumsum(~row_same) - 1
        cid = np.cumsum(~col_same) - 1
        ids = rid[:, None] * (cid[-1] + 1) + cid[None, :]
        sums = np.bincount(ids.ravel(), out[band].ravel().astype(np.int64))
        cnt = np.bincount(ids.ravel())
        out[band] = ((sums + cnt // 2) // cnt)[ids].astype(np.uint16)


def interp_gain(g, qpos):
    a = min(qpos >> 8, g.shape[0] - 1)
    tt = (qpos & 255) / 256.0
    if tt == 0 or a + 1 >= g.shape[0]:
        return torch.from_numpy(g[a].astype(np.float32))
    return torch.from_numpy((g[a] ** (1 - tt) * g[a + 1] ** tt).astype(np.float32))


def predict(prediction, prev):
    """P(v) of a predicted frame (doc/bitstream.md, 3): each band of the
    frame before (C x H x W uint16) through its line, int64."""
    out = np.empty(prev.shape, np.int64)
    for b, (g, o) in enumerate(zip(prediction["gain"], prediction["offset"])):
        x = g * prev[b].astype(np.int64) + o * 4096 + 32768
        out[b] = np.where(x <= 0, 0, np.where(x >= 65535 * 65536, 65535, x >> 16))
    return out


def reconstruct(model, decoded, seq, t, prev=None):
    """PyTorch synthesis of decoded symbols -> uint16 C x H x W.  A
    predicted frame needs prev, the frame before's samples before its mask;
    decoded["samples"] then holds this frame's, for the next one."""
    H, W = seq["height"], seq["width"]
    out = np.zeros((seq["bands"], H, W), np.uint16)
    ig = interp_gain(t["igain"], decoded["qpos"])
    for g, pairs in zip(decoded["groups"], seq["groups"]):
        yg = torch.from_numpy(g["sym"].astype(np.float32) + g["mu"].astype(np.float32) / 256.0)
        y = yg * ig[:, None, None]
        mean = model.band_mean.clone()
        spread = model.band_std.clone()
        if g["stats"] is not None:
            for (band, slot), (mu_b, sd_b) in zip(pairs, g["stats"]):
                mean[slot], spread[slot] = float(mu_b), float(sd_b)
        with torch.no_grad():
            xn = model.synthesis(y[None])[0]
            x = model.denormalise(xn[None], (mean[None], spread[None]))[0]
        x = torch.clamp(torch.round(x), 0, 65535).numpy()
        for band, slot in pairs:
            out[band] = x[slot, :H, :W]
    apply_replication(out, decoded["replicated"], 32 << model.levels)  # 32 latents a block row
    apply_interpolation(out, decoded.get("interpolated"), 32 << model.levels)
    residual.apply(out, decoded.get("residual"), decoded["replicated"], 32 << model.levels)
    if decoded.get("prediction") is not None:
        assert prev is not None, "predicted frame without the frame before"
        v = out.astype(np.int64) - 32768 + predict(decoded["prediction"], prev)
        out = np.clip(v, 0, 65535).astype(np.uint16)
    decoded["samples"] = out.copy()
    apply_mask(out, decoded.get("mask"))
    return out


def estimated_bits(decoded, model):
    """Bits the model's own likelihoods give the decoded latents (Gaussian with
    the predicted scale for y, the learned prior for z): the rate the model
    estimates, to compare with the real size of the rANS streams."""
    bits = 0.0
    with torch.no_grad():
        for g in decoded["groups"]:
            sc = torch.from_numpy(g["raw_scale"]).double() / 256.0
            v = torch.from_numpy(g["sym"]).double()
            bits += float(-torch.log2(gaussian_likelihood(v, sc)).sum())
            for z in g["z"]:
                zt = torch.from_numpy(z).float()[None]
                bits += float(-torch.log2(model.prior.likelihood(zt).double()).sum())
    return bits


def load_model(path):
    """The PyTorch model of a .tecw as libtec sees it, in eval mode, with the
    tensors, the checksum and the hyper-parameters decode_symbols needs."""
    import tecio
    from export import load_tecw_into, model_from_meta
    meta, tensors, checksum = tecio.read_tecw(path)
    model = model_from_meta(meta)
    load_tecw_into(model, path)
    model.eval()
    hp = {k: int(meta.get(k, d)) for k, d in
          (("n", 0), ("m", 0), ("nh", 0), ("nmid", 0), ("levels", 4), ("frame_norm", 0),
           ("ctx_groups", 0), ("ctx_spatial", 0), ("tt_heads", 0), ("tt_key", 0), ("tt_value", 0))}
    return model, tensors, checksum, hp


__all__ = ["load_model", "parse_seq_header", "decode_symbols", "reconstruct", "hyper_synthesis_int",
           "estimated_bits", "S2_SLOTS", "math", "F"]
