/* Generating the code of a tiled nest of four strided loops takes minutes.
 *
 * Every loop here steps by 2 or 3 from a start that depends on a parameter or an outer
 * iterator, so the domains carry several existentially quantified variables. The schedule is
 * computed quickly, but isl's AST generator (AstBuild.node_from_schedule in tiler/codegen.py)
 * spends its time on the tiled bands (with or without the separation of full and partial tiles
 * that the point bands ask for): 25 s for this region, and more than ten minutes for the
 * generated program it was reduced from (two more statements). isl's operation budget does
 * not count this work, so code generation now runs in a child process stopped after
 * CODEGEN_SECONDS (tiler/pipeline.py), and the region is left as it is. One generated program
 * in a few hundred hits it.
 * Expected: done within a few seconds. Seen: 25 s; now about 6 s, region left unchanged.
 *
 * Differential: --tile-sizes 4,4,4,4
 */
#include <stdio.h>

#define N 0
#define M 9

#ifndef max
#define max(x, y) ((x) > (y) ? (x) : (y))
#endif

static double A[9][12], B[9][12][4];

static void kernel(int n, int m)
{
  int j, S0, t1, c0;
#pragma scop
  for (j = m - 1; j >= 0; j -= 3)
    for (S0 = m + 1; S0 > j + 2; S0 -= 2) {
      if (S0 <= 2 * j - n - 2) {
        if (!(j <= S0 - j - 1)) {
          A[j][S0] = A[j][S0] * 0.5 + 1.0;
        } else {
          for (t1 = m / 3; t1 > 0; t1 -= 3)
            if (j != 2)
              for (c0 = max(0, t1 - 1); c0 <= 2; c0 += 3)
                B[j][S0][t1] = B[j][S0][t1] + (double) (c0 + 2);
        }
      }
    }
#pragma endscop
}

int main(void)
{
  int i, j, k;
  for (i = 0; i < 9; i++)
    for (j = 0; j < 12; j++) {
      A[i][j] = (double) ((i * 7 + j * 3) % 11) / 4.0;
      for (k = 0; k < 4; k++)
        B[i][j][k] = (double) ((i + j * 5 + k) % 13) / 8.0;
    }
  kernel(N, M);
  for (i = 0; i < 9; i++)
    for (j = 0; j < 12; j++) {
      printf("A[%d][%d] = %a\n", i, j, A[i][j]);
      for (k = 0; k < 4; k++)
        printf("B[%d][%d][%d] = %a\n", i, j, k, B[i][j][k]);
    }
  return 0;
}
