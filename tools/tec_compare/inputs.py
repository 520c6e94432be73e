"""Reading the cubes tec compare is given."""
import json
import os
import shutil
import sys
import tempfile

import numpy as np

from .codecs import TEC
from .meter import Meter

# tools/, where tecio.py is
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Cube:
    def __init__(self, name, data, bands=None, offset=0, source="", dates=None):
        self.name = name
        self.data = data
        self.bands = bands
        self.offset = offset
        self.source = source
        self.dates = dates     # one label per frame, or None


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
    # The acquisition dates, so that tec's temporal model knows the gaps.
    dates = meta.get("dates")
    if isinstance(dates, str):
        dates = [s.strip() for s in dates.split(",")]
    if not isinstance(dates, list) or len(dates) != data.shape[0] or \
            not all(isinstance(d, str) and d and "," not in d for d in dates):
        dates = None
    if opts.frames:
        data = data[:opts.frames]
        dates = dates[:opts.frames] if dates else None
    if opts.crop:
        data = crop(data, opts.crop)
    return Cube(name, np.ascontiguousarray(data), bands, _meta_offset(meta), path, dates)


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
