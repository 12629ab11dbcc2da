/* A subscript computed in unsigned arithmetic was modelled as if it were signed: wrong output.
 *
 * The frontend took a cast to unsigned as no cast at all, and an unsigned constant as the same
 * signed constant (tiler/affine.py). But C computes (unsigned)(-(k + i + 1)) % 8u modulo 2^32:
 * for k + i + 1 = 3 it is 4294967293 % 8 = 5, not -3 % 8 = -3. The read of A was placed at
 * the wrong rows, the dependences between the writes of A[j + 1][j + 1][k + 1] and these reads
 * were missed, and the tiled nest ran them in another order. Casts to unsigned or narrower
 * types and unsigned constants are now not affine: this read is taken as one of any row.
 * Expected: the same output. Was: other values with --tile-sizes 16,4 (with or without
 * --parallel).
 *
 * Differential: --tile-sizes 16,4
 * Differential: --tile-sizes 16,4 --parallel
 * Differential: --tile-sizes 2,2,2
 */
#include <stdio.h>

static double A[8][9][9];

static void kernel(int n)
{
  int i, j, k;
#pragma scop
  for (i = 0; i < n; i += 2)
    for (j = 0; j <= n; j++)
      for (k = 2; k <= n; k++)
        A[j + 1][j + 1][k + 1] *= 0.5 + A[(unsigned) (-(k + i + 1)) % 8u][i + 2][j + 1];
#pragma endscop
}

int main(void)
{
  int i, j, k;
  for (i = 0; i < 8; i++)
    for (j = 0; j < 9; j++)
      for (k = 0; k < 9; k++)
        A[i][j][k] = (double) ((i * 7 + j * 3 + k) % 11) - 5.0;
  kernel(5);
  for (i = 0; i < 8; i++)
    for (j = 0; j < 9; j++)
      for (k = 0; k < 9; k++)
        printf("A[%d][%d][%d] = %a\n", i, j, k, A[i][j][k]);
  return 0;
}
