/* lu: the factorisation A = L U without pivoting, in place (L unit lower triangular below
 * the diagonal, U on and above it), computed row by row: the entries of row i left of the
 * diagonal are L's, then the rest of the row is U's.
 * tiler: expect tiled
 */
#include "harness.h"

#ifdef LARGE
#define N 1600
#endif
#ifndef N
#define N 59
#endif

/* Diagonally dominant, so no pivot is small. */
static void fill(int n, real A[N][N])
{
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      A[i][j] = (real) ((i * 7 + j * 2 + 3) % 11) / 11 + (i == j ? n : 0);
}

static void kernel_lu(int n, real A[N][N])
{
  int i, j, k;
#pragma scop
  for (i = 0; i < n; i++) {
    for (j = 0; j < i; j++) {
      for (k = 0; k < j; k++)
        A[i][j] = A[i][j] - A[i][k] * A[k][j];
      A[i][j] = A[i][j] / A[j][j];
    }
    for (j = i; j < n; j++)
      for (k = 0; k < i; k++)
        A[i][j] = A[i][j] - A[i][k] * A[k][j];
  }
#pragma endscop
}

int main(void)
{
  int n = N;
  real (*A)[N] = suite_alloc((size_t) N * N, sizeof(real));

  fill(n, A);
  SUITE_TIME(kernel_lu(n, A));
  suite_output_real("A", A, (size_t) N * N);
  suite_finish();
  free(A);
  return 0;
}
