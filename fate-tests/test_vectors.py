#!/usr/bin/python3
"""The committed format test vectors (fate-tests/vectors/README.md) still
parse and decode, in libtec and in the independent Python decoder."""
import json
import os
import re
import subprocess
import sys
import tempfile
import zlib

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
sys.path.insert(0, os.path.join(ROOT, "fate-tests", "lib"))
import interpolation  # noqa: E402
import reference  # noqa: E402
from checks import Checks  # noqa: E402
import tecio  # noqa: E402

VEC = os.path.join(ROOT, "fate-tests", "vectors")
TEC = os.environ.get("TEC", os.path.join(ROOT, "tools", "tec"))
NODATA_SIZES = [1115, 1183]  # the packets of nodata.tecv
BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]

check = Checks("test_vectors")


def decode(path, out):
    r = subprocess.run([TEC, "decode", path, "-o", out, "--weights-dir", VEC],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"tec decode {os.path.basename(path)}: {r.stderr.strip()}")
    return np.load(out) if r.returncode == 0 else None


def open_vector(tmp, name, model_name, sizes):
    """A tec-coded vector: its packets (checked against their sizes), sequence
    header, the model that coded it, and libtec's decode (None on failure)."""
    path = os.path.join(VEC, name + ".tecv")
    hdr, packets = tecio.read_tecv(path)
    check([len(p[2]) for p in packets] == sizes, f"{name}.tecv packet sizes")
    seq = reference.parse_seq_header(hdr["seq_header"])
    model, tensors, checksum, hp = reference.load_model(os.path.join(VEC, model_name + ".tecw"))
    return packets, seq, (model, tensors, checksum, hp), decode(path, os.path.join(tmp, name + ".npy"))


def check_agree(ref, out, label):
    """libtec's frame within one unit of the Python decoder's, on under 1%
    of the samples (the synthesis is floating point)."""
    diff = np.abs(ref.astype(np.int64) - out.astype(np.int64))
    check(int(diff.max()) <= 1 and float((diff > 0).mean()) < 0.01,
          f"{label}: libtec and the Python decoder agree (max {int(diff.max())})")


def context_vector(tmp, name, model_name, sizes, key, off):
    """A vector coded with a context model: libtec and the Python decoder
    agree, and decoding with the context switched off (hp[key] = off) gives
    other entropy parameters, so the context is not a no-op."""
    packets, seq, (model, tensors, checksum, hp), out = open_vector(tmp, name, model_name, sizes)
    check(seq["model"] == model_name and seq["checksum"] == checksum, f"{name} model and checksum")
    check(hp["ctx_groups"] == 4, f"{name} model has 4 slices")
    for i, (_, _, payload) in enumerate(packets):
        dec = reference.decode_symbols(payload, seq, tensors, hp)
        ref = reference.reconstruct(model, dec, seq, tensors)
        if out is not None:
            check_agree(ref, out[i], f"{name} frame {i}")
        try:
            plain = reference.decode_symbols(payload, seq, tensors, dict(hp, **{key: off}))
            same = all(np.array_equal(a["raw_scale"], b["raw_scale"])
                       for a, b in zip(plain["groups"], dec["groups"]))
        except ValueError:
            same = False
        check(not same, f"{name} frame {i}: the context ({key}) changes the entropy parameters")


def temporal_vector(tmp):
    """tt.tecv: inter packets (doc/bitstream.md, 3), coded with a model that
    has a temporal model (vector-tt.tecw: vector-sp's image model and a
    random TEC-TT).  A keyframe then three inter frames whose every block is
    inter; libtec and the Python decoder agree, and the temporal model is
    not a no-op: with its slice contexts zeroed the inter blocks get other
    entropy parameters (or do not decode), the keyframe the same ones."""
    packets, seq, (model, tensors, checksum, hp), out = open_vector(
        tmp, "tt", "vector-tt", [1106, 759, 814, 787])
    check(seq["model"] == "vector-tt" and seq["checksum"] == checksum, "tt model and checksum")
    check(hp["tt_heads"] > 0 and hp["ctx_groups"] == 4, "tt model has a temporal model")
    r = subprocess.run([TEC, "info", os.path.join(VEC, "tt.tecv"), "--json"], capture_output=True, text=True)
    frames = json.loads(r.stdout)["frame_list"] if r.returncode == 0 else []
    check([f.get("type") for f in frames] == ["intra", "inter", "inter", "inter"],
          "tt frame types: intra, inter, inter, inter")
    check([f.get("references") for f in frames[1:]] == [[0], [0, 1], [1, 2]]
          and all(f["inter_blocks"] == f["blocks"] for f in frames[1:]),
          "tt references (frame 0; 0..1; 1..2), every block inter")
    check([p[1] & tecio.FLAG_KEY != 0 for p in packets] == [True, False, False, False],
          "tt keyframe flags: the first packet only")
    # The temporal model's slice contexts (where the references come in) zeroed.
    plain_t = {k: (np.zeros_like(v) if re.match(r"tt\.c\d+\.", k) else v) for k, v in tensors.items()}
    stream = reference.Stream()
    for i, (_, _, payload) in enumerate(packets):
        dec = reference.decode_symbols(payload, seq, tensors, hp, stream)
        check(dec["frame_type"] == (0 if i == 0 else 1), f"tt frame {i}: frame type {dec['frame_type']}")
        if i:
            inter = dec["inter"]
            check((inter["gop_index"], inter["n_refs"], int(inter["modes"].sum())) == (i, min(i, 2), 1),
                  f"tt frame {i}: keyframe distance {inter['gop_index']}, {inter['n_refs']} references")
        ref = reference.reconstruct(model, dec, seq, tensors)
        if out is not None:
            check_agree(ref, out[i], f"tt frame {i}")
        try:
            plain = reference.decode_symbols(payload, seq, plain_t, hp, stream)
            same = all(np.array_equal(a["raw_scale"], b["raw_scale"]) and np.array_equal(a["mu"], b["mu"])
                       for a, b in zip(plain["groups"], dec["groups"]))
        except (ValueError, AssertionError, IndexError):
            same = False
        if i == 0:
            check(same, "tt frame 0 (intra): the temporal model plays no part")
        else:
            check(not same, f"tt frame {i}: the temporal model changes the entropy parameters")
        stream.add(dec, payload)


def lean_vector(tmp, fixture):
    """lean.tecv: inter chunks with lean tables (doc/bitstream.md, 3): the
    fixture's 4 frames coded with vector-tt.  libtec and the Python decoder
    agree, the inter frames carry the flag and leans, and the leans matter:
    decoded with them taken out, the means move (or the chunk fails)."""
    packets, seq, (model, tensors, checksum, hp), out = open_vector(
        tmp, "lean", "vector-tt", [1852, 1015, 1344, 1286])
    check(out is not None and out.shape == fixture.shape, "lean: libtec decodes the whole series")
    counts = []
    real = reference.parse_leans

    def counting(chunk, m):
        leans, used = real(chunk, m)
        counts.append(int((leans != 0).sum()))
        return leans, used

    def without(chunk, m):
        leans, used = real(chunk, m)
        return np.zeros_like(leans), used

    stream = reference.Stream()
    for i, (_, _, payload) in enumerate(packets):
        reference.parse_leans = counting
        try:
            dec = reference.decode_symbols(payload, seq, tensors, hp, stream)
        finally:
            reference.parse_leans = real
        if i:
            check(dec["inter"]["leans"], f"lean frame {i}: the inter section's lean flag")
            reference.parse_leans = without
            try:
                plain = reference.decode_symbols(payload, seq, tensors, hp, stream)
                same = all(np.array_equal(a["mu"], b["mu"]) for a, b in zip(plain["groups"], dec["groups"]))
            except (ValueError, AssertionError, IndexError):
                same = False
            finally:
                reference.parse_leans = real
            check(not same, f"lean frame {i}: its leans move the means")
        if out is not None:
            check_agree(reference.reconstruct(model, dec, seq, tensors), out[i], f"lean frame {i}")
        stream.add(dec, payload)
    check(len(counts) == 3 and all(c > 0 for c in counts), f"lean: every inter chunk has leans ({counts})")


def predicted_vector(tmp, fixture):
    """pred.tecv: predicted frames (doc/bitstream.md, 3) among inter frames.
    The frame types and references are as written, libtec decodes the
    series to within one unit of the source's reconstruction by the Python
    decoder, which applies each predicted frame's lines to libtec's frame
    before (so that the floating-point synthesis' last-unit differences do
    not add up along the chain), the lines matter (decoded without them the
    frame is far off), and inter frames skip the predicted frames among
    their references."""
    packets, seq, (model, tensors, checksum, hp), out = open_vector(
        tmp, "pred", "vector-tt", [2755, 490, 2861, 1752, 2879, 2072, 586])
    r = subprocess.run([TEC, "info", os.path.join(VEC, "pred.tecv"), "--json"], capture_output=True,
                       text=True)
    frames = json.loads(r.stdout)["frame_list"] if r.returncode == 0 else []
    types = [f.get("type") for f in frames]
    check(types == ["intra", "inter", "predicted", "inter", "predicted", "inter", "inter"],
          f"pred frame types ({types})")
    check([f.get("references") for f in frames[1:]] == [[0], [1], [0, 1], [3], [1, 3], [3, 5]],
          "pred references: a predicted frame the frame before, inter frames skip predicted ones")
    check([p[1] & tecio.FLAG_KEY != 0 for p in packets] == [True] + [False] * 6,
          "pred keyframe flags: the first packet only")
    stream = reference.Stream()
    for i, (_, _, payload) in enumerate(packets):
        dec = reference.decode_symbols(payload, seq, tensors, hp, stream)
        predicted = dec["prediction"] is not None
        check(dec["frame_type"] == (2 if predicted else 0 if i == 0 else 1) and
              predicted == (types[i:i + 1] == ["predicted"]), f"pred frame {i}: frame type")
        if predicted:
            check(dec["prediction"]["crc"] == zlib.crc32(packets[i - 1][2]),
                  f"pred frame {i}: names the packet before by its CRC")
        prev = out[i - 1] if out is not None and i else None
        ref = reference.reconstruct(model, dec, seq, tensors, prev)
        if out is not None:
            check_agree(ref, out[i], f"pred frame {i}")
        if predicted and out is not None:
            flat = dict(dec, prediction=dict(dec["prediction"], gain=[0] * seq["bands"],
                                             offset=[0] * seq["bands"]))
            off = reference.reconstruct(model, flat, seq, tensors, prev)
            err = lambda a: float(np.mean((a.astype(np.float64) - fixture_frame(fixture, i)) ** 2))
            check(err(off) > 10 * err(out[i]), f"pred frame {i}: its lines matter")
        stream.add(dec, payload)


def fixture_frame(fixture, i):
    """Frame i of pred.tecv's source: the fixture's frames 0 0 1 1 2 3 3."""
    return fixture[[0, 0, 1, 1, 2, 3, 3][i]].astype(np.float64)


def line_maps(band):
    """Where each row (column) of a band equals the one before: the blocks
    of replicated pixels the packet must carry."""
    rows = np.r_[False, (band[1:] == band[:-1]).all(1)]
    cols = np.r_[False, (band[:, 1:] == band[:, :-1]).all(0)]
    return rows, cols


def replication_vector(tmp, fixture):
    """rep.tecv: packets with the section of replicated blocks (periodic and
    explicit maps).  The maps are exactly the source's, libtec and the Python
    decoder agree, and the averaging lowers the error."""
    src = fixture[:2, :, 3:43, 1:57].copy()
    cols = np.repeat(np.arange(56), [1, 3, 2, 1, 4, 2, 2, 1, 3, 1] * 5 + [1] * 6)[:56]
    rows = np.repeat(np.arange(40), [2, 1, 3, 1, 1, 4, 2] * 5 + [1] * 5)[:40]
    src[1, 4] = src[1, 4][rows][:, cols]
    packets, seq, (model, tensors, _, hp), out = open_vector(tmp, "rep", "vector-sp", [1126, 1170])
    for i, (_, _, payload) in enumerate(packets):
        check(payload[1] == 1, f"rep frame {i}: packet flag of replicated blocks")
        dec = reference.decode_symbols(payload, seq, tensors, hp)
        maps = dec["replicated"]
        for b in range(13):
            want = line_maps(src[i, b])
            have = maps[b] or (np.zeros(40, bool), np.zeros(56, bool))
            check(all(np.array_equal(h, w) for h, w in zip(have, want)),
                  f"rep frame {i} band {b}: the blocks are the source's")
        ref = reference.reconstruct(model, dec, seq, tensors)
        plain = reference.reconstruct(model, dict(dec, replicated=None), seq, tensors)
        err = lambda a: float(((a.astype(np.float64) - src[i]) ** 2).sum())  # noqa: E731
        check(err(ref) < err(plain), f"rep frame {i}: averaging the blocks lowers the error")
        if out is not None:
            check_agree(ref, out[i], f"rep frame {i}")
            for b in (0, 4, 5):   # 60 m, the explicit map (frame 1), 20 m
                rows_same, cols_same = maps[b][0][1:], maps[b][1][1:]
                d = out[i, b]
                check(np.array_equal(d[1:][rows_same], d[:-1][rows_same])
                      and np.array_equal(d[:, 1:][:, cols_same], d[:, :-1][:, cols_same]),
                      f"rep frame {i} band {b}: decoded blocks are constant")


def interpolation_vector(tmp):
    """int.tecv: packets with the section of interpolated bands, from real
    bilinearly resampled L2A bands.  The parameters are the source's,
    libtec and the Python decoder agree, the projection lowers the error
    and the decoded bands lie in the projection's space."""
    src = np.load(os.path.join(ROOT, "fate-tests", "data", "ssl4eo_t2_48.npy"))
    packets, seq, (model, tensors, _, hp), out = open_vector(tmp, "int", "vector-sp", [1180, 1212])
    for i, (_, _, payload) in enumerate(packets):
        check(payload[1] == 2, f"int frame {i}: packet flag of interpolated bands")
        dec = reference.decode_symbols(payload, seq, tensors, hp)
        params = dec["interpolated"]
        want = [interpolation.detect(src[i, b]) for b in range(12)]
        check(params == want and sum(p is not None for p in params) == 8,
              f"int frame {i}: the 8 resampled bands and their factors and phases ({params})")
        ref = reference.reconstruct(model, dec, seq, tensors)
        plain = reference.reconstruct(model, dict(dec, interpolated=None), seq, tensors)
        # (The random model's error is mostly smooth, so the gain is small here.)
        err = lambda a, b: float(((a[b].astype(np.float64) - src[i, b]) ** 2).sum())  # noqa: E731
        lower = [err(ref, b) < err(plain, b) for b in range(12) if params[b]]
        check(len(lower) == 8 and all(lower), f"int frame {i}: the projection lowers the error of each band")
        if out is not None:
            check_agree(ref, out[i], f"int frame {i}")
            for b in (0, 9, 11):
                again = interpolation.project_band(out[i, b], 0, params[b])
                d = np.abs(again.astype(np.int64) - out[i, b])
                check(int(d.max()) <= 1, f"int frame {i} band {b}: decoded band lies in the space")


def nodata_source(fixture):
    """The source of nodata.tecv: the crop of tec.tecv with a diagonal nodata
    edge (0) in every band, 3 pixels further in B01 (a band of its own, as
    Sentinel-2's detector stagger gives), and 12 scattered nodata samples in
    B04 of frame 1."""
    src = fixture[:2, :, 3:43, 1:57].copy()
    y, x = np.mgrid[0:40, 0:56]
    src[:, :, 2 * x + y < 30] = 0
    src[:, 0, 2 * x + y < 36] = 0
    rng = np.random.default_rng(25)
    src[1, 3, rng.integers(0, 40, 12), rng.integers(20, 56, 12)] = 0
    return src


def nodata_vector(tmp, fixture):
    """nodata.tecv: packets with the mask section (nodata 0).  The mask is
    exactly the source's nodata, libtec and the Python decoder agree, every
    masked sample decodes to 0 and no other sample does."""
    src = nodata_source(fixture)
    packets, seq, (model, tensors, _, hp), out = open_vector(tmp, "nodata", "vector-sp", NODATA_SIZES)
    for i, (_, _, payload) in enumerate(packets):
        check(payload[1] & 4, f"nodata frame {i}: packet flag of the mask section")
        dec = reference.decode_symbols(payload, seq, tensors, hp)
        mask = dec["mask"]
        check(mask is not None and mask["value"] == 0 and np.array_equal(mask["masked"], src[i] == 0),
              f"nodata frame {i}: the mask is the source's nodata ({int((src[i] == 0).sum())} samples)")
        ref = reference.reconstruct(model, dec, seq, tensors)
        plain = reference.reconstruct(model, dict(dec, mask=None), seq, tensors)
        check(bool((plain[src[i] == 0] != 0).any()), f"nodata frame {i}: without the mask nodata is lost")
        for label, d in (("Python", ref), ("libtec", out[i] if out is not None else None)):
            if d is not None:
                check(np.array_equal(d == 0, src[i] == 0),
                      f"nodata frame {i} ({label}): exactly the nodata samples decode to 0")
        if out is not None:
            check_agree(ref, out[i], f"nodata frame {i}")
    r = subprocess.run([TEC, "info", os.path.join(VEC, "nodata.tecv"), "--json"], capture_output=True, text=True)
    frames = json.loads(r.stdout)["frame_list"] if r.returncode == 0 else []
    check([f.get("nodata_mask", {}).get("samples") for f in frames] == [int((f == 0).sum()) for f in src],
          "tec info --json: the samples each frame's mask covers")


RESIDUAL_SIZES = [14413, 14396]  # the packets of residual.tecv


def residual_vector(tmp, fixture):
    """residual.tecv: packets with the residual section (max error 2).  libtec
    and the Python decoder keep every sample within 2 of the source, agree
    within one unit, and without the section the error is far larger."""
    src = fixture[:2, :, 3:43, 1:57].astype(np.int64)
    packets, seq, (model, tensors, _, hp), out = open_vector(tmp, "residual", "vector-sp",
                                                             RESIDUAL_SIZES)
    for i, (_, _, payload) in enumerate(packets):
        check(payload[1] & 8, f"residual frame {i}: packet flag of the residual section")
        dec = reference.decode_symbols(payload, seq, tensors, hp)
        check(dec["residual"] is not None and dec["residual"]["max_error"] == 2,
              f"residual frame {i}: max error 2")
        ref = reference.reconstruct(model, dec, seq, tensors)
        plain = reference.reconstruct(model, dict(dec, residual=None), seq, tensors)
        # Python's synthesis may be a unit off libtec's, so its samples may
        # be one further from the source than the bound.
        check(int(np.abs(ref - src[i]).max()) <= 3, f"residual frame {i} (Python): within 2 + 1")
        check(int(np.abs(plain - src[i]).max()) > 10, f"residual frame {i}: without it, far off")
        if out is not None:
            check(int(np.abs(out[i] - src[i]).max()) <= 2, f"residual frame {i} (libtec): within 2")
            check_agree(ref, out[i], f"residual frame {i}")


def main():
    fixture = np.load(os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy"))
    with tempfile.TemporaryDirectory() as tmp:
        # raw.tecv: every header field and every sample.
        hdr, packets = tecio.read_tecv(os.path.join(VEC, "raw.tecv"))
        check((hdr["codec"], hdr["bands"], hdr["width"], hdr["height"], hdr["frame_count"])
              == (0, 13, 16, 16, 2), "raw.tecv geometry")
        meta = hdr["meta"]
        check(meta.get("bands") == ",".join(BANDS), "raw.tecv band names")
        check(meta.get("dates") == "2017-06-20,2017-07-10", "raw.tecv dates")
        check(meta.get("crs") == "EPSG:32633" and meta.get("nodata") == "0", "raw.tecv crs, nodata")
        check(meta.get("geotransform", "").replace(" ", "").startswith("395760"), "raw.tecv geotransform")
        check(meta.get("attribution", "").startswith("Contains modified Copernicus"), "unknown key kept")
        check([p[0] for p in packets] == [1497916800000, 1499644800000], "raw.tecv acquisition times")
        raw = decode(os.path.join(VEC, "raw.tecv"), os.path.join(tmp, "raw.npy"))
        check(raw is not None and np.array_equal(raw, fixture[:2, :, 8:24, 4:20]), "raw.tecv samples")

        # tec.tecv: parse, libtec decode, Python decode, agreement.
        hdr, packets = tecio.read_tecv(os.path.join(VEC, "tec.tecv"))
        check([len(p[2]) for p in packets] == [511, 491], "tec.tecv packet sizes")
        seq = reference.parse_seq_header(hdr["seq_header"])
        torch.set_num_threads(1)
        model, tensors, checksum, hp = reference.load_model(os.path.join(VEC, "vector-tiny.tecw"))
        check(seq["model"] == "vector-tiny" and seq["checksum"] == checksum, "model name and checksum")
        check((seq["width"], seq["height"], seq["bands"]) == (56, 40, 13), "tec.tecv geometry")
        info = subprocess.run([TEC, "info", os.path.join(VEC, "tec.tecv"), "--json"],
                              capture_output=True, text=True)
        check(info.returncode == 0 and json.loads(info.stdout)["frames"] == 2, "tec info --json")
        out = decode(os.path.join(VEC, "tec.tecv"), os.path.join(tmp, "tec.npy"))
        for i, (_, _, payload) in enumerate(packets):
            ref = reference.reconstruct(model, reference.decode_symbols(payload, seq, tensors, hp),
                                        seq, tensors)
            if out is not None:
                check_agree(ref, out[i], f"frame {i}")

        # ctx.tecv: a model with the channel context (tec-img version 3);
        # sp.tecv: with the checkerboard context on top (version 4).
        context_vector(tmp, "ctx", "vector-ctx", [1032, 1034], "ctx_groups", 0)
        context_vector(tmp, "sp", "vector-sp", [1101, 1129], "ctx_spatial", 0)
        # rep.tecv: replicated blocks (bitstream section 3).
        replication_vector(tmp, fixture)
        # int.tecv: interpolated bands (bitstream section 3).
        interpolation_vector(tmp)
        # tt.tecv: inter frames, the temporal model (bitstream section 3).
        temporal_vector(tmp)
        # lean.tecv: inter chunks with lean tables (bitstream section 3).
        lean_vector(tmp, fixture)
        # pred.tecv: predicted frames (bitstream section 3).
        predicted_vector(tmp, fixture)
        # nodata.tecv: the mask section (bitstream section 3).
        nodata_vector(tmp, fixture)
        # residual.tecv: the residual section (bitstream section 3).
        residual_vector(tmp, fixture)
    return check.summary()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--nodata-source":
        # Writes the source of nodata.tecv (fate-tests/vectors/README.md).
        np.save(sys.argv[2], nodata_source(np.load(os.path.join(ROOT, "fate-tests", "data",
                                                                "liri_t4_64.npy"))))
        sys.exit(0)
    sys.exit(main())
