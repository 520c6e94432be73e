/* tec: the files named on the command line. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tec_cli.h"

int cli_is_stdio(const char *path)
{
    return !strcmp(path, "-");
}

int cli_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return !cli_is_stdio(a) && !cli_is_stdio(b) && !stat(a, &sa) && !stat(b, &sb) &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

void cli_swap_to_le16(uint16_t *p, size_t n)
{
    if (host_is_little_endian())
        return;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint16_t)(p[i] << 8 | p[i] >> 8);
}

const char *cli_weights_dir(const char *dir)
{
    static char tree[4096];
    static int looked;
    if (dir)
        return dir;
    if (getenv("TEC_WEIGHTS"))
        return NULL;
    if (!looked) {
        /* The executable's parent is a source tree when it holds tec.h. */
        char exe[4096], probe[4096 + 64];
        struct stat st;
        looked = 1;
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
        if (slash) {
            *slash = '\0';
            snprintf(probe, sizeof(probe), "%s/../libavcodec-tec/include/tec/tec.h", exe);
            if (!stat(probe, &st) &&
                (size_t)snprintf(tree, sizeof(tree), "%s/../weights", exe) >= sizeof(tree))
                tree[0] = '\0';
        }
    }
    return tree[0] ? tree : NULL;
}
