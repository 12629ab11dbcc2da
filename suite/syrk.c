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

static void fill(int n, int m, real A[N][M], real C[N][N])
{
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < m; k++)
      A[i][k] = (real) ((i * 7 + k * 2 + 3) % 27) / 27;
    for (int j = 0; j < n; j++)
      C[i][j] = (real) ((i + j * 3 + 1) % 19) / 19;
  }
}

static void kernel_syrk(int n, int m, real alpha, real beta, real A[N][M], real C[N][N])
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
  real (*A)[M] = suite_alloc((size_t) N * M, sizeof(real));
  real (*C)[N] = suite_alloc((size_t) N * N, sizeof(real));

  fill(n, m, A, C);
  SUITE_TIME(kernel_syrk(n, m, 1.5, 0.5, A, C));
  suite_output_real("C", C, (size_t) N * N);
  suite_finish();
  free(A);
  free(C);
  return 0;
}
