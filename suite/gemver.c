/* gemver: a rank-2 update followed by two matrix-vector products,
 *   A := A + u1 v1^T + u2 v2^T,  x := x + beta A^T y + z,  w := w + alpha A x.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 2400
#endif
#ifndef N
#define N 57
#endif

static void fill(int n, real A[N][N], real u1[N], real v1[N], real u2[N], real v2[N],
                 real x[N], real y[N], real z[N], real w[N])
{
  for (int i = 0; i < n; i++) {
    u1[i] = (real) (i % 7) / 7;
    v1[i] = (real) ((i + 1) % 5) / 10;
    u2[i] = (real) ((2 * i + 3) % 9) / 18;
    v2[i] = (real) ((i + 4) % 11) / 11 - 0.5;
    x[i] = 0.0;
    w[i] = (real) (i % 3) / 3;
    y[i] = (real) ((5 * i + 2) % 13) / 13;
    z[i] = (real) ((i + 6) % 17) / 17;
    for (int j = 0; j < n; j++)
      A[i][j] = (real) ((i * j + 2 * i + 1) % 23) / 23;
  }
}

static void kernel_gemver(int n, real alpha, real beta, real A[N][N], real u1[N],
                          real v1[N], real u2[N], real v2[N], real x[N], real y[N],
                          real z[N], real w[N])
{
  int i, j;
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      A[i][j] = A[i][j] + u1[i] * v1[j] + u2[i] * v2[j];
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      x[i] = x[i] + beta * A[j][i] * y[j];
  for (i = 0; i < n; i++)
    x[i] = x[i] + z[i];
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      w[i] = w[i] + alpha * A[i][j] * x[j];
#pragma endscop
}

int main(void)
{
  int n = N;
  real (*A)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real *u1 = suite_alloc((size_t) N, sizeof(real));
  real *v1 = suite_alloc((size_t) N, sizeof(real));
  real *u2 = suite_alloc((size_t) N, sizeof(real));
  real *v2 = suite_alloc((size_t) N, sizeof(real));
  real *x = suite_alloc((size_t) N, sizeof(real));
  real *y = suite_alloc((size_t) N, sizeof(real));
  real *z = suite_alloc((size_t) N, sizeof(real));
  real *w = suite_alloc((size_t) N, sizeof(real));

  fill(n, A, u1, v1, u2, v2, x, y, z, w);
  SUITE_TIME(kernel_gemver(n, 1.25, 0.5, A, u1, v1, u2, v2, x, y, z, w));
  suite_output_real("A", A, (size_t) N * N);
  suite_output_real("x", x, (size_t) N);
  suite_output_real("w", w, (size_t) N);
  suite_finish();
  free(A);
  free(u1);
  free(v1);
  free(u2);
  free(v2);
  free(x);
  free(y);
  free(z);
  free(w);
  return 0;
}
