/* durbin: Levinson-Durbin recursion, the solution y of the Yule-Walker equations T y = -r,
 * where T is the symmetric Toeplitz matrix with first row (1, r[0], ..., r[n-2]). Each step
 * k extends the solution of order k to order k+1 with the reflection coefficient alpha.
 * tiler: expect untiled (each step depends on the whole previous one through scalars)
 */
#include "harness.h"

#ifdef LARGE
#define N 24000
#endif
#ifndef N
#define N 97
#endif

/* Autocorrelations of a decaying process: |r[k]| small, so the recursion stays stable. */
static void fill(int n, real r[N])
{
  for (int k = 0; k < n; k++)
    r[k] = 0.5 / ((k + 1.0) * (k + 2.0)) * ((k % 3 == 1) ? -1.0 : 1.0);
}

static void kernel_durbin(int n, real r[N], real y[N], real z[N])
{
  int i, k;
  real alpha, beta, dot;
#pragma scop
  y[0] = -r[0];
  beta = 1.0;
  alpha = -r[0];
  for (k = 1; k < n; k++) {
    beta = (1.0 - alpha * alpha) * beta;
    dot = 0.0;
    for (i = 0; i < k; i++)
      dot = dot + r[k - 1 - i] * y[i];
    alpha = -(r[k] + dot) / beta;
    for (i = 0; i < k; i++)
      z[i] = y[i] + alpha * y[k - 1 - i];
    for (i = 0; i < k; i++)
      y[i] = z[i];
    y[k] = alpha;
  }
#pragma endscop
}

int main(void)
{
  int n = N;
  real *r = suite_alloc((size_t) N, sizeof(real));
  real *y = suite_alloc((size_t) N, sizeof(real));
  real *z = suite_alloc((size_t) N, sizeof(real));

  fill(n, r);
  SUITE_TIME(kernel_durbin(n, r, y, z));
  suite_output_real("y", y, (size_t) N);
  suite_finish();
  free(r);
  free(y);
  free(z);
  return 0;
}
