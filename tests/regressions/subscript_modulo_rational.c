/* A subscript with a remainder made the cache model crash.
 *
 * For even i, isl rewrites (2 * (i + j)) % 7 as ((4j - 3i) mod 14) / 2: an affine piece with
 * rational coefficients. The footprint model read every coefficient of an access as an
 * integer (tiler/footprint.py) and raised "ValueError: can only convert integer Val to
 * python" before any code was written; it now takes them as the rationals they are.
 * Expected: the region tiled. Was: the pass crashed with a ValueError.
 *
 * Differential: --tile-sizes 2,2,2
 * Differential: --tile-sizes 32 --parallel
 * Expect: tiled
 */
#include <stdio.h>

static double A[7][8][7];

static void kernel(int n)
{
  int i, j, k;
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j <= n; j++)
      for (k = 0; k <= n - 1; k++)
        if (i % 2 == 0)
          A[i + 1][j + 1][k + 1] += A[i + 1][j + 1][(unsigned) ((i + j) * 2) % 7u];
#pragma endscop
}

int main(void)
{
  int i, j, k;
  for (i = 0; i < 7; i++)
    for (j = 0; j < 8; j++)
      for (k = 0; k < 7; k++)
        A[i][j][k] = (double) ((i * 37 + j * 11 + k) % 101) / 50.0 - 1.0;
  kernel(5);
  for (i = 0; i < 7; i++)
    for (j = 0; j < 8; j++)
      for (k = 0; k < 7; k++)
        printf("A[%d][%d][%d] = %a\n", i, j, k, A[i][j][k]);
  return 0;
}
