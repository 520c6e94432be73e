/* tec: the progress line (progress.h). */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

/* Redraws at most this often: a terminal scrolled by a stripe-fast loop
 * would slow the codec down. */
#define REDRAW_NS 250000000LL

static struct {
    int on, drawn;
    const char *verb;
    int64_t frames, rows, pixels_per_row;
    int64_t start_ns, last_ns;
} bar;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void progress_start(const char *verb, int64_t frames, int64_t rows_per_frame,
                    int64_t pixels_per_row, int enabled)
{
    bar.on = enabled && isatty(STDERR_FILENO) && rows_per_frame > 0;
    bar.drawn = 0;
    bar.verb = verb;
    bar.frames = frames;
    bar.rows = rows_per_frame;
    bar.pixels_per_row = pixels_per_row;
    bar.start_ns = now_ns();
    bar.last_ns = bar.start_ns - REDRAW_NS;  /* the first update draws */
}

static void format_duration(double s, char *buf, size_t size)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

void progress_update(int64_t frame, int64_t rows_done)
{
    if (!bar.on)
        return;
    int64_t t = now_ns();
    if (t - bar.last_ns < REDRAW_NS)
        return;
    bar.last_ns = t;
    double elapsed = (double)(t - bar.start_ns) * 1e-9;
    double done = (double)frame * (double)bar.rows + (double)rows_done;
    double mpx_s = elapsed > 0 ? done * (double)bar.pixels_per_row / elapsed * 1e-6 : 0;
    char eta[32] = "?";
    if (bar.frames > 0 && done > 0) {
        double total = (double)bar.frames * (double)bar.rows;
        format_duration(elapsed * (total - done) / done, eta, sizeof(eta));
    }
    char frames[32] = "?";
    if (bar.frames > 0)
        snprintf(frames, sizeof(frames), "%lld", (long long)bar.frames);
    fprintf(stderr, "\r\033[Ktec: %s frame %lld/%s, row %lld/%lld, %.2f Mpx/s, ETA %s",
            bar.verb, (long long)frame + 1, frames, (long long)rows_done, (long long)bar.rows,
            mpx_s, eta);
    fflush(stderr);
    bar.drawn = 1;
}

void progress_clear(void)
{
    if (bar.drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        bar.drawn = 0;
    }
}

void progress_end(void)
{
    progress_clear();
    bar.on = 0;
}
