/* Sequence header: round trip, band groups, and strict rejection of every
 * malformed header. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tec/tec.h"
#include "bytes.h"
#include "seqheader.h"
#include "test.h"

static void make_header(TecSeqHeader *h, int bands, const char *const *names)
{
    memset(h, 0, sizeof(*h));
    h->info.bands = bands;
    h->info.width = 10980;
    h->info.height = 333;
    h->info.keyframe_interval = 1;
    snprintf(h->info.model, sizeof(h->info.model), "tec-s2");
    h->info.model_checksum = 0x0123456789abcdefull;
    for (int b = 0; b < bands; b++)
        snprintf(h->info.band_names[b], TEC_MAX_BAND_NAME, "%s", names ? names[b] : "");
    tec_seq_plan_groups(h);
}

static void test_groups(void)
{
    TecSeqHeader h;
    make_header(&h, 13, tec_s2_default_names(13));
    CHECK_EQ_INT(h.n_groups, 1);
    CHECK_EQ_INT(h.groups[0].count, 13);
    for (int i = 0; i < 13; i++)
        CHECK(h.groups[0].band[i] == i && h.groups[0].slot[i] == i);

    /* L2A: B10 absent, so bands 10, 11 go to slots 11, 12. */
    make_header(&h, 12, tec_s2_default_names(12));
    CHECK_EQ_INT(h.n_groups, 1);
    CHECK(h.groups[0].slot[10] == 11 && h.groups[0].slot[11] == 12);
    make_header(&h, 10, tec_s2_default_names(10));
    CHECK(h.n_groups == 1 && h.groups[0].count == 10 && h.groups[0].slot[0] == 1);
    CHECK(tec_s2_default_names(4) == NULL);

    /* Unnamed bands: one group each, in slot B04. */
    make_header(&h, 4, NULL);
    CHECK_EQ_INT(h.n_groups, 4);
    for (int i = 0; i < 4; i++)
        CHECK(h.groups[i].count == 1 && h.groups[i].band[0] == i &&
              h.groups[i].slot[0] == TEC_GENERIC_SLOT);

    /* Unknown and repeated names go alone; the first B04 stays shared. */
    static const char *const mixed[6] = { "NDVI", "b4", "B04", "B8A", "B2", "B99" };
    make_header(&h, 6, mixed);
    CHECK_EQ_INT(h.n_groups, 4);
    CHECK_EQ_INT(h.groups[0].count, 3);
    CHECK(h.groups[0].band[0] == 1 && h.groups[0].slot[0] == 3);
    CHECK(h.groups[0].band[1] == 3 && h.groups[0].slot[1] == 8);
    CHECK(h.groups[0].band[2] == 4 && h.groups[0].slot[2] == 1);
    CHECK(h.groups[1].band[0] == 0 && h.groups[2].band[0] == 2 && h.groups[3].band[0] == 5);

    CHECK_EQ_INT(tec_s2_slot("B8A"), 8);
    CHECK_EQ_INT(tec_s2_slot("b08"), 7);
    CHECK_EQ_INT(tec_s2_slot("B8"), 7);
    CHECK_EQ_INT(tec_s2_slot("B13"), -1);
    CHECK_EQ_INT(tec_s2_slot(""), -1);
}

static void test_round_trip(void)
{
    TecSeqHeader h, back;
    uint8_t buf[TEC_SEQ_MAX_SIZE];
    static const char *const mixed[6] = { "NDVI", "b4", "B04", "B8A", "B2", "B99" };
    make_header(&h, 6, mixed);
    size_t n = tec_seq_write(&h, buf);
    CHECK(n <= TEC_SEQ_MAX_SIZE);
    char err[128];
    CHECK_EQ_INT(tec_seq_parse(buf, n, &back, err, sizeof(err)), 0);
    CHECK(!memcmp(&back.info, &h.info, sizeof(h.info)));
    CHECK_EQ_INT(back.n_groups, h.n_groups);
    CHECK(!memcmp(back.groups, h.groups, sizeof(h.groups[0]) * h.n_groups));

    TecStreamInfo info;
    CHECK_EQ_INT(tec_parse_header(buf, n, &info), 0);
    CHECK(!strcmp(info.band_names[3], "B8A") && info.width == 10980);
    CHECK_EQ_INT(tec_parse_header(buf, n, NULL), TEC_EINVAL);
    CHECK_EQ_INT(tec_parse_header(NULL, 0, &info), TEC_EBITSTREAM);

    /* The largest header fits the bound. */
    make_header(&h, 64, NULL);
    for (int b = 0; b < 64; b++)
        memset(h.info.band_names[b], 'x', TEC_MAX_BAND_NAME - 1);
    memset(h.info.model, 'm', TEC_MAX_MODEL_NAME - 1);
    h.info.model[TEC_MAX_MODEL_NAME - 1] = '\0';
    n = tec_seq_write(&h, buf);
    CHECK_EQ_INT(n, TEC_SEQ_MAX_SIZE);
    CHECK_EQ_INT(tec_seq_parse(buf, n, &back, err, sizeof(err)), 0);
}

/* Rewrites the CRC after a deliberate edit, so the field check is what fails. */
static int parse_edited(const uint8_t *orig, size_t n, size_t pos, uint8_t value, char *err)
{
    uint8_t buf[TEC_SEQ_MAX_SIZE];
    TecSeqHeader h;
    memcpy(buf, orig, n);
    buf[pos] = value;
    tec_wl32(buf + n - 4, tec_crc32(0, buf, n - 4));
    return tec_seq_parse(buf, n, &h, err, 128);
}

static void test_rejects(void)
{
    TecSeqHeader h;
    uint8_t buf[TEC_SEQ_MAX_SIZE + 1];
    char err[128];
    make_header(&h, 13, tec_s2_default_names(13));
    size_t n = tec_seq_write(&h, buf);

    /* Every truncation and any trailing byte. */
    int bad = 0;
    for (size_t len = 0; len < n; len++)
        bad += tec_seq_parse(buf, len, &h, err, sizeof(err)) != TEC_EBITSTREAM;
    CHECK_EQ_INT(bad, 0);
    buf[n] = 0;
    CHECK_EQ_INT(tec_seq_parse(buf, n + 1, &h, err, sizeof(err)), TEC_EBITSTREAM);
    CHECK(strstr(err, "stray") != NULL);

    /* Every single bit flip (the CRC catches what the fields do not). */
    bad = 0;
    for (size_t i = 0; i < n * 8; i++) {
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        bad += tec_seq_parse(buf, n, &h, err, sizeof(err)) != TEC_EBITSTREAM;
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(tec_seq_parse(buf, n, &h, err, sizeof(err)), 0);

    /* Field checks with a valid CRC. */
    const size_t name_at = 19, names_at = 19 + 6 + 8, groups_at = names_at + 13 * 16;
    CHECK_EQ_INT(parse_edited(buf, n, 4, 2, err), TEC_EBITSTREAM);        /* version */
    CHECK(strstr(err, "version") != NULL);
    CHECK_EQ_INT(parse_edited(buf, n, 5, 4, err), TEC_EBITSTREAM);        /* flags */
    CHECK(strstr(err, "frame kind") != NULL);
    CHECK_EQ_INT(parse_edited(buf, n, 5, 1, err), 0);                     /* inter allowed */
    CHECK_EQ_INT(parse_edited(buf, n, 5, 3, err), 0);                     /* and predicted */
    CHECK_EQ_INT(parse_edited(buf, n, 6, 0, err), TEC_EBITSTREAM);        /* bands 0 */
    CHECK_EQ_INT(parse_edited(buf, n, 6, 65, err), TEC_EBITSTREAM);       /* bands 65 */
    CHECK_EQ_INT(parse_edited(buf, n, 10, 1, err), TEC_EBITSTREAM);       /* width > 65535 */
    CHECK_EQ_INT(parse_edited(buf, n, 16, 0, err), TEC_EBITSTREAM);       /* keyframe interval */
    CHECK_EQ_INT(parse_edited(buf, n, name_at, '/', err), TEC_EBITSTREAM);
    CHECK_EQ_INT(parse_edited(buf, n, name_at, 0, err), TEC_EBITSTREAM);
    CHECK_EQ_INT(parse_edited(buf, n, names_at + 15, 'x', err), TEC_EBITSTREAM); /* no NUL */
    CHECK_EQ_INT(parse_edited(buf, n, names_at + 5, 'x', err), TEC_EBITSTREAM);  /* after NUL */
    CHECK_EQ_INT(parse_edited(buf, n, names_at, 7, err), TEC_EBITSTREAM);        /* control */
    CHECK_EQ_INT(parse_edited(buf, n, groups_at, 0, err), TEC_EBITSTREAM);       /* 0 groups */
    CHECK_EQ_INT(parse_edited(buf, n, groups_at + 1, 12, err), TEC_EBITSTREAM);  /* band lost */
    CHECK(strstr(err, "cover") != NULL || strstr(err, "groups") != NULL);
    CHECK_EQ_INT(parse_edited(buf, n, groups_at + 2, 1, err), TEC_EBITSTREAM);   /* band twice */
    CHECK_EQ_INT(parse_edited(buf, n, groups_at + 2, 13, err), TEC_EBITSTREAM);  /* band 13 */
    CHECK_EQ_INT(parse_edited(buf, n, groups_at + 3, 1, err), TEC_EBITSTREAM);   /* slot twice */
    CHECK_EQ_INT(parse_edited(buf, n, groups_at + 3, 200, err), 0);  /* any slot: the decoder checks */

    CHECK(tec_seq_model_name_ok("tec-s2"));
    CHECK(tec_seq_model_name_ok("tec_s2.v1+x"));
    CHECK(!tec_seq_model_name_ok(""));
    CHECK(!tec_seq_model_name_ok("a..b"));
    CHECK(!tec_seq_model_name_ok("a/b"));
    CHECK(!tec_seq_model_name_ok("a b"));
}

int main(void)
{
    test_groups();
    test_round_trip();
    test_rejects();
    return test_report("test_seqheader");
}
