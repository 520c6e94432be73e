#!/bin/sh
# Build a lean FFmpeg (ffmpeg, ffprobe, ffplay) with libtec and the .tecv
# muxer/demuxer registered into it.  See doc/ffmpeg.md.
#
#   tools/ffmpeg-build.sh [--ffmpeg-source DIR] [--prefix DIR] [--build-dir DIR]
#                         [--no-deps] [--jobs N] [--fuzz] [-- EXTRA_CONFIGURE_ARGS...]
#
# Without --ffmpeg-source, Debian's source package is fetched once with
# `apt-get source ffmpeg` into ./ffmpeg-src/ (a deb-src entry for Debian's
# main archive is added to apt's sources when none exists).  The tree is
# patched by libavcodec-tec/ffmpeg/register.sh (idempotent) and built out of
# tree in build/ffmpeg/ (default).  Re-running rebuilds incrementally; FFmpeg's
# configure is rerun only when its arguments, the registration or tec.pc
# changed.  With --prefix, `make install` follows.
#
# --fuzz builds instead, in build/ffmpeg-fuzz/, FFmpeg's demuxer fuzzer for
# .tecv (tools/target_dem_tecv_fuzzer: clang, libFuzzer, ASan and UBSan);
# run it with libavcodec-tec/ffmpeg/fuzz-tecv.sh.
#
# libtec must be built first (`./configure && make`: build/libtec.a,
# build/tec.pc).  FFmpeg links it statically from the build tree.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SRC=
PREFIX=
BUILD=
JOBS=2
FUZZ=no
DEPS=yes

die() { echo "ffmpeg-build: $*" >&2; exit 1; }
say() { echo "ffmpeg-build: $*"; }

while [ $# -gt 0 ]; do
    case $1 in
        --ffmpeg-source) [ $# -ge 2 ] || die "$1 needs a directory"; SRC=$2; shift 2 ;;
        --ffmpeg-source=*) SRC=${1#*=}; shift ;;
        --prefix) [ $# -ge 2 ] || die "$1 needs a directory"; PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#*=}; shift ;;
        --build-dir) [ $# -ge 2 ] || die "$1 needs a directory"; BUILD=$2; shift 2 ;;
        --build-dir=*) BUILD=${1#*=}; shift ;;
        --jobs) [ $# -ge 2 ] || die "$1 needs a number"; JOBS=$2; shift 2 ;;
        --jobs=*) JOBS=${1#*=}; shift ;;
        --no-deps) DEPS=no; shift ;;
        --fuzz) FUZZ=yes; shift ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --) shift; break ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
# What is left goes to FFmpeg's configure as it is.
if [ -z "$BUILD" ]; then
    if [ $FUZZ = yes ]; then BUILD=$ROOT/build/ffmpeg-fuzz; else BUILD=$ROOT/build/ffmpeg; fi
fi

now() { date +%s; }
T0=$(now)

# ------------------------------------------------------------ dependencies
# Debian packages for the components configured below.
PKGS="nasm pkg-config zlib1g-dev libx264-dev libx265-dev libaom-dev \
libsvtav1enc-dev libdav1d-dev libsdl2-dev"

missing_pkgs() {
    for p in $PKGS; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
            printf '%s ' "$p"
    done
}

if [ "$DEPS" = yes ]; then
    miss=$(missing_pkgs)
    if [ -n "$miss" ]; then
        if [ "$(id -u)" = 0 ]; then
            say "installing $miss"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $miss
        else
            say "warning: not root, cannot install: $miss (configure may fail)"
        fi
    fi
fi

# ------------------------------------------------------------ the source
# True when apt knows a deb-src entry for Debian's main archive.
have_deb_src() {
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && grep -Eq '^[[:space:]]*deb-src[[:space:]].*debian' "$f" && return 0
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'BEGIN { RS = ""; IGNORECASE = 1 }
             /(^|\n)Types:[^\n]*deb-src/ && /(^|\n)URIs:[^\n]*debian/ { found = 1 }
             END { exit !found }' "$f" && return 0
    done
    return 1
}

# Add a deb-src stanza mirroring the deb stanza of Debian's main archive
# (same URIs, Suites, Components, Signed-By) in deb822 form.
add_deb_src() {
    f=/etc/apt/sources.list.d/debian.sources
    if [ -f "$f" ]; then
        out=/etc/apt/sources.list.d/tec-deb-src.sources
        awk 'BEGIN { RS = ""; ORS = "\n\n" }
             /(^|\n)Types:[^\n]*deb/ && /(^|\n)URIs:[^\n]*\/debian\/?([[:space:]]|$)/ {
                 n = split($0, line, "\n"); s = ""
                 for (i = 1; i <= n; i++) {
                     if (line[i] ~ /^#/) continue
                     if (line[i] ~ /^Types:/) line[i] = "Types: deb-src"
                     s = s line[i] "\n"
                 }
                 printf "%s\n", s
             }' "$f" > "$out.new"
        [ -s "$out.new" ] || { rm -f "$out.new"; die "no Debian main archive stanza in $f"; }
        mv "$out.new" "$out"
        say "added $out:"; sed 's/^/    /' "$out"
    elif [ -f /etc/apt/sources.list ] &&
         grep -Eq '^[[:space:]]*deb[[:space:]].*debian' /etc/apt/sources.list; then
        out=/etc/apt/sources.list.d/tec-deb-src.list
        sed -n 's/^[[:space:]]*deb\([[:space:]].*debian.*\)/deb-src\1/p' \
            /etc/apt/sources.list | grep -v security > "$out"
        say "added $out"
    else
        die "no Debian apt source found to derive a deb-src entry from"
    fi
}

if [ -z "$SRC" ]; then
    SRC=$ROOT/ffmpeg-src/tree
    if [ ! -f "$SRC/configure" ]; then
        [ "$(id -u)" = 0 ] || die "fetching the source needs root (apt); or pass --ffmpeg-source DIR"
        if ! have_deb_src; then
            add_deb_src
        fi
        apt-get update -qq
        mkdir -p "$ROOT/ffmpeg-src"
        say "apt-get source ffmpeg"
        (cd "$ROOT/ffmpeg-src" && apt-get source -qq ffmpeg) >/dev/null
        d=$(ls -d "$ROOT"/ffmpeg-src/ffmpeg-*/ 2>/dev/null | sort | tail -1)
        [ -n "$d" ] && [ -f "$d/configure" ] || die "apt-get source ffmpeg gave no source tree"
        ln -sfn "$(basename "$d")" "$SRC"
    fi
fi
[ -f "$SRC/configure" ] && [ -d "$SRC/libavcodec" ] || die "$SRC is not an FFmpeg source tree"
SRC=$(cd "$SRC" && pwd -P)
FFVER=$(cat "$SRC/RELEASE" 2>/dev/null || echo unknown)
say "FFmpeg $FFVER in $SRC"

# ------------------------------------------------------------ libtec
[ -f "$ROOT/build/libtec.a" ] && [ -f "$ROOT/build/tec.pc" ] ||
    die "build libtec first: ./configure && make (need build/libtec.a and build/tec.pc)"

# A pkg-config file for the uninstalled library: headers from the source,
# the static archive from build/ (through a directory that holds only it, so
# -ltec cannot pick libtec.so), its private libraries from build/tec.pc.
PCDIR=$BUILD/pkgconfig
mkdir -p "$PCDIR" "$BUILD/libtec"
ln -sf "$ROOT/build/libtec.a" "$BUILD/libtec/libtec.a"
VERSION=$(sed -n 's/^Version: *//p' "$ROOT/build/tec.pc")
PRIV=$(sed -n 's/^Libs.private: *//p' "$ROOT/build/tec.pc")
# and those of the dependencies it names by their own .pc (zstd).
REQ=$(sed -n 's/^Requires.private: *//p' "$ROOT/build/tec.pc")
if [ -n "$REQ" ]; then PRIV="$(pkg-config --libs $REQ) $PRIV"; fi
# The library search paths libtec was linked with (e.g. a zstd of one's own).
[ -f "$ROOT/config.mak" ] && PRIV="$(sed -n 's/^LDFLAGS *= *//p' "$ROOT/config.mak") $PRIV"
cat > "$PCDIR/tec.pc.new" <<EOF
# Written by tools/ffmpeg-build.sh: libtec from the build tree $ROOT
Name: tec
Description: TerraCodec (uninstalled, static)
Version: $VERSION
Libs: -L$BUILD/libtec -ltec $PRIV
Cflags: -I$ROOT/libavcodec-tec/include
EOF
if cmp -s "$PCDIR/tec.pc.new" "$PCDIR/tec.pc"; then rm -f "$PCDIR/tec.pc.new"
else mv -f "$PCDIR/tec.pc.new" "$PCDIR/tec.pc"; fi

# ------------------------------------------------------------ registration
sh "$ROOT/libavcodec-tec/ffmpeg/register.sh" "$SRC"

# ------------------------------------------------------------ configure
if [ $FUZZ = yes ]; then
    command -v clang >/dev/null || die "--fuzz needs clang (with libFuzzer)"
    # (not --enable-ossfuzz: it adds -fsanitize-coverage=trace-pc-guard, which
    # today's libFuzzer refuses; fuzzer-no-link instruments instead)
    set -- --cc=clang --cxx=clang++ --ld=clang \
        --libfuzzer=-fsanitize=fuzzer --disable-optimizations \
        --extra-cflags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link" \
        --extra-ldflags="-fsanitize=address,undefined" \
        --disable-everything --disable-programs --disable-doc --disable-autodetect \
        --disable-avdevice --disable-avfilter --disable-swscale --disable-swresample \
        --disable-network --enable-libtec --enable-demuxer=tecv --enable-decoder=libtec,rawvideo \
        --enable-protocol=file "$@"
    TARGETS=tools/target_dem_tecv_fuzzer
else
    # tec compare's video baselines (tools/tec_compare/codecs.py) need the
    # hevc and obu (AV1) muxers, demuxers and decoders besides the encoders;
    # fate-tests/ffmpeg/test_compare_baselines.py fails when one is missing.
    set -- --disable-everything --disable-doc --disable-autodetect \
    --enable-gpl --enable-zlib --enable-sdl2 --enable-ffplay \
    --enable-libtec --enable-libx264 --enable-libx265 --enable-libaom \
    --enable-libdav1d --enable-libsvtav1 \
    --enable-encoder=libtec,rawvideo,png,libx264,libx265,libaom_av1,libsvtav1 \
    --enable-decoder=libtec,rawvideo,png,libdav1d,hevc \
    --enable-muxer=tecv,rawvideo,image2,framecrc,framemd5,null,mp4,matroska,hevc,obu \
    --enable-demuxer=tecv,rawvideo,image2,hevc,obu \
    --enable-parser=hevc,av1 --enable-bsf=av1_frame_merge,av1_metadata \
    --enable-filter=psnr,ssim,scale,format,null \
    --enable-protocol=file,pipe \
    ${PREFIX:+--prefix="$PREFIX"} "$@"
    TARGETS="ffmpeg ffprobe ffplay"
fi

mkdir -p "$BUILD"
STAMP=$BUILD/tec-configure.args
# Everything configure's result depends on: its arguments, the patched
# configure script and the pkg-config file.
printf '%s\n' "$@" > "$STAMP.new"
cksum "$SRC/configure" "$PCDIR/tec.pc" | cut -d' ' -f1,2 >> "$STAMP.new"
if [ -f "$BUILD/ffbuild/config.mak" ] && cmp -s "$STAMP.new" "$STAMP"; then
    rm -f "$STAMP.new"
    say "configure is up to date"
else
    say "configure $*"
    t=$(now)
    if ! (cd "$BUILD" && PKG_CONFIG_PATH="$PCDIR${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
          "$SRC/configure" "$@" > configure.out 2>&1); then
        tail -20 "$BUILD/configure.out" >&2
        die "FFmpeg configure failed (see $BUILD/ffbuild/config.log)"
    fi
    mv -f "$STAMP.new" "$STAMP"
    say "configure took $(( $(now) - t )) s"
fi

# ------------------------------------------------------------ build
t=$(now)
mkdir -p "$BUILD/tools"   # FFmpeg makes it only for its programs
# FFmpeg's makefiles do not know the programs depend on libtec.a: relink
# those older than the archive.
for p in $TARGETS; do
    for f in "$BUILD/$p" "$BUILD/${p}_g"; do
        [ -f "$f" ] && [ "$ROOT/build/libtec.a" -nt "$f" ] && rm -f "$f"
    done
done
make -C "$BUILD" -j"$JOBS" $TARGETS
say "make took $(( $(now) - t )) s"
if [ $FUZZ = yes ]; then
    say "$BUILD/tools/target_dem_tecv_fuzzer ($(( $(now) - T0 )) s in all)"
    exit 0
fi
if [ -n "$PREFIX" ]; then
    make -C "$BUILD" install
fi
"$BUILD/ffmpeg" -hide_banner -version | head -1
for c in "encoder=libtec" "decoder=libtec" "muxer=tecv" "demuxer=tecv"; do
    "$BUILD/ffmpeg" -hide_banner -h "$c" 2>/dev/null | head -1 | grep -q . ||
        die "$c is missing from the build"
done
say "ffmpeg, ffprobe, ffplay in $BUILD ($(( $(now) - T0 )) s in all)"
