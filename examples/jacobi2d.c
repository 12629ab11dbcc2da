/* jacobi2d: a weighted 2-D five-point Jacobi smoother with a time loop.
 *
 * Every time step sweeps A into B and then B back into A over the interior points; the
 * boundary rows and columns stay fixed. Exercises: a time loop around two sibling nests
 * (tiling needs skewing), reads at offsets -1 and +1, loop bounds offset from the extent.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef N
#define N 1500
#endif
#ifndef TSTEPS
#define TSTEPS 200
#endif

static double A[N][N];
static double B[N][N];

static void init_arrays(int n)
{
  int i, j;
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++) {
      A[i][j] = (double) ((i * (j + 2) + 3) % n) / n;
      B[i][j] = (double) ((i * (j + 5) + 1) % n) / n;
    }
}

static void kernel_jacobi2d(int tsteps, int n)
{
  int t, i, j;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (t = 0; t < tsteps; t++) {
    for (i = 1; i < n - 1; i++)
      for (j = 1; j < n - 1; j++)
        B[i][j] = 0.4 * A[i][j]
                + 0.15 * (A[i - 1][j] + A[i + 1][j] + A[i][j - 1] + A[i][j + 1]);
    for (i = 1; i < n - 1; i++)
      for (j = 1; j < n - 1; j++)
        A[i][j] = 0.4 * B[i][j]
                + 0.15 * (B[i - 1][j] + B[i + 1][j] + B[i][j - 1] + B[i][j + 1]);
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
  kernel_jacobi2d(TSTEPS, N);
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      sum += A[i][j] * (1 + (i * 7 + j) % 13) + B[i][j] * (1 + (i + j * 3) % 11);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      printf("A[%d][%d] = %a B = %a\n", i, j, A[i][j], B[i][j]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
