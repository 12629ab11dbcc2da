/* syrk: symmetric rank-k update of the lower triangle, C = alpha * A * A^T + beta * C.
 *
 * Only the entries with j <= i are read and written; each is scaled and then accumulates a
 * dot product of two rows of A (the reduction innermost, both rows walked with stride one).
 * Exercises: a triangular domain (inner bound depends on the outer iterator), an init
 * statement beside the reduction loop, a matrix read through two different subscripts.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef N
#define N 1200
#endif
#ifndef M
#define M 1000
#endif

static double A[N][M];
static double C[N][N];

static void init_arrays(int n, int m)
{
  int i, j;
  for (i = 0; i < n; i++)
    for (j = 0; j < m; j++)
      A[i][j] = (double) ((i * (j + 1) + 2) % m) / m;
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++)
      C[i][j] = (double) ((i * 5 + j * 3 + 1) % n) / n;
}

static void kernel_syrk(int n, int m, double alpha, double beta)
{
  int i, j, k;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (i = 0; i < n; i++)
    for (j = 0; j <= i; j++) {
      C[i][j] *= beta;
      for (k = 0; k < m; k++)
        C[i][j] += alpha * A[i][k] * A[j][k];
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

  init_arrays(N, M);
  kernel_syrk(N, M, 1.5, 1.2);
  /* The upper triangle is untouched but summed too: a write outside j <= i shows up. */
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      sum += C[i][j] * (1 + (i * 7 + j) % 13);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      printf("C[%d][%d] = %a\n", i, j, C[i][j]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
