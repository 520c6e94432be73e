"""ctypes binding of libtec.so: the structs and calls of tec/tec.h that the
Python API uses, the library found once per process.

ctypes releases the GIL for the duration of every foreign call, so threads
(a Dask worker's, a ThreadPoolExecutor's) code in parallel.
"""
import ctypes
import os

TEC_OK = 0
TEC_EAGAIN = -1
TEC_EOF = -2
TEC_EINVAL = -3
TEC_ENOMEM = -4
TEC_EBITSTREAM = -5
TEC_EMODEL = -6
TEC_EIO = -7
TEC_EUNSUPPORTED = -8

TEC_CODEC_RAW = 0
TEC_CODEC_TEC = 1
TECV_FLAG_KEY = 1
TECV_FLAG_TIME = 2

TEC_MAX_BANDS = 64
TEC_MAX_BAND_NAME = 16
TEC_MAX_MODEL_NAME = 64
TEC_MAX_DIM = 65535
TEC_QUALITY_MIN = 1
TEC_QUALITY_MAX = 29
TEC_MAX_CONTEXT = 4
TEC_MAX_ERROR = 255
TEC_MAX_EFFORT = 5

# The first API with both tec_tecv_open_write_mem (0.4) and the encoder's
# nodata fields (0.5).  The settings below have the 0.7 layout, whose
# error_bound (0.6), skip_clouds and fill_clouds (0.7) an older library
# holds as reserved space: it refuses a non-zero one (TEC_EINVAL) instead of
# ignoring it.
API_NEEDED = (0, 5)
# Cloud masks and filling: the settings fields and the calls of API 0.7.
API_CLOUDS = (0, 7)
# Encoder-side latent refinement: the settings field of API 0.8.
API_EFFORT = (0, 8)
# Band weighting's switch (plain_spreads): the settings field of API 0.9.
API_PLAIN_SPREADS = (0, 9)
# Predicted frames' switch (no_prediction): the settings field of API 0.10.
API_NO_PREDICTION = (0, 10)

_c_int, _c_i64, _c_size = ctypes.c_int, ctypes.c_int64, ctypes.c_size_t
_c_ptrdiff, _c_str, _c_void = ctypes.c_ssize_t, ctypes.c_char_p, ctypes.c_void_p
_u8p = ctypes.POINTER(ctypes.c_uint8)
_u16p = ctypes.POINTER(ctypes.c_uint16)


class TecError(RuntimeError):
    """A libtec failure: code is the negative TEC_E* value, the message
    libtec's own detail."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class TecPicture(ctypes.Structure):
    _fields_ = [("data", _u16p), ("stride", _c_ptrdiff), ("band_stride", _c_ptrdiff),
                ("bands", _c_int), ("width", _c_int), ("height", _c_int),
                ("time_ms", _c_i64), ("has_time", _c_int), ("user_data", _c_void)]


class TecPacket(ctypes.Structure):
    _fields_ = [("data", _u8p), ("size", _c_size), ("time_ms", _c_i64), ("has_time", _c_int),
                ("keyframe", _c_int), ("frame_index", _c_i64), ("user_data", _c_void)]


class TecStreamInfo(ctypes.Structure):
    _fields_ = [("bands", _c_int), ("width", _c_int), ("height", _c_int),
                ("band_names", (ctypes.c_char * TEC_MAX_BAND_NAME) * TEC_MAX_BANDS),
                ("model", ctypes.c_char * TEC_MAX_MODEL_NAME),
                ("model_checksum", ctypes.c_uint64), ("keyframe_interval", _c_int)]


# Row callbacks: declared for the struct layout, never set from Python.
_row_cb = _c_void


class TecEncoderSettings(ctypes.Structure):
    _fields_ = [("bands", _c_int), ("width", _c_int), ("height", _c_int),
                ("band_names", _c_str * TEC_MAX_BANDS),
                ("quality", _c_int), ("fixed_quality", _c_int),
                ("model", _c_str), ("weights_dir", _c_str),
                ("threads", _c_int), ("keyframe_interval", _c_int),
                ("want_reconstruction", _c_int),
                ("row_source", _row_cb), ("row_opaque", _c_void),
                ("context_frames", _c_int),
                ("has_nodata", _c_int), ("nodata_value", ctypes.c_uint16),
                ("reserved_u16", ctypes.c_uint16), ("error_bound", ctypes.c_int32),
                ("skip_clouds", ctypes.c_int32), ("effort", ctypes.c_int32),
                ("plain_spreads", ctypes.c_int32), ("no_prediction", ctypes.c_int32),
                ("reserved", ctypes.c_int64 * 4)]


class TecDecoderSettings(ctypes.Structure):
    _fields_ = [("weights_dir", _c_str), ("threads", _c_int),
                ("row_sink", _row_cb), ("row_opaque", _c_void),
                ("fill_clouds", ctypes.c_int32), ("reserved_i32", ctypes.c_int32),
                ("reserved", ctypes.c_int64 * 7)]


class TecvInfo(ctypes.Structure):
    _fields_ = [("codec", _c_int), ("bands", _c_int), ("width", _c_int), ("height", _c_int),
                ("frame_count", _c_i64),
                ("seq_header", _u8p), ("seq_header_size", _c_size),
                ("n_meta", _c_int),
                ("meta_keys", ctypes.POINTER(_c_str)),
                ("meta_values", ctypes.POINTER(_c_str))]


_P = ctypes.POINTER
_PROTOTYPES = {
    "tec_strerror": (_c_str, [_c_int]),
    "tec_version": (_c_str, []),
    "tec_version_api": (ctypes.c_uint, []),
    "tec_encoder_default_settings": (None, [_P(TecEncoderSettings)]),
    "tec_encoder_open": (_c_int, [_P(_c_void), _P(TecEncoderSettings)]),
    "tec_encoder_get_header": (_c_int, [_c_void, _P(_u8p), _P(_c_size)]),
    "tec_encoder_send_frame": (_c_int, [_c_void, _P(TecPicture)]),
    "tec_encoder_receive_packet": (_c_int, [_c_void, _P(TecPacket)]),
    "tec_encoder_error": (_c_str, [_c_void]),
    "tec_encoder_close": (None, [_P(_c_void)]),
    "tec_decoder_default_settings": (None, [_P(TecDecoderSettings)]),
    "tec_decoder_open": (_c_int, [_P(_c_void), _P(TecDecoderSettings), _u8p, _c_size]),
    "tec_decoder_info": (_P(TecStreamInfo), [_c_void]),
    "tec_decoder_send_packet": (_c_int, [_c_void, _u8p, _c_size, _c_i64, _c_int]),
    "tec_decoder_receive_frame": (_c_int, [_c_void, _P(TecPicture)]),
    "tec_decoder_error": (_c_str, [_c_void]),
    "tec_decoder_close": (None, [_P(_c_void)]),
    "tec_model_default_quality": (_c_int, [_c_str, _c_str]),
    "tec_parse_header": (_c_int, [_u8p, _c_size, _P(TecStreamInfo)]),
    "tec_tecv_open_read": (_c_int, [_P(_c_void), _c_str]),
    "tec_tecv_open_read_mem": (_c_int, [_P(_c_void), _u8p, _c_size]),
    "tec_tecv_info": (_P(TecvInfo), [_c_void]),
    "tec_tecv_read_packet": (_c_int, [_c_void, _P(_u8p), _P(_c_size), _P(_c_i64),
                                      _P(_c_int)]),
    "tec_tecv_reader_error": (_c_str, [_c_void]),
    "tec_tecv_close_read": (None, [_P(_c_void)]),
    "tec_tecv_open_write": (_c_int, [_P(_c_void), _c_str, _P(TecvInfo)]),
    "tec_tecv_open_write_mem": (_c_int, [_P(_c_void), _P(TecvInfo)]),
    "tec_tecv_writer_data": (_c_int, [_c_void, _P(_u8p), _P(_c_size)]),
    "tec_tecv_write_packet": (_c_int, [_c_void, _u8p, _c_size, _c_i64, _c_int]),
    "tec_tecv_writer_error": (_c_str, [_c_void]),
    "tec_tecv_close_write": (_c_int, [_P(_c_void)]),
}
# Calls of a later API than API_NEEDED: bound when the library has them
# (api_at_least says whether it does).
_LATER_PROTOTYPES = {
    "tec_encoder_set_cloud_mask": (_c_int, [_c_void, _u8p, _c_ptrdiff]),
    "tec_decoder_set_fill_mask": (_c_int, [_c_void, _u8p, _c_ptrdiff]),
    "tec_decoder_get_filled": (_c_i64, [_c_void, _P(_u8p), _P(_c_str)]),
}

_HERE = os.path.dirname(os.path.abspath(__file__))
# python/terracodec/ in a source tree: the tree is two levels up.
_TREE = os.path.dirname(os.path.dirname(_HERE))


def source_tree():
    """The source tree this package runs from, or None when installed."""
    if os.path.isfile(os.path.join(_TREE, "libavcodec-tec", "include", "tec", "tec.h")):
        return _TREE
    return None


def _candidates():
    env = os.environ.get("TEC_LIBRARY")
    if env:
        return [env]  # an explicit choice: no fallback that would hide a mistake
    paths = []
    tree = source_tree()
    if tree:
        paths.append(os.path.join(tree, "build", "libtec.so"))
    try:
        from . import _installed  # written by make install
        paths.append(os.path.join(_installed.LIBDIR, "libtec.so.0"))
    except ImportError:
        pass
    paths.append("libtec.so.0")  # the dynamic loader's search path
    return paths


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
            continue
        for name, (res, args) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        for name, (res, args) in _LATER_PROTOTYPES.items():
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = res
                fn.argtypes = args
        v = lib.tec_version_api()
        if (v >> 16, (v >> 8) & 0xff) < API_NEEDED or v >> 16 != API_NEEDED[0]:
            tried.append(f"{path} (API {v >> 16}.{(v >> 8) & 0xff}, need "
                         f"{API_NEEDED[0]}.{API_NEEDED[1]})")
            continue
        return lib, path
    raise ImportError("terracodec: no usable libtec.so: " + "; ".join(tried) +
                      " (build it with make, or set TEC_LIBRARY)")


lib, library_path = _load()


def api_at_least(major_minor):
    """True when the loaded library implements API major.minor or a later
    minor of the same major."""
    v = lib.tec_version_api()
    return v >> 16 == major_minor[0] and (v >> 8) & 0xff >= major_minor[1]


def need_api(major_minor, what):
    if not api_at_least(major_minor):
        v = lib.tec_version_api()
        raise TecError(TEC_EUNSUPPORTED, f"{what} needs libtec API {major_minor[0]}."
                       f"{major_minor[1]}; {library_path} has {v >> 16}.{(v >> 8) & 0xff}")


def weights_dir(explicit=None):
    """The weights directory to pass to libtec, as tools/tec chooses it:
    the caller's, else (unless TEC_WEIGHTS is set) the source tree's
    weights/ when running from the tree, since the library itself searches
    only TEC_WEIGHTS and its install directory."""
    if explicit is not None:
        return os.fspath(explicit)
    if os.environ.get("TEC_WEIGHTS"):
        return None
    tree = source_tree()
    if tree and library_path.startswith(tree):
        return os.path.join(tree, "weights")
    return None


def strerror(code):
    return lib.tec_strerror(code).decode("utf-8", "replace")


def text(c_str):
    return c_str.decode("utf-8", "replace") if c_str else ""
