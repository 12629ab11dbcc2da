/* bicg: the two products of a biconjugate-gradient step, s := A^T r and q := A p,
 * for A of n x m (r has n entries, p has m).
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 2400
#define M 2000
#endif
#ifndef N
#define N 59
#endif
#ifndef M
#define M 43
#endif

static void fill(int n, int m, real A[N][M], real r[N], real p[M])
{
  for (int j = 0; j < m; j++)
    p[j] = (real) (j % 13) / 13 - 0.5;
  for (int i = 0; i < n; i++) {
    r[i] = (real) ((3 * i + 1) % 11) / 11;
    for (int j = 0; j < m; j++)
      A[i][j] = (real) ((i + 3 * j * j + 2) % 41) / 41;
  }
}

static void kernel_bicg(int n, int m, real A[N][M], real s[M], real q[N], real p[M],
                        real r[N])
{
  int i, j;
#pragma scop
  for (j = 0; j < m; j++)
    s[j] = 0.0;
  for (i = 0; i < n; i++) {
    q[i] = 0.0;
    for (j = 0; j < m; j++) {
      s[j] = s[j] + r[i] * A[i][j];
      q[i] = q[i] + A[i][j] * p[j];
    }
  }
#pragma endscop
}

int main(void)
{
  int n = N, m = M;
  real (*A)[M] = suite_alloc((size_t) N * M, sizeof(real));
  real *s = suite_alloc((size_t) M, sizeof(real));
  real *q = suite_alloc((size_t) N, sizeof(real));
  real *p = suite_alloc((size_t) M, sizeof(real));
  real *r = suite_alloc((size_t) N, sizeof(real));

  fill(n, m, A, r, p);
  SUITE_TIME(kernel_bicg(n, m, A, s, q, p, r));
  suite_output_real("s", s, (size_t) M);
  suite_output_real("q", q, (size_t) N);
  suite_finish();
  free(A);
  free(s);
  free(q);
  free(p);
  free(r);
  return 0;
}
