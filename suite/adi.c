/* adi: tsteps steps of the Peaceman-Rachford alternating-direction implicit scheme for the
 * 2-D heat equation on an n x n grid with the boundary held at 1: each step is a half step
 * implicit along the first index (explicit along the second) from u into v, then a half step
 * implicit along the second index from v back into u. Every implicit half step solves one
 * tridiagonal system (-r, 1 + 2r, -r) per grid line by the Thomas algorithm: a forward
 * elimination into the coefficients p, q (x_k = p_k x_{k+1} + q_k) and a back substitution.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define TSTEPS 60
#define N 1400
#endif
#ifndef TSTEPS
#define TSTEPS 7
#endif
#ifndef N
#define N 29
#endif

static void fill(int n, real u[N][N])
{
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      u[i][j] = (i == 0 || j == 0 || i == n - 1 || j == n - 1)
                    ? 1.0 : (real) ((i * 9 + j * 4 + 3) % 37) / 37;
}

static void kernel_adi(int tsteps, int n, real r, real u[N][N], real v[N][N], real p[N][N],
                       real q[N][N])
{
  int t, i, j;
  real centre = 1.0 + 2.0 * r, explicit_centre = 1.0 - 2.0 * r;
#pragma scop
  for (t = 0; t < tsteps; t++) {
    for (j = 1; j < n - 1; j++) {
      v[0][j] = 1.0;
      p[j][0] = 0.0;
      q[j][0] = 1.0;
      for (i = 1; i < n - 1; i++) {
        p[j][i] = r / (centre - r * p[j][i - 1]);
        q[j][i] = (r * u[i][j - 1] + explicit_centre * u[i][j] + r * u[i][j + 1]
                   + r * q[j][i - 1]) / (centre - r * p[j][i - 1]);
      }
      v[n - 1][j] = 1.0;
      for (i = n - 2; i >= 1; i--)
        v[i][j] = p[j][i] * v[i + 1][j] + q[j][i];
    }
    for (i = 1; i < n - 1; i++) {
      u[i][0] = 1.0;
      p[i][0] = 0.0;
      q[i][0] = 1.0;
      for (j = 1; j < n - 1; j++) {
        p[i][j] = r / (centre - r * p[i][j - 1]);
        q[i][j] = (r * v[i - 1][j] + explicit_centre * v[i][j] + r * v[i + 1][j]
                   + r * q[i][j - 1]) / (centre - r * p[i][j - 1]);
      }
      u[i][n - 1] = 1.0;
      for (j = n - 2; j >= 1; j--)
        u[i][j] = p[i][j] * u[i][j + 1] + q[i][j];
    }
  }
#pragma endscop
}

int main(void)
{
  int tsteps = TSTEPS, n = N;
  real (*u)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real (*v)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real (*p)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real (*q)[N] = suite_alloc((size_t) N * N, sizeof(real));

  fill(n, u);
  SUITE_TIME(kernel_adi(tsteps, n, 0.4, u, v, p, q));
  suite_output_real("u", u, (size_t) N * N);
  suite_output_real("v", v, (size_t) N * N);
  suite_finish();
  free(u);
  free(v);
  free(p);
  free(q);
  return 0;
}
