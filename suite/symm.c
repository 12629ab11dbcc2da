/* symm: C := alpha S B + beta C, where S (m x m) is symmetric and only its lower triangle
 * (with the diagonal) is stored in A; B and C are m x n. The product is split at the
 * diagonal: rows k <= i of S are read as A[i][k], rows k > i as A[k][i].
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define M 1000
#define N 1200
#endif
#ifndef M
#define M 41
#endif
#ifndef N
#define N 47
#endif

static void fill(int m, int n, real A[M][M], real B[M][N], real C[M][N])
{
  for (int i = 0; i < m; i++) {
    for (int k = 0; k <= i; k++)
      A[i][k] = (real) ((i * 3 + k * 5 + 1) % 17) / 17;
    for (int k = i + 1; k < m; k++)
      A[i][k] = -1000.0;       /* never read: the upper triangle is not part of S */
    for (int j = 0; j < n; j++) {
      B[i][j] = (real) ((i + 2 * j + 3) % 23) / 23;
      C[i][j] = (real) ((i * j + 1) % 13) / 13 - 0.5;
    }
  }
}

static void kernel_symm(int m, int n, real alpha, real beta, real A[M][M], real B[M][N],
                        real C[M][N])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < m; i++)
    for (j = 0; j < n; j++)
      C[i][j] = beta * C[i][j];
  for (i = 0; i < m; i++)
    for (k = 0; k <= i; k++)
      for (j = 0; j < n; j++)
        C[i][j] = C[i][j] + alpha * A[i][k] * B[k][j];
  for (i = 0; i < m; i++)
    for (k = i + 1; k < m; k++)
      for (j = 0; j < n; j++)
        C[i][j] = C[i][j] + alpha * A[k][i] * B[k][j];
#pragma endscop
}

int main(void)
{
  int m = M, n = N;
  real (*A)[M] = suite_alloc((size_t) M * M, sizeof(real));
  real (*B)[N] = suite_alloc((size_t) M * N, sizeof(real));
  real (*C)[N] = suite_alloc((size_t) M * N, sizeof(real));

  fill(m, n, A, B, C);
  SUITE_TIME(kernel_symm(m, n, 1.5, 0.75, A, B, C));
  suite_output_real("C", C, (size_t) M * N);
  suite_finish();
  free(A);
  free(B);
  free(C);
  return 0;
}
