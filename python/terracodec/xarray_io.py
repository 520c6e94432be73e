"""open_tecv: a .tecv file as an xarray DataArray over a Dask array with
one chunk per frame, decoded only when computed."""
import os

import numpy as np

from . import _dates
from . import api


def _frame(path, index, weights_dir):
    # One task per frame: it opens the file itself, so it runs anywhere the
    # path is readable (a worker process, another machine).
    return api.read_frames(path, [index], weights_dir=weights_dir, threads=1)[0]


def _axis(origin, step, n):
    """Pixel-centre coordinates along one axis of a north-up geotransform."""
    return origin + (np.arange(n) + 0.5) * step


def open_tecv(path, weights_dir=None):
    """A DataArray with dims (time, band, y, x) for the .tecv at path.

    time holds the dates (datetime64 when all are ISO dates, else the labels,
    else frame numbers), band the band names, y and x pixel centres from the
    geotransform when it has no rotation terms.  attrs keep crs,
    geotransform, nodata (also as _FillValue), the model and the other
    header keys.  Each frame is a Dask chunk; an inter frame's task decodes
    from its keyframe, so frames of one group decoded together share work
    best with a group-sized time chunk (.chunk(time=G) after opening).
    """
    import dask
    import dask.array as da
    import xarray as xr

    path = os.fspath(path)
    md = api.info(path)
    t, c, h, w = md["shape"]
    if not t:
        t = sum(1 for _ in _count(path))
    frames = [da.from_delayed(dask.delayed(_frame, pure=True)(path, i, weights_dir),
                              shape=(c, h, w), dtype=np.uint16) for i in range(t)]
    data = da.stack(frames) if frames else da.zeros((0, c, h, w), dtype=np.uint16)

    coords = {"band": md["bands"] or [f"band{b + 1}" for b in range(c)]}
    labels = md["dates"] if md["dates"] and len(md["dates"]) == t else None
    times = _dates.to_datetime64(labels) if labels else None
    coords["time"] = (times.astype("datetime64[ns]") if times is not None else
                      np.array(labels) if labels else np.arange(t))
    gt = md["geotransform"]
    if gt and gt[2] == 0 and gt[4] == 0:
        coords["x"] = _axis(gt[0], gt[1], w)
        coords["y"] = _axis(gt[3], gt[5], h)

    attrs = {k: md[k] for k in ("crs", "nodata", "model") if md[k] is not None}
    if gt:
        attrs["geotransform"] = list(gt)
    if md["nodata"] is not None:
        attrs["_FillValue"] = md["nodata"]
    attrs.update(md["meta"])
    name = os.path.splitext(os.path.basename(path))[0]
    return xr.DataArray(data, dims=("time", "band", "y", "x"), coords=coords, attrs=attrs,
                        name=name)


def _count(path):
    reader = api.Reader(path)
    try:
        yield from reader.packets()
    finally:
        reader.close()
