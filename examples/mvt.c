/* mvt: a matrix-vector pair with the same matrix, y = A * x and z = A^T * w.
 *
 * The first nest clears y[i] and accumulates a row of A (stride one); the second accumulates
 * into z[i] down a column of A (stride N), the access that tiling can make cache friendly.
 * Exercises: two independent nests in sequence, 1-D arrays, a transposed access, an
 * imperfect first nest. The matrix is large because the kernel does little work per byte.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef N
#define N 8000
#endif

static double A[N][N];
static double x[N], y[N], w[N], z[N];

static void init_arrays(int n)
{
  int i, j;
  for (i = 0; i < n; i++) {
    x[i] = (double) ((i * 3 + 1) % n) / n;
    w[i] = (double) ((i * 7 + 2) % n) / n;
    y[i] = -1.0;      /* overwritten by the kernel */
    z[i] = (double) (i % 5) / 5.0;
    for (j = 0; j < n; j++)
      A[i][j] = (double) ((i * (j + 1) + 4) % n) / n;
  }
}

static void kernel_mvt(int n)
{
  int i, j;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (i = 0; i < n; i++) {
    y[i] = 0.0;
    for (j = 0; j < n; j++)
      y[i] = y[i] + A[i][j] * x[j];
  }
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      z[i] = z[i] + A[j][i] * w[j];
#pragma endscop
  clock_gettime(CLOCK_MONOTONIC, &stop);
  fprintf(stderr, "kernel_time_s: %.6f\n",
          (stop.tv_sec - start.tv_sec) + 1e-9 * (stop.tv_nsec - start.tv_nsec));
}

int main(void)
{
  int i;
  double sum = 0.0;

  init_arrays(N);
  kernel_mvt(N);
  for (i = 0; i < N; i++)
    sum += y[i] * (1 + (i * 7) % 13) + z[i] * (1 + (i * 5) % 11);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (i = 0; i < N; i++)
    printf("y[%d] = %a z = %a\n", i, y[i], z[i]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
