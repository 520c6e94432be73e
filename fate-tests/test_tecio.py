#!/usr/bin/env python3
"""Tests of tools/tecio.py: checksums, .tecw and .tecv round trips, the
byte layout of doc/bitstream.md, and rejection of damaged files.

Plain script: prints "N passed, N failed" and exits non-zero on failure."""
import os
import struct
import sys
import tempfile
import traceback

import numpy as np
import zstandard

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import tecio  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from checks import Checks  # noqa: E402

check = Checks()


def raises(fn, what):
    try:
        fn()
    except ValueError:
        check(True, what)
        return
    check(False, what + " (no ValueError)")


def test_checksums():
    check(tecio.fnv1a64(b"") == 0xCBF29CE484222325, "fnv1a64 empty")
    check(tecio.fnv1a64(b"a") == 0xAF63DC4C8601EC8C, "fnv1a64 'a'")
    check(tecio.fnv1a64(b"foobar") == 0x85944171F73967E8, "fnv1a64 'foobar'")
    check(tecio.crc32(b"123456789") == 0xCBF43926, "crc32 check value")


def test_tecw(tmp):
    path = os.path.join(tmp, "w.tecw")
    rng = np.random.default_rng(1)
    tensors = [
        ("a0.weight", rng.standard_normal((4, 3, 5, 5)).astype(np.float16)),
        ("gain", rng.standard_normal((2, 3)).astype(np.float32)),
        ("hs.t0.bias", np.array(-123456, dtype=np.int32)),          # 0-d
        ("gauss.cdf", np.arange(10, dtype=np.int32)),
        ("big_endian", np.arange(3, dtype=">f4")),                  # stored little-endian
        ("bytes", np.frombuffer(b"\x00\xff", dtype=np.uint8).reshape(1, 1, 1, 2)),
        ("empty", np.zeros((0, 7), dtype=np.float32)),
    ]
    meta = {"arch": "tec-img", "arch_version": 1, "name": "t\u00e9st", "card": "a=b"}
    checksum = tecio.write_tecw(path, meta, tensors)

    raw = open(path, "rb").read()
    check(raw[:4] == b"TECW", "tecw magic")
    version, reserved, body_size, stored = struct.unpack("<HHQQ", raw[4:24])
    check((version, reserved) == (1, 0), "tecw version/reserved")
    check(stored == checksum, "returned checksum is the stored one")
    params = zstandard.get_frame_parameters(raw[24:])
    check(params.content_size == body_size, "zstd frame carries the body size")
    body = zstandard.ZstdDecompressor().decompress(raw[24:])
    check(len(body) == body_size and tecio.fnv1a64(body) == checksum, "checksum is FNV of body")
    # First entry is the meta text: u32 count, u16 4, "meta", u8 4, u8 1, u32 len.
    count, name_len = struct.unpack("<IH", body[:6])
    check(count == len(tensors) + 1 and body[6:10] == b"meta" and body[10:12] == b"\x04\x01",
          "meta is the first entry, u8 1-D")

    meta2, arrays, checksum2 = tecio.read_tecw(path)
    check(checksum2 == checksum, "read checksum")
    check(meta2 == {k: str(v) for k, v in meta.items()}, "meta round trip: %r" % meta2)
    check(sorted(arrays) == sorted(n for n, _ in tensors), "tensor names")
    for name, array in tensors:
        got = arrays[name]
        check(got.shape == array.shape, "%s shape" % name)
        check(got.dtype.newbyteorder("=") == array.dtype.newbyteorder("="), "%s dtype" % name)
        check(np.array_equal(got, array), "%s values" % name)
    check(arrays["a0.weight"].dtype == np.dtype("<f2"), "f16 stays f16")

    raises(lambda: tecio.write_tecw(path, {}, [("x", np.zeros(2, np.float64))]), "float64")
    raises(lambda: tecio.write_tecw(path, {}, [("x", np.zeros((1,) * 5, np.float32))]), "ndim 5")
    raises(lambda: tecio.write_tecw(path, {}, [("x", np.zeros(1, np.uint8))] * 2), "duplicate")
    raises(lambda: tecio.write_tecw(path, {}, [("meta", np.zeros(1, np.uint8))]), "meta name")
    raises(lambda: tecio.write_tecw(path, {"a\nb": 1}, []), "meta key with newline")
    raises(lambda: tecio.write_tecw(path, {}, [("", np.zeros(1, np.uint8))]), "empty name")

    tecio.write_tecw(path, meta, tensors)
    good = open(path, "rb").read()
    damaged = [
        b"XECW" + good[4:],
        good[:4] + b"\x02" + good[5:],
        good[:16] + bytes([good[16] ^ 1]) + good[17:],   # checksum
        good[:8] + struct.pack("<Q", body_size + 1) + good[16:],
        good[:-1],
        good + b"\x00",
        good[:20],
    ]
    for i, data in enumerate(damaged):
        with open(path, "wb") as f:
            f.write(data)
        raises(lambda: tecio.read_tecw(path), "damaged tecw %d" % i)


def test_tecv(tmp):
    path = os.path.join(tmp, "raw.tecv")
    rng = np.random.default_rng(2)
    cube = rng.integers(0, 65536, size=(3, 2, 5, 7), dtype=np.uint16)
    meta = {"bands": "B02,B03", "dates": "2020-01-01,2020-01-11,2020-01-21",
            "crs": "Z\u00fcrich \u6771\u4eac \U0001f30d", "x-unknown": "kept"}
    times = [1577836800000, 1578700800000, 1579564800000]
    tecio.write_tecv_raw(path, cube, meta, times)

    raw = open(path, "rb").read()
    check(raw[:8] == b"TECV\x02\x00\x00\x00", "tecv fixed bytes")
    header_size, crc = struct.unpack("<II", raw[8:16])
    check(tecio.crc32(raw[16:16 + header_size]) == crc, "header CRC")
    bands, width, height, frame_count = struct.unpack("<HIIQ", raw[16:34])
    check((bands, width, height, frame_count) == (2, 7, 5, 3), "header geometry")
    first = raw[16 + header_size:]
    check(first[:4] == b"TECP" and struct.unpack("<I", first[4:8])[0] == 2 * 5 * 7 * 2,
          "first packet header")
    check(first[16] == tecio.FLAG_KEY | tecio.FLAG_TIME and first[17:20] == b"\0\0\0",
          "flags and reserved")
    psize = struct.unpack("<I", first[4:8])[0]
    check(struct.unpack("<I", first[20:24])[0] == tecio.crc32(first[8:20] + first[24:24 + psize]),
          "packet CRC covers time, flags and payload")

    info, packets = tecio.read_tecv(path)
    check(info["codec"] == tecio.CODEC_RAW and info["seq_header"] == b"", "codec raw")
    check((info["bands"], info["width"], info["height"], info["frame_count"]) == (2, 7, 5, 3),
          "info geometry")
    check(info["meta"] == meta and list(info["meta"]) == list(meta), "meta in order")
    check(len(packets) == 3, "packet count")
    for i, (t, flags, payload) in enumerate(packets):
        frame = np.frombuffer(payload, dtype="<u2").reshape(2, 5, 7)
        check(np.array_equal(frame, cube[i]), "frame %d" % i)
        check(t == times[i] and flags == tecio.FLAG_KEY | tecio.FLAG_TIME, "time %d" % i)

    tecio.write_tecv_raw(path, cube[:1].astype(">u2"))
    info, packets = tecio.read_tecv(path)
    check(info["meta"] == {} and packets[0][:2] == (0, tecio.FLAG_KEY), "no times, no meta")
    check(packets[0][2] == cube[0].astype("<u2").tobytes(), "big-endian input stored LE")

    seq = b"TECS\x01sequence"
    tecio.write_tecv(path, tecio.CODEC_TEC, 13, 10980, 10980,
                     [(None, 1, b""), (-5, 0, b"abc" * 1000)], seq_header=seq)
    info, packets = tecio.read_tecv(path)
    check(info["codec"] == tecio.CODEC_TEC and info["seq_header"] == seq, "tec seq header")
    check(packets == [(0, 1, b""), (-5, tecio.FLAG_TIME, b"abc" * 1000)], "tec packets")

    raises(lambda: tecio.write_tecv_raw(path, cube.astype(np.int32)), "int32 cube")
    raises(lambda: tecio.write_tecv_raw(path, cube[0]), "rank 3 cube")
    raises(lambda: tecio.write_tecv_raw(path, cube, times_ms=[1]), "time count")
    raises(lambda: tecio.write_tecv(path, tecio.CODEC_TEC, 1, 1, 1, []), "tec without seq")

    tecio.write_tecv_raw(path, cube, meta, times)
    good = open(path, "rb").read()
    end = len(good)
    last = good.rfind(b"TECP")
    damaged = [
        good[:last + 8] + bytes([good[last + 8] ^ 1]) + good[last + 9:],  # a packet's time
        good[:4 + 0] + b"\x01" + good[5:],                 # major version
        good[:4 + 0] + b"\x03" + good[5:],                 # major version
        good[:20] + bytes([good[20] ^ 1]) + good[21:],      # header byte (CRC)
        good[:end - 1] + bytes([good[end - 1] ^ 1]),        # payload (packet CRC)
        good[:-3],                                          # truncated
        good + b"TECP",                                     # partial packet
    ]
    for i, data in enumerate(damaged):
        with open(path, "wb") as f:
            f.write(data)
        raises(lambda: tecio.read_tecv(path), "damaged tecv %d" % i)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for test in (test_checksums, lambda: test_tecw(tmp), lambda: test_tecv(tmp)):
            try:
                test()
            except Exception:
                check.failed += 1
                traceback.print_exc()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
