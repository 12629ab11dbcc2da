/* A small stand-in for a benchmark harness header in the PolyBench/C style: array parameters
 * written through macros, loop bounds as _PB_ macros, a DATA_TYPE and SCALAR_VAL. */
#ifndef HARNESS_H
#define HARNESS_H
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#ifndef DATA_TYPE
#define DATA_TYPE double
#endif
#define SCALAR_VAL(x) x
#define SQRT_FUN(x) sqrt(x)
#define ARRAY_2D(var, d1, d2, s1, s2) var[d1][d2]
#define ARRAY_1D(var, d1, s1) var[d1]
#define LOOP_BOUND(x, y) y
#endif
