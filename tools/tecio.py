"""Read and write TerraCodec files from Python: .tecw weights and the .tecv
container (doc/bitstream.md, sections 1 and 6).

Used by the training export and the tests.  Needs numpy and zstandard.

    write_tecw(path, meta, tensors) -> checksum
    read_tecw(path) -> (meta, tensors, checksum)
    write_tecv(path, codec, bands, width, height, packets, seq_header=b"", meta=None)
    write_tecv_raw(path, cube, meta=None, times_ms=None)
    read_tecv(path) -> (header, packets)
"""
import struct
import zlib

import numpy as np
import zstandard

# ---- checksums --------------------------------------------------------------

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


def crc32(data):
    """zlib CRC-32 (IEEE, reflected), as an unsigned int."""
    return zlib.crc32(data) & 0xFFFFFFFF


def fnv1a64(data):
    """FNV-1a 64 of a bytes-like object."""
    h = FNV_OFFSET
    prime = FNV_PRIME
    for byte in bytes(data):
        h = ((h ^ byte) * prime) & MASK64
    return h


# ---- .tecw --------------------------------------------------------------------

TECW_MAGIC = b"TECW"
TECW_VERSION = 1
TECW_MAX_BODY = 256 << 20

DT_F32, DT_F16, DT_I32, DT_U8 = 1, 2, 3, 4
_DTYPE_CODE = {
    np.dtype(np.float32): DT_F32,
    np.dtype(np.float16): DT_F16,
    np.dtype(np.int32): DT_I32,
    np.dtype(np.uint8): DT_U8,
}
_CODE_DTYPE = {DT_F32: np.dtype("<f4"), DT_F16: np.dtype("<f2"),
               DT_I32: np.dtype("<i4"), DT_U8: np.dtype("u1")}


def _meta_text(meta):
    lines = []
    for key, value in meta.items():
        key, value = str(key), str(value)
        if not key or "=" in key or "\n" in key or "\n" in value or "\0" in key + value:
            raise ValueError("meta entry %r=%r cannot be stored as a key=value line" % (key, value))
        lines.append("%s=%s\n" % (key, value))
    return "".join(lines).encode("utf-8")


def _tensor_entry(name, array):
    array = np.asarray(array)
    code = _DTYPE_CODE.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError("tensor %r: dtype %s not storable (float32, float16, int32, uint8)"
                         % (name, array.dtype))
    if array.ndim > 4:
        raise ValueError("tensor %r: %d dimensions (at most 4)" % (name, array.ndim))
    raw_name = name.encode("ascii")
    if not raw_name or len(raw_name) > 0xFFFF or any(c < 0x20 or c > 0x7E for c in raw_name):
        raise ValueError("tensor name %r must be 1..65535 printable ASCII characters" % name)
    data = np.ascontiguousarray(array, dtype=_CODE_DTYPE[code]).tobytes()
    head = struct.pack("<H", len(raw_name)) + raw_name + struct.pack("<BB", code, array.ndim)
    return head + struct.pack("<%dI" % array.ndim, *array.shape) + data


def write_tecw(path, meta, tensors):
    """Write a .tecw with `meta` (dict, stored as the u8 tensor `meta`) and
    `tensors`, a list of (name, numpy array).  Returns the checksum."""
    entries = [("meta", np.frombuffer(_meta_text(meta), dtype=np.uint8))]
    names = {"meta"}
    for name, array in tensors:
        if name in names:
            raise ValueError("tensor %r given twice" % name)
        names.add(name)
        entries.append((name, array))
    body = struct.pack("<I", len(entries)) + b"".join(_tensor_entry(n, a) for n, a in entries)
    if len(body) > TECW_MAX_BODY:
        raise ValueError("body of %d bytes exceeds the 256 MiB limit" % len(body))
    checksum = fnv1a64(body)
    frame = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(body)
    with open(path, "wb") as f:
        f.write(TECW_MAGIC + struct.pack("<HHQQ", TECW_VERSION, 0, len(body), checksum))
        f.write(frame)
    return checksum


class _Reader:
    """Bounds-checked little-endian reader over bytes."""

    def __init__(self, data, what):
        self.data, self.pos, self.what = data, 0, what

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("%s: truncated" % self.what)
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))

    def left(self):
        return len(self.data) - self.pos


def _zstd_content_size(frame, what):
    try:
        size = zstandard.get_frame_parameters(frame).content_size
    except zstandard.ZstdError as e:
        raise ValueError("%s: not a zstd frame (%s)" % (what, e))
    if size == zstandard.CONTENTSIZE_UNKNOWN or size == zstandard.CONTENTSIZE_ERROR:
        raise ValueError("%s: zstd frame without a content size" % what)
    return size


def _zstd_exact(frame, size, what):
    """Decompress exactly one frame holding exactly `size` bytes."""
    if _zstd_content_size(frame, what) != size:
        raise ValueError("%s: zstd frame holds %d bytes, expected %d"
                         % (what, _zstd_content_size(frame, what), size))
    dobj = zstandard.ZstdDecompressor().decompressobj()
    try:
        out = dobj.decompress(frame)
    except zstandard.ZstdError as e:
        raise ValueError("%s: corrupt zstd frame (%s)" % (what, e))
    if not dobj.eof or dobj.unused_data or len(out) != size:
        raise ValueError("%s: truncated zstd frame or stray bytes after it" % what)
    return out


def parse_meta_text(text):
    meta = {}
    for line in text.decode("utf-8").split("\n"):
        line = line.rstrip("\r")
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key or key in meta:
            raise ValueError("meta line %r is not a new key=value" % line)
        meta[key] = value
    return meta


def read_tecw(path):
    """Return (meta dict, {name: numpy array}, checksum), verifying the file
    as libtec does."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24 or data[:4] != TECW_MAGIC:
        raise ValueError("%s: not a .tecw file" % path)
    version, _reserved, body_size, checksum = struct.unpack("<HHQQ", data[4:24])
    if version != TECW_VERSION:
        raise ValueError("%s: unsupported version %d" % (path, version))
    if body_size < 4 or body_size > TECW_MAX_BODY:
        raise ValueError("%s: body size %d out of range" % (path, body_size))
    body = _zstd_exact(data[24:], body_size, path)
    if fnv1a64(body) != checksum:
        raise ValueError("%s: checksum mismatch" % path)

    r = _Reader(body, path)
    (count,) = r.unpack("<I")
    tensors = {}
    for _ in range(count):
        (name_len,) = r.unpack("<H")
        name = r.take(name_len).decode("ascii")
        code, ndim = r.unpack("<BB")
        if code not in _CODE_DTYPE or ndim > 4:
            raise ValueError("%s: tensor %r has dtype %d, ndim %d" % (path, name, code, ndim))
        dims = r.unpack("<%dI" % ndim)
        dtype = _CODE_DTYPE[code]
        nbytes = int(np.prod(dims, dtype=np.uint64)) * dtype.itemsize
        if name in tensors:
            raise ValueError("%s: tensor %r appears twice" % (path, name))
        tensors[name] = np.frombuffer(r.take(nbytes), dtype=dtype).reshape(dims)
    if r.left():
        raise ValueError("%s: %d stray bytes after the entries" % (path, r.left()))
    meta = {}
    if "meta" in tensors:
        meta = parse_meta_text(tensors.pop("meta").tobytes())
    return meta, tensors, checksum


# ---- .tecv --------------------------------------------------------------------

TECV_MAGIC = b"TECV"
TECV_MAJOR = 2
TECP_SYNC = b"TECP"
CODEC_RAW, CODEC_TEC = 0, 1
FLAG_KEY, FLAG_TIME = 1, 2
TECV_MAX_META = 16 << 20
TECP_MAX_PAYLOAD = 1 << 31


def _meta_block(meta):
    parts = [struct.pack("<I", len(meta))]
    for key, value in meta.items():
        k, v = str(key).encode("utf-8"), str(value).encode("utf-8")
        if not k or len(k) > 0xFFFF:
            raise ValueError("metadata key %r too long or empty" % key)
        parts += [struct.pack("<H", len(k)), k, struct.pack("<I", len(v)), v]
    raw = b"".join(parts)
    if len(raw) > TECV_MAX_META:
        raise ValueError("metadata exceeds 16 MiB")
    return zstandard.ZstdCompressor(level=19, write_content_size=True).compress(raw)


def _tecv_header(codec, bands, width, height, frame_count, seq_header, meta):
    block = _meta_block(meta or {})
    header = (struct.pack("<HIIQI", bands, width, height, frame_count, len(seq_header))
              + seq_header + struct.pack("<I", len(block)) + block)
    return (TECV_MAGIC + struct.pack("<BBBBII", TECV_MAJOR, 0, codec, 0, len(header), crc32(header))
            + header)


def packet_crc(head_time_flags, payload):
    """CRC-32 of packet header bytes 8-19 (time, flags, reserved), then the payload."""
    return zlib.crc32(payload, zlib.crc32(head_time_flags)) & 0xFFFFFFFF


def _packet(payload, time_ms, flags):
    middle = struct.pack("<qB3x", time_ms, flags)
    return (TECP_SYNC + struct.pack("<I", len(payload)) + middle
            + struct.pack("<I", packet_crc(middle, payload)) + payload)


def write_tecv(path, codec, bands, width, height, packets, seq_header=b"", meta=None):
    """Write a .tecv; packets is a list of (time_ms or None, flags, payload).
    The time flag is set from time_ms (None = unknown)."""
    if not (1 <= bands <= 64 and 1 <= width <= 65535 and 1 <= height <= 65535):
        raise ValueError("geometry %d x %d x %d out of range" % (bands, height, width))
    if (codec == CODEC_TEC) != bool(seq_header):
        raise ValueError("a tec stream needs a sequence header, a raw one none")
    with open(path, "wb") as f:
        f.write(_tecv_header(codec, bands, width, height, len(packets), bytes(seq_header), meta))
        for time_ms, flags, payload in packets:
            flags &= ~FLAG_TIME
            if time_ms is not None:
                flags |= FLAG_TIME
            if len(payload) > TECP_MAX_PAYLOAD:
                raise ValueError("packet of %d bytes exceeds 2^31" % len(payload))
            f.write(_packet(bytes(payload), time_ms or 0, flags))


def write_tecv_raw(path, cube, meta=None, times_ms=None):
    """Write a raw-codec .tecv of cube (T, C, H, W) uint16; times_ms is a
    list of T acquisition times (ms since 1970) or None."""
    cube = np.asarray(cube)
    if cube.ndim != 4 or cube.dtype.newbyteorder("=") != np.dtype(np.uint16):
        raise ValueError("cube must be uint16 (T, C, H, W), got %s %s" % (cube.dtype, cube.shape))
    t, c, h, w = cube.shape
    if times_ms is not None and len(times_ms) != t:
        raise ValueError("%d times for %d frames" % (len(times_ms), t))
    packets = []
    for i in range(t):
        payload = np.ascontiguousarray(cube[i], dtype="<u2").tobytes()
        packets.append((None if times_ms is None else int(times_ms[i]), FLAG_KEY, payload))
    write_tecv(path, CODEC_RAW, c, w, h, packets, meta=meta)


def _parse_meta_block(block):
    if not block:
        return {}
    size = _zstd_content_size(block, "metadata")
    if size > TECV_MAX_META:
        raise ValueError("metadata exceeds 16 MiB")
    raw = _zstd_exact(block, size, "metadata")
    r = _Reader(raw, "metadata")
    (count,) = r.unpack("<I")
    meta = {}
    for _ in range(count):
        (key_len,) = r.unpack("<H")
        key = r.take(key_len).decode("utf-8")
        (value_len,) = r.unpack("<I")
        value = r.take(value_len).decode("utf-8")
        meta.setdefault(key, value)
    if r.left():
        raise ValueError("metadata: stray bytes")
    return meta


def read_tecv(path):
    """Return (header, packets): header is a dict with codec, bands, width,
    height, frame_count, seq_header (bytes) and meta (dict); packets a list of
    (time_ms, flags, payload).  Any damage raises ValueError."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 16 or data[:4] != TECV_MAGIC:
        raise ValueError("%s: not a .tecv file" % path)
    major, _minor, codec, _reserved, header_size, header_crc = struct.unpack("<BBBBII",
                                                                             data[4:16])
    if major != TECV_MAJOR:
        raise ValueError("%s: unsupported major version %d" % (path, major))
    header = data[16:16 + header_size]
    if len(header) != header_size or crc32(header) != header_crc:
        raise ValueError("%s: truncated header or CRC mismatch" % path)
    r = _Reader(header, path)
    bands, width, height, frame_count, seq_size = r.unpack("<HIIQI")
    seq_header = r.take(seq_size)
    (meta_size,) = r.unpack("<I")
    meta = _parse_meta_block(r.take(meta_size))
    info = dict(codec=codec, bands=bands, width=width, height=height,
                frame_count=frame_count, seq_header=seq_header, meta=meta)

    packets = []
    pos = 16 + header_size
    while pos < len(data):
        if data[pos:pos + 4] != TECP_SYNC or pos + 24 > len(data):
            raise ValueError("%s: bad packet at offset %d" % (path, pos))
        size, time_ms, flags, crc = struct.unpack("<IqB3xI", data[pos + 4:pos + 24])
        payload = data[pos + 24:pos + 24 + size]
        if (size > TECP_MAX_PAYLOAD or len(payload) != size
                or packet_crc(data[pos + 8:pos + 20], payload) != crc):
            raise ValueError("%s: corrupt packet at offset %d" % (path, pos))
        if codec == CODEC_RAW and size != bands * width * height * 2:
            raise ValueError("%s: raw packet of %d bytes at offset %d" % (path, size, pos))
        packets.append((time_ms, flags, payload))
        pos += 24 + size
    return info, packets
