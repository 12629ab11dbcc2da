/* syrk: the lower triangle of C := alpha A A^T + beta C, A of n x m.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 1200
#define M 1000
#endif
#ifndef N
#define N 43
#endif
#ifndef M
#define M 31
#endif

static void fill(int n, int m, real A[n][m], real C[n][n])
{
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < m; k++)
      A[i][k] = (real) ((i * 7 + k * 2 + 3) % 27) / 27;
    for (int j = 0; j < n; j++)
      C[i][j] = (real) ((i + j * 3 + 1) % 19) / 19;
  }
}

static void kernel_syrk(int n, int m, real alpha, real beta, real A[n][m], real C[n][n])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < n; i++) {
    for (j = 0; j <= i; j++)
      C[i][j] = beta * C[i][j];
    for (k = 0; k < m; k++)
      for (j = 0; j <= i; j++)
        C[i][j] = C[i][j] + alpha * A[i][k] * A[j][k];
  }
#pragma endscop
}

int main(void)
{
  int n = N, m = M;
  real (*A)[m] = suite_alloc((size_t) n * m, sizeof(real));
  real (*C)[n] = suite_alloc((size_t) n * n, sizeof(real));

  fill(n, m, A, C);
  SUITE_TIME(kernel_syrk(n, m, 1.5, 0.5, A, C));
  suite_output_real("C", C, (size_t) n * n);
  suite_finish();
  free(A);
  free(C);
  return 0;
}
