/* .tecv written to memory (tec_tecv_open_write_mem, tec_tecv_writer_data):
 * the same bytes as a file, a complete stream after every packet, read
 * back from memory, and the errors. */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tec/tec.h"
#include "test.h"

#define N_PACKETS 3

static const char *const keys[] = { "dates", "crs", "nodata" };
static const char *const values[] = { "2017-06-20,2017-07-10,2017-10-15", "EPSG:32633", "0" };
static const uint8_t seq[] = { 0x54, 0x45, 0x43, 0x53, 1, 2, 3, 4, 5, 6, 7, 8 };

static void test_info(TecvInfo *info)
{
    memset(info, 0, sizeof(*info));
    info->codec = TEC_CODEC_TEC;
    info->bands = 13;
    info->width = 40;
    info->height = 56;
    info->seq_header = seq;
    info->seq_header_size = sizeof(seq);
    info->n_meta = 3;
    info->meta_keys = keys;
    info->meta_values = values;
}

/* Packet i: 100 + 37 i bytes of a pattern without "TECP". */
static uint8_t payload[N_PACKETS][200];
static size_t payload_size(int i) { return 100 + 37 * (size_t)i; }
static int64_t payload_time(int i) { return 1497916800000LL + 864000000LL * i; }

static void make_payloads(void)
{
    for (int i = 0; i < N_PACKETS; i++)
        for (size_t k = 0; k < payload_size(i); k++)
            payload[i][k] = (uint8_t)((k * 7 + (size_t)i) & 0x3f);
}

static uint8_t *read_whole(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(1 << 16);
    *size = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    return buf;
}

/* Every packet of a memory stream comes back with its time and flags. */
static void check_read_back(const uint8_t *data, size_t size, int64_t frames)
{
    TecvReader *r = NULL;
    CHECK_EQ_INT(tec_tecv_open_read_mem(&r, data, size), 0);
    const TecvInfo *info = tec_tecv_info(r);
    CHECK_EQ_INT(info->frame_count, frames);
    CHECK_EQ_INT(info->bands, 13);
    CHECK(info->seq_header_size == sizeof(seq) && !memcmp(info->seq_header, seq, sizeof(seq)));
    const char *crs = tec_tecv_meta(info, "crs");
    CHECK(crs && !strcmp(crs, "EPSG:32633"));
    int64_t n = 0;
    const uint8_t *p;
    size_t psize;
    int64_t t;
    int flags, ret;
    while ((ret = tec_tecv_read_packet(r, &p, &psize, &t, &flags)) == 0) {
        CHECK(n < N_PACKETS && psize == payload_size((int)n) &&
              !memcmp(p, payload[n], psize));
        CHECK_EQ_INT(t, payload_time((int)n));
        CHECK_EQ_INT(flags, TECV_FLAG_TIME | (n == 0 ? TECV_FLAG_KEY : 0));
        n++;
    }
    CHECK_EQ_INT(ret, TEC_EOF);
    CHECK_EQ_INT(n, frames);
    tec_tecv_close_read(&r);
}

static void test_same_as_file(void)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/test_tecv_mem_%d.tecv", (int)getpid());
    TecvInfo info;
    test_info(&info);
    TecvWriter *fw = NULL, *mw = NULL;
    CHECK_EQ_INT(tec_tecv_open_write(&fw, path, &info), 0);
    CHECK_EQ_INT(tec_tecv_open_write_mem(&mw, &info), 0);

    const uint8_t *data;
    size_t size;
    /* Header only: a valid stream of no frames. */
    CHECK_EQ_INT(tec_tecv_writer_data(mw, &data, &size), 0);
    check_read_back(data, size, 0);
    for (int i = 0; i < N_PACKETS; i++) {
        const int flags = TECV_FLAG_TIME | (i == 0 ? TECV_FLAG_KEY : 0);
        CHECK_EQ_INT(tec_tecv_write_packet(fw, payload[i], payload_size(i), payload_time(i),
                                           flags), 0);
        CHECK_EQ_INT(tec_tecv_write_packet(mw, payload[i], payload_size(i), payload_time(i),
                                           flags), 0);
        CHECK_EQ_INT(tec_tecv_writer_data(mw, &data, &size), 0);
        check_read_back(data, size, i + 1);
    }
    /* A file writer has no buffer to give. */
    CHECK_EQ_INT(tec_tecv_writer_data(fw, &data, &size), TEC_EINVAL);
    CHECK(strstr(tec_tecv_writer_error(fw), "memory") != NULL);
    CHECK_EQ_INT(tec_tecv_close_write(&fw), 0);

    size_t fsize = 0;
    uint8_t *fbytes = read_whole(path, &fsize);
    CHECK_EQ_INT(tec_tecv_writer_data(mw, &data, &size), 0);
    CHECK(fbytes && fsize == size && !memcmp(fbytes, data, size));
    free(fbytes);
    CHECK_EQ_INT(tec_tecv_close_write(&mw), 0);
    CHECK(mw == NULL);
    unlink(path);
}

static void test_errors(void)
{
    TecvInfo info;
    test_info(&info);
    info.bands = 0;
    TecvWriter *w = NULL;
    CHECK_EQ_INT(tec_tecv_open_write_mem(&w, &info), TEC_EINVAL);
    CHECK(w && strstr(tec_tecv_writer_error(w), "geometry") != NULL);
    tec_tecv_close_write(&w);

    test_info(&info);
    CHECK_EQ_INT(tec_tecv_open_write_mem(&w, &info), 0);
    CHECK_EQ_INT(tec_tecv_write_packet(w, NULL, 5, 0, 0), TEC_EINVAL);
    CHECK_EQ_INT(tec_tecv_write_packet(w, payload[0], 10, 0, 0x80), TEC_EINVAL);
    /* A refused packet leaves the stream as it was. */
    const uint8_t *data;
    size_t size;
    CHECK_EQ_INT(tec_tecv_writer_data(w, &data, &size), 0);
    check_read_back(data, size, 0);
    CHECK_EQ_INT(tec_tecv_close_write(&w), 0);
}

int main(void)
{
    CHECK(TEC_API_MINOR(tec_version_api()) >= 4);
    make_payloads();
    test_same_as_file();
    test_errors();
    return test_report("test_tecv_mem");
}
