"""TerraCodec image model (tec-img v1) in PyTorch.

The layer layout here is the contract with libtec's C implementation
(libavcodec-tec/src/model_image.c): change one, change the other, and bump
ARCH_VERSION.  See doc/model.md for the maths of every block.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

ARCH_NAME = "tec-img"
ARCH_VERSION = 4      # 2: optional linear skip transforms; 3: optional channel context;
                      # 4: optional checkerboard (spatial) context within each slice

# Sentinel-2 MSI band slots, in the order of the model's input channels.
S2_SLOTS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07",
            "B08", "B8A", "B09", "B10", "B11", "B12"]

# Fixed-point formats of the bit-exact hyper-synthesis (see doc/model.md).
HS_ACT_BITS = 8       # activations carry 8 fractional bits
HS_WEIGHT_BITS = 12   # weights carry 12 fractional bits
SCALE_MIN = 0.11
SCALE_MAX = 256.0
SCALE_LEVELS = 64
STD_FLOOR = 8.0       # reflectance units: flat bands (B10 over land) stay finite


def band_spreads(x):
    """Per-band spread of (B, S, H, W) samples as a packet carries it: the
    population standard deviation, rounded, at least STD_FLOOR."""
    return torch.clamp(torch.round(x.var((2, 3), unbiased=False).sqrt()), STD_FLOOR, 65535)


def rms_spread(std, mask):
    """RMS over the present bands (mask 1) of per-band spreads (B, S): the
    measure libtec's per-frame quality follows."""
    return torch.sqrt((std ** 2 * mask).sum(1) / mask.sum(1).clamp(min=1))


def scale_table():
    return torch.exp(torch.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, g):
        return g


def round_ste(x):
    return _RoundSTE.apply(x)


class _LowerBound(torch.autograd.Function):
    """max(x, bound) whose gradient still flows when it pushes x upwards."""

    @staticmethod
    def forward(ctx, x, bound):
        ctx.save_for_backward(x)
        ctx.bound = bound
        return torch.clamp(x, min=bound)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        pass_through = (x >= ctx.bound) | (g < 0)
        return g * pass_through, None


def lower_bound(x, bound):
    return _LowerBound.apply(x, bound)


class GDN(nn.Module):
    """y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)  (inverse: multiply)."""

    def __init__(self, ch, inverse=False):
        super().__init__()
        self.inverse = inverse
        self.beta_p = nn.Parameter(torch.ones(ch))
        self.gamma_p = nn.Parameter(0.1 * torch.eye(ch) + 1e-4)

    def params(self):
        beta = self.beta_p.abs() + 1e-6
        gamma = self.gamma_p.abs()
        return beta, gamma

    def forward(self, x):
        beta, gamma = self.params()
        norm = F.conv2d(x * x, gamma[:, :, None, None], beta)
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm


class SubpixelConv(nn.Module):
    """3x3 convolution to 4x the channels, then pixel shuffle by 2."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * 4, 3, padding=1)

    def forward(self, x):
        return F.pixel_shuffle(self.conv(x), 2)


def fq_weight(w, bits):
    return round_ste(w * (1 << bits)) / (1 << bits)


def fq_act(a):
    return round_ste(a * (1 << HS_ACT_BITS)) / (1 << HS_ACT_BITS)


class HyperSynthesis(nn.Module):
    """h_s, trained with the fixed-point rounding that libtec applies exactly."""

    def __init__(self, nh, nmid, m):
        super().__init__()
        self.t0 = nn.Conv2d(nh, nh * 4, 3, padding=1)
        self.t1 = nn.Conv2d(nh, nmid * 4, 3, padding=1)
        self.t2 = nn.Conv2d(nmid, 2 * m, 3, padding=1)
        self.m = m

    def forward(self, z_hat):
        x = F.relu(F.pixel_shuffle(int_layer(self.t0, z_hat), 2))
        x = F.relu(F.pixel_shuffle(int_layer(self.t1, x), 2))
        x = int_layer(self.t2, x)
        return x[:, : self.m], x[:, self.m:]


def int_layer(conv, x):
    """A convolution in the bit-exact fixed-point format (doc/bitstream.md, 4)."""
    w = fq_weight(conv.weight, HS_WEIGHT_BITS)
    b = fq_weight(conv.bias, HS_WEIGHT_BITS + HS_ACT_BITS)
    return fq_act(F.conv2d(x, w, b, padding=conv.padding))


def checkerboard(h, w, device):
    """1 at the anchors, the positions (y + x even) coded first in each slice."""
    yy = torch.arange(h, device=device)[:, None]
    xx = torch.arange(w, device=device)[None, :]
    return ((yy + xx) % 2 == 0).float()[None, None]


def cross_neighbours(a):
    """The values above, below, left and right of every position (zero
    beyond the edge), stacked as four channel groups in that order."""
    up = F.pad(a, (0, 0, 1, 0))[:, :, :-1, :]
    down = F.pad(a, (0, 0, 0, 1))[:, :, 1:, :]
    left = F.pad(a, (1, 0, 0, 0))[:, :, :, :-1]
    right = F.pad(a, (0, 1, 0, 0))[:, :, :, 1:]
    return torch.cat([up, down, left, right], 1)


def code_slice(yg_k, mu_k, scale_k, sp_l0=None, sp_l1=None, anchors=None):
    """A slice's decoded values (rounded around its mean, straight-through)
    and, with the checkerboard layers, the non-anchors' mean and scale
    refined from the decoded anchors around them, then decoded again.
    Returns (mu, scale, hat)."""
    hat = round_ste(yg_k - mu_k) + mu_k
    if sp_l0 is None:
        return mu_k, scale_k, hat
    gs = mu_k.shape[1]
    nb = cross_neighbours(hat * anchors)
    h = F.relu(int_layer(sp_l0, torch.cat([mu_k, scale_k, nb], 1)))
    d = int_layer(sp_l1, h) * (1 - anchors)
    mu_k, scale_k = mu_k + d[:, :gs], scale_k + d[:, gs:]
    return mu_k, scale_k, round_ste(yg_k - mu_k) + mu_k


class ChannelContext(nn.Module):
    """Channel-wise context model, integer like the hyper-synthesis.

    The latents are coded in `groups` slices of m / groups channels.  For
    slice k >= 1, two 1x1 layers (ReLU between) map, at each position, the
    decoded values of slices 0..k-1 and the hyperprior's mean and scale of
    slice k to corrections of that mean and scale.

    With `spatial`, each slice is further coded in two checkerboard passes:
    the anchors (y + x even) with the parameters above, then the other
    positions, whose mean and scale two more layers (sp_l0, sp_l1) refine from
    the decoded anchors of the same slice directly above, below, left and
    right of them.  Every neighbour of a non-anchor is an anchor, so the cross
    sees all the anchors a 3x3 window holds; positions outside the block count
    as zero, so coding blocks stay independent.
    The last layers start at zero: a model without context resumes unchanged.
    """

    def __init__(self, m, groups, hidden, spatial=0):
        super().__init__()
        self.groups, self.size, self.spatial = groups, m // groups, spatial
        gs = self.size
        self.l0 = nn.ModuleList([nn.Conv2d(k * gs + 2 * gs, hidden, 1) for k in range(1, groups)])
        self.l1 = nn.ModuleList([nn.Conv2d(hidden, 2 * gs, 1) for _ in range(1, groups)])
        last = list(self.l1)
        if spatial:
            self.sp_l0 = nn.ModuleList([nn.Conv2d(6 * gs, hidden, 1) for _ in range(groups)])
            self.sp_l1 = nn.ModuleList([nn.Conv2d(hidden, 2 * gs, 1) for _ in range(groups)])
            last += list(self.sp_l1)
        for conv in last:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, yg, mu, scale):
        """Means and scales of every slice, and the decoded values yg_hat
        (rounded around each position's final mean, straight-through)."""
        gs = self.size
        anchors = checkerboard(yg.shape[2], yg.shape[3], yg.device) if self.spatial else None
        mus, scales, hats = [], [], []
        for k in range(self.groups):
            sl = slice(k * gs, (k + 1) * gs)
            mu_k, scale_k = mu[:, sl], scale[:, sl]
            if k:
                h = F.relu(int_layer(self.l0[k - 1], torch.cat(hats + [mu_k, scale_k], 1)))
                d = int_layer(self.l1[k - 1], h)
                mu_k, scale_k = mu_k + d[:, :gs], scale_k + d[:, gs:]
            sp = (self.sp_l0[k], self.sp_l1[k], anchors) if self.spatial else ()
            mu_k, scale_k, hat = code_slice(yg[:, sl], mu_k, scale_k, *sp)
            mus.append(mu_k)
            scales.append(scale_k)
            hats.append(hat)
        return torch.cat(mus, 1), torch.cat(scales, 1), torch.cat(hats, 1)


class FactorizedPrior(nn.Module):
    """Per-channel learned density for the hyper-latents (Balle et al. 2018)."""

    def __init__(self, ch, filters=(3, 3, 3), init_scale=10.0):
        super().__init__()
        dims = (1,) + tuple(filters) + (1,)
        scale = init_scale ** (1.0 / (len(filters) + 1))
        self.mats = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1.0 / scale / dims[i + 1]))
            self.mats.append(nn.Parameter(torch.full((ch, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(ch, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(ch, dims[i + 1], 1)))

    def logits_cdf(self, x):
        # x: (ch, 1, L)
        for i in range(len(self.mats)):
            x = torch.matmul(F.softplus(self.mats[i]), x) + self.biases[i]
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def cdf(self, x):
        return torch.sigmoid(self.logits_cdf(x))

    def likelihood(self, z):
        b, c, h, w = z.shape
        v = z.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lo = self.logits_cdf(v - 0.5)
        up = self.logits_cdf(v + 0.5)
        sign = -torch.sign(lo + up).detach()
        lik = torch.abs(torch.sigmoid(sign * up) - torch.sigmoid(sign * lo))
        lik = lik.reshape(c, b, h, w).permute(1, 0, 2, 3)
        return torch.clamp(lik, min=1e-9)


def gaussian_likelihood(v, scale):
    """P(round(v)) for v already centred on the predicted mean."""
    s = lower_bound(scale, SCALE_MIN)
    half = 0.5
    up = 0.5 * torch.erfc(-(half - v.abs()) / (s * math.sqrt(2.0)))
    lo = 0.5 * torch.erfc(-(-half - v.abs()) / (s * math.sqrt(2.0)))
    return torch.clamp(up - lo, min=1e-9)


class ImageModel(nn.Module):
    def __init__(self, slots=13, n=96, m=192, nh=96, nmid=144, qualities=8, levels=4, frame_norm=0,
                 skip=0, ctx_groups=0, ctx_hidden=0, ctx_spatial=0):
        super().__init__()
        self.hp = dict(slots=slots, n=n, m=m, nh=nh, nmid=nmid, qualities=qualities, levels=levels,
                       frame_norm=frame_norm, skip=skip, ctx_groups=ctx_groups,
                       ctx_hidden=ctx_hidden, ctx_spatial=ctx_spatial)
        self.frame_norm = frame_norm
        self.slots = slots
        self.levels = levels
        # analysis: `levels` stride-2 convolutions, GDN between them
        self.a0_mask = nn.Linear(slots, n, bias=False)
        for i in range(levels):
            cin = slots if i == 0 else n
            cout = m if i == levels - 1 else n
            setattr(self, f"a{i}", nn.Conv2d(cin, cout, 5, stride=2, padding=2))
            if i < levels - 1:
                setattr(self, f"gdn{i}", GDN(n))
        # synthesis: the mirror, with sub-pixel convolutions and inverse GDN
        for i in range(levels):
            cin = m if i == 0 else n
            cout = slots if i == levels - 1 else n
            setattr(self, f"s{i}", SubpixelConv(cin, cout))
            if i < levels - 1:
                setattr(self, f"igdn{i}", GDN(n, inverse=True))
        # linear skip: one block transform per latent position (the
        # 2^levels square of pixels it covers) beside each nonlinear one,
        # so the reconstruction is not capped by the shallow transforms.
        # Zero at first: a model without it resumes unchanged.
        self.skip = skip
        if skip:
            d = 1 << levels
            self.skip_a = nn.Conv2d(slots, m, d, stride=d, bias=False)
            self.skip_s = nn.Conv2d(m, slots * d * d, 1, bias=False)
            nn.init.zeros_(self.skip_a.weight)
            nn.init.zeros_(self.skip_s.weight)
        # hyperprior
        self.h0 = nn.Conv2d(m, nh, 3, padding=1)
        self.h1 = nn.Conv2d(nh, nh, 5, stride=2, padding=2)
        self.h2 = nn.Conv2d(nh, nh, 5, stride=2, padding=2)
        self.hs = HyperSynthesis(nh, nmid, m)
        self.ctx_groups = ctx_groups
        if ctx_groups:
            self.ctx = ChannelContext(m, ctx_groups, ctx_hidden, ctx_spatial)
        self.prior = FactorizedPrior(nh)
        # gain units: one gain and inverse gain vector per quality anchor
        g = torch.exp(torch.linspace(math.log(1.0), math.log(12.0), qualities))
        self.gain = nn.Parameter(g[:, None].repeat(1, m).clone())
        self.igain = nn.Parameter((1.0 / g)[:, None].repeat(1, m).clone())
        # per-slot standardisation, filled from the training data
        self.register_buffer("band_mean", torch.zeros(slots))
        self.register_buffer("band_std", torch.ones(slots))

    # -- transforms -------------------------------------------------------
    def analysis(self, xn, mask):
        x = self.a0(xn) + self.a0_mask(mask)[:, :, None, None]
        for i in range(1, self.levels):
            x = getattr(self, f"a{i}")(getattr(self, f"gdn{i - 1}")(x))
        if self.skip:
            x = x + self.skip_a(xn)
        return x

    def synthesis(self, y):
        x = y
        for i in range(self.levels - 1):
            x = getattr(self, f"igdn{i}")(getattr(self, f"s{i}")(x))
        x = getattr(self, f"s{self.levels - 1}")(x)
        if self.skip:
            x = x + F.pixel_shuffle(self.skip_s(y), 1 << self.levels)
        return x

    def hyper_analysis(self, y):
        x = F.relu(self.h0(y))
        x = F.relu(self.h1(x))
        return self.h2(x)

    def gains(self, q):
        """Gain and inverse gain for a (possibly fractional) quality position q."""
        return self.gain[q], self.igain[q]

    def frame_stats(self, x):
        """Per-frame, per-band mean and spread, sent as side information."""
        if not self.frame_norm:
            b = x.shape[0]
            return self.band_mean[None].expand(b, -1), self.band_std[None].expand(b, -1)
        # Rounded to the integers the packet carries (doc/bitstream.md, 3).
        x = x.detach()
        mean = torch.clamp(torch.round(x.mean((2, 3))), 0, 65535)
        std = band_spreads(x)
        return mean, std

    def normalise(self, x, mask, stats):
        mean, std = stats
        return (x - mean[:, :, None, None]) / std[:, :, None, None] * mask[:, :, None, None]

    def denormalise(self, xn, stats):
        mean, std = stats
        return xn * std[:, :, None, None] + mean[:, :, None, None]

    def forward(self, x, mask, q, noise=True):
        """x: reflectance (B,S,H,W) float, mask (B,S) 0/1, q (B,) long anchor index.
        noise: additive uniform noise for the rate terms (training); False
        evaluates the rate of the actually rounded values."""
        stats = self.frame_stats(x)
        xn = self.normalise(x, mask, stats)
        y = self.analysis(xn, mask)
        g, ig = self.gains(q)
        yg = y * g[:, :, None, None]
        z = self.hyper_analysis(yg)
        z_hat = round_ste(z)
        z_lik = self.prior.likelihood(z + torch.empty_like(z).uniform_(-0.5, 0.5) if noise else z_hat)
        mu, scale = self.hs(z_hat)
        mu = mu[:, :, : yg.shape[2], : yg.shape[3]]
        scale = scale[:, :, : yg.shape[2], : yg.shape[3]]
        if self.ctx_groups:
            mu, scale, yg_hat = self.ctx(yg, mu, scale)
        else:
            yg_hat = round_ste(yg - mu) + mu
        centred = yg - mu
        y_noisy = centred + torch.empty_like(centred).uniform_(-0.5, 0.5) if noise else torch.round(centred)
        y_lik = gaussian_likelihood(y_noisy, scale)
        y_hat = yg_hat * ig[:, :, None, None]
        xn_hat = self.synthesis(y_hat)
        x_hat = self.denormalise(xn_hat, stats)
        return x_hat, y_lik, z_lik


def replication_groups(x):
    """Where a band of x (B,S,H,W) was resampled to the 10 m grid by pixel
    replication (Sentinel-2's 20 m and 60 m bands), whole rows equal the row
    above and whole columns the one to the left.  Numbers each pixel by the
    block of equal rows and columns it sits in, distinct per (sample, band):
    returns the ids (B,S,H,W) and how many ids there are."""
    b, s, h, w = x.shape
    same_row = (x[:, :, 1:] == x[:, :, :-1]).all(3)
    same_col = (x[:, :, :, 1:] == x[:, :, :, :-1]).all(2)
    row_id = F.pad(torch.cumsum((~same_row).long(), 2), (1, 0))
    col_id = F.pad(torch.cumsum((~same_col).long(), 2), (1, 0))
    ids = row_id[:, :, :, None] * w + col_id[:, :, None, :]
    base = torch.arange(b * s, device=x.device).view(b, s, 1, 1) * (h * w)
    return ids + base, b * s * h * w


def project_replicated(x_hat, x):
    """The decoder's last step (doc/bitstream.md): each block of replicated
    pixels takes the mean of its reconstruction.  The source is constant on
    the block, so this can only lower the error."""
    ids, n = replication_groups(x)
    flat = ids.reshape(-1)
    sums = torch.zeros(n, dtype=x_hat.dtype, device=x_hat.device).index_add(0, flat, x_hat.reshape(-1))
    cnt = torch.zeros(n, dtype=x_hat.dtype, device=x_hat.device).index_add(
        0, flat, torch.ones_like(flat, dtype=x_hat.dtype))
    return (sums / cnt.clamp(min=1))[flat].view_as(x_hat)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def macs_per_pixel(hp):
    """Multiply-accumulates per pixel (all bands together) of each stage, for
    the model card: analysis and hyper-analysis run in the encoder, the
    integer hyper-synthesis in both, the synthesis in the decoder.  Counted
    on the whole frame; libtec's tiled synthesis adds its halo on top."""
    s, n, m, nh, nmid, lv = (hp[k] for k in ("slots", "n", "m", "nh", "nmid", "levels"))
    area = lambda k: 4.0 ** -k  # noqa: E731 (pixels per position after k stride-2 stages)
    analysis = sum((s if i == 0 else n) * 25 * (m if i == lv - 1 else n) * area(i + 1)
                   for i in range(lv))
    analysis += sum(n * n * area(i + 1) for i in range(lv - 1))              # GDN
    hyper_analysis = m * 9 * nh * area(lv) + nh * 25 * nh * (area(lv + 1) + area(lv + 2))
    hyper_synthesis = (nh * 9 * 4 * nh * area(lv + 2) + nh * 9 * 4 * nmid * area(lv + 1)
                       + nmid * 9 * 2 * m * area(lv))
    synthesis = sum((m if i == 0 else n) * 9 * 4 * (s if i == lv - 1 else n) * area(lv - i)
                    for i in range(lv))
    synthesis += sum(n * n * area(lv - 1 - i) for i in range(lv - 1))        # inverse GDN
    if hp.get("skip"):
        analysis += s * m                      # one (slots x 4^lv) -> m map per 4^lv pixels
        synthesis += s * m
    g, hid = hp.get("ctx_groups", 0), hp.get("ctx_hidden", 0)
    if g:
        gs = m // g
        hyper_synthesis += sum((k + 2) * gs * hid + hid * 2 * gs for k in range(1, g)) * area(lv)
        if hp.get("ctx_spatial"):  # at half the positions
            hyper_synthesis += g * (6 * gs * hid + hid * 2 * gs) * area(lv) / 2
    return dict(analysis=analysis, hyper_analysis=hyper_analysis,
                hyper_synthesis=hyper_synthesis, synthesis=synthesis)
