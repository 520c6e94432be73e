"""TEC-TT: the temporal entropy model of inter frames (doc/model.md, "tec-tt").

An inter frame is coded with the image model's transforms and hyperprior
unchanged; what changes is how each latent's mean and scale are predicted.
Beside the hyperprior, every latent position attends over the decoded
latents of up to K earlier frames of the stream at that position and its
eight neighbours, with the time gap and the day of year as inputs, and the
result enters each slice's channel context.  Everything that decides the
entropy parameters is the integer arithmetic of doc/bitstream.md, 4 (the
`int_layer` fake quantization here, the exact integers in reference.py and
libavcodec-tec/src/model_temporal.c), softmax included: a fixed-point
exponential table, integer sums and one integer division per output.

Sizes (tec-tt version 1): M latent channels in G slices of gs, keys of
`TT_HEADS x TT_KEY` values, values of `TT_HEADS x TT_VALUE`, TT_TAU time
features per reference.
"""
import datetime
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from tecmodel import (HS_ACT_BITS, HS_WEIGHT_BITS, checkerboard, code_slice, fq_act, int_layer,
                      round_ste)

TT_VERSION = 1
TT_HEADS = 4
TT_KEY = 8            # key/query values per head
TT_VALUE = 16         # value values per head
TT_WINDOW = 3         # a position attends to the 3 x 3 window around it in every reference
TT_MAX_REFS = 4
TT_EXTRA_HIDDEN = 32  # hidden units of the slice contexts beyond the image model's
# Time features of one reference (all Q8 integers, value / 256):
GAP_KNOTS = (0, 5, 10, 20, 40, 80, 160, 320, 640)   # days: hat functions over these
DOY_KNOTS = 6                                       # circular hats, one every 61 days
DOY_STEP = 61
TT_TAU = len(GAP_KNOTS) + 1 + DOY_KNOTS + 1 + 2 + TT_MAX_REFS
# Softmax: exp(-d) for d = j / 64, j < EXP_SIZE, in 16 fractional bits.
EXP_SIZE = 1024
EXP_FRAC = 64
SCORE_SHIFT = 10      # score (Q8) = (q . k) / 4: q and k are Q8, so >> (8 + 2)
# Gain conversion: log2 gains in 16 fractional bits, 2^(f/256) in 15.
LOG_GAIN_BITS = 16
EXP2_BITS = 15


def exp_table():
    return [int(round(65536 * math.exp(-j / EXP_FRAC))) for j in range(EXP_SIZE)]


def exp2_table():
    return [int(round((1 << EXP2_BITS) * 2 ** (f / 256))) for f in range(256)]


# ------------------------------------------------------------------ time

def parse_date(s):
    """(days since 1970, day of year 0..365) of an ISO date string, or (None,
    None) for anything else ('season-2', '--09'): what a .tecv stream knows
    of its frames' times, so training sees what the codec will."""
    try:
        d = datetime.date.fromisoformat((s or "").strip()[:10])
    except ValueError:
        return None, None
    return (d - datetime.date(1970, 1, 1)).days, d.timetuple().tm_yday - 1


def gap_hats(gap):
    """Q8 hat weights of a gap in days over GAP_KNOTS (clamped at the ends)."""
    out = [0] * len(GAP_KNOTS)
    g = min(max(gap, 0), GAP_KNOTS[-1])
    for i in range(len(GAP_KNOTS) - 1):
        a, b = GAP_KNOTS[i], GAP_KNOTS[i + 1]
        if g <= b:
            w_lo = (b - g) * 256 // (b - a)
            out[i], out[i + 1] = w_lo, 256 - w_lo
            break
    return out


def doy_hats(doy):
    """Q8 circular hat weights of a day of year (0..365) over DOY_KNOTS knots."""
    out = [0] * DOY_KNOTS
    seg = min(doy // DOY_STEP, DOY_KNOTS - 1)
    w_lo = (DOY_STEP * (seg + 1) - doy) * 256 // DOY_STEP
    w_lo = max(0, min(256, w_lo))
    out[seg] += w_lo
    out[(seg + 1) % DOY_KNOTS] += 256 - w_lo
    return out


def time_features(gap, doy, pos_cur, pos_ref, order):
    """The TT_TAU integer features (Q8) of one reference: gap in days (None:
    unknown), the current frame's day of year (None: unknown), both quality
    positions (in 1/256 anchors, so Q8 anchors as they are) and the
    reference's rank among the frame's references (0 = the latest)."""
    f = [0] * len(GAP_KNOTS) + [256] if gap is None else gap_hats(gap) + [0]
    f += [0] * DOY_KNOTS + [256] if doy is None else doy_hats(doy) + [0]
    f += [pos_cur, pos_ref]
    f += [256 if i == order else 0 for i in range(TT_MAX_REFS)]
    return f


# ------------------------------------------------------------------ gains

def position_gain(g, pos):
    """Geometric interpolation of per-anchor gains (Q x M) at a position in
    1/256 anchors, as the codec does: g[a]^(1-t) g[a+1]^t."""
    q = g.shape[0]
    a = min(pos >> 8, q - 1)
    t = (pos & 255) / 256.0 if a + 1 < q else 0.0
    return g[a] if t == 0 else g[a] ** (1 - t) * g[a + 1] ** t


def log_gain_table(g):
    """round(log2(g) * 2^16) per anchor and channel: the integer form in which
    the gains enter the temporal model (exact interpolation on every CPU)."""
    return torch.round(torch.log2(g.double()) * (1 << LOG_GAIN_BITS)).long()


def log_gain_at(lg, pos):
    q = lg.shape[0]
    a = min(pos >> 8, q - 1)
    t = pos & 255 if a + 1 < q else 0
    if t == 0:
        return lg[a].clone()
    return lg[a] + torch.div((lg[a + 1] - lg[a]) * t, 256, rounding_mode="floor")


def convert_reference(r, lg_cur, lg_ref, exp2):
    """Integer latents r (M, ...) of a reference, coded at another position,
    brought into the current frame's gained domain in Q8: r * gain(cur) *
    igain(ref), the factor 2^d from its Q16 logarithm d through a 256-entry
    table of 2^(f/256) (exact integers, the same in libtec)."""
    d = torch.clamp(lg_cur - lg_ref, -20 << LOG_GAIN_BITS, 20 << LOG_GAIN_BITS)
    e = torch.div(d, 1 << LOG_GAIN_BITS, rounding_mode="floor")
    mant = exp2[torch.div(d, 256, rounding_mode="floor") & 255]
    shape = (-1,) + (1,) * (r.dim() - 1)
    prod = r * mant.view(shape)
    sh = (EXP2_BITS - HS_ACT_BITS - e).view(shape)       # 7 - e
    two = torch.tensor(2, dtype=torch.long)
    down = torch.div(prod + two ** (sh.clamp(min=1) - 1), two ** sh.clamp(min=0), rounding_mode="floor")
    up = prod * two ** (-sh).clamp(min=0)
    out = torch.where(sh > 0, down, up)
    return out.clamp(-(2 ** 31 - 1), 2 ** 31 - 1)


# ------------------------------------------------------------------ model

def quant_exp(d):
    """exp(-d) as the decoder's table gives it (d >= 0 in real units), with
    straight-through gradients."""
    j = d * EXP_FRAC
    j = j + (torch.floor(j) - j).detach()
    e = torch.exp(-j / EXP_FRAC) * (j < EXP_SIZE)
    return round_ste(e * 65536) / 65536


class TemporalContext(nn.Module):
    """Attention of every latent position over the 3 x 3 windows of its
    references, then per-slice context layers that take the result.

    kv: 1x1 integer layer of a reference's latents (in the current gained
    domain) to keys (heads x TT_KEY) and values (heads x TT_VALUE); tk: time
    features -> key offset per reference; pos: a learned key offset per window
    offset; q: the hyperprior's mean and scale -> query.  Slice k's layers
    c{k} see [decoded slices < k, mean and scale of slice k, the latest
    reference's slice k, the attention output, the latest reference's time
    features] through a hidden layer of `hidden` (the image model's width
    plus TT_EXTRA_HIDDEN), and lin{k} maps the slice's mean and scale and the
    temporal inputs straight to corrections: a prediction from the reference
    (mean + a (reference - mean), per channel) needs a linear path, which a
    hidden layer as wide as the image model's, busy with its own context,
    cannot give.  sp{k} is the checkerboard pass (as the image
    model's)."""

    def __init__(self, m, groups, hidden, spatial):
        super().__init__()
        self.m, self.groups, self.gs, self.spatial = m, groups, m // groups, spatial
        self.image_hidden = hidden
        hidden = hidden + TT_EXTRA_HIDDEN
        self.hidden = hidden
        dk, dv = TT_HEADS * TT_KEY, TT_HEADS * TT_VALUE
        self.kv = nn.Conv2d(m, dk + dv, 1)
        self.tk = nn.Conv2d(TT_TAU, dk, 1)
        self.pos = nn.Parameter(torch.zeros(TT_WINDOW * TT_WINDOW, dk))
        self.q = nn.Conv2d(2 * m, dk, 1)
        gs = self.gs
        self.extra = gs + dv + TT_TAU
        self.c_l0 = nn.ModuleList([nn.Conv2d(k * gs + 2 * gs + self.extra, hidden, 1) for k in range(groups)])
        self.c_l1 = nn.ModuleList([nn.Conv2d(hidden, 2 * gs, 1) for _ in range(groups)])
        self.c_lin = nn.ModuleList([nn.Conv2d(2 * gs + self.extra, 2 * gs, 1) for _ in range(groups)])
        if spatial:
            ih = self.image_hidden
            self.sp_l0 = nn.ModuleList([nn.Conv2d(6 * gs, ih, 1) for _ in range(groups)])
            self.sp_l1 = nn.ModuleList([nn.Conv2d(ih, 2 * gs, 1) for _ in range(groups)])
        for conv in (self.kv, self.q):
            nn.init.normal_(conv.weight, std=0.5 / math.sqrt(conv.weight.shape[1]))
            nn.init.zeros_(conv.bias)
        nn.init.zeros_(self.tk.weight)
        nn.init.zeros_(self.tk.bias)
        for conv in list(self.c_l1) + list(self.c_lin):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def init_from_image(self, ctx, lean=0.2):
        """Start as the image model's context: the layers of slices >= 1 copy
        its channel context (new inputs weigh 0), the checkerboard copies its
        own, and the linear path moves each mean `lean` of the way to the
        latest reference (a per-channel linear prediction fitted on training
        series leans 0.1-0.4 of the way)."""
        gs = self.gs
        with torch.no_grad():
            eye = torch.eye(gs)[:, :, None, None]
            for k in range(self.groups):
                self.c_lin[k].weight[:gs, :gs] -= lean * eye
                self.c_lin[k].weight[:gs, 2 * gs:3 * gs] += lean * eye
            for k in range(1, self.groups):
                src0, src1 = ctx.l0[k - 1], ctx.l1[k - 1]
                ih, cin = src0.weight.shape[:2]
                w = self.c_l0[k].weight
                w[:ih].zero_()
                w[:ih, :cin] = src0.weight
                self.c_l0[k].bias[:ih].copy_(src0.bias)
                self.c_l1[k].weight.zero_()
                self.c_l1[k].weight[:, :ih] = src1.weight
                self.c_l1[k].bias.copy_(src1.bias)
            if self.spatial:
                for k in range(self.groups):
                    for a, b in ((self.sp_l0[k], ctx.sp_l0[k]), (self.sp_l1[k], ctx.sp_l1[k])):
                        a.weight.copy_(b.weight)
                        a.bias.copy_(b.bias)
            del gs

    def attend(self, refs, valid, tau, mu, scale):
        """refs (B,K,M,H,W) Q8 latents of the references in the current
        domain, valid (B,K) 0/1, tau (B,K,TT_TAU) real; mu, scale (B,M,H,W).
        Returns the attention output (B, heads x TT_VALUE, H, W)."""
        b, k, m, h, w = refs.shape
        dk, dv = TT_HEADS * TT_KEY, TT_HEADS * TT_VALUE
        kv = int_layer(self.kv, refs.reshape(b * k, m, h, w))                 # (BK, dk+dv, H, W)
        tk = int_layer(self.tk, tau.reshape(b * k, -1, 1, 1))                  # (BK, dk, 1, 1)
        win = TT_WINDOW * TT_WINDOW
        cols = F.unfold(kv, TT_WINDOW, padding=TT_WINDOW // 2).view(b, k, dk + dv, win, h, w)
        inside = F.unfold(torch.ones(1, 1, h, w, device=refs.device), TT_WINDOW,
                          padding=TT_WINDOW // 2).view(1, 1, win, h, w)
        keys = cols[:, :, :dk] + tk.view(b, k, dk, 1, 1, 1) + fq_act(self.pos).t().reshape(1, 1, dk, win, 1, 1)
        vals = cols[:, :, dk:]
        query = int_layer(self.q, torch.cat([mu, scale], 1))                  # (B, dk, H, W)
        keys = keys.view(b, k, TT_HEADS, TT_KEY, win, h, w)
        vals = vals.view(b, k, TT_HEADS, TT_VALUE, win, h, w)
        qh = query.view(b, 1, TT_HEADS, TT_KEY, 1, h, w)
        # score in Q8 of (q . k) / 4, floor as the integer shift
        s = (qh * keys).sum(3) / 4.0                                            # (B,K,heads,win,H,W)
        s = s + (torch.floor(s * 256 + 0.5) / 256 - s).detach()
        ok = (valid.view(b, k, 1, 1, 1, 1) * inside.view(1, 1, 1, win, h, w)) > 0
        s = torch.where(ok, s, torch.full_like(s, -1e4))
        mx = s.amax((1, 3), keepdim=True).detach()
        e = quant_exp(mx - s) * ok
        den = e.sum((1, 3))                                                      # (B,heads,H,W)
        num = (e.unsqueeze(3) * vals).sum((1, 4))                                # (B,heads,dv,H,W)
        o = num / den.unsqueeze(2)
        return fq_act(o.reshape(b, dv, h, w))

    def forward(self, yg, mu, scale, refs, valid, tau):
        """Means, scales and decoded values of the current frame's latents yg
        given its hyperprior's mu, scale and the references (attend)."""
        gs = self.gs
        b, m, h, w = yg.shape
        o = self.attend(refs, valid, tau, mu, scale)
        latest = refs[:, 0]
        tau0 = tau[:, 0].reshape(b, -1, 1, 1).expand(-1, -1, h, w)
        anchors = checkerboard(h, w, yg.device) if self.spatial else None
        mus, scales, hats = [], [], []
        for k in range(self.groups):
            sl = slice(k * gs, (k + 1) * gs)
            mu_k, scale_k = mu[:, sl], scale[:, sl]
            inp = torch.cat(hats + [mu_k, scale_k, latest[:, sl], o, tau0], 1)
            hid = F.relu(int_layer(self.c_l0[k], inp))
            d = int_layer(self.c_l1[k], hid) + int_layer(self.c_lin[k], inp[:, k * gs:])
            mu_k, scale_k = mu_k + d[:, :gs], scale_k + d[:, gs:]
            sp = (self.sp_l0[k], self.sp_l1[k], anchors) if self.spatial else ()
            mu_k, scale_k, hat = code_slice(yg[:, sl], mu_k, scale_k, *sp)
            mus.append(mu_k)
            scales.append(scale_k)
            hats.append(hat)
        return torch.cat(mus, 1), torch.cat(scales, 1), torch.cat(hats, 1)


def tt_layers(groups, spatial):
    """(name in the .tecw, module path in TemporalContext) of the integer
    layers, in file order."""
    out = [("tt.kv", "kv"), ("tt.tk", "tk"), ("tt.q", "q")]
    for k in range(groups):
        out += [(f"tt.c{k}.l0", f"c_l0.{k}"), (f"tt.c{k}.l1", f"c_l1.{k}"),
                (f"tt.c{k}.lin", f"c_lin.{k}")]
    if spatial:
        for k in range(groups):
            out += [(f"tt.sp{k}.l0", f"sp_l0.{k}"), (f"tt.sp{k}.l1", f"sp_l1.{k}")]
    return out


def macs_per_latent(m, groups, hidden, spatial, refs):
    """Integer multiply-accumulates per latent position of an inter frame on
    top of the image model's hyper-synthesis (refs references)."""
    dk, dv = TT_HEADS * TT_KEY, TT_HEADS * TT_VALUE
    gs = m // groups
    win = TT_WINDOW * TT_WINDOW
    macs = refs * m * (dk + dv)                  # keys and values of every reference position
    macs += 2 * m * dk                           # query
    macs += refs * win * (dk + dv)               # scores and weighted sums
    extra = gs + dv + TT_TAU
    th = hidden + TT_EXTRA_HIDDEN
    macs += sum((k * gs + 2 * gs + extra) * th + th * 2 * gs + (2 * gs + extra) * 2 * gs
                for k in range(groups))
    # minus the image model's channel context, which an inter frame does not run
    macs -= sum((k + 2) * gs * hidden + hidden * 2 * gs for k in range(1, groups))
    return macs


__all__ = ["TemporalContext", "time_features", "parse_date", "convert_reference", "log_gain_table",
           "log_gain_at", "position_gain", "exp_table", "exp2_table", "tt_layers", "macs_per_latent",
           "HS_WEIGHT_BITS"]
