/* seidel-2d: tsteps Gauss-Seidel sweeps of the nine-point average over the interior of an
 * n x n grid, in place: each point takes the mean of its 3 x 3 neighbourhood, the points
 * above and to the left already updated in the same sweep.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define TSTEPS 40
#define N 1600
#endif
#ifndef TSTEPS
#define TSTEPS 11
#endif
#ifndef N
#define N 37
#endif

static void fill(int n, real g[N][N])
{
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      g[i][j] = (real) ((i * i + j * 5 + 7) % 43) / 43;
}

static void kernel_seidel_2d(int tsteps, int n, real g[N][N])
{
  int t, i, j;
#pragma scop
  for (t = 0; t < tsteps; t++)
    for (i = 1; i < n - 1; i++)
      for (j = 1; j < n - 1; j++)
        g[i][j] = (g[i - 1][j - 1] + g[i - 1][j] + g[i - 1][j + 1]
                   + g[i][j - 1] + g[i][j] + g[i][j + 1]
                   + g[i + 1][j - 1] + g[i + 1][j] + g[i + 1][j + 1]) / 9.0;
#pragma endscop
}

int main(void)
{
  int tsteps = TSTEPS, n = N;
  real (*g)[N] = suite_alloc((size_t) N * N, sizeof(real));

  fill(n, g);
  SUITE_TIME(kernel_seidel_2d(tsteps, n, g));
  suite_output_real("g", g, (size_t) N * N);
  suite_finish();
  free(g);
  return 0;
}
