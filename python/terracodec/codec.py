"""numcodecs codec "tec": each Zarr chunk a whole in-memory .tecv stream,
so any process decodes any chunk alone (a Dask worker, another machine).

Chunks are (T, C, H, W) or (C, H, W) uint16 with every band of the array
in one chunk: the spectral model codes the bands together and needs to
know which is which.  A chunk split along the bands is refused when the
codec was given band names (their count must match the chunk's bands).
"""
import numpy as np
from numcodecs.abc import Codec
from numcodecs.compat import ensure_ndarray, ndarray_copy

from . import api


class TecCodec(Codec):
    """TerraCodec for Zarr.  quality 1..29 (None: the model's default);
    bands: the band names, checked against every chunk; threads: libtec
    threads per chunk (1: let Dask run one chunk per core instead, which
    scales better and keeps the chunks byte-identical however they are
    scheduled); nodata: a sample value that decodes exactly (the array's
    fill_value, say); max_error: every sample within that of the source (0 =
    lossless); model and keyframe_interval as in terracodec.encode."""

    codec_id = "tec"

    def __init__(self, quality=None, bands=None, model=None, threads=1, keyframe_interval=None,
                 fixed_quality=False, nodata=None, max_error=None):
        if quality is not None and not 1 <= int(quality) <= 29:
            raise ValueError(f"quality {quality}: need 1..29")
        self.quality = None if quality is None else int(quality)
        if isinstance(bands, str):
            bands = bands.split(",")
        self.bands = None if bands is None else [str(b) for b in bands]
        self.model = model
        self.threads = int(threads)
        self.keyframe_interval = keyframe_interval
        self.fixed_quality = bool(fixed_quality)
        self.nodata = None if nodata is None else int(nodata)
        self.max_error = None if max_error is None else int(max_error)

    def _check_chunk(self, buf):
        if not isinstance(buf, np.ndarray):
            buf = ensure_ndarray(buf)
        if buf.dtype != np.uint16:
            raise TypeError(f"tec codec: chunks must be uint16, not {buf.dtype}")
        if buf.ndim not in (3, 4):
            raise ValueError(f"tec codec: chunks must be (T, C, H, W) or (C, H, W), not "
                             f"{buf.ndim}-D {buf.shape}")
        bands = buf.shape[-3]
        if self.bands is not None and bands != len(self.bands):
            raise ValueError(f"tec codec: a chunk of {bands} bands for the {len(self.bands)} "
                             f"bands named ({','.join(self.bands)}): all bands must be in one "
                             f"chunk (chunk the band axis as {len(self.bands)})")
        return buf

    def encode(self, buf):
        cube = self._check_chunk(buf)
        return api.encode(cube, quality=self.quality, bands=self.bands, model=self.model,
                          threads=self.threads, keyframe_interval=self.keyframe_interval,
                          fixed_quality=self.fixed_quality, nodata=self.nodata,
                          max_error=self.max_error)

    def decode(self, buf, out=None):
        cube, _ = api.decode(ensure_ndarray(buf).tobytes(), threads=self.threads)
        return ndarray_copy(cube, out)

    def __repr__(self):
        return (f"TecCodec(quality={self.quality!r}, bands={self.bands!r}, "
                f"model={self.model!r}, threads={self.threads})")
