"""The codecs tec compare runs: tec and the baselines (doc/compare.md)."""
import json
import math
import os
import shutil
import struct
import subprocess

import numpy as np

from .klt import (klt_forward, klt_from_uint16, klt_inverse, klt_side_bytes,
                  klt_to_uint16)
from .meter import CodecError
from .metrics import PEAK, to_uint16


ALL_CODECS = ["tec", "tec_intra", "j2k", "j2k_klt", "x265", "aom", "svtav1", "jxl", "zstd"]
# Codecs whose every point promises a maximum error (setting = E): run by
# --lossless or by name, not by default (make bench stays the RD comparison).
BOUNDED_CODECS = ["tec_ll", "j2k_nl", "jls"]
# The codecs and settings of --lossless: every lossless point tec compare has
# (tec_ll and jls also get the near-lossless bounds, j2k_nl only those).
LOSSLESS_LADDERS = {"tec_ll": "0", "j2k": "lossless", "jxl": "lossless", "jls": "0",
                    "zstd": "19"}
MAX_ERRORS = "1,2,4,8,16"

DEFAULT_LADDERS = {
    # tec: --quality
    "tec": "1,5,9,13,17,21,25,29",
    "tec_intra": "1,5,9,13,17,21,25,29",
    "tec_effort": "1,5,9,13,17,21,25,29",
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
    # tec_ll: tec encode --max-error E (0 = lossless); j2k_nl: the same bound
    # found for JPEG 2000 by a search on its rate
    "tec_ll": "0," + MAX_ERRORS,
    "j2k_nl": MAX_ERRORS,
    # jls: JPEG-LS NEAR (0 = lossless)
    "jls": "0," + MAX_ERRORS,
}


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

    def error_bound(self, setting):
        """The largest |decoded - source| this point promises (0: lossless),
        or None.  run_point fails the point when a sample is further off."""
        return None if self.lossy else 0

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

    def error_bound(self, setting):
        return 0 if setting == "lossless" else None

    def opj_encode(self, comps, setting, work, meter, tag, side="enc"):
        """Code one C x H x W uint16 image into WORK/TAG.j2k; returns its path."""
        c, h, w = comps.shape
        src = os.path.join(work, tag + ".rawl")
        j2k = os.path.join(work, tag + ".j2k")
        np.ascontiguousarray(comps, dtype="<u2").tofile(src)
        cmd = ["opj_compress", "-i", src, "-o", j2k, "-F", "%d,%d,%d,16,u" % (w, h, c),
               "-mct", "0", "-n", str(self.numres(h, w)),
               "-threads", str(self.opts.threads)]
        if setting != "lossless":
            ratio = 16.0 / float(setting)
            cmd += ["-I", "-r", "%.6g" % ratio]
        meter.run(side, cmd)
        os.remove(src)
        return j2k

    def opj_decode(self, j2k, shape, meter, side="dec"):
        dec = j2k + ".dec.rawl"
        meter.run(side, ["opj_decompress", "-i", j2k, "-o", dec,
                         "-threads", str(self.opts.threads)])
        out = np.fromfile(dec, dtype="<u2")
        os.remove(dec)
        if out.size != int(np.prod(shape)):
            raise CodecError("opj_decompress gave %d samples, expected %d"
                             % (out.size, int(np.prod(shape))))
        return out.reshape(shape)

    def opj(self, comps, setting, work, meter, tag):
        """Code one C x H x W uint16 image; returns (decoded, bytes)."""
        j2k = self.opj_encode(comps, setting, work, meter, tag)
        nbytes = os.path.getsize(j2k)
        out = self.opj_decode(j2k, comps.shape, meter)
        os.remove(j2k)
        return out, nbytes

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

    def error_bound(self, setting):
        return None

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

    def error_bound(self, setting):
        return 0 if setting == "lossless" else None

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
    """tec as a user runs it: a series with its temporal model (the default
    model's keyframe interval and context), its dates passed on."""
    name = "tec"
    takes_dates = True
    extra_args = []

    def check(self):
        p = self.opts.tec
        if not p or not os.access(p, os.X_OK):
            return "tec tool not found at %s (build it with ./configure && make)" % p
        return None

    def label(self, setting):
        return "q=%s" % setting

    def error_bound(self, setting):
        return None

    def setting_args(self, setting):
        return ["--quality", setting]

    def code(self, cube, setting, work, meter, bands=None, dates=None):
        src = os.path.join(work, "in.npy")
        bs = os.path.join(work, "out.tecv")
        dec = os.path.join(work, "dec.npy")
        np.save(src, np.ascontiguousarray(cube))
        # The band names place each band in the model's slots, as tec encode
        # --bands does for a user; without them tec assumes Sentinel-2 order.
        names = ["--bands", ",".join(bands)] if bands else []
        names += ["--dates", ",".join(dates)] if dates else []
        meter.run("enc", [self.opts.tec, "encode", src, "-o", bs] + self.setting_args(setting)
                  + ["--threads", str(self.opts.threads)] + names + self.extra_args)
        n = os.path.getsize(bs)
        meter.run("dec", [self.opts.tec, "decode", bs, "-o", dec,
                          "--threads", str(self.opts.threads)])
        rec = np.load(dec)
        if rec.shape != cube.shape:
            if rec.size == cube.size:
                rec = rec.reshape(cube.shape)
            else:
                raise CodecError("tec decode gave shape %s, expected %s" % (rec.shape, cube.shape))
        return rec.astype(np.uint16), n, "whole .tecv file" + self.split(bs)

    def split(self, bs):
        """'; intra N frames B bytes, inter ...' from tec info --json."""
        r = subprocess.run([self.opts.tec, "info", "--json", bs], capture_output=True, text=True)
        try:
            frames = json.loads(r.stdout)["frame_list"]
        except (ValueError, KeyError):
            return ""
        parts = []
        for kind in ("intra", "inter", "predicted"):
            sel = [f for f in frames if f.get("type") == kind]
            if sel:
                parts.append("%s %d frames %d bytes" % (kind, len(sel), sum(f["bytes"] for f in sel)))
        return "; " + ", ".join(parts) if parts else ""


class TECIntra(TEC):
    """The same model with every frame intra (--keyframe-interval 1): what
    the temporal model saves."""
    name = "tec_intra"
    extra_args = ["--keyframe-interval", "1"]


class TECEffort(TEC):
    """The same series coded with encoder-side latent refinement
    (--effort 3): what the slower encoding saves, the decoder unchanged.
    Run by name (--codecs tec,tec_effort,...), not by default."""
    name = "tec_effort"
    extra_args = ["--effort", "3"]


def bound_setting(setting):
    """E of a bounded codec's setting: an integer 0..255."""
    try:
        e = int(setting)
    except ValueError:
        e = -1
    if not 0 <= e <= 255:
        raise CodecError("max error %r is not an integer 0..255" % setting)
    return e


class TECBound(TEC):
    """tec with its error bound (tec encode --max-error E, the default
    quality for the learned layer): lossless at E = 0, near-lossless above."""
    name = "tec_ll"

    def label(self, setting):
        return "lossless" if bound_setting(setting) == 0 else "E=%d" % bound_setting(setting)

    def error_bound(self, setting):
        return bound_setting(setting)

    def setting_args(self, setting):
        return ["--max-error", str(bound_setting(setting))]


class J2KBound(J2K):
    """JPEG 2000 at a maximum error E: OpenJPEG has no such mode, so per
    acquisition the smallest 9/7 rate whose decoded max error is <= E is
    searched by bisection on log rate (the search's codings count as encode
    time), falling back to the reversible codestream when no rate up to the
    lossless one meets E."""
    name = "j2k_nl"
    steps = 8
    lowest = 0.05   # bpppb where the search starts

    def label(self, setting):
        return "E=%d" % bound_setting(setting)

    def error_bound(self, setting):
        return bound_setting(setting)

    def code(self, cube, setting, work, meter, bands=None):
        e = bound_setting(setting)
        rec = np.empty_like(cube)
        total = 0
        fallback = 0
        for t in range(cube.shape[0]):
            frame = cube[t]
            tag = "f%d" % t
            ll = self.opj_encode(frame, "lossless", work, meter, tag + "ll")
            best, best_bytes = ll, os.path.getsize(ll)
            lo, hi = math.log(self.lowest), math.log(best_bytes * 8.0 / frame.size)
            for i in range(self.steps):
                mid = 0.5 * (lo + hi)
                j2k = self.opj_encode(frame, "%.6g" % math.exp(mid), work, meter,
                                      "%s_%d" % (tag, i))
                err = np.abs(self.opj_decode(j2k, frame.shape, meter, "enc").astype(np.int64)
                             - frame).max()
                if err <= e and os.path.getsize(j2k) < best_bytes:
                    os.remove(best)
                    best, best_bytes = j2k, os.path.getsize(j2k)
                else:
                    os.remove(j2k)
                if err <= e:
                    hi = mid
                else:
                    lo = mid
            fallback += best == ll
            rec[t] = self.opj_decode(best, frame.shape, meter)
            total += best_bytes
            os.remove(best)
        note = "rate searched per frame (%d steps)" % self.steps
        if fallback:
            note += "; %d of %d frames reversible (no 9/7 rate met E)" % (fallback, cube.shape[0])
        return rec, total, note


def dicom_element(group, elem, vr, value):
    """One explicit-VR little-endian DICOM element."""
    if isinstance(value, str):
        value = value.encode()
        if len(value) % 2:
            value += b"\0" if vr == "UI" else b" "
    if vr in ("OB", "OW"):
        return struct.pack("<HH2sHI", group, elem, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(value)) + value


def write_dicom(path, planes, bits=16):
    """N x H x W uint16 as a multi-frame greyscale DICOM file with `bits`
    stored, the smallest one dcmcjpls takes: JPEG-LS in Debian has a command
    line only inside dcmtk."""
    n, h, w = planes.shape
    el = dicom_element
    sop, inst = "1.2.840.10008.5.1.4.1.1.7.3", "1.2.826.0.1.3680043.2.1143.1"
    meta = (el(2, 1, "OB", b"\0\1") + el(2, 2, "UI", sop) + el(2, 3, "UI", inst)
            + el(2, 0x10, "UI", "1.2.840.10008.1.2.1"))
    u16 = [el(0x28, e, "US", struct.pack("<H", v)) for e, v in (
        (2, 1), (0x10, h), (0x11, w), (0x100, 16), (0x101, bits), (0x102, bits - 1), (0x103, 0))]
    ds = (el(8, 0x16, "UI", sop) + el(8, 0x18, "UI", inst) + u16[0]
          + el(0x28, 4, "CS", "MONOCHROME2") + el(0x28, 8, "IS", str(n)) + b"".join(u16[1:])
          + el(0x7fe0, 0x10, "OW", np.ascontiguousarray(planes, "<u2").tobytes()))
    with open(path, "wb") as f:
        f.write(b"\0" * 128 + b"DICM" + el(2, 0, "UL", struct.pack("<I", len(meta))) + meta + ds)


def dicom_fragments(path):
    """Sizes of the encapsulated pixel data's fragments (one JPEG-LS
    codestream a frame), the basic offset table left out."""
    d = open(path, "rb").read()
    i = d.rfind(struct.pack("<HH2sH", 0x7fe0, 0x10, b"OB", 0) + b"\xff" * 4)
    if i < 0:
        raise CodecError("%s: no encapsulated pixel data" % path)
    i += 12
    sizes = []
    while i + 8 <= len(d):
        g, e, n = struct.unpack("<HHI", d[i:i + 8])
        i += 8
        if (g, e) == (0xfffe, 0xe0dd):
            return sizes[1:]
        sizes.append(n)
        i += n
    raise CodecError("%s: pixel data not terminated" % path)


def dicom_pixels(path, shape):
    d = open(path, "rb").read()
    i = d.rfind(struct.pack("<HH2sH", 0x7fe0, 0x10, b"OW", 0))
    n = struct.unpack("<I", d[i + 8:i + 12])[0] if i >= 0 else 0
    if n != 2 * int(np.prod(shape)):
        raise CodecError("%s: %d bytes of pixel data, expected %d" % (path, n, 2 * np.prod(shape)))
    return np.frombuffer(d[i + 12:i + 12 + n], "<u2").reshape(shape)


class JLS(Codec):
    """JPEG-LS (dcmtk's dcmcjpls, Debian dcmtk): each band plane of an
    acquisition one JPEG-LS image, lossless or near-lossless with NEAR = E,
    at the bit depth the acquisition needs (JPEG-LS's default thresholds
    scale with MAXVAL); the rate is the codestreams alone, not the DICOM
    around them."""
    name = "jls"

    def check(self):
        m = tool_missing("dcmcjpls", "dcmdjpls")
        return ("%s not found (Debian: dcmtk)" % m) if m else None

    def label(self, setting):
        return "lossless" if bound_setting(setting) == 0 else "E=%d" % bound_setting(setting)

    def error_bound(self, setting):
        return bound_setting(setting)

    def code(self, cube, setting, work, meter, bands=None):
        e = bound_setting(setting)
        mode = ["+el"] if e == 0 else ["+en", "+md", str(e)]
        rec = np.empty_like(cube)
        total = 0
        src, bs, dec = (os.path.join(work, n) for n in ("in.dcm", "jls.dcm", "dec.dcm"))
        for t in range(cube.shape[0]):
            write_dicom(src, cube[t], max(2, int(cube[t].max()).bit_length()))
            meter.run("enc", ["dcmcjpls"] + mode + ["+ff", src, bs])
            sizes = dicom_fragments(bs)
            if len(sizes) != cube.shape[1]:
                raise CodecError("dcmcjpls gave %d fragments for %d planes"
                                 % (len(sizes), cube.shape[1]))
            total += sum(sizes)
            meter.run("dec", ["dcmdjpls", bs, dec])
            rec[t] = dicom_pixels(dec, cube.shape[1:])
        return rec, total, "one JPEG-LS image a plane, bits stored as needed; DICOM not counted"


CODEC_CLASSES = {c.name: c for c in (TEC, TECIntra, TECEffort, J2K, J2KKLT, X265, AOM, SVTAV1, JXL, ZSTD,
                                     TECBound, J2KBound, JLS)}
