/* gramschmidt: the thin QR factorisation A = Q R of an m x n matrix (m >= n) by modified
 * Gram-Schmidt: column k of Q is column k of A normalised, then projected out of every later
 * column of A (A is overwritten; R is n x n upper triangular).
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define M 1100
#define N 900
#endif
#ifndef M
#define M 47
#endif
#ifndef N
#define N 41
#endif

/* A dominant diagonal keeps the columns far from dependent. */
static void fill(int m, int n, real A[M][N])
{
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++)
      A[i][j] = (real) ((i * 5 + j * 3 + 2) % 17) / 17 + (i == j ? 4.0 : 0.0);
}

static void kernel_gramschmidt(int m, int n, real A[M][N], real R[N][N], real Q[M][N])
{
  int i, j, k;
  real norm2;
#pragma scop
  for (k = 0; k < n; k++) {
    norm2 = 0.0;
    for (i = 0; i < m; i++)
      norm2 = norm2 + A[i][k] * A[i][k];
    R[k][k] = real_sqrt(norm2);
    for (i = 0; i < m; i++)
      Q[i][k] = A[i][k] / R[k][k];
    for (j = k + 1; j < n; j++) {
      R[k][j] = 0.0;
      for (i = 0; i < m; i++)
        R[k][j] = R[k][j] + Q[i][k] * A[i][j];
      for (i = 0; i < m; i++)
        A[i][j] = A[i][j] - Q[i][k] * R[k][j];
    }
  }
#pragma endscop
}

int main(void)
{
  int m = M, n = N;
  real (*A)[N] = suite_alloc((size_t) M * N, sizeof(real));
  real (*R)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real (*Q)[N] = suite_alloc((size_t) M * N, sizeof(real));

  fill(m, n, A);
  SUITE_TIME(kernel_gramschmidt(m, n, A, R, Q));
  suite_output_real("A", A, (size_t) M * N);
  suite_output_real("R", R, (size_t) N * N);
  suite_output_real("Q", Q, (size_t) M * N);
  suite_finish();
  free(A);
  free(R);
  free(Q);
  return 0;
}
