/* A progress line on stderr for long encodes and decodes: frames and rows
 * done, the rate and the time left.  Drawn only when stderr is a terminal
 * and the command was not run with --quiet; redrawn a few times a second at
 * most, and erased when the work ends or before a message is printed. */
#ifndef TEC_TOOLS_PROGRESS_H
#define TEC_TOOLS_PROGRESS_H

#include <stdint.h>

/* Starts the line for frames x rows_per_frame rows (frames 0: unknown).
 * enabled 0 (--quiet, --verbose) keeps it off. */
void progress_start(const char *verb, int64_t frames, int64_t rows_per_frame,
                    int64_t pixels_per_row, int enabled);
/* rows_done rows of frame are done (frames before it count as whole). */
void progress_update(int64_t frame, int64_t rows_done);
/* Erases the line, if one is drawn, so the next output starts clean. */
void progress_clear(void);
/* Erases it for good. */
void progress_end(void);

#endif
