/* What tools/gdal_input.c and tools/gdal_output.c share (GDAL builds only). */
#ifndef TEC_TOOLS_GDAL_COMMON_H
#define TEC_TOOLS_GDAL_COMMON_H

#include <stddef.h>

/* Registers the drivers, routes GDAL's messages into tec's and bounds its
 * block cache (64 MiB unless GDAL_CACHEMAX is set); once. */
void tec_gdal_setup(void);
/* GDAL's last error message, or a stand-in. */
const char *tec_gdal_why(void);
/* The shortest decimal text that reads back as v. */
void tec_format_double(double v, char *buf, size_t size);

#endif
