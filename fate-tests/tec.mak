# FATE tests of TerraCodec's FFmpeg glue (doc/ffmpeg.md).
#
# libavcodec-tec/ffmpeg/register.sh puts a stub into the FFmpeg tree
# (tests/fate/tec.mak: sets TEC_ROOT and includes this file) and includes
# it from tests/Makefile, so the tests, references and fixtures stay here:
#   make fate-tec            run them all (from the FFmpeg build directory)
#   make fate-tec GEN=1      regenerate the references in fate-tests/ref/fate/
#   make fate-list | grep tec-
#
# Fixtures are made at test time by the tec tool from
# fate-tests/data/liri_t4_64.npy (4 acquisitions x 13 bands x 64 x 64, dates
# and geo-metadata from liri_t4_64.json): a raw .tecv and a tec-coded one.
# They are coded with fate-tiny, a small random model made by the unit tests'
# generator (fate-tests/unit/tecw_gen.h), so that retraining the shipped
# weights does not change the references.  The decoded frames come from float
# synthesis: their CRCs hold for the same machine type and build (x86-64
# here), see doc/ffmpeg.md.

TEC_CLI      = $(TEC_ROOT)/tools/tec
TEC_HELPER   = $(TEC_ROOT)/libavcodec-tec/ffmpeg/fate-tec.sh
TEC_REFDIR   = $(TEC_ROOT)/fate-tests/ref/fate
TEC_NPY      = $(TEC_ROOT)/fate-tests/data/liri_t4_64.npy
TEC_FDIR     = tests/data/fate
TEC_MODEL    = $(TEC_FDIR)/fate-tiny.tecw
TEC_RAW      = $(TEC_FDIR)/tec-liri-raw.tecv
TEC_CODED    = $(TEC_FDIR)/tec-liri.tecv
TEC_DAMAGED  = $(TEC_FDIR)/tec-liri-raw-damaged.tecv
TEC_BADPAY   = $(TEC_FDIR)/tec-liri-damaged.tecv
TEC_META     = --dates 2017-06-20,2017-07-10,2017-10-15,2017-12-24 \
               --bands B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12 \
               --crs EPSG:32633 --geotransform 395720,10,0,4586320,0,-10 \
               --meta processing_level=L1C \
               --meta 'attribution=Contains modified Copernicus Sentinel data 2016-2022'
# The model for ffmpeg (decoder and encoder options) and for the tec tool.
TEC_DEC_OPTS = -weights_dir $(TEC_FDIR)
TEC_ENC_OPTS = -model fate-tiny -weights_dir $(TEC_FDIR)
TEC_CLI_OPTS = --weights-dir $(TEC_FDIR)
# The helper runs programs from the build directory.  (No single quotes in
# a CMD: FATE passes it to fate-run.sh in single quotes.)
TEC_RUN      = TARGET_EXEC="$(TARGET_EXEC)" TARGET_PATH="$(TARGET_PATH)" TEC_CLI="$(TEC_CLI)" \
               TEC_DEC_OPTS="$(TEC_DEC_OPTS)" TEC_ENC_OPTS="$(TEC_ENC_OPTS)" \
               TEC_CLI_OPTS="$(TEC_CLI_OPTS)" sh $(TEC_HELPER)

$(TEC_FDIR)/fate-tecw$(HOSTEXESUF): $(TEC_ROOT)/libavcodec-tec/ffmpeg/fate-tecw.c \
                                   $(TEC_ROOT)/fate-tests/unit/tecw_gen.h | $(TEC_FDIR)
	$(HOSTCC) -std=c11 -O1 -I$(TEC_ROOT)/fate-tests/unit -o $@ $< -lzstd -lm
$(TEC_MODEL): $(TEC_FDIR)/fate-tecw$(HOSTEXESUF)
	$(TEC_FDIR)/fate-tecw$(HOSTEXESUF) $(TEC_FDIR)
$(TEC_RAW): $(TEC_NPY) $(TEC_CLI) | $(TEC_FDIR)
	$(TEC_CLI) encode --raw $(TEC_META) -o $@ $<
$(TEC_CODED): $(TEC_NPY) $(TEC_CLI) $(TEC_MODEL)
	$(TEC_CLI) encode -t 1 --model fate-tiny $(TEC_CLI_OPTS) $(TEC_META) -o $@ $<
$(TEC_DAMAGED): $(TEC_RAW)
	sh $(TEC_HELPER) damage $< $@
$(TEC_BADPAY): $(TEC_CODED)
	sh $(TEC_HELPER) damage-payload $< $@

TEC_DEC_DEPS = LIBTEC_DECODER TECV_DEMUXER FILE_PROTOCOL
TEC_ENC_DEPS = LIBTEC_ENCODER TECV_MUXER RAWVIDEO_DECODER TECV_DEMUXER FILE_PROTOCOL

# Probe: stream description, container metadata, each frame's date.
FATE_TEC_FFPROBE-$(call ALLYES, $(TEC_DEC_DEPS)) += fate-tec-probe
fate-tec-probe: $(TEC_CODED)
fate-tec-probe: CMD = run ffprobe$(PROGSSUF)$(EXESUF) -bitexact -print_filename tec-liri.tecv \
    -show_format -show_streams -show_frames $(TEC_DEC_OPTS) $(TEC_CODED)

FATE_TEC_FFPROBE-$(call ALLYES, TECV_DEMUXER RAWVIDEO_DECODER FILE_PROTOCOL) += fate-tec-probe-raw
fate-tec-probe-raw: $(TEC_RAW)
fate-tec-probe-raw: CMD = run ffprobe$(PROGSSUF)$(EXESUF) -bitexact -print_filename tec-liri-raw.tecv \
    -show_format -show_streams -show_packets -show_data_hash CRC32 $(TEC_RAW)

# Encode a raw .tecv (bands tagged by the demuxer, no -bands).
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS)) += fate-tec-encode
fate-tec-encode: $(TEC_RAW) $(TEC_MODEL)
fate-tec-encode: CMD = md5 -i $(TEC_RAW) -c:v tec $(TEC_ENC_OPTS) -threads 1 -f tecv

# ... gives the same file as the tec tool.
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS)) += fate-tec-encode-cli
fate-tec-encode-cli: $(TEC_RAW) $(TEC_CODED)
fate-tec-encode-cli: CMD = $(TEC_RUN) encode-vs-cli $(TEC_RAW) $(TEC_CODED) $(TEC_FDIR)/tec-encode-cli.tecv

# -f rawvideo input with -bands; an untagged input without it is refused.
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS) RAWVIDEO_DEMUXER RAWVIDEO_MUXER NULL_MUXER) += fate-tec-encode-rawvideo
fate-tec-encode-rawvideo: $(TEC_RAW) $(TEC_MODEL)
fate-tec-encode-rawvideo: CMD = $(TEC_RUN) encode-rawvideo $(TEC_RAW) $(TEC_FDIR)/tec-encode-rawvideo

# Decode: every band (bit-identical to tec decode) and the RGB composite.
FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) FRAMECRC_MUXER) += fate-tec-decode-bands
fate-tec-decode-bands: $(TEC_CODED)
fate-tec-decode-bands: CMD = framecrc $(TEC_DEC_OPTS) -output bands -i $(TEC_CODED)

FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) RAWVIDEO_MUXER) += fate-tec-decode-bands-cli
fate-tec-decode-bands-cli: $(TEC_CODED)
fate-tec-decode-bands-cli: CMD = $(TEC_RUN) bands-vs-cli $(TEC_CODED) $(TEC_FDIR)/tec-decode-bands-cli

FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) FRAMECRC_MUXER) += fate-tec-decode-rgb
fate-tec-decode-rgb: $(TEC_CODED)
fate-tec-decode-rgb: CMD = framecrc $(TEC_DEC_OPTS) -i $(TEC_CODED)

# Remux: -c copy gives back the same bytes, coded and raw.
FATE_TEC-$(call ALLYES, TECV_DEMUXER TECV_MUXER FILE_PROTOCOL) += fate-tec-remux
fate-tec-remux: $(TEC_CODED)
fate-tec-remux: CMD = $(TEC_RUN) remux $(TEC_CODED) $(TEC_FDIR)/tec-remux.tecv

FATE_TEC_FFPROBE-$(call ALLYES, TECV_DEMUXER TECV_MUXER FILE_PROTOCOL) += fate-tec-bands-meta
fate-tec-bands-meta: $(TEC_CODED)
fate-tec-bands-meta: CMD = $(TEC_RUN) bands-meta $(TEC_CODED) $(TEC_FDIR)/tec-bands-meta.tecv

FATE_TEC-$(call ALLYES, TECV_DEMUXER TECV_MUXER FILE_PROTOCOL) += fate-tec-remux-raw
fate-tec-remux-raw: $(TEC_RAW)
fate-tec-remux-raw: CMD = $(TEC_RUN) remux $(TEC_RAW) $(TEC_FDIR)/tec-remux-raw.tecv

# A damaged packet costs that frame only.
FATE_TEC-$(call ALLYES, TECV_DEMUXER RAWVIDEO_DECODER FRAMECRC_MUXER FILE_PROTOCOL) += fate-tec-damaged
fate-tec-damaged: $(TEC_DAMAGED)
fate-tec-damaged: CMD = framecrc -i $(TEC_DAMAGED)

# A frame that fails to decode is an error for that frame only: frames 0
# and 3 come out as in tec-decode-bands.
FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) FRAMECRC_MUXER) += fate-tec-damaged-payload
fate-tec-damaged-payload: $(TEC_BADPAY)
fate-tec-damaged-payload: CMD = framecrc $(TEC_DEC_OPTS) -output bands -i $(TEC_BADPAY)

FATE_TEC_ALL = $(FATE_TEC-yes) $(FATE_TEC_FFPROBE-yes)
$(FATE_TEC_ALL): REF = $(TEC_REFDIR)/$(@:fate-%=%)

FATE_FFMPEG += $(FATE_TEC-yes)
FATE_FFPROBE += $(FATE_TEC_FFPROBE-yes)

fate-tec: $(FATE_TEC_ALL)
