"""Fixtures for fate-tests/test_gdal.sh, made with GDAL from the committed
.npy fixture (no downloads): a GeoTIFF time series with dates in its
metadata, a SAFE-like product with 10/20/60 m JPEG 2000 bands (a folder and
a .zip), a STAC item, a file with nodata, one with the +1000 offset, and
the bad inputs tec must refuse.  Each writes the samples tec must give back
as .npy files beside them.

usage: gdal_fixtures.py FIXTURE.npy FIXTURE.json OUTDIR
"""
import json
import os
import sys
import zipfile

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

S2 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
# Native pixel size of each band in metres.
RES = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
       "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20}


def srs_wkt(epsg):
    s = osr.SpatialReference()
    s.ImportFromEPSG(epsg)
    return s.ExportToWkt()


def write_tif(path, cube, gt, epsg=32633, names=None, meta=None, nodata=None, dtype=gdal.GDT_UInt16,
              offset=None, scale=None):
    c, h, w = cube.shape
    ds = gdal.GetDriverByName("GTiff").Create(path, w, h, c, dtype, ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform(gt)
    if epsg:
        ds.SetProjection(srs_wkt(epsg))
    for b in range(c):
        band = ds.GetRasterBand(b + 1)
        band.WriteArray(cube[b])
        if names:
            band.SetDescription(names[b])
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if offset is not None:
            band.SetOffset(offset)
            band.SetScale(scale)
    for k, v in (meta or {}).items():
        ds.SetMetadataItem(k, v)
    ds = None


def series(cube, info, out):
    """4 GeoTIFFs named out of date order, dates in two kinds of tags."""
    gt = info["geotransform"]
    names = info["bands"]
    order = [2, 0, 3, 1]  # file k holds date order[k]
    paths = []
    for k, t in enumerate(order):
        d = info["dates"][t]
        if k % 2:
            meta = {"TIFFTAG_DATETIME": d.replace("-", ":") + " 10:00:31"}
        else:
            meta = {"ACQUISITION_DATE": d + "T10:00:31Z"}
        p = os.path.join(out, "series", "scene_%d.tif" % k)
        write_tif(p, cube[t], gt, names=names, meta=meta)
        paths.append("scene_%d.tif" % k)
    with open(os.path.join(out, "series", "list.txt"), "w") as f:
        f.write("# one GeoTIFF a date\n" + "\n".join(paths) + "\n")
    np.save(os.path.join(out, "series", "expected.npy"), cube)


def block_mean(a, k):
    h, w = a.shape
    return np.round(a.reshape(h // k, k, w // k, k).mean(axis=(1, 3))).astype(np.uint16)


def safe(cube, info, out):
    """A SAFE-like L1C product of frame 0, cropped to 60 x 60 (whole 60 m pixels)."""
    frame = cube[0, :, :60, :60]
    x0, _, _, y0, _, _ = info["geotransform"]
    name = "S2A_MSIL1C_20170620T100031_N0500_R122_T33TUG_20170620T120000.SAFE"
    root = os.path.join(out, name)
    img = os.path.join(root, "GRANULE", "L1C_T33TUG_A010437_20170620T100453", "IMG_DATA")
    os.makedirs(img, exist_ok=True)
    expected = np.zeros((13, 60, 60), np.uint16)
    jp2 = gdal.GetDriverByName("JP2OpenJPEG")
    for i, b in enumerate(S2):
        k = RES[b] // 10
        coarse = block_mean(frame[i].astype(np.float64), k) if k > 1 else frame[i]
        expected[i] = np.repeat(np.repeat(coarse, k, axis=0), k, axis=1)
        mem = gdal.GetDriverByName("MEM").Create("", coarse.shape[1], coarse.shape[0], 1,
                                                 gdal.GDT_UInt16)
        mem.SetGeoTransform([x0, RES[b], 0, y0, 0, -RES[b]])
        mem.SetProjection(srs_wkt(32633))
        mem.GetRasterBand(1).WriteArray(coarse)
        jp2.CreateCopy(os.path.join(img, "T33TUG_20170620T100031_%s.jp2" % b), mem,
                       options=["QUALITY=100", "REVERSIBLE=YES"])
    offsets = "".join('<RADIO_ADD_OFFSET band_id="%d">-1000</RADIO_ADD_OFFSET>' % i
                      for i in range(13))
    with open(os.path.join(root, "MTD_MSIL1C.xml"), "w") as f:
        f.write("""<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-1C_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd">
<n1:General_Info><Product_Info>
<PRODUCT_START_TIME>2017-06-20T10:00:31.026Z</PRODUCT_START_TIME>
<PRODUCT_URI>%s</PRODUCT_URI><PROCESSING_LEVEL>Level-1C</PROCESSING_LEVEL>
<PROCESSING_BASELINE>05.00</PROCESSING_BASELINE>
<Datatake><SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME></Datatake>
</Product_Info>
<Product_Image_Characteristics>
<Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>
<Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>
<QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>
<Radiometric_Offset_List>%s</Radiometric_Offset_List>
</Product_Image_Characteristics></n1:General_Info>
</n1:Level-1C_User_Product>
""" % (name, offsets))
    np.save(os.path.join(out, "safe_expected.npy"), expected)
    with zipfile.ZipFile(os.path.join(out, "product.zip"), "w", zipfile.ZIP_STORED) as z:
        for d, _, files in os.walk(root):
            for fn in files:
                full = os.path.join(d, fn)
                z.write(full, os.path.relpath(full, out))
    # A STAC item over the same band files, hrefs relative to the item.
    rel = os.path.relpath(img, out)
    assets = {b: {"href": "%s/T33TUG_20170620T100031_%s.jp2" % (rel, b), "type": "image/jp2",
                  "roles": ["data"], "eo:bands": [{"name": b}]} for b in reversed(S2)}
    assets["thumbnail"] = {"href": "preview.png", "type": "image/png", "roles": ["thumbnail"]}
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "T33TUG_20170620",
            "properties": {"datetime": "2017-06-20T10:00:31.026000Z", "platform": "sentinel-2a",
                           "s2:processing_baseline": "05.00"},
            "geometry": None, "links": [], "assets": assets}
    with open(os.path.join(out, "item.json"), "w") as f:
        json.dump(item, f, indent=1)


def safe_l2a(cube, info, out):
    """A SAFE-like L2A product of frame 1 (baseline 05.09: samples +1000),
    zipped only: R10m/R20m/R60m folders holding most bands at several
    resolutions, plus SCL, AOT, WVP and TCI, which are not bands."""
    frame = (cube[1, :, :60, :60].astype(np.uint32) + 1000).astype(np.uint16)
    x0, _, _, y0, _, _ = info["geotransform"]
    name = "S2B_MSIL2A_20170710T100029_N0509_R122_T33TUG_20230101T000000.SAFE"
    gran = name + "/GRANULE/L2A_T33TUG_A001234_20170710T100029/IMG_DATA"
    l2a = [b for b in S2 if b != "B10"]
    expected = np.zeros((12, 60, 60), np.uint16)
    files = {}
    mem_drv, jp2 = gdal.GetDriverByName("MEM"), gdal.GetDriverByName("JP2OpenJPEG")
    tmp = os.path.join(out, "l2a_tmp")
    os.makedirs(tmp, exist_ok=True)

    def put(arr, res, fname):
        mem = mem_drv.Create("", arr.shape[1], arr.shape[0], 1, gdal.GDT_UInt16)
        mem.SetGeoTransform([x0, res, 0, y0, 0, -res])
        mem.SetProjection(srs_wkt(32633))
        mem.GetRasterBand(1).WriteArray(arr)
        local = os.path.join(tmp, fname)
        jp2.CreateCopy(local, mem, options=["QUALITY=100", "REVERSIBLE=YES"])
        files["%s/R%dm/%s" % (gran, res, fname)] = local

    for i, b in enumerate(l2a):
        src = frame[S2.index(b)].astype(np.float64)
        for res in (10, 20, 60):
            if res < RES[b]:
                continue
            k = res // 10
            coarse = block_mean(src, k) if k > 1 else src.astype(np.uint16)
            put(coarse, res, "T33TUG_20170710T100029_%s_%dm.jp2" % (b, res))
            if res == RES[b]:
                expected[i] = np.repeat(np.repeat(coarse, k, axis=0), k, axis=1)
    for extra in ("SCL_20m", "AOT_20m", "WVP_20m", "TCI_20m"):
        put(np.ones((30, 30), np.uint16), 20, "T33TUG_20170710T100029_%s.jp2" % extra)
    offsets = "".join('<BOA_ADD_OFFSET band_id="%d">-1000</BOA_ADD_OFFSET>' % i for i in range(13))
    mtd = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
<n1:General_Info><Product_Info>
<PRODUCT_START_TIME>2017-07-10T10:00:29.024Z</PRODUCT_START_TIME>
<PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL><PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>
</Product_Info>
<Product_Image_Characteristics>
<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
</QUANTIFICATION_VALUES_LIST>
<BOA_ADD_OFFSET_VALUES_LIST>%s</BOA_ADD_OFFSET_VALUES_LIST>
</Product_Image_Characteristics></n1:General_Info>
</n1:Level-2A_User_Product>
""" % offsets
    with zipfile.ZipFile(os.path.join(out, "l2a.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name + "/MTD_MSIL2A.xml", mtd)
        z.writestr(gran.replace("/IMG_DATA", "/MTD_TL.xml"), "<tile/>")
        for arc, local in sorted(files.items()):
            z.write(local, arc)
    for local in files.values():
        os.remove(local)
    os.rmdir(tmp)
    np.save(os.path.join(out, "l2a_expected.npy"), expected)


def special(cube, info, out):
    gt = info["geotransform"]
    names = info["bands"]
    # nodata 0 over a corner of every band
    a = cube[1].copy()
    a[:, :10, :20] = 0
    write_tif(os.path.join(out, "nodata.tif"), a, gt, names=names, nodata=0,
              meta={"ACQUISITION_DATE": "2017-07-10"})
    np.save(os.path.join(out, "nodata_expected.npy"), a)
    # processing baseline 04.00: samples +1000, the offset kept as metadata
    b = (cube[2].astype(np.uint32) + 1000).clip(0, 65535).astype(np.uint16)
    write_tif(os.path.join(out, "offset.tif"), b, gt, names=names, offset=-0.1, scale=0.0001,
              meta={"BOA_ADD_OFFSET": "-1000", "QUANTIFICATION_VALUE": "10000",
                    "PROCESSING_BASELINE": "04.00", "ACQUISITION_DATE": "2017-10-15"})
    np.save(os.path.join(out, "offset_expected.npy"), b)
    # a STAC item with one multi-band asset, its bands named only by eo:bands
    write_tif(os.path.join(out, "stack.tif"), cube[3], gt, meta={})
    with open(os.path.join(out, "stack_item.json"), "w") as f:
        json.dump({"type": "Feature", "properties": {"datetime": "2017-12-24T10:00:31Z"},
                   "assets": {"stack": {"href": "file://" + os.path.abspath(os.path.join(out, "stack.tif")),
                                        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                                        "roles": ["data"], "eo:bands": [{"name": n} for n in names]}}},
                  f)
    # bad inputs
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    write_tif(os.path.join(bad, "ok.tif"), cube[0], gt, names=names,
              meta={"ACQUISITION_DATE": "2017-06-20"})
    write_tif(os.path.join(bad, "small.tif"), cube[1, :, :32, :32], gt, names=names,
              meta={"ACQUISITION_DATE": "2017-07-10"})
    write_tif(os.path.join(bad, "utm32.tif"), cube[1], gt, epsg=32632, names=names,
              meta={"ACQUISITION_DATE": "2017-07-10"})
    moved = list(gt)
    moved[0] += 640
    write_tif(os.path.join(bad, "moved.tif"), cube[1], moved, names=names,
              meta={"ACQUISITION_DATE": "2017-07-10"})
    keep = [i for i, n in enumerate(names) if n != "B05"]
    write_tif(os.path.join(bad, "no_b05.tif"), cube[1, keep], gt, names=[names[i] for i in keep],
              meta={"ACQUISITION_DATE": "2017-07-10"})
    write_tif(os.path.join(bad, "float.tif"), cube[1].astype(np.float32) / 10000, gt, names=names,
              dtype=gdal.GDT_Float32)
    write_tif(os.path.join(bad, "one_band.tif"), cube[1, :1], gt,
              meta={"ACQUISITION_DATE": "2017-07-10"})
    write_tif(os.path.join(bad, "unnamed13.tif"), cube[2], gt,
              meta={"ACQUISITION_DATE": "2017-10-15"})
    with open(os.path.join(bad, "empty.txt"), "w") as f:
        f.write("# nothing\n")
    with open(os.path.join(bad, "not_stac.json"), "w") as f:
        f.write('{"type": "FeatureCollection", "features": []}')
    with open(os.path.join(bad, "broken.json"), "w") as f:
        f.write('{"type": "Feature", "assets": {')
    with open(os.path.join(bad, "remote.json"), "w") as f:
        json.dump({"type": "Feature", "properties": {"datetime": "2020-01-01T00:00:00Z"},
                   "assets": {"B04": {"href": "https://example.com/B04.tif",
                                      "type": "image/tiff; application=geotiff",
                                      "roles": ["data"]}}}, f)
    os.makedirs(os.path.join(bad, "empty.SAFE"), exist_ok=True)


def main():
    cube = np.load(sys.argv[1])
    with open(sys.argv[2]) as f:
        info = json.load(f)
    out = sys.argv[3]
    os.makedirs(os.path.join(out, "series"), exist_ok=True)
    series(cube, info, out)
    safe(cube, info, out)
    safe_l2a(cube, info, out)
    special(cube, info, out)


if __name__ == "__main__":
    main()
