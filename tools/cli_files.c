/* tec: the files named on the command line. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <string.h>
#include <sys/stat.h>

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
