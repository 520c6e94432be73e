/* libFuzzer target for the decoder.
 *
 * At start-up it takes the model in $TEC_FUZZ_MODEL (a .tecw path) or
 * generates a tiny one, encodes one frame for each of three stream layouts
 * and opens a decoder per layout.  Input: u8 mode, then data.
 *   mode & 3   layout: 0 = 1x1 with 13 bands, 1 = 40x24 with 3 unnamed
 *              bands (three groups), 2 = 600x40 with 12 bands (2 blocks),
 *              lossless (the residual section), 3 = 48x40 with 13 bands and
 *              nodata 0 (an edge in every band, 3 pixels further in band 0,
 *              scattered samples in band 3: packets with the mask section)
 *              and max error 2
 *   mode & 4   data is a sequence header: parse it, open a decoder
 *   mode & 8   data is XORed onto the layout's valid packet (near-valid
 *              packets reach the entropy decoder and the synthesis)
 *   mode & 16  inter frames (TEC-TT): a sequence of packets for a stream
 *              with a temporal model; mode & 1 picks the stream: 0 =
 *              fate-tests/vectors/tt.tecv (56x40, 13 bands: a keyframe and
 *              3 inter frames), 1 = a stream coded here with its model
 *              (6 frames, 13 bands of 8x520: three block rows; keyframes 0
 *              and 4; cloud masks on frames 1, 2, 3 and 5).
 *              mode & 32: a decoder that fills clouds (fill_clouds) decodes
 *              the operations instead; its frames must decode, their
 *              samples are not compared.
 *              The decoder starts afresh (flush), then each operation byte
 *              op is followed by its arguments:
 *                op % 4 == 0  send the stream's packet op/4 (modulo count)
 *                op % 4 == 1  the same, XORed with n bytes (u8 n, u16
 *                             offset, the n bytes)
 *                op % 4 == 2  send a packet of its own (u16 size, bytes)
 *                op % 4 == 3  flush (a seek)
 *              Unmodified packets sent in order from a keyframe must decode,
 *              to the same samples as the stream decoded from its start.
 *              Model and stream: $TEC_FUZZ_TT_MODEL, $TEC_FUZZ_TT_STREAM;
 *              by default under fate-tests/vectors/ (the fuzzer runs from
 *              the source tree); without them the mode does nothing.
 *   otherwise  data is a packet for the layout's decoder
 * Every call must return 0 or an error code, never crash or leak.
 *
 * make check-fuzz builds it; or by hand:
 *   clang -fsanitize=fuzzer,address,undefined -Ilibavcodec-tec/include \
 *       -Ilibavcodec-tec/src libavcodec-tec/src/\*.c fate-tests/fuzz/fuzz_decoder.c \
 *       -lzstd -lm -lpthread
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tec/tec.h"
#include "seqheader.h"
#include "../unit/bilinear.h"
#include "../unit/tecw_gen.h"

#define LAYOUTS 4

typedef struct Layout {
    int bands, width, height, nodata, error_bound;
    uint8_t *header, *packet;
    size_t header_size, packet_size;
    TecDecoder *dec;
} Layout;

static Layout layouts[LAYOUTS] = {
    { 13, 1, 1, 0, 0, NULL, NULL, 0, 0, NULL },
    { 3, 40, 24, 0, 0, NULL, NULL, 0, 0, NULL },
    { 12, 600, 40, 0, 1, NULL, NULL, 0, 0, NULL },
    { 13, 48, 40, 1, 3, NULL, NULL, 0, 0, NULL },
};
static char model_dir[512], model_name[128];

/* mode & 16: streams with inter frames. */
#define TT_STREAMS 2
#define TT_MAX_PACKETS 8
#define TT_MAX_OPS 12

typedef struct TtStream {
    uint8_t *header;
    size_t header_size;
    int n;
    uint8_t *packet[TT_MAX_PACKETS];
    size_t packet_size[TT_MAX_PACKETS];
    int key[TT_MAX_PACKETS];
    uint32_t hash[TT_MAX_PACKETS];  /* of the samples, decoded from the start */
    TecDecoder *dec, *fill_dec;
} TtStream;

static TtStream tt_streams[TT_STREAMS];
static char tt_dir[512], tt_name[128];

/* Removes the generated model when the fuzzer exits. */
static void remove_generated(void)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s.tecw", model_dir, model_name);
    remove(path);
    rmdir(model_dir);
}

/* The model's directory and name, from $TEC_FUZZ_MODEL or generated. */
static int find_model(void)
{
    const char *path = getenv("TEC_FUZZ_MODEL");
    if (path && *path) {
        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        size_t len = strlen(base);
        if (len < 6 || strcmp(base + len - 5, ".tecw") || len - 5 >= sizeof(model_name))
            return -1;
        snprintf(model_name, sizeof(model_name), "%.*s", (int)(len - 5), base);
        snprintf(model_dir, sizeof(model_dir), "%.*s", slash ? (int)(slash - path) : 1,
                 slash ? path : ".");
        return 0;
    }
    snprintf(model_dir, sizeof(model_dir), "/tmp/tec-fuzz-XXXXXX");
    if (!mkdtemp(model_dir))
        return -1;
    TecwGenParams p = tecw_gen_defaults();
    p.name = "fuzz-tiny";
    /* the shipped model's layout: 2 stages, per-frame statistics, skip,
     * channel and checkerboard context */
    p.levels = 2;
    p.frame_norm = 1;
    p.skip = 1;
    p.ctx_groups = 4;
    p.ctx_hidden = 6;
    p.ctx_spatial = 1;
    snprintf(model_name, sizeof(model_name), "%s", p.name);
    atexit(remove_generated);
    return tecw_write(model_dir, &p);
}

static int prepare(Layout *l)
{
    TecEncoderSettings s;
    tec_encoder_default_settings(&s);
    s.bands = l->bands;
    s.width = l->width;
    s.height = l->height;
    s.model = model_name;
    s.weights_dir = model_dir;
    s.threads = 1;
    s.has_nodata = l->nodata;
    s.error_bound = l->error_bound;
    TecEncoder *enc;
    if (tec_encoder_open(&enc, &s) < 0)
        return -1;
    const size_t n = (size_t)l->bands * l->width * l->height;
    uint16_t *frame = malloc(n * sizeof(uint16_t));
    /* Bands 1 and 2 replicated (2 x 2 blocks; 6-row blocks and irregular
     * columns) and band 3 interpolated, so that the packets carry the
     * sections of replicated blocks and interpolated bands. */
    for (int b = 0; b < l->bands; b++)
        for (int y = 0; y < l->height; y++)
            for (int x = 0; x < l->width; x++) {
                const size_t sy = b == 1 ? y / 2 : b == 2 ? y / 6 : y;
                const size_t sx = b == 1 ? x / 2 : b == 2 ? (size_t)x * x / 97 : x;
                const size_t i = ((size_t)b * l->height + sy) * l->width + sx;
                frame[((size_t)b * l->height + y) * l->width + x] =
                    b == 3 ? bilinear_sample(y, x) : (uint16_t)(1000 + (i * 37) % 3000);
                if (l->nodata && (2 * x + y < 20 + (b == 0 ? 6 : 0) ||
                                  (b == 3 && (x * 7 + y * 13) % 29 == 0)))
                    frame[((size_t)b * l->height + y) * l->width + x] = 0;
            }
    TecPicture pic = { frame, l->width, (ptrdiff_t)l->width * l->height, l->bands, l->width,
                       l->height, 0, 0, NULL };
    TecPacket pkt;
    const uint8_t *hdr;
    int ret = tec_encoder_send_frame(enc, &pic);
    if (!ret)
        ret = tec_encoder_receive_packet(enc, &pkt);
    if (!ret)
        ret = tec_encoder_get_header(enc, &hdr, &l->header_size);
    if (!ret) {
        l->header = malloc(l->header_size);
        l->packet = malloc(pkt.size);
        memcpy(l->header, hdr, l->header_size);
        memcpy(l->packet, pkt.data, pkt.size);
        l->packet_size = pkt.size;
    }
    free(frame);
    tec_encoder_close(&enc);
    if (ret < 0)
        return ret;
    TecDecoderSettings ds;
    tec_decoder_default_settings(&ds);
    ds.weights_dir = model_dir;
    ds.threads = 1;
    return tec_decoder_open(&l->dec, &ds, l->header, l->header_size);
}

/* FNV-1a of a picture's samples. */
static uint32_t picture_hash(const TecPicture *pic)
{
    uint32_t h = 2166136261u;
    for (int b = 0; b < pic->bands; b++)
        for (int y = 0; y < pic->height; y++) {
            const uint16_t *row = pic->data + b * pic->band_stride + y * pic->stride;
            for (int x = 0; x < pic->width; x++)
                h = (h ^ row[x]) * 16777619u;
        }
    return h;
}

static int tt_add_packet(TtStream *t, const uint8_t *data, size_t size, int key)
{
    if (t->n >= TT_MAX_PACKETS || !(t->packet[t->n] = malloc(size ? size : 1)))
        return -1;
    memcpy(t->packet[t->n], data, size);
    t->packet_size[t->n] = size;
    t->key[t->n++] = key;
    return 0;
}

/* The packets of a .tecv file. */
static int tt_read_stream(TtStream *t, const char *path)
{
    TecvReader *r = NULL;
    const uint8_t *data;
    size_t size;
    int64_t time_ms;
    int flags, ret = tec_tecv_open_read(&r, path);
    if (ret == 0) {
        const TecvInfo *info = tec_tecv_info(r);
        t->header_size = info->seq_header_size;
        ret = info->codec == TEC_CODEC_TEC && (t->header = malloc(t->header_size)) ? 0 : -1;
        if (!ret)
            memcpy(t->header, info->seq_header, t->header_size);
        while (!ret && (ret = tec_tecv_read_packet(r, &data, &size, &time_ms, &flags)) == 0)
            ret = tt_add_packet(t, data, size, flags & TECV_FLAG_KEY);
        if (ret == TEC_EOF)
            ret = 0;
    }
    tec_tecv_close_read(&r);
    return ret;
}

/* A stream of 6 frames (pairs of near-repeats, so that the blocks go
 * inter) of 13 bands of 8 x 520: three block rows (the last one latent row
 * high), each inter, so that references are kept per block row; keyframes
 * 0 and 4. */
static int tt_code_stream(TtStream *t)
{
    enum { B = 13, W = 8, H = 520, T = 6 };
    TecEncoderSettings s;
    tec_encoder_default_settings(&s);
    s.bands = B;
    s.width = W;
    s.height = H;
    s.model = tt_name;
    s.weights_dir = tt_dir;
    s.threads = 1;
    s.keyframe_interval = 4;
    s.context_frames = 2;
    TecEncoder *enc;
    if (tec_encoder_open(&enc, &s) < 0)
        return -1;
    uint16_t *frame = malloc((size_t)B * W * H * sizeof(uint16_t));
    uint8_t clouds[W * H];
    int ret = frame ? 0 : -1;
    for (int f = 0; !ret && f <= T; f++) {
        /* A cloud over rows that move from frame to frame. */
        for (int i = 0; i < W * H; i++)
            clouds[i] = i / W >= 60 * f && i / W < 60 * f + 200 && (i % W) != f;
        if (f < T && f % 4 && tec_encoder_set_cloud_mask(enc, clouds, W) < 0)
            ret = -1;
        for (size_t i = 0; i < (size_t)B * W * H; i++)
            frame[i] = (uint16_t)(800 + (i * 37 + (i / (W * 7)) * 11) % 2500 + (f / 2) * 40 +
                                  (f & 1) * (i % 3));
        TecPicture pic = { frame, W, (ptrdiff_t)W * H, B, W, H, 86400000LL * 10 * f, 1, NULL };
        TecPacket pkt;
        ret = tec_encoder_send_frame(enc, f < T ? &pic : NULL);
        while (ret >= 0 && (ret = tec_encoder_receive_packet(enc, &pkt)) == 0)
            ret = tt_add_packet(t, pkt.data, pkt.size, pkt.keyframe);
        if (ret == TEC_EAGAIN || ret == TEC_EOF)
            ret = 0;
    }
    const uint8_t *hdr;
    if (!ret && !(ret = tec_encoder_get_header(enc, &hdr, &t->header_size))) {
        t->header = malloc(t->header_size);
        if (t->header)
            memcpy(t->header, hdr, t->header_size);
        else
            ret = -1;
    }
    free(frame);
    tec_encoder_close(&enc);
    return ret;
}

/* The inter streams and their decoders; each stream decoded once from the
 * start for the hashes.  0, or -1 when the model or stream is missing. */
static int tt_prepare(void)
{
    const char *model = getenv("TEC_FUZZ_TT_MODEL");
    const char *stream = getenv("TEC_FUZZ_TT_STREAM");
    if (!model || !*model)
        model = "fate-tests/vectors/vector-tt.tecw";
    if (!stream || !*stream)
        stream = "fate-tests/vectors/tt.tecv";
    const char *slash = strrchr(model, '/');
    const char *base = slash ? slash + 1 : model;
    size_t len = strlen(base);
    if (len < 6 || strcmp(base + len - 5, ".tecw") || len - 5 >= sizeof(tt_name))
        return -1;
    snprintf(tt_name, sizeof(tt_name), "%.*s", (int)(len - 5), base);
    snprintf(tt_dir, sizeof(tt_dir), "%.*s", slash ? (int)(slash - model) : 1,
             slash ? model : ".");
    if (access(model, R_OK) || tt_read_stream(&tt_streams[0], stream) < 0 ||
        tt_code_stream(&tt_streams[1]) < 0)
        return -1;
    for (int i = 0; i < TT_STREAMS; i++) {
        TtStream *t = &tt_streams[i];
        TecDecoderSettings ds;
        tec_decoder_default_settings(&ds);
        ds.weights_dir = tt_dir;
        ds.threads = 1;
        if (t->n < 2 || !t->key[0] || tec_decoder_open(&t->dec, &ds, t->header, t->header_size))
            return -1;
        ds.fill_clouds = 1;
        if (tec_decoder_open(&t->fill_dec, &ds, t->header, t->header_size))
            return -1;
        for (int k = 0; k < t->n; k++) {
            TecPicture pic;
            if (tec_decoder_send_packet(t->dec, t->packet[k], t->packet_size[k], 0, 0) ||
                tec_decoder_receive_frame(t->dec, &pic))
                return -1;
            t->hash[k] = picture_hash(&pic);
        }
    }
    return 0;
}

/* Send one packet of an inter stream; `in_order`: an unmodified packet whose
 * frames before it since its keyframe were decoded, which must decode to
 * the samples it has in a decode from the start. */
static int tt_send(TtStream *t, TecDecoder *dec, const uint8_t *data, size_t size, int in_order,
                   int k)
{
    int ret = tec_decoder_send_packet(dec, data ? data : (const uint8_t *)"", size, 0, 0);
    TecPicture pic;
    if (ret == 0) {
        if (tec_decoder_receive_frame(dec, &pic) != 0)
            abort();  /* a decoded packet must yield its frame */
        if (dec == t->fill_dec) {
            /* Every byte of the filled mask is read (the sanitizers watch). */
            const uint8_t *mask;
            const int64_t filled = tec_decoder_get_filled(dec, &mask, NULL);
            int64_t count = 0;
            for (int i = 0; mask && i < pic.width * pic.height; i++)
                count += mask[i];
            if (count != (mask ? filled : 0))
                abort();
        } else if (in_order && picture_hash(&pic) != t->hash[k]) {
            abort();  /* a frame decodes to the same bits from its keyframe on */
        }
        return 0;
    }
    if (in_order || (ret != TEC_EBITSTREAM && ret != TEC_EUNSUPPORTED))
        abort();
    return ret;
}

static uint32_t take(const uint8_t **data, size_t *size, int bytes)
{
    uint32_t v = 0;
    for (int i = 0; i < bytes && *size; i++, (*data)++, (*size)--)
        v |= (uint32_t)**data << (8 * i);
    return v;
}

static void tt_run(TtStream *t, int fill, const uint8_t *data, size_t size)
{
    int next = -1;  /* the packet that continues the stream in order */
    TecDecoder *dec = fill ? t->fill_dec : t->dec;
    if (!dec)
        return;
    tec_decoder_flush(dec);
    for (int ops = 0; size && ops < TT_MAX_OPS; ops++) {
        const unsigned op = take(&data, &size, 1);
        const int k = (int)(op / 4) % t->n;
        if (op % 4 == 0) {
            const int in_order = t->key[k] || k == next;
            next = tt_send(t, dec, t->packet[k], t->packet_size[k], in_order, k) == 0 ? k + 1 : -1;
        } else if (op % 4 == 1) {
            const size_t n = take(&data, &size, 1), off = take(&data, &size, 2);
            uint8_t *buf = malloc(t->packet_size[k]);
            memcpy(buf, t->packet[k], t->packet_size[k]);
            for (size_t i = 0; i < n && size; i++)
                buf[(off + i) % t->packet_size[k]] ^= (uint8_t)take(&data, &size, 1);
            tt_send(t, dec, buf, t->packet_size[k], 0, k);
            free(buf);
            next = -1;
        } else if (op % 4 == 2) {
            size_t n = take(&data, &size, 2);
            if (n > size)
                n = size;
            tt_send(t, dec, data, n, 0, 0);
            data += n;
            size -= n;
            next = -1;
        } else {
            tec_decoder_flush(dec);
            next = -1;
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (find_model() < 0) {
        fprintf(stderr, "fuzz_decoder: no model (TEC_FUZZ_MODEL must name a .tecw)\n");
        abort();
    }
    for (int i = 0; i < LAYOUTS; i++)
        if (prepare(&layouts[i]) < 0) {
            fprintf(stderr, "fuzz_decoder: layout %d: %s / %s\n", i, tec_encoder_error(NULL),
                    tec_decoder_error(NULL));
            abort();
        }
    if (tt_prepare() < 0)
        fprintf(stderr, "fuzz_decoder: no inter streams (%s / %s): mode & 16 does nothing; "
                "run from the source tree or set TEC_FUZZ_TT_MODEL and TEC_FUZZ_TT_STREAM\n",
                tec_encoder_error(NULL), tec_decoder_error(NULL));
    return 0;
}

static void decode(TecDecoder *dec, const uint8_t *data, size_t size)
{
    int ret = tec_decoder_send_packet(dec, data ? data : (const uint8_t *)"", size, 0, 0);
    TecPicture pic;
    if (!ret && tec_decoder_receive_frame(dec, &pic) != 0)
        abort();  /* a decoded packet must yield its frame */
    if (ret != 0 && ret != TEC_EBITSTREAM && ret != TEC_EUNSUPPORTED)
        abort();
}

/* A header from the input; if it parses, the same header naming the
 * fuzzing model opens a decoder (odd groups and slots reach the open path). */
static void try_header(const uint8_t *data, size_t size)
{
    TecStreamInfo info;
    TecSeqHeader h, model_h;
    if (tec_parse_header(data, size, &info) < 0)
        return;
    if (tec_seq_parse(data, size, &h, NULL, 0) < 0 || memcmp(&info, &h.info, sizeof(info)))
        abort();  /* the public and internal parsers must agree */
    /* Keep frames small so the fuzzer's memory limit is not what stops it. */
    if ((size_t)info.width * info.height * info.bands > (1u << 20))
        return;
    if (tec_seq_parse(layouts[0].header, layouts[0].header_size, &model_h, NULL, 0) < 0)
        abort();
    memcpy(h.info.model, model_h.info.model, sizeof(h.info.model));
    h.info.model_checksum = model_h.info.model_checksum;
    uint8_t buf[TEC_SEQ_MAX_SIZE];
    size_t n = tec_seq_write(&h, buf);

    TecDecoderSettings ds;
    tec_decoder_default_settings(&ds);
    ds.weights_dir = model_dir;
    ds.threads = 1;
    TecDecoder *dec;
    if (tec_decoder_open(&dec, &ds, buf, n) == 0) {
        decode(dec, layouts[1].packet, layouts[1].packet_size);
        tec_decoder_close(&dec);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const unsigned mode = data[0];
    Layout *l = &layouts[(mode & 3) % LAYOUTS];
    data++;
    size--;
    if (mode & 16) {
        tt_run(&tt_streams[mode & 1], !!(mode & 32), data, size);
    } else if (mode & 4) {
        try_header(data, size);
    } else if (mode & 8) {
        uint8_t *buf = malloc(l->packet_size);
        memcpy(buf, l->packet, l->packet_size);
        for (size_t i = 0; i < size && i < l->packet_size; i++)
            buf[i] ^= data[i];
        decode(l->dec, buf, l->packet_size);
        free(buf);
    } else {
        decode(l->dec, data, size);
    }
    return 0;
}
