/* heat3d: explicit heat equation on a 3-D grid with a seven-point stencil and a time loop.
 *
 * Each time step computes B from A and then A from B over the interior of the cube.
 * Exercises: 3-D arrays, a time loop around two 3-deep sibling nests (a 4-deep band after
 * skewing), offsets in all three dimensions.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef N
#define N 160
#endif
#ifndef TSTEPS
#define TSTEPS 60
#endif

static double A[N][N][N];
static double B[N][N][N];

static void init_arrays(int n)
{
  int i, j, k;
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      for (k = 0; k < n; k++) {
        A[i][j][k] = (double) ((i * 3 + j * 5 + k * 7) % 31) / 31.0;
        B[i][j][k] = A[i][j][k];
      }
}

static void kernel_heat3d(int tsteps, int n)
{
  int t, i, j, k;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (t = 0; t < tsteps; t++) {
    for (i = 1; i < n - 1; i++)
      for (j = 1; j < n - 1; j++)
        for (k = 1; k < n - 1; k++)
          B[i][j][k] = A[i][j][k] + 0.1 * (A[i + 1][j][k] + A[i - 1][j][k]
                                          + A[i][j + 1][k] + A[i][j - 1][k]
                                          + A[i][j][k + 1] + A[i][j][k - 1]
                                          - 6.0 * A[i][j][k]);
    for (i = 1; i < n - 1; i++)
      for (j = 1; j < n - 1; j++)
        for (k = 1; k < n - 1; k++)
          A[i][j][k] = B[i][j][k] + 0.1 * (B[i + 1][j][k] + B[i - 1][j][k]
                                          + B[i][j + 1][k] + B[i][j - 1][k]
                                          + B[i][j][k + 1] + B[i][j][k - 1]
                                          - 6.0 * B[i][j][k]);
  }
#pragma endscop
  clock_gettime(CLOCK_MONOTONIC, &stop);
  fprintf(stderr, "kernel_time_s: %.6f\n",
          (stop.tv_sec - start.tv_sec) + 1e-9 * (stop.tv_nsec - start.tv_nsec));
}

int main(void)
{
  int i, j, k;
  double sum = 0.0;

  init_arrays(N);
  kernel_heat3d(TSTEPS, N);
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      for (k = 0; k < N; k++)
        sum += A[i][j][k] * (1 + (i * 11 + j * 7 + k) % 13)
             + B[i][j][k] * (1 + (i + j * 5 + k * 3) % 11);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      for (k = 0; k < N; k++)
        printf("A[%d][%d][%d] = %a B = %a\n", i, j, k, A[i][j][k], B[i][j][k]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
