/* Sample masks: the row coding of a plane on random masks, the section's
 * round trip (scan, write, read, apply) with the nodata rule, and damage:
 * every truncation and random byte flips are refused or read as some
 * valid mask, never out of bounds; and through the encoder and decoder:
 * the picture and the row paths, 1 and 2 threads, the same packets, the
 * reconstruction equal to the decode, exactly the nodata samples nodata. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mask.h"
#include "tec/tec.h"
#include "tecw_gen.h"
#include "test.h"

static uint64_t rng_state = 7;

static uint32_t rng_next(void)
{
    rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(rng_state >> 33);
}

/* A row of one of several shapes: empty, full, an edge that moves a little
 * from the row before, runs, noise. */
static void random_row(uint8_t *row, const uint8_t *prev, int w, int shape)
{
    switch (shape) {
    case 0: memset(row, 0, (size_t)w); break;
    case 1: memset(row, 1, (size_t)w); break;
    case 2: {
        int edge = 0;
        while (edge < w && prev[edge])
            edge++;
        edge += (int)(rng_next() % 5) - 2;
        edge = edge < 0 ? 0 : edge > w ? w : edge;
        for (int x = 0; x < w; x++)
            row[x] = x < edge;
        break;
    }
    case 3:
        for (int x = 0, v = (int)(rng_next() & 1); x < w;) {
            int run = 1 + (int)(rng_next() % 9);
            for (; run-- && x < w; x++)
                row[x] = (uint8_t)v;
            v ^= 1;
        }
        break;
    case 4: memcpy(row, prev, (size_t)w); break;
    default:
        for (int x = 0; x < w; x++)
            row[x] = (rng_next() % 3) == 0;
    }
}

static void test_plane_round_trip(void)
{
    for (int trial = 0; trial < 200; trial++) {
        const int w = 1 + (int)(rng_next() % (trial < 100 ? 40 : 700)), h = 1 + (int)(rng_next() % 30);
        uint8_t *rows = calloc((size_t)(h + 1) * w, 1), *got = malloc((size_t)w);
        TecMaskPlane enc = { 0 }, dec = { 0 };
        enc.t = malloc((size_t)w * sizeof(int32_t));
        enc.next = malloc((size_t)w * sizeof(int32_t));
        dec.t = malloc((size_t)w * sizeof(int32_t));
        dec.next = malloc((size_t)w * sizeof(int32_t));
        tec_mask_plane_reset(&enc);
        int ok = 1;
        for (int y = 0; y < h; y++) {
            random_row(rows + (size_t)(y + 1) * w, rows + (size_t)y * w, w, (int)(rng_next() % 6));
            ok &= tec_mask_plane_put(&enc, rows + (size_t)(y + 1) * w, w) == 0;
        }
        CHECK(ok);
        /* Never more than a bitmap per row. */
        CHECK(enc.size <= (size_t)h * (1 + (w + 7) / 8));
        tec_mask_plane_reset(&dec);
        dec.p = enc.buf;
        dec.end = enc.buf + enc.size;
        for (int y = 0; ok && y < h; y++) {
            ok &= tec_mask_plane_get(&dec, got, w) == 0;
            ok &= !memcmp(got, rows + (size_t)(y + 1) * w, (size_t)w);
        }
        CHECK(ok);
        CHECK(dec.p == dec.end);
        CHECK_EQ_INT(dec.masked, enc.masked);
        free(enc.buf);
        free(enc.t);
        free(enc.next);
        free(dec.t);
        free(dec.next);
        free(rows);
        free(got);
    }
}

enum { BANDS = 4, W = 37, H = 23 };

/* A source frame with nodata: an edge in every band, scattered samples in
 * band 1, a band-2 block, and valid samples next to the value. */
static void make_frame(uint16_t *src, uint16_t value, int kind)
{
    for (int b = 0; b < BANDS; b++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                uint16_t v = (uint16_t)(value == 0 ? 1 + rng_next() % 3 : 65534 - rng_next() % 3);
                if (kind >= 1 && 2 * x + y < 15)
                    v = value;
                if (kind >= 2 && b == 1 && rng_next() % 11 == 0)
                    v = value;
                if (kind >= 3 && b == 2 && y > 15 && x > 30)
                    v = value;
                src[((size_t)b * H + y) * W + x] = v;
            }
}

/* What a decoder must give for src after a lossy decode dec. */
static int mask_ok(const uint16_t *src, const uint16_t *dec, uint16_t value)
{
    for (size_t i = 0; i < (size_t)BANDS * H * W; i++)
        if ((src[i] == value) != (dec[i] == value))
            return 0;
    return 1;
}

static void test_section(void)
{
    static const uint16_t values[] = { 0, 65535, 1000 };
    uint16_t src[BANDS * H * W], out[BANDS * H * W];
    for (int vi = 0; vi < 3; vi++)
        for (int kind = 0; kind < 4; kind++) {
            const uint16_t value = values[vi];
            TecMask enc, dec;
            CHECK(tec_mask_init(&enc, BANDS, W, H) == 0);
            CHECK(tec_mask_init(&dec, BANDS, W, H) == 0);
            make_frame(src, value, kind);
            tec_mask_scan_begin(&enc, value);
            /* In two stripes, the second overlapping the first. */
            CHECK(tec_mask_scan_rows(&enc, src, W, (ptrdiff_t)W * H, 0, 10) == 0);
            CHECK(tec_mask_scan_rows(&enc, src + 5 * W, W, (ptrdiff_t)W * H, 5, H - 5) == 0);
            CHECK(tec_mask_scan_end(&enc) == 0);
            const size_t size = tec_mask_size(&enc);
            uint8_t *sec = malloc(size + 1);
            tec_mask_write(&enc, sec);
            sec[size] = 0xee;           /* what follows the section */
            size_t used = 0;
            char why[128];
            CHECK(tec_mask_read(&dec, sec, size + 1, &used, why, sizeof(why)) == 0);
            CHECK_EQ_INT(used, size);
            CHECK_EQ_INT(dec.value, value);
            CHECK_EQ_INT(dec.masked, enc.masked);
            /* A "decode" that turns every sample into the value or next to
             * it, applied in stripes by both. */
            for (size_t i = 0; i < (size_t)BANDS * H * W; i++)
                out[i] = rng_next() % 2 ? value : src[i];
            uint16_t out2[BANDS * H * W];
            memcpy(out2, out, sizeof(out));
            for (int y0 = 0; y0 < H; y0 += 8) {
                const int rows = H - y0 < 8 ? H - y0 : 8;
                tec_mask_apply(&dec, out + (size_t)y0 * W, W, (ptrdiff_t)W * H, y0, rows);
                tec_mask_apply(&enc, out2 + (size_t)y0 * W, W, (ptrdiff_t)W * H, y0, rows);
            }
            CHECK(mask_ok(src, out, value));
            CHECK(!memcmp(out, out2, sizeof(out)));
            for (size_t i = 0; i < (size_t)BANDS * H * W; i++)
                if (src[i] != value && out[i] != src[i]) {
                    const int d = (int)out[i] - (int)value;
                    CHECK(d == 1 || d == -1);
                    if (d != 1 && d != -1)
                        break;
                }
            if (kind == 0)
                CHECK(size <= 20);      /* nothing masked: a few bytes */

            /* Every truncation is refused. */
            int refused = 1;
            for (size_t n = 0; n < size; n++)
                refused &= tec_mask_read(&dec, sec, n, &used, NULL, 0) == TEC_EBITSTREAM;
            CHECK(refused);
            /* Flipped bytes: refused, or a valid mask that applies. */
            uint8_t *bad = malloc(size);
            for (int t = 0; t < 300; t++) {
                memcpy(bad, sec, size);
                const int flips = 1 + (int)(rng_next() % 3);
                for (int f = 0; f < flips; f++)
                    bad[rng_next() % size] ^= (uint8_t)(1 + rng_next() % 255);
                int ret = tec_mask_read(&dec, bad, size, &used, NULL, 0);
                CHECK(ret == 0 || ret == TEC_EBITSTREAM);
                if (ret == 0)
                    tec_mask_apply(&dec, out, W, (ptrdiff_t)W * H, 0, H);
            }
            free(bad);
            free(sec);
            tec_mask_free(&enc);
            tec_mask_free(&dec);
        }
}

/* Malformed sections a fuzzer might take long to build. */
static void test_malformed(void)
{
    TecMask m;
    size_t used;
    CHECK(tec_mask_init(&m, 1, 4, 2) == 0);
    /* count, kind, value, coding, body size, coded size, body */
    uint8_t s[32] = { 1, TEC_MASK_NODATA, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 0x01,
                      1, 1, 0x02, 0 };
    /* Plane 0 present: row 0 runs (n = 1, start 0, gap 2), row 1 the same. */
    s[5] = 5; s[9] = 5;
    s[13] = 0x01; s[14] = 1; s[15] = 1 << 1; s[16] = 2; s[17] = 0;
    CHECK(tec_mask_read(&m, s, 18, &used, NULL, 0) == 0);
    CHECK_EQ_INT(used, 18);
    CHECK_EQ_INT(m.masked, 4);
    uint8_t bad[32];
    memcpy(bad, s, sizeof(s));
    bad[13] = 0x04;             /* presence bit past the one band */
    CHECK(tec_mask_read(&m, bad, 18, &used, NULL, 0) == TEC_EBITSTREAM);
    memcpy(bad, s, sizeof(s));
    bad[16] = 4;                /* a run past the row */
    CHECK(tec_mask_read(&m, bad, 18, &used, NULL, 0) == TEC_EBITSTREAM);
    memcpy(bad, s, sizeof(s));
    bad[1] = 2;                 /* unknown kind that changes samples */
    CHECK(tec_mask_read(&m, bad, 18, &used, NULL, 0) == TEC_EBITSTREAM);
    memcpy(bad, s, sizeof(s));
    bad[1] = 200;               /* an informational kind: skipped */
    CHECK(tec_mask_read(&m, bad, 18, &used, NULL, 0) == 0 && !m.on && used == 18);
    memcpy(bad, s, sizeof(s));
    bad[4] = 2;                 /* unknown coding */
    CHECK(tec_mask_read(&m, bad, 18, &used, NULL, 0) == TEC_EBITSTREAM);
    memcpy(bad, s, sizeof(s));
    bad[4] = 1;                 /* "zstd" that is not */
    CHECK(tec_mask_read(&m, bad, 18, &used, NULL, 0) == TEC_EBITSTREAM);
    memcpy(bad, s, sizeof(s));
    bad[15] = 0; bad[16] = 0;   /* a present plane that masks nothing */
    bad[5] = 4; bad[9] = 4;
    CHECK(tec_mask_read(&m, bad, 17, &used, NULL, 0) == TEC_EBITSTREAM);
    memcpy(bad, s, sizeof(s));
    bad[8] = 0x40;              /* a huge body */
    CHECK(tec_mask_read(&m, bad, 18, &used, NULL, 0) == TEC_EBITSTREAM);
    memcpy(bad, s, sizeof(s));
    bad[17] = 2; bad[18] = 4;   /* row 1 shifts its transition out of the row */
    bad[5] = 6; bad[9] = 6;
    CHECK(tec_mask_read(&m, bad, 19, &used, NULL, 0) == TEC_EBITSTREAM);
    tec_mask_free(&m);
}

/* ---- through the codec -------------------------------------------------- */

enum { CB = 13, CW = 70, CH = 300 };   /* three block rows with the tiny model */
static char model_dir[64];

static int source_rows(void *opaque, int64_t frame, int y0, int rows, uint16_t *data,
                       ptrdiff_t stride, ptrdiff_t band_stride)
{
    const uint16_t *src = opaque;
    (void)frame;
    for (int b = 0; b < CB; b++)
        for (int i = 0; i < rows; i++)
            memcpy(data + b * band_stride + i * stride, src + ((size_t)b * CH + y0 + i) * CW,
                   CW * sizeof(uint16_t));
    return 0;
}

typedef struct Sink {
    uint16_t *out;
} Sink;

static int sink_rows(void *opaque, int64_t frame, int y0, int rows, const uint16_t *data,
                     ptrdiff_t stride, ptrdiff_t band_stride)
{
    Sink *k = opaque;
    (void)frame;
    for (int b = 0; b < CB; b++)
        for (int i = 0; i < rows; i++)
            memcpy(k->out + ((size_t)b * CH + y0 + i) * CW, data + b * band_stride + i * stride,
                   CW * sizeof(uint16_t));
    return 0;
}

/* Codes src one way; returns the packet (malloc'd), the header and the
 * reconstruction into recon. */
static uint8_t *code_frame(const uint16_t *src, uint16_t value, int threads, int rows,
                           uint8_t *hdr, size_t *hdr_size, size_t *size, uint16_t *recon)
{
    TecEncoderSettings s;
    tec_encoder_default_settings(&s);
    s.bands = CB;
    s.width = CW;
    s.height = CH;
    s.model = "unit-tiny";
    s.weights_dir = model_dir;
    s.threads = threads;
    s.quality = 3;
    s.want_reconstruction = 1;
    s.has_nodata = 1;
    s.nodata_value = value;
    if (rows) {
        s.row_source = source_rows;
        s.row_opaque = (void *)src;
    }
    TecEncoder *enc;
    uint8_t *packet = NULL;
    if (tec_encoder_open(&enc, &s) < 0) {
        fprintf(stderr, "%s\n", tec_encoder_error(NULL));
        return NULL;
    }
    TecPicture pic = { rows ? NULL : (uint16_t *)src, CW, (ptrdiff_t)CW * CH, CB, CW, CH, 0, 0, NULL };
    TecPacket pkt;
    TecPicture rec;
    const uint8_t *h;
    if (tec_encoder_send_frame(enc, &pic) == 0 && tec_encoder_receive_packet(enc, &pkt) == 0 &&
        tec_encoder_get_reconstruction(enc, &rec) == 0 &&
        tec_encoder_get_header(enc, &h, hdr_size) == 0) {
        memcpy(hdr, h, *hdr_size);
        packet = malloc(pkt.size);
        memcpy(packet, pkt.data, pkt.size);
        *size = pkt.size;
        for (int b = 0; b < CB; b++)
            memcpy(recon + (size_t)b * CH * CW, rec.data + b * rec.band_stride,
                   (size_t)CH * CW * sizeof(uint16_t));
    }
    tec_encoder_close(&enc);
    return packet;
}

static int decode_frame(const uint8_t *hdr, size_t hdr_size, const uint8_t *packet, size_t size,
                        int threads, int sink, uint16_t *out)
{
    TecDecoderSettings s;
    tec_decoder_default_settings(&s);
    s.weights_dir = model_dir;
    s.threads = threads;
    Sink k = { out };
    if (sink) {
        s.row_sink = sink_rows;
        s.row_opaque = &k;
    }
    TecDecoder *dec;
    TecPicture pic;
    int ret = tec_decoder_open(&dec, &s, hdr, hdr_size);
    if (ret == 0 && (ret = tec_decoder_send_packet(dec, packet, size, 0, 0)) == 0 &&
        (ret = tec_decoder_receive_frame(dec, &pic)) == 0 && !sink)
        memcpy(out, pic.data, (size_t)CB * CH * CW * sizeof(uint16_t));
    tec_decoder_close(&dec);
    return ret;
}

static void test_codec_paths(void)
{
    const size_t n = (size_t)CB * CH * CW;
    uint16_t *src = malloc(n * 2), *rec[2], *out = malloc(n * 2);
    rec[0] = malloc(n * 2);
    rec[1] = malloc(n * 2);
    static const uint16_t values[] = { 0, 65535 };
    for (int vi = 0; vi < 2; vi++) {
        const uint16_t v = values[vi];
        /* Near the value everywhere, so that the lossy decode hits it; an
         * edge in every band, a band with its own rows, scattered samples. */
        for (int b = 0; b < CB; b++)
            for (int y = 0; y < CH; y++)
                for (int x = 0; x < CW; x++) {
                    int s = 3 + (int)(rng_next() % 40) + (x + y) % 7;
                    uint16_t val = (uint16_t)(v ? 65535 - s : s);
                    if (3 * x + y < 90 || (b == 5 && y >= 140 && y < 150) ||
                        (b == 2 && rng_next() % 97 == 0))
                        val = v;
                    src[((size_t)b * CH + y) * CW + x] = val;
                }
        uint8_t hdr[2][TEC_MAX_BANDS * 32 + 256];
        size_t hs[2], ps[2];
        uint8_t *pk[2];
        pk[0] = code_frame(src, v, 1, 0, hdr[0], &hs[0], &ps[0], rec[0]);
        pk[1] = code_frame(src, v, 2, 1, hdr[1], &hs[1], &ps[1], rec[1]);
        CHECK(pk[0] && pk[1]);
        if (!pk[0] || !pk[1])
            return;
        CHECK(ps[0] == ps[1] && !memcmp(pk[0], pk[1], ps[0]));
        CHECK(!memcmp(rec[0], rec[1], n * 2));
        TecPacketInfo pi;
        uint64_t masked = 0;
        size_t want = 0;
        for (size_t i = 0; i < n; i++)
            want += src[i] == v;
        CHECK(tec_parse_packet(pk[0], ps[0], &pi) == 0 && pi.nodata == v && pi.mask_bytes > 0);
        CHECK(tec_packet_masked_samples(hdr[0], hs[0], pk[0], ps[0], &masked) == 0);
        CHECK_EQ_INT(masked, want);
        for (int way = 0; way < 2; way++) {
            memset(out, 0x55, n * 2);
            CHECK(decode_frame(hdr[0], hs[0], pk[0], ps[0], 1 + way, way, out) == 0);
            CHECK(!memcmp(out, rec[0], n * 2));
            int exact = 1;
            for (size_t i = 0; i < n; i++)
                exact &= (src[i] == v) == (out[i] == v);
            CHECK(exact);
        }
        /* Every truncation of the packet fails cleanly. */
        int refused = 1;
        for (size_t cut = 0; cut + 1 < ps[0]; cut += 1 + cut / 16)
            refused &= decode_frame(hdr[0], hs[0], pk[0], cut, 1, 0, out) == TEC_EBITSTREAM;
        CHECK(refused);
        free(pk[0]);
        free(pk[1]);
    }
    free(src);
    free(out);
    free(rec[0]);
    free(rec[1]);
}

int main(void)
{
    test_plane_round_trip();
    test_section();
    test_malformed();
    snprintf(model_dir, sizeof(model_dir), "/tmp/tec-mask-XXXXXX");
    if (!mkdtemp(model_dir))
        return 1;
    TecwGenParams p = tecw_gen_defaults();
    CHECK_EQ_INT(tecw_write(model_dir, &p), 0);
    test_codec_paths();
    char path[128];
    snprintf(path, sizeof(path), "%s/unit-tiny.tecw", model_dir);
    unlink(path);
    rmdir(model_dir);
    return test_report("test_mask");
}
