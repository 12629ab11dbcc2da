/* jacobi-2d: tsteps double sweeps of a five-point weighted average (the centre weighs half,
 * each neighbour an eighth) on the interior of an n x n grid, a into b and back into a.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define TSTEPS 200
#define N 1500
#endif
#ifndef TSTEPS
#define TSTEPS 13
#endif
#ifndef N
#define N 41
#endif

static void fill(int n, real a[N][N], real b[N][N])
{
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      a[i][j] = (real) ((i * 3 + j * 11 + 2) % 31) / 31;
      b[i][j] = (real) ((i + j * 2 + 5) % 19) / 19;
    }
}

static void kernel_jacobi_2d(int tsteps, int n, real a[N][N], real b[N][N])
{
  int t, i, j;
#pragma scop
  for (t = 0; t < tsteps; t++) {
    for (i = 1; i < n - 1; i++)
      for (j = 1; j < n - 1; j++)
        b[i][j] = 0.5 * a[i][j] + 0.125 * (a[i - 1][j] + a[i + 1][j] + a[i][j - 1] + a[i][j + 1]);
    for (i = 1; i < n - 1; i++)
      for (j = 1; j < n - 1; j++)
        a[i][j] = 0.5 * b[i][j] + 0.125 * (b[i - 1][j] + b[i + 1][j] + b[i][j - 1] + b[i][j + 1]);
  }
#pragma endscop
}

int main(void)
{
  int tsteps = TSTEPS, n = N;
  real (*a)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real (*b)[N] = suite_alloc((size_t) N * N, sizeof(real));

  fill(n, a, b);
  SUITE_TIME(kernel_jacobi_2d(tsteps, n, a, b));
  suite_output_real("a", a, (size_t) N * N);
  suite_output_real("b", b, (size_t) N * N);
  suite_finish();
  free(a);
  free(b);
  return 0;
}
