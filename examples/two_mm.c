/* two_mm: two chained matrix products, D = alpha * A * B * C + beta * D.
 *
 * The first product goes to a temporary tmp = alpha * A * B in i, j, k order (the reduction
 * innermost, B walked down its columns); the second accumulates D += tmp * C in i, k, j order
 * after scaling D. Exercises: two nests in sequence with a producer-consumer dependence through
 * tmp, an init statement in each nest, four independent extents.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>

#ifndef NI
#define NI 1200
#endif
#ifndef NJ
#define NJ 1350
#endif
#ifndef NK
#define NK 1500
#endif
#ifndef NL
#define NL 1650
#endif

static double A[NI][NK];
static double B[NK][NJ];
static double C[NJ][NL];
static double D[NI][NL];
static double tmp[NI][NJ];

static void init_arrays(int ni, int nj, int nk, int nl)
{
  int i, j;
  for (i = 0; i < ni; i++)
    for (j = 0; j < nk; j++)
      A[i][j] = (double) ((i * j + 1) % ni) / ni;
  for (i = 0; i < nk; i++)
    for (j = 0; j < nj; j++)
      B[i][j] = (double) ((i * (j + 1)) % nj) / nj;
  for (i = 0; i < nj; i++)
    for (j = 0; j < nl; j++)
      C[i][j] = (double) ((i * (j + 3) + 1) % nl) / nl;
  for (i = 0; i < ni; i++)
    for (j = 0; j < nl; j++)
      D[i][j] = (double) ((i * (j + 2)) % nk) / nk;
}

static void kernel_two_mm(int ni, int nj, int nk, int nl, double alpha, double beta)
{
  int i, j, k;
  struct timespec start, stop;

  clock_gettime(CLOCK_MONOTONIC, &start);
#pragma scop
  for (i = 0; i < ni; i++)
    for (j = 0; j < nj; j++) {
      tmp[i][j] = 0.0;
      for (k = 0; k < nk; k++)
        tmp[i][j] += alpha * A[i][k] * B[k][j];
    }
  for (i = 0; i < ni; i++) {
    for (j = 0; j < nl; j++)
      D[i][j] *= beta;
    for (k = 0; k < nj; k++)
      for (j = 0; j < nl; j++)
        D[i][j] += tmp[i][k] * C[k][j];
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

  init_arrays(NI, NJ, NK, NL);
  kernel_two_mm(NI, NJ, NK, NL, 1.5, 1.2);
  for (i = 0; i < NI; i++)
    for (j = 0; j < NL; j++)
      sum += D[i][j] * (1 + (i * 7 + j) % 13);
  for (i = 0; i < NI; i++)
    for (j = 0; j < NJ; j++)
      sum += tmp[i][j] * (1 + (i * 5 + j) % 11);
#ifdef DUMP_ARRAYS
  /* Every output element exactly, in hexadecimal floating point: a difference in the
     last bit of one element is lost in the checksum but not here. */
  for (i = 0; i < NI; i++)
    for (j = 0; j < NL; j++)
      printf("D[%d][%d] = %a\n", i, j, D[i][j]);
  for (i = 0; i < NI; i++)
    for (j = 0; j < NJ; j++)
      printf("tmp[%d][%d] = %a\n", i, j, tmp[i][j]);
#endif
  printf("checksum: %.17g\n", sum);
  return 0;
}
