/*
 * Pieces the tec commands share (tools/tec.c is main(); each command is one
 * file, tools/cmd_*.c): messages, option parsing (cli_parse.c), files
 * (cli_files.c) and reading .tecv streams packet by packet (tecv_input.c).
 */
#ifndef TEC_TOOLS_TEC_CLI_H
#define TEC_TOOLS_TEC_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "tec/tec.h"
#include "tec_util.h"

#define EXIT_USAGE 2
#define MAX_META 256
#define MAX_THREADS 256
/* The model the encoder picks for Sentinel-2 bands when none is named. */
#define DEFAULT_MODEL "tec-s2-tt"
/* Metadata key of the input's rank, so decode gives back (C,H,W) or (T,C,H,W). */
#define KEY_RANK "input_rank"

#define MSG_SIZE 1024

/* One line "tec: ..." on stderr, newlines in the text made spaces. */
void cli_error(const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* "tec: warning: ...": the command goes on. */
void cli_warning(const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 1, 2)))
#endif
    ;

typedef struct OptDef {
    const char *name;
    char short_name;
    int has_arg;
    int id;
} OptDef;

typedef struct ArgIter {
    int argc;
    char **argv;
    int i;
    int positional_only;
    const char *cmd;
} ArgIter;

enum { OPT_DONE = -100, OPT_POSITIONAL, OPT_ERROR };

/* Next option id, OPT_POSITIONAL (the word in *val), OPT_DONE or OPT_ERROR
 * (reported).  An option's value is the next word even when it starts with
 * '-', so "--nodata -1" and "--dates --09,--10" work. */
int cli_next_option(ArgIter *it, const OptDef *defs, const char **val);
/* --quality and --threads values; 0, or -1 (reported). */
int cli_parse_quality(const char *v, int *q);
int cli_parse_threads(const char *v, int *threads);
/* An integer option from lo to hi. */
int cli_parse_range(const char *v, const char *option, int lo, int hi, int *out);

/* "-": stdin or stdout. */
int cli_is_stdio(const char *path);
/* Writing the output over the input would destroy the input before it is read. */
int cli_same_file(const char *a, const char *b);
/* Raw .tecv payloads are little-endian whatever the host. */
void cli_swap_to_le16(uint16_t *p, size_t n);
/* The weights directory to give libtec: dir (--weights-dir) when set; else,
 * unless $TEC_WEIGHTS is set, the source tree's weights/ when this tec runs
 * from the tree (tools/tec, build-asan/tec), since the library searches
 * only the install directory; else NULL. */
const char *cli_weights_dir(const char *dir);

/*
 * Which frame a packet is.  Packets carry no index, so they are counted; a
 * corrupt packet counts as the frame it replaces.  When the header's dates
 * give acquisition times, a packet's time finds its frame even after a
 * damaged stretch swallowed more than one packet.
 */
typedef struct Walk {
    TecvReader *r;
    int64_t next;
    TecList labels;  /* the "dates" metadata, one per frame */
    int64_t *times;  /* their times where they are ISO dates */
    uint8_t *timed;
} Walk;

/* 0, or -1 when out of memory. */
int cli_walk_init(Walk *w, TecvReader *r);
void cli_walk_free(Walk *w);
/* 0: a packet, its frame in *idx; 1: a corrupt packet taken as frame *idx;
 * TEC_EOF; another negative code: the file cannot be read on. */
int cli_walk_next(Walk *w, const uint8_t **data, size_t *size, int64_t *time_ms, int *flags,
                  int64_t *idx);
/* Frames of a stream written to a pipe (frame_count 0): count the packets. */
int cli_count_packets(const char *path, int64_t *count);
/* Opens a .tecv of a known codec, its frame count checked against the file's
 * size; 0, or -1 (reported). */
int cli_open_reader(TecvReader **r, const char *path);

/* The commands: argv[0] is the command's name; they return the exit status. */
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_compare(int argc, char **argv);
void usage_encode(FILE *f);
void usage_decode(FILE *f);
void usage_info(FILE *f);

#endif
