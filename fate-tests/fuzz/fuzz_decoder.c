/* libFuzzer target for the decoder.
 *
 * At start-up it takes the model in $TEC_FUZZ_MODEL (a .tecw path) or
 * generates a tiny one, encodes one frame for each of three stream layouts
 * and opens a decoder per layout.  Input: u8 mode, then data.
 *   mode & 3   layout: 0 = 1x1 with 13 bands, 1 = 40x24 with 3 unnamed
 *              bands (three groups), 2 = 600x40 with 12 bands (2 blocks)
 *   mode & 4   data is a sequence header: parse it, open a decoder
 *   mode & 8   data is XORed onto the layout's valid packet (near-valid
 *              packets reach the entropy decoder and the synthesis)
 *   otherwise  data is a packet for the layout's decoder
 * Every call must return 0 or an error code, never crash or leak.
 *
 * make check-fuzz builds it; or by hand:
 *   clang -fsanitize=fuzzer,address,undefined -Ilibavcodec-tec/include \
 *       -Ilibavcodec-tec/src libavcodec-tec/src/\*.c fate-tests/fuzz/fuzz_decoder.c \
 *       -lzstd -lopenblas -lm -lpthread
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

#define LAYOUTS 3

typedef struct Layout {
    int bands, width, height;
    uint8_t *header, *packet;
    size_t header_size, packet_size;
    TecDecoder *dec;
} Layout;

static Layout layouts[LAYOUTS] = {
    { 13, 1, 1, NULL, NULL, 0, 0, NULL },
    { 3, 40, 24, NULL, NULL, 0, 0, NULL },
    { 12, 600, 40, NULL, NULL, 0, 0, NULL },
};
static char model_dir[512], model_name[128];

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
    if (mode & 4) {
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
