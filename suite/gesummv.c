/* gesummv: y := alpha A x + beta B x for square A and B, the two products summed row by row.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 1800
#endif
#ifndef N
#define N 67
#endif

static void fill(int n, real A[N][N], real B[N][N], real x[N])
{
  for (int i = 0; i < n; i++) {
    x[i] = (real) ((i * 3 + 1) % 19) / 19;
    for (int j = 0; j < n; j++) {
      A[i][j] = (real) ((i + j * 4 + 2) % 29) / 29;
      B[i][j] = (real) ((i * 6 + j + 5) % 31) / 31 - 0.5;
    }
  }
}

static void kernel_gesummv(int n, real alpha, real beta, real A[N][N], real B[N][N],
                           real t[N], real x[N], real y[N])
{
  int i, j;
#pragma scop
  for (i = 0; i < n; i++) {
    t[i] = 0.0;
    y[i] = 0.0;
    for (j = 0; j < n; j++) {
      t[i] = A[i][j] * x[j] + t[i];
      y[i] = B[i][j] * x[j] + y[i];
    }
    y[i] = alpha * t[i] + beta * y[i];
  }
#pragma endscop
}

int main(void)
{
  int n = N;
  real (*A)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real (*B)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real *t = suite_alloc((size_t) N, sizeof(real));
  real *x = suite_alloc((size_t) N, sizeof(real));
  real *y = suite_alloc((size_t) N, sizeof(real));

  fill(n, A, B, x);
  SUITE_TIME(kernel_gesummv(n, 1.5, 1.25, A, B, t, x, y));
  suite_output_real("y", y, (size_t) N);
  suite_output_real("t", t, (size_t) N);
  suite_finish();
  free(A);
  free(B);
  free(t);
  free(x);
  free(y);
  return 0;
}
