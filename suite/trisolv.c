/* trisolv: the solution x of L x = b for a lower triangular L, by forward substitution.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 2400
#endif
#ifndef N
#define N 71
#endif

static void fill(int n, real L[N][N], real b[N])
{
  for (int i = 0; i < n; i++) {
    b[i] = (real) (i % 9) / 9 - 0.25;
    for (int j = 0; j < n; j++)
      L[i][j] = j <= i ? (real) ((i * 2 + j * 9 + 5) % 23) / (23.0 * n) : 0.0;
    L[i][i] = 1.0 + (real) (i % 4) / 4;
  }
}

static void kernel_trisolv(int n, real L[N][N], real x[N], real b[N])
{
  int i, j;
#pragma scop
  for (i = 0; i < n; i++) {
    x[i] = b[i];
    for (j = 0; j < i; j++)
      x[i] = x[i] - L[i][j] * x[j];
    x[i] = x[i] / L[i][i];
  }
#pragma endscop
}

int main(void)
{
  int n = N;
  real (*L)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real *x = suite_alloc((size_t) N, sizeof(real));
  real *b = suite_alloc((size_t) N, sizeof(real));

  fill(n, L, b);
  SUITE_TIME(kernel_trisolv(n, L, x, b));
  suite_output_real("x", x, (size_t) N);
  suite_finish();
  free(L);
  free(x);
  free(b);
  return 0;
}
