/* gemm: C = alpha * A * B + beta * C.
 *
 * The scaling of C is a statement of its own before the product, and the product runs in
 * i, k, j order so that the innermost loop walks rows of B and C with stride one.
 * Exercises: an imperfect nest (statement at depth 2 beside a depth-3 loop), a reduction,
 * rectangular non-square bounds given as function arguments.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef NI
#define NI 1600
#endif
#ifndef NJ
#define NJ 1800
#endif
#ifndef NK
#define NK 2000
#endif

static double A[NI][NK];
static double B[NK][NJ];
static double C[NI][NJ];

static void init_arrays(int ni, int nj, int nk)
{
  int i, j;
  for (i = 0; i < ni; i++)
    for (j = 0; j < nk; j++)
      A[i][j] = (double) ((i * (j + 1) + 3) % nk) / nk;
  for (i = 0; i < nk; i++)
    for (j = 0; j < nj; j++)
      B[i][j] = (double) ((i * (j + 2) + 1) % nj) / nj;
  for (i = 0; i < ni; i++)
    for (j = 0; j < nj; j++)
      C[i][j] = (double) ((i * 3 + j * 5 + 7) % ni) / ni;
}

static void kernel_gemm(int ni, int nj, int nk, double alpha, double beta)
{
  int i, j, k;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (i = 0; i < ni; i++) {
    for (j = 0; j < nj; j++)
      C[i][j] *= beta;
    for (k = 0; k < nk; k++)
      for (j = 0; j < nj; j++)
        C[i][j] += alpha * A[i][k] * B[k][j];
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

  init_arrays(NI, NJ, NK);
  kernel_gemm(NI, NJ, NK, 1.5, 1.2);
  for (i = 0; i < NI; i++)
    for (j = 0; j < NJ; j++)
      sum += C[i][j] * (1 + (i * 7 + j) % 13);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (i = 0; i < NI; i++)
    for (j = 0; j < NJ; j++)
      printf("C[%d][%d] = %a\n", i, j, C[i][j]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
