/* A harness header in the style of benchmark suites: sizes from -D flags, the element type,
 * array parameters through macros, and the printing of results done in harness.c. */
#ifndef HARNESS_H
#define HARNESS_H

#ifndef SIZE_N
#define SIZE_N 40
#endif
#ifndef SIZE_M
#define SIZE_M 30
#endif
#ifndef ELEMENT
#define ELEMENT double
#endif
#define BOUND_N SIZE_N
#define BOUND_M SIZE_M
#define CONSTANT(x) x
#define MATRIX(name, rows, columns) name[rows][columns]

void harness_print(const char *name, const ELEMENT *values, int count);

#endif
