/* covariance: the covariance matrix of M variables observed N times.
 *
 * The column means are accumulated and removed from the data, the upper triangle of the
 * covariance is accumulated one observation at a time (the observation loop outermost),
 * normalised, and mirrored into the lower triangle.
 * Exercises: five nests in sequence, a triangular domain with j >= i, a read-only scalar
 * argument, a function-like macro in the region, a transposed write cov[j][i].
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef N
#define N 2000
#endif
#ifndef M
#define M 1800
#endif

#define SCALAR_VAL(x) x

static double data[N][M];
static double mean[M];
static double cov[M][M];

static void init_arrays(int n, int m)
{
  int i, j;
  for (i = 0; i < n; i++)
    for (j = 0; j < m; j++)
      data[i][j] = (double) ((i * (j + 1) + 3 * j) % 37) / 37.0 + 0.01 * j;
}

static void kernel_covariance(int n, int m, double samples)
{
  int i, j, k;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (j = 0; j < m; j++) {
    mean[j] = SCALAR_VAL(0.0);
    for (i = 0; i < n; i++)
      mean[j] += data[i][j];
    mean[j] /= samples;
  }
  for (i = 0; i < n; i++)
    for (j = 0; j < m; j++)
      data[i][j] -= mean[j];
  for (i = 0; i < m; i++)
    for (j = i; j < m; j++)
      cov[i][j] = SCALAR_VAL(0.0);
  for (k = 0; k < n; k++)
    for (i = 0; i < m; i++)
      for (j = i; j < m; j++)
        cov[i][j] += data[k][i] * data[k][j];
  for (i = 0; i < m; i++)
    for (j = i; j < m; j++) {
      cov[i][j] /= samples - SCALAR_VAL(1.0);
      cov[j][i] = cov[i][j];
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
  kernel_covariance(N, M, (double) N);
  for (i = 0; i < M; i++)
    for (j = 0; j < M; j++)
      sum += cov[i][j] * (1 + (i * 7 + j) % 13);
  for (j = 0; j < M; j++)
    sum += mean[j] * (1 + j % 5);
  for (i = 0; i < N; i++)
    for (j = 0; j < M; j++)
      sum += data[i][j] * (1 + (i * 3 + j) % 7);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (i = 0; i < M; i++)
    for (j = 0; j < M; j++)
      printf("cov[%d][%d] = %a\n", i, j, cov[i][j]);
  for (j = 0; j < M; j++)
    printf("mean[%d] = %a\n", j, mean[j]);
  for (i = 0; i < N; i++)
    for (j = 0; j < M; j++)
      printf("data[%d][%d] = %a\n", i, j, data[i][j]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
