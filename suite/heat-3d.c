/* heat-3d: tsteps double steps of the explicit heat equation on the interior of an
 * n x n x n grid (seven-point Laplacian, diffusion number 0.1), a into b and back into a.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define TSTEPS 60
#define N 140
#endif
#ifndef TSTEPS
#define TSTEPS 7
#endif
#ifndef N
#define N 17
#endif

static void fill(int n, real a[N][N][N], real b[N][N][N])
{
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      for (int k = 0; k < n; k++) {
        a[i][j][k] = (real) ((i * 5 + j * 3 + k + 1) % 23) / 23;
        b[i][j][k] = a[i][j][k];
      }
}

static void kernel_heat_3d(int tsteps, int n, real a[N][N][N], real b[N][N][N])
{
  int t, i, j, k;
#pragma scop
  for (t = 0; t < tsteps; t++) {
    for (i = 1; i < n - 1; i++)
      for (j = 1; j < n - 1; j++)
        for (k = 1; k < n - 1; k++)
          b[i][j][k] = 0.4 * a[i][j][k]
                       + 0.1 * (a[i - 1][j][k] + a[i + 1][j][k] + a[i][j - 1][k]
                                + a[i][j + 1][k] + a[i][j][k - 1] + a[i][j][k + 1]);
    for (i = 1; i < n - 1; i++)
      for (j = 1; j < n - 1; j++)
        for (k = 1; k < n - 1; k++)
          a[i][j][k] = 0.4 * b[i][j][k]
                       + 0.1 * (b[i - 1][j][k] + b[i + 1][j][k] + b[i][j - 1][k]
                                + b[i][j + 1][k] + b[i][j][k - 1] + b[i][j][k + 1]);
  }
#pragma endscop
}

int main(void)
{
  int tsteps = TSTEPS, n = N;
  real (*a)[N][N] = suite_alloc((size_t) N * N * N, sizeof(real));
  real (*b)[N][N] = suite_alloc((size_t) N * N * N, sizeof(real));

  fill(n, a, b);
  SUITE_TIME(kernel_heat_3d(tsteps, n, a, b));
  suite_output_real("a", a, (size_t) N * N * N);
  suite_output_real("b", b, (size_t) N * N * N);
  suite_finish();
  free(a);
  free(b);
  return 0;
}
