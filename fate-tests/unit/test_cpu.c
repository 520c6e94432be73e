/* TEC_CPU_FLAGS: a mask of names pins the kernels' paths (cpu.h).  The
 * mask is read once per process, so this program masks everything; the
 * decoding tests run whole streams with and without it
 * (fate-tests/test_bitexact.sh). */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "test.h"

int main(void)
{
    /* unknown names and separators add nothing */
    CHECK(setenv("TEC_CPU_FLAGS", "sse9, avx, ,avx2x", 1) == 0);
    CHECK_EQ_INT(tec_cpu_flags(), 0);
    /* read once: later changes do not move a running process's paths */
    CHECK(setenv("TEC_CPU_FLAGS", "avx2", 1) == 0);
    CHECK_EQ_INT(tec_cpu_flags(), 0);

    CHECK(!strcmp(tec_cpu_flags_name(0), "none"));
    CHECK(!strcmp(tec_cpu_flags_name(TEC_CPU_AVX2), "avx2"));
    CHECK(!strcmp(tec_cpu_flags_name(TEC_CPU_AVX2 | 1u << 30), "avx2"));
    return test_report("cpu");
}
