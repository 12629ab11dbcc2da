#include "arrays.h"
#include "sizes.h"

static double left[ROWS][INNER], right[INNER][COLUMNS], product[ROWS][COLUMNS];

void matmul(void)
{
  int i, j, k;
  for (i = 0; i < ROWS; i++)
    for (k = 0; k < INNER; k++)
      left[i][k] = (double) ((i * 7 + k * 3) % 19) / 19.0 - 0.4;
  for (k = 0; k < INNER; k++)
    for (j = 0; j < COLUMNS; j++)
      right[k][j] = (double) ((k * 5 + j * 11) % 23) / 23.0 + 0.1;
#pragma scop
  for (i = 0; i < ROWS; i++)
    for (j = 0; j < COLUMNS; j++) {
      product[i][j] = 0.5 * product[i][j];
      for (k = 0; k < INNER; k++)
        product[i][j] += 1.25 * left[i][k] * right[k][j];
    }
#pragma endscop
  print_array("product", &product[0][0], ROWS * COLUMNS);
}
