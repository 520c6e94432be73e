#!/bin/sh
# Helper of the FATE tests in fate-tests/tec.mak: the checks that compare
# files or expect a failure, which FATE's own functions do not express.
# Runs from the FFmpeg build directory; prints stable lines for the
# reference and exits non-zero when a check fails.
#
#   fate-tec.sh damage SRC OUT                 a copy with two damaged packets
#   fate-tec.sh damage-payload SRC OUT         bad frames 1 and 2, valid CRCs
#   fate-tec.sh remux SRC OUT                  -c copy gives SRC's bytes back
#   fate-tec.sh bands-meta CODED OUT           the "bands" key beside the header's names
#   fate-tec.sh encode-vs-cli RAW CODED OUT    ffmpeg -c:v tec == tec encode
#   fate-tec.sh bands-vs-cli CODED OUTBASE     -output bands == tec decode
#   fate-tec.sh encode-rawvideo RAW OUTBASE    -f rawvideo needs -bands; refusals
#   fate-tec.sh repeat-npy SRC OUT K...        a .npy of SRC's frames K... (in that order)
#   fate-tec.sh nodata-npy SRC OUT             SRC with nodata 0: a border and a few samples
#   fate-tec.sh cut SRC OUT N                  SRC without its first N packets
#   fate-tec.sh damage-crc SRC OUT K           packet K's payload damaged (CRC mismatch)
#   fate-tec.sh lost-decode FILE               framecrc of -output bands and libtec's log
#   fate-tec.sh seek CODED K...                -ss to frame K == the full decode from K on
#   fate-tec.sh threads RAW CODED OUTBASE      -threads 1 and 2 encode and decode the same
#   fate-tec.sh lossless RAW OUTBASE           -max_error 0 decodes to RAW's samples
#   fate-tec.sh fill-clouds CODED OUTBASE      -fill_clouds 1 == tec decode --fill-clouds
#   fate-tec.sh weighting RAW CODED PLAIN OUTBASE  ffmpeg == tec encode, with and without
#                                              -plain_spreads 1 (CODED, PLAIN), which differ
#
# Environment: TARGET_EXEC, TARGET_PATH (FATE's), TEC_CLI (the tec tool),
# and the model options: TEC_DEC_OPTS, TEC_ENC_OPTS (ffmpeg decoder and
# encoder), TEC_CLI_OPTS (tec).  Unset, the shipped model is used.
set -u

FFMPEG="${TARGET_EXEC:-} ${TARGET_PATH:-.}/ffmpeg"
FFPROBE="${TARGET_EXEC:-} ${TARGET_PATH:-.}/ffprobe"
TEC_CLI=${TEC_CLI:-tec}
DEC=${TEC_DEC_OPTS:-}
ENC=${TEC_ENC_OPTS:-}
CLI=${TEC_CLI_OPTS:-}

ff() { $FFMPEG -nostdin -nostats -hide_banner -loglevel error "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

# u16/u32 little-endian at an offset of a file
rl() { od -An -t u"$2" -j "$3" -N "$2" --endian=little "$1" | tr -d ' '; }

# CRC-32 (IEEE, as in .tecv) of a file: gzip's trailer holds it
crc32() { gzip -c < "$1" | tail -c 8 | od -An -t u4 -N 4 --endian=little | tr -d ' '; }

# write the u32 V little-endian at offset OFF of FILE
# the offset of packet K of a .tecv (from 0)
packet_pos() { # FILE K
    p=$((16 + $(rl "$1" 4 8))) k=0
    while [ $k -lt "$2" ]; do p=$((p + 24 + $(rl "$1" 4 $((p + 4))))) k=$((k + 1)); done
    echo $p
}

# framecrc lines (no comments) of -output bands; extra ffmpeg options first
bands_crc() { ff "$@" -f framecrc - | grep -v '^#'; }
# same_as_cli WHAT RAW CODED OUT [OPTION...]: ffmpeg -c:v tec with the
# options, one thread, writes OUT, byte for byte tec encode's CODED.
same_as_cli() {
    local what=$1 raw=$2 coded=$3 out=$4
    shift 4
    ff -i "$raw" -c:v tec $ENC "$@" -threads 1 -f tecv -y "$out" || fail "$what: ffmpeg${*:+ $*} failed"
    cmp -s "$coded" "$out" ||
        fail "$what: ffmpeg${*:+ $*}: $(wc -c < "$out") bytes differ from tec encode's $(wc -c < "$coded")"
}

wl32() {
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($2 & 255)) $(($2 >> 8 & 255)) \
        $(($2 >> 16 & 255)) $(($2 >> 24 & 255)))" |
        dd of="$1" bs=1 seek="$3" conv=notrunc 2>/dev/null
}

# ff ARGS... must fail, and its stderr contain PATTERN
expect_refusal() { # WHAT PATTERN ARGS...
    what=$1 pattern=$2
    shift 2
    err=$($FFMPEG -nostdin -nostats -hide_banner "$@" 2>&1 >/dev/null) &&
        fail "$what: accepted"
    printf '%s\n' "$err" | grep -q -- "$pattern" ||
        { printf '%s\n' "$err" | tail -5; fail "$what: refused without saying '$pattern'"; }
    echo "$what: refused ($pattern)"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
damage)
    src=$1 out=$2
    bands=$(rl "$src" 2 16) width=$(rl "$src" 4 18) height=$(rl "$src" 4 22)
    frames=$(rl "$src" 4 26)
    pkt=$((24 + bands * width * height * 2))
    size=$(wc -c < "$src")
    first=$((size - frames * pkt))
    [ "$frames" -ge 4 ] && [ "$first" -gt 16 ] || fail "damage: $src is not a raw .tecv of 4+ frames"
    cp "$src" "$out"
    # frame 1: payload bytes (CRC mismatch); frame 3: its sync (no packet)
    printf 'XXXX' | dd of="$out" bs=1 seek=$((first + pkt + 24 + 100)) conv=notrunc 2>/dev/null
    printf 'X' | dd of="$out" bs=1 seek=$((first + 3 * pkt)) conv=notrunc 2>/dev/null
    ;;
damage-payload)
    # Packets whose payload the decoder must refuse although their CRCs are
    # right: frame 1 claims 2^31-1 chunks, frame 2 a chunk past the end.
    src=$1 out=$2
    cp "$src" "$out"
    pos=$((16 + $(rl "$src" 4 8)))
    for k in 0 1 2; do
        size=$(rl "$src" 4 $((pos + 4)))
        if [ $k -gt 0 ]; then
            pay=$((pos + 24))
            if [ $k = 1 ]; then wl32 "$out" 2147483647 $((pay + 4)); else wl32 "$out" 1000000 $((pay + 8)); fi
            # the packet CRC covers header bytes 8-19 (time, flags), then the payload
            { dd if="$out" bs=1 skip=$((pos + 8)) count=12 2>/dev/null
              dd if="$out" bs=1 skip=$pay count="$size" 2>/dev/null; } > "$out.payload"
            wl32 "$out" "$(crc32 "$out.payload")" $((pos + 20))
            rm -f "$out.payload"
        fi
        pos=$((pos + 24 + size))
    done
    ;;
remux)
    src=$1 out=$2
    ff -i "$src" -c copy -f tecv -y "$out" || fail "remux: ffmpeg failed"
    cmp -s "$src" "$out" || fail "remux: $(basename "$src"): the copy differs"
    echo "remux: $(basename "$src"): identical"
    rm -f "$out"
    ;;
bands-meta)
    # A "bands" key naming the sequence header's bands is not stored twice;
    # any other value is the user's metadata and is kept.
    coded=$1 out=$2
    probe() { ${TARGET_EXEC:-} ${TARGET_PATH:-.}/ffprobe -v error \
        -show_entries format_tags=bands -of default=nw=1:nk=1 "$1"; }
    header=B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12
    other=b1,b2,b3,b4,b5,b6,b7,b8,b8a,b9,b10,b11,b12
    ff -i "$coded" -c copy -metadata bands=$other -f tecv -y "$out" || fail "bands-meta: ffmpeg failed"
    [ "$(probe "$out")" = "$other" ] || fail "bands-meta: other names lost: '$(probe "$out")'"
    ff -i "$coded" -c copy -metadata bands=$header -f tecv -y "$out" || fail "bands-meta: ffmpeg failed"
    [ -z "$(probe "$out")" ] || fail "bands-meta: the header's names stored again"
    echo "bands-meta: other names kept, the header's not repeated"
    rm -f "$out"
    ;;
encode-vs-cli)
    raw=$1 coded=$2 out=$3
    same_as_cli encode "$raw" "$coded" "$out"
    echo "encode: identical to tec encode"
    rm -f "$out"
    ;;
lossless)
    raw=$1 base=$2
    ff -i "$raw" -c:v tec $ENC -max_error 0 -threads 2 -f tecv -y "$base.tecv" ||
        fail "lossless: encode failed"
    ff $DEC -output bands -i "$base.tecv" -f rawvideo -y "$base.dec.raw" ||
        fail "lossless: decode failed"
    ff -i "$raw" -f rawvideo -y "$base.src.raw" || fail "lossless: source export failed"
    cmp -s "$base.src.raw" "$base.dec.raw" || fail "lossless: the decoded samples differ"
    [ "$(wc -c < "$base.tecv")" -lt "$(wc -c < "$raw")" ] || fail "lossless: not smaller than raw"
    echo "lossless: $(wc -c < "$base.src.raw") bytes of bands identical to the source"
    rm -f "$base.tecv" "$base.dec.raw" "$base.src.raw"
    ;;
effort)
    raw=$1 base=$2
    ff -i "$raw" -c:v tec $ENC -effort 1 -threads 2 -f tecv -y "$base.tecv" ||
        fail "effort: encode failed"
    ff -i "$raw" -c:v tec $ENC -threads 2 -f tecv -y "$base.plain.tecv" ||
        fail "effort: encode without it failed"
    cmp -s "$base.tecv" "$base.plain.tecv" && fail "effort: the same bytes as -effort 0"
    echo "effort: stream md5 $(md5sum < "$base.tecv" | cut -d' ' -f1)"
    bands_crc $DEC -output bands -i "$base.tecv" || fail "effort: decode failed"
    rm -f "$base.tecv" "$base.plain.tecv"
    ;;
weighting)
    raw=$1 coded=$2 plain=$3 base=$4
    same_as_cli weighting "$raw" "$coded" "$base.tecv"
    same_as_cli weighting "$raw" "$plain" "$base.plain.tecv" -plain_spreads 1
    cmp -s "$coded" "$plain" &&
        fail "weighting: the keyframe was not weighted (the model's choice: see doc/design.md)"
    echo "weighting: identical to tec encode, with and without -plain_spreads 1; they differ"
    rm -f "$base.tecv" "$base.plain.tecv"
    ;;
predicted)
    raw=$1 coded=$2 plain=$3 base=$4
    same_as_cli predicted "$raw" "$coded" "$base.tecv"
    same_as_cli predicted "$raw" "$plain" "$base.plain.tecv" -no_prediction 1
    $TEC_CLI info --json "$coded" | grep -q '"keyframe": false, .*"type": "predicted"' ||
        fail "predicted: no predicted frame (the encoder's choice: see doc/design.md)"
    $TEC_CLI info --json "$plain" | grep -q '"type": "predicted"' &&
        fail "predicted: a predicted frame with -no_prediction 1"
    echo "predicted: identical to tec encode, with and without -no_prediction 1;" \
         "a predicted frame by default, none with it"
    rm -f "$base.tecv" "$base.plain.tecv"
    ;;
fill-clouds)
    coded=$1 base=$2
    ff $DEC -output bands -i "$coded" -f rawvideo -y "$base.raw" ||
        fail "fill: the plain decode failed"
    ff $DEC -fill_clouds 1 -output bands -i "$coded" -f rawvideo -y "$base.filled.raw" ||
        fail "fill: ffmpeg -fill_clouds 1 failed"
    $TEC_CLI decode -t 1 $CLI --fill-clouds "$coded" -o "$base.npy" ||
        fail "fill: tec decode --fill-clouds failed"
    n=$(wc -c < "$base.filled.raw")
    tail -c "$n" "$base.npy" | cmp -s - "$base.filled.raw" ||
        fail "fill: ffmpeg's filled bands differ from tec decode --fill-clouds"
    ! cmp -s "$base.raw" "$base.filled.raw" || fail "fill: -fill_clouds 1 changed nothing"
    echo "fill: $n bytes of bands identical to tec decode --fill-clouds"
    rm -f "$base.raw" "$base.filled.raw" "$base.npy"
    # each frame says how many pixels were filled, then the filled frames
    $FFPROBE -hide_banner -loglevel error $DEC -fill_clouds 1 \
        -show_entries frame_tags=tec_filled_pixels -of csv=p=0 "$coded" ||
        fail "fill: ffprobe failed"
    bands_crc $DEC -fill_clouds 1 -output bands -i "$coded"
    ;;
bands-vs-cli)
    coded=$1 base=$2
    ff $DEC -output bands -i "$coded" -f rawvideo -y "$base.raw" || fail "decode: ffmpeg failed"
    $TEC_CLI decode -t 1 $CLI "$coded" -o "$base.npy" || fail "decode: tec decode failed"
    n=$(wc -c < "$base.raw")
    # the .npy ends with the samples, little-endian, in the same order
    tail -c "$n" "$base.npy" | cmp -s - "$base.raw" ||
        fail "decode: ffmpeg's bands differ from tec decode's"
    echo "decode: $n bytes of bands identical to tec decode"
    rm -f "$base.raw" "$base.npy"
    ;;
encode-rawvideo)
    raw=$1 base=$2
    bands=$(rl "$raw" 2 16) width=$(rl "$raw" 4 18) height=$(rl "$raw" 4 22)
    size=${width}x$((bands * height))
    ff -i "$raw" -f rawvideo -y "$base.raw" || fail "rawvideo: export failed"
    ff -f rawvideo -pix_fmt gray16le -s "$size" -i "$base.raw" \
       -c:v tec $ENC -bands "$bands" -threads 1 -f tecv -y "$base.tecv" ||
        fail "rawvideo: encoding with -bands $bands failed"
    echo "rawvideo $size with -bands $bands: encoded"
    # the same samples give the same packets as from the raw .tecv
    ff -i "$base.tecv" -c copy -f framemd5 - | grep -v '^#'
    expect_refusal "rawvideo without -bands" "not tagged as stacked bands" \
        -f rawvideo -pix_fmt gray16le -s "$size" -i "$base.raw" -c:v tec $ENC -f null -
    expect_refusal "-bands not dividing the height" "not a multiple of" \
        -f rawvideo -pix_fmt gray16le -s "$size" -i "$base.raw" -c:v tec $ENC -bands 5 -f null -
    # an RGB picture made gray by FFmpeg's automatic conversion
    ff -i "$raw" -frames:v 1 -vf format=rgb48le -c:v png -f image2 -y "$base.png" ||
        fail "rawvideo: png export failed"
    expect_refusal "RGB picture converted to gray" "not tagged as stacked bands" \
        -i "$base.png" -c:v tec $ENC -f null -
    expect_refusal "scaled stacked bands" "does not match its layout tag" \
        -i "$raw" -vf scale=$((width / 2)):$((bands * height / 2)) -c:v tec $ENC -f null -
    expect_refusal "band count contradicting the tag" "holds $bands bands" \
        -i "$raw" -c:v tec $ENC -bands 1 -f null -
    rm -f "$base.raw" "$base.tecv" "$base.png"
    ;;
repeat-npy)
    # A .npy (version 1, 128-byte header, T first) of some of SRC's frames.
    src=$1 out=$2
    shift 2
    hlen=$((10 + $(rl "$src" 2 8)))
    dict=$(dd if="$src" bs=1 skip=10 count=$((hlen - 11)) 2>/dev/null)
    t=$(printf '%s' "$dict" | sed -n "s/.*'shape': (\([0-9]*\),.*/\1/p")
    [ -n "$t" ] && [ "$t" -gt 0 ] || fail "repeat-npy: $src is not a (T, ...) .npy"
    fsize=$(( ($(wc -c < "$src") - hlen) / t ))
    new=$(printf '%s' "$dict" | sed "s/'shape': ($t,/'shape': ($#,/")
    [ ${#new} = ${#dict} ] || fail "repeat-npy: $# frames change the header length"
    { head -c 10 "$src"; printf '%s\n' "$new"
      for k in "$@"; do tail -c +$((hlen + k * fsize + 1)) "$src" | head -c "$fsize"; done
    } > "$out"
    ;;
nodata-npy)
    # SRC (a .npy, T x C x H x W) with nodata 0 in the first 5 rows of every
    # band and frame, and in 7 samples of band 3 of frame 1 (row 30).
    src=$1 out=$2
    hlen=$((10 + $(rl "$src" 2 8)))
    dict=$(dd if="$src" bs=1 skip=10 count=$((hlen - 11)) 2>/dev/null)
    shape=$(printf '%s' "$dict" | sed -n "s/.*'shape': (\([0-9, ]*\)).*/\1/p" | tr -d ' ')
    t=${shape%%,*} rest=${shape#*,}
    c=${rest%%,*} rest=${rest#*,}
    h=${rest%%,*} w=${rest#*,}
    [ -n "$w" ] && [ "$h" -gt 30 ] && [ "$w" -gt 30 ] && [ "$t" -gt 1 ] && [ "$c" -gt 3 ] ||
        fail "nodata-npy: $src is not a (T, C, H, W) .npy big enough"
    cp "$src" "$out"
    plane=$((h * w * 2)) i=0
    while [ $i -lt $((t * c)) ]; do
        dd if=/dev/zero of="$out" bs=1 seek=$((hlen + i * plane)) count=$((5 * w * 2)) \
           conv=notrunc 2>/dev/null
        i=$((i + 1))
    done
    dd if=/dev/zero of="$out" bs=1 seek=$((hlen + (c + 3) * plane + 30 * w * 2 + 20)) count=14 \
       conv=notrunc 2>/dev/null
    ;;
cut)
    # What is left when a stream is cut after its first N packets: the
    # header (frame count and header CRC updated) and the packets after.
    src=$1 out=$2 n=$3
    first=$((16 + $(rl "$src" 4 8)))
    from=$(packet_pos "$src" "$n")
    frames=$(rl "$src" 8 26)
    head -c "$first" "$src" > "$out"
    [ "$frames" -gt 0 ] && {
        wl32 "$out" $((frames - n)) 26
        dd if="$out" bs=1 skip=16 count=$((first - 16)) 2>/dev/null > "$out.header"
        wl32 "$out" "$(crc32 "$out.header")" 12
        rm -f "$out.header"
    }
    tail -c +$((from + 1)) "$src" >> "$out"
    ;;
damage-crc)
    src=$1 out=$2 k=$3
    cp "$src" "$out"
    printf 'XXXX' | dd of="$out" bs=1 seek=$(($(packet_pos "$src" "$k") + 24 + 40)) \
        conv=notrunc 2>/dev/null
    ;;
lost-decode)
    # The frames that decode, then what the decoder and demuxer said (the
    # context's address taken out).
    file=$1
    $FFMPEG -nostdin -nostats -hide_banner -loglevel warning $DEC -output bands -i "$file" \
        -f framecrc - 2> "$file.log" | grep -v '^#'
    grep '^\[\(libtec\|tecv\) @' "$file.log" | sed 's/ @ 0x[0-9a-f]*\]/]/'
    rm -f "$file.log"
    ;;
seek)
    # ffmpeg -ss to frame K (frame-index timeline, 5 frames per second)
    # gives the frames the full decode gives from K on, bit for bit: seeking
    # lands on the keyframe at or before K and decodes from there.
    coded=$1
    shift
    bands_crc $DEC -output bands -i "$coded" | awk -F, '{ print $6 }' > "$coded.all"
    for k in "$@"; do
        ss=$(awk "BEGIN { printf \"%.1f\", $k / 5 }")
        bands_crc -ss "$ss" $DEC -output bands -i "$coded" > "$coded.seek" ||
            fail "seek: ffmpeg -ss $ss failed"
        tail -n +$((k + 1)) "$coded.all" > "$coded.tail"
        awk -F, '{ print $6 }' "$coded.seek" | cmp -s - "$coded.tail" ||
            { cat "$coded.seek"; fail "seek: -ss $ss differs from the full decode from frame $k on"; }
        echo "seek to frame $k (-ss $ss): $(wc -l < "$coded.seek") frames, identical to the full decode"
        cat "$coded.seek"
    done
    rm -f "$coded.all" "$coded.seek" "$coded.tail"
    ;;
threads)
    # The same bytes and samples with one and two threads.
    raw=$1 coded=$2 base=$3
    for t in 1 2; do
        ff -i "$raw" -c:v tec $ENC -threads $t -f tecv -y "$base-$t.tecv" ||
            fail "threads: encoding with -threads $t failed"
        bands_crc -threads $t $DEC -output bands -i "$coded" > "$base-$t.crc" ||
            fail "threads: decoding with -threads $t failed"
    done
    cmp -s "$base-1.tecv" "$base-2.tecv" || fail "threads: -threads 1 and 2 encode differently"
    echo "encode: -threads 1 and 2 give the same $(wc -c < "$base-1.tecv") bytes"
    cmp -s "$base-1.crc" "$base-2.crc" || fail "threads: -threads 1 and 2 decode differently"
    echo "decode: -threads 1 and 2 give the same $(wc -l < "$base-1.crc") frames"
    rm -f "$base-1.tecv" "$base-2.tecv" "$base-1.crc" "$base-2.crc"
    ;;
*)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
