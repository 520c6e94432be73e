/*
 * Writes DIR/fate-tiny.tecw: a tiny random model for the FATE tests of the
 * FFmpeg glue (fate-tests/tec.mak), made by the unit tests' generator, so
 * that the references do not change when the shipped weights are retrained.
 *
 *   fate-tecw DIR
 */
#include "tecw_gen.h"

int main(int argc, char **argv)
{
    TecwGenParams p = tecw_gen_defaults();

    if (argc != 2) {
        fprintf(stderr, "usage: fate-tecw DIR\n");
        return 2;
    }
    p.name = "fate-tiny";
    p.seed = 5;
    if (tecw_write(argv[1], &p)) {
        fprintf(stderr, "fate-tecw: cannot write %s/%s.tecw\n", argv[1], p.name);
        return 1;
    }
    return 0;
}
