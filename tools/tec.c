/*
 * tec: the TerraCodec command line tool.
 *
 *   tec encode IN.npy -o OUT.tecv [options]   .npy uint16 cube -> .tecv
 *   tec decode IN.tecv -o OUT.npy [options]   .tecv -> .npy, the input's shape
 *   tec info IN.tecv [--json]                 stream description, rate per frame
 *   tec compare ...                           tools/compare.py
 *
 * Samples move between the .npy files and the codec in stripes (the
 * encoder's row_source, the decoder's row_sink), so memory stays bounded
 * for a full Sentinel-2 tile.  Every failure prints one line "tec: ..." on
 * stderr and exits non-zero.
 *
 * This file is main(); each command is one file (cmd_encode.c, cmd_decode.c,
 * cmd_info.c, cmd_compare.c), sharing tec_cli.h: messages and options
 * (cli_parse.c), files (cli_files.c), .tecv input (tecv_input.c), .npy
 * input and output (npy.c), GDAL input and output (gdal_input.c,
 * gdal_output.c, behind cube_input.c and cube_output.c) and the progress
 * bar (progress.c).
 */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tec/tec.h"
#include "tec_cli.h"

/* ------------------------------------------------------------------ main */

static void usage_main(FILE *f)
{
    fprintf(f,
"usage: tec COMMAND [options]\n"
"\n"
"TerraCodec: learned compression of multispectral satellite image time series.\n"
"\n"
"commands:\n"
"  encode IN.npy -o OUT.tecv    compress a uint16 (T,)C,H,W cube (Sentinel-2 bands);\n"
"                               also GeoTIFFs (one per date), a SAFE, a STAC item\n"
"  decode IN.tecv -o OUT.npy    decompress to the cube's shape (OUT.tif: GeoTIFFs)\n"
"  info IN.tecv [--json]        bands, size, dates, model, bits of each frame\n"
"  compare ...                  rate-distortion comparison (tools/compare.py)\n"
"  help [COMMAND]               this text, or a command's options\n"
"  --version                    versions of tec and libtec\n"
"\n"
"Weights (NAME.tecw) are looked up in --weights-dir, $TEC_WEIGHTS (colon-\n"
"separated), the install prefix and the source tree.  See doc/cli.md.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_main(stderr);
        cli_error("no command given");
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "encode"))
        return cmd_encode(argc - 1, argv + 1);
    if (!strcmp(cmd, "decode"))
        return cmd_decode(argc - 1, argv + 1);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "compare"))
        return cmd_compare(argc - 1, argv + 1);
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("tec %d.%d.%d (libtec %s)\n", TEC_VERSION_MAJOR, TEC_VERSION_MINOR,
               TEC_VERSION_PATCH, tec_version());
        return EXIT_SUCCESS;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        const char *topic = argc > 2 ? argv[2] : NULL;
        if (!topic)
            usage_main(stdout);
        else if (!strcmp(topic, "encode"))
            usage_encode(stdout);
        else if (!strcmp(topic, "decode"))
            usage_decode(stdout);
        else if (!strcmp(topic, "info"))
            usage_info(stdout);
        else if (!strcmp(topic, "compare"))
            printf("usage: tec compare ARGS...: runs tools/compare.py ARGS (see "
                   "'tec compare --help')\n");
        else {
            cli_error("help: unknown command '%s'", topic);
            return EXIT_USAGE;
        }
        return EXIT_SUCCESS;
    }
    cli_error("unknown command '%s' (see 'tec help')", cmd);
    return EXIT_USAGE;
}
