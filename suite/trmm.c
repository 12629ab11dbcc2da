/* trmm: B := alpha L^T B, L (m x m) unit lower triangular (its strict lower triangle stored
 * in A, the unit diagonal implied), B of m x n. Row i of the result needs rows k > i of B,
 * which are updated later, so the product is done in place row by row from the top.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define M 1200
#define N 1400
#endif
#ifndef M
#define M 43
#endif
#ifndef N
#define N 37
#endif

static void fill(int m, int n, real A[M][M], real B[M][N])
{
  for (int i = 0; i < m; i++) {
    for (int k = 0; k < m; k++)
      A[i][k] = k < i ? (real) ((i * 5 + k + 2) % 19) / (19 * 4) : 0.0;
    for (int j = 0; j < n; j++)
      B[i][j] = (real) ((i + j * 7 + 1) % 29) / 29;
  }
}

static void kernel_trmm(int m, int n, real alpha, real A[M][M], real B[M][N])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < m; i++) {
    for (k = i + 1; k < m; k++)
      for (j = 0; j < n; j++)
        B[i][j] = B[i][j] + A[k][i] * B[k][j];
    for (j = 0; j < n; j++)
      B[i][j] = alpha * B[i][j];
  }
#pragma endscop
}

int main(void)
{
  int m = M, n = N;
  real (*A)[M] = suite_alloc((size_t) M * M, sizeof(real));
  real (*B)[N] = suite_alloc((size_t) M * N, sizeof(real));

  fill(m, n, A, B);
  SUITE_TIME(kernel_trmm(m, n, 1.25, A, B));
  suite_output_real("B", B, (size_t) M * N);
  suite_finish();
  free(A);
  free(B);
  return 0;
}
