#include <stdio.h>
#include "arrays.h"
#include "sizes.h"

static double squares[POINTS * POINTS / 256 + 1];

void print_array(const char *name, const double *values, int count)
{
  int i;
  printf("%s:", name);
  for (i = 0; i < count; i++)
    printf(" %a", values[i]);
  printf("\n");
}

int main(void)
{
  int i;
  /* A region tiler cannot model (the subscript is not affine): compiled as written. */
#pragma scop
  for (i = 0; i < 16; i++)
    squares[i * i] = squares[i * i] + i;
#pragma endscop
  print_array("squares", squares, 16);
  matmul();
  smooth();
  return 0;
}
