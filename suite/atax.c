/* atax: y := A^T (A x) for A of m x n, through the intermediate t := A x.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define M 2000
#define N 2400
#endif
#ifndef M
#define M 47
#endif
#ifndef N
#define N 53
#endif

static void fill(int m, int n, real A[M][N], real x[N])
{
  for (int j = 0; j < n; j++)
    x[j] = 1.0 + (real) (j % 9) / 9;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++)
      A[i][j] = (real) ((i * 5 + j * 11 + 1) % 37) / (5 * m);
}

static void kernel_atax(int m, int n, real A[M][N], real x[N], real y[N], real t[M])
{
  int i, j;
#pragma scop
  for (j = 0; j < n; j++)
    y[j] = 0.0;
  for (i = 0; i < m; i++) {
    t[i] = 0.0;
    for (j = 0; j < n; j++)
      t[i] = t[i] + A[i][j] * x[j];
    for (j = 0; j < n; j++)
      y[j] = y[j] + A[i][j] * t[i];
  }
#pragma endscop
}

int main(void)
{
  int m = M, n = N;
  real (*A)[N] = suite_alloc((size_t) M * N, sizeof(real));
  real *x = suite_alloc((size_t) N, sizeof(real));
  real *y = suite_alloc((size_t) N, sizeof(real));
  real *t = suite_alloc((size_t) M, sizeof(real));

  fill(m, n, A, x);
  SUITE_TIME(kernel_atax(m, n, A, x, y, t));
  suite_output_real("y", y, (size_t) N);
  suite_output_real("t", t, (size_t) M);
  suite_finish();
  free(A);
  free(x);
  free(y);
  free(t);
  return 0;
}
