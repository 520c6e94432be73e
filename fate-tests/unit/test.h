/* Minimal unit-test harness: each test file is one program that ends with
 * a "N passed, N failed" line and exits non-zero on any failure. */
#ifndef TEC_TEST_H
#define TEC_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int test_passed, test_failed;

#define CHECK(cond) do { \
    if (cond) test_passed++; \
    else { test_failed++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_EQ_INT(a, b) do { \
    long long va_ = (long long)(a), vb_ = (long long)(b); \
    if (va_ == vb_) test_passed++; \
    else { test_failed++; fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", \
                                  __FILE__, __LINE__, #a, #b, va_, vb_); } \
} while (0)

static inline int test_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
