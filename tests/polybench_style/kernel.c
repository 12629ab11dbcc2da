/* A kernel written the way benchmark-suite kernels are: bounds through _PB_ macros, arrays
 * passed through macros, a scalar read in the region, math through a macro. */
#include "harness.h"

#ifndef N
#define N 61
#endif
#define _PB_N LOOP_BOUND(N, n)

static void init(int n, DATA_TYPE ARRAY_2D(A, N, N, n, n), DATA_TYPE ARRAY_1D(x, N, n))
{
  int i, j;
  for (i = 0; i < n; i++) {
    x[i] = (DATA_TYPE) (i % 7) / 7;
    for (j = 0; j < n; j++)
      A[i][j] = (DATA_TYPE) ((i * j + 3) % n) / n + (i == j ? n : 0);
  }
}

static void kernel_cholesky_like(int n, DATA_TYPE ARRAY_2D(A, N, N, n, n),
                                 DATA_TYPE ARRAY_2D(B, N, N, n, n),
                                 DATA_TYPE ARRAY_1D(x, N, n), DATA_TYPE scale)
{
  int i, j, k;
#pragma scop
  for (i = 0; i < _PB_N; i++)
    for (j = 0; j < _PB_N; j++) {
      B[i][j] = SCALAR_VAL(0.0);
      for (k = 0; k <= j; k++)
        B[i][j] += A[i][k] * A[j][k] * scale;
    }
  for (i = 0; i < _PB_N; i++)
    for (j = 0; j < _PB_N; j++)
      x[i] = x[i] + SQRT_FUN(B[i][j] * B[i][j] + SCALAR_VAL(1.0)) / (DATA_TYPE) n;
#pragma endscop
}

int main(void)
{
  static DATA_TYPE A[N][N], B[N][N], x[N];
  int i, j;
  init(N, A, x);
  kernel_cholesky_like(N, A, B, x, SCALAR_VAL(0.5));
  for (i = 0; i < N; i++) {
    printf("%a\n", x[i]);
    for (j = 0; j < N; j++)
      printf("%a ", B[i][j]);
    printf("\n");
  }
  return 0;
}
