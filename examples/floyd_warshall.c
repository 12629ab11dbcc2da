/* floyd_warshall: all-pairs shortest paths by Floyd-Warshall relaxation, in float.
 *
 * For each intermediate vertex k every path i -> j is relaxed through k with a select.
 * Weights are fractional, so a different order of additions would change the rounding.
 * Exercises: float data, a conditional expression, an in-place update whose dependences
 * forbid tiling k with i and j (only the inner i, j band is tileable).
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef N
#define N 1000
#endif

static float path[N][N];

static void init_arrays(int n)
{
  int i, j;
  for (i = 0; i < n; i++)
    for (j = 0; j < n; j++) {
      if (i == j)
        path[i][j] = 0.0f;
      else if ((i + 2 * j) % 7 == 0 || (i * j) % 11 == 1)
        path[i][j] = 0.37f * ((i * (j + 1)) % 19 + 1);
      else
        path[i][j] = 1.0e6f;   /* no direct edge */
    }
}

static void kernel_floyd_warshall(int n)
{
  int i, j, k;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (k = 0; k < n; k++)
    for (i = 0; i < n; i++)
      for (j = 0; j < n; j++)
        path[i][j] = path[i][j] < path[i][k] + path[k][j] ? path[i][j]
                                                          : path[i][k] + path[k][j];
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
  kernel_floyd_warshall(N);
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      sum += (double) path[i][j] * (1 + (i * 7 + j) % 13);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      printf("path[%d][%d] = %a\n", i, j, (double) path[i][j]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
