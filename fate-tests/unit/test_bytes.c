/* Byte helpers and checksums: known vectors, chunked CRC, a bitwise
 * reference, first use from several threads. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "test.h"

static uint64_t rng_state = 0x1234567;

static uint8_t rng_byte(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint8_t)(rng_state >> 24);
}

/* One bit at a time, straight from the definition. */
static uint32_t crc32_bitwise(uint32_t crc, const uint8_t *p, size_t size)
{
    crc = ~crc;
    for (size_t i = 0; i < size; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = crc & 1 ? crc >> 1 ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

static void *crc_thread(void *arg)
{
    *(uint32_t *)arg = tec_crc32(0, "123456789", 9);
    return NULL;
}

/* Runs before any other CRC, so the threads race to build the tables. */
static void test_crc_first_use_threads(void)
{
    pthread_t th[4];
    uint32_t res[4] = { 0 };
    int started[4];
    for (int i = 0; i < 4; i++)
        started[i] = !pthread_create(&th[i], NULL, crc_thread, &res[i]);
    for (int i = 0; i < 4; i++) {
        CHECK(started[i]);
        if (started[i]) {
            pthread_join(th[i], NULL);
            CHECK_EQ_INT(res[i], 0xCBF43926u);
        }
    }
}

static void test_crc_vectors(void)
{
    static const char fox[] = "The quick brown fox jumps over the lazy dog";
    CHECK_EQ_INT(tec_crc32(0, "123456789", 9), 0xCBF43926u);
    CHECK_EQ_INT(tec_crc32(0, "", 0), 0);
    CHECK_EQ_INT(tec_crc32(0, NULL, 0), 0);
    CHECK_EQ_INT(tec_crc32(0, "a", 1), 0xE8B7BE43u);
    CHECK_EQ_INT(tec_crc32(0, fox, strlen(fox)), 0x414FA339u);
    /* Continuing from a CRC equals one pass. */
    CHECK_EQ_INT(tec_crc32(tec_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

/* Every length, start alignment and split point against the reference. */
static void test_crc_against_reference(void)
{
    enum { SIZE = 1 << 20 };
    uint8_t *buf = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        buf[i] = rng_byte();

    size_t bad = 0;
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len <= 300; len++)
            bad += tec_crc32(0, buf + off, len) != crc32_bitwise(0, buf + off, len);
    CHECK_EQ_INT(bad, 0);

    bad = 0;
    uint32_t whole = crc32_bitwise(0, buf, 1000);
    for (size_t cut = 0; cut <= 1000; cut++)
        bad += tec_crc32(tec_crc32(0, buf, cut), buf + cut, 1000 - cut) != whole;
    CHECK_EQ_INT(bad, 0);

    CHECK_EQ_INT(tec_crc32(0, buf, SIZE), crc32_bitwise(0, buf, SIZE));
    CHECK_EQ_INT(tec_crc32(0x89abcdef, buf + 3, SIZE - 3),
                 crc32_bitwise(0x89abcdef, buf + 3, SIZE - 3));
    free(buf);
}

static void test_fnv(void)
{
    CHECK(tec_fnv1a64("", 0) == 0xcbf29ce484222325u);
    CHECK(tec_fnv1a64(NULL, 0) == 0xcbf29ce484222325u);
    CHECK(tec_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cu);
    CHECK(tec_fnv1a64("foobar", 6) == 0x85944171f73967e8u);
    /* Bytes are unsigned: 0xff differs from a sign-extended -1. */
    uint8_t ff = 0xff;
    CHECK(tec_fnv1a64(&ff, 1) == ((0xcbf29ce484222325u ^ 0xffu) * 0x100000001b3u));
}

static void test_little_endian(void)
{
    uint8_t b[8];
    tec_wl16(b, 0x1234);
    CHECK(b[0] == 0x34 && b[1] == 0x12);
    CHECK_EQ_INT(tec_rl16(b), 0x1234);
    tec_wl32(b, 0xdeadbeef);
    CHECK(b[0] == 0xef && b[1] == 0xbe && b[2] == 0xad && b[3] == 0xde);
    CHECK_EQ_INT(tec_rl32(b), 0xdeadbeefu);
    tec_wl64(b, 0x0123456789abcdefu);
    CHECK(b[0] == 0xef && b[7] == 0x01);
    CHECK(tec_rl64(b) == 0x0123456789abcdefu);
}

static void test_byte_reader(void)
{
    static const uint8_t data[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
    TecByteReader r = { data, data + sizeof(data), 0 };
    CHECK_EQ_INT(tec_br_u8(&r), 1);
    CHECK_EQ_INT(tec_br_u16(&r), 0x0302);
    CHECK_EQ_INT(tec_br_u32(&r), 0x07060504);
    CHECK(tec_br_bytes(&r, 2) == data + 7);
    CHECK_EQ_INT(r.err, 0);
    CHECK_EQ_INT(tec_br_u32(&r), 0);  /* only 2 left */
    CHECK_EQ_INT(r.err, 1);
    CHECK_EQ_INT(tec_br_u8(&r), 0);   /* sticky */
    CHECK(tec_br_bytes(&r, 0) == NULL);

    TecByteReader s = { data, data + sizeof(data), 0 };
    CHECK(tec_br_u64(&s) == 0x0807060504030201u);
    CHECK(tec_br_bytes(&s, 4) == NULL);
    CHECK_EQ_INT(s.err, 1);
}

int main(void)
{
    test_crc_first_use_threads();
    test_crc_vectors();
    test_crc_against_reference();
    test_fnv();
    test_little_endian();
    test_byte_reader();
    return test_report("bytes");
}
