"""TerraCodec for Python: numpy cubes to .tecv and back through libtec.so,
a numcodecs codec for Zarr (id "tec") and an xarray opener.

    import terracodec
    buf = terracodec.encode(cube, quality=18, bands=names, dates=dates)
    cube, metadata = terracodec.decode(buf)

libtec.so is found through $TEC_LIBRARY, the source tree's build/, the
install directory, then the dynamic loader; weights as tools/tec finds
them ($TEC_WEIGHTS, weights_dir=, the install directory).  Coding runs
without the GIL.
"""
from ._libtec import TecError, library_path
from ._libtec import lib as _lib
from .api import decode, decode_file, encode, encode_file, info, read_frames
from .xarray_io import open_tecv

__all__ = ["encode", "decode", "encode_file", "decode_file", "info", "read_frames",
           "open_tecv", "TecCodec", "TecError", "library_path", "version"]


def version():
    """The loaded libtec's release, e.g. "0.3.0"."""
    return _lib.tec_version().decode()


try:
    import numcodecs as _numcodecs
except ImportError:  # the array API works without Zarr
    pass
else:
    from .codec import TecCodec
    _numcodecs.register_codec(TecCodec)
