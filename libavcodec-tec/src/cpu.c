/* CPU feature detection and the TEC_CPU_FLAGS mask (cpu.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static const struct {
    const char *name;
    unsigned flag;
} feature_names[] = {
    { "avx2", TEC_CPU_AVX2 },
};
enum { N_FEATURES = sizeof(feature_names) / sizeof(feature_names[0]) };

static unsigned detect(void)
{
    unsigned flags = 0;
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
    /* libgcc also checks that the OS saves the YMM registers. */
    if (__builtin_cpu_supports("avx2"))
        flags |= TEC_CPU_AVX2;
#endif
    return flags;
}

/* The mask a TEC_CPU_FLAGS value names: known names separated by commas
 * (or spaces); anything else adds nothing. */
static unsigned parse_mask(const char *s)
{
    unsigned mask = 0;

    while (*s) {
        const size_t len = strcspn(s, ", ");
        for (int i = 0; i < N_FEATURES; i++)
            if (strlen(feature_names[i].name) == len && !strncmp(s, feature_names[i].name, len))
                mask |= feature_names[i].flag;
        s += len;
        s += strspn(s, ", ");
    }
    return mask;
}

static unsigned cpu_flags;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void init_flags(void)
{
    const char *env = getenv("TEC_CPU_FLAGS");
    cpu_flags = detect();
    if (env)
        cpu_flags &= parse_mask(env);
}

unsigned tec_cpu_flags(void)
{
    pthread_once(&cpu_once, init_flags);
    return cpu_flags;
}

const char *tec_cpu_flags_name(unsigned flags)
{
    /* Long enough for every name and its comma. */
    static _Thread_local char buf[64];
    size_t used = 0;

    buf[0] = 0;
    for (int i = 0; i < N_FEATURES; i++) {
        if (!(flags & feature_names[i].flag))
            continue;
        const size_t len = strlen(feature_names[i].name);
        if (used + len + 2 > sizeof(buf))
            break;
        if (used)
            buf[used++] = ',';
        memcpy(buf + used, feature_names[i].name, len + 1);
        used += len;
    }
    return used ? buf : "none";
}
