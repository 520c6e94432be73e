#!/usr/bin/env python3
"""Fuzz the .tecv demuxer (and the libtec decoder behind it) through ffprobe
and ffmpeg: truncated, bit-flipped, byte-overwritten and spliced copies of
seed files.  No run may crash (a signal, a sanitizer report) or hang.

    fuzz-tecv.py --build DIR [--runs N] [--seed S] [--decode-every K]
                 [--weights-dir DIR] SEED.tecv...

DIR holds ffprobe and ffmpeg (an ASan build finds more).  Each mutant goes
through `ffprobe -show_packets -show_streams`; every K-th one is also decoded
with `ffmpeg -f null` (output=bands, so the weights load once per run).
Crashing inputs are kept in DIR/tecv-fuzz-crashes/.  Exit status 1 on any
crash or hang.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time


def mutate(rng, data, seeds):
    """One mutant of data; the mutation's name for the log."""
    b = bytearray(data)
    kind = rng.choice(["truncate", "flip", "flips", "overwrite", "splice", "header",
                       "size", "dup"])
    if kind == "truncate":
        return bytes(b[:rng.randrange(len(b))]), kind
    if kind == "flip":
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    elif kind == "flips":
        for _ in range(rng.randrange(2, 40)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "overwrite":
        i = rng.randrange(len(b))
        n = rng.randrange(1, 64)
        b[i:i + n] = bytes(rng.randrange(256) for _ in range(n))
    elif kind == "splice":
        other = rng.choice(seeds)
        i, j = rng.randrange(len(b)), rng.randrange(len(other))
        b = b[:i] + other[j:]
    elif kind == "header":
        # the fixed header and the first fields: sizes, geometry, counts
        i = rng.randrange(min(len(b), 64))
        b[i] = rng.choice([0, 0xff, 0x7f, 0x80, rng.randrange(256)])
    elif kind == "size":
        # a packet size field: find a sync and change its size
        pos = [k for k in range(len(b) - 8) if b[k:k + 4] == b"TECP"]
        if pos:
            k = rng.choice(pos) + 4
            b[k:k + 4] = rng.choice([b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f",
                                     b"\x00\x00\x00\x00", b"\x01\x00\x00\x80",
                                     os.urandom(4)])
    elif kind == "dup":
        i = rng.randrange(len(b))
        n = rng.randrange(1, 4096)
        b = b[:i] + b[i:i + n] + b[i:]
    return bytes(b), kind


def crashed(proc):
    if proc.returncode < 0 or proc.returncode >= 128:
        return "signal/exit %d" % proc.returncode
    err = proc.stderr.decode("utf-8", "replace")
    for word in ("AddressSanitizer", "UndefinedBehaviorSanitizer", "runtime error:",
                 "Assertion", "BUG"):
        if word in err:
            return word
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--decode-every", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--weights-dir", help="added to $TEC_WEIGHTS (the seeds' models)")
    ap.add_argument("seeds", nargs="+")
    a = ap.parse_args()

    seeds = [open(p, "rb").read() for p in a.seeds]
    env = dict(os.environ)
    if a.weights_dir:
        env["TEC_WEIGHTS"] = os.pathsep.join(filter(None, [a.weights_dir,
                                                           env.get("TEC_WEIGHTS")]))
    rng = random.Random(a.seed)
    ffprobe = os.path.join(a.build, "ffprobe")
    ffmpeg = os.path.join(a.build, "ffmpeg")
    crash_dir = os.path.join(a.build, "tecv-fuzz-crashes")
    tmp = tempfile.mkdtemp(prefix="tecv-fuzz-")
    bad = 0
    stats = {}
    t0 = time.time()
    try:
        for run in range(a.runs):
            src = rng.randrange(len(seeds))
            data, kind = mutate(rng, seeds[src], seeds)
            path = os.path.join(tmp, "m.tecv")
            with open(path, "wb") as f:
                f.write(data)
            cmds = [[ffprobe, "-v", "error", "-show_streams", "-show_packets", path]]
            if a.decode_every and run % a.decode_every == 0:
                cmds.append([ffmpeg, "-nostdin", "-v", "error", "-output", "bands",
                             "-i", path, "-f", "null", "-"])
            for cmd in cmds:
                try:
                    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       timeout=a.timeout, env=env)
                    why = crashed(p)
                except subprocess.TimeoutExpired:
                    why, p = "hang (> %g s)" % a.timeout, None
                stats[kind] = stats.get(kind, 0) + 1
                if why:
                    bad += 1
                    os.makedirs(crash_dir, exist_ok=True)
                    keep = os.path.join(crash_dir, "run%05d-%s.tecv" % (run, kind))
                    shutil.copy(path, keep)
                    print("CRASH run %d (%s, seed file %s): %s: %s" %
                          (run, kind, a.seeds[src], os.path.basename(cmd[0]), why))
                    if p is not None:
                        sys.stdout.write(p.stderr.decode("utf-8", "replace")[-2000:])
                    print("  kept as %s" % keep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("tecv fuzz: %d mutants (%s), %d crashes or hangs, %.0f s" %
          (a.runs, ", ".join("%s %d" % kv for kv in sorted(stats.items())), bad,
           time.time() - t0))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
