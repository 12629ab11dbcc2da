/* jacobi-1d: tsteps double sweeps of the three-point smoother u_i := (u_{i-1} + 2 u_i +
 * u_{i+1}) / 4 on the interior of a 1-D grid, a into b and back into a.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define TSTEPS 4000
#define N 100000
#endif
#ifndef TSTEPS
#define TSTEPS 23
#endif
#ifndef N
#define N 97
#endif

static void fill(int n, real a[N], real b[N])
{
  for (int i = 0; i < n; i++) {
    a[i] = (real) ((i * 17 + 3) % 29) / 29;
    b[i] = (real) ((i * 5 + 1) % 13) / 13;
  }
}

static void kernel_jacobi_1d(int tsteps, int n, real a[N], real b[N])
{
  int t, i;
#pragma scop
  for (t = 0; t < tsteps; t++) {
    for (i = 1; i < n - 1; i++)
      b[i] = 0.25 * a[i - 1] + 0.5 * a[i] + 0.25 * a[i + 1];
    for (i = 1; i < n - 1; i++)
      a[i] = 0.25 * b[i - 1] + 0.5 * b[i] + 0.25 * b[i + 1];
  }
#pragma endscop
}

int main(void)
{
  int tsteps = TSTEPS, n = N;
  real *a = suite_alloc((size_t) N, sizeof(real));
  real *b = suite_alloc((size_t) N, sizeof(real));

  fill(n, a, b);
  SUITE_TIME(kernel_jacobi_1d(tsteps, n, a, b));
  suite_output_real("a", a, (size_t) N);
  suite_output_real("b", b, (size_t) N);
  suite_finish();
  free(a);
  free(b);
  return 0;
}
