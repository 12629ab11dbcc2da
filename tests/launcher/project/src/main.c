#include "arrays.h"
#include "sizes.h"

static double squares[POINTS * POINTS / 256 + 1];

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
