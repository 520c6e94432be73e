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
# weights does not change the references.  libtec's arithmetic gives the
# same bits on every CPU (doc/design.md), so the references hold on any
# machine; the RGB composite's table comes from libm's pow (doc/ffmpeg.md).
#
# Inter coding (TEC-TT) is tested on an 8-frame series made of the
# fixture's frames 0 0 1 1 2 2 3 3 (dates 10 days apart), coded with
# -g 4 -context 2 with the committed vector-tt model
# (fate-tests/vectors/vector-tt.tecw: vector-sp's image model and a random
# temporal model): keyframes 0 and 4, every other frame inter.

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
TEC_META     = --dates 2017-06-20,2017-07-10,2017-10-15,2017-12-24 $(TEC_META_GEO)
TEC_META_GEO = --bands B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12 \
               --crs EPSG:32633 --geotransform 395720,10,0,4586320,0,-10 \
               --meta processing_level=L1C \
               --meta 'attribution=Contains modified Copernicus Sentinel data 2016-2022'
TEC_TT_NPY   = $(TEC_FDIR)/tec-liri8.npy
TEC_TT_RAW   = $(TEC_FDIR)/tec-liri8-raw.tecv
TEC_TT_CODED = $(TEC_FDIR)/tec-liri8-tt.tecv
TEC_TT_CUT   = $(TEC_FDIR)/tec-liri8-cut.tecv
TEC_TT_LOST  = $(TEC_FDIR)/tec-liri8-lost.tecv
TEC_TT_META  = --dates 2017-06-20,2017-06-30,2017-07-10,2017-07-20,2017-07-30,2017-08-09,2017-08-19,2017-08-29 \
               $(TEC_META_GEO)
TEC_ND_NPY   = $(TEC_FDIR)/tec-liri-nodata.npy
TEC_ND_RAW   = $(TEC_FDIR)/tec-liri-nodata-raw.tecv
TEC_ND_CODED = $(TEC_FDIR)/tec-liri-nodata.tecv
TEC_TT_WDIR  = $(TEC_ROOT)/fate-tests/vectors
TEC_TT_MODEL = $(TEC_TT_WDIR)/vector-tt.tecw
# The model for ffmpeg (decoder and encoder options) and for the tec tool.
TEC_DEC_OPTS = -weights_dir $(TEC_FDIR)
TEC_ENC_OPTS = -model fate-tiny -weights_dir $(TEC_FDIR)
TEC_CLI_OPTS = --weights-dir $(TEC_FDIR)
# The helper runs programs from the build directory.  (No single quotes in
# a CMD: FATE passes it to fate-run.sh in single quotes.)
TEC_RUN      = TARGET_EXEC="$(TARGET_EXEC)" TARGET_PATH="$(TARGET_PATH)" TEC_CLI="$(TEC_CLI)" \
               TEC_DEC_OPTS="$(TEC_DEC_OPTS)" TEC_ENC_OPTS="$(TEC_ENC_OPTS)" \
               TEC_CLI_OPTS="$(TEC_CLI_OPTS)" sh $(TEC_HELPER)
TEC_ND_RUN   = TARGET_EXEC="$(TARGET_EXEC)" TARGET_PATH="$(TARGET_PATH)" TEC_CLI="$(TEC_CLI)" \
               TEC_DEC_OPTS="$(TEC_DEC_OPTS)" TEC_ENC_OPTS="$(TEC_ENC_OPTS) -nodata 0" \
               TEC_CLI_OPTS="$(TEC_CLI_OPTS)" sh $(TEC_HELPER)
TEC_TT_DEC_OPTS = -weights_dir $(TEC_TT_WDIR)
# The temporal model alone (-no_prediction 1): predicted frames have their
# own tests (tec-predicted) with the shipped model.
TEC_TT_ENC_OPTS = -model vector-tt -weights_dir $(TEC_TT_WDIR) -g 4 -context 2 -no_prediction 1
TEC_TT_CLI_OPTS = --model vector-tt --weights-dir $(TEC_TT_WDIR) -g 4 --context 2 --no-prediction
TEC_TT_RUN   = TARGET_EXEC="$(TARGET_EXEC)" TARGET_PATH="$(TARGET_PATH)" TEC_CLI="$(TEC_CLI)" \
               TEC_DEC_OPTS="$(TEC_TT_DEC_OPTS)" TEC_ENC_OPTS="$(TEC_TT_ENC_OPTS)" \
               TEC_CLI_OPTS="--weights-dir $(TEC_TT_WDIR)" sh $(TEC_HELPER)

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
$(TEC_TT_NPY): $(TEC_NPY) $(TEC_HELPER) | $(TEC_FDIR)
	sh $(TEC_HELPER) repeat-npy $< $@ 0 0 1 1 2 2 3 3
$(TEC_TT_RAW): $(TEC_TT_NPY) $(TEC_CLI)
	$(TEC_CLI) encode --raw $(TEC_TT_META) -o $@ $<
$(TEC_TT_CODED): $(TEC_TT_NPY) $(TEC_CLI) $(TEC_TT_MODEL)
	$(TEC_CLI) encode -t 1 $(TEC_TT_CLI_OPTS) $(TEC_TT_META) -o $@ $<
$(TEC_ND_NPY): $(TEC_NPY) $(TEC_HELPER) | $(TEC_FDIR)
	sh $(TEC_HELPER) nodata-npy $< $@
$(TEC_ND_RAW): $(TEC_ND_NPY) $(TEC_CLI)
	$(TEC_CLI) encode --raw --nodata 0 $(TEC_META) -o $@ $<
$(TEC_ND_CODED): $(TEC_ND_NPY) $(TEC_CLI) $(TEC_MODEL)
	$(TEC_CLI) encode -t 1 --model fate-tiny $(TEC_CLI_OPTS) --nodata 0 $(TEC_META) -o $@ $<
# the stream cut after its keyframe: it starts with inter frame 1
$(TEC_TT_CUT): $(TEC_TT_CODED)
	sh $(TEC_HELPER) cut $< $@ 1
# inter frame 1 damaged: the demuxer skips it, frames 2 and 3 lose their reference
$(TEC_TT_LOST): $(TEC_TT_CODED)
	sh $(TEC_HELPER) damage-crc $< $@ 1

# Band weighting needs a model with the quality calibration that codes like
# a trained one (a tiny random model never gains by a narrowing): the
# shipped one, for the default coding and -plain_spreads 1, each checked
# against the tec tool's bytes rather than a checksum, so that retraining
# the weights leaves the reference as it is.
TEC_SHIPPED  = $(TEC_ROOT)/weights
TEC_W_CODED  = $(TEC_FDIR)/tec-liri-weighted.tecv
TEC_W_PLAIN  = $(TEC_FDIR)/tec-liri-plain.tecv
TEC_W_RUN    = TARGET_EXEC="$(TARGET_EXEC)" TARGET_PATH="$(TARGET_PATH)" TEC_CLI="$(TEC_CLI)" \
               TEC_DEC_OPTS="-weights_dir $(TEC_SHIPPED)" TEC_ENC_OPTS="-weights_dir $(TEC_SHIPPED)" \
               TEC_CLI_OPTS="--weights-dir $(TEC_SHIPPED)" sh $(TEC_HELPER)
$(TEC_W_CODED): $(TEC_NPY) $(TEC_CLI) | $(TEC_FDIR)
	$(TEC_CLI) encode -t 1 --weights-dir $(TEC_SHIPPED) $(TEC_META) -o $@ $<
$(TEC_W_PLAIN): $(TEC_NPY) $(TEC_CLI) | $(TEC_FDIR)
	$(TEC_CLI) encode -t 1 --weights-dir $(TEC_SHIPPED) --plain-spreads $(TEC_META) -o $@ $<

# Predicted frames, like band weighting, need a model that codes like a
# trained one (the shipped one): the liri series codes a predicted frame
# with it, by default and never with -no_prediction 1.
TEC_P_CODED  = $(TEC_FDIR)/tec-liri-predicted.tecv
TEC_P_PLAIN  = $(TEC_FDIR)/tec-liri-noprediction.tecv
$(TEC_P_CODED): $(TEC_NPY) $(TEC_CLI) | $(TEC_FDIR)
	$(TEC_CLI) encode -t 1 --weights-dir $(TEC_SHIPPED) $(TEC_META) -o $@ $<
$(TEC_P_PLAIN): $(TEC_NPY) $(TEC_CLI) | $(TEC_FDIR)
	$(TEC_CLI) encode -t 1 --weights-dir $(TEC_SHIPPED) --no-prediction $(TEC_META) -o $@ $<

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

# Inter coding.  Packets: keyframes 0 and 4 (flags K), the others inter;
# the decoded frames say I or P.
FATE_TEC_FFPROBE-$(call ALLYES, $(TEC_DEC_DEPS)) += fate-tec-inter-probe
fate-tec-inter-probe: $(TEC_TT_CODED)
fate-tec-inter-probe: CMD = run ffprobe$(PROGSSUF)$(EXESUF) -bitexact $(TEC_TT_DEC_OPTS) \
    -show_entries packet=pts,size,flags,data_hash:frame=pts,key_frame,pict_type:stream_tags=keyframe_interval \
    -show_data_hash CRC32 $(TEC_TT_CODED)

# Encode with -g 4 -context 2 ...
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS)) += fate-tec-inter-encode
fate-tec-inter-encode: $(TEC_TT_RAW) $(TEC_TT_MODEL)
fate-tec-inter-encode: CMD = md5 -i $(TEC_TT_RAW) -c:v tec $(TEC_TT_ENC_OPTS) -threads 1 -f tecv

# ... the same file as tec encode -g 4 --context 2
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS)) += fate-tec-inter-encode-cli
fate-tec-inter-encode-cli: $(TEC_TT_RAW) $(TEC_TT_CODED)
fate-tec-inter-encode-cli: CMD = $(TEC_TT_RUN) encode-vs-cli $(TEC_TT_RAW) $(TEC_TT_CODED) $(TEC_FDIR)/tec-inter-encode-cli.tecv

# Decode: every band (bit-identical to tec decode) and the RGB composite
# (what ffplay shows).
FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) FRAMECRC_MUXER) += fate-tec-inter-decode
fate-tec-inter-decode: $(TEC_TT_CODED)
fate-tec-inter-decode: CMD = framecrc $(TEC_TT_DEC_OPTS) -output bands -i $(TEC_TT_CODED)

FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) RAWVIDEO_MUXER) += fate-tec-inter-decode-cli
fate-tec-inter-decode-cli: $(TEC_TT_CODED)
fate-tec-inter-decode-cli: CMD = $(TEC_TT_RUN) bands-vs-cli $(TEC_TT_CODED) $(TEC_FDIR)/tec-inter-decode-cli

FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) FRAMECRC_MUXER) += fate-tec-inter-decode-rgb
fate-tec-inter-decode-rgb: $(TEC_TT_CODED)
fate-tec-inter-decode-rgb: CMD = framecrc $(TEC_TT_DEC_OPTS) -i $(TEC_TT_CODED)

# One and two threads: the same bytes, the same samples.
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS) FRAMECRC_MUXER) += fate-tec-inter-threads
fate-tec-inter-threads: $(TEC_TT_RAW) $(TEC_TT_CODED)
fate-tec-inter-threads: CMD = $(TEC_TT_RUN) threads $(TEC_TT_RAW) $(TEC_TT_CODED) $(TEC_FDIR)/tec-inter-threads

# -ss to keyframe 4, to inter frame 5 (decoded from keyframe 4) and to 7:
# the frames of the full decode from there on.
FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) FRAMECRC_MUXER) += fate-tec-inter-seek
fate-tec-inter-seek: $(TEC_TT_CODED)
fate-tec-inter-seek: CMD = $(TEC_TT_RUN) seek $(TEC_TT_CODED) 4 5 7

FATE_TEC-$(call ALLYES, TECV_DEMUXER TECV_MUXER FILE_PROTOCOL) += fate-tec-inter-remux
fate-tec-inter-remux: $(TEC_TT_CODED)
fate-tec-inter-remux: CMD = $(TEC_TT_RUN) remux $(TEC_TT_CODED) $(TEC_FDIR)/tec-inter-remux.tecv

# A stream that starts with an inter frame: frames 1-3 of the series are
# lost (and named), decoding starts at the keyframe, frames 4-7 as in
# tec-inter-decode.
FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) FRAMECRC_MUXER) += fate-tec-inter-cut
fate-tec-inter-cut: $(TEC_TT_CUT)
fate-tec-inter-cut: CMD = $(TEC_TT_RUN) lost-decode $(TEC_TT_CUT)

# A corrupt inter packet costs that frame and the inter frames after it
# until the next keyframe: frames 0 and 4-7 as in tec-inter-decode.
FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) FRAMECRC_MUXER) += fate-tec-inter-lost
fate-tec-inter-lost: $(TEC_TT_LOST)
fate-tec-inter-lost: CMD = $(TEC_TT_RUN) lost-decode $(TEC_TT_LOST)

# Lossless (-max_error 0): the residual layer gives back every sample of
# the raw source (test_error_bound.sh checks the bound for other values).
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS) $(TEC_DEC_DEPS) RAWVIDEO_MUXER) += fate-tec-lossless
fate-tec-lossless: $(TEC_RAW) $(TEC_MODEL)
fate-tec-lossless: CMD = $(TEC_RUN) lossless $(TEC_RAW) $(TEC_FDIR)/tec-lossless

# Latent refinement (-effort 1): another stream than without it, the same
# bytes on every run (its checksum), decoding like any other.
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS) $(TEC_DEC_DEPS) FRAMECRC_MUXER) += fate-tec-effort
fate-tec-effort: $(TEC_RAW) $(TEC_MODEL)
fate-tec-effort: CMD = $(TEC_RUN) effort $(TEC_RAW) $(TEC_FDIR)/tec-effort

# Band weighting: ffmpeg writes tec encode's bytes by default and with
# -plain_spreads 1, and the two differ (the keyframe was weighted).
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS)) += fate-tec-weighting
fate-tec-weighting: $(TEC_RAW) $(TEC_W_CODED) $(TEC_W_PLAIN)
fate-tec-weighting: CMD = $(TEC_W_RUN) weighting $(TEC_RAW) $(TEC_W_CODED) $(TEC_W_PLAIN) $(TEC_FDIR)/tec-weighting

# Predicted frames: ffmpeg writes tec encode's bytes by default and with
# -no_prediction 1, the default stream has a predicted frame (not a
# keyframe) and the other none, and ffmpeg decodes it to tec decode's bands.
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS)) += fate-tec-predicted
fate-tec-predicted: $(TEC_RAW) $(TEC_P_CODED) $(TEC_P_PLAIN)
fate-tec-predicted: CMD = $(TEC_W_RUN) predicted $(TEC_RAW) $(TEC_P_CODED) $(TEC_P_PLAIN) $(TEC_FDIR)/tec-predicted
FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) RAWVIDEO_MUXER) += fate-tec-predicted-decode-cli
fate-tec-predicted-decode-cli: $(TEC_P_CODED)
fate-tec-predicted-decode-cli: CMD = $(TEC_W_RUN) bands-vs-cli $(TEC_P_CODED) $(TEC_FDIR)/tec-predicted-decode-cli

# Nodata (-nodata 0): the packets carry the mask section; the same file as
# tec encode --nodata 0, and the decode the same bands as tec decode (whose
# nodata status test_nodata.sh checks sample by sample).
FATE_TEC-$(call ALLYES, $(TEC_ENC_DEPS)) += fate-tec-nodata-encode-cli
fate-tec-nodata-encode-cli: $(TEC_ND_RAW) $(TEC_ND_CODED)
fate-tec-nodata-encode-cli: CMD = $(TEC_ND_RUN) encode-vs-cli $(TEC_ND_RAW) $(TEC_ND_CODED) $(TEC_FDIR)/tec-nodata-encode-cli.tecv

FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) RAWVIDEO_MUXER) += fate-tec-nodata-decode-cli
fate-tec-nodata-decode-cli: $(TEC_ND_CODED)
fate-tec-nodata-decode-cli: CMD = $(TEC_RUN) bands-vs-cli $(TEC_ND_CODED) $(TEC_FDIR)/tec-nodata-decode-cli

# Cloud filling (-fill_clouds 1) of a committed stream with cloud masks
# (fate-tests/vectors/clouds.tecv, vector-tt, masks on frames 1-3): the
# bands of tec decode --fill-clouds, each frame's filled pixels
# (tec_filled_pixels) and the framecrc of the filled frames.
TEC_CLOUDS = $(TEC_TT_WDIR)/clouds.tecv
FATE_TEC-$(call ALLYES, $(TEC_DEC_DEPS) FRAMECRC_MUXER RAWVIDEO_MUXER) += fate-tec-fill-clouds
fate-tec-fill-clouds: $(TEC_CLOUDS) $(TEC_TT_MODEL) | $(TEC_FDIR)
fate-tec-fill-clouds: CMD = $(TEC_TT_RUN) fill-clouds $(TEC_CLOUDS) $(TEC_FDIR)/tec-fill-clouds

FATE_TEC_ALL = $(FATE_TEC-yes) $(FATE_TEC_FFPROBE-yes)
$(FATE_TEC_ALL): REF = $(TEC_REFDIR)/$(@:fate-%=%)

FATE_FFMPEG += $(FATE_TEC-yes)
FATE_FFPROBE += $(FATE_TEC_FFPROBE-yes)

fate-tec: $(FATE_TEC_ALL)
