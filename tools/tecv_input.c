/*
 * tec: .tecv streams read packet by packet (decode, info).  Packets carry no
 * index, so they are counted; a corrupt packet counts as the frame it
 * replaces, and the header's dates place packets after a damaged stretch.
 */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tec_cli.h"

int cli_walk_init(Walk *w, TecvReader *r)
{
    memset(w, 0, sizeof(*w));
    w->r = r;
    const TecvInfo *info = tec_tecv_info(r);
    const char *dates = tec_tecv_meta(info, "dates");
    if (!dates)
        return 0;
    if (tec_list_split(&w->labels, dates) < 0)
        return -1;
    if (info->frame_count && w->labels.count != info->frame_count)
        return 0;  /* not one per frame: of no help for placing packets */
    w->times = calloc((size_t)w->labels.count, sizeof(*w->times));
    w->timed = calloc((size_t)w->labels.count, 1);
    if (!w->times || !w->timed)
        return -1;
    for (int i = 0; i < w->labels.count; i++)
        w->timed[i] = tec_parse_date(w->labels.item[i], &w->times[i]) == 1;
    return 0;
}

void cli_walk_free(Walk *w)
{
    tec_list_free(&w->labels);
    free(w->times);
    free(w->timed);
}

int cli_walk_next(Walk *w, const uint8_t **data, size_t *size, int64_t *time_ms, int *flags,
                     int64_t *idx)
{
    int ret = tec_tecv_read_packet(w->r, data, size, time_ms, flags);
    if (ret == TEC_EBITSTREAM) {
        *idx = w->next++;
        return 1;
    }
    if (ret < 0)
        return ret;
    int64_t i = w->next;
    if ((*flags & TECV_FLAG_TIME) && w->times) {
        for (int64_t k = w->next; k < w->labels.count; k++) {
            if (w->timed[k] && w->times[k] == *time_ms) {
                i = k;
                break;
            }
        }
    }
    *idx = i;
    w->next = i + 1;
    return 0;
}

int cli_count_packets(const char *path, int64_t *count)
{
    TecvReader *r = NULL;
    int ret = tec_tecv_open_read(&r, path);
    *count = 0;
    while (ret >= 0) {
        const uint8_t *data;
        size_t size;
        ret = tec_tecv_read_packet(r, &data, &size, NULL, NULL);
        if (ret == 0 || ret == TEC_EBITSTREAM) {
            ++*count;
            ret = 0;
        }
    }
    if (ret != TEC_EOF)
        cli_error("%s", tec_tecv_reader_error(r));
    tec_tecv_close_read(&r);
    return ret == TEC_EOF ? 0 : -1;
}

int cli_open_reader(TecvReader **r, const char *path)
{
    if (tec_tecv_open_read(r, path) < 0) {
        cli_error("%s", tec_tecv_reader_error(*r));
        tec_tecv_close_read(r);
        return -1;
    }
    const TecvInfo *info = tec_tecv_info(*r);
    if (info->codec != TEC_CODEC_RAW && info->codec != TEC_CODEC_TEC) {
        cli_error("%s: unknown codec %d", path, info->codec);
        tec_tecv_close_read(r);
        return -1;
    }
    /* Every packet takes at least its 24-byte header: a larger count is a
     * made-up header, which would make decode create a vast output file. */
    struct stat st;
    if (!cli_is_stdio(path) && !stat(path, &st) && S_ISREG(st.st_mode) &&
        info->frame_count > st.st_size / 24) {
        cli_error("%s: the header claims %" PRId64 " frames, more than a file of %lld bytes can "
              "hold", path, info->frame_count, (long long)st.st_size);
        tec_tecv_close_read(r);
        return -1;
    }
    return 0;
}
