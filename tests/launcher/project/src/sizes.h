/* Found through #include "sizes.h" beside the sources (not through -I). */
#ifndef SIZES_H
#define SIZES_H
#define ROWS 67
#define COLUMNS 45
#define INNER 53
#define POINTS 301
#define STEPS 23
#endif
