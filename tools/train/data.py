"""Sentinel-2 training data: places from ../shared/data mapped onto band slots."""
import json
import os

import numpy as np
import torch

from interpolation import detect_dense
from tecmodel import S2_SLOTS, band_spreads, rms_spread

HERE = os.path.dirname(os.path.abspath(__file__))
SPLIT_FILE = os.path.join(HERE, "split.json")

# Band subsets the codec meets in practice, used to train the slot masks.
L2A_BANDS = [b for b in S2_SLOTS if b != "B10"]
COMPOSITE10 = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]


def load_split():
    with open(SPLIT_FILE) as f:
        return json.load(f)


class Place:
    def __init__(self, path):
        self.name = os.path.basename(path.rstrip("/"))
        with open(os.path.join(path, "meta.json")) as f:
            self.meta = json.load(f)
        cube = np.load(os.path.join(path, "cube.npz"))["cube"]
        if self.meta.get("radiometric_offset_1000"):
            # Processing baseline 04.00+: reflectance = (DN - 1000) / 10000.
            cube = np.clip(cube.astype(np.int32) - 1000, 0, 65535).astype(np.uint16)
        self.cube = cube
        names = self.meta.get("band_names") or self.meta.get("bands")
        self.slots = [S2_SLOTS.index(b) for b in names]
        self.T, self.C, self.H, self.W = cube.shape


def list_places(data_dir, which):
    split = load_split()
    names = sorted(d for d in os.listdir(data_dir) if os.path.isfile(os.path.join(data_dir, d, "cube.npz")))
    if which == "val":
        names = [n for n in names if n in split["val"]]
    else:
        names = [n for n in names if n not in split["val"]]
    return [Place(os.path.join(data_dir, n)) for n in names]


def slot_statistics(places):
    """Mean and standard deviation of every slot over the given places."""
    s = np.zeros(len(S2_SLOTS))
    s2 = np.zeros(len(S2_SLOTS))
    cnt = np.zeros(len(S2_SLOTS))
    for p in places:
        x = p.cube.astype(np.float64)
        for c, slot in enumerate(p.slots):
            v = x[:, c]
            s[slot] += v.sum()
            s2[slot] += (v * v).sum()
            cnt[slot] += v.size
    mean = s / np.maximum(cnt, 1)
    std = np.sqrt(np.maximum(s2 / np.maximum(cnt, 1) - mean ** 2, 1.0))
    return mean.astype(np.float32), std.astype(np.float32)


def reference_spread(places, crop, seed=1, crops=2000, interp_prob=0.4):
    """Geometric mean, over training crops drawn as train.py draws them, of
    each crop's RMS band spread (the frame statistics the packet carries).
    The anchors' trade-offs hold at about this spread, which the encoder
    calibrates --quality against (meta quality_spread)."""
    sampler = CropSampler(places, crop, seed, interp_prob)
    logs = []
    while len(logs) < crops:
        xs, masks, _ = sampler.sample(8)
        spread = rms_spread(band_spreads(torch.from_numpy(xs)), torch.from_numpy(masks))
        logs += torch.log(spread.double()).tolist()
    return float(np.exp(np.mean(logs)))


def _block_starts(band, axis):
    """First index of each run of equal whole lines of a 2-D band along axis."""
    a = np.moveaxis(band, axis, 0)
    new = np.ones(a.shape[0], bool)
    new[1:] = (a[1:] != a[:-1]).any(1)
    return np.flatnonzero(new)


def _linear_onto_grid(coarse, centres, n, axis):
    """Linear interpolation of coarse (samples at fractional positions
    `centres` along axis) onto the pixel positions 0..n-1, held constant
    beyond the outer centres, as bilinear resampling without aligned corners."""
    if len(centres) == 1:
        return np.repeat(coarse, n, axis=axis)
    pos = np.arange(n, dtype=np.float64)
    j = np.clip(np.searchsorted(centres, pos, side="right") - 1, 0, len(centres) - 2)
    t = np.clip((pos - centres[j]) / (centres[j + 1] - centres[j]), 0.0, 1.0)
    lo = np.take(coarse, j, axis=axis)
    hi = np.take(coarse, j + 1, axis=axis)
    shape = [1, 1]
    shape[axis] = n
    t = t.reshape(shape)
    return lo * (1.0 - t) + hi * t


def interpolate_replicated(band):
    """A band brought to the 10 m grid by pixel replication, as if it had
    been resampled bilinearly instead (SSL4EO-S12 and other L2A stacks are):
    the block means, placed at the block centres and interpolated linearly
    along both axes, rounded to integers.  A band without replicated lines
    comes back unchanged."""
    rows, cols = _block_starts(band, 0), _block_starts(band, 1)
    if len(rows) == band.shape[0] and len(cols) == band.shape[1]:
        return band
    sums = np.add.reduceat(np.add.reduceat(band.astype(np.float64), rows, 0), cols, 1)
    rlen = np.diff(np.append(rows, band.shape[0]))
    clen = np.diff(np.append(cols, band.shape[1]))
    coarse = sums / (rlen[:, None] * clen[None, :])
    out = _linear_onto_grid(coarse, rows + (rlen - 1) / 2.0, band.shape[0], 0)
    out = _linear_onto_grid(out, cols + (clen - 1) / 2.0, band.shape[1], 1)
    return np.round(out).astype(band.dtype)


class CropSampler:
    """Random crops with flips, rotations, brightness, band-subset and
    resampling augmentation.  interp_prob: the share of crops whose
    pixel-replicated bands are turned into bilinearly resampled ones, so
    the model also learns stacks that were interpolated (only 2 of the
    training places are)."""

    def __init__(self, places, crop, seed, interp_prob=0.0):
        self.places = places
        self.crop = crop
        self.interp_prob = interp_prob
        self.rng = np.random.default_rng(seed)
        w = np.array([np.sqrt(p.T * p.H * p.W) for p in places])
        self.weights = w / w.sum()

    def _band_subset(self, place):
        r = self.rng.random()
        have = [S2_SLOTS[s] for s in place.slots]
        if r < 0.6:
            keep = have
        elif r < 0.75:
            keep = [b for b in have if b in L2A_BANDS]
        elif r < 0.9:
            keep = [b for b in have if b in COMPOSITE10] or have
        else:
            k = int(self.rng.integers(1, len(have) + 1))
            keep = list(self.rng.choice(have, size=k, replace=False))
        return [i for i, s in enumerate(place.slots) if S2_SLOTS[s] in keep]

    def sample(self, batch):
        """Crops (batch x slots x crop x crop), slot masks, and the bands the
        decoder would project as interpolated: (sample, slot, Py, Px)."""
        n_slots = len(S2_SLOTS)
        xs = np.zeros((batch, n_slots, self.crop, self.crop), np.float32)
        masks = np.zeros((batch, n_slots), np.float32)
        interp = []
        for b in range(batch):
            p = self.places[self.rng.choice(len(self.places), p=self.weights)]
            t = int(self.rng.integers(p.T))
            img = p.cube[t]
            ch, cw = min(self.crop, p.H), min(self.crop, p.W)
            y0 = int(self.rng.integers(p.H - ch + 1))
            x0 = int(self.rng.integers(p.W - cw + 1))
            img = img[:, y0:y0 + ch, x0:x0 + cw]
            if self.rng.random() < self.interp_prob:
                img = np.stack([interpolate_replicated(b) for b in img])
            img = img.astype(np.float32)
            if ch < self.crop or cw < self.crop:
                img = np.pad(img, ((0, 0), (0, self.crop - ch), (0, self.crop - cw)), mode="reflect")
            if self.rng.random() < 0.5:
                img = img[:, :, ::-1]
            img = np.rot90(img, k=int(self.rng.integers(4)), axes=(1, 2))
            keep = self._band_subset(p)
            # Found on the integer samples, before the brightness change
            # (which keeps the bands piecewise linear).
            interp += [(b, p.slots[c]) + pr for c in keep if (pr := detect_dense(img[c])) is not None]
            if self.rng.random() < 0.5:
                # Brightness: snow, clouds and deserts sit far above the mean.
                img = img * float(np.exp(self.rng.uniform(np.log(0.5), np.log(2.5))))
            img = np.clip(img, 0, 65535)
            for c in keep:
                xs[b, p.slots[c]] = img[c]
                masks[b, p.slots[c]] = 1.0
        return xs, masks, interp
