#!/bin/bash
# libtec as others link it: 'make install' into a staging directory, a small
# program built with nothing but 'pkg-config --cflags --libs tec' against the
# staged tree, run on the staged libtec.so with the staged weights (encode
# and decode one frame, user data, API version), and the exported symbols:
# every one starts with tec_ and is declared in tec.h, and every declaration
# is exported.
cd "$(dirname "$0")/.." || exit 1
. fate-tests/lib/cli.bash

W=$WORK
STAGE=$W/stage
CC=${CC:-cc}

# The install of build/, whichever pass runs this (the ASan pass passes
# B=build-asan down through MAKEFLAGS: not wanted here).
check "make install DESTDIR=stage" \
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory install DESTDIR="$STAGE"
PC=$(find "$STAGE" -name tec.pc -path '*/pkgconfig/*' | head -n 1)
if [ -z "$PC" ]; then
    fail "tec.pc installed"
    summary
    exit
fi
PCDIR=$(dirname "$PC")
LIBDIR=$(dirname "$PCDIR")
SO=$LIBDIR/libtec.so
WDIR=$(find "$STAGE" -type d -path '*/share/tec/weights' | head -n 1)
# The Python package, with the entry point numcodecs finds codec "tec" by.
EP=$(find "$STAGE" -path '*-packages/terracodec-*.dist-info/entry_points.txt' | head -n 1)
check "the terracodec package and its numcodecs entry point are installed" \
    bash -c '[ -f "$(dirname "$(dirname "$1")")/terracodec/codec.py" ] &&
             grep -q "^tec = terracodec.codec:TecCodec" "$1"' _ "$EP"

# pkg-config alone, relocated to the staging directory (--define-prefix);
# the dependencies come through Requires.private or Libs.private.
pc() { PKG_CONFIG_PATH=$PCDIR pkg-config --define-prefix "$@" tec; }
check "pkg-config finds tec $(pc --modversion 2>/dev/null)" pc --exists
FLAGS=$(pc --cflags --libs)
STATIC=$(pc --static --libs)
check "pkg-config --static names zstd, pthread and libm" \
    bash -c '[[ " $1 " == *" -lzstd "* ]] && [[ " $1 " == *" -lpthread "* ]] && [[ " $1 " == *" -lm "* ]]' _ "$STATIC"

cat > "$W/app.c" <<'EOF'
/* A program that knows libtec only through its installed header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tec/tec.h>

#define B 13
#define WD 24
#define HT 20

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return 1; } while (0)

int main(int argc, char **argv)
{
    const char *wdir = argc > 1 ? argv[1] : NULL;
    const unsigned v = tec_version_api();
    if (TEC_API_MAJOR(v) != TEC_API_VERSION_MAJOR || TEC_API_MINOR(v) < TEC_API_VERSION_MINOR)
        FAIL("API %u.%u, header %d.%d", TEC_API_MAJOR(v), TEC_API_MINOR(v),
             TEC_API_VERSION_MAJOR, TEC_API_VERSION_MINOR);
    const int q = tec_model_default_quality(NULL, wdir);
    if (q < TEC_QUALITY_MIN || q > TEC_QUALITY_MAX)
        FAIL("default quality: %d (%s)", q, tec_encoder_error(NULL));

    static uint16_t in[B * HT * WD];
    for (int i = 0; i < B * HT * WD; i++)
        in[i] = (uint16_t)(1000 + 40 * (i / (HT * WD)) + (i % WD) * 7 + (i / WD % HT) * 5);
    TecEncoderSettings es;
    tec_encoder_default_settings(&es);
    es.bands = B;
    es.width = WD;
    es.height = HT;
    es.weights_dir = wdir;
    es.threads = 1;
    TecEncoder *enc;
    if (tec_encoder_open(&enc, &es) < 0)
        FAIL("encoder: %s", tec_encoder_error(NULL));
    int tag;
    TecPicture pic;
    memset(&pic, 0, sizeof(pic));
    pic.data = in;
    pic.stride = WD;
    pic.band_stride = WD * HT;
    pic.bands = B;
    pic.width = WD;
    pic.height = HT;
    pic.user_data = &tag;
    TecPacket pkt;
    if (tec_encoder_send_frame(enc, &pic) < 0 || tec_encoder_receive_packet(enc, &pkt) < 0)
        FAIL("encode: %s", tec_encoder_error(enc));
    if (pkt.user_data != &tag)
        FAIL("packet user_data lost");

    const uint8_t *hdr;
    size_t hdr_size;
    tec_encoder_get_header(enc, &hdr, &hdr_size);
    TecDecoderSettings ds;
    tec_decoder_default_settings(&ds);
    ds.weights_dir = wdir;
    ds.threads = 1;
    TecDecoder *dec;
    if (tec_decoder_open(&dec, &ds, hdr, hdr_size) < 0)
        FAIL("decoder: %s", tec_decoder_error(NULL));
    TecPicture out;
    if (tec_decoder_send(dec, &pkt) < 0 || tec_decoder_receive_frame(dec, &out) < 0)
        FAIL("decode: %s", tec_decoder_error(dec));
    if (out.user_data != &tag || out.bands != B || out.width != WD || out.height != HT)
        FAIL("decoded picture: user_data %p, %dx%dx%d", out.user_data, out.bands, out.height,
             out.width);
    double se = 0;
    for (int b = 0; b < B; b++)
        for (int y = 0; y < HT; y++)
            for (int x = 0; x < WD; x++) {
                const double d = (double)out.data[b * out.band_stride + y * out.stride + x] -
                                 in[(b * HT + y) * WD + x];
                se += d * d;
            }
    const double mse = se / (B * HT * WD);
    printf("libtec %s (API %u.%u.%u), quality %d: %zu bytes, MSE %.1f\n", tec_version(),
           TEC_API_MAJOR(v), TEC_API_MINOR(v), TEC_API_PATCH(v), q, pkt.size, mse);
    tec_decoder_close(&dec);
    tec_encoder_close(&enc);
    /* A smooth ramp of reflectances (spread about 150): an error of 50 RMS
     * would mean a broken codec, not a weak one. */
    return mse < 50 * 50 ? 0 : 1;
}
EOF
# shellcheck disable=SC2086  # FLAGS is a list of words
check "app.c builds with pkg-config --cflags --libs tec only" \
    $CC -std=c11 -Wall -Wextra -Werror -o "$W/app" "$W/app.c" $FLAGS
check "app links the staged libtec.so" \
    bash -c 'LD_LIBRARY_PATH=$1 ldd "$2" | grep -q "libtec.so.* => $1/libtec.so"' _ "$LIBDIR" "$W/app"

# The staged weights, or a stand-in when the tree ships none.
if [ -n "$WDIR" ] && [ -f "$WDIR/tec-s2-tt.tecw" ]; then
    APP_WEIGHTS=$WDIR
else
    APP_WEIGHTS=$(tiny_model tec-s2-tt 1)
fi
check "app encodes and decodes a frame with the installed library" \
    env -u TEC_WEIGHTS LD_LIBRARY_PATH="$LIBDIR" "$W/app" "$APP_WEIGHTS"
echo "      $(env -u TEC_WEIGHTS LD_LIBRARY_PATH="$LIBDIR" "$W/app" "$APP_WEIGHTS" 2>&1 | tail -n 1)"

# The ABI: exported = declared in tec.h.
HDR=$(find "$STAGE" -name tec.h -path '*/include/tec/*' | head -n 1)
nm -D --defined-only "$SO" | awk '{ print $NF }' | LC_ALL=C sort -u > "$W/exported"
grep -o '^TEC_API [^(]*(' "$HDR" | sed 's/.*[ *]\([A-Za-z0-9_]*\)($/\1/' | LC_ALL=C sort -u > "$W/declared"
check "libtec.so exports $(wc -l < "$W/exported") symbols, all tec_*" \
    bash -c '! grep -v "^tec_" "$1"' _ "$W/exported"
check "every exported symbol is declared in tec.h (no internals)" \
    bash -c 'LC_ALL=C comm -23 "$1" "$2" | { ! grep .; }' _ "$W/exported" "$W/declared"
check "every TEC_API declaration is exported" \
    bash -c 'LC_ALL=C comm -13 "$1" "$2" | { ! grep .; }' _ "$W/exported" "$W/declared"
check "the library holds no path of the source tree" \
    bash -c '! readelf -p .rodata "$1" | grep -F -q "$2"' _ "$SO" "$PWD"

summary
