/* mvt: two matrix-vector products with one matrix, x1 += A y1 and x2 += A^T y2.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 2400
#endif
#ifndef N
#define N 61
#endif

static void fill(int n, real A[N][N], real x1[N], real x2[N], real y1[N], real y2[N])
{
  for (int i = 0; i < n; i++) {
    x1[i] = (real) (i % 5) / 5;
    x2[i] = (real) ((i + 2) % 7) / 7;
    y1[i] = (real) ((3 * i + 1) % 11) / 11;
    y2[i] = (real) ((i + 4) % 3) / 3 - 0.5;
    for (int j = 0; j < n; j++)
      A[i][j] = (real) ((i * 2 + j * 7 + 3) % 43) / 43;
  }
}

static void kernel_mvt(int n, real A[N][N], real x1[N], real x2[N], real y1[N], real y2[N])
{
  int i, j;
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      x1[i] = x1[i] + A[i][j] * y1[j];
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      x2[i] = x2[i] + A[j][i] * y2[j];
#pragma endscop
}

int main(void)
{
  int n = N;
  real (*A)[N] = suite_alloc((size_t) N * N, sizeof(real));
  real *x1 = suite_alloc((size_t) N, sizeof(real));
  real *x2 = suite_alloc((size_t) N, sizeof(real));
  real *y1 = suite_alloc((size_t) N, sizeof(real));
  real *y2 = suite_alloc((size_t) N, sizeof(real));

  fill(n, A, x1, x2, y1, y2);
  SUITE_TIME(kernel_mvt(n, A, x1, x2, y1, y2));
  suite_output_real("x1", x1, (size_t) N);
  suite_output_real("x2", x2, (size_t) N);
  suite_finish();
  free(A);
  free(x1);
  free(x2);
  free(y1);
  free(y2);
  return 0;
}
