"""The numcodecs codec "tec" inside Zarr and on Dask: a store written with
it reopens with zarr.open alone (registered on import, and through the
numcodecs.codecs entry point of an installed copy), chunks are whole .tecv
streams that tec decode reads, dask.array.to_zarr on a LocalCluster of two
single-threaded workers stores the bytes of a serial run, every worker
decodes a chunk to the same samples, and bad arrays are refused.  Small
model (fate-tests/vectors/vector-sp.tecw), a 4 x 13 x 128 x 128 cube made of
the 64 x 64 fixture."""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYDIR = os.path.join(ROOT, "python")
sys.path.insert(0, PYDIR)
sys.path.insert(0, os.path.join(ROOT, "fate-tests", "lib"))
from checks import Checks  # noqa: E402

# Workers are new processes: they find terracodec and the small model here.
os.environ["PYTHONPATH"] = PYDIR + os.pathsep + os.environ.get("PYTHONPATH", "")
VECTORS = os.path.join(ROOT, "fate-tests", "vectors")
os.environ["TEC_WEIGHTS"] = VECTORS

import zarr  # noqa: E402

import terracodec as tc  # noqa: E402

TEC = os.environ.get("TEC", os.path.join(ROOT, "tools", "tec"))
FIXTURE = os.path.join(ROOT, "fate-tests", "data", "liri_t4_64.npy")
BANDS = "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12".split(",")
check = Checks("test_zarr_codec")


def codec(**kw):
    return tc.TecCodec(quality=13, bands=BANDS, model="vector-sp", **kw)


def chunk_bytes(path):
    return {k: open(os.path.join(path, k), "rb").read()
            for k in sorted(os.listdir(path)) if not k.startswith(".")}


def raises(fn, exc, text):
    try:
        fn()
    except exc as e:
        if text in str(e):
            return True
        print("   message:", e)
    except Exception as e:
        print("   raised", type(e).__name__, e)
    return False


def test_store(work, tile):
    path = os.path.join(work, "a.zarr")
    z = zarr.open(path, mode="w", shape=tile.shape, chunks=(2, 13, 64, 64), dtype="u2",
                  compressor=codec())
    z[:] = tile
    back = zarr.open(path, mode="r")
    check(isinstance(back.compressor, tc.TecCodec) and back.compressor.bands == BANDS and
          back.compressor.quality == 13, "the store reopens with its codec and settings")
    data = back[:]
    check(data.dtype == np.uint16 and data.shape == tile.shape, f"shape {data.shape}")
    err = np.sqrt(np.mean((data.astype(float) - tile) ** 2))
    check(0 < err < 2000, f"lossy, near the source (RMSE {err:.1f})")

    # A chunk is a whole .tecv: tec decode reads it alone.
    blob = open(os.path.join(path, "1.0.1.0"), "rb").read()
    check(blob[:4] == b"TECV", "a chunk is a .tecv stream")
    tecv = os.path.join(work, "chunk.tecv")
    open(tecv, "wb").write(blob)
    npy = os.path.join(work, "chunk.npy")
    r = subprocess.run([TEC, "decode", tecv, "-o", npy], capture_output=True, text=True)
    check(r.returncode == 0 and np.array_equal(np.load(npy), data[2:4, :, 64:128, 0:64]),
          f"tec decode of a chunk gives the samples Zarr gives {r.stderr}")
    _, md = tc.decode(blob)
    check(md["bands"] == BANDS and md["model"] == "vector-sp", "the chunk names bands and model")

    # (C, H, W) chunks of a single acquisition.
    z3 = zarr.open(os.path.join(work, "c.zarr"), mode="w", shape=tile.shape[1:],
                   chunks=(13, 64, 64), dtype="u2", compressor=codec())
    z3[:] = tile[0]
    check(zarr.open(os.path.join(work, "c.zarr"), mode="r")[:].shape == tile.shape[1:],
          "(C, H, W) arrays")

    # nodata: the array's fill value survives the coding exactly.
    holed = tile.copy()
    holed[:, :, :, :7] = 0
    zn = zarr.open(os.path.join(work, "n.zarr"), mode="w", shape=tile.shape,
                   chunks=(4, 13, 64, 64), dtype="u2", fill_value=0, compressor=codec(nodata=0))
    zn[:] = holed
    back = zarr.open(os.path.join(work, "n.zarr"), mode="r")
    check(back.compressor.nodata == 0 and np.array_equal(back[:] == 0, holed == 0),
          "nodata=0: the fill value decodes exactly, and only there")
    return path, data


def test_errors(work, tile):
    def write(shape, chunks, dtype, value, **kw):
        z = zarr.open(os.path.join(work, "bad.zarr"), mode="w", shape=shape, chunks=chunks,
                      dtype=dtype, compressor=codec(**kw))
        z[:] = value

    check(raises(lambda: write(tile.shape, (4, 4, 128, 128), "u2", tile), ValueError,
                 "all bands must be in one chunk"), "bands split across chunks are refused")
    check(raises(lambda: write((1, 4, 13, 64, 64), (1, 4, 13, 64, 64), "u2", 1), ValueError,
                 "5-D"), "5-D chunks are refused")
    check(raises(lambda: write((13, 64), (13, 64), "u2", 1), ValueError, "2-D"),
          "2-D chunks are refused")
    check(raises(lambda: write(tile.shape, tile.shape, "f4", tile.astype(np.float32)),
                 TypeError, "uint16"), "float chunks are refused")
    check(raises(lambda: tc.TecCodec(quality=0), ValueError, "quality"), "quality 0 refused")


def test_dask(work, tile):
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    arr = da.from_array(tile, chunks=(2, 13, 64, 64))
    serial = os.path.join(work, "serial.zarr")
    with dask.config.set(scheduler="synchronous"):
        da.to_zarr(arr, serial, compressor=codec())
    # preload: workers unpickle the Zarr array, so they must know "tec".
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, preload=["terracodec"]) as cluster, \
            Client(cluster) as client:
        par = os.path.join(work, "par.zarr")
        da.to_zarr(arr, par, compressor=codec())
        check(chunk_bytes(par) == chunk_bytes(serial) and len(chunk_bytes(par)) == 8,
              "to_zarr on 2 workers stores the bytes of a serial run")
        ran = {k for k, v in client.run(lambda: 1).items()}
        check(len(ran) == 2, f"{len(ran)} workers")

        blob = chunk_bytes(serial)["1.0.1.1"]
        local, _ = tc.decode(blob)

        def decode_here(b):
            import hashlib
            import terracodec
            return hashlib.sha256(terracodec.decode(b)[0].tobytes()).hexdigest()

        digests = client.run(decode_here, blob)
        want = __import__("hashlib").sha256(local.tobytes()).hexdigest()
        check(len(digests) == 2 and set(digests.values()) == {want},
              "a chunk decodes to the same samples on every worker")
        back = da.from_zarr(par).compute()
        check(np.array_equal(back, zarr.open(serial, mode="r")[:]),
              "the workers read the store back as the client does")


def test_entry_point(work, path, data):
    """An installed copy: zarr.open alone finds "tec" through the entry
    point.  The package is installed as make install installs it
    (python/install.sh; test_install.sh checks that make install runs it),
    next to a copy of the built library."""
    pydir = os.path.join(work, "site")
    libdir = os.path.join(work, "lib")
    os.makedirs(libdir)
    shutil.copy(os.path.join(ROOT, "build", "libtec.so"), os.path.join(libdir, "libtec.so.0"))
    r = subprocess.run(["sh", os.path.join(PYDIR, "install.sh"), pydir, libdir, tc.version()],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"python/install.sh: {r.stderr[-500:]}")
    ep = os.path.join(pydir, f"terracodec-{tc.version()}.dist-info", "entry_points.txt")
    check(os.path.isfile(ep) and "tec = terracodec.codec:TecCodec" in open(ep).read(),
          "the dist-info carries the numcodecs.codecs entry point")
    np.save(os.path.join(work, "want.npy"), data)
    code = f"""
import sys, numpy as np, zarr
assert "terracodec" not in sys.modules
z = zarr.open({path!r}, mode="r")
a = z[:]
import terracodec
print(terracodec.__file__)
print(type(z.compressor).__name__, np.array_equal(a, np.load({os.path.join(work, 'want.npy')!r})))
"""
    # The installed package finds its library in LIBDIR, given to install.sh.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TEC_LIBRARY")}
    env["PYTHONPATH"] = pydir
    r = subprocess.run([sys.executable, "-c", code], cwd=work, capture_output=True, text=True,
                       env=env)
    lines = r.stdout.split("\n")
    check(r.returncode == 0 and lines[0].startswith(pydir) and lines[1] == "TecCodec True",
          f"zarr.open alone decodes with the installed codec: {r.stdout} {r.stderr[-800:]}")
    r = subprocess.run([sys.executable, "-c", "import terracodec; print(terracodec.library_path)"],
                       cwd=work, capture_output=True, text=True, env=env)
    check(r.stdout.strip() == os.path.join(libdir, "libtec.so.0"),
          f"the installed package loads the installed library: {r.stdout} {r.stderr[-300:]}")


def main():
    crop = np.load(FIXTURE)  # 4 x 13 x 64 x 64
    wide = np.concatenate([crop, crop[:, :, :, ::-1]], axis=3)
    tile = np.ascontiguousarray(np.concatenate([wide, wide[:, :, ::-1]], axis=2))
    work = tempfile.mkdtemp(prefix="tec-zarr-")
    try:
        path, data = test_store(work, tile)
        test_errors(work, tile)
        test_dask(work, tile)
        test_entry_point(work, path, data)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
