#!/bin/bash
# tec encode and decode through GDAL: GeoTIFF series (positional files and a
# text list, sorted by their dates), a SAFE-like product (folder and .zip)
# with 10/20/60 m JPEG 2000 bands, a STAC item, nodata and the +1000
# offset; decoded GeoTIFFs (one per frame, --frame, --cog) checked with
# GDAL and gdalinfo -json; bad inputs refused with a message; the progress
# bar only on a terminal.  The fixtures are made here with GDAL from the
# committed .npy fixture (fate-tests/lib/gdal_fixtures.py).
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

W=$WORK
FX=$W/fx
if ! "$PY" -c 'from osgeo import gdal' 2>/dev/null || ! command -v gdalinfo > /dev/null; then
    echo "skipped: no GDAL for Python or no gdalinfo (apt-get install python3-gdal gdal-bin)"
    echo "0 passed, 0 failed"
    exit 0
fi
if ! "$PY" fate-tests/lib/gdal_fixtures.py "$FIXTURE" "$FIXTURE_JSON" "$FX" > "$W/fx.log" 2>&1; then
    cat "$W/fx.log"
    echo "0 passed, 1 failed"
    exit 1
fi
# A tec built without GDAL must say so, and that is all it can do here.
if "$TEC" encode --raw "$FX/nodata.tif" -o "$W/probe.tecv" 2>&1 | grep -q "without GDAL"; then
    expect_error "a build without GDAL refuses GeoTIFF input" \
        "$TEC" encode --raw "$FX/nodata.tif" -o "$W/probe.tecv"
    summary
    exit
fi
main_model || { echo "0 passed, 1 failed"; exit 1; }
MODEL=(--model tec-s2 --weights-dir "$MAIN_DIR")
ENC=("$TEC" encode --quiet)
DEC=("$TEC" decode --quiet --weights-dir "$MAIN_DIR")

# gdal_check NAME CODE: CODE runs with numpy (np), gdal, json, W, FX and the
# helpers below.
gdal_check() {
    check "$1" env W="$W" FX="$FX" "$PY" -c "
import json, os, subprocess, sys
import numpy as np
from osgeo import gdal, osr
gdal.UseExceptions()
W, FX = os.environ['W'], os.environ['FX']
S2 = 'B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B10 B11 B12'.split()
GT = [395720.0, 10.0, 0.0, 4586320.0, 0.0, -10.0]
DATES = ['2017-06-20T10:00:31Z', '2017-07-10T10:00:31Z', '2017-10-15T10:00:31Z', '2017-12-24T10:00:31Z']
def info(path):
    return json.loads(subprocess.check_output([os.environ.get('TEC', 'tools/tec'), 'info', '--json', path]))
def gdalinfo(path):
    return json.loads(subprocess.check_output(['gdalinfo', '-json', path]))
def epsg(wkt):
    s = osr.SpatialReference(); s.SetFromUserInput(wkt); s.AutoIdentifyEPSG()
    return s.GetAuthorityCode(None)
def read(path):  # (C, H, W) whatever the band count
    a = gdal.Open(path).ReadAsArray()
    return a.reshape((-1,) + a.shape[-2:])
def same(a, b, what):
    assert a.shape == b.shape and (a == b).all(), '%s: samples differ (%s vs %s)' % (what, a.shape, b.shape)
$2"
}
export TEC

# ------------------------------------------------------------ GeoTIFF series
check "encode a GeoTIFF series from a text list (raw)" \
    "${ENC[@]}" --raw "$FX/series/list.txt" -o "$W/series.tecv"
check "encode the same GeoTIFFs named one by one, out of date order" \
    "${ENC[@]}" --raw "$FX/series/scene_3.tif" "$FX/series/scene_0.tif" "$FX/series/scene_1.tif" \
    "$FX/series/scene_2.tif" -o "$W/series2.tecv"
check "decode the series to .npy" "${DEC[@]}" "$W/series.tecv" -o "$W/series.npy"
gdal_check "series: every sample, in date order" "
same(np.load(W + '/series.npy'), np.load(FX + '/series/expected.npy'), 'series')"
gdal_check "series: dates, CRS (WKT), geotransform, band names from the files" "
for f in ('series.tecv', 'series2.tecv'):
    j = info(W + '/' + f)
    assert j['dates'] == DATES, j['dates']
    assert j['crs'].startswith('PROJCS') and epsg(j['crs']) == '32633', j['crs'][:80]
    assert j['geotransform'] == GT, j['geotransform']
    assert j['band_names'] == S2, j['band_names']
    assert j['metadata']['input_rank'] == '4'"
check "decode the series to GeoTIFFs, one per frame" "${DEC[@]}" "$W/series.tecv" -o "$W/out.tif"
gdal_check "decoded GeoTIFFs: samples, CRS, geotransform, band names, dates, tiled DEFLATE" "
exp = np.load(FX + '/series/expected.npy')
for t in range(4):
    p = W + '/out_%03d.tif' % t
    same(read(p), exp[t], p)
    g = gdalinfo(p)
    assert epsg(g['coordinateSystem']['wkt']) == '32633'
    assert g['geoTransform'] == GT, g['geoTransform']
    assert [b['description'] for b in g['bands']] == S2
    assert all(b['block'] == [256, 256] and b['type'] == 'UInt16' for b in g['bands'])
    assert g['metadata']['IMAGE_STRUCTURE']['COMPRESSION'] == 'DEFLATE'
    md = g['metadata']['']
    assert md['ACQUISITION_DATE'] == DATES[t], md
    assert md['TIFFTAG_DATETIME'] == DATES[t][:10].replace('-', ':') + ' 10:00:31', md
assert not os.path.exists(W + '/out_004.tif') and not os.path.exists(W + '/out.tif')"
check "re-encode the decoded GeoTIFFs (tec's own output as input)" \
    "${ENC[@]}" --raw "$W"/out_00[0-3].tif -o "$W/again.tecv"
gdal_check "re-encoded: the same metadata and samples" "
a, b = info(W + '/again.tecv'), info(W + '/series.tecv')
for k in ('dates', 'geotransform', 'band_names', 'bands', 'width', 'height'):
    assert a[k] == b[k], (k, a[k], b[k])
assert epsg(a['crs']) == '32633'"
check "decode --frame 2 to one multi-band GeoTIFF" \
    "${DEC[@]}" "$W/series.tecv" -o "$W/frame2.tif" --frame 2
check "decode --frame 1 to a (C, H, W) .npy" "${DEC[@]}" "$W/series.tecv" -o "$W/frame1.npy" --frame 1
gdal_check "--frame: that frame only, with its date" "
exp = np.load(FX + '/series/expected.npy')
same(read(W + '/frame2.tif'), exp[2], 'frame2.tif')
assert gdalinfo(W + '/frame2.tif')['metadata']['']['ACQUISITION_DATE'] == DATES[2]
same(np.load(W + '/frame1.npy'), exp[1], 'frame1.npy')"
check "decode --cog --frame 3" "${DEC[@]}" "$W/series.tecv" -o "$W/cog.tif" --cog --frame 3
gdal_check "--cog: a Cloud-Optimized GeoTIFF with the same samples and metadata" "
g = gdalinfo(W + '/cog.tif')
assert g['metadata']['IMAGE_STRUCTURE'].get('LAYOUT') == 'COG', g['metadata']['IMAGE_STRUCTURE']
assert [b['description'] for b in g['bands']] == S2 and g['geoTransform'] == GT
same(read(W + '/cog.tif'), np.load(FX + '/series/expected.npy')[3], 'cog.tif')
assert not [f for f in os.listdir(W) if 'tmp-tec' in f]"

# ------------------------------------------------------------ lossy series (the codec path)
check "encode the GeoTIFF series with the model" \
    "${ENC[@]}" "${MODEL[@]}" "$FX/series/list.txt" -o "$W/lossy.tecv" -q 20
check "decode it to GeoTIFFs" "${DEC[@]}" "$W/lossy.tecv" -o "$W/lossy.tif"
FLOOR=$([ "$MAIN_SHIPPED" = 1 ] && echo 38 || echo 0)
gdal_check "lossy GeoTIFFs: PSNR above $FLOOR dB, metadata as the input's" "
exp = np.load(FX + '/series/expected.npy').astype(np.float64)
dec = np.stack([read(W + '/lossy_%03d.tif' % t) for t in range(4)]).astype(np.float64)
mse = ((np.clip(dec, 0, 10000) - np.clip(exp, 0, 10000)) ** 2).mean()
psnr = 10 * np.log10(1e8 / max(mse, 1e-9))
print('PSNR %.2f dB' % psnr)
assert psnr > $FLOOR, psnr
g = gdalinfo(W + '/lossy_002.tif')
assert [b['description'] for b in g['bands']] == S2 and g['geoTransform'] == GT
assert g['metadata']['']['ACQUISITION_DATE'] == DATES[2]"

# ------------------------------------------------------------ nodata, offset
check "encode a GeoTIFF with nodata (raw)" "${ENC[@]}" --raw "$FX/nodata.tif" -o "$W/nodata.tecv"
check "decode it to GeoTIFF" "${DEC[@]}" "$W/nodata.tecv" -o "$W/nodata_out.tif"
gdal_check "nodata: kept in the stream and set on every decoded band; every sample" "
j = info(W + '/nodata.tecv')
assert j['nodata'] == 0 and j['dates'] == ['2017-07-10'] and j['metadata']['input_rank'] == '3', j
g = gdalinfo(W + '/nodata_out.tif')
assert all(b.get('noDataValue') == 0 for b in g['bands']), [b.get('noDataValue') for b in g['bands']]
same(read(W + '/nodata_out.tif'), np.load(FX + '/nodata_expected.npy'), 'nodata')"
check "encode a GeoTIFF of processing baseline 04.00 (+1000 offset, raw)" \
    "${ENC[@]}" --raw "$FX/offset.tif" -o "$W/offset.tecv"
check "decode it to GeoTIFF" "${DEC[@]}" "$W/offset.tecv" -o "$W/offset_out.tif"
gdal_check "offset: kept as metadata, never subtracted from the samples" "
m = info(W + '/offset.tecv')['metadata']
assert m['boa_add_offset'] == '-1000' and m['quantification_value'] == '10000', m
assert m['offset'] == '-0.1' and m['scale'] == '0.0001' and m['processing_baseline'] == '04.00', m
same(read(W + '/offset_out.tif'), np.load(FX + '/offset_expected.npy'), 'offset')
g = gdalinfo(W + '/offset_out.tif')
assert all(b['offset'] == -0.1 and b['scale'] == 0.0001 for b in g['bands'])
assert g['metadata']['']['BOA_ADD_OFFSET'] == '-1000'"

# ------------------------------------------------------------ SAFE and STAC
SAFE=$(ls -d "$FX"/S2A_MSIL1C_*.SAFE)
check "encode a SAFE folder (raw)" "${ENC[@]}" --raw "$SAFE" -o "$W/safe.tecv"
check "encode the zipped SAFE (raw)" "${ENC[@]}" --raw "$FX/product.zip" -o "$W/zip.tecv"
check "encode a STAC item with local assets (raw)" "${ENC[@]}" --raw "$FX/item.json" -o "$W/stac.tecv"
for f in safe zip stac; do
    check "decode the $f stream" "${DEC[@]}" "$W/$f.tecv" -o "$W/$f.npy"
done
gdal_check "SAFE, zip, STAC: every band on the 10 m grid by pixel replication, every sample" "
exp = np.load(FX + '/safe_expected.npy')
for f in ('safe', 'zip', 'stac'):
    same(np.load(W + '/' + f + '.npy'), exp, f)"
gdal_check "SAFE: date, baseline, offset, quantification, nodata, CRS, band names from the MTD and the JP2s" "
for f in ('safe', 'zip'):
    j = info(W + '/' + f + '.tecv'); m = j['metadata']
    assert j['dates'] == ['2017-06-20T10:00:31.026Z'] and j['band_names'] == S2, j
    assert m['radio_add_offset'] == '-1000' and m['quantification_value'] == '10000'
    assert m['offset'] == '-0.1' and m['scale'] == '0.0001' and m['processing_baseline'] == '05.00'
    assert m['processing_level'] == 'Level-1C' and m['spacecraft'] == 'Sentinel-2A'
    assert j['nodata'] == 0 and epsg(j['crs']) == '32633' and j['geotransform'] == GT, j
j = info(W + '/stac.tecv')
assert j['dates'] == ['2017-06-20T10:00:31.026Z'] and j['band_names'] == S2
assert j['metadata']['processing_baseline'] == '05.00' and epsg(j['crs']) == '32633'"
check "encode a STAC item of one multi-band asset (file:// href; raw)" \
    "${ENC[@]}" --raw "$FX/stack_item.json" -o "$W/stack.tecv"
check "decode it" "${DEC[@]}" "$W/stack.tecv" -o "$W/stack.npy"
gdal_check "STAC multi-band asset: band names from eo:bands, date, every sample" "
j = info(W + '/stack.tecv')
assert j['band_names'] == S2 and j['dates'] == [DATES[3]], j
same(np.load(W + '/stack.npy'), np.load(FX + '/series/expected.npy')[3], 'stack')"
check "encode a zipped L2A SAFE (R10m/R20m/R60m, +1000 offset; raw)" \
    "${ENC[@]}" --raw "$FX/l2a.zip" -o "$W/l2a.tecv"
check "decode it" "${DEC[@]}" "$W/l2a.tecv" -o "$W/l2a.npy"
gdal_check "L2A: each band at its finest resolution, 12 bands, BOA offset kept, samples unchanged" "
same(np.load(W + '/l2a.npy'), np.load(FX + '/l2a_expected.npy'), 'l2a')
j = info(W + '/l2a.tecv'); m = j['metadata']
assert j['band_names'] == [b for b in S2 if b != 'B10'], j['band_names']
assert m['boa_add_offset'] == '-1000' and m['quantification_value'] == '10000' and m['offset'] == '-0.1', m
assert m['processing_level'] == 'Level-2A' and j['dates'] == ['2017-07-10T10:00:29.024Z']"
expect_error "an L1C SAFE and an L2A SAFE in one series (B10 missing)" \
    "${ENC[@]}" --raw "$SAFE" "$FX/l2a.zip" -o "$W/bad_mix.tecv"
check "a series across baselines (offset in one date only)" \
    "${ENC[@]}" --raw "$FX/offset.tif" "$FX/nodata.tif" -o "$W/baselines.tecv"
check "decode it to GeoTIFFs" "${DEC[@]}" "$W/baselines.tecv" -o "$W/baselines.tif"
gdal_check "a value that differs between dates is one per frame, each GeoTIFF its own" "
m = info(W + '/baselines.tecv')['metadata']
assert m['boa_add_offset'] == ',-1000' and m['offset'] == ',-0.1', m
g0, g1 = gdalinfo(W + '/baselines_000.tif'), gdalinfo(W + '/baselines_001.tif')
assert 'offset' not in g0['bands'][0] and g1['bands'][0]['offset'] == -0.1, (g0['bands'][0], g1['bands'][0])
assert g1['metadata']['']['BOA_ADD_OFFSET'] == '-1000' and 'BOA_ADD_OFFSET' not in g0['metadata']['']"
check "encode the SAFE with the model" "${ENC[@]}" "${MODEL[@]}" "$SAFE" -o "$W/safe_lossy.tecv"
check "decode it to GeoTIFF" "${DEC[@]}" "$W/safe_lossy.tecv" -o "$W/safe_lossy.tif"
gdal_check "SAFE through the model: 20 m and 60 m bands decode block-constant (coded on their coarse grid)" "
d = read(W + '/safe_lossy.tif').astype(np.int64)
for i, k in ((0, 6), (9, 6), (10, 6), (4, 2), (5, 2), (8, 2), (12, 2)):
    blocks = d[i].reshape(60 // k, k, 60 // k, k)
    assert (blocks == blocks[:, :1, :, :1]).all(), '%s not constant on %dx%d blocks' % (S2[i], k, k)
assert not (d[1].reshape(30, 2, 30, 2) == d[1].reshape(30, 2, 30, 2)[:, :1, :, :1]).all()
g = gdalinfo(W + '/safe_lossy.tif')
assert [b['description'] for b in g['bands']] == S2 and all(b['offset'] == -0.1 for b in g['bands'])"

# ------------------------------------------------------------ the command line over the files
"${ENC[@]}" --raw "$FX/nodata.tif" -o "$W/override.tecv" --crs EPSG:32632 --dates 2020-01-01 \
    --nodata 7 2> "$W/override.err"
"${ENC[@]}" --raw "$FX/offset.tif" -o "$W/override2.tecv" --meta processing_baseline=09.99 \
    2>> "$W/override.err"
gdal_check "options override the files' values, with a warning for each" "
err = open(W + '/override.err').read()
for k in ('--crs', '--dates', '--nodata', '--meta processing_baseline'):
    assert ('warning: ' + k) in err, err
j = info(W + '/override.tecv')
assert j['crs'] == 'EPSG:32632' and j['dates'] == ['2020-01-01'] and j['nodata'] == 7, j
assert info(W + '/override2.tecv')['metadata']['processing_baseline'] == '09.99'"
"${ENC[@]}" --raw "$FX/nodata.tif" -o "$W/same.tecv" --crs EPSG:32633 --nodata 0 2> "$W/same.err"
check "an option equal to the file's value (EPSG:32633 = its WKT) gives no warning" \
    test ! -s "$W/same.err"

# ------------------------------------------------------------ bad inputs
B=$FX/bad
expect_error "dates on different grids (32 x 32 and 64 x 64)" \
    "${ENC[@]}" --raw "$B/ok.tif" "$B/small.tif" -o "$W/bad.tecv"
expect_error "dates in different CRS (UTM 33N and 32N)" \
    "${ENC[@]}" --raw "$B/ok.tif" "$B/utm32.tif" -o "$W/bad.tecv"
expect_error "dates with different geotransforms" \
    "${ENC[@]}" --raw "$B/ok.tif" "$B/moved.tif" -o "$W/bad.tecv"
expect_error "a band (B05) missing in one date" \
    "${ENC[@]}" --raw "$B/ok.tif" "$B/no_b05.tif" -o "$W/bad.tecv"
expect_error "a float32 raster" "${ENC[@]}" --raw "$B/float.tif" -o "$W/bad.tecv"
expect_error "a 1-band file mixed with 13-band files" \
    "${ENC[@]}" --raw "$B/ok.tif" "$B/one_band.tif" -o "$W/bad.tecv"
expect_error "an unnamed 13-band file mixed with a 1-band file" \
    "${ENC[@]}" --raw "$B/unnamed13.tif" "$B/one_band.tif" -o "$W/bad.tecv"
expect_error "a missing file" "${ENC[@]}" --raw "$B/nothere.tif" -o "$W/bad.tecv"
expect_error "an empty list" "${ENC[@]}" --raw "$B/empty.txt" -o "$W/bad.tecv"
expect_error "a JSON that is not a STAC item" "${ENC[@]}" --raw "$B/not_stac.json" -o "$W/bad.tecv"
expect_error "a truncated STAC item" "${ENC[@]}" --raw "$B/broken.json" -o "$W/bad.tecv"
expect_error "a STAC item with remote assets" "${ENC[@]}" --raw "$B/remote.json" -o "$W/bad.tecv"
expect_error "a SAFE folder without band images" \
    "${ENC[@]}" --raw "$B/empty.SAFE" -o "$W/bad.tecv"
expect_error "a .npy mixed with GeoTIFFs" \
    "${ENC[@]}" --raw "$B/ok.tif" "$FIXTURE" -o "$W/bad.tecv"
expect_error "decode --frame past the end" "${DEC[@]}" "$W/series.tecv" -o "$W/bad.tif" --frame 4
expect_error "decode --cog to a .npy" "${DEC[@]}" "$W/series.tecv" -o "$W/bad.npy" --cog
"${ENC[@]}" --raw "$B/ok.tif" "$B/small.tif" -o "$W/bad.tecv" 2> "$W/bad.err"
check "the grid message names both files and sizes" \
    grep -q "small.tif is 32 x 32 pixels, .*ok.tif 64 x 64" "$W/bad.err"
"${ENC[@]}" --raw "$B/ok.tif" "$B/no_b05.tif" -o "$W/bad.tecv" 2> "$W/bad.err"
check "the band message names the band" grep -q "band B05 of .*ok.tif is missing in" "$W/bad.err"
check "no output file left by the refused inputs" test ! -e "$W/bad.tecv"

# ------------------------------------------------------------ progress bar
"$TEC" encode --raw "$FX/series/list.txt" -o "$W/p.tecv" 2> "$W/p.err"
check "no progress bar when stderr is not a terminal" test ! -s "$W/p.err"
if command -v script > /dev/null; then
    script -qec "'$TEC' encode --raw '$FX/series/list.txt' -o '$W/p.tecv'" /dev/null > "$W/tty.out" 2>&1
    check "a progress bar on a terminal (frames, rows, rate, ETA), erased at the end" \
        sh -c "grep -q 'frame 1/4, row 64/64, .* Mpx/s, ETA' '$W/tty.out' && \
               tail -c 4 '$W/tty.out' | od -c | grep -q 'K'"
    script -qec "'$TEC' decode --quiet '$W/series.tecv' -o '$W/q.npy'" /dev/null > "$W/quiet.out" 2>&1
    check "--quiet: no progress bar on a terminal" sh -c "! grep -q ETA '$W/quiet.out'"
fi

summary
