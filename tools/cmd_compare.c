/* tec compare: runs tools/compare.py with this tec. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tec/tec.h"
#include "tec_cli.h"

/* ------------------------------------------------------------------ compare */

/* tools/compare.py beside this program (tools/tec, build-asan/tec), or
 * under the install prefix. */
static int find_compare(char *script, size_t size, char *exe, size_t exe_size)
{
    ssize_t n = readlink("/proc/self/exe", exe, exe_size - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", exe);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    const char *candidates[] = {
        "%s/compare.py", "%s/../tools/compare.py", "%s/../share/tec/tools/compare.py",
    };
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        snprintf(script, size, candidates[i], dir);
        if (!access(script, R_OK))
            return 0;
    }
#ifdef TEC_TOOLS_DIR
    snprintf(script, size, "%s/compare.py", TEC_TOOLS_DIR);
    if (!access(script, R_OK))
        return 0;
#endif
    return -1;
}

int cmd_compare(int argc, char **argv)
{
    char script[4200], exe[4096];
    if (find_compare(script, sizeof(script), exe, sizeof(exe)) < 0) {
        cli_error("compare: tools/compare.py not found next to this program or under the "
              "install prefix");
        return EXIT_FAILURE;
    }
    const char *python = getenv("TEC_PYTHON");
    if (!python || !*python)
        python = "/usr/bin/python3";
    if (access(python, X_OK)) {
        cli_error("compare: %s not found (set TEC_PYTHON to a Python 3 with numpy)", python);
        return EXIT_FAILURE;
    }
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    if (!args) {
        cli_error("out of memory");
        return EXIT_FAILURE;
    }
    args[0] = (char *)python;
    args[1] = script;
    for (int i = 1; i < argc; i++)
        args[i + 1] = argv[i];
    setenv("TEC", exe, 0);  /* compare.py runs this very tec */
    fflush(NULL);
    execv(python, args);
    cli_error("compare: cannot run %s: %s", python, strerror(errno));
    free(args);
    return EXIT_FAILURE;
}
