/* ludcmp: the solution x of A x = b by an in-place LU factorisation of A (no pivoting),
 * then forward substitution L y = b and back substitution U x = y. Each entry of the
 * factors is accumulated in the scalar acc before it is stored.
 * tiler: expect untiled (the scalar acc carries every entry across its k loop)
 */
#include "harness.h"

#ifdef LARGE
#define N 1600
#endif
#ifndef N
#define N 61
#endif

/* Diagonally dominant, so no pivot is small. */
static void fill(int n, real A[N][N], real b[N])
{
  for (int i = 0; i < n; i++) {
    b[i] = (real) ((i * 3 + 2) % 7) / 7 + 1.0;
    for (int j = 0; j < n; j++)
      A[i][j] = (real) ((i + j * 5 + 1) % 13) / 13 + (i == j ? 2.0 * n : 0);
  }
}

static void kernel_ludcmp(int n, real A[N][N], real b[N], real x[N], real y[N])
{
  int i, j, k;
  real acc;
#pragma scop
  for (i = 0; i < n; i++) {
    for (j = 0; j < i; j++) {
      acc = A[i][j];
      for (k = 0; k < j; k++)
        acc = acc - A[i][k] * A[k][j];
      A[i][j] = acc / A[j][j];
    }
    for (j = i; j < n; j++) {
      acc = A[i][j];
      for (k = 0; k < i; k++)
        acc = acc - A[i][k] * A[k][j];
      A[i][j] = acc;
    }
  }
  for (i = 0; i < n; i++) {
    acc = b[i];
    for (j = 0; j < i; j++)
      acc = acc - A[i][j] * y[j];
    y[i] = acc;
  }
  for (i = n - 1; i >= 0; i--) {
    acc = y[i];
    for (j = i + 1; j < n; j++)
      acc = acc - A[i][j] * x[j];
    x[i] = acc / A[i][i];
  }
#pragma endscop
}

int main(void)
{
  int n = N;
  real (*A)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real *b = suite_alloc((size_t) N, sizeof(real));
  real *x = suite_alloc((size_t) N, sizeof(real));
  real *y = suite_alloc((size_t) N, sizeof(real));

  fill(n, A, b);
  SUITE_TIME(kernel_ludcmp(n, A, b, x, y));
  suite_output_real("A", A, (size_t) N * N);
  suite_output_real("x", x, (size_t) N);
  suite_output_real("y", y, (size_t) N);
  suite_finish();
  free(A);
  free(b);
  free(x);
  free(y);
  return 0;
}
