/* lu: in-place LU factorisation without pivoting, right-looking (k, i, j) form.
 *
 * After step k, column k below the diagonal holds the multipliers of L and the trailing
 * submatrix has been updated. The matrix is made strictly diagonally dominant, so no pivot
 * is small and the factorisation is stable without pivoting.
 * Exercises: an in-place update (A is read and written with dependences in every direction),
 * a shrinking triangular iteration space, a division by an element written earlier.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef N
#define N 2200
#endif

static double A[N][N];

static void init_arrays(int n)
{
  int i, j;
  for (i = 0; i < n; i++) {
    for (j = 0; j < n; j++)
      A[i][j] = (double) ((i * (j + 3) + 1) % 29) / 29.0 - 0.5;
    A[i][i] += n;
  }
}

static void kernel_lu(int n)
{
  int i, j, k;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (k = 0; k < n; k++)
    for (i = k + 1; i < n; i++) {
      A[i][k] /= A[k][k];
      for (j = k + 1; j < n; j++)
        A[i][j] -= A[i][k] * A[k][j];
    }
#pragma endscop
  clock_gettime(CLOCK_MONOTONIC, &stop);
  fprintf(stderr, "kernel_time_s: %.6f\n",
          (stop.tv_sec - start.tv_sec) + 1e-9 * (stop.tv_nsec - start.tv_nsec));
}

int main(void)
{
  int i, j;
  double sum = 0.0;

  init_arrays(N);
  kernel_lu(N);
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      sum += A[i][j] * (1 + (i * 7 + j) % 13);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      printf("A[%d][%d] = %a\n", i, j, A[i][j]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
