/* backsolve: back substitution U * X = B for an upper-triangular U and several right-hand
 * sides, rows solved from the last one up.
 *
 * Row i of X starts as row i of B, loses the contributions of the rows already solved below
 * it, and is divided by the diagonal. Exercises: a loop counting down (i--), a triangular
 * domain whose inner loop starts after the outer iterator, three sibling statements under
 * one loop, a row of X read while other rows are written.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef N
#define N 3000
#endif
#ifndef NR
#define NR 800
#endif

static double U[N][N];
static double B[N][NR];
static double X[N][NR];

static void init_arrays(int n, int nr)
{
  int i, j;
  for (i = 0; i < n; i++) {
    for (j = 0; j < n; j++)
      U[i][j] = j < i ? 0.0 : (double) ((i * (j + 1) + 2) % 17) / (17.0 * n);
    U[i][i] += 1.0;
    for (j = 0; j < nr; j++) {
      B[i][j] = (double) ((i * 3 + j * (i + 1)) % 23) / 23.0;
      X[i][j] = -1.0;    /* overwritten by the kernel */
    }
  }
}

static void kernel_backsolve(int n, int nr)
{
  int i, j, r;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (i = n - 1; i >= 0; i--) {
    for (r = 0; r < nr; r++)
      X[i][r] = B[i][r];
    for (j = i + 1; j < n; j++)
      for (r = 0; r < nr; r++)
        X[i][r] -= U[i][j] * X[j][r];
    for (r = 0; r < nr; r++)
      X[i][r] /= U[i][i];
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

  init_arrays(N, NR);
  kernel_backsolve(N, NR);
  for (i = 0; i < N; i++)
    for (j = 0; j < NR; j++)
      sum += X[i][j] * (1 + (i * 7 + j) % 13);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (i = 0; i < N; i++)
    for (j = 0; j < NR; j++)
      printf("X[%d][%d] = %a\n", i, j, X[i][j]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
