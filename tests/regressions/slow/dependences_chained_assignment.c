/* Computing the dependences of three statements in a five-deep nest takes minutes.
 *
 * The loops over k and S0 are strided (k = 4, 1 and S0 = 0, 2, ...), so the domains have
 * existentially quantified variables, and the first statement is a chained assignment (two
 * writes of A). The memory-based dependence analysis (UnionAccessInfo.compute_flow, in
 * tiler/dependences.py) on these takes more than 25 s here, and had not finished after twenty
 * minutes on the generated program this is reduced from; without the outer loop over i, or
 * with a plain assignment, it takes a tenth of a second. It had no time or operation budget,
 * so the pass hung; the whole analysis of a region now has a budget of isl operations
 * (REGION_MAX_OPERATIONS in tiler/pipeline.py), past which the region is left as it is. One
 * generated program in about fifty hits it.
 * Expected: done within a few seconds. Seen: more than 25 s (minutes for similar programs);
 * now under 2 s, region left unchanged.
 *
 * Differential: --tile-sizes 4,4,4,4
 */
#include <stdio.h>

#define N 6
#define M 6

static double A[10][10][16];

static void kernel(int n, int m)
{
  int i, j, k, l, S0;
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      for (k = 4; k > 0; k -= 3) {
        for (S0 = 0; S0 <= j + k; S0 += 2)
          A[i + 1][j + 1][n - S0 + 4] = A[i + 1][j + 3][k + 5] = A[i + 1][m - k + 2][k + 5];
        for (l = 0; l < m; l++) {
          A[i + 1][6][k + 6] -= A[i + 1][j + 3][i + k + 5] + A[i + 3][j + 3][i + 5];
          A[i + 1][j + 3][k + 5] = A[i + 1][j + 3][k + 5] + A[i + 1][j + 3][i + 5]
                                   - A[l + 1][j + 3][k + 5];
        }
      }
#pragma endscop
}

int main(void)
{
  int i, j, k;
  for (i = 0; i < 10; i++)
    for (j = 0; j < 10; j++)
      for (k = 0; k < 16; k++)
        A[i][j][k] = (double) ((i * 7 + j * 3 + k) % 11) / 4.0;
  kernel(N, M);
  for (i = 0; i < 10; i++)
    for (j = 0; j < 10; j++)
      for (k = 0; k < 16; k++)
        printf("A[%d][%d][%d] = %a\n", i, j, k, A[i][j][k]);
  return 0;
}
