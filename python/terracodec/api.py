"""The array API: numpy cubes to .tecv streams (bytes or files) and back,
with the metadata `tec encode` keeps in the header.

A stream written here is the stream `tec encode` writes for the same
samples and options: the same header keys in the same order and the same
packet times, so the two tools read each other's files.
"""
import ctypes
import math
import os
import warnings

import numpy as np

from . import _dates
from . import _libtec as L
from ._libtec import TecError

# Header keys with a parameter of their own, and the one tec itself writes.
KEY_RANK = "input_rank"
_OWN_KEYS = ("bands", "dates", "nodata", "crs", "geotransform", KEY_RANK)


# ------------------------------------------------------------------ checks

def check_cube(cube):
    """The cube as a C-ordered uint16 (T, C, H, W) array and its rank.
    Refuses what tec cannot code instead of converting it: a float cube
    cast to uint16 would lose data silently."""
    a = np.asarray(cube)
    if a.dtype != np.uint16:
        raise TypeError(f"TEC codes uint16 samples; this array is {a.dtype} "
                        "(convert it yourself, e.g. reflectance x 10000 as uint16)")
    if a.ndim not in (3, 4):
        raise ValueError(f"need a (T, C, H, W) or (C, H, W) array, not {a.ndim}-D {a.shape}")
    rank = a.ndim
    if rank == 3:
        a = a[np.newaxis]
    t, c, h, w = a.shape
    if t < 1 or not 1 <= c <= L.TEC_MAX_BANDS or not (1 <= h <= L.TEC_MAX_DIM and
                                                       1 <= w <= L.TEC_MAX_DIM):
        raise ValueError(f"shape {a.shape}: need 1..{L.TEC_MAX_BANDS} bands, 1..{L.TEC_MAX_DIM} "
                         "pixels a side and at least one frame")
    return np.ascontiguousarray(a), rank


def _check_band_names(names, count):
    names = [names] if isinstance(names, str) else list(names)
    if len(names) == 1 and "," in names[0]:
        names = names[0].split(",")
    if len(names) != count:
        raise ValueError(f"bands: {len(names)} names for the {count} bands of the cube")
    for b in names:
        if (not isinstance(b, str) or not 1 <= len(b) < L.TEC_MAX_BAND_NAME or
                any(not " " < ch < "\x7f" or ch == "," for ch in b)):
            raise ValueError(f"bands: {b!r} is not a band name (1 to {L.TEC_MAX_BAND_NAME - 1} "
                             "printable ASCII characters, no spaces or commas)")
    return names


def _check_masks(masks, frames, h, w, what):
    """Per-frame pixel masks as a C-ordered uint8 (T, H, W) array of 0/1:
    bool or integer, not 0 = set, (H, W) for a single frame.  frames 0:
    any count (a stream whose header does not say)."""
    m = np.asarray(masks)
    if m.dtype != bool and not np.issubdtype(m.dtype, np.integer):
        raise TypeError(f"{what}: need a bool or integer array (not 0 = cloud), not {m.dtype}")
    if m.ndim == 2 and frames in (0, 1):
        m = m[np.newaxis]
    if m.ndim != 3 or m.shape[1:] != (h, w) or (frames and m.shape[0] != frames):
        want = f"({frames or 'T'}, {h}, {w})" + (f" or ({h}, {w})" if frames in (0, 1) else "")
        raise ValueError(f"{what}: shape {m.shape}, need {want} (one mask a frame)")
    return np.ascontiguousarray(m != 0, dtype=np.uint8)


def _utf8(key, value):
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{key}: not valid UTF-8") from None


def _header_meta(frames, rank, bands, dates, crs, geotransform, nodata, meta, raw):
    """The header's key/value list, in tec encode's order, and the packet
    times (milliseconds or None per frame)."""
    entries = []
    times = [None] * frames
    if bands is not None and raw:
        entries.append(("bands", ",".join(bands)))
    if dates is not None:
        labels = [_dates.label(d) for d in (dates.split(",") if isinstance(dates, str)
                                            else dates)]
        if len(labels) != frames:
            raise ValueError(f"dates: {len(labels)} for the {frames} frames of the cube")
        for i, s in enumerate(labels):
            if not s or "," in s:
                raise ValueError(f"dates: label {i + 1} ({s!r}) is empty or has a comma")
            times[i] = _dates.parse(s)
        entries.append(("dates", ",".join(labels)))
    if nodata is not None:
        if isinstance(nodata, float) and nodata.is_integer():
            nodata = int(nodata)
        if not isinstance(nodata, (int, np.integer)) or not 0 <= int(nodata) <= 65535:
            raise ValueError(f"nodata {nodata!r}: need an integer sample value from 0 to 65535")
        entries.append(("nodata", str(int(nodata))))
    if crs is not None:
        crs = str(crs)
        if not crs:
            raise ValueError("crs: need a non-empty string such as EPSG:32633")
        entries.append(("crs", crs))
    if geotransform is not None:
        entries.append(("geotransform", _geotransform_text(geotransform)))
    for key, value in (meta or {}).items():
        if key in _OWN_KEYS:
            raise ValueError(f"meta key '{key}' has its own parameter or is written by tec")
        if not key or any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in key):
            raise ValueError(f"meta key {key!r}: empty or with control characters")
        entries.append((key, str(value)))
    entries.append((KEY_RANK, str(rank)))
    for k, v in entries:
        _utf8(k, k)
        _utf8(k, v)
    return entries, times


def _geotransform_text(gt):
    """GDAL's six numbers as text: a string is kept as given (so that a
    stream equals tec encode's byte for byte), numbers in repr form."""
    parts = gt.split(",") if isinstance(gt, str) else list(gt)
    try:
        values = [float(p) for p in parts]
    except (TypeError, ValueError):
        values = []
    if len(values) != 6 or not all(math.isfinite(v) for v in values):
        raise ValueError(f"geotransform {gt!r}: need 6 numbers")
    return gt if isinstance(gt, str) else ",".join(repr(v) for v in values)


# ------------------------------------------------------------------ writing

class _Writer:
    """A TecvWriter to a path, or to memory when path is None."""

    def __init__(self, path, info):
        self.h = ctypes.c_void_p()
        self.path = path
        if path is None:
            ret = L.lib.tec_tecv_open_write_mem(ctypes.byref(self.h), ctypes.byref(info))
        else:
            ret = L.lib.tec_tecv_open_write(ctypes.byref(self.h), os.fsencode(path),
                                            ctypes.byref(info))
        if ret < 0:
            self.fail(ret)

    def fail(self, ret):
        msg = L.text(L.lib.tec_tecv_writer_error(self.h))
        self.close()
        raise TecError(ret, msg)

    def packet(self, data, size, time_ms, flags):
        ret = L.lib.tec_tecv_write_packet(self.h, ctypes.cast(data, L._u8p), size, time_ms,
                                          flags)
        if ret < 0:
            self.fail(ret)

    def finish(self):
        """The stream as bytes (memory), or None (file); closes the writer."""
        out = None
        if self.path is None:
            data, size = L._u8p(), ctypes.c_size_t()
            ret = L.lib.tec_tecv_writer_data(self.h, ctypes.byref(data), ctypes.byref(size))
            if ret < 0:
                self.fail(ret)
            out = ctypes.string_at(data, size.value)
        ret = L.lib.tec_tecv_close_write(ctypes.byref(self.h))
        if ret < 0:
            raise TecError(ret, f"{self.path}: cannot finish the file")
        return out

    def close(self):
        if self.h:
            L.lib.tec_tecv_close_write(ctypes.byref(self.h))


def _tecv_info(codec, shape, entries, seq=None):
    t, c, h, w = shape
    keys = (ctypes.c_char_p * max(len(entries), 1))(*[k.encode() for k, _ in entries])
    values = (ctypes.c_char_p * max(len(entries), 1))(*[v.encode() for _, v in entries])
    info = L.TecvInfo(codec=codec, bands=c, width=w, height=h, n_meta=len(entries),
                      meta_keys=ctypes.cast(keys, ctypes.POINTER(ctypes.c_char_p)),
                      meta_values=ctypes.cast(values, ctypes.POINTER(ctypes.c_char_p)))
    if seq is not None:
        info.seq_header, info.seq_header_size = seq
    info._keep = (keys, values)  # the arrays must outlive the call
    return info


def _flags(keyframe, time_ms):
    return (L.TECV_FLAG_KEY if keyframe else 0) | (L.TECV_FLAG_TIME if time_ms is not None else 0)


def _encode_raw(path, a, entries, times):
    writer = _Writer(path, _tecv_info(L.TEC_CODEC_RAW, a.shape, entries))
    try:
        for t in range(a.shape[0]):
            frame = np.ascontiguousarray(a[t], dtype="<u2")
            writer.packet(frame.ctypes.data, frame.nbytes, times[t] or 0,
                          _flags(True, times[t]))
        return writer.finish()
    finally:
        writer.close()


class _Encoder:
    def __init__(self, settings):
        self.h = ctypes.c_void_p()
        ret = L.lib.tec_encoder_open(ctypes.byref(self.h), ctypes.byref(settings))
        if ret < 0:
            raise TecError(ret, "cannot start the encoder: " +
                           L.text(L.lib.tec_encoder_error(None)))

    def check(self, ret, what):
        if ret < 0 and ret != L.TEC_EAGAIN and ret != L.TEC_EOF:
            raise TecError(ret, f"{what}: {L.text(L.lib.tec_encoder_error(self.h))}")
        return ret

    def close(self):
        L.lib.tec_encoder_close(ctypes.byref(self.h))


def _encode_tec(path, a, names, entries, times, quality, fixed_quality, model, weights_dir,
                threads, keyframe_interval, context, nodata, max_error, clouds, skip_clouds,
                effort, plain_spreads, no_prediction):
    t, c, h, w = a.shape
    s = L.TecEncoderSettings()
    L.lib.tec_encoder_default_settings(ctypes.byref(s))
    s.bands, s.width, s.height = c, w, h
    for i, name in enumerate(names or ()):
        s.band_names[i] = name.encode()
    s.quality = int(quality or 0)
    s.fixed_quality = int(bool(fixed_quality))
    s.model = model.encode() if model else None
    wdir = L.weights_dir(weights_dir)
    s.weights_dir = os.fsencode(wdir) if wdir else None
    s.threads = int(threads)
    s.keyframe_interval = int(keyframe_interval or 0)
    s.context_frames = int(context or 0)
    if nodata is not None:
        # As tec encode --nodata: the mask makes nodata survive the coding.
        s.has_nodata = 1
        s.nodata_value = int(nodata)
    if max_error is not None:
        # As tec encode --max-error E: every sample within E (0 = lossless).
        s.error_bound = max_error + 1
    if clouds is not None:
        # As tec encode --cloud-mask [--skip-clouds]: each frame's mask kept
        # in its packet for a decoder to fill.
        L.need_api(L.API_CLOUDS, "cloud_mask")
        s.skip_clouds = int(bool(skip_clouds))
    if effort:
        # As tec encode --effort E: 10 E refinement steps per block.
        L.need_api(L.API_EFFORT, "effort")
        s.effort = int(effort)
    if plain_spreads:
        # As tec encode --plain-spreads: no band weighting (a 0.8 library
        # codes that way already).
        if L.api_at_least(L.API_PLAIN_SPREADS):
            s.plain_spreads = 1
    if no_prediction:
        # As tec encode --no-prediction: the temporal model alone (a 0.9
        # library codes that way already).
        if L.api_at_least(L.API_NO_PREDICTION):
            s.no_prediction = 1

    enc = _Encoder(s)
    writer = None
    try:
        hdr, hdr_size = L._u8p(), ctypes.c_size_t()
        enc.check(L.lib.tec_encoder_get_header(enc.h, ctypes.byref(hdr), ctypes.byref(hdr_size)),
                  "no sequence header")
        writer = _Writer(path, _tecv_info(L.TEC_CODEC_TEC, a.shape, entries,
                                          (hdr, hdr_size.value)))
        pkt = L.TecPacket()

        def drain():
            while True:
                ret = enc.check(L.lib.tec_encoder_receive_packet(enc.h, ctypes.byref(pkt)),
                                "encoding failed")
                if ret < 0:
                    return ret
                writer.packet(pkt.data, pkt.size, pkt.time_ms,
                              _flags(pkt.keyframe, pkt.time_ms if pkt.has_time else None))

        for i in range(t):
            pic = L.TecPicture(data=a[i].ctypes.data_as(L._u16p), stride=w, band_stride=h * w,
                               bands=c, width=w, height=h, time_ms=times[i] or 0,
                               has_time=int(times[i] is not None))
            if clouds is not None:
                enc.check(L.lib.tec_encoder_set_cloud_mask(enc.h, clouds[i].ctypes.data_as(L._u8p),
                                                           w), "cloud mask")
            while enc.check(L.lib.tec_encoder_send_frame(enc.h, ctypes.byref(pic)),
                            "encoding failed") == L.TEC_EAGAIN:
                drain()
            drain()
        enc.check(L.lib.tec_encoder_send_frame(enc.h, None), "flush failed")
        if drain() != L.TEC_EOF:
            raise TecError(L.TEC_EINVAL, "the encoder did not finish after the flush")
        return writer.finish()
    finally:
        if writer is not None:
            writer.close()
        enc.close()


def _encode(path, cube, quality=None, bands=None, dates=None, crs=None, geotransform=None,
            nodata=None, meta=None, *, fixed_quality=False, model=None, weights_dir=None,
            threads=0, keyframe_interval=None, context=None, max_error=None, raw=False,
            cloud_mask=None, skip_clouds=False, effort=0, plain_spreads=False,
            no_prediction=False):
    a, rank = check_cube(cube)
    names = _check_band_names(bands, a.shape[1]) if bands is not None else None
    if quality is not None and not L.TEC_QUALITY_MIN <= int(quality) <= L.TEC_QUALITY_MAX:
        raise ValueError(f"quality {quality}: need {L.TEC_QUALITY_MIN}..{L.TEC_QUALITY_MAX}")
    if context is not None and not 1 <= int(context) <= L.TEC_MAX_CONTEXT:
        raise ValueError(f"context {context}: need 1..{L.TEC_MAX_CONTEXT}")
    if max_error is not None and not 0 <= int(max_error) <= L.TEC_MAX_ERROR:
        raise ValueError(f"max_error {max_error}: need 0..{L.TEC_MAX_ERROR}")
    if not 0 <= int(effort) <= L.TEC_MAX_EFFORT:
        raise ValueError(f"effort {effort}: need 0..{L.TEC_MAX_EFFORT}")
    clouds = None
    if cloud_mask is not None:
        if raw:
            raise ValueError("cloud_mask: a raw stream keeps no cloud mask")
        clouds = _check_masks(cloud_mask, a.shape[0], a.shape[2], a.shape[3], "cloud_mask")
    elif skip_clouds:
        raise ValueError("skip_clouds needs cloud_mask (the pixels to skip)")
    entries, times = _header_meta(a.shape[0], rank, names, dates, crs, geotransform, nodata,
                                  meta, raw)
    if raw:
        return _encode_raw(path, a, entries, times)
    return _encode_tec(path, a, names, entries, times, quality, fixed_quality, model,
                       weights_dir, threads, keyframe_interval, context,
                       None if nodata is None else int(float(nodata)),
                       None if max_error is None else int(max_error), clouds, skip_clouds,
                       int(effort), bool(plain_spreads), bool(no_prediction))


def encode(cube, quality=None, bands=None, dates=None, crs=None, geotransform=None,
           nodata=None, meta=None, **options):
    """A uint16 (T, C, H, W) or (C, H, W) cube as the bytes of a .tecv stream.

    quality: 1..29 (None: the model's default).  bands: names ("B01", ...,
    or one comma-separated string); None means the Sentinel-2 order for 13,
    12 or 10 bands.  dates: one per frame, ISO strings, datetime or
    datetime64 (other labels are kept as text).  crs, geotransform (6
    numbers), nodata (a sample value) and meta (other keys) go into the
    header.  options: fixed_quality, model, weights_dir, threads (0 = one
    per core), keyframe_interval, context, max_error (every sample within
    that of the source, 0 = lossless), raw (store uncompressed),
    cloud_mask ((T, H, W), or (H, W) for one frame, bool or integer, not 0 =
    cloud: kept losslessly in each frame's packet for decode(fill_clouds=True))
    and skip_clouds (with cloud_mask: almost no bits under the clouds, which
    decode flat unless filled), effort (0..5: encoder-side latent refinement,
    10 x effort steps per block; smaller files at equal quality, slower
    encoding, the same decoder), plain_spreads (True: no band weighting,
    each band standardised by its own spread as before libtec 0.9) and
    no_prediction (True: no predicted frames, the temporal model alone, as
    before libtec 0.10).
    """
    return _encode(None, cube, quality, bands, dates, crs, geotransform, nodata, meta,
                   **options)


def encode_file(path, cube, quality=None, bands=None, dates=None, crs=None, geotransform=None,
                nodata=None, meta=None, **options):
    """As encode(), written to the .tecv file at path."""
    try:
        _encode(os.fspath(path), cube, quality, bands, dates, crs, geotransform, nodata, meta,
                **options)
    except BaseException:
        # No half-written stream left behind, as tec encode does.
        if os.path.isfile(path):
            os.unlink(path)
        raise


# ------------------------------------------------------------------ reading

class Reader:
    """A .tecv stream opened from bytes or a path: the header as metadata,
    then packets one at a time."""

    def __init__(self, source):
        self.h = ctypes.c_void_p()
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._buf = bytes(source)  # must outlive the reader
            ret = L.lib.tec_tecv_open_read_mem(ctypes.byref(self.h),
                                               ctypes.cast(self._buf, L._u8p), len(self._buf))
            self.name = "<bytes>"
        else:
            self.name = os.fspath(source)
            ret = L.lib.tec_tecv_open_read(ctypes.byref(self.h), os.fsencode(self.name))
        if ret < 0:
            msg = L.text(L.lib.tec_tecv_reader_error(self.h))
            self.close()
            raise TecError(ret, msg)
        info = L.lib.tec_tecv_info(self.h).contents
        self.codec = info.codec
        self.shape = (info.frame_count, info.bands, info.height, info.width)
        self.seq = ctypes.string_at(info.seq_header, info.seq_header_size) \
            if info.seq_header_size else b""
        self.entries = [(L.text(info.meta_keys[i]), L.text(info.meta_values[i]))
                        for i in range(info.n_meta)]

    def packets(self):
        """(payload bytes, time_ms or None, keyframe) per packet; a corrupt
        packet raises, since a Python caller wants all or nothing."""
        data, size = L._u8p(), ctypes.c_size_t()
        t, flags = ctypes.c_int64(), ctypes.c_int()
        while True:
            ret = L.lib.tec_tecv_read_packet(self.h, ctypes.byref(data), ctypes.byref(size),
                                             ctypes.byref(t), ctypes.byref(flags))
            if ret == L.TEC_EOF:
                return
            if ret < 0:
                raise TecError(ret, f"{self.name}: "
                               f"{L.text(L.lib.tec_tecv_reader_error(self.h))}")
            yield (ctypes.string_at(data, size.value),
                   t.value if flags.value & L.TECV_FLAG_TIME else None,
                   bool(flags.value & L.TECV_FLAG_KEY))

    def metadata(self):
        """The header as a dict: bands, dates, crs, geotransform, nodata,
        model, codec, rank and the other keys under "meta"."""
        kv = dict(self.entries)
        md = {"codec": "tec" if self.codec == L.TEC_CODEC_TEC else "raw",
              "bands": None, "dates": None, "crs": kv.get("crs"), "geotransform": None,
              "nodata": None, "model": None, "keyframe_interval": 1,
              "rank": 3 if kv.get(KEY_RANK) == "3" and self.shape[0] == 1 else 4,
              "meta": {k: v for k, v in self.entries if k not in _OWN_KEYS}}
        if self.seq:
            si = L.TecStreamInfo()
            ret = L.lib.tec_parse_header(ctypes.cast(self.seq, L._u8p), len(self.seq),
                                         ctypes.byref(si))
            if ret < 0:
                raise TecError(ret, f"{self.name}: corrupt sequence header")
            md["bands"] = [L.text(si.band_names[b].value) for b in range(si.bands)]
            md["model"] = L.text(si.model)
            md["keyframe_interval"] = si.keyframe_interval
        elif "bands" in kv:
            md["bands"] = kv["bands"].split(",")
        if "dates" in kv:
            md["dates"] = kv["dates"].split(",")
        if "geotransform" in kv:
            md["geotransform"] = tuple(float(v) for v in kv["geotransform"].split(","))
        if "nodata" in kv:
            md["nodata"] = int(kv["nodata"])
        return md

    def close(self):
        if self.h:
            L.lib.tec_tecv_close_read(ctypes.byref(self.h))


class _Fill:
    """decode(fill_clouds=True): the masks to fill (None: each packet's own)
    and what was filled, frame by frame."""

    def __init__(self, masks, name):
        self.masks = masks
        self.name = name
        self.filled = []

    def take(self, dec, pic):
        """After a frame is received: its filled pixels, and why not, said
        as a warning as tec decode says it on stderr."""
        mask, why = L._u8p(), ctypes.c_char_p()
        L.lib.tec_decoder_get_filled(dec.h, ctypes.byref(mask), ctypes.byref(why))
        h, w = pic.height, pic.width
        if mask:
            self.filled.append(np.ctypeslib.as_array(mask, shape=(h * w,)).reshape(h, w).copy())
        else:
            self.filled.append(np.zeros((h, w), dtype=np.uint8))
        if why.value:
            warnings.warn(f"{self.name}: frame {len(self.filled) - 1}: its cloud mask stays as "
                          f"coded: {L.text(why.value)}", RuntimeWarning)


class _Decoder:
    def __init__(self, reader, weights_dir, threads, fill=None):
        s = L.TecDecoderSettings()
        L.lib.tec_decoder_default_settings(ctypes.byref(s))
        wdir = L.weights_dir(weights_dir)
        s.weights_dir = os.fsencode(wdir) if wdir else None
        s.threads = int(threads)
        if fill is not None:
            L.need_api(L.API_CLOUDS, "fill_clouds")
            s.fill_clouds = 1
        self.fill = fill
        self.h = ctypes.c_void_p()
        ret = L.lib.tec_decoder_open(ctypes.byref(self.h), ctypes.byref(s),
                                     ctypes.cast(reader.seq, L._u8p), len(reader.seq))
        if ret < 0:
            raise TecError(ret, f"{reader.name}: {L.text(L.lib.tec_decoder_error(None))}")
        self.name = reader.name
        self.pic = L.TecPicture()

    def check(self, ret, what="decoding failed"):
        if ret < 0 and ret not in (L.TEC_EAGAIN, L.TEC_EOF):
            raise TecError(ret, f"{self.name}: {what}: "
                           f"{L.text(L.lib.tec_decoder_error(self.h))}")
        return ret

    def send(self, payload, time_ms, fill_mask=None):
        """Decodes one packet (filling fill_mask's pixels in place of its own
        cloud mask); the frames it finishes, as arrays."""
        buf = ctypes.cast(payload, L._u8p)
        out = []
        if fill_mask is not None:
            self.check(L.lib.tec_decoder_set_fill_mask(self.h, fill_mask.ctypes.data_as(L._u8p),
                                                       fill_mask.shape[1]), "fill mask")
        while self.check(L.lib.tec_decoder_send_packet(
                self.h, buf, len(payload), time_ms or 0, int(time_ms is not None))) == \
                L.TEC_EAGAIN:
            out += self.receive()
        return out + self.receive()

    def flush(self):
        self.check(L.lib.tec_decoder_send_packet(self.h, None, 0, 0, 0))
        return self.receive()

    def receive(self):
        out = []
        while self.check(L.lib.tec_decoder_receive_frame(self.h, ctypes.byref(self.pic))) == 0:
            out.append(_picture_array(self.pic))
            if self.fill is not None:
                self.fill.take(self, self.pic)
        return out

    def close(self):
        L.lib.tec_decoder_close(ctypes.byref(self.h))


def _picture_array(pic):
    """A copy of a library-owned picture as a (C, H, W) array."""
    c, h, w = pic.bands, pic.height, pic.width
    span = (c - 1) * pic.band_stride + (h - 1) * pic.stride + w
    flat = np.ctypeslib.as_array(pic.data, shape=(span,))
    view = np.lib.stride_tricks.as_strided(flat, shape=(c, h, w),
                                           strides=(pic.band_stride * 2, pic.stride * 2, 2))
    return view.copy()


def _raw_frame(payload, shape):
    return np.frombuffer(payload, dtype="<u2").reshape(shape[1:]).astype(np.uint16)


def _keyframe_before(packets, index):
    """The last packet at or before index that is a keyframe (0 if none)."""
    for i in range(min(index, len(packets) - 1), 0, -1):
        if packets[i][2]:
            return i
    return 0


def _frames(reader, wanted, weights_dir, threads, fill=None):
    """Yields (index, frame) for the frame indices in wanted (a set, or None
    for all).  Inter frames need their references, so decoding starts at the
    keyframe before the first wanted frame and stops after the last.  With
    fill (all frames only), the clouds are filled and fill.filled kept."""
    if wanted is None:
        start, packets, last = 0, reader.packets(), None
    else:
        listed = list(reader.packets())
        start = _keyframe_before(listed, min(wanted, default=0))
        packets, last = listed[start:], max(wanted, default=-1)
    if fill is not None and reader.codec != L.TEC_CODEC_TEC:
        raise ValueError(f"{reader.name}: fill_clouds: a raw stream has no clouds to fill")
    dec = _Decoder(reader, weights_dir, threads, fill) if reader.codec == L.TEC_CODEC_TEC \
        else None

    def fill_mask(i):
        if fill is None or fill.masks is None:
            return None
        if i >= len(fill.masks):
            raise ValueError(f"{reader.name}: fill_mask has {len(fill.masks)} frames, the stream "
                             "more")
        return fill.masks[i]

    def decoded():
        for i, (payload, time_ms, _key) in enumerate(packets, start):
            yield from (dec.send(payload, time_ms, fill_mask(i)) if dec else
                        [_raw_frame(payload, reader.shape)])
        yield from dec.flush() if dec else ()

    try:
        for index, frame in enumerate(decoded(), start):
            if wanted is None or index in wanted:
                yield index, frame
            if last is not None and index >= last:
                return
    finally:
        if dec:
            dec.close()


def _decode(source, weights_dir, threads, fill_clouds=False, fill_mask=None,
            return_filled=False):
    if (fill_mask is not None or return_filled) and not fill_clouds:
        raise ValueError(("fill_mask" if fill_mask is not None else "return_filled") +
                         " needs fill_clouds=True")
    reader = Reader(source)
    try:
        md = reader.metadata()
        fill = None
        if fill_clouds:
            t, _, h, w = reader.shape
            masks = None if fill_mask is None else _check_masks(fill_mask, t, h, w, "fill_mask")
            fill = _Fill(masks, reader.name)
        frames = [f for _, f in _frames(reader, None, weights_dir, threads, fill)]
    finally:
        reader.close()
    if not frames:
        raise TecError(L.TEC_EBITSTREAM, f"{reader.name}: the stream has no frames")
    if reader.shape[0] and len(frames) != reader.shape[0]:
        raise TecError(L.TEC_EBITSTREAM, f"{reader.name}: {len(frames)} frames decoded, the "
                       f"header says {reader.shape[0]}")
    if fill is not None and fill.masks is not None and len(fill.masks) != len(frames):
        raise ValueError(f"{reader.name}: fill_mask has {len(fill.masks)} frames, the stream "
                         f"{len(frames)}")
    cube = np.stack(frames)
    if not return_filled:
        return (cube[0] if md["rank"] == 3 else cube), md
    filled = np.stack(fill.filled)
    if md["rank"] == 3:
        return cube[0], md, filled[0]
    return cube, md, filled


def decode(buf, weights_dir=None, threads=0, fill_clouds=False, fill_mask=None,
           return_filled=False):
    """A .tecv stream (bytes) back to (cube, metadata): the cube uint16 in
    the shape it was coded from, metadata as Reader.metadata().

    fill_clouds: the cloudy pixels of each frame (its packet's cloud mask,
    or fill_mask: (T, H, W), or (H, W) for one frame, not 0 = fill) replaced
    by what the frames before it predict, as tec decode --fill-clouds; a
    frame whose mask stays as coded (the first: nothing before it) says why
    in a RuntimeWarning.  return_filled: (cube, metadata, filled), filled
    uint8 (T, H, W) (or (H, W)), 1 = filled."""
    return _decode(bytes(buf), weights_dir, threads, fill_clouds, fill_mask, return_filled)


def decode_file(path, weights_dir=None, threads=0, fill_clouds=False, fill_mask=None,
                return_filled=False):
    """As decode(), from the .tecv file at path."""
    return _decode(os.fspath(path), weights_dir, threads, fill_clouds, fill_mask,
                   return_filled)


def info(source):
    """The metadata and shape of a .tecv (bytes or path) without decoding:
    metadata["shape"] is (T, C, H, W), T = 0 when the writer could not
    patch it (a pipe)."""
    reader = Reader(source)
    try:
        md = reader.metadata()
        md["shape"] = reader.shape
        return md
    finally:
        reader.close()


def read_frames(source, indices, weights_dir=None, threads=0):
    """Frames `indices` of a .tecv (bytes or path) as a (len, C, H, W) array,
    decoding only from the keyframe before the first: the per-frame access
    behind open_tecv."""
    want = sorted(set(int(i) for i in indices))
    reader = Reader(source)
    try:
        got = dict(_frames(reader, set(want), weights_dir, threads))
    finally:
        reader.close()
    missing = [i for i in want if i not in got]
    if missing:
        raise IndexError(f"{reader.name}: no frame {missing[0]}")
    return np.stack([got[int(i)] for i in indices])
