#!/bin/sh
# Register TerraCodec (libtec encoder/decoder, .tecv muxer/demuxer, FATE
# tests) into an FFmpeg source tree.
#
#   libavcodec-tec/ffmpeg/register.sh FFMPEG_TREE
#
# Copies our files into the tree (only when they changed, so that builds
# stay incremental) and edits configure, libavcodec/{allcodecs.c,Makefile,
# codec_id.h,codec_desc.c}, libavformat/{allformats.c,Makefile} and
# tests/Makefile.  Every edit finds its anchor line exactly once (or stops
# with an error naming the file) and is skipped when already applied, so
# running the script again changes nothing.  Tested on FFmpeg 5.1.9; the
# anchors were chosen to exist unchanged in 6.x and 7.x (doc/ffmpeg.md).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

die() { echo "register.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: register.sh FFMPEG_TREE"
T=$(cd "$1" && pwd) || die "no such directory: $1"
[ -f "$T/configure" ] && [ -f "$T/libavcodec/allcodecs.c" ] && [ -f "$T/libavformat/allformats.c" ] ||
    die "$T is not an FFmpeg source tree"

applied=0
skipped=0

# ---------------------------------------------------------------- files
install_file() { # SRC DST
    if ! cmp -s "$1" "$2"; then
        cp "$1" "$2.tec-new" && mv -f "$2.tec-new" "$2"
        echo "register.sh: installed ${2#$T/}"
    fi
}
install_file "$HERE/tec_compat.h"             "$T/libavcodec/tec_compat.h"
install_file "$HERE/tec_common.h"             "$T/libavcodec/tec_common.h"
install_file "$HERE/libavcodec/libtecenc.c"   "$T/libavcodec/libtecenc.c"
install_file "$HERE/libavcodec/libtecdec.c"   "$T/libavcodec/libtecdec.c"
install_file "$HERE/libavformat/tecvdec.c"    "$T/libavformat/tecvdec.c"
install_file "$HERE/libavformat/tecvenc.c"    "$T/libavformat/tecvenc.c"

# FATE: a two-line stub in the tree that includes the project's tec.mak, so
# the tests, references and fixtures stay in the project.
stub=$(mktemp)
cat > "$stub" <<EOF
# Written by libavcodec-tec/ffmpeg/register.sh: TerraCodec's FATE tests.
TEC_ROOT := $ROOT
include \$(TEC_ROOT)/fate-tests/tec.mak
EOF
install_file "$stub" "$T/tests/fate/tec.mak"
rm -f "$stub"

# ---------------------------------------------------------------- edits
# edit FILE WHERE ANCHOR_RE TEXT MARKER
#   Puts TEXT before | after (WHERE) the single line matching the basic
#   regular expression ANCHOR_RE.  Skipped when a line equal to MARKER (a
#   line of TEXT) exists.
edit() {
    f=$T/$1 where=$2 anchor=$3 marker=$5
    TEC_TEXT=$4
    export TEC_TEXT
    case $marker in *"
"*) die "internal: marker of the $1 edit spans lines" ;; esac
    [ -f "$f" ] || die "$1: missing"
    if grep -qxF -- "$marker" "$f"; then
        skipped=$((skipped + 1))
        return 0
    fi
    n=$(grep -c -- "$anchor" "$f" || true)
    [ "$n" = 1 ] || die "$1: anchor '$anchor' matches $n lines, expected exactly 1"
    line=$(grep -n -- "$anchor" "$f" | cut -d: -f1)
    awk -v n="$line" -v where="$where" '
        NR == n && where == "before" { print ENVIRON["TEC_TEXT"] }
        { print }
        NR == n && where == "after" { print ENVIRON["TEC_TEXT"] }
    ' "$f" > "$f.tec-new"
    cat "$f.tec-new" > "$f"   # keeps the file's mode (configure is executable)
    rm -f "$f.tec-new"
    grep -qxF -- "$marker" "$f" || die "$1: edit did not apply"
    applied=$((applied + 1))
}

# The declaration prefix used by the anchor line ("extern const FFCodec ",
# "extern const AVInputFormat  ", ...), so the new lines match what
# configure's parser expects in this version.
prefix_of() { # FILE SYMBOL
    p=$(sed -n "s/^\(extern const [A-Za-z]* *\)$2;.*/\1/p" "$T/$1")
    [ -n "$p" ] || die "$1: no declaration of $2"
    printf '%s' "$p"
}

# configure: the library, its components, the pkg-config check.
edit configure after '^  --enable-libsvtav1 ' \
'  --enable-libtec          enable TerraCodec multispectral coding via libtec [no]' \
'  --enable-libtec          enable TerraCodec multispectral coding via libtec [no]'
edit configure after '^    libsvtav1$' '    libtec' '    libtec'
edit configure after '^libsvtav1_encoder_deps="libsvtav1"$' \
'libtec_decoder_deps="libtec"
libtec_encoder_deps="libtec"
tecv_demuxer_deps="libtec"
tecv_muxer_deps="libtec"' 'libtec_decoder_deps="libtec"'
# The .tecv muxer compresses its metadata with zstd, a dependency of libtec.
edit configure after '^enabled libsvtav1  *&& require_pkg_config ' \
'enabled libtec && require_pkg_config libtec tec tec/tec.h tec_version
enabled libtec && require_pkg_config libtec_zstd libzstd zstd.h ZSTD_compress && append libtec_extralibs "$libtec_zstd_extralibs"' \
'enabled libtec && require_pkg_config libtec tec tec/tec.h tec_version'

# libavcodec
p=$(prefix_of libavcodec/allcodecs.c ff_libsvtav1_encoder)
edit libavcodec/allcodecs.c after 'ff_libsvtav1_encoder;' \
"${p}ff_libtec_encoder;
${p}ff_libtec_decoder;" "${p}ff_libtec_encoder;"
edit libavcodec/Makefile after '^OBJS-$(CONFIG_LIBSVTAV1_ENCODER) ' \
'OBJS-$(CONFIG_LIBTEC_DECODER)             += libtecdec.o
OBJS-$(CONFIG_LIBTEC_ENCODER)             += libtecenc.o' \
'OBJS-$(CONFIG_LIBTEC_DECODER)             += libtecdec.o'
# A fixed id far from FFmpeg's own, the last video id: codec_desc.c is
# sorted by id (avcodec_descriptor_get() bisects), so its descriptor goes
# just before the first audio one.
edit libavcodec/codec_id.h before '^    /\* various PCM "codecs" \*/$' \
'    AV_CODEC_ID_TEC = 0x8000,  ///< TerraCodec (libtec), registered by TerraCodec
' '    AV_CODEC_ID_TEC = 0x8000,  ///< TerraCodec (libtec), registered by TerraCodec'
edit libavcodec/codec_desc.c before '^    /\* various PCM "codecs" \*/$' \
'    /* TerraCodec, registered by TerraCodec */
    {
        .id        = AV_CODEC_ID_TEC,
        .type      = AVMEDIA_TYPE_VIDEO,
        .name      = "tec",
        .long_name = NULL_IF_CONFIG_SMALL("TerraCodec multispectral image time series"),
        .props     = AV_CODEC_PROP_LOSSY,
    },
' '    /* TerraCodec, registered by TerraCodec */'

# libavformat
pi=$(prefix_of libavformat/allformats.c ff_tedcaptions_demuxer)
po=$(prefix_of libavformat/allformats.c ff_tee_muxer)
edit libavformat/allformats.c before 'ff_tedcaptions_demuxer;' \
"${pi}ff_tecv_demuxer;
${po}ff_tecv_muxer;" "${pi}ff_tecv_demuxer;"
edit libavformat/Makefile before '^OBJS-$(CONFIG_TEDCAPTIONS_DEMUXER) ' \
'OBJS-$(CONFIG_TECV_DEMUXER)              += tecvdec.o
OBJS-$(CONFIG_TECV_MUXER)                += tecvenc.o' \
'OBJS-$(CONFIG_TECV_DEMUXER)              += tecvdec.o'

# FATE
edit tests/Makefile after '^include $(SRC_PATH)/tests/fate/ffprobe.mak$' \
'include $(SRC_PATH)/tests/fate/tec.mak' 'include $(SRC_PATH)/tests/fate/tec.mak'

echo "register.sh: $T: $applied edits applied, $skipped already present"
