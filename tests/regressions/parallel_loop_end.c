/* A loop marked parallel whose upper bound is an expression did not compile with OpenMP.
 *
 * The code generator computes an upper bound that is an expression once, into a variable
 * declared with the iterator: `for (int c0 = 0, c0_end = n - 1; c0 < c0_end; c0 += 4)`.
 * OpenMP allows one variable in the init-statement of a loop under `#pragma omp parallel
 * for`, so `gcc -fopenmp` stopped with "expected iteration declaration or initialization
 * before 'c0_end'". Without -fopenmp the pragma is ignored and the program was fine.
 * Expected: with --parallel, a file that builds with -fopenmp. Was: a compile error.
 *
 * Differential: --tile-sizes 4,4 --parallel
 * Expect: tiled
 */
#include <stdio.h>

#ifndef N
#define N 13
#endif

static double A[N][N], B[N][N];

static void kernel(int n)
{
  int i, j;
#pragma scop
  for (i = 0; i < n - 1; i++)
    for (j = 0; j < n; j++)
      A[i][j] = A[i][j] * 0.5 + B[j][i];
#pragma endscop
}

int main(void)
{
  int i, j;
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++) {
      A[i][j] = (double) ((i * 7 + j * 3) % 11) / 4.0;
      B[i][j] = (double) ((i * 5 + j) % 13) / 8.0;
    }
  kernel(N);
  for (i = 0; i < N; i++)
    for (j = 0; j < N; j++)
      printf("A[%d][%d] = %a\n", i, j, A[i][j]);
  return 0;
}
