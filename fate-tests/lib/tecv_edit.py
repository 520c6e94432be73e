#!/usr/bin/python3
"""Cuts and damages .tecv streams for the tests of lost and missing frames
(test_inter.sh, test_predicted.sh):

  tecv_edit.py IN OUT cut K      keep the packets from K on (and their dates)
  tecv_edit.py IN OUT flip K     flip a byte in packet K's payload (its CRC fails)
  tecv_edit.py IN OUT chunk K    change a byte of packet K's last chunk, CRC redone
  tecv_edit.py IN OUT splice K F packet K taken from stream F (a valid packet,
                                 but not the one the frames after it refer to)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import tecio  # noqa: E402

src, dst, op, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
h, p = tecio.read_tecv(src)
meta = dict(h["meta"])
if op == "flip":
    data = bytearray(open(src, "rb").read())
    pos = 16 + int.from_bytes(data[8:12], "little")
    pos += sum(24 + len(q[2]) for q in p[:k])
    data[pos + 24 + len(p[k][2]) // 2] ^= 0x5A
    open(dst, "wb").write(data)
    sys.exit(0)
if op == "cut":
    p = p[k:]
    if "dates" in meta:
        meta["dates"] = ",".join(meta["dates"].split(",")[k:])
elif op == "chunk":
    payload = bytearray(p[k][2])
    payload[-3] ^= 0xFF
    p[k] = (p[k][0], p[k][1], bytes(payload))
elif op == "splice":
    p[k] = tecio.read_tecv(sys.argv[5])[1][k]
else:
    sys.exit(f"tecv_edit.py: unknown operation {op}")
tecio.write_tecv(dst, h["codec"], h["bands"], h["width"], h["height"], p, h["seq_header"], meta)
