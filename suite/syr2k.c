/* syr2k: the lower triangle of C := alpha (A B^T + B A^T) + beta C, A and B of n x m.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 1000
#define M 900
#endif
#ifndef N
#define N 37
#endif
#ifndef M
#define M 29
#endif

static void fill(int n, int m, real A[N][M], real B[N][M], real C[N][N])
{
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < m; k++) {
      A[i][k] = (real) ((i + k * 5 + 2) % 21) / 21;
      B[i][k] = (real) ((i * 3 + k + 7) % 25) / 25 - 0.5;
    }
    for (int j = 0; j < n; j++)
      C[i][j] = (real) ((i * 2 + j + 4) % 15) / 15;
  }
}

static void kernel_syr2k(int n, int m, real alpha, real beta, real A[N][M], real B[N][M],
                         real C[N][N])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < n; i++) {
    for (j = 0; j <= i; j++)
      C[i][j] = beta * C[i][j];
    for (k = 0; k < m; k++)
      for (j = 0; j <= i; j++)
        C[i][j] = C[i][j] + alpha * A[j][k] * B[i][k] + alpha * B[j][k] * A[i][k];
  }
#pragma endscop
}

int main(void)
{
  int n = N, m = M;
  real (*A)[M] = suite_alloc((size_t) N * M, sizeof(real));
  real (*B)[M] = suite_alloc((size_t) N * M, sizeof(real));
  real (*C)[N] = suite_alloc((size_t) N * N, sizeof(real));

  fill(n, m, A, B, C);
  SUITE_TIME(kernel_syr2k(n, m, 1.5, 0.5, A, B, C));
  suite_output_real("C", C, (size_t) N * N);
  suite_finish();
  free(A);
  free(B);
  free(C);
  return 0;
}
