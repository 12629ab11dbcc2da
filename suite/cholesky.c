/* cholesky: the factor L of a symmetric positive definite A = L L^T, computed in place in
 * the lower triangle of A, row by row (the upper triangle is left as it was).
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 1800
#endif
#ifndef N
#define N 53
#endif

/* Symmetric, with a diagonal larger than the sum of the row: positive definite. */
static void fill(int n, real A[N][N])
{
  for (int i = 0; i < n; i++)
    for (int j = 0; j <= i; j++) {
      real value = (real) ((i * 3 + j * 7 + 1) % 13) / 13;
      A[i][j] = value;
      A[j][i] = value;
    }
  for (int i = 0; i < n; i++)
    A[i][i] = n + 1.0;
}

static void kernel_cholesky(int n, real A[N][N])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < n; i++) {
    for (j = 0; j < i; j++) {
      for (k = 0; k < j; k++)
        A[i][j] = A[i][j] - A[i][k] * A[j][k];
      A[i][j] = A[i][j] / A[j][j];
    }
    for (k = 0; k < i; k++)
      A[i][i] = A[i][i] - A[i][k] * A[i][k];
    A[i][i] = real_sqrt(A[i][i]);
  }
#pragma endscop
}

int main(void)
{
  int n = N;
  real (*A)[N] = suite_alloc((size_t) N * N, sizeof(real));

  fill(n, A);
  SUITE_TIME(kernel_cholesky(n, A));
  suite_output_real("A", A, (size_t) N * N);
  suite_finish();
  free(A);
  return 0;
}
